package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// scopedServer is an MCP server that lets initialize through without a
// token, answers other requests without one 401 (scope "read"), and wants
// a token with scope "write" for tools/call (else 403 insufficient_scope).
// Tokens are their scope, space-separated: "read" or "read write".
// With never set, every token gets a 403.
func scopedServer(tb testing.TB, never bool) string {
	tb.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "scoped", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "write_it", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "written"}}}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
		}
		json.Unmarshal(body, &msg)
		tok, hasTok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// need is the scope the request wants; ask is what a 403 asks for.
		need, ask := "read", "read"
		if msg.Method == "tools/call" {
			need, ask = "write", "read write"
		}
		switch {
		case msg.Method == "initialize" || strings.HasPrefix(msg.Method, "notifications/") || r.Method != http.MethodPost:
		case !hasTok:
			w.Header().Set("WWW-Authenticate", `Bearer scope="read"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		case never || !strings.Contains(tok, need):
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, ask))
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	}))
	tb.Cleanup(ts.Close)
	return ts.URL + "/mcp"
}

// challenger issues a token carrying the scope each challenge asks for.
type challenger struct {
	mu         sync.Mutex
	token      string   // guarded by mu
	challenges []string // guarded by mu: "status scope" of each challenge
}

func (c *challenger) AccessToken(*mcpproxy.ServerSpec) (string, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token, time.Time{}
}

func (c *challenger) Refresh(context.Context, *mcpproxy.ServerSpec, string) error {
	return mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "no refresh")
}

func (c *challenger) Challenge(_ context.Context, _ *mcpproxy.ServerSpec, _ string, status int, www []string) error {
	scope := ""
	if _, rest, ok := strings.Cut(strings.Join(www, ","), `scope="`); ok {
		scope, _, _ = strings.Cut(rest, `"`)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.challenges = append(c.challenges, fmt.Sprintf("%d %s", status, scope))
	c.token = scope
	return nil
}

func (c *challenger) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.challenges...)
}

func TestConnect_StepUp(t *testing.T) {
	checkLeaks(t)
	url := scopedServer(t, false)
	ch := &challenger{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := upstream.Connect(ctx, mcpproxy.ServerSpec{Name: "scoped", URL: url, Protocol: mcpproxy.ProtocolStreamableHTTP},
		upstream.ConnectOptions{Auth: ch})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Tools()) != 1 {
		t.Errorf("tools %+v", c.Tools())
	}
	res, err := c.Session().CallTool(ctx, &mcp.CallToolParams{Name: "write_it", Arguments: map[string]any{}})
	if err != nil {
		t.Fatalf("call after step-up: %v", err)
	}
	if res.IsError || len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "written" {
		t.Errorf("result %+v", res)
	}
	want := []string{"401 read", "403 read write"}
	if got := ch.seen(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("challenges %q; want %q", got, want)
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err after a successful step-up: %v", err)
	}
}

func TestConnect_StepUpLimit(t *testing.T) {
	checkLeaks(t)
	url := scopedServer(t, true)
	ch := &challenger{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := upstream.Connect(ctx, mcpproxy.ServerSpec{Name: "scoped", URL: url, Protocol: mcpproxy.ProtocolStreamableHTTP},
		upstream.ConnectOptions{Auth: ch})
	var na *upstream.NeedsAuthError
	if !errors.As(err, &na) || !strings.Contains(na.Reason, "after 2 logins") {
		t.Fatalf("err %v; want a NeedsAuthError after 2 logins", err)
	}
	// The 401 and one 403 were answered; the second 403 was not.
	if got := ch.seen(); len(got) != 2 {
		t.Errorf("challenges %q; want 2", got)
	}
}

func TestConnect_InsufficientScopeRecorded(t *testing.T) {
	checkLeaks(t)
	url := scopedServer(t, false)
	auth := &fixedToken{token: "read"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := upstream.Connect(ctx, mcpproxy.ServerSpec{Name: "scoped", URL: url, Protocol: mcpproxy.ProtocolStreamableHTTP},
		upstream.ConnectOptions{Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The daemon's authorizer cannot log in by itself: the call fails and
	// the token stays as it was.
	if _, err := c.Session().CallTool(ctx, &mcp.CallToolParams{Name: "write_it", Arguments: map[string]any{}}); err == nil {
		t.Fatal("call with a read token succeeded")
	}
	auth.mu.Lock()
	defer auth.mu.Unlock()
	if auth.refreshes != 0 {
		t.Errorf("refreshed %d times on a 403", auth.refreshes)
	}
	// It learned what to ask for at the next login.
	if len(auth.needed) != 1 || !strings.Contains(auth.needed[0], `insufficient_scope", scope="read write"`) {
		t.Errorf("NeedScope calls %q; want one with the challenge", auth.needed)
	}
}

// fixedToken is an Authorizer with one token and no way to get another;
// it records what NeedScope learns.
type fixedToken struct {
	token string

	mu        sync.Mutex
	refreshes int      // guarded by mu
	needed    []string // guarded by mu: the WWW-Authenticate values passed to NeedScope
}

func (f *fixedToken) AccessToken(*mcpproxy.ServerSpec) (string, time.Time) {
	return f.token, time.Time{}
}

func (f *fixedToken) Refresh(context.Context, *mcpproxy.ServerSpec, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshes++
	return mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "no refresh")
}

func (f *fixedToken) NeedScope(_ *mcpproxy.ServerSpec, www []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.needed = append(f.needed, strings.Join(www, ", "))
}
