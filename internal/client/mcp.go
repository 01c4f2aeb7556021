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
	"strings"
	"sync"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ClientName is the MCP client name CallTool announces; the daemon's
// activity log shows it.
const ClientName = "mcpproxy-cli"

// CallTool calls one tool of one upstream server through the daemon's
// pass-through endpoint /mcp/server/{server}, in a session of its own, and
// returns the tool's result; a result with IsError set is not an error
// here. args must be a JSON object, or nil for none. version is announced
// as the MCP client's version.
//
// A refusal before the MCP session starts (unknown, quarantined or not
// ready server, wrong API key) comes back as the daemon's *mcpproxy.Error.
func (c *Client) CallTool(ctx context.Context, server, tool string, args json.RawMessage, version string) (*mcp.CallToolResult, error) {
	rt := &refusalCatcher{next: http.DefaultTransport, c: c}
	transport := &mcp.StreamableClientTransport{
		Endpoint:   c.base + "/mcp/server/" + url.PathEscape(server),
		HTTPClient: &http.Client{Transport: rt},
		// One request and its answer: no need for the server's own stream.
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}
	mc := mcp.NewClient(&mcp.Implementation{Name: ClientName, Version: version}, nil)
	cs, err := mc.Connect(ctx, transport, nil)
	if err != nil {
		return nil, rt.explain(ctx, fmt.Errorf("connect to %s/mcp/server/%s: %w", c.base, server, err))
	}
	defer cs.Close()
	params := &mcp.CallToolParams{Name: tool}
	if len(args) > 0 {
		params.Arguments = args
	}
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		return nil, rt.explain(ctx, fmt.Errorf("call %s:%s: %w", server, tool, err))
	}
	return res, nil
}

// refusalCatcher adds the API key to each MCP request and remembers the
// first error envelope the daemon answers with (its pass-through refuses
// with one before any MCP exchange), so that the caller sees the daemon's
// reason rather than the SDK's account of an unexpected status.
type refusalCatcher struct {
	next http.RoundTripper
	c    *Client

	mu      sync.Mutex
	refusal error // guarded by mu
	refused error // a transport error; guarded by mu
}

func (r *refusalCatcher) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	r.c.setHeaders(req.Header)
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		r.remember(nil, r.c.transportError(err))
		return nil, err
	}
	if resp.StatusCode < 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return resp, nil
	}
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	var env envelope
	if rerr == nil && json.Unmarshal(data, &env) == nil && !env.Success && env.Error != nil {
		r.remember(&mcpproxy.Error{Code: env.Error.Code, Message: env.Error.Message}, nil)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

func (r *refusalCatcher) remember(refusal, transport error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if refusal != nil && r.refusal == nil {
		r.refusal = refusal
	}
	if transport != nil && r.refused == nil {
		r.refused = transport
	}
}

// explain replaces err by the daemon's refusal or a NoDaemonError when
// either happened, and by the context's error when it ended.
func (r *refusalCatcher) explain(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refusal != nil {
		return r.refusal
	}
	var nd *NoDaemonError
	if errors.As(r.refused, &nd) {
		return nd
	}
	return err
}
