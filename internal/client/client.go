// Package client talks to a running mcpproxy daemon: one typed method per
// REST endpoint of /api/v1, and CallTool, which calls one upstream tool
// through the daemon's MCP pass-through endpoint. It is what the CLI is
// built on.
//
// Every method takes a context and returns the API's error as an
// *mcpproxy.Error carrying its code and message, or a *NoDaemonError when
// nothing accepts connections at the daemon's address. A Client holds no
// state beyond its configuration and is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// requestTimeout bounds one REST request. The daemon answers these from
// memory; a daemon that takes this long is stuck.
const requestTimeout = 30 * time.Second

// maxResponseBytes bounds a response body read into memory.
const maxResponseBytes = 64 << 20

// Client is a client of one daemon.
type Client struct {
	base string
	key  string
	// UserAgent is sent with every request; the daemon's activity log
	// shows it for management actions. Set it before the first request.
	UserAgent string
	hc        *http.Client
}

// New returns a client of the daemon at baseURL (such as
// http://127.0.0.1:8080) that sends apiKey as X-API-Key.
func New(baseURL, apiKey string) *Client {
	return &Client{
		base:      strings.TrimRight(baseURL, "/"),
		key:       apiKey,
		UserAgent: "mcpproxy-cli",
		hc:        &http.Client{Timeout: requestTimeout},
	}
}

// BaseURL returns the daemon's URL, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// NoDaemonError reports that nothing accepts connections at the daemon's
// address.
type NoDaemonError struct {
	URL string
	Err error
}

func (e *NoDaemonError) Error() string {
	return fmt.Sprintf("no mcpproxy daemon is running at %s (start it with: mcpproxy serve)", e.URL)
}

func (e *NoDaemonError) Unwrap() error { return e.Err }

// transportError turns a failed request into a NoDaemonError when the
// connection was refused, and otherwise names the daemon's URL.
func (c *Client) transportError(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return &NoDaemonError{URL: c.base, Err: err}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("mcpproxy daemon at %s: %w", c.base, err)
}

// envelope is every JSON response of /api/v1.
type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// do sends a request and decodes the envelope's data into out (unless out
// is nil). body, if not nil, is sent as JSON.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	c.setHeaders(req.Header)
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.transportError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return c.transportError(err)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil || (!env.Success && env.Error == nil) {
		return fmt.Errorf("%s %s%s: unexpected response %s (is this an mcpproxy daemon?)", method, c.base, path, resp.Status)
	}
	if !env.Success {
		return &mcpproxy.Error{Code: env.Error.Code, Message: env.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

func (c *Client) setHeaders(h http.Header) {
	if c.key != "" {
		h.Set("X-API-Key", c.key)
	}
	if c.UserAgent != "" {
		h.Set("User-Agent", c.UserAgent)
	}
}

func serverPath(name string, rest ...string) string {
	p := "/api/v1/servers/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Status returns GET /api/v1/status.
func (c *Client) Status(ctx context.Context) (apiv1.Status, error) {
	var st apiv1.Status
	err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, nil, &st)
	return st, err
}

// Servers lists every server's status without tools; a state other than ""
// lists only the servers in that state.
func (c *Client) Servers(ctx context.Context, state mcpproxy.ServerState) ([]mcpproxy.ServerStatus, error) {
	var q url.Values
	if state != "" {
		q = url.Values{"state": {string(state)}}
	}
	var list []mcpproxy.ServerStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/servers", q, nil, &list)
	return list, err
}

// Server returns one server's status with its tools.
func (c *Client) Server(ctx context.Context, name string) (apiv1.ServerDetail, error) {
	var st apiv1.ServerDetail
	err := c.do(ctx, http.MethodGet, serverPath(name), nil, nil, &st)
	return st, err
}

// ServerTools returns a server's tools for review, with their approval.
func (c *Client) ServerTools(ctx context.Context, name string) ([]apiv1.ToolView, error) {
	var tools []apiv1.ToolView
	err := c.do(ctx, http.MethodGet, serverPath(name, "tools"), nil, nil, &tools)
	return tools, err
}

// Logs returns the last tail stderr lines of a server; tail <= 0 takes the
// daemon's default (100).
func (c *Client) Logs(ctx context.Context, name string, tail int) (apiv1.Logs, error) {
	var q url.Values
	if tail > 0 {
		q = url.Values{"tail": {strconv.Itoa(tail)}}
	}
	var l apiv1.Logs
	err := c.do(ctx, http.MethodGet, serverPath(name, "logs"), q, nil, &l)
	return l, err
}

// AddServer adds a server, the body being the spec as a config entry, and
// returns the entry as stored in the config.
func (c *Client) AddServer(ctx context.Context, s mcpproxy.ServerSpec) (mcpproxy.ServerSpec, error) {
	var spec mcpproxy.ServerSpec
	err := c.do(ctx, http.MethodPost, "/api/v1/servers", nil, s, &spec)
	return spec, err
}

// UpdateServer changes the fields present in fields (keys as in a config
// entry: "args", "env", "enabled", …) and keeps the others; a nil value
// keeps, an empty one clears. It returns the stored entry.
func (c *Client) UpdateServer(ctx context.Context, name string, fields map[string]any) (mcpproxy.ServerSpec, error) {
	var spec mcpproxy.ServerSpec
	err := c.do(ctx, http.MethodPatch, serverPath(name), nil, fields, &spec)
	return spec, err
}

// RemoveServer removes a server.
func (c *Client) RemoveServer(ctx context.Context, name string) (apiv1.Removed, error) {
	var r apiv1.Removed
	err := c.do(ctx, http.MethodDelete, serverPath(name), nil, nil, &r)
	return r, err
}

// SetEnabled enables or disables a server. The daemon writes the config
// file at once; the server's state follows asynchronously.
func (c *Client) SetEnabled(ctx context.Context, name string, enabled bool) (apiv1.Enabled, error) {
	op := "disable"
	if enabled {
		op = "enable"
	}
	var r apiv1.Enabled
	err := c.do(ctx, http.MethodPost, serverPath(name, op), nil, nil, &r)
	return r, err
}

// Restart reconnects a server now.
func (c *Client) Restart(ctx context.Context, name string) (apiv1.Restarted, error) {
	var r apiv1.Restarted
	err := c.do(ctx, http.MethodPost, serverPath(name, "restart"), nil, nil, &r)
	return r, err
}

// QuarantineServer quarantines a server: it is stopped until a person
// approves it again.
func (c *Client) QuarantineServer(ctx context.Context, name string) (apiv1.Quarantined, error) {
	var r apiv1.Quarantined
	err := c.do(ctx, http.MethodPost, serverPath(name, "quarantine"), nil, nil, &r)
	return r, err
}

// Unquarantine approves a quarantined server's spec, the one with the
// fingerprint the person reviewed (ServerDetail.Review.Fingerprint), and
// releases it. A spec that changed since is refused with a conflict.
func (c *Client) Unquarantine(ctx context.Context, name, fingerprint string) (apiv1.Quarantined, error) {
	body := apiv1.Unquarantine{Fingerprint: fingerprint}
	var r apiv1.Quarantined
	err := c.do(ctx, http.MethodPost, serverPath(name, "unquarantine"), nil, body, &r)
	return r, err
}

// ApproveTools approves tool definitions of a server, each named with the
// fingerprint the person reviewed; a definition that changed since is
// refused with a conflict and nothing is approved.
func (c *Client) ApproveTools(ctx context.Context, name string, tools []mcpproxy.ToolRef) (apiv1.ToolsApproved, error) {
	body := apiv1.ApproveTools{Tools: tools}
	var d apiv1.ToolsApproved
	err := c.do(ctx, http.MethodPost, serverPath(name, "tools", "approve"), nil, body, &d)
	return d, err
}

// BlockTools blocks the named tools of a server, or all of them.
func (c *Client) BlockTools(ctx context.Context, name string, tools []string, all bool) (apiv1.ToolsBlocked, error) {
	body := apiv1.BlockTools{Tools: tools, All: all}
	var d apiv1.ToolsBlocked
	err := c.do(ctx, http.MethodPost, serverPath(name, "tools", "block"), nil, body, &d)
	return d, err
}

// Quarantine lists everything waiting for a person's approval.
func (c *Client) Quarantine(ctx context.Context) ([]apiv1.Waiting, error) {
	var w []apiv1.Waiting
	err := c.do(ctx, http.MethodGet, "/api/v1/quarantine", nil, nil, &w)
	return w, err
}

// Activity lists activity records, newest first.
func (c *Client) Activity(ctx context.Context, f ActivityFilter) (apiv1.ActivityPage, error) {
	q := url.Values{}
	for k, v := range map[string]string{
		"server": f.Server, "tool": f.Tool, "status": f.Status, "kind": f.Kind,
		"since": f.Since, "cursor": f.Cursor,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Sensitive {
		q.Set("sensitive", "1")
	}
	var p apiv1.ActivityPage
	err := c.do(ctx, http.MethodGet, "/api/v1/activity", q, nil, &p)
	return p, err
}

// ActivityRecord returns one activity record.
func (c *Client) ActivityRecord(ctx context.Context, id string) (apiv1.ActivityRecord, error) {
	var r apiv1.ActivityRecord
	err := c.do(ctx, http.MethodGet, "/api/v1/activity/"+url.PathEscape(id), nil, nil, &r)
	return r, err
}

// SearchTools runs a BM25 tool search; limit <= 0 takes the daemon's
// tools_limit.
func (c *Client) SearchTools(ctx context.Context, query string, limit int) ([]apiv1.FoundTool, error) {
	q := url.Values{"q": {query}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var found []apiv1.FoundTool
	err := c.do(ctx, http.MethodGet, "/api/v1/tools/search", q, nil, &found)
	return found, err
}

// Preflight says whether each tool of ids ("server:tool") can be called
// now, from the daemon's state alone.
func (c *Client) Preflight(ctx context.Context, ids []string) (apiv1.Preflight, error) {
	var p apiv1.Preflight
	err := c.do(ctx, http.MethodGet, "/api/v1/tools/preflight", url.Values{"ids": {strings.Join(ids, ",")}}, nil, &p)
	return p, err
}

// CreateToken creates an agent token; the answer holds its secret, shown
// this once.
func (c *Client) CreateToken(ctx context.Context, spec apiv1.TokenSpec) (apiv1.CreatedToken, error) {
	var t apiv1.CreatedToken
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, spec, &t)
	return t, err
}

// Tokens lists the agent tokens, without their secrets.
func (c *Client) Tokens(ctx context.Context) ([]apiv1.Token, error) {
	var list []apiv1.Token
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, nil, &list)
	return list, err
}

// RevokeToken revokes an agent token; it stops working at once.
func (c *Client) RevokeToken(ctx context.Context, name string) (apiv1.RevokedToken, error) {
	var r apiv1.RevokedToken
	err := c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(name), nil, nil, &r)
	return r, err
}
