package client

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// The types below mirror the REST API's responses (see the README). They
// are declared here rather than imported from the daemon's packages so
// that a client depends on the wire format, not on the server's code.

// Status is the body of GET /api/v1/status.
type Status struct {
	Version        string                       `json:"version"`
	StartedAt      time.Time                    `json:"started_at"`
	UptimeSeconds  float64                      `json:"uptime_seconds"`
	Listen         string                       `json:"listen"`
	ConfigPath     string                       `json:"config_path"`
	ConfigVersion  uint64                       `json:"config_version"`
	ConfigError    string                       `json:"config_error,omitempty"`
	ConfigErrorAt  *time.Time                   `json:"config_error_at,omitempty"`
	ConfigWarnings []string                     `json:"config_warnings,omitempty"`
	Servers        int                          `json:"servers"`
	Counts         map[mcpproxy.ServerState]int `json:"counts"`
	TotalTools     int                          `json:"total_tools"`
	Quarantined    int                          `json:"quarantined"`
	PendingTools   int                          `json:"pending_tools"`
}

// ServerDetail is the body of GET /api/v1/servers/{name}: the server's
// status and tools, and its spec for review.
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

// Logs is the body of GET /api/v1/servers/{name}/logs.
type Logs struct {
	Server string   `json:"server"`
	Lines  []string `json:"lines"`
	File   string   `json:"file,omitempty"`
}

// Removed answers DELETE /api/v1/servers/{name}.
type Removed struct {
	Server  string `json:"server"`
	Removed bool   `json:"removed"`
}

// Enabled answers …/enable and …/disable.
type Enabled struct {
	Server  string `json:"server"`
	Enabled bool   `json:"enabled"`
}

// Restarted answers …/restart.
type Restarted struct {
	Server     string `json:"server"`
	Restarting bool   `json:"restarting"`
}

// Quarantined answers …/quarantine and …/unquarantine.
type Quarantined struct {
	Server      string `json:"server"`
	Quarantined bool   `json:"quarantined"`
}

// ToolDecision answers …/tools/approve (Approved) and …/tools/block
// (Blocked).
type ToolDecision struct {
	Server   string   `json:"server"`
	Approved []string `json:"approved,omitempty"`
	Blocked  []string `json:"blocked,omitempty"`
}

// Waiting is one entry of GET /api/v1/quarantine: a quarantined server with
// all its tools, or an approved server with the tools that wait.
type Waiting struct {
	Server      string               `json:"server"`
	Quarantined bool                 `json:"quarantined"`
	State       mcpproxy.ServerState `json:"state"`
	LastError   string               `json:"last_error,omitempty"`
	Tools       []ToolView           `json:"tools"`
	// Review is the spec of a quarantined server, for review.
	Review *mcpproxy.ServerReview `json:"review,omitempty"`
}

// ActivityFilter selects activity records; empty fields match everything.
type ActivityFilter struct {
	Server, Tool, Status, Kind string
	// Since is an RFC 3339 time or a duration back from now ("1h").
	Since  string
	Limit  int
	Cursor string
	// Sensitive keeps only records in which sensitive data was found.
	Sensitive bool
}

// ActivityPage is one page of GET /api/v1/activity, newest first.
type ActivityPage struct {
	Records    []ActivityRecord `json:"records"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// ActivityRecord is one tool call or management action.
type ActivityRecord struct {
	ID         string          `json:"id"`
	Time       time.Time       `json:"time"`
	Kind       string          `json:"kind"`
	Endpoint   string          `json:"endpoint"`
	Client     ActivityClient  `json:"client"`
	Server     string          `json:"server,omitempty"`
	Tool       string          `json:"tool,omitempty"`
	Action     string          `json:"action,omitempty"`
	Arguments  json.RawMessage `json:"arguments,omitempty"`
	Status     string          `json:"status"`
	DurationMS float64         `json:"duration_ms"`
	ResultSize int             `json:"result_size"`
	Error      string          `json:"error,omitempty"`
	// Sensitive is set when sensitive data was found in the call.
	Sensitive *ActivitySensitive `json:"sensitive,omitempty"`
}

// ActivitySensitive names the kinds of sensitive data found in a call's
// arguments and result, and what the proxy did (flag, redact, block).
type ActivitySensitive struct {
	Arguments []string `json:"arguments,omitempty"`
	Result    []string `json:"result,omitempty"`
	Action    string   `json:"action"`
}

// Kinds returns the distinct kinds in arguments and result, in order.
func (s *ActivitySensitive) Kinds() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, k := range append(append([]string(nil), s.Arguments...), s.Result...) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// ActivityClient identifies who made a request.
type ActivityClient struct {
	// Token is the name of the agent token the client came with.
	Token     string `json:"token,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	Name      string `json:"name,omitempty"`
	Version   string `json:"version,omitempty"`
	Remote    string `json:"remote,omitempty"`
}

// FoundTool is one hit of GET /api/v1/tools/search.
type FoundTool struct {
	ID          string          `json:"id"`
	Server      string          `json:"server"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
	Annotations json.RawMessage `json:"annotations,omitempty"`
	Score       float64         `json:"score"`
}

// TokenSpec is the body of POST /api/v1/tokens.
type TokenSpec struct {
	Name     string   `json:"name"`
	Servers  []string `json:"servers"`
	ReadOnly bool     `json:"read_only,omitempty"`
	Manage   bool     `json:"manage,omitempty"`
	// Expires is a lifetime: 30d, 12h, 90m; "" for none.
	Expires string `json:"expires,omitempty"`
}

// Token is an agent token as GET /api/v1/tokens lists it.
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
	Token   string `json:"token"`
	Revoked bool   `json:"revoked"`
}
