package mcpserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/index"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// catalogDebounce gathers bursts of state changes (hundreds of servers
// connecting at start) into one pass.
const catalogDebounce = 50 * time.Millisecond

// directSep joins server and tool in direct-mode tool names; tool names may
// only contain A-Za-z0-9_.- so ':' is not an option there.
const directSep = "__"

type route struct{ server, tool string }

// directSet is the direct endpoint's immutable tool list.
type directSet struct {
	tools  []*mcp.Tool
	routes map[string]route
}

// catalog keeps the search index and the direct endpoint's tool list equal
// to the approved tools of every ready, enabled, non-quarantined server. It is the
// only writer of both; it follows the state view's events and never blocks
// a reader. A server that is merely not ready (disconnected, disabled) is
// hidden in the index, not removed, so that it costs no indexing when it
// comes back with the same tools; one that is quarantined or gone from the
// view is removed.
type catalog struct {
	view   *stateview.View
	idx    *index.Index
	direct *mcp.Server
	log    *slog.Logger
	// metrics, if not nil, is told how long each index update took.
	metrics Metrics
	// afterSync, if not nil, runs on the catalog's goroutine after each
	// pass (a pass follows every change of the view, config reloads too).
	afterSync func()
	set       atomic.Pointer[directSet]
	// synced counts completed passes; tests and benchmarks wait on it.
	synced atomic.Uint64
	stop   chan struct{}
	done   chan struct{}
}

func startCatalog(view *stateview.View, idx *index.Index, direct *mcp.Server, log *slog.Logger, m Metrics, afterSync func()) *catalog {
	c := &catalog{view: view, idx: idx, direct: direct, log: log, metrics: m, afterSync: afterSync, stop: make(chan struct{}), done: make(chan struct{})}
	c.set.Store(&directSet{routes: map[string]route{}})
	go c.run()
	return c
}

func (c *catalog) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

func eligible(s *stateview.Server) bool {
	return s.State == mcpproxy.StateReady && s.Enabled && !s.Quarantined
}

func (c *catalog) run() {
	defer close(c.done)
	indexed := map[string][]mcpproxy.Tool{}
	for {
		// Subscribe before reading the snapshot so no change falls between.
		sub := c.view.Bus.Subscribe(4096)
		c.sync(indexed)
		for open := true; open; {
			select {
			case <-c.stop:
				sub.Close()
				return
			case _, ok := <-sub.C():
				if !ok {
					open = false // dropped: resubscribe and resync from a snapshot
					break
				}
				t := time.NewTimer(catalogDebounce)
				select {
				case <-c.stop:
					t.Stop()
					sub.Close()
					return
				case <-t.C:
				}
				for drained := false; !drained; {
					select {
					case _, ok := <-sub.C():
						if !ok {
							open, drained = false, true
						}
					default:
						drained = true
					}
				}
				c.sync(indexed)
			}
		}
		sub.Close()
	}
}

// sync brings the index and the direct list in line with the current
// snapshot. Servers whose tool slice is unchanged cost a pointer compare;
// the changed ones go to the index in one update.
func (c *catalog) sync(indexed map[string][]mcpproxy.Tool) {
	snap := c.view.Load()
	sets := map[string][]mcpproxy.Tool{} // nil tools: remove the server
	var hide []string
	for name, tools := range indexed {
		srv := snap.Get(name)
		switch {
		case srv == nil || srv.Quarantined:
			sets[name] = nil
		case !eligible(srv):
			hide = append(hide, name)
		}
		if srv == nil || !eligible(srv) {
			delete(indexed, name)
			continue
		}
		if !stateview.SameTools(tools, srv.Tools) {
			sets[name] = stateview.UsableTools(srv.Tools)
			indexed[name] = srv.Tools
		}
	}
	for i, name := range snap.Names {
		srv := snap.At(i)
		if _, ok := indexed[name]; ok || !eligible(srv) {
			continue
		}
		sets[name] = stateview.UsableTools(srv.Tools)
		indexed[name] = srv.Tools
	}
	c.prune(snap)
	if len(sets) > 0 || len(hide) > 0 {
		c.index(sets, hide)
		c.set.Store(buildDirect(indexed, c.log))
		if c.direct != nil {
			// Re-adding the placeholder makes the SDK tell every session
			// that the tool list changed; the list itself comes from set.
			c.direct.AddTool(placeholderTool, placeholderHandler)
		}
	}
	if c.afterSync != nil {
		c.afterSync()
	}
	c.synced.Add(1)
}

// prune removes from the index the dormant servers the view has
// quarantined: those the index kept from an earlier run, or hid, and that
// no longer may come back. (The daemon prunes servers gone from the
// config; the view may not hold them yet at the first sync.)
func (c *catalog) prune(snap *stateview.Snapshot) {
	if c.idx == nil {
		return
	}
	err := c.idx.Prune(func(name string) bool {
		srv := snap.Get(name)
		return srv == nil || !srv.Quarantined
	})
	if err != nil {
		c.log.Error("index: remove quarantined servers", "error", err)
	}
}

// index hides servers and applies sets to the index in one update. An
// update the index refuses (an invalid name somewhere) is retried server by
// server, so one bad server cannot keep the others out.
func (c *catalog) index(sets map[string][]mcpproxy.Tool, hide []string) {
	if c.idx == nil {
		return
	}
	if err := c.idx.Hide(hide...); err != nil {
		c.log.Error("index: hide servers", "servers", hide, "error", err)
	}
	if len(sets) == 0 {
		return
	}
	snap := c.view.Load()
	servers := make(map[string]index.Server, len(sets))
	for name, tools := range sets {
		servers[name] = index.Server{Tools: tools, Instructions: instructionsOf(snap.Get(name))}
	}
	start := time.Now()
	err := c.idx.Update(servers)
	if c.metrics != nil {
		op := "remove" // only removals
		for _, tools := range sets {
			if tools != nil {
				op = "set"
				break
			}
		}
		c.metrics.IndexUpdate(op, time.Since(start))
	}
	if err == nil {
		return
	}
	for name, srv := range servers {
		if err := c.idx.Update(map[string]index.Server{name: srv}); err != nil {
			c.log.Error("index: set server", "server", name, "error", err)
		}
	}
}

// instructionsOf returns the instructions a server gave in its initialize
// result, which the index takes as a weak field of its tools.
func instructionsOf(srv *stateview.Server) string {
	if srv == nil || srv.Session == nil {
		return ""
	}
	if init := srv.Session.InitializeResult(); init != nil {
		return init.Instructions
	}
	return ""
}

var placeholderTool = &mcp.Tool{Name: "mcpproxy_placeholder", InputSchema: json.RawMessage(`{"type":"object"}`)}

func placeholderHandler(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return errorResult("not a real tool"), nil
}

// buildDirect lists every usable tool as server__tool. Two tools can get
// the same name (server "a__b" tool "c", server "a" tool "b__c"); the one
// whose server name sorts first keeps it, the other is left out and
// reported, so that a name always routes to one tool, the same one each
// time.
func buildDirect(indexed map[string][]mcpproxy.Tool, log *slog.Logger) *directSet {
	set := &directSet{routes: map[string]route{}}
	servers := make([]string, 0, len(indexed))
	for server := range indexed {
		servers = append(servers, server)
	}
	slices.Sort(servers)
	for _, server := range servers {
		for _, t := range stateview.UsableTools(indexed[server]) {
			name := server + directSep + t.Name
			if prev, taken := set.routes[name]; taken {
				if log != nil {
					log.Warn("direct mode: tool name taken; tool left out of /mcp/all (call it through /mcp or /mcp/server/"+server+")",
						"name", name, "server", server, "tool", t.Name, "kept_server", prev.server, "kept_tool", prev.tool)
				}
				continue
			}
			set.routes[name] = route{server, t.Name}
			tool := &mcp.Tool{
				Name:        name,
				Title:       t.Title,
				Description: t.Description,
				InputSchema: objectSchema(t.InputSchema),
				Annotations: annotations(t.Annotations),
			}
			if out := outputSchema(t.OutputSchema); out != nil {
				tool.OutputSchema = out
			}
			set.tools = append(set.tools, tool)
		}
	}
	slices.SortFunc(set.tools, func(a, b *mcp.Tool) int { return strings.Compare(a.Name, b.Name) })
	return set
}

// objectSchema passes an upstream's input schema through when it is a JSON
// object schema and substitutes an open object schema when it is not, so one
// upstream's bad schema cannot break tools/list for everyone.
func objectSchema(raw json.RawMessage) json.RawMessage {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || m["type"] != "object" {
		return json.RawMessage(`{"type":"object"}`)
	}
	return raw
}

// outputSchema passes an upstream's output schema through when it is a JSON
// object (a schema), and drops it otherwise, so one upstream's bad schema
// cannot break tools/list for everyone.
func outputSchema(raw json.RawMessage) json.RawMessage {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return raw
}

func annotations(raw json.RawMessage) *mcp.ToolAnnotations {
	if len(raw) == 0 {
		return nil
	}
	var a mcp.ToolAnnotations
	if json.Unmarshal(raw, &a) != nil {
		return nil
	}
	return &a
}
