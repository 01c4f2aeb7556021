package stateview

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
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
		n += v.Load().Len()
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

// TestView_Batch: inside a batch readers keep the old snapshot and no event
// leaves; writers see the batch's own writes; the end publishes one
// snapshot with all of them, then the events in order.
func TestView_Batch(t *testing.T) {
	v := New()
	put(v, "keep", 1, mcpproxy.StateReady)
	put(v, "gone", 1, mcpproxy.StateReady)
	sub := v.Bus.Subscribe(256)
	defer sub.Close()
	before := v.Load()

	end := v.Batch()
	for i := range 100 {
		put(v, fmt.Sprintf("s%03d", i), 7, mcpproxy.StateConnecting)
	}
	if !v.Update("s050", 7, func(s *Server) { s.State = mcpproxy.StateReady }) {
		t.Fatal("an update inside the batch did not find the batch's own entry")
	}
	v.Remove("gone", 0)
	inner := v.Batch() // nested: only the outer end publishes
	put(v, "late", 1, mcpproxy.StateConnecting)
	inner()
	if v.Load() != before || len(sub.C()) != 0 {
		t.Fatalf("published during the batch: snapshot %d servers, %d events", v.Load().Len(), len(sub.C()))
	}
	end()
	end() // idempotent

	after := v.Load()
	if after.Version != before.Version+1 || after.Len() != 102 {
		t.Fatalf("after the batch: version %d (before %d), %d servers, want one new snapshot of 102", after.Version, before.Version, after.Len())
	}
	if after.Get("gone") != nil || after.Get("keep") != before.Get("keep") || after.Get("s050").State != mcpproxy.StateReady {
		t.Fatalf("after the batch: gone=%v keep shared=%v s050=%v", after.Get("gone"), after.Get("keep") == before.Get("keep"), after.Get("s050").State)
	}
	var got []string
	for len(sub.C()) > 0 {
		ev := <-sub.C()
		got = append(got, ev.Server)
	}
	if len(got) != 103 || got[0] != "s000" || got[99] != "s099" || got[100] != "s050" || got[101] != "gone" || got[102] != "late" {
		t.Fatalf("events after the batch (%d): %v", len(got), got)
	}
}

// TestView_ChunkedUpdates: with more servers than a chunk holds, updating
// any one of them changes that entry only, in order, and shares the other
// chunks with the previous snapshot.
func TestView_ChunkedUpdates(t *testing.T) {
	v := New()
	const n = 3*chunkSize + 5
	end := v.Batch()
	for i := range n {
		put(v, fmt.Sprintf("s%04d", i), 1, mcpproxy.StateConnecting)
	}
	end()
	for i := range n {
		name := fmt.Sprintf("s%04d", i)
		before := v.Load()
		if !v.Update(name, 1, func(s *Server) { s.RetryCount = i + 1 }) {
			t.Fatalf("update %s rejected", name)
		}
		after := v.Load()
		if after.Get(name).RetryCount != i+1 || before.Get(name).RetryCount != 0 {
			t.Fatalf("%s: after %d, before %d", name, after.Get(name).RetryCount, before.Get(name).RetryCount)
		}
		if other := (i + chunkSize) % n; after.Get(fmt.Sprintf("s%04d", other)) != before.Get(fmt.Sprintf("s%04d", other)) {
			t.Fatalf("updating %s copied the entry of s%04d", name, other)
		}
	}
	i := 0
	for srv := range v.Load().All() {
		if want := fmt.Sprintf("s%04d", i); srv.Name != want || srv.RetryCount != i+1 || v.Load().At(i) != srv {
			t.Fatalf("entry %d = %s (retry %d), want %s (retry %d)", i, srv.Name, srv.RetryCount, want, i+1)
		}
		i++
	}
	if i != n {
		t.Fatalf("All yielded %d entries, want %d", i, n)
	}
}

type opener struct{}

func (opener) OpenSession(context.Context, *mcp.Client, func(context.Context, *mcp.ProgressNotificationParams)) (*mcp.ClientSession, error) {
	return nil, nil
}

type caller struct{}

func (caller) CallTool(context.Context, *mcp.CallToolParams) (*mcp.CallToolResult, error) {
	return nil, nil
}

// An update that changes nothing of the live session (a tools change, a
// re-stamp) keeps every field the actor published: the pass-through reads
// Opener from the entry, and losing it would give every client of an HTTP
// upstream the one shared session.
func TestView_UpdateKeepsEveryField(t *testing.T) {
	v := New()
	v.Put(&Server{ServerStatus: mcpproxy.ServerStatus{Name: "a"}, Session: &mcp.ClientSession{}, Caller: caller{}, Opener: opener{}, Generation: 1})
	before := v.Load().Get("a")
	if !v.Update("a", 1, func(s *Server) { s.ToolCount = 1 }) {
		t.Fatal("update rejected")
	}
	after := v.Load().Get("a")
	bv, av := reflect.ValueOf(before).Elem(), reflect.ValueOf(after).Elem()
	for i := range bv.NumField() {
		f := bv.Type().Field(i)
		if !f.IsExported() || f.Name == "ServerStatus" {
			continue
		}
		if !reflect.DeepEqual(bv.Field(i).Interface(), av.Field(i).Interface()) {
			t.Errorf("Update dropped %s: %v, was %v", f.Name, av.Field(i).Interface(), bv.Field(i).Interface())
		}
	}
}
