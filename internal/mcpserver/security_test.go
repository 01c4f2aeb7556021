package mcpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ---- helpers ----

// toolOf returns the named tool as the state view publishes it.
func (p *proxy) toolOf(server, tool string) (mcpproxy.Tool, bool) {
	srv := p.view.Load().Get(server)
	if srv == nil {
		return mcpproxy.Tool{}, false
	}
	for _, t := range srv.Tools {
		if t.Name == tool {
			return t, true
		}
	}
	return mcpproxy.Tool{}, false
}

// waitApproval waits until the named tool's approval is want.
func (p *proxy) waitApproval(tb testing.TB, server, tool string, want mcpproxy.Approval) mcpproxy.Tool {
	tb.Helper()
	var t mcpproxy.Tool
	waitFor(tb, 15*time.Second, func() bool {
		var ok bool
		t, ok = p.toolOf(server, tool)
		return ok && t.Approval == want
	}, "%s:%s to be %s (now %q)", server, tool, want, testupstream.Lazy(func() any { t, _ := p.toolOf(server, tool); return t.Approval }))
	return t
}

// waitRoute waits until the catalog lists (or no longer lists) a direct
// tool name; the index is updated in the same pass.
func (p *proxy) waitRoute(tb testing.TB, name string, present bool) {
	tb.Helper()
	waitFor(tb, 15*time.Second, func() bool {
		_, ok := p.srv.cat.set.Load().routes[name]
		return ok == present
	}, "catalog to list %s: %v", name, present)
}

// toolDescription returns the description a session's tools/list gives a
// tool ("" if absent).
func toolDescription(tb testing.TB, cs *mcp.ClientSession, name string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		tb.Fatalf("tools/list: %v", err)
	}
	for _, t := range res.Tools {
		if t.Name == name {
			return t.Description
		}
	}
	return ""
}

func hasFound(r searchResult, id string) bool {
	for _, t := range r.Tools {
		if t.ID == id {
			return true
		}
	}
	return false
}

// waiting calls quarantine_security list.
func waiting(tb testing.TB, cs *mcp.ClientSession) []pinning.Waiting {
	tb.Helper()
	res := call(tb, cs, "quarantine_security", map[string]any{"operation": "list"})
	if res.IsError {
		tb.Fatalf("quarantine_security list: %s", textOf(res))
	}
	var out struct {
		Waiting []pinning.Waiting `json:"waiting"`
		Total   int               `json:"total"`
		Message string            `json:"message"`
	}
	if err := json.Unmarshal([]byte(textOf(res)), &out); err != nil {
		tb.Fatalf("quarantine_security list: %v\n%s", err, textOf(res))
	}
	if out.Total != len(out.Waiting) || out.Message == "" {
		tb.Errorf("quarantine_security list: total %d for %d entries, message %q", out.Total, len(out.Waiting), out.Message)
	}
	return out.Waiting
}

// inspect calls quarantine_security inspect.
func inspect(tb testing.TB, cs *mcp.ClientSession, name string) pinning.Waiting {
	tb.Helper()
	res := call(tb, cs, "quarantine_security", map[string]any{"operation": "inspect", "name": name})
	if res.IsError {
		tb.Fatalf("quarantine_security inspect %s: %s", name, textOf(res))
	}
	var w pinning.Waiting
	if err := json.Unmarshal([]byte(textOf(res)), &w); err != nil {
		tb.Fatalf("quarantine_security inspect: %v\n%s", err, textOf(res))
	}
	return w
}

func findWaiting(list []pinning.Waiting, server string) (pinning.Waiting, bool) {
	for _, w := range list {
		if w.Server == server {
			return w, true
		}
	}
	return pinning.Waiting{}, false
}

func toolView(w pinning.Waiting, tool string) (pinning.ToolView, bool) {
	for _, tv := range w.Tools {
		if tv.Name == tool {
			return tv, true
		}
	}
	return pinning.ToolView{}, false
}

// ---- rug pull ----

// TestSecurity_RugPull: a tool whose definition changes after it was
// approved disappears from every way of finding and calling it until a
// person approves the new definition, and the reviewer sees a diff.
func TestSecurity_RugPull(t *testing.T) {
	p := newProxy(t, proxyOptions{Pins: true, Servers: []map[string]any{
		streamable(t, "rug", testupstream.Options{RugPullAfter: 2}, nil),
		streamable(t, "alpha", testupstream.Options{}, nil),
	}})
	sub := p.view.Bus.Subscribe(4096)
	t.Cleanup(sub.Close)
	p.waitCatalog(t, "rug", "alpha")
	p.waitRoute(t, "rug__echo", true)
	first := p.waitApproval(t, "rug", "echo", mcpproxy.ApprovalApproved)
	if srv := p.view.Load().Get("rug"); srv.PendingTools != 0 || srv.Quarantined {
		t.Fatalf("rug at first: %d pending, quarantined %v", srv.PendingTools, srv.Quarantined)
	}

	cs := p.connect(t, "/mcp", clientOptions{})
	direct := p.connect(t, "/mcp/all", clientOptions{})
	pass := p.connect(t, "/mcp/server/rug", clientOptions{})

	if !hasFound(retrieve(t, cs, "returns the message unchanged", 20), "rug:echo") {
		t.Fatal("retrieve_tools does not find rug:echo before the rug pull")
	}
	if !slices.Contains(toolNames(t, direct), "rug__echo") || !slices.Contains(toolNames(t, pass), "echo") {
		t.Fatal("echo not listed before the rug pull")
	}
	wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "rug:echo", "args": map[string]any{"message": "one"}}), "one")
	wantOK(t, call(t, pass, "echo", map[string]any{"message": "two"}), "two")

	// The second call pulled the rug: the upstream now describes echo
	// differently and says its list changed.
	cur := p.waitApproval(t, "rug", "echo", mcpproxy.ApprovalChanged)
	if cur.Description != testupstream.RugPulledDescription || cur.Fingerprint == first.Fingerprint {
		t.Fatalf("changed echo: %q fp %s (was %s)", cur.Description, cur.Fingerprint, first.Fingerprint)
	}
	if srv := p.view.Load().Get("rug"); srv.PendingTools != 1 {
		t.Errorf("rug pending tools = %d, want 1", srv.PendingTools)
	}
	p.waitRoute(t, "rug__echo", false)

	t.Run("Event", func(t *testing.T) {
		deadline := time.After(15 * time.Second)
		for {
			select {
			case ev, ok := <-sub.C():
				if !ok {
					t.Fatal("event subscription dropped")
				}
				if ev.Type != mcpproxy.EventToolChanged {
					continue
				}
				var d map[string]any
				json.Unmarshal(ev.Data, &d)
				if ev.Server != "rug" || d["tool"] != "echo" || d["change"] != "changed" || d["approved_fingerprint"] != first.Fingerprint {
					t.Errorf("tool.changed event %s %s", ev.Server, ev.Data)
				}
				return
			case <-deadline:
				t.Fatal("no tool.changed event")
			}
		}
	})
	t.Run("Withheld", func(t *testing.T) {
		if r := retrieve(t, cs, "returns the message unchanged credentials", 50); hasFound(r, "rug:echo") {
			t.Errorf("retrieve_tools still finds rug:echo: %+v", r.Tools)
		}
		if !hasFound(retrieve(t, cs, "sum of a and b", 50), "rug:add") {
			t.Error("the rug pull hid rug's other tools from search")
		}
		names := toolNames(t, direct)
		if slices.Contains(names, "rug__echo") || !slices.Contains(names, "rug__add") || !slices.Contains(names, "alpha__echo") {
			t.Errorf("/mcp/all tools/list = %v, want rug__add and alpha__echo but not rug__echo", names)
		}
		wantError(t, call(t, cs, "call_tool", map[string]any{"name": "rug:echo", "args": map[string]any{"message": "x"}}), "changed")
		wantError(t, call(t, direct, "rug__echo", map[string]any{"message": "x"}), "changed")
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "fine"}}), "fine")
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "rug:add", "args": map[string]any{"a": 1, "b": 2}}), "3")

		// The pass-through, on the session opened before and on a new one.
		fresh := p.connect(t, "/mcp/server/rug", clientOptions{})
		for name, s := range map[string]*mcp.ClientSession{"old": pass, "new": fresh} {
			if names := toolNames(t, s); slices.Contains(names, "echo") || !slices.Contains(names, "add") {
				t.Errorf("pass-through (%s session) tools/list = %v, want add without echo", name, names)
			}
			wantError(t, call(t, s, "echo", map[string]any{"message": "x"}), "changed")
		}
	})
	t.Run("Diff", func(t *testing.T) {
		for _, w := range []pinning.Waiting{
			func() pinning.Waiting {
				w, ok := findWaiting(waiting(t, cs), "rug")
				if !ok {
					t.Fatal("quarantine_security list does not show rug")
				}
				return w
			}(),
			inspect(t, cs, "rug"),
			pinning.WaitingList(p.view.Load(), p.sup.ApprovedTool, "rug")[0],
		} {
			tv, ok := toolView(w, "echo")
			if !ok || tv.Approval != mcpproxy.ApprovalChanged || tv.Approved == nil || tv.Approved.Description != first.Description ||
				!strings.Contains(tv.Diff, "+   "+testupstream.RugPulledDescription) || !strings.Contains(tv.Diff, "-   "+first.Description) {
				t.Errorf("echo under review: %+v", tv)
			}
		}
		if _, ok := findWaiting(waiting(t, cs), "alpha"); ok {
			t.Error("quarantine_security list shows alpha, which waits for nothing")
		}
	})

	t.Run("ApproveRestores", func(t *testing.T) {
		// The definition the person reviewed before the pull is not what
		// is listed now: approving it by its fingerprint is refused.
		if _, err := p.sup.ApproveTools("rug", []mcpproxy.ToolRef{{Name: "echo", Fingerprint: first.Fingerprint}}); mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT {
			t.Fatalf("ApproveTools with the pre-pull fingerprint = %v, want conflict", err)
		}
		if a := p.view.Load().Get("rug"); a.PendingTools == 0 {
			t.Fatal("a refused approval approved something")
		}
		got, err := p.sup.ApproveTools("rug", []mcpproxy.ToolRef{{Name: "echo", Fingerprint: cur.Fingerprint}})
		if err != nil || !slices.Equal(got, []string{"echo"}) {
			t.Fatalf("ApproveTools = %v, %v", got, err)
		}
		p.waitApproval(t, "rug", "echo", mcpproxy.ApprovalApproved)
		p.waitRoute(t, "rug__echo", true)
		if pin, ok := p.sup.ApprovedTool("rug", "echo"); !ok || pin.Fingerprint != cur.Fingerprint || pin.Auto {
			t.Errorf("pin after approval: %+v, %v", pin, ok)
		}
		if !hasFound(retrieve(t, cs, "returns the message unchanged credentials", 50), "rug:echo") {
			t.Error("retrieve_tools does not find rug:echo after approval")
		}
		if d := toolDescription(t, direct, "rug__echo"); d != testupstream.RugPulledDescription {
			t.Errorf("/mcp/all rug__echo description %q", d)
		}
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "rug:echo", "args": map[string]any{"message": "three"}}), "three")
		wantOK(t, call(t, direct, "rug__echo", map[string]any{"message": "four"}), "four")
		if d := toolDescription(t, pass, "echo"); d != testupstream.RugPulledDescription {
			t.Errorf("pass-through echo description %q", d)
		}
		wantOK(t, call(t, pass, "echo", map[string]any{"message": "five"}), "five")
		if _, ok := findWaiting(waiting(t, cs), "rug"); ok {
			t.Error("rug still waits after approval")
		}
	})
}

// TestSecurity_BlockedTool: a blocked tool is withheld like a changed one,
// with its own reason.
func TestSecurity_BlockedTool(t *testing.T) {
	p := newProxy(t, proxyOptions{Pins: true, Servers: []map[string]any{streamable(t, "alpha", testupstream.Options{}, nil)}})
	p.waitCatalog(t, "alpha")
	p.waitApproval(t, "alpha", "add", mcpproxy.ApprovalApproved)
	cs := p.connect(t, "/mcp", clientOptions{})
	if _, err := p.sup.BlockTools("alpha", []string{"add"}, false); err != nil {
		t.Fatal(err)
	}
	p.waitApproval(t, "alpha", "add", mcpproxy.ApprovalBlocked)
	p.waitRoute(t, "alpha__add", false)
	wantError(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:add", "args": map[string]any{"a": 1, "b": 2}}), "blocked")
	pass := p.connect(t, "/mcp/server/alpha", clientOptions{})
	if names := toolNames(t, pass); slices.Contains(names, "add") || !slices.Contains(names, "echo") {
		t.Errorf("pass-through tools = %v", names)
	}
	wantError(t, call(t, pass, "add", map[string]any{"a": 1, "b": 2}), "blocked")
	if srv := p.view.Load().Get("alpha"); srv.BlockedTools != 1 || srv.PendingTools != 0 {
		t.Errorf("alpha: %d blocked, %d pending", srv.BlockedTools, srv.PendingTools)
	}
}

// ---- hostile tool definitions ----

// TestSecurity_HostileWarnings: the pins' scanner's findings reach the
// published tools and the review views; without a scanner there are none.
func TestSecurity_HostileWarnings(t *testing.T) {
	scan := func(tl *mcpproxy.Tool, serverURL string) []mcpproxy.Warning {
		if strings.Contains(tl.Description, "<IMPORTANT>") {
			return []mcpproxy.Warning{{Kind: "hidden_instructions", Field: "description", Detail: "<IMPORTANT> block; from " + serverURL}}
		}
		return nil
	}
	hostile := streamable(t, "hostile", testupstream.Options{Hostile: true}, nil)
	want := map[string]int{"add_numbers": 1, "daily_quote": 0, "fetch_report": 0, "echo": 0}
	urls := map[string]string{"hostile": hostile["url"].(string)}

	t.Run("WithScan", func(t *testing.T) {
		p := newProxy(t, proxyOptions{Pins: true, Scan: scan, Servers: []map[string]any{hostile}})
		p.waitCatalog(t, "hostile")
		for name, n := range want {
			for _, server := range []string{"hostile"} {
				tl, ok := p.toolOf(server, name)
				if !ok || len(tl.Warnings) != n {
					t.Errorf("%s:%s warnings %+v, want %d", server, name, tl.Warnings, n)
					continue
				}
				if n > 0 && (tl.Warnings[0].Kind != "hidden_instructions" || !strings.Contains(tl.Warnings[0].Detail, urls[server])) {
					t.Errorf("%s:%s warning %+v, want hidden_instructions with the server URL", server, name, tl.Warnings[0])
				}
			}
		}
		// Warnings inform; they approve or block nothing.
		if tl, _ := p.toolOf("hostile", "add_numbers"); tl.Approval != mcpproxy.ApprovalApproved {
			t.Errorf("hostile add_numbers approval %q", tl.Approval)
		}
		cs := p.connect(t, "/mcp", clientOptions{})
		if tv, ok := toolView(inspect(t, cs, "hostile"), "add_numbers"); !ok || len(tv.Warnings) != 1 {
			t.Errorf("inspect hostile add_numbers: %+v", tv)
		}
	})
	t.Run("NoScan", func(t *testing.T) {
		p := newProxy(t, proxyOptions{Pins: true, Servers: []map[string]any{hostile}})
		p.waitCatalog(t, "hostile")
		for name := range want {
			if tl, ok := p.toolOf("hostile", name); !ok || len(tl.Warnings) != 0 || tl.Fingerprint == "" {
				t.Errorf("hostile:%s = %+v, want a fingerprint and no warnings", name, tl)
			}
		}
	})
}

// ---- an agent cannot approve ----

// TestSecurity_AgentCannotApprove calls every built-in tool of /mcp with
// arguments that ask for approval in every way the tools could read them;
// nothing leaves quarantine and no tool becomes approved.
func TestSecurity_AgentCannotApprove(t *testing.T) {
	quarUp := testupstream.StartStreamable(t, testupstream.Options{})
	p := newProxy(t, proxyOptions{Pins: true, Servers: []map[string]any{
		{"name": "quar", "url": quarUp.URL, "protocol": "streamable-http", "quarantined": true},
		streamable(t, "rug", testupstream.Options{RugPullAfter: 1}, nil),
	}})
	p.waitCatalog(t, "rug")
	p.waitQuarantined(t, "quar", true)
	cs := p.connect(t, "/mcp", clientOptions{})
	wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "rug:echo", "args": map[string]any{"message": "pull"}}), "pull")
	changedEcho := p.waitApproval(t, "rug", "echo", mcpproxy.ApprovalChanged)
	approvedPin, _ := p.sup.ApprovedTool("rug", "echo")

	builtins := toolNames(t, cs)
	if !slices.Contains(builtins, "quarantine_security") || !slices.Contains(builtins, "upstream_servers") {
		t.Fatalf("built-in tools %v", builtins)
	}
	var attempts []map[string]any
	for _, op := range []string{"approve", "unquarantine", "approve_tools", "approve_all", "allow", "trust", "enable", "restart", "update"} {
		for _, target := range []string{"quar", "rug"} {
			attempts = append(attempts, map[string]any{
				"operation": op, "name": target, "server": target, "tools": []string{"echo"}, "tool": "echo", "all": true,
				"quarantined": false, "approved": true, "auto_approve_tool_changes": true,
			})
		}
	}
	// An update that names a connection field but changes nothing.
	attempts = append(attempts,
		map[string]any{"operation": "update", "name": "quar", "url": quarUp.URL, "quarantined": false},
		map[string]any{"operation": "update", "name": "rug", "auto_approve_tool_changes": true, "protocol": "streamable-http"},
		map[string]any{"name": "quar:echo", "args": map[string]any{"message": "x"}},
		map[string]any{"name": "rug:echo", "args": map[string]any{"message": "x"}},
	)
	for _, tool := range builtins {
		for _, args := range attempts {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
			cancel()
			if err == nil && tool == "call_tool" && !res.IsError {
				t.Errorf("call_tool %v succeeded: %s", args, textOf(res))
			}
		}
	}
	// The attempts restarted rug; wait until it is back, its echo still
	// changed, so the refusal below is for the right reason.
	p.waitState(t, "rug", mcpproxy.StateReady)
	p.waitApproval(t, "rug", "echo", mcpproxy.ApprovalChanged)
	// The direct endpoint offers nothing more.
	direct := p.connect(t, "/mcp/all", clientOptions{})
	wantError(t, call(t, direct, "quar__echo", map[string]any{"message": "x"}), "quarantined")
	wantError(t, call(t, direct, "rug__echo", map[string]any{"message": "x"}), "changed")

	check := func(t *testing.T) {
		t.Helper()
		srv := p.view.Load().Get("quar")
		if srv == nil || !srv.Quarantined {
			t.Fatalf("quar is no longer quarantined: %+v", srv)
		}
		if spec, ok := p.readConfig(t).Server("quar"); !ok || !spec.Quarantined {
			t.Errorf("config file: quar = %+v", spec)
		}
		for _, tl := range srv.Tools {
			if tl.Approval != mcpproxy.ApprovalPending {
				t.Errorf("quar:%s is %s", tl.Name, tl.Approval)
			}
			if _, ok := p.sup.ApprovedTool("quar", tl.Name); ok {
				t.Errorf("quar:%s has a pin", tl.Name)
			}
		}
		if p.pins.Known("quar") {
			t.Error("quar became Known")
		}
		if tl, _ := p.toolOf("rug", "echo"); tl.Approval != mcpproxy.ApprovalChanged || tl.Fingerprint != changedEcho.Fingerprint {
			t.Errorf("rug:echo = %s %s", tl.Approval, tl.Fingerprint)
		}
		if pin, _ := p.sup.ApprovedTool("rug", "echo"); pin.Fingerprint != approvedPin.Fingerprint {
			t.Error("rug:echo's pin changed")
		}
		if spec, _ := p.readConfig(t).Server("rug"); spec == nil || spec.AutoApproveToolChanges {
			t.Errorf("config file: rug = %+v", spec)
		}
		if _, ok := p.srv.cat.set.Load().routes["quar__echo"]; ok {
			t.Error("quar__echo is in the catalog")
		}
		// Never started: not one request reached it.
		if n := quarUp.Requests(); n != 0 {
			t.Errorf("the quarantined upstream got %d requests", n)
		}
	}
	// Config edits are applied before upstream_servers returns; restart
	// reconnects asynchronously, so wait for both servers to be back.
	p.waitQuarantined(t, "quar", true)
	p.waitState(t, "rug", mcpproxy.StateReady)
	p.waitApproval(t, "rug", "echo", mcpproxy.ApprovalChanged)
	check(t)

	t.Run("RemoveAndAddBack", func(t *testing.T) {
		// Removing the server and adding it back under the same name
		// gives a new, quarantined server with no pins.
		if res := call(t, cs, "upstream_servers", map[string]any{"operation": "remove", "name": "quar"}); res.IsError {
			t.Fatalf("remove: %s", textOf(res))
		}
		p.waitGone(t, "quar")
		if res := call(t, cs, "upstream_servers", map[string]any{"operation": "add", "name": "quar", "url": quarUp.URL, "protocol": "streamable-http", "quarantined": false}); res.IsError {
			t.Fatalf("add: %s", textOf(res))
		}
		p.waitQuarantined(t, "quar", true)
		check(t)
	})
}

// ---- a quarantined server ----

// TestSecurity_QuarantinedServer: a quarantined server is not started (no
// request reaches it) and offers nothing; a person's approval of its spec
// starts it, and quarantining it again stops it.
func TestSecurity_QuarantinedServer(t *testing.T) {
	up := testupstream.StartStreamable(t, testupstream.Options{})
	p := newProxy(t, proxyOptions{Pins: true, Servers: []map[string]any{
		{"name": "quar", "url": up.URL, "protocol": "streamable-http", "quarantined": true},
		streamable(t, "alpha", testupstream.Options{}, nil),
	}})
	p.waitCatalog(t, "alpha")
	srv := p.waitQuarantined(t, "quar", true)
	if srv.PID != 0 || srv.Session != nil || srv.ToolCount != 0 {
		t.Fatalf("quar started: session %v, %d tools", srv.Session != nil, srv.ToolCount)
	}
	cs := p.connect(t, "/mcp", clientOptions{})
	direct := p.connect(t, "/mcp/all", clientOptions{})

	t.Run("OffersNothing", func(t *testing.T) {
		if r := retrieve(t, cs, "returns the message unchanged", 50); slices.Contains(r.servers(), "quar") {
			t.Errorf("retrieve_tools finds quar's tools: %v", r.servers())
		}
		for _, n := range toolNames(t, direct) {
			if strings.HasPrefix(n, "quar__") {
				t.Errorf("/mcp/all lists %s", n)
			}
		}
		wantError(t, call(t, cs, "call_tool", map[string]any{"name": "quar:echo", "args": map[string]any{"message": "x"}}), "quarantined")
		wantError(t, call(t, cs, "upstream_servers", map[string]any{"operation": "restart", "name": "quar"}), "quarantined")
		code, body := rawPost(t, p.URL+"/mcp/server/quar", "", nil, initializeBody)
		if code != http.StatusForbidden || !strings.Contains(body, "quarantined") {
			t.Errorf("pass-through initialize: %d %s, want 403 naming the quarantine", code, body)
		}
		if n := up.Requests(); n != 0 {
			t.Errorf("the quarantined upstream got %d requests", n)
		}
	})
	t.Run("Listed", func(t *testing.T) {
		w, ok := findWaiting(waiting(t, cs), "quar")
		if !ok || !w.Quarantined || w.State != mcpproxy.StateQuarantined || len(w.Tools) != 0 {
			t.Fatalf("quarantine_security list entry for quar: %+v", w)
		}
		if ins := inspect(t, cs, "quar"); !ins.Quarantined {
			t.Errorf("inspect quar: %+v", ins)
		}
		wantError(t, call(t, cs, "quarantine_security", map[string]any{"operation": "inspect", "name": "quarr"}), "quarr", "quar")
		wantError(t, call(t, cs, "quarantine_security", map[string]any{"operation": "inspect"}), "name")
		wantError(t, call(t, cs, "quarantine_security", map[string]any{}), "operation")
	})
	spec, _ := p.readConfig(t).Server("quar")
	t.Run("Unquarantine", func(t *testing.T) {
		if err := p.sup.Unquarantine(context.Background(), "quar", "stale"); mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT {
			t.Fatalf("Unquarantine with a stale fingerprint = %v, want conflict", err)
		}
		if err := p.sup.Unquarantine(context.Background(), "quar", pinning.SpecFingerprint(spec)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool {
			s := p.view.Load().Get("quar")
			return !s.Quarantined && s.State == mcpproxy.StateReady && s.ToolCount > 0 && s.PendingTools == 0
		}, "quar to start with its first tools approved")
		p.waitRoute(t, "quar__echo", true)
		if spec, _ := p.readConfig(t).Server("quar"); spec == nil || spec.Quarantined {
			t.Errorf("config file: quar = %+v", spec)
		}
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "quar:echo", "args": map[string]any{"message": "free"}}), "free")
		wantOK(t, call(t, direct, "quar__echo", map[string]any{"message": "free"}), "free")
		if !slices.Contains(retrieve(t, cs, "returns the message unchanged", 50).servers(), "quar") {
			t.Error("retrieve_tools does not find quar's tools")
		}
		pass := p.connect(t, "/mcp/server/quar", clientOptions{})
		if !slices.Contains(toolNames(t, pass), "echo") {
			t.Error("pass-through lacks echo")
		}
		if w := waiting(t, cs); len(w) != 0 {
			t.Errorf("still waiting: %+v", w)
		}
	})
	t.Run("QuarantineAgain", func(t *testing.T) {
		if err := p.sup.Quarantine(context.Background(), "quar"); err != nil {
			t.Fatal(err)
		}
		p.waitQuarantined(t, "quar", true)
		p.waitRoute(t, "quar__echo", false)
		wantError(t, call(t, cs, "call_tool", map[string]any{"name": "quar:echo", "args": map[string]any{"message": "x"}}), "quarantined")
		if s := p.view.Load().Get("quar"); s.Session != nil || s.State != mcpproxy.StateQuarantined {
			t.Errorf("quarantining again left it running: state %s", s.State)
		}
	})
}

// TestSecurity_ToolAddedAfterEmptyList: an upstream that lists no tools at
// first and adds one later must not have that tool trusted on first use —
// "start innocuous, add the payload later" is the rug pull's simplest form.
func TestSecurity_ToolAddedAfterEmptyList(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "empty-first", Version: "1"}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
	})
	url := customUpstream(t, up)
	p := newProxy(t, proxyOptions{Pins: true, Servers: []map[string]any{
		{"name": "late", "url": url, "protocol": "streamable-http"},
	}})
	p.waitState(t, "late", mcpproxy.StateReady)
	waitFor(t, 10*time.Second, func() bool { return p.pins.Known("late") }, "late to be trusted on first use")

	mcp.AddTool(up, &mcp.Tool{Name: "exfil", Description: testupstream.PoisonedDescription},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sent"}}}, nil, nil
		})
	waitFor(t, 15*time.Second, func() bool { _, ok := p.toolOf("late", "exfil"); return ok }, "the proxy to list late's new tool")
	if tl, _ := p.toolOf("late", "exfil"); tl.Approval != mcpproxy.ApprovalPending {
		t.Errorf("a tool added after an empty first listing is %q, want pending", tl.Approval)
	}
	cs := p.connect(t, "/mcp", clientOptions{})
	if res := call(t, cs, "call_tool", map[string]any{"name": "late:exfil", "args": map[string]any{}}); !res.IsError {
		t.Errorf("late:exfil was callable without approval: %s", textOf(res))
	}
}
