// Package config owns the proxy's JSON configuration file: parsing it (both
// the array and the Claude Desktop / Cursor / VS Code object-map forms of
// mcpServers), applying defaults, validating, diffing two configurations,
// editing the file in place without losing the user's key order or unknown
// fields, and watching it for changes.
//
// Concurrency: Config values, Parse, Load, Validate, Diff and Document are
// plain data and functions with no goroutines; a *Config is treated as
// immutable once handed out (use Clone to derive a new one), and a *Document
// belongs to one goroutine at a time. Writer and Watcher each own exactly one
// goroutine, started by their constructor and stopped and waited on by Close.
// Every write to the file goes through the single Writer goroutine, so
// concurrent Edits are serialized rather than interleaved.
//
// Errors from Parse, Load, Validate and ValidateServer are *mcpproxy.Error
// values with code EINVALID, one per problem, joined with errors.Join when
// there are several; errors.As(err, new(*mcpproxy.Error)) and
// mcpproxy.ErrorCode(err) therefore work on all of them, and Error() shows
// one problem per line.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Config is the parsed configuration file.
type Config struct {
	Listen            string            `json:"listen"`
	DataDir           string            `json:"data_dir,omitempty"`
	APIKey            string            `json:"api_key,omitempty"`
	ToolsLimit        int               `json:"tools_limit"`
	ToolResponseLimit int               `json:"tool_response_limit"` // 0 = unlimited
	CallToolTimeout   mcpproxy.Duration `json:"call_tool_timeout"`
	ConnectTimeout    mcpproxy.Duration `json:"connect_timeout"`
	// InstallTimeout replaces ConnectTimeout, when longer, for a server run
	// by a package runner (npx, uvx, docker, …) until it has been ready
	// once: its first start may download and install the package.
	InstallTimeout mcpproxy.Duration     `json:"install_timeout"`
	Servers        []mcpproxy.ServerSpec `json:"mcpServers"`

	// RequireMCPAuth makes the MCP endpoints ask for the API key or an
	// agent token even on a loopback listen address.
	RequireMCPAuth bool `json:"require_mcp_auth,omitempty"`
	// Management policy for every surface that changes servers; see Allow.
	ReadOnly          bool `json:"read_only,omitempty"`
	DisableManagement bool `json:"disable_management,omitempty"`
	AllowServerAdd    bool `json:"allow_server_add"`    // default true
	AllowServerRemove bool `json:"allow_server_remove"` // default true
	// QuarantineNewServers quarantines servers added by a person too.
	QuarantineNewServers bool `json:"quarantine_new_servers,omitempty"`
	// Activity log retention: records older than this many days, and the
	// oldest beyond the count, are pruned.
	ActivityRetentionDays int `json:"activity_retention_days"`
	ActivityMaxRecords    int `json:"activity_max_records"`
	// SensitiveData says what the proxy does with credentials, keys and
	// card numbers it finds in tool-call arguments and results: one of
	// SensitiveFlag (default), SensitiveRedact, SensitiveBlock.
	SensitiveData string `json:"sensitive_data"`
	// ToolResponseMode is how retrieve_tools answers: ResponseFull (each
	// hit with its input schema) or ResponseCompact (id, first sentence,
	// score, annotations; the agent asks describe_tool for schemas).
	ToolResponseMode string `json:"tool_response_mode"`
	// RequireIntent refuses plain call_tool on /mcp: agents must use
	// call_tool_read, call_tool_write or call_tool_destructive.
	RequireIntent bool `json:"require_intent,omitempty"`
	// BlockDestructiveAgentCalls refuses, on every MCP endpoint, calls of
	// tools that are not read-only and not annotated destructiveHint:
	// false, and call_tool_destructive itself.
	BlockDestructiveAgentCalls bool `json:"block_destructive_agent_calls,omitempty"`
	// ResultCacheMaxBytes caps the files of truncated results kept for
	// read_cache; the oldest are removed to make room. 0 caches nothing.
	ResultCacheMaxBytes int64 `json:"result_cache_max_bytes"`
	// ServersAsMap records that the file used the {"name": {...}} form, so
	// that error messages can point at mcpServers.name instead of an index.
	ServersAsMap bool `json:"-"`
}

// The values of tool_response_mode.
const (
	ResponseFull    = "full"
	ResponseCompact = "compact"
)

// The values of sensitive_data.
const (
	// SensitiveFlag records the kinds found in the activity log.
	SensitiveFlag = "flag"
	// SensitiveRedact also replaces what was found in results with
	// [redacted:KIND] before they reach the client.
	SensitiveRedact = "redact"
	// SensitiveBlock refuses calls whose arguments carry sensitive data
	// and replaces results that carry it with an error naming the kinds.
	SensitiveBlock = "block"
)

const (
	defaultListen            = "127.0.0.1:8080"
	defaultToolsLimit        = 15
	defaultToolResponseLimit = 20000
	defaultCallToolTimeout   = 2 * time.Minute
	defaultConnectTimeout    = 30 * time.Second
	defaultInstallTimeout    = 5 * time.Minute
	defaultActivityDays      = 30
	defaultActivityRecords   = 100000
	defaultResultCacheBytes  = 256 << 20
)

// Default returns a configuration with every default applied and no servers.
// DataDir is left empty: the caller knows the user's home directory.
func Default() *Config {
	return &Config{
		Listen:            defaultListen,
		ToolsLimit:        defaultToolsLimit,
		ToolResponseLimit: defaultToolResponseLimit,
		CallToolTimeout:   mcpproxy.Duration(defaultCallToolTimeout),
		ConnectTimeout:    mcpproxy.Duration(defaultConnectTimeout),
		InstallTimeout:    mcpproxy.Duration(defaultInstallTimeout),
		AllowServerAdd:    true,
		AllowServerRemove: true,

		ActivityRetentionDays: defaultActivityDays,
		ActivityMaxRecords:    defaultActivityRecords,
		SensitiveData:         SensitiveFlag,
		ToolResponseMode:      ResponseFull,
		ResultCacheMaxBytes:   defaultResultCacheBytes,
	}
}

// Parse decodes a configuration file, applies defaults and validates it.
// Warnings (unknown fields, duplicate keys) are returned even when err is not
// nil so that the caller can show them alongside the error.
func Parse(data []byte) (cfg *Config, warnings []string, err error) {
	root, err := parseTree(data)
	if err != nil {
		return nil, nil, err
	}
	cfg, warnings, err = decodeConfig(root)
	if err != nil {
		return nil, warnings, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// Load reads and parses the file at path.
func Load(path string) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load config: %w", err)
	}
	cfg, warnings, err := Parse(data)
	if err != nil {
		return nil, warnings, fmt.Errorf("load config %s: %w", path, err)
	}
	return cfg, warnings, nil
}

// Server returns the server with the given name. The pointer aliases
// c.Servers; callers must not modify it on a published Config.
func (c *Config) Server(name string) (*mcpproxy.ServerSpec, bool) {
	for i := range c.Servers {
		if c.Servers[i].Name == name {
			return &c.Servers[i], true
		}
	}
	return nil, false
}

// Clone returns a deep copy, so that the copy can be edited while the
// original stays published.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	n := *c
	if c.Servers != nil {
		n.Servers = make([]mcpproxy.ServerSpec, len(c.Servers))
		for i, s := range c.Servers {
			n.Servers[i] = cloneSpec(s)
		}
	}
	return &n
}

func cloneSpec(s mcpproxy.ServerSpec) mcpproxy.ServerSpec {
	s.Args = slices.Clone(s.Args)
	s.Env = maps.Clone(s.Env)
	s.Headers = maps.Clone(s.Headers)
	if s.OAuth != nil {
		o := *s.OAuth
		o.Scopes = slices.Clone(o.Scopes)
		s.OAuth = &o
	}
	return s
}

// Changes lists server names, each sorted, that differ between two configs.
type Changes struct {
	Added, Removed, Changed []string
}

// Empty reports whether no server was added, removed or changed.
func (c Changes) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0
}

// Diff compares the servers of two configs by name. A server is Changed when
// any field differs, including Enabled and Quarantined; the caller uses
// ServerSpec.SameConnection to tell a restart from a lifecycle toggle. A nil
// config counts as having no servers.
func Diff(oldCfg, newCfg *Config) Changes {
	var ch Changes
	var oldServers, newServers []mcpproxy.ServerSpec
	if oldCfg != nil {
		oldServers = oldCfg.Servers
	}
	if newCfg != nil {
		newServers = newCfg.Servers
	}
	olds := make(map[string]*mcpproxy.ServerSpec, len(oldServers))
	for i := range oldServers {
		olds[oldServers[i].Name] = &oldServers[i]
	}
	seen := make(map[string]bool, len(newServers))
	for i := range newServers {
		n := &newServers[i]
		seen[n.Name] = true
		o, ok := olds[n.Name]
		switch {
		case !ok:
			ch.Added = append(ch.Added, n.Name)
		case !o.Equal(n):
			ch.Changed = append(ch.Changed, n.Name)
		}
	}
	for name := range olds {
		if !seen[name] {
			ch.Removed = append(ch.Removed, name)
		}
	}
	slices.Sort(ch.Added)
	slices.Sort(ch.Removed)
	slices.Sort(ch.Changed)
	return ch
}

func invalidf(format string, args ...any) *mcpproxy.Error {
	return mcpproxy.Errorf(mcpproxy.EINVALID, format, args...)
}

// syntaxError explains why data is not valid JSON, with a 1-based line and
// byte column, because "offset 1234" is useless to someone editing a file.
func syntaxError(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return invalidf("config: empty, want a JSON object")
	}
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return invalidf("config: %v", err)
	}
	pos := int(se.Offset) - 1
	msg := se.Error()
	// Unmarshal reports truncated input at the last byte; the decoder tells
	// truncation apart, and the useful position is then the end of the file.
	if derr := json.NewDecoder(bytes.NewReader(data)).Decode(&v); errors.Is(derr, io.ErrUnexpectedEOF) {
		pos = len(data)
		msg = "unexpected end of input"
	}
	pos = max(0, min(pos, len(data)))
	line := 1 + bytes.Count(data[:pos], []byte("\n"))
	col := pos - bytes.LastIndexByte(data[:pos], '\n')
	return invalidf("config: line %d, column %d: %s", line, col, msg)
}
