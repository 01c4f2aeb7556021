package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// knownTopLevel lists the top-level keys that are not reported as unknown.
// Keys read by other features belong here even before Parse decodes them, so
// that a valid file never produces a warning.
var knownTopLevel = []string{
	"listen", "data_dir", "api_key", "tools_limit", "tool_response_limit",
	"call_tool_timeout", "connect_timeout", "install_timeout", "mcpServers",
	"require_mcp_auth", "read_only", "disable_management", "allow_server_add",
	"allow_server_remove", "quarantine_new_servers", "enable_direct_mode",
	"activity_retention_days", "activity_max_records", "sensitive_data", "result_cache_max_bytes",
	"tool_response_mode", "require_intent", "block_destructive_agent_calls",
}

// serverFields are the keys of a ServerSpec, in the order entries are
// written.
var serverFields = []string{
	"name", "protocol", "command", "args", "env", "working_dir", "url", "headers",
	"enabled", "quarantined", "connect_timeout", "call_timeout",
	"auto_approve_tool_changes", "oauth",
}

// knownServerFields lists the per-server keys that are not reported as
// unknown: a ServerSpec's, and VS Code's "type" (its name for protocol)
// and "description".
var knownServerFields = slices.Concat(serverFields, []string{"type", "description"})

// decoder walks a parsed tree into a Config. Working on our own tree rather
// than json.Unmarshal lets every message name the exact field, keeps the
// map form's key order, and finds unknown fields.
type decoder struct {
	errs     []error
	warnings []string
	// strict makes unknown keys errors (mcpproxy's own file) rather than
	// warnings (other clients' files, read by import).
	strict bool
	// collectAt, when set, is the path of an API input whose unknown keys
	// are collected in unknownKeys rather than reported one by one (see
	// DecodeServerInput).
	collectAt   string
	unknownKeys []string
}

func (dc *decoder) fail(field, format string, args ...any) {
	dc.errs = append(dc.errs, invalidf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (dc *decoder) warn(field, format string, args ...any) {
	dc.warnings = append(dc.warnings, field+": "+fmt.Sprintf(format, args...))
}

// unknown reports an unknown key with what it probably meant.
func (dc *decoder) unknown(field, key string, known []string) {
	hint := unknownHint(key, known)
	switch {
	case dc.strict && hint != "":
		dc.fail(field, "unknown field; %s", hint)
	case dc.strict:
		dc.fail(field, "unknown field (keys of your own start with \"_\" or \"x_\")")
	case hint != "":
		dc.warn(field, "unknown field, ignored; %s", hint)
	default:
		dc.warn(field, "unknown field, ignored")
	}
}

func decodeConfig(root *node) (*Config, []string, error) {
	cfg := Default()
	dc := &decoder{strict: true}
	dc.fields(root, "", knownTopLevel, func(key, field string, v *node) {
		switch key {
		case "listen":
			dc.str(v, field, &cfg.Listen)
		case "data_dir":
			dc.str(v, field, &cfg.DataDir)
		case "api_key":
			dc.str(v, field, &cfg.APIKey)
		case "tools_limit":
			dc.int(v, field, &cfg.ToolsLimit)
		case "tool_response_limit":
			dc.int(v, field, &cfg.ToolResponseLimit)
		case "call_tool_timeout":
			dc.duration(v, field, &cfg.CallToolTimeout)
		case "connect_timeout":
			dc.duration(v, field, &cfg.ConnectTimeout)
		case "install_timeout":
			dc.duration(v, field, &cfg.InstallTimeout)
		case "mcpServers":
			cfg.Servers, cfg.ServersAsMap = dc.servers(v, field)
		case "require_mcp_auth":
			dc.bool(v, field, &cfg.RequireMCPAuth)
		case "read_only":
			dc.bool(v, field, &cfg.ReadOnly)
		case "disable_management":
			dc.bool(v, field, &cfg.DisableManagement)
		case "allow_server_add":
			dc.bool(v, field, &cfg.AllowServerAdd)
		case "allow_server_remove":
			dc.bool(v, field, &cfg.AllowServerRemove)
		case "quarantine_new_servers":
			dc.bool(v, field, &cfg.QuarantineNewServers)
		case "activity_retention_days":
			dc.int(v, field, &cfg.ActivityRetentionDays)
		case "activity_max_records":
			dc.int(v, field, &cfg.ActivityMaxRecords)
		case "sensitive_data":
			dc.str(v, field, &cfg.SensitiveData)
		case "result_cache_max_bytes":
			dc.int64(v, field, &cfg.ResultCacheMaxBytes)
		case "tool_response_mode":
			dc.str(v, field, &cfg.ToolResponseMode)
		case "require_intent":
			dc.bool(v, field, &cfg.RequireIntent)
		case "block_destructive_agent_calls":
			dc.bool(v, field, &cfg.BlockDestructiveAgentCalls)
		}
	})
	return cfg, dc.warnings, errors.Join(dc.errs...)
}

// fields calls fn for each key of obj in file order, skipping nulls (which
// mean "absent", as with encoding/json), warning about repeated keys and
// reporting unknown ones (see unknown.go). Keys reserved for the owner
// (isUserKey) pass silently.
func (dc *decoder) fields(obj *node, prefix string, known []string, fn func(key, field string, v *node)) {
	seen := make(map[string]bool, len(obj.keys))
	for i, key := range obj.keys {
		field := prefix + pathElem(key, prefix == "")
		switch {
		case seen[key]:
			dc.warn(field, "repeated key, the last one is used")
		case isUserKey(key):
		case !slices.Contains(known, key) && dc.collectAt != "" && prefix == dc.collectAt:
			dc.unknownKeys = append(dc.unknownKeys, key)
		case !slices.Contains(known, key):
			dc.unknown(field, key, known)
		}
		seen[key] = true
		if v := obj.vals[i]; !v.isNull() {
			fn(key, field, v)
		}
	}
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// pathElem renders a key as a path element: .key, or ["key"] when the key
// would not read unambiguously.
func pathElem(key string, top bool) string {
	switch {
	case !plainKeyRE.MatchString(key):
		return "[" + strconv.Quote(key) + "]"
	case top:
		return key
	}
	return "." + key
}

func (dc *decoder) servers(v *node, field string) ([]mcpproxy.ServerSpec, bool) {
	switch v.kind {
	case arrayNode:
		specs := make([]mcpproxy.ServerSpec, 0, len(v.vals))
		for i, e := range v.vals {
			path := serverField(false, i, "")
			if e.kind != objectNode {
				dc.fail(path, "want object")
				continue
			}
			specs = append(specs, dc.server(e, path, "", false))
		}
		return specs, false
	case objectNode:
		specs := make([]mcpproxy.ServerSpec, 0, len(v.vals))
		for i, e := range v.vals {
			key := v.keys[i]
			path := serverField(true, i, key)
			if e.kind != objectNode {
				dc.fail(path, "want object")
				continue
			}
			specs = append(specs, dc.server(e, path, key, true))
		}
		return specs, true
	}
	dc.fail(field, "want array or object of servers")
	return nil, false
}

// server decodes one entry; in the map form key is the server's name.
func (dc *decoder) server(e *node, path, key string, asMap bool) mcpproxy.ServerSpec {
	s, _ := dc.entry(e, path, key, asMap, knownServerFields)
	return s
}

// entry decodes the keys of e that are in known, and returns which of them
// were present (and not null).
func (dc *decoder) entry(e *node, path, key string, asMap bool, known []string) (mcpproxy.ServerSpec, []string) {
	s := mcpproxy.ServerSpec{Enabled: true}
	var set []string
	// The name and protocol are settled after the loop: the map form's key
	// and VS Code's "type" depend on what else the entry holds.
	var name, proto, typ string
	var hasName, hasProto, hasType bool
	var nameField, typeField string
	dc.fields(e, path, known, func(k, field string, v *node) {
		set = append(set, k)
		switch k {
		case "name":
			hasName, nameField = dc.str(v, field, &name), field
		case "protocol":
			hasProto = dc.str(v, field, &proto)
		case "type":
			hasType, typeField = dc.str(v, field, &typ), field
		case "command":
			dc.str(v, field, &s.Command)
		case "args":
			dc.strings(v, field, &s.Args)
		case "env":
			dc.strMap(v, field, &s.Env)
		case "working_dir":
			dc.str(v, field, &s.WorkingDir)
		case "url":
			dc.str(v, field, &s.URL)
		case "headers":
			dc.strMap(v, field, &s.Headers)
		case "enabled":
			dc.bool(v, field, &s.Enabled)
		case "quarantined":
			dc.bool(v, field, &s.Quarantined)
		case "connect_timeout":
			dc.duration(v, field, &s.ConnectTimeout)
		case "call_timeout":
			dc.duration(v, field, &s.CallTimeout)
		case "auto_approve_tool_changes":
			dc.bool(v, field, &s.AutoApproveToolChanges)
		case "oauth":
			s.OAuth = dc.oauth(v, field)
		}
	})
	switch {
	case hasProto:
		s.Protocol = mcpproxy.Protocol(proto)
	case hasType && knownProtocol(typ):
		s.Protocol = mcpproxy.Protocol(typ)
	case hasType:
		// Validate would blame "protocol", a key the user never wrote.
		dc.errs = append(dc.errs, unknownProtocol(typeField, typ))
	}
	s.Name = name
	if asMap {
		if hasName && name != key {
			dc.fail(nameField, "%q does not match its key %q", name, key)
		}
		s.Name = key
	}
	return s, set
}

// knownOAuthFields lists the keys of a server's "oauth" object.
var knownOAuthFields = []string{"client_id", "client_secret", "scopes", "redirect_port"}

func (dc *decoder) oauth(v *node, field string) *mcpproxy.OAuthSpec {
	if v.kind != objectNode {
		dc.fail(field, "want object, got %s", v.kindName())
		return nil
	}
	o := &mcpproxy.OAuthSpec{}
	dc.fields(v, field, knownOAuthFields, func(k, f string, v *node) {
		switch k {
		case "client_id":
			dc.str(v, f, &o.ClientID)
		case "client_secret":
			dc.str(v, f, &o.ClientSecret)
		case "scopes":
			dc.strings(v, f, &o.Scopes)
		case "redirect_port":
			dc.int(v, f, &o.RedirectPort)
		}
	})
	return o
}

func (dc *decoder) str(v *node, field string, dst *string) bool {
	s, ok := v.str()
	if !ok {
		dc.fail(field, "want string, got %s", v.kindName())
		return false
	}
	*dst = s
	return true
}

func (dc *decoder) bool(v *node, field string, dst *bool) {
	switch string(v.raw) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		dc.fail(field, "want true or false, got %s", v.kindName())
	}
}

func (dc *decoder) int(v *node, field string, dst *int) {
	if v.kind != valueNode {
		dc.fail(field, "want integer, got %s", v.kindName())
		return
	}
	n, err := strconv.Atoi(string(v.raw))
	if err != nil {
		dc.fail(field, "want integer, got %s", v.kindName())
		return
	}
	*dst = n
}

func (dc *decoder) int64(v *node, field string, dst *int64) {
	if v.kind != valueNode {
		dc.fail(field, "want integer, got %s", v.kindName())
		return
	}
	n, err := strconv.ParseInt(string(v.raw), 10, 64)
	if err != nil {
		dc.fail(field, "want integer, got %s", v.kindName())
		return
	}
	*dst = n
}

func (dc *decoder) duration(v *node, field string, dst *mcpproxy.Duration) {
	var d mcpproxy.Duration
	if err := d.UnmarshalJSON(v.compact()); err != nil {
		dc.fail(field, "%v", err)
		return
	}
	*dst = d
}

func (dc *decoder) strings(v *node, field string, dst *[]string) {
	if v.kind != arrayNode {
		dc.fail(field, "want array of strings, got %s", v.kindName())
		return
	}
	out := make([]string, 0, len(v.vals))
	for i, e := range v.vals {
		s, ok := e.str()
		if !ok {
			dc.fail(fmt.Sprintf("%s[%d]", field, i), "want string, got %s", e.kindName())
			return
		}
		out = append(out, s)
	}
	*dst = out
}

func (dc *decoder) strMap(v *node, field string, dst *map[string]string) {
	if v.kind != objectNode {
		dc.fail(field, "want object of strings, got %s", v.kindName())
		return
	}
	out := make(map[string]string, len(v.vals))
	for i, e := range v.vals {
		s, ok := e.str()
		if !ok {
			dc.fail(field+pathElem(v.keys[i], false), "want string, got %s", e.kindName())
			return
		}
		out[v.keys[i]] = s
	}
	*dst = out
}

// decodeEntry decodes one server entry on its own, for comparing an entry
// before and after an edit by meaning rather than by spelling.
func decodeEntry(e *node, key string, asMap bool) (mcpproxy.ServerSpec, bool) {
	if e.kind != objectNode {
		return mcpproxy.ServerSpec{}, false
	}
	dc := &decoder{}
	s := dc.server(e, "mcpServers[0]", key, asMap)
	return s, len(dc.errs) == 0
}
