package mcpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/token"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// gammaUpstream is an upstream with one read-only tool (peek) and one
// that is not (poke).
func gammaUpstream(tb testing.TB) map[string]any {
	tb.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "gamma", Version: "1"}, nil)
	text := func(t string) mcp.ToolHandler {
		return func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: t}}}, nil
		}
	}
	obj := json.RawMessage(`{"type":"object"}`)
	s.AddTool(&mcp.Tool{Name: "peek", Description: "Peek at the gamma counter.", InputSchema: obj,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, text("peeked"))
	s.AddTool(&mcp.Tool{Name: "poke", Description: "Poke the gamma counter.", InputSchema: obj}, text("poked"))
	return map[string]any{"name": "gamma", "url": customUpstream(tb, s), "protocol": "streamable-http"}
}

// tokenProxy runs a proxy with agent tokens and the upstreams alpha and
// beta (testupstream) and gamma (gammaUpstream).
func tokenProxy(t *testing.T, top map[string]any) *proxy {
	t.Helper()
	p := newProxy(t, proxyOptions{Tokens: true, Activity: true, Top: top, Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{}, nil),
		streamable(t, "beta", testupstream.Options{}, nil),
		gammaUpstream(t),
	}})
	p.waitCatalog(t, "alpha", "beta", "gamma")
	return p
}

func (p *proxy) newToken(tb testing.TB, spec token.Spec) string {
	tb.Helper()
	c, err := p.tokens.Create(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return c.Secret
}

func bearer(secret string) http.Header { return http.Header{"Authorization": {"Bearer " + secret}} }

func TestToken_Scope(t *testing.T) {
	p := tokenProxy(t, nil)
	secret := p.newToken(t, token.Spec{Name: "alpha-bot", Servers: []string{"alpha"}})

	// Unscoped, the search finds both testupstream servers.
	if got := retrieve(t, p.connect(t, "/mcp", clientOptions{}), "echo message", 20).servers(); !slices.Equal(got, []string{"alpha", "beta"}) {
		t.Fatalf("keyless retrieve_tools servers = %v, want alpha and beta", got)
	}

	for _, tc := range []struct {
		name string
		o    clientOptions
	}{
		{"Bearer", clientOptions{header: bearer(secret)}},
		{"XAPIKey", clientOptions{header: http.Header{"X-Api-Key": {secret}}}},
		{"SSE", clientOptions{header: bearer(secret), sse: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/mcp"
			if tc.o.sse {
				path = "/sse"
			}
			cs := p.connect(t, path, tc.o)
			if names := toolNames(t, cs); slices.Contains(names, "upstream_servers") {
				t.Errorf("tools = %v: a token without manage sees upstream_servers", names)
			}
			if got := retrieve(t, cs, "echo message", 20).servers(); !slices.Equal(got, []string{"alpha"}) {
				t.Errorf("retrieve_tools servers = %v, want only alpha", got)
			}
			served := p.srv.fastSmart.served.Load()
			wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "hi"}}), "hi")
			if !tc.o.sse && p.srv.fastSmart.served.Load() == served {
				t.Error("a token's plain call_tool was not answered by the fast path")
			}
			wantError(t, call(t, cs, "call_tool", map[string]any{"name": "beta:echo", "args": map[string]any{"message": "hi"}}),
				`agent token "alpha-bot" may not use server "beta"`)
			// An unknown server reads the same as a forbidden one.
			wantError(t, call(t, cs, "call_tool", map[string]any{"name": "nosuch:echo"}), `may not use server "nosuch"`)
			wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "list"}), "may not use upstream_servers")
			wantError(t, call(t, cs, "quarantine_security", map[string]any{"operation": "inspect", "name": "beta"}), `may not use server "beta"`)
		})
	}

	t.Run("Direct", func(t *testing.T) {
		cs := p.connect(t, "/mcp/all", clientOptions{header: bearer(secret)})
		names := toolNames(t, cs)
		if len(names) == 0 {
			t.Fatal("no direct tools")
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "alpha__") {
				t.Errorf("direct tools = %v: %s is not alpha's", names, n)
			}
		}
		wantOK(t, call(t, cs, "alpha__echo", map[string]any{"message": "d"}), "d")
		wantError(t, call(t, cs, "beta__echo", map[string]any{"message": "d"}), `may not use server "beta"`)
	})

	t.Run("Passthrough", func(t *testing.T) {
		cs := p.connect(t, "/mcp/server/alpha", clientOptions{header: bearer(secret)})
		wantOK(t, call(t, cs, "echo", map[string]any{"message": "p"}), "p")
		code, body := rawPost(t, p.URL+"/mcp/server/beta", "", bearer(secret), initializeBody)
		if code != http.StatusForbidden || !strings.Contains(body, `may not use server \"beta\"`) {
			t.Errorf("pass-through to beta: %d %s, want 403", code, body)
		}
	})

	t.Run("ActivityNamesToken", func(t *testing.T) {
		r := waitRecord(t, p.act, "the direct call", func(r *activity.Record) bool {
			return r.Endpoint == "/mcp/all" && r.Server == "alpha" && r.Status == activity.StatusOK
		})
		if r.Client.Token != "alpha-bot" {
			t.Errorf("record client = %+v, want token alpha-bot", r.Client)
		}
		r = waitRecord(t, p.act, "the refused direct call", func(r *activity.Record) bool {
			return r.Endpoint == "/mcp/all" && r.Server == "beta"
		})
		if r.Client.Token != "alpha-bot" || r.Status != activity.StatusBlocked {
			t.Errorf("refused record = %+v, want blocked, token alpha-bot", r)
		}
	})
}

func TestToken_ReadOnly(t *testing.T) {
	p := tokenProxy(t, nil)
	secret := p.newToken(t, token.Spec{Name: "ro", Servers: []string{"gamma", "alpha"}, ReadOnly: true, Manage: true})
	cs := p.connect(t, "/mcp", clientOptions{header: bearer(secret)})
	var ids []string
	for _, f := range retrieve(t, cs, "gamma counter echo", 50).Tools {
		ids = append(ids, f.ID)
	}
	if !slices.Equal(ids, []string{"gamma:peek"}) {
		t.Errorf("retrieve_tools = %v, want only the read-only gamma:peek", ids)
	}
	wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "gamma:peek"}), "peeked")
	wantError(t, call(t, cs, "call_tool", map[string]any{"name": "gamma:poke"}), "read-only", "gamma:poke")
	wantError(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "x"}}), "read-only")
	// Management is allowed, but read-only: list only.
	res := call(t, cs, "upstream_servers", map[string]any{"operation": "list"})
	if res.IsError || !strings.Contains(textOf(res), `"gamma"`) || strings.Contains(textOf(res), `"beta"`) {
		t.Errorf("list = %s, want gamma and alpha, not beta", textOf(res))
	}
	wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "restart", "name": "gamma"}), "read-only")

	direct := p.connect(t, "/mcp/all", clientOptions{header: bearer(secret)})
	if names := toolNames(t, direct); !slices.Equal(names, []string{"gamma__peek"}) {
		t.Errorf("direct tools = %v, want gamma__peek", names)
	}
	pass := p.connect(t, "/mcp/server/gamma", clientOptions{header: bearer(secret)})
	if names := toolNames(t, pass); !slices.Equal(names, []string{"peek"}) {
		t.Errorf("pass-through tools = %v, want peek", names)
	}
	wantError(t, call(t, pass, "poke", nil), "read-only")
}

func TestToken_Manage(t *testing.T) {
	p := tokenProxy(t, nil)
	secret := p.newToken(t, token.Spec{Name: "ops", Servers: []string{"alpha"}, Manage: true})
	cs := p.connect(t, "/mcp", clientOptions{header: bearer(secret)})
	if names := toolNames(t, cs); !slices.Contains(names, "upstream_servers") {
		t.Errorf("tools = %v: a token with manage sees upstream_servers", names)
	}
	res := call(t, cs, "upstream_servers", map[string]any{"operation": "list"})
	var list struct {
		Servers []struct {
			Name string `json:"name"`
		} `json:"servers"`
	}
	if err := json.Unmarshal([]byte(textOf(res)), &list); err != nil || len(list.Servers) != 1 || list.Servers[0].Name != "alpha" {
		t.Errorf("list = %s, want alpha alone", textOf(res))
	}
	wantOK(t, call(t, cs, "upstream_servers", map[string]any{"operation": "restart", "name": "alpha"}), `{"restarting":true,"server":"alpha"}`)
	wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "disable", "name": "beta"}), `may not use server "beta"`)
	wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "add", "name": "delta", "command": "true"}), `may not use server "delta"`)
	if p.view.Load().Get("delta") != nil || !p.view.Load().Get("beta").Enabled {
		t.Error("a refused operation changed something")
	}
}

// TestToken_Unauthorized: a revoked, expired, unknown or wrong credential
// is refused with 401 on every MCP endpoint, also on loopback where no
// credential at all is let in; and a session stops working once its token
// is revoked.
func TestToken_Unauthorized(t *testing.T) {
	p := tokenProxy(t, nil)
	revoked := p.newToken(t, token.Spec{Name: "gone", Servers: []string{"*"}})
	cs := p.connect(t, "/mcp", clientOptions{header: bearer(revoked)})
	wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "before"}}), "before")
	if err := p.tokens.Revoke("gone"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "after"}}}); err == nil {
		t.Error("a session of a revoked token can still call")
	}
	for _, tc := range []struct {
		name string
		hdr  http.Header
		want string
	}{
		{"Revoked", bearer(revoked), "unknown or revoked"},
		{"Unknown", bearer(token.Prefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "unknown or revoked"},
		{"WrongKey", http.Header{"X-Api-Key": {"wrong"}}, "wrong API key or agent token"},
		{"WrongBearer", bearer("nope"), "wrong API key or agent token"},
	} {
		for _, path := range []string{"/mcp", "/mcp/all", "/sse", "/mcp/server/alpha"} {
			code, body := rawPost(t, p.URL+path, "", tc.hdr, initializeBody)
			if code != http.StatusUnauthorized || !strings.Contains(body, tc.want) {
				t.Errorf("%s on %s: %d %s, want 401 saying %q", tc.name, path, code, body, tc.want)
			}
		}
	}
}

func TestToken_Expired(t *testing.T) {
	var later atomic.Bool
	p := newProxy(t, proxyOptions{Tokens: true, TokenNow: func() time.Time {
		if later.Load() {
			return time.Now().Add(2 * time.Minute)
		}
		return time.Now()
	}})
	c, err := p.tokens.Create(token.Spec{Name: "brief", Servers: []string{"*"}, Expires: "1m"})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := rawPost(t, p.URL+"/mcp/all", "", bearer(c.Secret), `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if code == http.StatusUnauthorized {
		t.Fatalf("fresh token refused")
	}
	later.Store(true)
	for _, path := range []string{"/mcp", "/mcp/all", "/sse", "/mcp/server/alpha"} {
		code, body := rawPost(t, p.URL+path, "", bearer(c.Secret), initializeBody)
		if code != http.StatusUnauthorized || !strings.Contains(body, `agent token \"brief\" expired`) {
			t.Errorf("expired token on %s: %d %s, want 401 saying it expired", path, code, body)
		}
	}
}

// TestToken_RequireMCPAuth: with require_mcp_auth a keyless client gets
// 401 on loopback; a token still gets in.
func TestToken_RequireMCPAuth(t *testing.T) {
	p := tokenProxy(t, map[string]any{"require_mcp_auth": true})
	code, body := rawPost(t, p.URL+"/mcp", "", nil, initializeBody)
	if code != http.StatusUnauthorized || !strings.Contains(body, "agent token") {
		t.Errorf("keyless: %d %s, want 401 naming the API key or an agent token", code, body)
	}
	secret := p.newToken(t, token.Spec{Name: "in", Servers: []string{"alpha"}})
	cs := p.connect(t, "/mcp", clientOptions{header: bearer(secret)})
	wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "ok"}}), "ok")
}

// TestToken_SessionBound: a session created with a token cannot be used
// with another credential (the API key, another token, none), so a token
// cannot widen its scope with a session id it learned.
func TestToken_SessionBound(t *testing.T) {
	p := tokenProxy(t, nil)
	a := p.newToken(t, token.Spec{Name: "a", Servers: []string{"alpha"}})
	b := p.newToken(t, token.Spec{Name: "b", Servers: []string{"*"}})
	var sid string
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+a)
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil && resp.Header.Get("Mcp-Session-Id") != "" {
			sid = resp.Header.Get("Mcp-Session-Id")
		}
		return resp, err
	})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "bound", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: p.URL + "/mcp", HTTPClient: hc, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if sid == "" {
		t.Fatal("no session id")
	}
	callBeta := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"call_tool","arguments":{"name":"beta:echo","args":{"message":"stolen"}}}}`
	for name, hdr := range map[string]http.Header{
		"APIKey":     {"X-Api-Key": {testAPIKey}},
		"OtherToken": bearer(b),
		"Keyless":    {},
	} {
		hdr.Set("Mcp-Session-Id", sid)
		hdr.Set("Mcp-Protocol-Version", cs.InitializeResult().ProtocolVersion)
		code, body := rawPost(t, p.URL+"/mcp", "", hdr, callBeta)
		if code != http.StatusForbidden || strings.Contains(body, "stolen") {
			t.Errorf("%s on token a's session: %d %s, want 403", name, code, body)
		}
	}
}

// TestToken_SSESessionBound: the same for a legacy SSE session, whose
// messages are POSTs naming the session in the query.
func TestToken_SSESessionBound(t *testing.T) {
	p := tokenProxy(t, nil)
	a := p.newToken(t, token.Spec{Name: "a", Servers: []string{"alpha"}})
	var mu sync.Mutex
	var sid string
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+a)
		if id := r.URL.Query().Get("sessionid"); id != "" {
			mu.Lock()
			sid = id
			mu.Unlock()
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "bound", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: p.URL + "/sse", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "own"}}), "own")
	mu.Lock()
	id := sid
	mu.Unlock()
	if id == "" {
		t.Fatal("no session id")
	}
	callBeta := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"call_tool","arguments":{"name":"beta:echo","args":{"message":"stolen"}}}}`
	for name, hdr := range map[string]http.Header{
		"APIKey":  {"X-Api-Key": {testAPIKey}},
		"Keyless": {},
	} {
		code, body := rawPost(t, p.URL+"/sse?sessionid="+id, "", hdr, callBeta)
		if code != http.StatusForbidden || !strings.Contains(body, "another credential") {
			t.Errorf("%s on token a's SSE session: %d %s, want 403", name, code, body)
		}
	}
	// Its own client still gets through.
	wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "still"}}), "still")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
