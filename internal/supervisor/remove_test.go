package supervisor_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/supervisor"
)

func TestSupervisor_OnRemove(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	var removed []string
	h := newSupervisor(t, func(o *supervisor.Options) {
		o.OnRemove = func(name string) {
			mu.Lock()
			removed = append(removed, name)
			mu.Unlock()
		}
	})
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(removed)
	}
	a := stdioServer("a", ok, nil)
	off := stdioServer("off", ok, nil)
	off.Enabled = false
	h.sup.Apply(configOf(a, off))
	h.waitState(t, 20*time.Second, "a", mcpproxy.StateReady)
	h.sup.Apply(configOf())
	waitFor(t, 10*time.Second, func() bool { return len(got()) == 2 }, "OnRemove for a and off (got %v)", got())
	if r := got(); !slices.Contains(r, "a") || !slices.Contains(r, "off") {
		t.Fatalf("OnRemove(%v)", r)
	}

	// Removed and configured again before its actor stopped: kept.
	h.sup.Apply(configOf(a))
	h.waitState(t, 20*time.Second, "a", mcpproxy.StateReady)
	h.sup.Apply(configOf())
	h.sup.Apply(configOf(a))
	h.waitState(t, 20*time.Second, "a", mcpproxy.StateReady)
	h.close(t)
	if r := got(); len(r) != 2 {
		t.Fatalf("OnRemove(%v) for a server configured again", r)
	}
}
