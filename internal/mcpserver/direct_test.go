package mcpserver

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// badSchemaUpstream lists a tool whose input schema is not an object schema.
// The SDK refuses to AddTool such a schema, so tools/list is answered by a
// middleware; its calls are answered too.
func badSchemaUpstream(tb testing.TB) string {
	tb.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "badschema"}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
	})
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			switch method {
			case "tools/list":
				return &mcp.ListToolsResult{Tools: []*mcp.Tool{
					{Name: "stringy", Description: "Takes a bare string.", InputSchema: json.RawMessage(`{"type":"string"}`)},
					{Name: "noschema", Description: "Has no schema at all."},
					{Name: "arrayish", Description: "Takes an array.", InputSchema: json.RawMessage(`{"type":"array","items":{"type":"number"}}`)},
				}}, nil
			case "tools/call":
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "bad but working"}}}, nil
			}
			return next(ctx, method, req)
		}
	})
	return customUpstream(tb, s)
}

func TestDirect(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{}, nil),
		stdio("beta", testupstream.ModeOK),
		{"name": "bad", "url": badSchemaUpstream(t), "protocol": "streamable-http"},
		streamable(t, "quar", testupstream.Options{}, map[string]any{"quarantined": true}),
		streamable(t, "off", testupstream.Options{}, map[string]any{"enabled": false}),
	}})
	p.waitCatalog(t, "alpha", "beta", "bad")
	p.waitQuarantined(t, "quar", true)

	var listChanged atomic.Int64
	cs := p.connect(t, "/mcp/all", clientOptions{mcp: &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { listChanged.Add(1) },
	}})
	listTools := func(t *testing.T) map[string]*mcp.Tool {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatalf("tools/list: %v", err)
		}
		out := map[string]*mcp.Tool{}
		for _, tl := range res.Tools {
			out[tl.Name] = tl
		}
		return out
	}

	t.Run("List", func(t *testing.T) {
		tools := listTools(t)
		var servers []string
		for name := range tools {
			server, _, ok := strings.Cut(name, "__")
			if !ok {
				t.Errorf("tool %q is not named server__tool", name)
			}
			if !slices.Contains(servers, server) {
				servers = append(servers, server)
			}
		}
		slices.Sort(servers)
		if !slices.Equal(servers, []string{"alpha", "bad", "beta"}) {
			t.Errorf("servers listed = %v, want [alpha bad beta]", servers)
		}
		for _, srv := range []string{"alpha", "beta"} {
			for _, tool := range []string{"echo", "add", "sleep", "fail", "add_tool", "remove_tool"} {
				if tools[srv+"__"+tool] == nil {
					t.Errorf("%s__%s missing", srv, tool)
				}
			}
		}
		echo := tools["alpha__echo"]
		if echo == nil {
			t.Fatal("alpha__echo missing")
		}
		if echo.Description != "Returns the message unchanged." {
			t.Errorf("alpha__echo description = %q", echo.Description)
		}
		schema, _ := json.Marshal(echo.InputSchema)
		var m struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(schema, &m); err != nil || m.Type != "object" || m.Properties["message"] == nil {
			t.Errorf("alpha__echo input schema = %s, want the upstream's (with message)", schema)
		}
		if _, ok := tools[placeholderTool.Name]; ok {
			t.Errorf("the placeholder tool is listed")
		}
	})

	t.Run("BadSchema", func(t *testing.T) {
		tools := listTools(t)
		for _, name := range []string{"bad__stringy", "bad__noschema", "bad__arrayish"} {
			tl := tools[name]
			if tl == nil {
				t.Errorf("%s missing", name)
				continue
			}
			schema, _ := json.Marshal(tl.InputSchema)
			var m map[string]any
			if json.Unmarshal(schema, &m) != nil || m["type"] != "object" {
				t.Errorf("%s is listed with input schema %s, want an object schema", name, schema)
			}
		}
		wantOK(t, call(t, cs, "bad__stringy", map[string]any{}), "bad but working")
	})

	t.Run("Call", func(t *testing.T) {
		wantOK(t, call(t, cs, "alpha__echo", map[string]any{"message": "direct"}), "direct")
		wantError(t, call(t, cs, "alpha__echo", []string{"not", "an", "object"}), "arguments", "JSON object")
		wantOK(t, call(t, cs, "beta__add", map[string]any{"a": 40, "b": 2}), "42")
		if res := call(t, cs, "alpha__fail", nil); textOf(res) != "boom" || !res.IsError {
			t.Errorf("alpha__fail without arguments: %q", textOf(res))
		}
	})

	t.Run("CallErrors", func(t *testing.T) {
		wantError(t, call(t, cs, "nosuchtool", nil), "unknown tool", "server__tool")
		wantError(t, call(t, cs, "alpah__echo", nil), "unknown server", `did you mean "alpha"`)
		wantError(t, call(t, cs, "alpha__ecoh", nil), "unknown tool", `did you mean "alpha__echo"`)
		wantError(t, call(t, cs, "quar__echo", nil), "quarantined")
		wantError(t, call(t, cs, "off__echo", nil), "disabled")
	})

	t.Run("ListChanged", func(t *testing.T) {
		before := listChanged.Load()
		wantOK(t, call(t, cs, "alpha__add_tool", map[string]any{"name": "brand_new"}), "added brand_new")
		waitFor(t, 10*time.Second, func() bool { return listChanged.Load() > before }, "notifications/tools/list_changed")
		waitFor(t, 10*time.Second, func() bool { return listTools(t)["alpha__brand_new"] != nil }, "alpha__brand_new in tools/list")
		wantOK(t, call(t, cs, "alpha__brand_new", map[string]any{"x": 1}), `{"x":1}`)

		// Removing it is announced too, and it goes.
		before = listChanged.Load()
		wantOK(t, call(t, cs, "alpha__remove_tool", map[string]any{"name": "brand_new"}), "removed brand_new")
		waitFor(t, 10*time.Second, func() bool { return listChanged.Load() > before }, "notifications/tools/list_changed after remove")
		waitFor(t, 10*time.Second, func() bool { return listTools(t)["alpha__brand_new"] == nil }, "alpha__brand_new to leave tools/list")
		wantError(t, call(t, cs, "alpha__brand_new", nil), "unknown tool")
	})

	t.Run("ServerGoes", func(t *testing.T) {
		before := listChanged.Load()
		if err := p.sup.SetEnabled(context.Background(), "beta", false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool { return listTools(t)["beta__echo"] == nil }, "beta's tools to leave tools/list")
		waitFor(t, 10*time.Second, func() bool { return listChanged.Load() > before }, "notifications/tools/list_changed after disable")
		p.waitState(t, "beta", mcpproxy.StateDisabled)
		wantError(t, call(t, cs, "beta__echo", map[string]any{"message": "x"}), "disabled")
	})
}

// TestDirect_Empty: with no servers the direct endpoint lists no tools
// (an empty list, not an error).
func TestDirect_Empty(t *testing.T) {
	p := newProxy(t, proxyOptions{})
	cs := p.connect(t, "/mcp/all", clientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != 0 {
		t.Errorf("tools = %v, want none", res.Tools)
	}
}

// TestPassthrough: /mcp/server/{name} shows one upstream unchanged.
func TestPassthrough(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{Name: "alpha-impl"}, nil),
		streamable(t, "quar", testupstream.Options{}, map[string]any{"quarantined": true}),
		{"name": "broken", "command": "/nonexistent/mcpproxy-test-command"},
	}})
	p.waitCatalog(t, "alpha")
	p.waitState(t, "broken", mcpproxy.StateError)
	p.waitQuarantined(t, "quar", true)

	cs := p.connect(t, "/mcp/server/alpha", clientOptions{})
	if info := cs.InitializeResult().ServerInfo; info == nil || info.Name != "alpha-impl" {
		t.Errorf("server info = %+v, want the upstream's", info)
	}
	want := []string{"add", "add_tool", "echo", "fail", "remove_tool", "sleep"}
	if got := toolNames(t, cs); !slices.Equal(got, want) {
		t.Errorf("tools = %v, want %v", got, want)
	}
	wantOK(t, call(t, cs, "echo", map[string]any{"message": "through"}), "through")
	// Requests of an existing session must not each build a server.
	for range 20 {
		toolNames(t, cs)
	}
	p.srv.mu.Lock()
	n := len(p.srv.servers)
	p.srv.mu.Unlock()
	if n != 1 {
		t.Errorf("%d pass-through servers tracked for one session, want 1", n)
	}

	for _, tc := range []struct {
		name string
		code int
	}{{"ghost", 404}, {"quar", 403}, {"broken", 503}} {
		code, body := rawPost(t, p.URL+"/mcp/server/"+tc.name, "", nil, initializeBody)
		if code != tc.code || !strings.Contains(body, tc.name) {
			t.Errorf("/mcp/server/%s: %d %s, want %d naming the server", tc.name, code, body, tc.code)
		}
	}
	if code, body := rawPost(t, p.URL+"/mcp/server/alpha", "evil.example.com", nil, initializeBody); code != 403 {
		t.Errorf("/mcp/server/alpha with a foreign Host: %d %s, want 403", code, body)
	}
}

// TestPassthrough_CloseAfterQuarantine: a client that closes its
// pass-through session after the server was quarantined ends the session
// in the proxy too; it must not linger until the session timeout.
func TestPassthrough_CloseAfterQuarantine(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		streamable(t, "late", testupstream.Options{}, nil),
	}})
	p.waitCatalog(t, "late")
	pass := p.connect(t, "/mcp/server/late", clientOptions{})
	wantOK(t, call(t, pass, "echo", map[string]any{"message": "before"}), "before")
	if err := p.sup.Quarantine(context.Background(), "late"); err != nil {
		t.Fatal(err)
	}
	p.waitQuarantined(t, "late", false)
	if err := pass.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		p.srv.mu.Lock()
		defer p.srv.mu.Unlock()
		return len(p.srv.servers) == 0
	}, "the proxy to end the closed pass-through session")
}

// /mcp/all keeps each tool's output schema and passes structured results
// through; a large result there is truncated with the same limit as on
// /mcp, and read_cache, listed on /mcp/all too, reads the rest. A cut
// result of a tool with an output schema cannot match it, so it comes as
// an error result that says so.
func TestDirect_LargeResultsAndOutputSchema(t *testing.T) {
	const limit = 100
	notes := streamable(t, "notes", testupstream.Options{Annotated: true}, nil)
	p := newProxy(t, proxyOptions{Store: true, Top: map[string]any{"tool_response_limit": limit},
		Servers: []map[string]any{notes, stdio("alpha", testupstream.ModeOK)}})
	p.waitCatalog(t, "notes", "alpha")
	for _, fast := range []bool{true, false} {
		cs := p.connect(t, "/mcp/all", clientOptions{protocol: fastProtocol})
		waitFast(t, p.srv.fastDirect, cs)
		p.srv.fastDirect.off.Store(!fast)
		lt, err := cs.ListTools(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]*mcp.Tool{}
		for _, tool := range lt.Tools {
			byName[tool.Name] = tool
		}
		if byName["read_cache"] == nil {
			t.Fatalf("/mcp/all lists no read_cache")
		}
		dump := byName["notes__notes_dump"]
		if dump == nil || dump.OutputSchema == nil {
			t.Fatalf("notes__notes_dump without its output schema: %+v", dump)
		}
		if schema, _ := json.Marshal(dump.OutputSchema); !strings.Contains(string(schema), `"text"`) {
			t.Errorf("output schema %s", schema)
		}
		if byName["alpha__echo"].OutputSchema != nil {
			t.Errorf("alpha__echo got an output schema: %v", byName["alpha__echo"].OutputSchema)
		}

		small := call(t, cs, "notes__notes_dump", map[string]any{"size": 5})
		if sc, _ := json.Marshal(small.StructuredContent); small.IsError || string(sc) != `{"text":"nnnnn"}` {
			t.Errorf("small structured result: isError %v, structuredContent %s", small.IsError, sc)
		}

		served := p.srv.fastDirect.served.Load()
		big := call(t, cs, "notes__notes_dump", map[string]any{"size": 500})
		text := wantError(t, big, "truncated to 100 of 511 characters", "output schema", "the call itself succeeded")
		if big.StructuredContent != nil {
			t.Errorf("a truncated result kept structuredContent")
		}
		whole := readAll(t, cs, text)
		if whole != `{"text":"`+strings.Repeat("n", 500)+`"}` {
			t.Errorf("read_cache on /mcp/all: %.80q… (%d characters)", whole, len(whole))
		}

		// Without an output schema a truncated result is a success.
		long := strings.Repeat("e", 300)
		res := call(t, cs, "alpha__echo", map[string]any{"message": long})
		if res.IsError || !strings.Contains(textOf(res), "truncated to 100 of 300 characters") {
			t.Fatalf("echo: isError %v: %s", res.IsError, textOf(res))
		}
		if got := readAll(t, cs, textOf(res)); got != long {
			t.Errorf("read_cache gave %d characters, want 300", len(got))
		}
		if got := p.srv.fastDirect.served.Load() - served; fast && got == 0 || !fast && got != 0 {
			t.Errorf("fast=%v: %d calls answered in front of the SDK", fast, got)
		}
	}
	p.srv.fastDirect.off.Store(false)
}

// readAll reads a truncated result's whole text with read_cache on cs.
func readAll(t *testing.T, cs *mcp.ClientSession, truncated string) string {
	t.Helper()
	m := cacheKeyRE.FindStringSubmatch(truncated)
	if m == nil {
		t.Fatalf("no cache key in %q", truncated)
	}
	r := call(t, cs, "read_cache", map[string]any{"key": m[1], "limit": 100000})
	if r.IsError {
		t.Fatalf("read_cache: %s", textOf(r))
	}
	var page struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal([]byte(textOf(r)), &page); err != nil {
		t.Fatalf("read_cache: %v: %s", err, textOf(r))
	}
	return page.Text
}
