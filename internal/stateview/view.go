// Package stateview holds the observed state of every upstream server as an
// immutable snapshot behind an atomic pointer, and the event bus that tells
// subscribers when it changes.
//
// Concurrency contract: any number of readers call Load and read the returned
// Snapshot without locks; a Snapshot and every *Server in it are never
// modified after publication. Writers (the supervisor and the actors it owns)
// are serialised by a mutex that is held only for in-memory work: an update
// copies the map of pointers and replaces one entry, so its cost is
// proportional to the number of servers' pointers, never to their contents.
// Publishing an event never blocks (see Bus).
package stateview

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Server is one server's published status plus the live session an actor
// publishes while the server is ready. Treat it as read-only.
type Server struct {
	mcpproxy.ServerStatus

	// Session is the concurrency-safe upstream session while State is ready;
	// nil otherwise. Tool calls use it directly.
	Session *mcp.ClientSession `json:"-"`
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

// Snapshot is an immutable view of all servers.
type Snapshot struct {
	Version uint64
	// Servers by name. Never mutate.
	Servers map[string]*Server
	// Names sorted; shared between snapshots while the set of names is unchanged.
	Names []string
	// ConfigError is the error of the last config load that was rejected, or "".
	ConfigError   string
	ConfigErrorAt time.Time
}

// Get returns the named server or nil.
func (s *Snapshot) Get(name string) *Server { return s.Servers[name] }

// Counts returns the number of servers in each state and the number of
// usable tools across all ready, approved servers.
func (s *Snapshot) Counts() (byState map[mcpproxy.ServerState]int, tools int) {
	byState = make(map[mcpproxy.ServerState]int, len(mcpproxy.AllStates))
	for _, st := range mcpproxy.AllStates {
		byState[st] = 0
	}
	for _, srv := range s.Servers {
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

	mu sync.Mutex // serialises writers; never held across I/O
}

// New returns an empty view.
func New() *View {
	v := &View{Bus: NewBus()}
	v.cur.Store(&Snapshot{Servers: map[string]*Server{}})
	return v
}

// Load returns the current snapshot. It takes no lock and does not allocate.
func (v *View) Load() *Snapshot { return v.cur.Load() }

// replaceLocked publishes a new snapshot that differs from old in the entry
// for name (nil removes it).
func (v *View) replaceLocked(old *Snapshot, name string, srv *Server) *Snapshot {
	next := &Snapshot{
		Version:       old.Version + 1,
		Servers:       maps.Clone(old.Servers),
		Names:         old.Names,
		ConfigError:   old.ConfigError,
		ConfigErrorAt: old.ConfigErrorAt,
	}
	_, existed := old.Servers[name]
	if srv == nil {
		delete(next.Servers, name)
		if existed {
			next.Names = slices.DeleteFunc(slices.Clone(old.Names), func(n string) bool { return n == name })
		}
	} else {
		next.Servers[name] = srv
		if !existed {
			i, _ := slices.BinarySearch(old.Names, name)
			next.Names = slices.Insert(slices.Clone(old.Names), i, name)
		}
	}
	v.cur.Store(next)
	return next
}

// Put installs srv as the entry for its name, replacing any entry (and
// thereby any older generation). It publishes a state-changed event.
func (v *View) Put(srv *Server) {
	v.mu.Lock()
	v.replaceLocked(v.cur.Load(), srv.Name, srv)
	// Published under mu (Publish never blocks) so that events leave in the
	// order the snapshots were made.
	v.Bus.Publish(stateEvent(srv))
	v.mu.Unlock()
}

// Update applies mutate to a copy of the named server's entry and publishes
// it, provided the entry still belongs to generation gen. It reports whether
// the update was applied. mutate must not block.
func (v *View) Update(name string, gen uint64, mutate func(s *Server)) bool {
	v.mu.Lock()
	old := v.cur.Load()
	cur := old.Servers[name]
	if cur == nil || cur.Generation != gen {
		v.mu.Unlock()
		return false
	}
	next := &Server{ServerStatus: cur.ServerStatus, Session: cur.Session, Generation: cur.Generation}
	mutate(next)
	v.replaceLocked(old, name, next)
	if next.State != cur.State || next.LastError != cur.LastError || next.RetryCount != cur.RetryCount ||
		next.Quarantined != cur.Quarantined || next.Enabled != cur.Enabled {
		v.Bus.Publish(stateEvent(next))
	}
	if next.ToolCount != cur.ToolCount || !SameTools(cur.Tools, next.Tools) {
		v.Bus.Publish(mcpproxy.NewEvent(mcpproxy.EventServerToolsChanged, name, map[string]any{
			"tool_count": next.ToolCount,
		}))
	}
	v.mu.Unlock()
	return true
}

// Remove deletes the named server's entry if it belongs to generation gen
// (gen 0 removes whatever is there).
func (v *View) Remove(name string, gen uint64) {
	v.mu.Lock()
	old := v.cur.Load()
	cur := old.Servers[name]
	if cur == nil || (gen != 0 && cur.Generation != gen) {
		v.mu.Unlock()
		return
	}
	v.replaceLocked(old, name, nil)
	v.Bus.Publish(mcpproxy.NewEvent(mcpproxy.EventServerStateChanged, name, map[string]any{"removed": true}))
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
