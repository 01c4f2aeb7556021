package upstream_test

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
)

func TestMain(m *testing.M) {
	testupstream.RunIfChild()
	os.Exit(m.Run())
}

func waitFor(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	testupstream.WaitFor(tb, timeout, cond, format, args...)
}

func testLogger(tb testing.TB) *slog.Logger { return testupstream.Logger(tb) }

func checkLeaks(tb testing.TB) {
	tb.Helper()
	testupstream.CheckLeaks(tb)
}

func liveChildren() []int { return testupstream.LiveChildren() }

func processGone(pid int) bool { return testupstream.ProcessGone(pid) }

// ---- actor harness ----

const serverName = "up"

// harness runs one actor publishing into its own view.
type harness struct {
	view  *stateview.View
	actor *upstream.Actor
	logs  *upstream.LogBuffer
	rec   *testupstream.Recorder
}

// fastOptions are actor timings for tests.
func fastOptions() upstream.Options {
	return upstream.Options{
		ConnectTimeout: 10 * time.Second,
		PingInterval:   200 * time.Millisecond,
		StableAfter:    time.Second,
		Backoff:        upstream.Backoff{Base: 50 * time.Millisecond, Max: 500 * time.Millisecond},
	}
}

// startActor starts an actor for spec the way the supervisor does (an
// entry of generation 1 in the view first) and stops it at cleanup.
func startActor(tb testing.TB, spec mcpproxy.ServerSpec, tune func(*upstream.Options)) *harness {
	tb.Helper()
	spec.Name = serverName
	spec.Enabled = true
	h := &harness{view: stateview.New(), logs: upstream.NewLogBuffer("", 0)}
	h.rec = record(tb, h.view)
	h.view.Put(&stateview.Server{
		ServerStatus: mcpproxy.ServerStatus{Name: spec.Name, Protocol: spec.Transport(), Enabled: true, State: mcpproxy.StateConnecting},
		Generation:   1,
	})
	opts := fastOptions()
	if tune != nil {
		tune(&opts)
	}
	opts.Spec, opts.Generation, opts.View, opts.Logs, opts.Logger = spec, 1, h.view, h.logs, testLogger(tb)
	h.actor = upstream.Start(opts)
	tb.Cleanup(func() {
		h.stop(tb, 10*time.Second)
		h.logs.Close()
	})
	return h
}

// stop stops the actor and fails if that takes longer than limit.
func (h *harness) stop(tb testing.TB, limit time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	h.actor.Stop()
	select {
	case <-h.actor.Done():
	case <-time.After(limit):
		tb.Fatalf("actor did not stop within %v", limit)
	}
	return time.Since(start)
}

func (h *harness) server() *stateview.Server { return h.view.Load().Get(serverName) }

// waitState waits until the server is in state st and returns its entry.
func (h *harness) waitState(tb testing.TB, timeout time.Duration, st mcpproxy.ServerState) *stateview.Server {
	tb.Helper()
	var srv *stateview.Server
	waitFor(tb, timeout, func() bool {
		srv = h.server()
		return srv != nil && srv.State == st
	}, "state %s (now %s)", st, lazyState{h})
	return srv
}

type lazyState struct{ h *harness }

func (l lazyState) String() string {
	s := l.h.server()
	if s == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s, last error %q, retries %d", s.State, s.LastError, s.RetryCount)
}

// stdioSpec is a spec running this test binary as a stdio upstream.
func stdioSpec(mode string, extraEnv map[string]string) mcpproxy.ServerSpec {
	if extraEnv == nil {
		extraEnv = map[string]string{}
	}
	if _, ok := extraEnv[testupstream.EnvMaxLifetime]; !ok {
		extraEnv[testupstream.EnvMaxLifetime] = "2m"
	}
	path, env := testupstream.Command(mode, extraEnv)
	return mcpproxy.ServerSpec{Protocol: mcpproxy.ProtocolStdio, Command: path, Env: env}
}

func toolNames(s *stateview.Server) []string {
	var names []string
	for _, t := range s.Tools {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return names
}

func record(tb testing.TB, v *stateview.View) *testupstream.Recorder {
	return testupstream.Record(tb, v)
}

func lazy(f func() any) testupstream.Lazy { return testupstream.Lazy(f) }
