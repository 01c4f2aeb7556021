package supervisor_test

import (
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/supervisor"
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
// ---- supervisor harness ----

type harness struct {
	sup  *supervisor.Supervisor
	view *stateview.View
	rec  *testupstream.Recorder
}

// newSupervisor starts a supervisor with fast actor timings and closes it
// at cleanup, failing if Close takes longer than 5 s.
func newSupervisor(tb testing.TB, tune func(*supervisor.Options)) *harness {
	tb.Helper()
	view := stateview.New()
	h := &harness{view: view, rec: record(tb, view)}
	opts := supervisor.Options{
		View:   view,
		Logger: testLogger(tb),
		Actor: upstream.Options{
			ConnectTimeout: 10 * time.Second,
			PingInterval:   200 * time.Millisecond,
			StableAfter:    time.Second,
			Backoff:        upstream.Backoff{Base: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		},
	}
	if tune != nil {
		tune(&opts)
	}
	h.sup = supervisor.New(opts)
	tb.Cleanup(func() {
		if d := h.close(tb); d > 5*time.Second {
			tb.Errorf("Close took %v", d)
		}
	})
	return h
}

// close closes the supervisor (again: Close is idempotent) and returns how
// long it took.
func (h *harness) close(tb testing.TB) time.Duration {
	tb.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		h.sup.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		tb.Fatal("Close did not return within 30s")
	}
	return time.Since(start)
}

func (h *harness) get(name string) *stateview.Server { return h.view.Load().Get(name) }

// waitState waits until the named server is in state st.
func (h *harness) waitState(tb testing.TB, timeout time.Duration, name string, st mcpproxy.ServerState) *stateview.Server {
	tb.Helper()
	var srv *stateview.Server
	waitFor(tb, timeout, func() bool {
		srv = h.get(name)
		return srv != nil && srv.State == st
	}, "%s to be %s (now %s)", name, st, lazyState{h, name})
	return srv
}

type lazyState struct {
	h    *harness
	name string
}

func (l lazyState) String() string {
	s := l.h.get(l.name)
	if s == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s, last error %q, retries %d", s.State, s.LastError, s.RetryCount)
}

// stdioServer is a server running this test binary as a stdio upstream.
func stdioServer(name, mode string, extraEnv map[string]string) mcpproxy.ServerSpec {
	if extraEnv == nil {
		extraEnv = map[string]string{}
	}
	if _, ok := extraEnv[testupstream.EnvMaxLifetime]; !ok {
		extraEnv[testupstream.EnvMaxLifetime] = "2m"
	}
	path, env := testupstream.Command(mode, extraEnv)
	return mcpproxy.ServerSpec{Name: name, Protocol: mcpproxy.ProtocolStdio, Command: path, Env: env, Enabled: true}
}

// configOf is the default config with the given servers.
func configOf(servers ...mcpproxy.ServerSpec) *config.Config {
	cfg := config.Default()
	cfg.Servers = servers
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg
}

func record(tb testing.TB, v *stateview.View) *testupstream.Recorder {
	return testupstream.Record(tb, v)
}

func lazy(f func() any) testupstream.Lazy { return testupstream.Lazy(f) }
