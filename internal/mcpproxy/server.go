package mcpproxy

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Protocol is the transport used to reach an upstream server.
type Protocol string

const (
	// ProtocolAuto picks stdio when a command is set, otherwise streamable
	// HTTP with a fallback to SSE.
	ProtocolAuto           Protocol = "auto"
	ProtocolStdio          Protocol = "stdio"
	ProtocolStreamableHTTP Protocol = "streamable-http"
	// ProtocolHTTP is accepted in config as an alias of ProtocolStreamableHTTP.
	ProtocolHTTP Protocol = "http"
	ProtocolSSE  Protocol = "sse"
)

// Protocols lists every protocol a server entry may name, in the order
// messages and help show them.
var Protocols = []Protocol{ProtocolStdio, ProtocolStreamableHTTP, ProtocolHTTP, ProtocolSSE, ProtocolAuto}

// ServerSpec is one configured upstream server: the desired state.
//
// It is also the shape of a server entry on every surface that takes one
// (the config file, REST, the CLI, MCP's upstream_servers, whose input
// schema is generated from it: hence the jsonschema descriptions).
type ServerSpec struct {
	Name           string            `json:"name" jsonschema:"the server's name: 1-64 of A-Z a-z 0-9 _ . -"`
	Protocol       Protocol          `json:"protocol,omitempty" jsonschema:"transport; default: stdio with a command, else streamable HTTP falling back to SSE"`
	Command        string            `json:"command,omitempty" jsonschema:"stdio: the command to run"`
	Args           []string          `json:"args,omitempty" jsonschema:"stdio: the command's arguments"`
	Env            map[string]string `json:"env,omitempty" jsonschema:"stdio: environment variables of the command"`
	WorkingDir     string            `json:"working_dir,omitempty" jsonschema:"stdio: the command's working directory"`
	URL            string            `json:"url,omitempty" jsonschema:"HTTP: the server's URL"`
	Headers        map[string]string `json:"headers,omitempty" jsonschema:"HTTP: headers sent with every request"`
	Enabled        bool              `json:"enabled"`
	Quarantined    bool              `json:"quarantined"`
	ConnectTimeout Duration          `json:"connect_timeout,omitempty"`
	CallTimeout    Duration          `json:"call_timeout,omitempty"`
	// AutoApproveToolChanges approves new and changed tools of this server
	// without asking, for servers the user fully trusts.
	AutoApproveToolChanges bool `json:"auto_approve_tool_changes,omitempty"`
	// OAuth configures the OAuth 2.1 login to an HTTP upstream that asks for
	// one; nil uses dynamic client registration and the scopes the server
	// advertises.
	OAuth *OAuthSpec `json:"oauth,omitempty"`
}

// OAuthSpec is a server's optional OAuth client configuration.
type OAuthSpec struct {
	// ClientID of a client registered with the authorization server by
	// hand; empty registers one dynamically (RFC 7591).
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret of that client; may be a ${env:NAME} placeholder.
	ClientSecret string   `json:"client_secret,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	// RedirectPort fixes the port of the loopback redirect listener; 0
	// picks a free one.
	RedirectPort int `json:"redirect_port,omitempty"`
}

// Masked returns a copy of s fit to show: a client secret written in the
// file as is (not as a ${env:NAME} placeholder) becomes "***".
func (s ServerSpec) Masked() ServerSpec {
	if s.OAuth != nil && s.OAuth.ClientSecret != "" && !strings.Contains(s.OAuth.ClientSecret, "${env:") {
		o := *s.OAuth
		o.ClientSecret = "***"
		s.OAuth = &o
	}
	return s
}

// Equal reports whether two OAuth specs (either may be nil) are the same.
func (o *OAuthSpec) Equal(p *OAuthSpec) bool {
	if o == nil || p == nil {
		return o == p
	}
	return o.ClientID == p.ClientID && o.ClientSecret == p.ClientSecret &&
		slices.Equal(o.Scopes, p.Scopes) && o.RedirectPort == p.RedirectPort
}

// Transport resolves ProtocolAuto and the "http" alias to the transport the
// connector starts with.
func (s *ServerSpec) Transport() Protocol {
	switch s.Protocol {
	case ProtocolHTTP:
		return ProtocolStreamableHTTP
	case ProtocolAuto, "":
		if s.Command != "" {
			return ProtocolStdio
		}
		return ProtocolAuto
	}
	return s.Protocol
}

// SameConnection reports whether two specs would produce the same upstream
// connection. Enabled and Quarantined are not part of it: the supervisor
// treats those as lifecycle changes, not connection changes.
func (s *ServerSpec) SameConnection(o *ServerSpec) bool {
	return s.Name == o.Name &&
		s.Transport() == o.Transport() &&
		s.Command == o.Command &&
		slices.Equal(s.Args, o.Args) &&
		maps.Equal(s.Env, o.Env) &&
		s.WorkingDir == o.WorkingDir &&
		s.URL == o.URL &&
		maps.Equal(s.Headers, o.Headers) &&
		s.ConnectTimeout == o.ConnectTimeout &&
		s.CallTimeout == o.CallTimeout &&
		s.OAuth.Equal(o.OAuth)
}

// Equal reports whether two specs are identical in every field.
func (s *ServerSpec) Equal(o *ServerSpec) bool {
	return s.SameConnection(o) && s.Protocol == o.Protocol &&
		s.Enabled == o.Enabled && s.Quarantined == o.Quarantined &&
		s.AutoApproveToolChanges == o.AutoApproveToolChanges
}

// ServerState is where an upstream's actor is in its lifecycle.
type ServerState string

const (
	StateDisabled   ServerState = "disabled"
	StateConnecting ServerState = "connecting"
	StateReady      ServerState = "ready"
	StateError      ServerState = "error"
	StateStopping   ServerState = "stopping"
	// StateNeedsAuth: the upstream asked for an OAuth login (or its
	// refresh was refused). The actor waits for a login; it does not retry
	// on its own.
	StateNeedsAuth ServerState = "needs_auth"
	// StateQuarantined: the server waits for a person's approval and is
	// not started: no process, no connection, no ${env:…} expansion.
	StateQuarantined ServerState = "quarantined"
)

// AllStates lists every state in display order.
var AllStates = []ServerState{StateReady, StateConnecting, StateNeedsAuth, StateError, StateQuarantined, StateDisabled, StateStopping}

// Tool is one tool an upstream server offers. Schemas and annotations are kept
// as raw JSON so that a published Tool is never a shared mutable map.
type Tool struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`

	// Fingerprint is the SHA-256 (hex) of the definition above; see
	// pinning.Fingerprint.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Approval is where the tool stands with the person who approves tools:
	// only approved tools are indexed, listed and callable.
	Approval Approval `json:"approval,omitempty"`
	// Warnings are suspicious-content findings in the definition. They
	// inform the person approving; they approve or block nothing.
	Warnings []Warning `json:"warnings,omitempty"`
}

// Usable reports whether the tool may be searched, listed and called.
func (t *Tool) Usable() bool { return t.Approval == ApprovalApproved }

// Approval is a tool's approval state.
type Approval string

const (
	// ApprovalApproved: the definition matches the one a person approved
	// (or trusted on first use when the server was approved).
	ApprovalApproved Approval = "approved"
	// ApprovalPending: a tool never approved (new on an approved server, or
	// any tool of a quarantined server).
	ApprovalPending Approval = "pending"
	// ApprovalChanged: the definition differs from the approved one.
	ApprovalChanged Approval = "changed"
	// ApprovalBlocked: a person blocked the tool.
	ApprovalBlocked Approval = "blocked"
)

// Warning is one suspicious-content finding in a tool definition.
type Warning struct {
	Kind   string `json:"kind"`
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// ServerInfo is what an upstream said about itself at initialize.
type ServerInfo struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// ServerStatus is the observed state of one upstream server.
type ServerStatus struct {
	Name        string      `json:"name"`
	Protocol    Protocol    `json:"protocol"`
	Enabled     bool        `json:"enabled"`
	Quarantined bool        `json:"quarantined"`
	State       ServerState `json:"state"`
	// Installing: the server is connecting for the first time through a
	// package runner (npx, uvx, docker, …), which may be downloading it; the
	// attempt has the install deadline, not the connect deadline.
	Installing  bool       `json:"installing,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	ConnectedAt *time.Time `json:"connected_at,omitempty"`
	RetryCount  int        `json:"retry_count"`
	NextRetryAt *time.Time `json:"next_retry_at,omitempty"`
	ToolCount   int        `json:"tool_count"`
	// PendingTools counts tools waiting for approval (pending or changed);
	// BlockedTools those a person blocked.
	PendingTools    int         `json:"pending_tools"`
	BlockedTools    int         `json:"blocked_tools"`
	Tools           []Tool      `json:"tools,omitempty"`
	ServerInfo      *ServerInfo `json:"server_info,omitempty"`
	ProtocolVersion string      `json:"protocol_version,omitempty"`
	PID             int         `json:"pid,omitempty"`
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("30s", "2m"). A JSON number is read as seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("want a duration like \"30s\", got %s", b)
		}
		*d = Duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
