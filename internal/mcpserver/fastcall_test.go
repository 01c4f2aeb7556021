package mcpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fastProtocol is a protocol version whose sessions the fast path serves.
const fastProtocol = "2025-11-25"

// Plain tools/call requests on /mcp and /mcp/all are answered in front of
// the SDK, with the same results the SDK path gives; everything else goes
// to the SDK.
func TestFastPath_AnswersPlainCalls(t *testing.T) {
	long := stdio("long", testupstream.ModeOK)
	long["call_timeout"] = "30m" // longer than the SDK's idle clock may run unwatched
	p := newProxy(t, proxyOptions{Servers: []map[string]any{stdio("alpha", testupstream.ModeOK), long}})
	p.waitCatalog(t, "alpha", "long")
	smart := p.connect(t, "/mcp", clientOptions{protocol: fastProtocol})
	direct := p.connect(t, "/mcp/all", clientOptions{protocol: fastProtocol})
	waitFast(t, p.srv.fastSmart, smart)
	waitFast(t, p.srv.fastDirect, direct)
	fs, fd := &p.srv.fastSmart.served, &p.srv.fastDirect.served

	wantOK(t, call(t, smart, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "hi"}}), "hi")
	wantOK(t, call(t, direct, "alpha__echo", map[string]any{"message": "hi"}), "hi")
	if fs.Load() != 1 || fd.Load() != 1 {
		t.Fatalf("served here: smart %d, direct %d; want 1 and 1", fs.Load(), fd.Load())
	}

	// The same answers, refusals and errors as through the SDK.
	for _, tc := range []struct {
		cs   *mcp.ClientSession
		f    *fastPath
		tool string
		args any
	}{
		{smart, p.srv.fastSmart, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "same"}}},
		{smart, p.srv.fastSmart, "call_tool", map[string]any{"name": "alpha:echo", "args_json": `{"message":"as json"}`}},
		{smart, p.srv.fastSmart, "call_tool", map[string]any{"name": "alpah:echo", "args": map[string]any{}}},
		{smart, p.srv.fastSmart, "call_tool", map[string]any{"name": "alpha:ech", "args": map[string]any{}}},
		{smart, p.srv.fastSmart, "call_tool", map[string]any{"name": "no-colon"}},
		{smart, p.srv.fastSmart, "call_tool", map[string]any{"name": "alpha:echo", "args": "not an object"}},
		{smart, p.srv.fastSmart, "call_tool", map[string]any{"name": "alpha:fail", "args": map[string]any{}}},
		{smart, p.srv.fastSmart, callRead, map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "x"}, "intent": map[string]any{"reason": "r"}}},
		{smart, p.srv.fastSmart, callDestructive, map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "x"}, "intent": map[string]any{"reason": "r"}}},
		{smart, p.srv.fastSmart, callWrite, map[string]any{"name": "alpha:echo", "intent": 7}},
		{smart, p.srv.fastSmart, "retrieve_tools", map[string]any{"query": "echo"}},
		{smart, p.srv.fastSmart, "retrieve_tools", map[string]any{"query": "echo", "limit": 1}},
		{smart, p.srv.fastSmart, "retrieve_tools", map[string]any{"query": "no such words zzzz"}},
		{smart, p.srv.fastSmart, "retrieve_tools", map[string]any{"query": 7}},
		{direct, p.srv.fastDirect, "alpha__echo", map[string]any{"message": "same"}},
		{direct, p.srv.fastDirect, "alpha__nope", map[string]any{}},
		{direct, p.srv.fastDirect, "nonsense", map[string]any{}},
		{direct, p.srv.fastDirect, "alpha__fail", nil},
	} {
		got := call(t, tc.cs, tc.tool, tc.args)
		tc.f.off.Store(true)
		want := call(t, tc.cs, tc.tool, tc.args)
		tc.f.off.Store(false)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("%s %v:\n fast %s\n  sdk %s", tc.tool, tc.args, gb, wb)
		}
	}
	if fs.Load() != 15 || fd.Load() != 5 {
		t.Errorf("served here: smart %d, direct %d; want 15 and 5", fs.Load(), fd.Load())
	}

	// Not plain: a call that may outlast the SDK's idle clock, a request
	// larger than the fast path reads.
	before, beforeDirect := fs.Load(), fd.Load()
	wantOK(t, call(t, smart, "call_tool", map[string]any{"name": "long:echo", "args": map[string]any{"message": "long"}}), "long")
	wantOK(t, call(t, direct, "long__echo", map[string]any{"message": "long"}), "long")
	if fs.Load() != before || fd.Load() != beforeDirect {
		t.Errorf("a call with a 30-minute timeout was answered in front of the SDK")
	}
	// A request larger than the fast path reads goes to the SDK whole.
	big := strings.Repeat("x", maxFastBody+1000)
	res := call(t, direct, "alpha__echo", map[string]any{"message": big})
	if res.IsError || !strings.HasPrefix(textOf(res), "xxxx") {
		t.Errorf("a %d-byte call: isError %v, text %.100q", len(big), res.IsError, textOf(res))
	}
	if fd.Load() != beforeDirect {
		t.Errorf("a %d-byte call was answered in front of the SDK", len(big))
	}
	// Plain: a call with a progress token (what the upstream reports goes
	// out on the call's stream: TestCallTool_Progress).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := smart.CallTool(ctx, &mcp.CallToolParams{Name: "call_tool", Meta: mcp.Meta{"progressToken": "tok"},
		Arguments: map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "with progress"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantOK(t, res, "with progress")
	if fs.Load() != before+1 {
		t.Errorf("a call with a progress token was not answered in front of the SDK")
	}
}

// Requests the SDK must see, refuse or answer differently still reach it.
func TestFastPath_LeavesTheRestToTheSDK(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{stdio("alpha", testupstream.ModeOK)}})
	p.waitCatalog(t, "alpha")
	cs := p.connect(t, "/mcp", clientOptions{protocol: fastProtocol})
	waitFast(t, p.srv.fastSmart, cs)
	served := &p.srv.fastSmart.served
	hdr := func(kv ...string) http.Header {
		h := http.Header{"Mcp-Session-Id": {cs.ID()}, "Mcp-Protocol-Version": {fastProtocol}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	const callBody = `{"jsonrpc":"2.0","id":"raw-1","method":"tools/call","params":{"name":"call_tool","arguments":{"name":"alpha:echo","args":{"message":"raw"}}}}`

	// The plain request itself, to show the rest differs only in what is
	// named.
	code, body := rawPost(t, p.URL+"/mcp", "", hdr(), callBody)
	if code != http.StatusOK || !strings.Contains(body, `"id":"raw-1"`) || !strings.Contains(body, `"text":"raw"`) || served.Load() != 1 {
		t.Fatalf("plain call: %d %s (served %d)", code, body, served.Load())
	}
	for _, tc := range []struct {
		name, host string
		hdr        http.Header
		body       string
		code       int
		fragment   string
	}{
		{"DNSRebinding", "evil.example:80", hdr(), callBody, http.StatusForbidden, "invalid Host"},
		{"UnknownSession", "", hdr("Mcp-Session-Id", "no-such-session"), callBody, http.StatusNotFound, ""},
		{"UnsupportedVersion", "", hdr("Mcp-Protocol-Version", "1999-01-01"), callBody, http.StatusBadRequest, "Unsupported protocol version"},
		{"Batch", "", hdr(), "[" + callBody + "]", http.StatusBadRequest, "batching"},
		{"MetaNotObject", "", hdr(), strings.Replace(callBody, `"name":"call_tool"`, `"_meta":"tok","name":"call_tool"`, 1), http.StatusOK, `"error"`},
		{"UnknownParam", "", hdr(), strings.Replace(callBody, `"name":"call_tool"`, `"task":{"ttl":1},"name":"call_tool"`, 1), http.StatusOK, `"text":"raw"`},
		{"OtherVersion", "", hdr("Mcp-Protocol-Version", "2025-06-18"), callBody, http.StatusOK, `"text":"raw"`},
		{"OtherTool", "", hdr(), `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"tools_stat","arguments":{}}}`, http.StatusOK, `"result"`},
		{"NotJSON", "", hdr(), `{"jsonrpc":`, http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := served.Load()
			code, body := rawPost(t, p.URL+"/mcp", tc.host, tc.hdr, tc.body)
			if code != tc.code || !strings.Contains(body, tc.fragment) {
				t.Errorf("got %d %q, want %d with %q", code, body, tc.code, tc.fragment)
			}
			if served.Load() != before {
				t.Errorf("answered in front of the SDK")
			}
		})
	}
}

// waitFast waits until f serves cs: the SDK tells it of a session once it
// has handled the client's notifications/initialized, which the client
// does not wait for.
func waitFast(tb testing.TB, f *fastPath, cs *mcp.ClientSession) {
	tb.Helper()
	waitFor(tb, 5*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.sessions[cs.ID()] != nil
	}, "session %s is not served in front of the SDK", cs.ID())
}

// TestFastPath_KeepsTheSDKSessionAlive: once fastIdle has passed without a
// request the SDK handled, a call is still answered in front of the SDK,
// and the SDK first answers a ping of the session, which restarts its idle
// clock (rather than the call, whose result it would encode whole).
func TestFastPath_KeepsTheSDKSessionAlive(t *testing.T) {
	var pings atomic.Int64
	countPings := func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "ping" {
				pings.Add(1)
			}
			return next(ctx, method, req)
		}
	}
	p := newProxy(t, proxyOptions{Middleware: []mcp.Middleware{countPings},
		Servers: []map[string]any{stdio("alpha", testupstream.ModeOK)}})
	p.waitCatalog(t, "alpha")
	for _, ep := range []struct {
		path, tool string
		args       map[string]any
		f          *fastPath
	}{
		{"/mcp", "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "kept"}}, p.srv.fastSmart},
		{"/mcp/all", "alpha__echo", map[string]any{"message": "kept"}, p.srv.fastDirect},
		{"/mcp/server/alpha", "echo", map[string]any{"message": "kept"}, p.srv.fastPass},
	} {
		t.Run(ep.path, func(t *testing.T) {
			cs := p.connect(t, ep.path, clientOptions{protocol: fastProtocol})
			waitFast(t, ep.f, cs)
			ep.f.idle.Store(0)
			defer ep.f.idle.Store(int64(fastIdle))
			served, sent, seen := ep.f.served.Load(), ep.f.pings.Load(), pings.Load()
			for range 2 {
				wantOK(t, call(t, cs, ep.tool, ep.args), "kept")
			}
			if n := ep.f.served.Load() - served; n != 2 {
				t.Errorf("%d of 2 calls answered in front of the SDK", n)
			}
			if n, m := ep.f.pings.Load()-sent, pings.Load()-seen; n != 2 || m != 2 {
				t.Errorf("%d keep-alive pings sent, %d seen by the SDK's server; want 2 and 2", n, m)
			}
		})
	}
}
