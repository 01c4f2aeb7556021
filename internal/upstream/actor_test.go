package upstream_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestActor_StdioReady(t *testing.T) {
	checkLeaks(t)
	h := startActor(t, stdioSpec(testupstream.ModeOK, map[string]string{testupstream.EnvTools: "3"}), nil)
	srv := h.waitState(t, 20*time.Second, mcpproxy.StateReady)
	h.rec.WaitLast(t, serverName, mcpproxy.StateReady)

	if got := h.rec.States(serverName); len(got) < 2 || got[0] != mcpproxy.StateConnecting || got[len(got)-1] != mcpproxy.StateReady {
		t.Errorf("states = %v, want connecting … ready", got)
	}
	want := []string{"add", "add_tool", "echo", "fail", "remove_tool", "sleep", "tool_0", "tool_1", "tool_2"}
	if got := toolNames(srv); !slices.Equal(got, want) {
		t.Errorf("tools = %v, want %v", got, want)
	}
	if srv.ToolCount != len(want) {
		t.Errorf("tool_count = %d, want %d", srv.ToolCount, len(want))
	}
	for _, tool := range srv.Tools {
		if len(tool.InputSchema) == 0 {
			t.Errorf("tool %s has no input schema", tool.Name)
		}
	}
	if srv.PID <= 0 || processGone(srv.PID) {
		t.Errorf("pid = %d, want a running process", srv.PID)
	}
	if !slices.Contains(liveChildren(), srv.PID) {
		t.Errorf("pid %d is not among this test's children %v", srv.PID, liveChildren())
	}
	if srv.ServerInfo == nil || srv.ServerInfo.Name != "testupstream" || srv.ServerInfo.Version != testupstream.Version {
		t.Errorf("server_info = %+v", srv.ServerInfo)
	}
	if srv.ProtocolVersion == "" || srv.ConnectedAt == nil || srv.Protocol != mcpproxy.ProtocolStdio {
		t.Errorf("protocol_version %q, connected_at %v, protocol %q", srv.ProtocolVersion, srv.ConnectedAt, srv.Protocol)
	}
	if got, err := testupstream.CallText(t, srv.Session, "echo", map[string]any{"message": "through the actor"}); err != nil || got != "through the actor" {
		t.Errorf("echo = %q, %v", got, err)
	}
	if got, err := testupstream.CallText(t, srv.Session, "add", map[string]any{"a": 2, "b": 40}); err != nil || got != "42" {
		t.Errorf("add = %q, %v", got, err)
	}

	pid := srv.PID
	h.stop(t, 10*time.Second)
	if !processGone(pid) {
		t.Errorf("process %d survived its actor", pid)
	}
}

func TestActor_ToolListChanged(t *testing.T) {
	checkLeaks(t)
	h := startActor(t, stdioSpec(testupstream.ModeOK, nil), nil)
	srv := h.waitState(t, 20*time.Second, mcpproxy.StateReady)
	before := srv.ToolCount
	connectedAt, pid := *srv.ConnectedAt, srv.PID
	// Going ready publishes the first tool list; count from there.
	waitFor(t, 5*time.Second, func() bool { return h.rec.Count(mcpproxy.EventServerToolsChanged, serverName) == 1 }, "the first %s event", mcpproxy.EventServerToolsChanged)
	changedBefore := 1

	if _, err := testupstream.CallText(t, srv.Session, "add_tool", map[string]any{"name": "dyn"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		return slices.Contains(toolNames(h.server()), "dyn")
	}, "tool dyn in the view")
	srv = h.server()
	if srv.ToolCount != before+1 {
		t.Errorf("tool_count = %d, want %d", srv.ToolCount, before+1)
	}
	if srv.State != mcpproxy.StateReady || !srv.ConnectedAt.Equal(connectedAt) || srv.PID != pid {
		t.Errorf("reconnected: state %s, connected_at %v (was %v), pid %d (was %d)", srv.State, srv.ConnectedAt, connectedAt, srv.PID, pid)
	}
	waitFor(t, 5*time.Second, func() bool {
		return h.rec.Count(mcpproxy.EventServerToolsChanged, serverName) > changedBefore
	}, "a %s event", mcpproxy.EventServerToolsChanged)

	if _, err := testupstream.CallText(t, srv.Session, "remove_tool", map[string]any{"name": "dyn"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return h.server().ToolCount == before }, "tool dyn removed")
	if got := h.server(); !got.ConnectedAt.Equal(connectedAt) {
		t.Errorf("reconnected after remove_tool")
	}
}

func TestActor_ConnectFailures(t *testing.T) {
	tests := []struct {
		name    string
		spec    mcpproxy.ServerSpec
		timeout time.Duration // connect timeout
		wantErr string
	}{
		{"Hang", stdioSpec(testupstream.ModeHang, nil), 300 * time.Millisecond, "timed out"},
		{"Exit", stdioSpec(testupstream.ModeExit, nil), 10 * time.Second, "fatal: scripted exit"},
		{"Garbage", stdioSpec(testupstream.ModeGarbage, nil), 2 * time.Second, "connect"},
		{"NoSuchCommand", mcpproxy.ServerSpec{Protocol: mcpproxy.ProtocolStdio, Command: "mcpproxy-no-such-command"}, 10 * time.Second, "executable file not found"},
		{"WorkingDirMissing", func() mcpproxy.ServerSpec {
			s := stdioSpec(testupstream.ModeOK, nil)
			s.WorkingDir = "/nonexistent/mcpproxy"
			return s
		}(), 10 * time.Second, "working_dir"},
		{"HTTPRefused", mcpproxy.ServerSpec{Protocol: mcpproxy.ProtocolStreamableHTTP, URL: "http://" + testupstream.ReserveAddr(t) + "/mcp"}, 10 * time.Second, "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			h := startActor(t, tt.spec, func(o *upstream.Options) { o.ConnectTimeout = tt.timeout })
			const retries = 3
			maxLive := 0
			waitFor(t, 30*time.Second, func() bool {
				// A failed attempt's process is gone before the next starts.
				maxLive = max(maxLive, len(liveChildren()))
				s := h.server()
				return s.State == mcpproxy.StateError && s.RetryCount >= retries
			}, "%d retries (now %s)", retries, lazyState{h})
			srv := h.server()
			if !strings.Contains(srv.LastError, tt.wantErr) {
				t.Errorf("last_error = %q, want it to contain %q", srv.LastError, tt.wantErr)
			}
			if srv.LastErrorAt == nil || srv.NextRetryAt == nil || !srv.NextRetryAt.After(*srv.LastErrorAt) {
				t.Errorf("last_error_at %v, next_retry_at %v: want a retry after the error", srv.LastErrorAt, srv.NextRetryAt)
			}
			if srv.Session != nil || srv.PID != 0 {
				t.Errorf("error state publishes session %v, pid %d", srv.Session, srv.PID)
			}
			if maxLive > 1 {
				t.Errorf("%d upstream processes ran at once; a failed attempt must be killed before the next", maxLive)
			}
			// Retry counts are published in order, each once.
			var counts []int
			for _, st := range h.rec.Statuses(serverName) {
				if st.State == mcpproxy.StateError {
					counts = append(counts, st.RetryCount)
				}
			}
			for i := range counts {
				if counts[i] != i+1 {
					t.Fatalf("retry counts = %v, want 1, 2, 3, …", counts)
				}
			}
			if d := h.stop(t, 10*time.Second); d > 5*time.Second {
				t.Errorf("stop took %v", d)
			}
		})
	}
}

func TestActor_CrashReconnects(t *testing.T) {
	// The crash is noticed by the session ending or, with frequent pings,
	// by a failing ping; either way last_error tells how the process died.
	for _, ping := range []time.Duration{200 * time.Millisecond, 2 * time.Millisecond} {
		t.Run("Ping"+ping.String(), func(t *testing.T) { testCrashReconnects(t, ping) })
	}
}

func testCrashReconnects(t *testing.T, ping time.Duration) {
	checkLeaks(t)
	h := startActor(t, stdioSpec(testupstream.ModeCrashAfter, map[string]string{testupstream.EnvCrashAfter: "500ms"}), func(o *upstream.Options) {
		o.PingInterval = ping
	})
	first := h.waitState(t, 20*time.Second, mcpproxy.StateReady)
	// ready → error "connection lost…" → ready again, with a new process.
	var lost *mcpproxy.ServerStatus
	waitFor(t, 20*time.Second, func() bool {
		seenReady := false
		for _, st := range h.rec.Statuses(serverName) {
			switch {
			case st.State == mcpproxy.StateReady && lost == nil:
				seenReady = true
			case st.State == mcpproxy.StateError && seenReady && lost == nil:
				lost = &st
			case st.State == mcpproxy.StateReady && lost != nil && st.PID != first.PID:
				return true
			}
		}
		return false
	}, "ready, error, ready (states %v)", lazy(func() any { return h.rec.States(serverName) }))
	if !strings.HasPrefix(lost.LastError, "connection lost") || !strings.Contains(lost.LastError, "crashing") {
		t.Errorf("last_error = %q, want connection lost … crashing", lost.LastError)
	}
	if !processGone(first.PID) {
		t.Errorf("crashed process %d still runs", first.PID)
	}
}

func TestActor_HTTPDownThenUp(t *testing.T) {
	checkLeaks(t)
	addr := testupstream.ReserveAddr(t)
	h := startActor(t, mcpproxy.ServerSpec{Protocol: mcpproxy.ProtocolStreamableHTTP, URL: "http://" + addr + "/mcp"}, nil)
	waitFor(t, 10*time.Second, func() bool {
		s := h.server()
		return s.State == mcpproxy.StateError && s.RetryCount >= 2
	}, "error state (now %s)", lazyState{h})

	testupstream.StartStreamableAt(t, addr, testupstream.Options{Name: "late"})
	srv := h.waitState(t, 10*time.Second, mcpproxy.StateReady)
	if srv.ServerInfo == nil || srv.ServerInfo.Name != "late" || srv.Protocol != mcpproxy.ProtocolStreamableHTTP || srv.PID != 0 {
		t.Errorf("server_info %+v, protocol %q, pid %d", srv.ServerInfo, srv.Protocol, srv.PID)
	}
	if got, err := testupstream.CallText(t, srv.Session, "echo", map[string]any{"message": "up"}); err != nil || got != "up" {
		t.Errorf("echo = %q, %v", got, err)
	}
}

func TestActor_HTTPProtocols(t *testing.T) {
	tests := []struct {
		name  string
		proto mcpproxy.Protocol
		start func(testing.TB, testupstream.Options) *testupstream.HTTPServer
		want  mcpproxy.Protocol
	}{
		{"AutoStreamable", mcpproxy.ProtocolAuto, testupstream.StartStreamable, mcpproxy.ProtocolStreamableHTTP},
		{"AutoSSE", mcpproxy.ProtocolAuto, testupstream.StartSSE, mcpproxy.ProtocolSSE},
		{"Streamable", mcpproxy.ProtocolStreamableHTTP, testupstream.StartStreamable, mcpproxy.ProtocolStreamableHTTP},
		{"HTTPAlias", mcpproxy.ProtocolHTTP, testupstream.StartStreamable, mcpproxy.ProtocolStreamableHTTP},
		{"SSE", mcpproxy.ProtocolSSE, testupstream.StartSSE, mcpproxy.ProtocolSSE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			hs := tt.start(t, testupstream.Options{Tools: 2})
			// A short connect timeout: the session must outlive the
			// deadline of the connect that created it.
			h := startActor(t, mcpproxy.ServerSpec{Protocol: tt.proto, URL: hs.URL}, func(o *upstream.Options) {
				o.ConnectTimeout = time.Second
			})
			srv := h.waitState(t, 10*time.Second, mcpproxy.StateReady)
			if srv.Protocol != tt.want {
				t.Errorf("protocol = %q, want %q", srv.Protocol, tt.want)
			}
			if srv.ToolCount != 8 {
				t.Errorf("tool_count = %d, want 8", srv.ToolCount)
			}
			connectedAt := *srv.ConnectedAt
			// Wait until the connect deadline has certainly passed, with
			// pings going on meanwhile.
			time.Sleep(1200 * time.Millisecond)
			if got, err := testupstream.CallText(t, srv.Session, "echo", map[string]any{"message": "still here"}); err != nil || got != "still here" {
				t.Errorf("echo after the connect deadline = %q, %v", got, err)
			}
			// A notification must still reach the actor over the stream.
			if _, err := testupstream.CallText(t, srv.Session, "add_tool", map[string]any{"name": "dyn"}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, func() bool { return h.server().ToolCount == 9 }, "list_changed to add a tool")
			if s := h.server(); s.State != mcpproxy.StateReady || !s.ConnectedAt.Equal(connectedAt) {
				t.Errorf("reconnected: %s, connected_at %v (was %v), last error %q", s.State, s.ConnectedAt, connectedAt, s.LastError)
			}
			if n := sessions(hs.MCP); n != 1 {
				t.Errorf("upstream has %d sessions, want 1", n)
			}
			// Stopping the actor ends its session on the upstream too (a
			// DELETE for streamable HTTP, the closed stream for SSE), so
			// that upstreams do not pile up sessions across reloads.
			h.stop(t, 10*time.Second)
			waitFor(t, 5*time.Second, func() bool { return sessions(hs.MCP) == 0 }, "the upstream session to end (%v left)", lazy(func() any { return sessions(hs.MCP) }))
		})
	}
}

func TestActor_HTTPHeaders(t *testing.T) {
	checkLeaks(t)
	var (
		mu      sync.Mutex
		seen    []string // X-Test|Authorization of every request
		deleted bool
	)
	up := testupstream.NewServer(testupstream.Options{})
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Test")+"|"+r.Header.Get("Authorization"))
		if r.Method == http.MethodDelete {
			deleted = true
		}
		mu.Unlock()
		mcpHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	h := startActor(t, mcpproxy.ServerSpec{
		Protocol: mcpproxy.ProtocolStreamableHTTP,
		URL:      ts.URL + "/mcp",
		Headers:  map[string]string{"X-Test": "v", "Authorization": "Bearer t0ken"},
	}, nil)
	srv := h.waitState(t, 10*time.Second, mcpproxy.StateReady)
	if _, err := testupstream.CallText(t, srv.Session, "echo", map[string]any{"message": "x"}); err != nil {
		t.Fatal(err)
	}
	h.stop(t, 10*time.Second)
	waitFor(t, 5*time.Second, func() bool { return sessions(up) == 0 }, "the upstream session to end")

	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 4 {
		t.Fatalf("only %d requests reached the server", len(seen))
	}
	if !deleted {
		t.Error("no DELETE ended the session")
	}
	for i, s := range seen {
		if s != "v|Bearer t0ken" {
			t.Errorf("request %d: X-Test|Authorization = %q, want v|Bearer t0ken", i, s)
		}
	}
}

func TestActor_HTTPHanging(t *testing.T) {
	checkLeaks(t)
	hs := testupstream.StartHanging(t)
	h := startActor(t, mcpproxy.ServerSpec{URL: hs.URL}, func(o *upstream.Options) { o.ConnectTimeout = 300 * time.Millisecond })
	waitFor(t, 20*time.Second, func() bool {
		s := h.server()
		return s.State == mcpproxy.StateError && s.RetryCount >= 2
	}, "retries (now %s)", lazyState{h})
	if s := h.server(); !strings.Contains(s.LastError, "timed out") {
		t.Errorf("last_error = %q, want timed out", s.LastError)
	}
	if d := h.stop(t, 10*time.Second); d > 5*time.Second {
		t.Errorf("stop took %v", d)
	}
}

func TestActor_RestartNow(t *testing.T) {
	checkLeaks(t)
	t.Run("Ready", func(t *testing.T) {
		checkLeaks(t)
		h := startActor(t, stdioSpec(testupstream.ModeOK, nil), nil)
		first := h.waitState(t, 20*time.Second, mcpproxy.StateReady)
		h.actor.Restart()
		waitFor(t, 20*time.Second, func() bool {
			s := h.server()
			return s.State == mcpproxy.StateReady && s.PID != first.PID
		}, "a new connection (now %s)", lazyState{h})
		if s := h.server(); !s.ConnectedAt.After(*first.ConnectedAt) {
			t.Errorf("connected_at %v, was %v", s.ConnectedAt, first.ConnectedAt)
		}
		if !processGone(first.PID) {
			t.Errorf("old process %d still runs", first.PID)
		}
	})
	t.Run("WaitingForRetry", func(t *testing.T) {
		checkLeaks(t)
		addr := testupstream.ReserveAddr(t)
		h := startActor(t, mcpproxy.ServerSpec{Protocol: mcpproxy.ProtocolStreamableHTTP, URL: "http://" + addr + "/mcp"}, func(o *upstream.Options) {
			o.Backoff = upstream.Backoff{Base: time.Hour, Max: 2 * time.Hour}
		})
		srv := h.waitState(t, 10*time.Second, mcpproxy.StateError)
		if srv.NextRetryAt == nil || time.Until(*srv.NextRetryAt) < 50*time.Minute {
			t.Fatalf("next_retry_at = %v, want about an hour away", srv.NextRetryAt)
		}
		testupstream.StartStreamableAt(t, addr, testupstream.Options{})
		h.actor.Restart()
		srv = h.waitState(t, 10*time.Second, mcpproxy.StateReady)
		if srv.NextRetryAt != nil {
			t.Errorf("ready with next_retry_at %v", srv.NextRetryAt)
		}
	})
	t.Run("WhileConnecting", func(t *testing.T) {
		checkLeaks(t)
		h := startActor(t, stdioSpec(testupstream.ModeHang, nil), func(o *upstream.Options) {
			o.ConnectTimeout = time.Hour
		})
		waitFor(t, 10*time.Second, func() bool { return len(liveChildren()) == 1 }, "the hanging child to start")
		hung := liveChildren()[0]
		h.actor.Restart()
		// The hung attempt is abandoned and its process killed; a new one starts.
		waitFor(t, 10*time.Second, func() bool {
			c := liveChildren()
			return processGone(hung) && len(c) == 1
		}, "a new attempt (children %v, hung %d)", lazy(func() any { return liveChildren() }), hung)
		if s := h.server(); s.State != mcpproxy.StateConnecting || s.RetryCount != 0 {
			t.Errorf("after restart: %s", lazyState{h})
		}
	})
}

func sessions(s *mcp.Server) int {
	n := 0
	for range s.Sessions() {
		n++
	}
	return n
}
