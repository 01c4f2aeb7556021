// Package apiv1 declares the bodies of the REST API under /api/v1: what the
// daemon answers (inside the {"success":true,"data":…} envelope) and what a
// client sends. The daemon's handlers (httpapi, and the packages whose
// results they serve: pinning, activity, token, mcpserver's search) and the
// CLI's client both use these types, so the two sides cannot drift; the
// golden files of httpapi's tests hold their JSON.
//
// Plain data, no behaviour beyond small helpers; it imports only the
// vocabulary.
package apiv1

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Status is the body of GET /api/v1/status.
type Status struct {
	Version       string     `json:"version"`
	StartedAt     time.Time  `json:"started_at"`
	UptimeSeconds float64    `json:"uptime_seconds"`
	Listen        string     `json:"listen"`
	ConfigPath    string     `json:"config_path"`
	ConfigVersion uint64     `json:"config_version"`
	ConfigError   string     `json:"config_error,omitempty"`
	ConfigErrorAt *time.Time `json:"config_error_at,omitempty"`
	// ConfigWarnings are what the running config's file says that is not
	// an error (a repeated key, say).
	ConfigWarnings []string                     `json:"config_warnings,omitempty"`
	Servers        int                          `json:"servers"`
	Counts         map[mcpproxy.ServerState]int `json:"counts"`
	TotalTools     int                          `json:"total_tools"`
	// Quarantined counts quarantined servers; PendingTools the tools of
	// approved servers waiting for approval (new or changed).
	Quarantined  int `json:"quarantined"`
	PendingTools int `json:"pending_tools"`
}

// ServerDetail is GET /api/v1/servers/{name}: the server's status and, for
// the person reviewing it, its spec with the fingerprint an approval names,
// the diff from the spec last approved and warnings.
type ServerDetail struct {
	mcpproxy.ServerStatus
	Review *mcpproxy.ServerReview `json:"review,omitempty"`
}

// ToolView is a tool as GET /api/v1/servers/{name}/tools shows it for
// review: the current definition with its approval and warnings and, for a
// changed tool, the approved definition and a line diff.
type ToolView struct {
	mcpproxy.Tool
	Approved   *mcpproxy.Tool `json:"approved,omitempty"`
	ApprovedAt *time.Time     `json:"approved_at,omitempty"`
	Diff       string         `json:"diff,omitempty"`
}

// Waiting is one entry of GET /api/v1/quarantine: a quarantined server with
// all its tools, or an approved server with the tools that wait.
type Waiting struct {
	Server      string               `json:"server"`
	Quarantined bool                 `json:"quarantined"`
	State       mcpproxy.ServerState `json:"state"`
	LastError   string               `json:"last_error,omitempty"`
	Tools       []ToolView           `json:"tools"`
	// Review is filled in by the REST API for a quarantined server: its
	// spec, fingerprint, diff and warnings. Agents never get it.
	Review *mcpproxy.ServerReview `json:"review,omitempty"`
}

// The small answers below keep their fields in alphabetical order: the
// order the daemon wrote them in before these types existed.

// Logs is the body of GET /api/v1/servers/{name}/logs.
type Logs struct {
	// File is the server's log file, "" when logs are kept in memory only.
	File   string   `json:"file"`
	Lines  []string `json:"lines"`
	Server string   `json:"server"`
}

// Removed answers DELETE /api/v1/servers/{name}.
type Removed struct {
	Removed bool   `json:"removed"`
	Server  string `json:"server"`
}

// Enabled answers …/enable and …/disable.
type Enabled struct {
	Enabled bool   `json:"enabled"`
	Server  string `json:"server"`
}

// Restarted answers …/restart.
type Restarted struct {
	Restarting bool   `json:"restarting"`
	Server     string `json:"server"`
}

// Quarantined answers …/quarantine and …/unquarantine.
type Quarantined struct {
	Quarantined bool   `json:"quarantined"`
	Server      string `json:"server"`
}

// ToolsApproved answers …/tools/approve: the tools approved.
type ToolsApproved struct {
	Approved []string `json:"approved"`
	Server   string   `json:"server"`
}

// ToolsBlocked answers …/tools/block: the tools blocked.
type ToolsBlocked struct {
	Blocked []string `json:"blocked"`
	Server  string   `json:"server"`
}

// Unquarantine is the body of POST …/unquarantine: the fingerprint of the
// spec the person reviewed (ServerDetail.Review.Fingerprint).
type Unquarantine struct {
	Fingerprint string `json:"fingerprint"`
}

// ApproveTools is the body of POST …/tools/approve: each tool with the
// fingerprint of the definition the person reviewed.
type ApproveTools struct {
	Tools []mcpproxy.ToolRef `json:"tools"`
}

// BlockTools is the body of POST …/tools/block: the tools to block, or all.
type BlockTools struct {
	Tools []string `json:"tools,omitempty"`
	All   bool     `json:"all,omitempty"`
}

// LoginStarted answers POST /api/v1/servers/{name}/login.
type LoginStarted struct {
	AuthorizationURL string `json:"authorization_url"`
	Server           string `json:"server"`
}

// LoggedOut answers POST /api/v1/servers/{name}/logout.
type LoggedOut struct {
	LoggedOut bool   `json:"logged_out"`
	Server    string `json:"server"`
}

// FoundTool is one hit of GET /api/v1/tools/search (and of the MCP tool
// retrieve_tools).
type FoundTool struct {
	ID          string          `json:"id"`
	Server      string          `json:"server"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
	Annotations json.RawMessage `json:"annotations,omitempty"`
	Score       float64         `json:"score"`
	// CallWith is the narrowest call variant of /mcp that reaches the
	// tool, by its annotations: call_tool_read, call_tool_write or
	// call_tool_destructive.
	CallWith string `json:"call_with"`
}

// ActivityPage is one page of GET /api/v1/activity, newest first.
type ActivityPage struct {
	Records []ActivityRecord `json:"records"`
	// NextCursor is set when more records may follow; pass it as the
	// cursor of the next request. The cursor is a position in ID order,
	// so paging neither repeats nor skips a record while others are added:
	// records stamped now sort above it (one back-dated below it shows up
	// on a later page).
	NextCursor string `json:"next_cursor,omitempty"`
}

// ActivityRecord is one tool call or management action.
type ActivityRecord struct {
	// ID sorts by Time: newer records have greater IDs (16 hex digits of
	// Time in Unix nanoseconds, then 4 of a sequence number).
	ID   string    `json:"id"`
	Time time.Time `json:"time"` // UTC
	Kind string    `json:"kind"` // tool_call or management
	// Endpoint is where the request came in: "/mcp", "/mcp/all",
	// "/mcp/server/NAME" or "rest".
	Endpoint string         `json:"endpoint"`
	Client   ActivityClient `json:"client"`
	Server   string         `json:"server,omitempty"`
	Tool     string         `json:"tool,omitempty"`
	// Action is the management action: "add", "remove", "update", "enable",
	// "disable", "restart", "quarantine", "unquarantine", "approve_tools",
	// "block_tools", "create_token", "revoke_token", "login", "logout".
	Action string `json:"action,omitempty"`
	// Arguments are stored redacted and truncated.
	Arguments  json.RawMessage `json:"arguments,omitempty"`
	Status     string          `json:"status"`
	DurationMS float64         `json:"duration_ms"`
	ResultSize int             `json:"result_size"` // bytes of the result content
	Error      string          `json:"error,omitempty"`
	// Sensitive is set when sensitive data was found in the call.
	Sensitive *ActivitySensitive `json:"sensitive,omitempty"`
	// Intent is what the agent declared, for calls through
	// call_tool_read, call_tool_write or call_tool_destructive.
	Intent *ActivityIntent `json:"intent,omitempty"`
}

// ActivityIntent is the intent an agent declared with a call.
type ActivityIntent struct {
	// Variant is the tool the agent called: "call_tool_read",
	// "call_tool_write" or "call_tool_destructive".
	Variant string `json:"variant"`
	// Reason is the agent's own words (stored scrubbed and truncated).
	Reason string `json:"reason,omitempty"`
}

// ActivitySensitive names the kinds of sensitive data found in a call's
// arguments and result, and what the proxy did.
type ActivitySensitive struct {
	Arguments []string `json:"arguments,omitempty"`
	Result    []string `json:"result,omitempty"`
	// Action is what the proxy did about it: "flag", "redact" or "block"
	// (the sensitive_data setting at the time of the call).
	Action string `json:"action"`
}

// Kinds returns the distinct kinds in arguments and result, sorted.
func (s *ActivitySensitive) Kinds() []string {
	if s == nil {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(slices.Concat(s.Arguments, s.Result))))
}

// ActivityClient identifies who made a request.
type ActivityClient struct {
	// Token is the name of the agent token the client came with, if any.
	Token     string `json:"token,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	// Name is clientInfo.name from MCP initialize, or "rest" / the
	// User-Agent for REST requests.
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Remote  string `json:"remote,omitempty"`
}

// TokenSpec is the body of POST /api/v1/tokens.
type TokenSpec struct {
	Name    string   `json:"name"`
	Servers []string `json:"servers"`
	// ReadOnly limits the token to tools annotated read-only; Manage lets
	// it use upstream_servers.
	ReadOnly bool `json:"read_only,omitempty"`
	Manage   bool `json:"manage,omitempty"`
	// Expires is how long the token lives: "30d", "12h", "90m", or any Go
	// duration; "" or "never" for no expiry.
	Expires string `json:"expires,omitempty"`
}

// Token is an agent token as GET /api/v1/tokens lists it; never its secret.
type Token struct {
	Name      string    `json:"name"`
	Servers   []string  `json:"servers"`
	ReadOnly  bool      `json:"read_only"`
	Manage    bool      `json:"manage"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Expired   bool      `json:"expired"`
}

// CreatedToken is the answer to POST /api/v1/tokens: the token and its
// secret, which the daemon never shows again.
type CreatedToken struct {
	Token
	Secret string `json:"secret"`
}

// RevokedToken is the answer to DELETE /api/v1/tokens/{name}.
type RevokedToken struct {
	Revoked bool   `json:"revoked"`
	Token   string `json:"token"`
}

// Preflight is GET /api/v1/tools/preflight: whether each named tool can be
// called now, said from the daemon's state alone (no upstream is asked).
type Preflight struct {
	// Ready is true when every tool is.
	Ready bool `json:"ready"`
	// Class is the worst of the tools' classes: misconfigured, then
	// blocked, then transient, then ready.
	Class string          `json:"class"`
	Tools []ToolPreflight `json:"tools"`
}

// ToolPreflight is whether one tool can be called now, and if not why.
type ToolPreflight struct {
	ID    string `json:"id"`
	Ready bool   `json:"ready"`
	// Status is why: ready; starting, retrying or stopping (its server);
	// quarantined, needs_login, pending_approval, changed or blocked;
	// disabled, unknown_server, unknown_tool or invalid_id.
	Status string `json:"status"`
	// Class groups the statuses by what a caller can do: ready; transient
	// (wait: the server is on its way); blocked (a person must approve or
	// log in); misconfigured (fix the id or the config).
	Class string `json:"class"`
	// ServerState is the server's state, when the server is known.
	ServerState string `json:"server_state,omitempty"`
	// Message says what is wrong and what to do, for a person.
	Message string `json:"message,omitempty"`
	// DidYouMean holds the closest known ids to an unknown one.
	DidYouMean []string `json:"did_you_mean,omitempty"`
	// NextRetryAt is when a server waiting after an error tries again.
	NextRetryAt *time.Time `json:"next_retry_at,omitempty"`
}

// The classes of a ToolPreflight, from best to worst.
const (
	PreflightReady         = "ready"
	PreflightTransient     = "transient"
	PreflightBlocked       = "blocked"
	PreflightMisconfigured = "misconfigured"
)
