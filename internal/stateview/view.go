// Package stateview holds the observed state of every upstream server as an
// immutable snapshot behind an atomic pointer, and the event bus that tells
// subscribers when it changes.
//
// Concurrency contract: any number of readers call Load and read the returned
// Snapshot without locks; a Snapshot and every *Server in it are never
// modified after publication. Writers (the supervisor and the actors it owns)
// are serialised by a mutex that is held only for in-memory work: an update
// copies one chunk of entry pointers and replaces one entry (see Snapshot),
// so its cost never depends on the servers' contents.
// Publishing an event never blocks (see Bus).
package stateview

import (
	"context"
	"encoding/json"
	"iter"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// SessionOpener opens a session of an HTTP upstream for one downstream
// client, through client (its capabilities and handlers), over the same
// transport, headers and credentials as the upstream's own session. The
// session ends when closed or when that connection ends. progress, if not
// nil, gets the session's progress notifications as they are read, before
// the client's handler does (see relay.ProgressRouter.DeliverRead).
type SessionOpener interface {
	OpenSession(ctx context.Context, client *mcp.Client, progress func(context.Context, *mcp.ProgressNotificationParams)) (*mcp.ClientSession, error)
}

// ToolCaller calls tools on an upstream. *mcp.ClientSession is one.
type ToolCaller interface {
	CallTool(ctx context.Context, p *mcp.CallToolParams) (*mcp.CallToolResult, error)
}

// Server is one server's published status plus the live session an actor
// publishes while the server is ready. Treat it as read-only.
type Server struct {
	mcpproxy.ServerStatus

	// Session is the concurrency-safe upstream session while State is ready;
	// nil otherwise. Tool calls use it directly.
	Session *mcp.ClientSession `json:"-"`
	// Caller makes the tool calls while State is ready: the session, or a
	// path beside it that costs less (stdio upstreams); nil otherwise.
	Caller ToolCaller `json:"-"`
	// Opener opens sessions of the upstream of their own, one per
	// downstream client, while State is ready; nil for stdio upstreams,
	// whose one process has one session.
	Opener SessionOpener `json:"-"`
	// Generation identifies the actor that owns this entry; updates from an
	// older actor are ignored.
	Generation uint64 `json:"-"`

	summaryOnce sync.Once
	summary     []byte
}

// SummaryJSON returns the server's status without its tool list, encoded
// once and cached: a server entry is immutable, so list endpoints can
// concatenate these instead of re-encoding every server on every request.
func (s *Server) SummaryJSON() []byte {
	s.summaryOnce.Do(func() {
		st := s.ServerStatus
		st.Tools = nil
		s.summary, _ = json.Marshal(st)
	})
	return s.summary
}

// ConfigHealth is what the config loads said about the file.
type ConfigHealth struct {
	// ConfigError is the error of the last config load that was rejected, or "".
	ConfigError   string
	ConfigErrorAt time.Time
	// ConfigWarnings are the warnings of the last config load that was
	// accepted (a repeated key, say): the file runs, but says something
	// twice or in a way other programs read differently.
	ConfigWarnings []string
}

// Snapshot is an immutable view of all servers.
//
// Entries sit in chunks of chunkSize pointers, in name order, so that
// replacing one server's entry (what every state change does) copies one
// chunk and the short list of chunks: its cost grows with the square root of
// the number of servers, not with the number. Adding or removing a server
// rebuilds the whole snapshot; Batch makes a run of those one rebuild.
type Snapshot struct {
	Version uint64
	// Names sorted; shared between snapshots while the set of names is unchanged.
	Names []string
	ConfigHealth

	pos    map[string]int // name → index in Names; shared like Names
	chunks [][]*Server    // entry i is chunks[i/chunkSize][i%chunkSize]
}

const chunkSize = 64

// Get returns the named server or nil.
func (s *Snapshot) Get(name string) *Server {
	i, ok := s.pos[name]
	if !ok {
		return nil
	}
	return s.At(i)
}

// Len returns the number of servers.
func (s *Snapshot) Len() int { return len(s.Names) }

// At returns the entry of Names[i].
func (s *Snapshot) At(i int) *Server { return s.chunks[i/chunkSize][i%chunkSize] }

// All yields every server in name order.
func (s *Snapshot) All() iter.Seq[*Server] {
	return func(yield func(*Server) bool) {
		for _, c := range s.chunks {
			for _, srv := range c {
				if !yield(srv) {
					return
				}
			}
		}
	}
}

// newSnapshot builds a snapshot of entries, a name's entry per name.
func newSnapshot(version uint64, entries map[string]*Server) *Snapshot {
	s := &Snapshot{Version: version, Names: slices.Sorted(maps.Keys(entries)), pos: make(map[string]int, len(entries))}
	s.chunks = make([][]*Server, 0, (len(s.Names)+chunkSize-1)/chunkSize)
	for i, name := range s.Names {
		s.pos[name] = i
		if i%chunkSize == 0 {
			s.chunks = append(s.chunks, make([]*Server, 0, min(chunkSize, len(s.Names)-i)))
		}
		c := &s.chunks[len(s.chunks)-1]
		*c = append(*c, entries[name])
	}
	return s
}

// entries returns the snapshot's entries by name, in a new map.
func (s *Snapshot) entries() map[string]*Server {
	m := make(map[string]*Server, len(s.Names))
	for i, name := range s.Names {
		m[name] = s.At(i)
	}
	return m
}

// Counts returns the number of servers in each state and the number of
// usable tools across all ready, approved servers.
func (s *Snapshot) Counts() (byState map[mcpproxy.ServerState]int, tools int) {
	byState = make(map[mcpproxy.ServerState]int, len(mcpproxy.AllStates))
	for _, st := range mcpproxy.AllStates {
		byState[st] = 0
	}
	for srv := range s.All() {
		byState[srv.State]++
		if srv.State == mcpproxy.StateReady && !srv.Quarantined {
			tools += srv.ToolCount - srv.PendingTools - srv.BlockedTools
		}
	}
	return byState, tools
}

// View is the current snapshot plus the bus on which changes are announced.
type View struct {
	cur atomic.Pointer[Snapshot]
	Bus *Bus

	// mu serialises writers; never held across I/O. It is taken under the
	// supervisor's lock, and update functions run under it may take the
	// pins' lock (Pins.Stamp): supervisor.mu → View.mu → Pins.mu.
	mu sync.Mutex
	// Inside Batch: the entries as the batch has left them (nil until
	// its first write) and the events it has held back. Guarded by mu.
	batching int
	work     map[string]*Server
	held     []mcpproxy.Event
}

// New returns an empty view.
func New() *View {
	v := &View{Bus: NewBus()}
	v.cur.Store(newSnapshot(0, nil))
	return v
}

// Load returns the current snapshot. It takes no lock and does not allocate.
func (v *View) Load() *Snapshot { return v.cur.Load() }

// Batch starts a batch of writes, and returns the function that ends it.
// Until then readers keep the snapshot from before the batch and its
// events wait; the end publishes one snapshot with every write, then the
// events in order. Writers inside the batch (any goroutine) see its writes.
// Adding many servers in a batch costs one rebuild instead of one each.
// Batches nest; the outermost end publishes.
func (v *View) Batch() (end func()) {
	v.mu.Lock()
	v.batching++
	v.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			v.mu.Lock()
			defer v.mu.Unlock()
			if v.batching--; v.batching > 0 {
				return
			}
			if v.work != nil {
				old := v.cur.Load()
				next := newSnapshot(old.Version+1, v.work)
				next.ConfigHealth = old.ConfigHealth
				v.cur.Store(next)
			}
			for _, e := range v.held {
				v.Bus.Publish(e)
			}
			v.work, v.held = nil, nil
		})
	}
}

// getLocked returns the named entry as writers see it.
func (v *View) getLocked(name string) *Server {
	if v.work != nil {
		return v.work[name]
	}
	return v.cur.Load().Get(name)
}

// publishLocked publishes an event now, or at the end of the batch.
func (v *View) publishLocked(e mcpproxy.Event) {
	if v.batching > 0 {
		v.held = append(v.held, e)
		return
	}
	v.Bus.Publish(e)
}

// replaceLocked makes srv the entry for name (nil removes it): in the
// batch's entries, else in a newly published snapshot.
func (v *View) replaceLocked(name string, srv *Server) {
	if v.batching > 0 {
		if v.work == nil {
			v.work = v.cur.Load().entries()
		}
		if srv == nil {
			delete(v.work, name)
		} else {
			v.work[name] = srv
		}
		return
	}
	old := v.cur.Load()
	i, existed := old.pos[name]
	if !existed || srv == nil {
		if !existed && srv == nil {
			return
		}
		m := old.entries()
		if srv == nil {
			delete(m, name)
		} else {
			m[name] = srv
		}
		next := newSnapshot(old.Version+1, m)
		next.ConfigHealth = old.ConfigHealth
		v.cur.Store(next)
		return
	}
	// One entry replaced: copy its chunk and the list of chunks, share
	// the rest.
	next := *old
	next.Version++
	next.chunks = slices.Clone(old.chunks)
	c := slices.Clone(old.chunks[i/chunkSize])
	c[i%chunkSize] = srv
	next.chunks[i/chunkSize] = c
	v.cur.Store(&next)
}

// Put installs srv as the entry for its name, replacing any entry (and
// thereby any older generation). It publishes a state-changed event.
func (v *View) Put(srv *Server) {
	v.mu.Lock()
	v.replaceLocked(srv.Name, srv)
	// Published under mu (Publish never blocks) so that events leave in the
	// order the snapshots were made.
	v.publishLocked(stateEvent(srv))
	v.mu.Unlock()
}

// Update applies mutate to a copy of the named server's entry and publishes
// it, provided the entry still belongs to generation gen. It reports whether
// the update was applied. mutate must not block.
func (v *View) Update(name string, gen uint64, mutate func(s *Server)) bool {
	v.mu.Lock()
	cur := v.getLocked(name)
	if cur == nil || cur.Generation != gen {
		v.mu.Unlock()
		return false
	}
	next := &Server{ServerStatus: cur.ServerStatus, Session: cur.Session, Caller: cur.Caller, Opener: cur.Opener, Generation: cur.Generation}
	mutate(next)
	v.replaceLocked(name, next)
	if next.State != cur.State || next.LastError != cur.LastError || next.RetryCount != cur.RetryCount ||
		next.Quarantined != cur.Quarantined || next.Enabled != cur.Enabled {
		v.publishLocked(stateEvent(next))
	}
	if next.ToolCount != cur.ToolCount || !SameTools(cur.Tools, next.Tools) {
		v.publishLocked(mcpproxy.NewEvent(mcpproxy.EventServerToolsChanged, name, map[string]any{
			"tool_count": next.ToolCount,
		}))
	}
	v.mu.Unlock()
	// The writer encodes the new entry's summary, outside the lock, so
	// that the list endpoints never do: while many servers change at
	// once (startup) a reader would otherwise encode hundreds of them.
	next.SummaryJSON()
	return true
}

// Remove deletes the named server's entry if it belongs to generation gen
// (gen 0 removes whatever is there).
func (v *View) Remove(name string, gen uint64) {
	v.mu.Lock()
	cur := v.getLocked(name)
	if cur == nil || (gen != 0 && cur.Generation != gen) {
		v.mu.Unlock()
		return
	}
	v.replaceLocked(name, nil)
	v.publishLocked(mcpproxy.NewEvent(mcpproxy.EventServerStateChanged, name, map[string]any{"removed": true}))
	v.mu.Unlock()
}

// SetConfigError records (or with "" clears) the last rejected config load.
func (v *View) SetConfigError(msg string) {
	v.mu.Lock()
	old := v.cur.Load()
	if old.ConfigError == msg {
		v.mu.Unlock()
		return
	}
	next := *old
	next.Version++
	next.ConfigError = msg
	next.ConfigErrorAt = time.Time{}
	if msg != "" {
		next.ConfigErrorAt = time.Now().UTC()
	}
	v.cur.Store(&next)
	v.mu.Unlock()
}

// SetConfigWarnings records the warnings of the config load just accepted
// and publishes them (EventConfigWarnings) when they changed.
func (v *View) SetConfigWarnings(warnings []string) {
	v.mu.Lock()
	old := v.cur.Load()
	if slices.Equal(old.ConfigWarnings, warnings) {
		v.mu.Unlock()
		return
	}
	next := *old
	next.Version++
	next.ConfigWarnings = slices.Clone(warnings)
	v.cur.Store(&next)
	v.publishLocked(mcpproxy.NewEvent(mcpproxy.EventConfigWarnings, "", map[string][]string{"warnings": next.ConfigWarnings}))
	v.mu.Unlock()
}

func stateEvent(s *Server) mcpproxy.Event {
	return mcpproxy.NewEvent(mcpproxy.EventServerStateChanged, s.Name, json.RawMessage(s.SummaryJSON()))
}

// SetTools installs a tool list on s (an unpublished copy, inside an
// Update) and the counts derived from it.
func SetTools(s *Server, tools []mcpproxy.Tool) {
	s.Tools = tools
	s.ToolCount = len(tools)
	s.PendingTools, s.BlockedTools = 0, 0
	for i := range tools {
		switch tools[i].Approval {
		case mcpproxy.ApprovalPending, mcpproxy.ApprovalChanged:
			s.PendingTools++
		case mcpproxy.ApprovalBlocked:
			s.BlockedTools++
		}
	}
}

// UsableTools returns the tools that may be searched, listed and called:
// tools itself when all are, else a new slice.
func UsableTools(tools []mcpproxy.Tool) []mcpproxy.Tool {
	for i := range tools {
		if !tools[i].Usable() {
			out := make([]mcpproxy.Tool, 0, len(tools)-1)
			for j := range tools {
				if tools[j].Usable() {
					out = append(out, tools[j])
				}
			}
			return out
		}
	}
	return tools
}

// SameTools reports whether two tool lists are the same published list.
// Tool lists are never modified once published, so identity is enough.
func SameTools(a, b []mcpproxy.Tool) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 {
		return true
	}
	return &a[0] == &b[0]
}
