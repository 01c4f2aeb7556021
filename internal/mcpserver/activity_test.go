package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// allRecords pages through every committed record matching f, limit
// records a page, and fails unless the pages hold each record once, in
// strictly descending ID order, each full but the last.
func allRecords(tb testing.TB, l *activity.Log, f activity.Filter, limit int) []activity.Record {
	tb.Helper()
	l.Flush()
	f.Limit = limit
	var out []activity.Record
	for pages := 0; ; pages++ {
		if pages > 100000 {
			tb.Fatalf("paging does not end: %d records so far", len(out))
		}
		page, err := l.List(f)
		if err != nil {
			tb.Fatalf("List(%+v): %v", f, err)
		}
		for _, r := range page.Records {
			if n := len(out); n > 0 && r.ID >= out[n-1].ID {
				tb.Fatalf("record %s follows %s: IDs not strictly descending (page %d)", r.ID, out[n-1].ID, pages)
			}
			out = append(out, r)
		}
		if page.NextCursor == "" {
			return out
		}
		if len(page.Records) != limit {
			tb.Fatalf("page %d has %d records and a next cursor, want %d", pages, len(page.Records), limit)
		}
		if last := page.Records[len(page.Records)-1].ID; page.NextCursor != last {
			tb.Fatalf("page %d: next cursor %s, want the last record's ID %s", pages, page.NextCursor, last)
		}
		f.Cursor = page.NextCursor
	}
}

// waitRecord waits until exactly one committed record matches and returns
// it. Records of calls whose client gave up are written when the proxy's
// handler returns, which may be after the client's call did.
func waitRecord(tb testing.TB, l *activity.Log, what string, match func(r *activity.Record) bool) activity.Record {
	tb.Helper()
	var found []activity.Record
	waitFor(tb, 15*time.Second, func() bool {
		found = found[:0]
		for _, r := range allRecords(tb, l, activity.Filter{}, activity.MaxLimit) {
			if match(&r) {
				found = append(found, r)
			}
		}
		return len(found) > 0
	}, "an activity record for %s", what)
	if len(found) != 1 {
		tb.Fatalf("%d activity records for %s, want 1: %+v", len(found), what, found)
	}
	return found[0]
}

// argString returns the string argument key of a record, or "".
func argString(r *activity.Record, key string) string {
	var m map[string]any
	if json.Unmarshal(r.Arguments, &m) != nil {
		return ""
	}
	s, _ := m[key].(string)
	return s
}

// TestActivity_ConcurrentCalls: a thousand tool calls at once, over twenty
// sessions on the three MCP endpoints, leave exactly a thousand records,
// each saying who called what where, and paging finds each once.
func TestActivity_ConcurrentCalls(t *testing.T) {
	const sessions, perSession = 20, 50
	p := newProxy(t, proxyOptions{Activity: true, Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{Tools: 1}, nil),
		streamable(t, "beta", testupstream.Options{Tools: 1}, nil),
	}})
	p.waitCatalog(t, "alpha", "beta")
	for _, id := range []string{"alpha__echo", "alpha__tool_0", "beta__echo", "beta__tool_0"} {
		p.waitRoute(t, id, true)
	}

	// want is what the record of the call with one unique value must say.
	type want struct {
		endpoint, server, tool, key string
		client, session             string
		resultSize                  int
	}
	var (
		wants = map[string]want{}
		css   []*mcp.ClientSession
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for s := range sessions {
		var path, passServer string
		switch s % 3 {
		case 0:
			path = "/mcp"
		case 1:
			path = "/mcp/all"
		case 2:
			passServer = []string{"alpha", "beta"}[s/3%2]
			path = "/mcp/server/" + passServer
		}
		client := fmt.Sprintf("client-%02d", s)
		cs := p.connect(t, path, clientOptions{impl: &mcp.Implementation{Name: client, Version: "v" + client}})
		if cs.ID() == "" {
			t.Fatalf("session %d on %s has no session id", s, path)
		}
		css = append(css, cs)
		for c := range perSession {
			value := fmt.Sprintf("unique-%02d-%03d", s, c)
			server := []string{"alpha", "beta"}[c%2]
			if passServer != "" {
				server = passServer
			}
			tool, key := "echo", "message"
			if c%3 == 0 {
				tool, key = "tool_0", "value"
			}
			args := map[string]any{key: value}
			wantText := value
			if tool == "tool_0" {
				wantText = `{"value":"` + value + `"}`
			}
			var params *mcp.CallToolParams
			switch path {
			case "/mcp":
				params = &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": server + ":" + tool, "args": args}}
			case "/mcp/all":
				params = &mcp.CallToolParams{Name: server + "__" + tool, Arguments: args}
			default:
				params = &mcp.CallToolParams{Name: tool, Arguments: args}
			}
			wants[value] = want{endpoint: path, server: server, tool: tool, key: key,
				client: client, session: cs.ID(), resultSize: len(wantText)}
			wg.Go(func() {
				res, err := cs.CallTool(ctx, params)
				switch {
				case err != nil:
					t.Errorf("%s %s: %v", path, params.Name, err)
				case res.IsError || textOf(res) != wantText:
					t.Errorf("%s %s: %q (isError %v), want %q", path, params.Name, textOf(res), res.IsError, wantText)
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	p.act.Flush()
	if d := p.act.Dropped(); d != 0 {
		t.Errorf("%d records dropped", d)
	}

	recs := allRecords(t, p.act, activity.Filter{}, 37)
	if len(recs) != sessions*perSession {
		t.Errorf("%d records, want %d", len(recs), sessions*perSession)
	}
	seen := map[string]int{}
	for _, r := range recs {
		var args map[string]any
		if err := json.Unmarshal(r.Arguments, &args); err != nil || len(args) != 1 {
			t.Errorf("record %s: arguments %s (%v), want one argument", r.ID, r.Arguments, err)
			continue
		}
		var value string
		for _, v := range args {
			value, _ = v.(string)
		}
		seen[value]++
		w, ok := wants[value]
		if !ok {
			t.Errorf("record %s: argument %s is no call's", r.ID, r.Arguments)
			continue
		}
		if r.Kind != activity.KindToolCall || r.Status != activity.StatusOK || r.Error != "" ||
			r.Endpoint != w.endpoint || r.Server != w.server || r.Tool != w.tool || argString(&r, w.key) != value ||
			r.Client.Name != w.client || r.Client.Version != "v"+w.client || r.Client.SessionID != w.session ||
			r.ResultSize != w.resultSize || r.Time.IsZero() || r.DurationMS < 0 {
			t.Errorf("record for %s: %+v\nwant %+v", value, r, w)
		}
		if got, err := p.act.Get(r.ID); err != nil || got.ID != r.ID || string(got.Arguments) != string(r.Arguments) || got.Client != r.Client {
			t.Errorf("Get(%s) = %+v, %v; listed as %+v", r.ID, got, err, r)
		}
	}
	for value := range wants {
		if seen[value] != 1 {
			t.Errorf("argument %s recorded %d times, want once", value, seen[value])
		}
	}

	t.Run("SessionsEnd", func(t *testing.T) {
		for _, cs := range css {
			cs.Close()
		}
		count := func(srv *mcp.Server) int {
			n := 0
			for range srv.Sessions() {
				n++
			}
			return n
		}
		waitFor(t, 15*time.Second, func() bool {
			p.srv.mu.Lock()
			pass := len(p.srv.servers)
			p.srv.mu.Unlock()
			return count(p.srv.smart) == 0 && count(p.srv.direct) == 0 && pass == 0
		}, "the proxy to forget every closed session")
	})
}

// TestActivity_Statuses: each way a call can end is recorded with its own
// status, on each endpoint that can end that way.
func TestActivity_Statuses(t *testing.T) {
	started := make(chan struct{}, 1)
	hang := mcp.NewServer(&mcp.Implementation{Name: "hang"}, nil)
	hang.AddTool(&mcp.Tool{Name: "hang", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		})
	p := newProxy(t, proxyOptions{Activity: true, Pins: true, Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{}, nil),
		streamable(t, "rug", testupstream.Options{RugPullAfter: 1}, nil),
		streamable(t, "slow", testupstream.Options{}, map[string]any{"call_timeout": "300ms"}),
		{"name": "hung", "url": customUpstream(t, hang), "protocol": "streamable-http"},
		streamable(t, "quar", testupstream.Options{}, map[string]any{"quarantined": true}),
		{"name": "broken", "command": "/nonexistent/mcpproxy-test-command"},
	}})
	p.waitCatalog(t, "alpha", "rug", "slow", "hung")
	p.waitQuarantined(t, "quar", true)
	p.waitState(t, "broken", mcpproxy.StateError)
	for _, id := range []string{"alpha__fail", "slow__sleep", "hung__hang", "rug__echo"} {
		p.waitRoute(t, id, true)
	}
	cs := p.connect(t, "/mcp", clientOptions{})
	direct := p.connect(t, "/mcp/all", clientOptions{})
	pass := map[string]*mcp.ClientSession{}
	for _, name := range []string{"alpha", "rug", "slow", "hung"} {
		pass[name] = p.connect(t, "/mcp/server/"+name, clientOptions{})
	}

	// via calls server:tool with args through one endpoint and returns the
	// protocol error, if any.
	via := func(endpoint, server, tool string, args map[string]any) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		switch endpoint {
		case "/mcp":
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": server + ":" + tool, "args": args}})
		case "/mcp/all":
			_, err = direct.CallTool(ctx, &mcp.CallToolParams{Name: server + "__" + tool, Arguments: args})
		default:
			_, err = pass[server].CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
		}
		return err
	}
	endpointOf := func(via, server string) string {
		if via == "pass" {
			return "/mcp/server/" + server
		}
		return via
	}
	// checkBy waits for the one record a call left and checks what it
	// says.
	checkBy := func(t *testing.T, what string, match func(r *activity.Record) bool, endpoint, server, tool, status, errText string) {
		t.Helper()
		r := waitRecord(t, p.act, what, match)
		if r.Kind != activity.KindToolCall || r.Endpoint != endpoint || r.Server != server || r.Tool != tool ||
			r.Status != status || r.Client.Name != "test-client" || r.Client.SessionID == "" {
			t.Errorf("record %+v\nwant endpoint %s, %s:%s, status %s, client test-client", r, endpoint, server, tool, status)
		}
		if !strings.Contains(r.Error, errText) || (errText == "") != (r.Error == "") {
			t.Errorf("record for %s: error %q, want it to mention %q", what, r.Error, errText)
		}
	}
	// check finds the record by its unique marker: the "marker" argument of
	// calls the proxy refuses or the hang tool (which takes any object), or
	// the message of echo (the test upstream's tools take no other
	// argument).
	check := func(t *testing.T, endpoint, server, tool, marker, status, errText string) {
		t.Helper()
		checkBy(t, marker, func(r *activity.Record) bool {
			return argString(r, "marker") == marker || argString(r, "message") == marker
		}, endpoint, server, tool, status, errText)
	}
	// checkOnly finds the record as the only one of its endpoint, server
	// and tool.
	checkOnly := func(t *testing.T, endpoint, server, tool, status, errText string) {
		t.Helper()
		checkBy(t, endpoint+" "+server+":"+tool, func(r *activity.Record) bool {
			return r.Endpoint == endpoint && r.Server == server && r.Tool == tool
		}, endpoint, server, tool, status, errText)
	}
	endpoints := []string{"/mcp", "/mcp/all", "pass"}
	n := 0
	marker := func(name string) string {
		n++
		return fmt.Sprintf("%s-%d", name, n)
	}

	t.Run("OK", func(t *testing.T) {
		for _, ep := range endpoints {
			m := marker("ok")
			if err := via(ep, "alpha", "echo", map[string]any{"message": m}); err != nil {
				t.Fatalf("%s: %v", ep, err)
			}
			check(t, endpointOf(ep, "alpha"), "alpha", "echo", m, activity.StatusOK, "")
		}
	})
	t.Run("ToolError", func(t *testing.T) {
		// fail takes no arguments, so its calls carry no marker.
		for _, ep := range endpoints {
			if err := via(ep, "alpha", "fail", nil); err != nil {
				t.Fatalf("%s: %v", ep, err)
			}
			checkOnly(t, endpointOf(ep, "alpha"), "alpha", "fail", activity.StatusToolError, "boom")
		}
	})
	t.Run("UnknownTool", func(t *testing.T) {
		for _, ep := range endpoints {
			m := marker("unknown")
			if err := via(ep, "alpha", "nope", map[string]any{"marker": m}); err != nil {
				t.Fatalf("%s: %v", ep, err)
			}
			check(t, endpointOf(ep, "alpha"), "alpha", "nope", m, activity.StatusError, "unknown tool")
		}
	})
	t.Run("UnknownServer", func(t *testing.T) {
		for _, ep := range []string{"/mcp", "/mcp/all"} {
			m := marker("ghost")
			if err := via(ep, "ghost", "echo", map[string]any{"marker": m}); err != nil {
				t.Fatalf("%s: %v", ep, err)
			}
			check(t, ep, "ghost", "echo", m, activity.StatusError, "unknown server")
		}
	})
	t.Run("NotReady", func(t *testing.T) {
		for _, ep := range []string{"/mcp", "/mcp/all"} {
			m := marker("broken")
			if err := via(ep, "broken", "echo", map[string]any{"marker": m}); err != nil {
				t.Fatalf("%s: %v", ep, err)
			}
			check(t, ep, "broken", "echo", m, activity.StatusError, "not ready")
		}
	})
	t.Run("BlockedQuarantinedServer", func(t *testing.T) {
		for _, ep := range []string{"/mcp", "/mcp/all"} {
			m := marker("quar")
			if err := via(ep, "quar", "echo", map[string]any{"message": "x", "marker": m}); err != nil {
				t.Fatalf("%s: %v", ep, err)
			}
			check(t, ep, "quar", "echo", m, activity.StatusBlocked, "quarantined")
		}
	})
	t.Run("BlockedChangedTool", func(t *testing.T) {
		m := marker("rug-first")
		if err := via("/mcp", "rug", "echo", map[string]any{"message": m}); err != nil {
			t.Fatal(err)
		}
		check(t, "/mcp", "rug", "echo", m, activity.StatusOK, "")
		p.waitApproval(t, "rug", "echo", mcpproxy.ApprovalChanged)
		for _, ep := range endpoints {
			m := marker("rug")
			if err := via(ep, "rug", "echo", map[string]any{"message": "x", "marker": m}); err != nil {
				t.Fatalf("%s: %v", ep, err)
			}
			check(t, endpointOf(ep, "rug"), "rug", "echo", m, activity.StatusBlocked, "changed")
		}
	})
	t.Run("BlockedByPerson", func(t *testing.T) {
		if _, err := p.sup.BlockTools("alpha", []string{"add"}, false); err != nil {
			t.Fatal(err)
		}
		p.waitApproval(t, "alpha", "add", mcpproxy.ApprovalBlocked)
		for _, ep := range endpoints {
			m := marker("blocked")
			if err := via(ep, "alpha", "add", map[string]any{"a": 1, "b": 2, "marker": m}); err != nil {
				t.Fatalf("%s: %v", ep, err)
			}
			check(t, endpointOf(ep, "alpha"), "alpha", "add", m, activity.StatusBlocked, "blocked")
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		for _, ep := range endpoints {
			// The proxy's call timeout ends the call; the upstream would
			// sleep for a minute.
			// Every endpoint says so in a tool error of the proxy's.
			if err := via(ep, "slow", "sleep", map[string]any{"ms": 60000}); err != nil {
				t.Errorf("%s: protocol error %v", ep, err)
			}
			checkOnly(t, endpointOf(ep, "slow"), "slow", "sleep", activity.StatusTimeout, "timed out after 300ms")
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		for _, ep := range endpoints {
			m := marker("cancel")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				var err error
				args := map[string]any{"marker": m}
				switch ep {
				case "/mcp":
					_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": "hung:hang", "args": args}})
				case "/mcp/all":
					_, err = direct.CallTool(ctx, &mcp.CallToolParams{Name: "hung__hang", Arguments: args})
				default:
					_, err = pass["hung"].CallTool(ctx, &mcp.CallToolParams{Name: "hang", Arguments: args})
				}
				done <- err
			}()
			select {
			case <-started:
			case <-time.After(15 * time.Second):
				cancel()
				t.Fatalf("%s: the call never reached its upstream", ep)
			}
			cancel()
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("%s: cancelled call returned no error", ep)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("%s: cancelled call did not return", ep)
			}
			check(t, endpointOf(ep, "hung"), "hung", "hang", m, activity.StatusCancelled, "cancelled by the client")
		}
	})
}

// TestActivity_Management: upstream_servers actions are management records
// of /mcp naming the action, the server and the client; list is not an
// action; a refused action is an error record.
func TestActivity_Management(t *testing.T) {
	p := newProxy(t, proxyOptions{Activity: true, Servers: []map[string]any{
		streamable(t, "off", testupstream.Options{}, map[string]any{"enabled": false}),
	}})
	p.waitState(t, "off", mcpproxy.StateDisabled)
	cs := p.connect(t, "/mcp", clientOptions{impl: &mcp.Implementation{Name: "agent", Version: "7"}})
	path, env := testupstream.Command(testupstream.ModeOK, nil)
	env["GITHUB_TOKEN"] = "ghp_" + strings.Repeat("a1B2", 10)

	for _, tc := range []struct {
		args   map[string]any
		action string
		server string
		status string
	}{
		{map[string]any{"operation": "list"}, "", "", ""},
		{map[string]any{"operation": "add", "name": "added", "command": path, "env": env}, "add", "added", activity.StatusOK},
		{map[string]any{"operation": "enable", "name": "off"}, "enable", "off", activity.StatusOK},
		{map[string]any{"operation": "enable", "name": "ghost"}, "enable", "ghost", activity.StatusError},
	} {
		call(t, cs, "upstream_servers", tc.args)
	}
	p.waitState(t, "off", mcpproxy.StateReady)
	p.waitQuarantined(t, "added", false)

	recs := allRecords(t, p.act, activity.Filter{}, 10)
	slices.Reverse(recs)
	type got struct{ kind, endpoint, action, server, status string }
	var list []got
	for _, r := range recs {
		list = append(list, got{r.Kind, r.Endpoint, r.Action, r.Server, r.Status})
		if r.Client.Name != "agent" || r.Client.Version != "7" || r.Client.SessionID != cs.ID() {
			t.Errorf("record %s %s: client %+v, want agent 7 of session %s", r.Action, r.Server, r.Client, cs.ID())
		}
		if argString(&r, "operation") != r.Action || argString(&r, "name") != r.Server {
			t.Errorf("record %s %s: arguments %s", r.Action, r.Server, r.Arguments)
		}
		if (r.Status == activity.StatusError) != (r.Error != "") {
			t.Errorf("record %s %s: status %s, error %q", r.Action, r.Server, r.Status, r.Error)
		}
		if strings.Contains(string(r.Arguments), env["GITHUB_TOKEN"]) {
			t.Errorf("record %s %s keeps a token: %s", r.Action, r.Server, r.Arguments)
		}
	}
	want := []got{
		{activity.KindManagement, "/mcp", "add", "added", activity.StatusOK},
		{activity.KindManagement, "/mcp", "enable", "off", activity.StatusOK},
		{activity.KindManagement, "/mcp", "enable", "ghost", activity.StatusError},
	}
	if !slices.Equal(list, want) {
		t.Errorf("records (oldest first):\n%+v\nwant\n%+v", list, want)
	}
}

// TestActivity_PassthroughRefusalRecorded: a tool call on a pass-through
// session whose server was quarantined after the session opened is refused,
// and the refusal is a blocked record like on the other endpoints.
func TestActivity_PassthroughRefusalRecorded(t *testing.T) {
	p := newProxy(t, proxyOptions{Activity: true, Servers: []map[string]any{
		streamable(t, "late", testupstream.Options{}, nil),
	}})
	p.waitCatalog(t, "late")
	pass := p.connect(t, "/mcp/server/late", clientOptions{})
	wantOK(t, call(t, pass, "echo", map[string]any{"message": "before"}), "before")
	if err := p.sup.Quarantine(context.Background(), "late"); err != nil {
		t.Fatal(err)
	}
	p.waitQuarantined(t, "late", false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := pass.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "after"}})
	if err == nil && !res.IsError {
		t.Fatalf("pass-through call to a quarantined server succeeded: %q", textOf(res))
	}
	t.Logf("refused call: %v", err)
	r := waitRecord(t, p.act, "the refused call", func(r *activity.Record) bool { return argString(r, "message") == "after" })
	if r.Endpoint != "/mcp/server/late" || r.Server != "late" || r.Tool != "echo" || r.Status != activity.StatusBlocked || !strings.Contains(r.Error, "quarantined") {
		t.Errorf("record %+v, want a blocked call of late:echo on /mcp/server/late", r)
	}
}

// recordsShowing returns the committed records whose JSON holds s.
func recordsShowing(tb testing.TB, l *activity.Log, s string) []string {
	tb.Helper()
	var out []string
	for _, r := range allRecords(tb, l, activity.Filter{}, activity.MaxLimit) {
		b, err := json.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		if strings.Contains(string(b), s) {
			out = append(out, string(b))
		}
	}
	return out
}

// TestActivity_SecretInToolNameMasked: a client that puts a secret value
// into the tool name (a model that folds the arguments into the name, say)
// gets an unknown-tool error; the record of that call must not keep the
// value, in the tool field any more than in the error text.
func TestActivity_SecretInToolNameMasked(t *testing.T) {
	const secret = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	t.Setenv("MCPPROXY_TEST_TOOLNAME_SECRET", secret)
	p := newProxy(t, proxyOptions{Activity: true, Servers: []map[string]any{
		streamable(t, "vault", testupstream.Options{}, map[string]any{
			"headers": map[string]string{"Authorization": "Bearer ${env:MCPPROXY_TEST_TOOLNAME_SECRET}"}}),
	}})
	p.waitCatalog(t, "vault")
	if got := p.sup.Redact("x " + secret); got != "x ***" {
		t.Fatalf("the supervisor does not know the secret: Redact = %q", got)
	}
	cs := p.connect(t, "/mcp", clientOptions{})
	direct := p.connect(t, "/mcp/all", clientOptions{})
	pass := p.connect(t, "/mcp/server/vault", clientOptions{})
	wantError(t, call(t, cs, "call_tool", map[string]any{"name": `vault:echo {"api_key":"` + secret + `"}`}), "unknown tool")
	wantError(t, call(t, direct, "vault__"+secret, map[string]any{}), "unknown tool")
	wantError(t, call(t, pass, secret, map[string]any{}), "unknown tool")
	p.act.Flush()
	for _, r := range recordsShowing(t, p.act, secret) {
		t.Errorf("activity record shows the secret: %s", r)
	}
}

// TestActivity_SecretOfServerWithUnsetVariableMasked: a server whose env
// names a set secret and an unset variable cannot start, but the secret is
// still a secret: a call that carries it under a neutral key is recorded
// masked, as it is once the other variable is set.
func TestActivity_SecretOfServerWithUnsetVariableMasked(t *testing.T) {
	const secret = "tok-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	t.Setenv("MCPPROXY_TEST_HALF_SECRET", secret)
	p := newProxy(t, proxyOptions{Activity: true, Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{}, nil),
		{"name": "half", "command": "/bin/true", "env": map[string]string{
			"TOKEN": "${env:MCPPROXY_TEST_HALF_SECRET}", "OTHER": "${env:MCPPROXY_TEST_HALF_UNSET}"}},
	}})
	p.waitCatalog(t, "alpha")
	if srv := p.waitState(t, "half", mcpproxy.StateError); !strings.Contains(srv.LastError, "MCPPROXY_TEST_HALF_UNSET} is not set") {
		t.Fatalf("half: last_error %q", srv.LastError)
	}
	cs := p.connect(t, "/mcp", clientOptions{})
	wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "see " + secret}}), "see "+secret)
	p.act.Flush()
	for _, r := range recordsShowing(t, p.act, secret) {
		t.Errorf("activity record shows the secret: %s", r)
	}
}
