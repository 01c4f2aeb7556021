package supervisor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/supervisor"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestMain(m *testing.M) {
	testupstream.RunIfChild()
	os.Exit(m.Run())
}

// waitFor polls cond until it holds or timeout passes, then fails the test.
func waitFor(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testLogger logs through tb; the supervisor stops every actor before its
// test ends, so nothing logs late.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ---- leaks ----

// checkLeaks must be the first thing a test calls: its cleanup runs last,
// after the test's actors and servers are gone, and fails the test if a
// goroutine started since the call is still alive, or if a child process of
// this test binary (a re-executed stdio upstream or its grandchild) still
// runs.
func checkLeaks(tb testing.TB) {
	tb.Helper()
	before := goroutineIDs()
	tb.Cleanup(func() {
		var leaked []string
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked = leaked[:0]
			for id, stack := range goroutines() {
				if !before[id] && !benign(stack) {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, s := range leaked {
			tb.Errorf("leaked goroutine:\n%s", s)
		}
		waitNoChildren(tb, 5*time.Second)
	})
}

// benign reports goroutines the runtime or standard library start once per
// process on first use.
func benign(stack string) bool {
	return strings.Contains(stack, "os/signal.loop") || strings.Contains(stack, "runtime.ensureSigM")
}

func goroutineIDs() map[int]bool {
	ids := map[int]bool{}
	for id := range goroutines() {
		ids[id] = true
	}
	return ids
}

func goroutines() map[int]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[int]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		rest, ok := strings.CutPrefix(g, "goroutine ")
		if !ok {
			continue
		}
		id, err := strconv.Atoi(rest[:strings.IndexByte(rest, ' ')])
		if err != nil {
			continue
		}
		out[id] = g
	}
	return out
}

// liveChildren returns the pids of running processes (zombies excluded)
// that run this test binary: the stdio upstreams the tests start and their
// grandchildren. Test binaries of other packages have other paths.
func liveChildren() []int {
	self, err := os.Executable()
	if err != nil {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err != nil || exe != self {
			continue
		}
		if !processGone(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processGone reports whether pid no longer runs. A zombie counts as gone:
// an orphaned grandchild is reparented to PID 1, which may not reap it.
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

func waitNoChildren(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pids := liveChildren()
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Errorf("child processes still running: %v", pids)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- actor harness ----
// ---- supervisor harness ----

type harness struct {
	sup  *supervisor.Supervisor
	view *stateview.View
	rec  *recorder
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

// callText calls a tool through a published session.
func callText(tb testing.TB, cs *mcp.ClientSession, tool string, args any) (string, error) {
	tb.Helper()
	if cs == nil {
		tb.Fatal("no session published")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if res.IsError {
		return b.String(), fmt.Errorf("tool error: %s", b.String())
	}
	return b.String(), nil
}

// ---- event recorder ----

// recorder keeps every event published on a view's bus.
type recorder struct {
	sub  *stateview.Subscription
	done chan struct{}

	mu     sync.Mutex
	events []mcpproxy.Event // guarded by mu
}

func record(tb testing.TB, v *stateview.View) *recorder {
	r := &recorder{sub: v.Bus.Subscribe(1 << 16), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev := range r.sub.C() {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		r.sub.Close()
		<-r.done
		if r.sub.Dropped() {
			tb.Error("event recorder was dropped as a slow subscriber")
		}
	})
	return r
}

func (r *recorder) all() []mcpproxy.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// statuses returns the statuses published for server name, in order.
func (r *recorder) statuses(name string) []mcpproxy.ServerStatus {
	var out []mcpproxy.ServerStatus
	for _, ev := range r.all() {
		if ev.Type != mcpproxy.EventServerStateChanged || ev.Server != name {
			continue
		}
		var st mcpproxy.ServerStatus
		if json.Unmarshal(ev.Data, &st) == nil && st.State != "" {
			out = append(out, st)
		}
	}
	return out
}

func (r *recorder) states(name string) []mcpproxy.ServerState {
	var out []mcpproxy.ServerState
	for _, st := range r.statuses(name) {
		out = append(out, st.State)
	}
	return out
}

func (r *recorder) count(typ, server string) int {
	n := 0
	for _, ev := range r.all() {
		if ev.Type == typ && (server == "" || ev.Server == server) {
			n++
		}
	}
	return n
}

// waitLast waits until the last state recorded for name is st. The view
// changes a moment before its event is recorded, so a test that inspects
// the recorded events after seeing a state in the view waits here first.
func (r *recorder) waitLast(tb testing.TB, name string, st mcpproxy.ServerState) {
	tb.Helper()
	waitFor(tb, 5*time.Second, func() bool {
		s := r.states(name)
		return len(s) > 0 && s[len(s)-1] == st
	}, "%s event for %s (recorded %v)", st, name, lazy(func() any { return r.states(name) }))
}

// lazy formats as the value f returns when the message is printed, so that
// a wait's failure message shows the state at the time it gave up.
type lazy func() any

func (l lazy) String() string { return fmt.Sprint(l()) }
