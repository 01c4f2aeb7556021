package supervisor_test

import (
	"fmt"
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

// forgetful records what the supervisor asks its Logins and Index to
// forget: "forget NAME", or "prune" and the names of a, q and gone that a
// prune drops.
type forgetful struct {
	kind string
	mu   sync.Mutex
	log  []string
}

func (f *forgetful) Forget(name string) error {
	f.add(f.kind + " forget " + name)
	return nil
}

func (f *forgetful) Prune(keep func(string) bool) error {
	var dropped []string
	for _, n := range []string{"a", "q", "gone"} {
		if !keep(n) {
			dropped = append(dropped, n)
		}
	}
	f.add(fmt.Sprintf("%s prune %v", f.kind, dropped))
	return nil
}

func (f *forgetful) add(s string) {
	f.mu.Lock()
	f.log = append(f.log, s)
	f.mu.Unlock()
}

func (f *forgetful) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func TestSupervisor_ForgetsRemoved(t *testing.T) {
	checkLeaks(t)
	logins, idx := &forgetful{kind: "logins"}, &forgetful{kind: "index"}
	h := newSupervisor(t, func(o *supervisor.Options) { o.Logins, o.Index = logins, idx })
	a := stdioServer("a", ok, nil)
	q := stdioServer("q", ok, nil)
	q.Quarantined = true
	h.sup.Apply(configOf(a, q))
	// At the first config: servers removed while not running, and the
	// index's quarantined ones.
	if got := logins.got(); !slices.Equal(got, []string{"logins prune [gone]"}) {
		t.Fatalf("logins at start: %v", got)
	}
	if got := idx.got(); !slices.Equal(got, []string{"index prune [q gone]"}) {
		t.Fatalf("index at start: %v", got)
	}
	h.waitState(t, 20*time.Second, "a", mcpproxy.StateReady)
	h.sup.Apply(configOf(q))
	waitFor(t, 10*time.Second, func() bool { return len(idx.got()) == 2 && len(logins.got()) == 2 }, "a forgotten (got %v, %v)", logins.got(), idx.got())
	if got := logins.got(); got[1] != "logins forget a" {
		t.Fatalf("logins after removing a: %v", got)
	}
	if got := idx.got(); got[1] != "index prune [a]" {
		t.Fatalf("index after removing a: %v", got)
	}
}
