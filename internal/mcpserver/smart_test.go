package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// smartTools are the built-in tools of /mcp and /sse.
var smartTools = []string{"call_tool", "call_tool_destructive", "call_tool_read", "call_tool_write", "describe_tool", "quarantine_security", "read_cache", "retrieve_tools", "tools_stat", "upstream_servers"}

func toolNames(tb testing.TB, cs *mcp.ClientSession) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		tb.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return names
}

func TestSmart_ListTools(t *testing.T) {
	p := newProxy(t, proxyOptions{})
	cs := p.connect(t, "/mcp", clientOptions{})

	want := smartTools
	if got := toolNames(t, cs); !slices.Equal(got, want) {
		t.Errorf("tools = %v, want %v", got, want)
	}
	init := cs.InitializeResult()
	if init == nil || init.Instructions == "" {
		t.Fatalf("initialize returned no instructions: %+v", init)
	}
	if !strings.Contains(init.Instructions, "retrieve_tools") {
		t.Errorf("instructions do not mention retrieve_tools: %q", init.Instructions)
	}
	if init.Capabilities == nil || init.Capabilities.Tools == nil || !init.Capabilities.Tools.ListChanged {
		t.Errorf("capabilities = %+v, want tools with listChanged", init.Capabilities)
	}
}

func TestRetrieveTools(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{}, nil),
		stdio("beta", testupstream.ModeOK),
		streamable(t, "quar", testupstream.Options{}, map[string]any{"quarantined": true}),
		streamable(t, "off", testupstream.Options{}, map[string]any{"enabled": false}),
	}})
	p.waitCatalog(t, "alpha", "beta")
	p.waitQuarantined(t, "quar", true)
	p.waitState(t, "off", mcpproxy.StateDisabled)
	cs := p.connect(t, "/mcp", clientOptions{})

	t.Run("Echo", func(t *testing.T) {
		r := retrieve(t, cs, "echo message", 0)
		if len(r.Tools) == 0 {
			t.Fatalf("no results: %+v", r)
		}
		first := r.Tools[0]
		if first.ID != "alpha:echo" && first.ID != "beta:echo" {
			t.Errorf("first result %s, want <server>:echo; all: %v", first.ID, r.Tools)
		}
		if first.ID != first.Server+":"+first.Name {
			t.Errorf("id %q, server %q, name %q disagree", first.ID, first.Server, first.Name)
		}
		var schema map[string]any
		if err := json.Unmarshal(first.InputSchema, &schema); err != nil || schema["type"] != "object" {
			t.Errorf("input_schema = %s, want an object schema", first.InputSchema)
		}
		if first.Score <= 0 {
			t.Errorf("score = %v, want > 0", first.Score)
		}
		if r.Total != len(r.Tools) {
			t.Errorf("total = %d, len(tools) = %d", r.Total, len(r.Tools))
		}
	})
	t.Run("RawJSON", func(t *testing.T) {
		// The wire format has snake_case keys an agent can rely on.
		res := call(t, cs, "retrieve_tools", map[string]any{"query": "echo message", "limit": 1})
		var raw struct {
			Tools []map[string]json.RawMessage `json:"tools"`
		}
		if err := json.Unmarshal([]byte(textOf(res)), &raw); err != nil || len(raw.Tools) != 1 {
			t.Fatalf("result %s: %v", textOf(res), err)
		}
		for _, k := range []string{"id", "server", "name", "description", "input_schema", "score"} {
			if _, ok := raw.Tools[0][k]; !ok {
				t.Errorf("result lacks %q: %s", k, textOf(res))
			}
		}
	})
	t.Run("Limit", func(t *testing.T) {
		for _, limit := range []int{1, 2, 3} {
			if r := retrieve(t, cs, "echo add sleep fail tool message", limit); len(r.Tools) != limit {
				t.Errorf("limit %d: got %d tools", limit, len(r.Tools))
			}
		}
		if r := retrieve(t, cs, "echo add sleep fail tool message", 0); len(r.Tools) == 0 || len(r.Tools) > 15 {
			t.Errorf("default limit: got %d tools, want 1..15 (tools_limit)", len(r.Tools))
		}
	})
	t.Run("BadArguments", func(t *testing.T) {
		wantError(t, call(t, cs, "retrieve_tools", map[string]any{"query": "echo", "limit": 101}), "limit", "100")
		wantError(t, call(t, cs, "retrieve_tools", map[string]any{"query": "echo", "limit": -1}), "limit")
		wantError(t, call(t, cs, "retrieve_tools", map[string]any{"query": ""}), "query")
		wantError(t, call(t, cs, "retrieve_tools", map[string]any{"query": "   "}), "query")
		wantError(t, call(t, cs, "retrieve_tools", map[string]any{"query": 5}), "query")
	})
	t.Run("NeverQuarantinedOrDisabled", func(t *testing.T) {
		r := retrieve(t, cs, "echo add sleep fail add_tool remove_tool message sum", 100)
		if got := r.servers(); !slices.Equal(got, []string{"alpha", "beta"}) {
			t.Errorf("servers in results = %v, want [alpha beta]", got)
		}
	})
	t.Run("DisabledDisappears", func(t *testing.T) {
		if err := p.sup.SetEnabled(context.Background(), "beta", false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool {
			return !slices.Contains(retrieve(t, cs, "echo message", 100).servers(), "beta")
		}, "beta's tools to leave the search results")
		p.waitState(t, "beta", mcpproxy.StateDisabled)
		if got := retrieve(t, cs, "echo message", 100).servers(); !slices.Equal(got, []string{"alpha"}) {
			t.Errorf("servers after disabling beta = %v, want [alpha]", got)
		}
	})
	t.Run("QuarantinedDisappears", func(t *testing.T) {
		if err := p.sup.SetQuarantined(context.Background(), "alpha", true); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool {
			return len(retrieve(t, cs, "echo message", 100).Tools) == 0
		}, "alpha's tools to leave the search results")
	})
}

func TestCallTool(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{}, nil),
		stdio("beta", testupstream.ModeOK),
		{"name": "broken", "command": "/nonexistent/mcpproxy-test-command"},
		streamable(t, "quar", testupstream.Options{}, map[string]any{"quarantined": true}),
		streamable(t, "off", testupstream.Options{}, map[string]any{"enabled": false}),
	}})
	p.waitCatalog(t, "alpha", "beta")
	p.waitState(t, "broken", mcpproxy.StateError)
	cs := p.connect(t, "/mcp", clientOptions{})

	t.Run("Echo", func(t *testing.T) {
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "hi"}}), "hi")
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "beta:echo", "args": map[string]any{"message": "über"}}), "über")
	})
	t.Run("UpstreamContentPassedThrough", func(t *testing.T) {
		res := call(t, cs, "call_tool", map[string]any{"name": "alpha:fail"})
		wantError(t, res, "boom")
		if textOf(res) != "boom" {
			t.Errorf("upstream error result = %q, want it unchanged (\"boom\")", textOf(res))
		}
	})
	t.Run("ArgsJSON", func(t *testing.T) {
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:add", "args_json": `{"a": 2, "b": 3}`}), "5")
	})
	t.Run("NoArgs", func(t *testing.T) {
		// The upstream validates its arguments: "fail" takes an empty object
		// and would answer a validation error, not "boom", to anything else.
		for _, args := range []map[string]any{{"name": "alpha:fail"}, {"name": "alpha:fail", "args": nil}, {"name": "alpha:fail", "args_json": ""}} {
			if res := call(t, cs, "call_tool", args); textOf(res) != "boom" {
				t.Errorf("%v: %q", args, textOf(res))
			}
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args map[string]any
			want []string
		}{
			{"ArgsAndArgsJSON", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "x"}, "args_json": `{"message":"y"}`}, []string{"args", "args_json"}},
			{"ArgsJSONNotJSON", map[string]any{"name": "alpha:echo", "args_json": `{"message":`}, []string{"args"}},
			{"ArgsJSONNotObject", map[string]any{"name": "alpha:echo", "args_json": `[1,2]`}, []string{"args", "object"}},
			{"ArgsNotObject", map[string]any{"name": "alpha:echo", "args": "hello"}, []string{"args"}},
			{"NoSeparator", map[string]any{"name": "noseparator"}, []string{"argument name", "server:tool"}},
			{"EmptyTool", map[string]any{"name": "alpha:"}, []string{"argument name"}},
			{"MissingName", map[string]any{}, []string{"argument name"}},
			{"NameNotString", map[string]any{"name": 7}, []string{"name"}},
			{"UnknownServer", map[string]any{"name": "alpah:echo"}, []string{"unknown server", `"alpah"`, `did you mean "alpha"`}},
			{"UnknownTool", map[string]any{"name": "alpha:ecoh"}, []string{"unknown tool", `"ecoh"`, `did you mean "alpha:echo"`}},
			{"NotReady", map[string]any{"name": "broken:echo"}, []string{`"broken" is not ready`, "state error", "next retry", "no such file"}},
			{"Quarantined", map[string]any{"name": "quar:echo"}, []string{"quarantined"}},
			{"Disabled", map[string]any{"name": "off:echo"}, []string{"disabled"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantError(t, call(t, cs, "call_tool", tc.args), tc.want...)
			})
		}
	})
}

func TestCallTool_Timeouts(t *testing.T) {
	started := make(chan struct{}, 1)
	hang := mcp.NewServer(&mcp.Implementation{Name: "hang"}, nil)
	hang.AddTool(&mcp.Tool{Name: "hang", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		})
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		streamable(t, "slow", testupstream.Options{}, map[string]any{"call_timeout": "300ms"}),
		{"name": "hung", "url": customUpstream(t, hang), "protocol": "streamable-http"},
		streamable(t, "quick", testupstream.Options{}, nil),
	}})
	p.waitCatalog(t, "slow", "hung", "quick")
	cs := p.connect(t, "/mcp", clientOptions{})

	t.Run("CallTimeout", func(t *testing.T) {
		start := time.Now()
		res := call(t, cs, "call_tool", map[string]any{"name": "slow:sleep", "args": map[string]any{"ms": 5000}})
		took := time.Since(start)
		wantError(t, res, "timed out after 300ms", "slow:sleep")
		if took > 3*time.Second {
			t.Errorf("timed-out call took %v, want well under the upstream's 5s", took)
		}
		// The session survives a timed-out call.
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "slow:echo", "args": map[string]any{"message": "still here"}}), "still here")
	})

	t.Run("Isolation", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		hungDone := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": "hung:hang"}})
			hungDone <- err
		}()
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the hanging call never reached its upstream")
		}
		// A second client too, so that neither the session nor the server
		// serialises calls behind the hung one.
		cs2 := p.connect(t, "/mcp", clientOptions{})
		start := time.Now()
		for i := range 10 {
			msg := fmt.Sprint("ping ", i)
			wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "quick:echo", "args": map[string]any{"message": msg}}), msg)
			wantOK(t, call(t, cs2, "call_tool", map[string]any{"name": "quick:echo", "args": map[string]any{"message": msg}}), msg)
			wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "slow:add", "args": map[string]any{"a": i, "b": 1}}), fmt.Sprint(i+1))
		}
		_ = retrieve(t, cs, "echo", 5)
		_ = call(t, cs, "upstream_servers", map[string]any{"operation": "list"})
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("30 calls to other servers took %v while one upstream hung", took)
		}
		select {
		case err := <-hungDone:
			t.Fatalf("hung call returned early: %v", err)
		default:
		}
		cancel()
		select {
		case <-hungDone:
		case <-time.After(5 * time.Second):
			t.Fatal("cancelled hung call did not return")
		}
	})
}

// TestCallTool_Parallel: calls to different upstreams run at the same time.
// Each upstream holds its call until all n have arrived, so a proxy that
// serialised calls would never complete one; no timing is measured.
func TestCallTool_Parallel(t *testing.T) {
	const n = 20
	var (
		armed   atomic.Bool
		arrived atomic.Int32
		all     = make(chan struct{})
	)
	barrier := func(ctx context.Context) error {
		if !armed.Load() {
			return nil
		}
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var servers []map[string]any
	var names []string
	for i := range n {
		name := fmt.Sprintf("par%02d", i)
		names = append(names, name)
		servers = append(servers, streamable(t, name, testupstream.Options{BeforeCall: barrier}, nil))
	}
	p := newProxy(t, proxyOptions{Servers: servers})
	p.waitCatalog(t, names...)
	cs := p.connect(t, "/mcp", clientOptions{})
	armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "call_tool",
				Arguments: map[string]any{"name": name + ":echo", "args": map[string]any{"message": name}}})
			switch {
			case err != nil:
				errs <- err
			case res.IsError || textOf(res) != name:
				errs <- fmt.Errorf("%s: %q (isError %v)", name, textOf(res), res.IsError)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := arrived.Load(); got != n {
		t.Errorf("%d of %d calls reached their upstream together; the proxy does not run them in parallel", got, n)
	}
}

func TestCallTool_Cancel(t *testing.T) {
	started := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	up := mcp.NewServer(&mcp.Implementation{Name: "custom"}, nil)
	up.AddTool(&mcp.Tool{Name: "sleep", InputSchema: json.RawMessage(`{"type":"object","properties":{"ms":{"type":"number"}}}`)},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var in struct{ Ms int }
			json.Unmarshal(req.Params.Arguments, &in)
			started <- struct{}{}
			select {
			case <-ctx.Done():
				cancelled <- ctx.Err()
				return nil, ctx.Err()
			case <-time.After(time.Duration(in.Ms) * time.Millisecond):
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slept"}}}, nil
			}
		})
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		{"name": "custom", "url": customUpstream(t, up), "protocol": "streamable-http"},
	}})
	p.waitCatalog(t, "custom")
	for _, tc := range []struct{ name, path, tool, protocol string }{
		{"Smart", "/mcp", "call_tool", ""},
		{"SSE", "/sse", "call_tool", ""},
		{"Direct", "/mcp/all", "custom__sleep", ""},
		// Sessions whose plain calls are answered in front of the SDK
		// (fastcall.go), which must cancel them on the client's notice.
		{"SmartFast", "/mcp", "call_tool", fastProtocol},
		{"DirectFast", "/mcp/all", "custom__sleep", fastProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := p.connect(t, tc.path, clientOptions{sse: tc.path == "/sse", protocol: tc.protocol})
			if tc.protocol != "" {
				f := p.srv.fastSmart
				if tc.path == "/mcp/all" {
					f = p.srv.fastDirect
				}
				waitFast(t, f, cs)
				served := f.served.Load()
				defer waitFor(t, 5*time.Second, func() bool { return f.served.Load() == served+1 },
					"the call was not answered in front of the SDK")
			}
			args := map[string]any{"name": "custom:sleep", "args": map[string]any{"ms": 10000}}
			if tc.tool != "call_tool" {
				args = map[string]any{"ms": 10000}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: args})
				done <- err
			}()
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("call never reached the upstream")
			}
			time.AfterFunc(200*time.Millisecond, cancel)
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("cancelled call returned %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("cancelled call did not return")
			}
			select {
			case err := <-cancelled:
				t.Logf("upstream saw %v after %v", err, time.Since(start))
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream's handler never saw the cancellation")
			}
			if n := p.progress.Len(); n != 0 {
				t.Errorf("progress router holds %d routes after the call", n)
			}
		})
	}
}

// TestCallTool_Progress: an upstream's progress notifications reach the
// client that made the call, with the client's own token, over every
// upstream transport and every endpoint, through the SDK and in front of
// it ("Fast": a protocol version the fast path serves); also when the
// upstream sends them immediately before its result ("BeforeResult"),
// where the SDK client returns the result before it has handled the
// notifications.
func TestCallTool_Progress(t *testing.T) {
	var got atomic.Pointer[collector[*mcp.ProgressNotificationParams]]
	// Work that takes a while between steps: the step is at the client
	// before the next begins.
	up := progressServer(func(_ context.Context, step int) {
		deadline := time.Now().Add(5 * time.Second)
		for len(got.Load().snapshot()) < step && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	})
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		{"name": "custom", "url": customUpstream(t, up), "protocol": "streamable-http"},
		{"name": "customsse", "url": customSSEUpstream(t, up), "protocol": "sse"},
		stdioProgressUpstream("customstdio"),
	}})
	p.waitCatalog(t, "custom", "customsse", "customstdio")

	for _, upstream := range []struct{ name, server string }{
		{"Streamable", "custom"},
		{"UpstreamSSE", "customsse"},
		{"Stdio", "customstdio"},
	} {
		for _, tc := range []struct {
			name, path, protocol string
			fast                 *fastPath
		}{
			{"Smart", "/mcp", "", nil},
			{"SSE", "/sse", "", nil},
			{"Direct", "/mcp/all", "", nil},
			{"Pass", "/mcp/server/" + upstream.server, "", nil},
			{"SmartFast", "/mcp", fastProtocol, p.srv.fastSmart},
			{"DirectFast", "/mcp/all", fastProtocol, p.srv.fastDirect},
			{"PassFast", "/mcp/server/" + upstream.server, fastProtocol, p.srv.fastPass},
		} {
			for _, paced := range []bool{true, false} {
				name := upstream.name + "/" + tc.name
				if !paced {
					name += "/BeforeResult"
				}
				t.Run(name, func(t *testing.T) {
					c := &collector[*mcp.ProgressNotificationParams]{}
					got.Store(c)
					cs := p.connect(t, tc.path, clientOptions{sse: tc.path == "/sse", protocol: tc.protocol, mcp: &mcp.ClientOptions{
						ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
							c.add(req.Params)
						},
					}})
					if tc.fast != nil {
						waitFast(t, tc.fast, cs)
						served := tc.fast.served.Load()
						defer func() {
							if n := tc.fast.served.Load() - served; n != 2 {
								t.Errorf("%d calls answered in front of the SDK, want both", n)
							}
						}()
					}
					tool := upstream.server + "__work"
					var args any = map[string]any{"paced": paced}
					switch {
					case strings.HasPrefix(tc.path, "/mcp/server/"):
						tool = "work"
					case tc.path != "/mcp/all":
						tool = "call_tool"
						args = map[string]any{"name": upstream.server + ":work", "args": args}
					}
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args, Meta: mcp.Meta{"progressToken": "tok-1"}})
					if err != nil {
						t.Fatal(err)
					}
					if text := textOf(res); res.IsError || !strings.HasPrefix(text, "worked (token ") ||
						text == "worked (token <nil>)" || text == "worked (token tok-1)" {
						t.Errorf("result = %q (isError %v), want the upstream to have seen the proxy's own token", text, res.IsError)
					}
					waitFor(t, 5*time.Second, func() bool { return len(c.snapshot()) >= 3 }, "3 progress notifications (got %d)", len(c.snapshot()))
					for i, n := range c.snapshot() {
						if n.ProgressToken != "tok-1" {
							t.Errorf("notification %d has token %v, want tok-1", i, n.ProgressToken)
						}
						if n.Progress != float64(i+1) || n.Total != 3 || n.Message != fmt.Sprint("step ", i+1) {
							t.Errorf("notification %d = %+v", i, n)
						}
					}
					if n := p.progress.Len(); n != 0 {
						t.Errorf("progress router holds %d routes after the call", n)
					}

					// Without a token the upstream gets none and nothing is routed.
					res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
					if err != nil {
						t.Fatal(err)
					}
					wantOK(t, res, "worked (token <nil>)")
					if n := len(c.snapshot()); n != 3 {
						t.Errorf("client has %d notifications after a call without a token, want still 3", n)
					}
				})
			}
		}
	}
}

func TestSSE(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{streamable(t, "alpha", testupstream.Options{}, nil)}})
	p.waitCatalog(t, "alpha")
	cs := p.connect(t, "/sse", clientOptions{sse: true})
	want := smartTools
	if got := toolNames(t, cs); !slices.Equal(got, want) {
		t.Errorf("tools = %v, want %v", got, want)
	}
	wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "over sse"}}), "over sse")
	if r := retrieve(t, cs, "echo", 1); len(r.Tools) != 1 || r.Tools[0].ID != "alpha:echo" {
		t.Errorf("retrieve_tools over SSE = %+v", r.Tools)
	}
}

func TestAuth(t *testing.T) {
	withKey := http.Header{"X-Api-Key": {testAPIKey}}
	for _, tc := range []struct {
		name     string
		listen   string
		top      map[string]any
		needsKey bool
	}{
		{"Loopback", "127.0.0.1:8080", nil, false},
		{"Localhost", "localhost:8080", nil, false},
		{"IPv6Loopback", "[::1]:8080", nil, false},
		{"AllInterfaces", "0.0.0.0:8080", nil, true},
		{"NoHost", ":8080", nil, true},
		{"LAN", "192.168.1.10:8080", nil, true},
		{"RequireMCPAuth", "127.0.0.1:8080", map[string]any{"require_mcp_auth": true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, proxyOptions{Listen: tc.listen, Top: tc.top})
			for _, path := range []string{"/mcp", "/mcp/all", "/sse"} {
				cs := p.connect(t, path, clientOptions{header: withKey, sse: path == "/sse"})
				if path != "/mcp/all" && !slices.Equal(toolNames(t, cs), smartTools) {
					t.Errorf("%s with key: wrong tools", path)
				}
				ctx, cancel := context.WithCancel(context.Background())
				timer := time.AfterFunc(10*time.Second, cancel)
				cs, err := p.dial(ctx, path, clientOptions{sse: path == "/sse"})
				timer.Stop()
				if !tc.needsKey {
					if err != nil {
						t.Errorf("%s without key: %v", path, err)
					} else {
						cs.Close()
					}
					cancel()
					continue
				}
				if err == nil {
					cs.Close()
					t.Errorf("%s without key: connected", path)
				}
				cancel()
				for _, hdr := range []http.Header{nil, {"X-Api-Key": {"wrong"}}, {"Authorization": {"Bearer wrong"}}} {
					code, body := rawPost(t, p.URL+path, "", hdr, initializeBody)
					if code != http.StatusUnauthorized || !strings.Contains(body, "API key") {
						t.Errorf("%s with %v: %d %s, want 401 naming the API key", path, hdr, code, body)
					}
				}
			}
			if tc.needsKey {
				for _, hdr := range []http.Header{{"Authorization": {"Bearer " + testAPIKey}}} {
					cs := p.connect(t, "/mcp", clientOptions{header: hdr})
					cs.Close()
				}
				cs := p.connect(t, "/mcp?apikey="+testAPIKey, clientOptions{})
				cs.Close()
			}
		})
	}

	// A web page must not drive the MCP endpoints through the user's
	// browser, even on loopback where no key is needed, and even with the
	// key: Origin is checked first.
	t.Run("CrossOrigin", func(t *testing.T) {
		for _, tc := range []struct {
			name, listen string
			hdr          http.Header
		}{
			{"Loopback", "127.0.0.1:8080", nil},
			{"WithKey", "0.0.0.0:8080", http.Header{"X-Api-Key": {testAPIKey}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := newProxy(t, proxyOptions{Listen: tc.listen, Servers: []map[string]any{
					streamable(t, "alpha", testupstream.Options{}, nil),
				}})
				p.waitState(t, "alpha", mcpproxy.StateReady)
				for _, path := range []string{"/mcp", "/mcp/all", "/sse", "/mcp/server/alpha"} {
					for _, origin := range []string{"http://evil.example.com", "null", "http://localhost:1"} {
						hdr := http.Header{"Origin": {origin}}
						for k, v := range tc.hdr {
							hdr[k] = v
						}
						code, body := rawPost(t, p.URL+path, "", hdr, initializeBody)
						want := `{"success":false,"error":{"code":"forbidden","message":"cross-origin request from ` + origin + ` refused"}}`
						if code != http.StatusForbidden || strings.TrimSpace(body) != want {
							t.Errorf("%s with Origin %s: %d %s, want 403 %s", path, origin, code, body, want)
						}
					}
					// The daemon's own origins pass, under either loopback name.
					port := p.URL[strings.LastIndexByte(p.URL, ':')+1:]
					for _, origin := range []string{p.URL, "http://localhost:" + port} {
						hdr := http.Header{"Origin": {origin}}
						for k, v := range tc.hdr {
							hdr[k] = v
						}
						cs := p.connect(t, path, clientOptions{header: hdr, sse: path == "/sse"})
						cs.Close()
					}
				}
			})
		}
	})

	t.Run("DNSRebinding", func(t *testing.T) {
		p := newProxy(t, proxyOptions{})
		for _, path := range []string{"/mcp", "/mcp/all", "/sse"} {
			code, body := rawPost(t, p.URL+path, "evil.example.com", nil, initializeBody)
			if code != http.StatusForbidden {
				t.Errorf("%s with Host evil.example.com: %d %s, want 403", path, code, body)
			}
			code, body = rawPost(t, p.URL+path, "evil.example.com:8080", http.Header{"X-Api-Key": {testAPIKey}}, initializeBody)
			if code != http.StatusForbidden {
				t.Errorf("%s with Host evil.example.com:8080 and key: %d %s, want 403", path, code, body)
			}
		}
	})
}

// TestRetrieveTools_ServerInstructions: what a server says of itself in
// its initialize result reaches the search as a weak field of its tools: of
// two servers with the same tool, the one whose instructions name the
// query's topic ranks first; a word found only there matches nothing.
func TestRetrieveTools_ServerInstructions(t *testing.T) {
	twin := func(instructions string) *mcp.Server {
		s := mcp.NewServer(&mcp.Implementation{Name: "twin", Version: "1"}, &mcp.ServerOptions{Instructions: instructions})
		s.AddTool(&mcp.Tool{Name: "lookup", Description: "Looks up a record by its key.", InputSchema: json.RawMessage(`{"type":"object"}`)},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{}, nil
			})
		return s
	}
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		{"name": "aaa", "url": customUpstream(t, twin(""))},
		{"name": "zzz", "url": customUpstream(t, twin("Weather service: forecasts and climate records."))},
	}})
	p.waitCatalog(t, "aaa", "zzz")
	cs := p.connect(t, "/mcp", clientOptions{})
	got := retrieve(t, cs, "look up a weather record", 2)
	if len(got.Tools) != 2 || got.Tools[0].ID != "zzz:lookup" {
		t.Errorf("hits %+v, want zzz:lookup (whose server's instructions speak of weather) first", got.Tools)
	}
	if got := retrieve(t, cs, "climate", 2); len(got.Tools) != 0 {
		t.Errorf("a word found only in instructions matched %+v", got.Tools)
	}
}
