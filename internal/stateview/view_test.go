package stateview

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func put(v *View, name string, gen uint64, st mcpproxy.ServerState) {
	v.Put(&Server{ServerStatus: mcpproxy.ServerStatus{Name: name, State: st}, Generation: gen})
}

func TestView_CopyOnWrite(t *testing.T) {
	v := New()
	put(v, "b", 1, mcpproxy.StateConnecting)
	put(v, "a", 2, mcpproxy.StateConnecting)
	before := v.Load()
	bBefore := before.Get("b")

	if !v.Update("a", 2, func(s *Server) { s.State = mcpproxy.StateReady; s.ToolCount = 3 }) {
		t.Fatal("update of current generation was rejected")
	}
	after := v.Load()
	if after == before {
		t.Fatal("update did not publish a new snapshot")
	}
	if got := before.Get("a").State; got != mcpproxy.StateConnecting {
		t.Errorf("old snapshot changed: a is %s", got)
	}
	if got := after.Get("a").State; got != mcpproxy.StateReady {
		t.Errorf("new snapshot: a is %s, want ready", got)
	}
	if after.Get("b") != bBefore {
		t.Error("unchanged server was copied instead of shared")
	}
	if fmt.Sprint(after.Names) != "[a b]" {
		t.Errorf("names = %v, want sorted [a b]", after.Names)
	}
	if &after.Names[0] != &before.Names[0] {
		t.Error("names slice was copied although the set of names did not change")
	}
	if after.Version <= before.Version {
		t.Errorf("version did not increase: %d -> %d", before.Version, after.Version)
	}
}

func TestView_StaleGenerationIgnored(t *testing.T) {
	v := New()
	put(v, "a", 1, mcpproxy.StateConnecting)
	put(v, "a", 2, mcpproxy.StateDisabled)
	if v.Update("a", 1, func(s *Server) { s.State = mcpproxy.StateReady }) {
		t.Fatal("update from an old generation was applied")
	}
	if got := v.Load().Get("a").State; got != mcpproxy.StateDisabled {
		t.Fatalf("state = %s, want disabled", got)
	}
	v.Remove("a", 1)
	if v.Load().Get("a") == nil {
		t.Fatal("remove with an old generation deleted the entry")
	}
	v.Remove("a", 2)
	if v.Load().Get("a") != nil || len(v.Load().Names) != 0 {
		t.Fatal("remove did not delete the entry")
	}
}

func TestView_EventsOnChange(t *testing.T) {
	v := New()
	sub := v.Bus.Subscribe(16)
	defer sub.Close()
	put(v, "a", 1, mcpproxy.StateConnecting)
	v.Update("a", 1, func(s *Server) {
		s.State = mcpproxy.StateReady
		s.Tools = []mcpproxy.Tool{{Name: "t"}}
		s.ToolCount = 1
	})
	v.Update("a", 1, func(s *Server) {}) // no visible change: no event
	var types []string
	for len(sub.C()) > 0 {
		types = append(types, (<-sub.C()).Type)
	}
	want := "[server.state_changed server.state_changed server.tools_changed]"
	if fmt.Sprint(types) != want {
		t.Fatalf("events = %v, want %s", types, want)
	}
}

func TestView_SummaryOmitsTools(t *testing.T) {
	s := &Server{ServerStatus: mcpproxy.ServerStatus{Name: "a", State: mcpproxy.StateReady,
		ToolCount: 1, Tools: []mcpproxy.Tool{{Name: "secret_tool"}}}}
	got := string(s.SummaryJSON())
	if want := `"tool_count":1`; !contains(got, want) {
		t.Errorf("summary %s lacks %s", got, want)
	}
	if contains(got, "secret_tool") {
		t.Errorf("summary includes tools: %s", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestBus_DropsSlowSubscriber(t *testing.T) {
	b := NewBus()
	slow := b.Subscribe(2)
	fast := b.Subscribe(100)
	defer fast.Close()
	for i := range 5 {
		b.Publish(mcpproxy.Event{Type: fmt.Sprint(i)})
	}
	// The slow one got its two, then was dropped and its channel closed.
	n := 0
	for range slow.C() {
		n++
	}
	if n != 2 || !slow.Dropped() {
		t.Fatalf("slow subscriber: got %d events, dropped=%v; want 2, true", n, slow.Dropped())
	}
	if len(fast.C()) != 5 {
		t.Fatalf("fast subscriber got %d events, want 5", len(fast.C()))
	}
	if b.Len() != 1 {
		t.Fatalf("bus has %d subscribers, want 1", b.Len())
	}
	slow.Close() // closing a dropped subscription is safe
	if subs, drops := b.Stats(); subs != 1 || drops != 1 {
		t.Fatalf("Stats() = %d subscribers, %d drops; want 1, 1", subs, drops)
	}
	fast.Close()
	if subs, _ := b.Stats(); subs != 0 {
		t.Fatalf("Stats() after closing all = %d subscribers, want 0", subs)
	}
}

func TestBus_CloseUnsubscribes(t *testing.T) {
	b := NewBus()
	s := b.Subscribe(1)
	s.Close()
	s.Close()
	b.Publish(mcpproxy.Event{Type: "x"}) // must not panic on a closed channel
	if b.Len() != 0 || s.Dropped() {
		t.Fatalf("len=%d dropped=%v", b.Len(), s.Dropped())
	}
}

func bigView(n int) *View {
	v := New()
	for i := range n {
		put(v, fmt.Sprintf("server-%04d", i), uint64(i+1), mcpproxy.StateConnecting)
	}
	return v
}

// BenchmarkView_Load measures a reader: one atomic load, no allocation.
func BenchmarkView_Load(b *testing.B) {
	v := bigView(1000)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n += len(v.Load().Servers)
	}
	_ = n
}

// BenchmarkView_Update measures one server's update with 1,000 servers in
// the view: a copy of the map of pointers, not of the servers.
func BenchmarkView_Update(b *testing.B) {
	v := bigView(1000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		v.Update("server-0500", 501, func(s *Server) { s.RetryCount = i })
	}
}
