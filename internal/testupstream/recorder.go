package testupstream

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
)

// Recorder keeps every event published on a view's bus.
type Recorder struct {
	sub  *stateview.Subscription
	done chan struct{}

	mu     sync.Mutex
	events []mcpproxy.Event // guarded by mu
}

// Record starts recording v's events until the test ends.
func Record(tb testing.TB, v *stateview.View) *Recorder {
	r := &Recorder{sub: v.Bus.Subscribe(1 << 16), done: make(chan struct{})}
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

func (r *Recorder) All() []mcpproxy.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Statuses returns the statuses published for server name, in order.
func (r *Recorder) Statuses(name string) []mcpproxy.ServerStatus {
	var out []mcpproxy.ServerStatus
	for _, ev := range r.All() {
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

func (r *Recorder) States(name string) []mcpproxy.ServerState {
	var out []mcpproxy.ServerState
	for _, st := range r.Statuses(name) {
		out = append(out, st.State)
	}
	return out
}

func (r *Recorder) Count(typ, server string) int {
	n := 0
	for _, ev := range r.All() {
		if ev.Type == typ && (server == "" || ev.Server == server) {
			n++
		}
	}
	return n
}

// WaitLast waits until the last state recorded for name is st. The view
// changes a moment before its event is recorded, so a test that inspects
// the recorded events after seeing a state in the view waits here first.
func (r *Recorder) WaitLast(tb testing.TB, name string, st mcpproxy.ServerState) {
	tb.Helper()
	WaitFor(tb, 5*time.Second, func() bool {
		s := r.States(name)
		return len(s) > 0 && s[len(s)-1] == st
	}, "%s event for %s (recorded %v)", st, name, Lazy(func() any { return r.States(name) }))
}

// Lazy formats as the value f returns when the message is printed, so that
// a wait's failure message shows the state at the time it gave up.
type Lazy func() any

func (l Lazy) String() string { return fmt.Sprint(l()) }
