package mcpserver

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// notesProxy is a proxy in front of the annotated test upstream "notes",
// with the extra top-level config keys.
func notesProxy(t *testing.T, top map[string]any, o proxyOptions) *proxy {
	t.Helper()
	o.Servers = []map[string]any{streamable(t, "notes", testupstream.Options{Annotated: true}, nil)}
	o.Top = top
	p := newProxy(t, o)
	p.waitCatalog(t, "notes")
	return p
}

// writes asks the upstream how many writing calls reached it.
func writes(t *testing.T, cs *mcp.ClientSession) int {
	t.Helper()
	res := call(t, cs, "call_tool_read", map[string]any{"name": "notes:notes_list", "intent": map[string]any{"reason": "count writes"}})
	if res.IsError {
		t.Fatalf("notes_list: %s", textOf(res))
	}
	var out struct {
		Writes int `json:"writes"`
	}
	if err := json.Unmarshal([]byte(textOf(res)), &out); err != nil {
		t.Fatalf("notes_list: %v: %s", err, textOf(res))
	}
	return out.Writes
}

func TestEffectOf(t *testing.T) {
	for _, tc := range []struct {
		ann  string
		want effect
	}{
		{``, effectDestructive},
		{`{}`, effectDestructive},
		{`{"title":"x"}`, effectDestructive},
		{`{"readOnlyHint":true}`, effectRead},
		{`{"readOnlyHint":true,"destructiveHint":true}`, effectRead}, // destructiveHint counts only when not read-only
		{`{"readOnlyHint":false}`, effectDestructive},
		{`{"destructiveHint":false}`, effectWrite},
		{`{"readOnlyHint":false,"destructiveHint":false}`, effectWrite},
		{`{"destructiveHint":true}`, effectDestructive},
		{`{"readOnlyHint":"yes"}`, effectDestructive}, // unreadable: the defaults
		{`not json`, effectDestructive},
	} {
		if got := effectOf(json.RawMessage(tc.ann)); got != tc.want {
			t.Errorf("effectOf(%s) = %d, want %d", tc.ann, got, tc.want)
		}
	}
}

// Each variant reaches only the tools its intent covers; a refusal names
// the tool, its annotations and the variant to use, and never reaches the
// upstream — whether the call is answered in front of the SDK or by it.
func TestIntent_Variants(t *testing.T) {
	p := notesProxy(t, nil, proxyOptions{Activity: true})
	cs := p.connect(t, "/mcp", clientOptions{protocol: fastProtocol})
	waitFast(t, p.srv.fastSmart, cs)
	f := p.srv.fastSmart
	type want struct {
		ok        bool
		fragments []string
	}
	reached := want{ok: true}
	refused := func(use, ann string) want {
		return want{fragments: []string{"it was not called", "notes:", ann, "use " + use}}
	}
	cases := []struct {
		variant, tool string
		want          want
	}{
		{callRead, "notes_list", reached},
		{callRead, "notes_append", refused(callWrite, `"destructiveHint":false`)},
		{callRead, "notes_delete", refused(callDestructive, `"destructiveHint":true`)},
		{callRead, "notes_touch", refused(callDestructive, "annotations: none (so, by the MCP defaults, it may be destructive)")},
		{callWrite, "notes_list", reached},
		{callWrite, "notes_append", reached},
		{callWrite, "notes_delete", refused(callDestructive, `"destructiveHint":true`)},
		{callWrite, "notes_touch", refused(callDestructive, "annotations: none")},
		{callDestructive, "notes_list", reached},
		{callDestructive, "notes_append", reached},
		{callDestructive, "notes_delete", reached},
		{callDestructive, "notes_touch", reached},
	}
	for _, path := range []string{"fast", "sdk"} {
		for _, tc := range cases {
			f.off.Store(path == "sdk")
			before, served := writes(t, cs), f.served.Load()
			args := map[string]any{}
			if tc.tool == "notes_append" {
				args["text"] = "n"
			}
			res := call(t, cs, tc.variant, map[string]any{
				"name": "notes:" + tc.tool, "args": args, "intent": map[string]any{"reason": "test " + tc.tool},
			})
			if got := f.served.Load() - served; path == "fast" && got != 1 || path == "sdk" && got != 0 {
				t.Fatalf("%s %s %s: %d calls answered in front of the SDK", path, tc.variant, tc.tool, got)
			}
			after := writes(t, cs)
			if tc.want.ok {
				if res.IsError {
					t.Errorf("%s %s %s: refused: %s", path, tc.variant, tc.tool, textOf(res))
				}
				if tc.tool != "notes_list" && after != before+1 {
					t.Errorf("%s %s %s: upstream saw %d writes, want 1", path, tc.variant, tc.tool, after-before)
				}
				continue
			}
			msg := wantError(t, res, append([]string{tc.variant + " refused", "notes:" + tc.tool}, tc.want.fragments...)...)
			if after != before {
				t.Errorf("%s %s %s: refused, but the upstream saw %d writes: %s", path, tc.variant, tc.tool, after-before, msg)
			}
		}
	}
	f.off.Store(false)

	// The activity log has the declared intent of each call, refused
	// ones too (one per path), and none for a plain call.
	if res := call(t, cs, "call_tool", map[string]any{"name": "notes:notes_list"}); res.IsError {
		t.Fatalf("plain call_tool: %s", textOf(res))
	}
	p.act.Flush()
	var refusedRead, allowed, plain int
	for _, r := range allRecords(t, p.act, activity.Filter{}, activity.MaxLimit) {
		switch {
		case r.Intent == nil:
			plain++
		case r.Tool == "notes_delete" && r.Intent.Variant == callRead:
			refusedRead++
			if r.Status != activity.StatusBlocked || r.Intent.Reason != "test notes_delete" || !strings.Contains(r.Error, "it was not called") {
				t.Errorf("refused call's record: %+v intent %+v", r, *r.Intent)
			}
		case r.Tool == "notes_delete" && r.Intent.Variant == callDestructive:
			allowed++
			if r.Status != activity.StatusOK || r.Intent.Reason != "test notes_delete" {
				t.Errorf("allowed call's record: %+v intent %+v", r, *r.Intent)
			}
		}
	}
	if refusedRead != 2 || allowed != 2 || plain != 1 {
		t.Errorf("records: %d refused read of notes_delete, %d destructive, %d plain; want 2, 2, 1", refusedRead, allowed, plain)
	}
}

// Bad intent arguments are refused with an error naming the field, and
// reach nothing.
func TestIntent_BadInput(t *testing.T) {
	p := notesProxy(t, nil, proxyOptions{})
	cs := p.connect(t, "/mcp", clientOptions{})
	for _, tc := range []struct {
		name   string
		intent any
		want   string
	}{
		{"Missing", nil, "argument intent: required for call_tool_write"},
		{"String", "because", "argument intent: want an object {\"reason\": \"…\"}, got a string"},
		{"NoReason", map[string]any{}, "argument intent.reason: required"},
		{"ReasonNumber", map[string]any{"reason": 7}, "argument intent.reason: want a string, got a number"},
		{"ReasonBlank", map[string]any{"reason": "  "}, "argument intent.reason: must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := map[string]any{"name": "notes:notes_append", "args": map[string]any{"text": "x"}}
			if tc.intent != nil {
				args["intent"] = tc.intent
			}
			wantError(t, call(t, cs, callWrite, args), tc.want)
		})
	}
	wantError(t, call(t, cs, callRead, map[string]any{"name": "notes", "intent": map[string]any{"reason": "r"}}), `argument name: want a tool id "server:tool"`)
	wantError(t, call(t, cs, callRead, map[string]any{"name": "notes:notes_lst", "intent": map[string]any{"reason": "r"}}),
		`unknown tool "notes_lst"`, `"notes:notes_list"`)
	if n := writes(t, cs); n != 0 {
		t.Errorf("upstream saw %d writes, want 0", n)
	}
}

// require_intent turns plain call_tool off on /mcp and says which variant
// to use; block_destructive_agent_calls refuses destructive calls on every
// MCP endpoint, and call_tool_destructive itself. Neither reaches the
// upstream, and tools/list leaves out what is turned off.
func TestIntent_Policy(t *testing.T) {
	t.Run("RequireIntent", func(t *testing.T) {
		p := notesProxy(t, map[string]any{"require_intent": true}, proxyOptions{})
		cs := p.connect(t, "/mcp", clientOptions{protocol: fastProtocol})
		waitFast(t, p.srv.fastSmart, cs)
		for _, off := range []bool{false, true} {
			p.srv.fastSmart.off.Store(off)
			wantError(t, call(t, cs, "call_tool", map[string]any{"name": "notes:notes_append", "args": map[string]any{"text": "x"}}),
				"require_intent", "call notes:notes_append with call_tool_write")
		}
		p.srv.fastSmart.off.Store(false)
		if res := call(t, cs, callWrite, map[string]any{"name": "notes:notes_append", "args": map[string]any{"text": "x"}, "intent": map[string]any{"reason": "r"}}); res.IsError {
			t.Fatalf("call_tool_write: %s", textOf(res))
		}
		if n := writes(t, cs); n != 1 {
			t.Errorf("upstream saw %d writes, want 1", n)
		}
		if names := toolNames(t, cs); slices.Contains(names, "call_tool") || !slices.Contains(names, callDestructive) {
			t.Errorf("tools/list = %v; want call_tool left out, call_tool_destructive in", names)
		}
		// Direct mode has no call_tool; its calls are not refused for want of an intent.
		direct := p.connect(t, "/mcp/all", clientOptions{})
		if res := call(t, direct, "notes__notes_touch", map[string]any{}); res.IsError {
			t.Errorf("direct call: %s", textOf(res))
		}
	})
	t.Run("BlockDestructive", func(t *testing.T) {
		p := notesProxy(t, map[string]any{"block_destructive_agent_calls": true}, proxyOptions{})
		cs := p.connect(t, "/mcp", clientOptions{protocol: fastProtocol})
		direct := p.connect(t, "/mcp/all", clientOptions{protocol: fastProtocol})
		pass := p.connect(t, "/mcp/server/notes", clientOptions{protocol: fastProtocol})
		waitFast(t, p.srv.fastSmart, cs)
		for _, off := range []bool{false, true} {
			p.srv.fastSmart.off.Store(off)
			p.srv.fastDirect.off.Store(off)
			p.srv.fastPass.off.Store(off)
			for _, tool := range []string{"notes_delete", "notes_touch"} {
				wantError(t, call(t, cs, "call_tool", map[string]any{"name": "notes:" + tool}), "block_destructive_agent_calls", "notes:"+tool, "it was not called")
				wantError(t, call(t, cs, callDestructive, map[string]any{"name": "notes:" + tool, "intent": map[string]any{"reason": "r"}}),
					"call_tool_destructive is turned off", "block_destructive_agent_calls")
				wantError(t, call(t, direct, "notes__"+tool, map[string]any{}), "block_destructive_agent_calls", "notes__"+tool)
				wantError(t, call(t, pass, tool, map[string]any{}), "block_destructive_agent_calls", "notes:"+tool)
			}
			wantError(t, call(t, cs, callDestructive, map[string]any{"name": "notes:notes_append", "args": map[string]any{"text": "x"}, "intent": map[string]any{"reason": "r"}}),
				"call_tool_destructive is turned off", "it fits call_tool_write")
		}
		for _, f := range []*fastPath{p.srv.fastSmart, p.srv.fastDirect, p.srv.fastPass} {
			f.off.Store(false)
		}
		if n := writes(t, cs); n != 0 {
			t.Fatalf("upstream saw %d writes, want 0", n)
		}
		// What is not destructive still goes through, on every endpoint.
		for _, res := range []*mcp.CallToolResult{
			call(t, cs, "call_tool", map[string]any{"name": "notes:notes_append", "args": map[string]any{"text": "a"}}),
			call(t, cs, callWrite, map[string]any{"name": "notes:notes_append", "args": map[string]any{"text": "b"}, "intent": map[string]any{"reason": "r"}}),
			call(t, direct, "notes__notes_append", map[string]any{"text": "c"}),
			call(t, pass, "notes_append", map[string]any{"text": "d"}),
		} {
			if res.IsError {
				t.Errorf("additive call refused: %s", textOf(res))
			}
		}
		if n := writes(t, cs); n != 4 {
			t.Errorf("upstream saw %d writes, want 4", n)
		}
		if names := toolNames(t, cs); slices.Contains(names, callDestructive) || !slices.Contains(names, "call_tool") {
			t.Errorf("tools/list = %v; want call_tool_destructive left out, call_tool in", names)
		}
		// /mcp/all and the pass-through list only what may be called.
		for _, l := range []struct {
			cs     *mcp.ClientSession
			prefix string
		}{{direct, "notes__"}, {pass, ""}} {
			names := toolNames(t, l.cs)
			if slices.Contains(names, l.prefix+"notes_delete") || slices.Contains(names, l.prefix+"notes_touch") ||
				!slices.Contains(names, l.prefix+"notes_append") || !slices.Contains(names, l.prefix+"notes_list") {
				t.Errorf("tools/list = %v; want notes_delete and notes_touch left out, notes_append and notes_list in", names)
			}
		}
	})
}

// retrieve_tools gives each hit the narrowest variant that reaches it.
func TestRetrieveTools_CallWith(t *testing.T) {
	p := notesProxy(t, nil, proxyOptions{})
	cs := p.connect(t, "/mcp", clientOptions{})
	got := map[string]string{}
	for _, f := range retrieve(t, cs, "notes", 20).Tools {
		got[f.ID] = f.CallWith
	}
	want := map[string]string{
		"notes:notes_list": callRead, "notes:notes_dump": callRead, "notes:notes_append": callWrite,
		"notes:notes_delete": callDestructive, "notes:notes_touch": callDestructive,
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: call_with %q, want %q (all: %v)", id, got[id], w, got)
		}
	}
}

// A config reload that changes what /mcp lists tells its sessions
// (tools/list_changed), and the next tools/list follows the new config.
func TestIntent_PolicyReloadNotifies(t *testing.T) {
	p := notesProxy(t, nil, proxyOptions{})
	changed := make(chan struct{}, 16)
	cs := p.connect(t, "/mcp", clientOptions{mcp: &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	}})
	if names := toolNames(t, cs); !slices.Contains(names, "call_tool") {
		t.Fatalf("tools/list = %v", names)
	}
	data, err := os.ReadFile(p.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["require_intent"] = true
	data, _ = json.Marshal(m)
	p.sup.ApplyFile(data, nil)
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no tools/list_changed after require_intent was turned on")
	}
	if names := toolNames(t, cs); slices.Contains(names, "call_tool") {
		t.Errorf("tools/list after the reload = %v, want no call_tool", names)
	}

	// block_destructive_agent_calls changes the lists of /mcp/all and of
	// the pass-through sessions too.
	directChanged := make(chan struct{}, 16)
	direct := p.connect(t, "/mcp/all", clientOptions{mcp: &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { directChanged <- struct{}{} },
	}})
	if names := toolNames(t, direct); !slices.Contains(names, "notes__notes_delete") {
		t.Fatalf("/mcp/all tools/list = %v", names)
	}
	passChanged := make(chan struct{}, 16)
	pass := p.connect(t, "/mcp/server/notes", clientOptions{mcp: &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { passChanged <- struct{}{} },
	}})
	if names := toolNames(t, pass); !slices.Contains(names, "notes_delete") {
		t.Fatalf("/mcp/server/notes tools/list = %v", names)
	}
	// The pass-through server learns of its session just after the
	// client's notifications/initialized, which the client does not wait for.
	waitFor(t, 10*time.Second, func() bool {
		p.srv.mu.Lock()
		defer p.srv.mu.Unlock()
		return len(p.srv.servers) == 1
	}, "the pass-through session is not tracked")
	m["block_destructive_agent_calls"] = true
	data, _ = json.Marshal(m)
	p.sup.ApplyFile(data, nil)
	for name, ch := range map[string]chan struct{}{"/mcp/all": directChanged, "/mcp/server/notes": passChanged} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no tools/list_changed on %s after block_destructive_agent_calls was turned on", name)
		}
	}
	if names := toolNames(t, direct); slices.Contains(names, "notes__notes_delete") || !slices.Contains(names, "notes__notes_append") {
		t.Errorf("/mcp/all tools/list after the reload = %v", names)
	}
	if names := toolNames(t, pass); slices.Contains(names, "notes_delete") || !slices.Contains(names, "notes_append") || slices.Contains(names, placeholderTool.Name) {
		t.Errorf("/mcp/server/notes tools/list after the reload = %v", names)
	}
}

// Under block_destructive_agent_calls a variant that does not reach a
// destructive tool is refused for the policy, not sent to a variant that
// is turned off.
func TestIntent_BlockedVariantAdvice(t *testing.T) {
	p := notesProxy(t, map[string]any{"block_destructive_agent_calls": true}, proxyOptions{})
	cs := p.connect(t, "/mcp", clientOptions{})
	msg := wantError(t, call(t, cs, callWrite, map[string]any{"name": "notes:notes_delete", "intent": map[string]any{"reason": "r"}}),
		"block_destructive_agent_calls", "it was not called")
	if strings.Contains(msg, "use call_tool_destructive") {
		t.Errorf("refusal advises a variant that is turned off: %s", msg)
	}
	// A variant too narrow for a tool the policy allows still names the one to use.
	wantError(t, call(t, cs, callRead, map[string]any{"name": "notes:notes_append", "args": map[string]any{"text": "x"}, "intent": map[string]any{"reason": "r"}}),
		"use call_tool_write")
}
