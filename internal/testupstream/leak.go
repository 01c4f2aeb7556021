package testupstream

import (
	"bytes"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers shared by the tests that run upstreams: waiting, logging through
// the test, and checking that no goroutine or child process outlives a test.

// WaitFor polls cond until it holds or timeout passes, then fails the test
// with msg.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Logf("goroutines of mcpproxy's packages at the time out:\n%s", ownStacks())
			tb.Fatalf("timed out after %v waiting for "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Logger logs through tb, so that a failing test shows what its actors
// did. Stop everything that logs before the test ends.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// CheckLeaks must be the first thing a test calls: its cleanup runs last,
// after the test's actors and servers are gone, and fails the test if a
// goroutine started since the call is still alive, or if a child process of
// this test binary (a re-executed stdio upstream or its grandchild) still
// runs.
func CheckLeaks(tb testing.TB) {
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

// LiveChildren returns the pids of running processes (zombies excluded)
// that run this test binary: the stdio upstreams the tests start and their
// grandchildren. Test binaries of other packages have other paths.
func LiveChildren() []int {
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
		if !ProcessGone(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ProcessGone reports whether pid no longer runs. A zombie counts as gone:
// an orphaned grandchild is reparented to PID 1, which may not reap it.
func ProcessGone(pid int) bool {
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
		pids := LiveChildren()
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

// ownStacks returns the stacks of the goroutines that run mcpproxy's own
// code, so that a wait that times out shows what was stuck.
func ownStacks() string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out strings.Builder
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "mcpproxy/internal/") && !strings.Contains(g, "testupstream.ownStacks") {
			out.WriteString(g)
			out.WriteString("\n\n")
		}
	}
	return out.String()
}
