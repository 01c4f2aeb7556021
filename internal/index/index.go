// Package index owns the search index over the tools of all upstream servers:
// the BM25 index behind retrieve_tools, and the map from each hit back to the
// mcpproxy.Tool an upstream reported. bleve keeps the documents (on disk for
// the daemon); searches score over an inverted index the snapshot holds
// (scorer.go).
//
// The daemon keeps the index on disk (Open), so that it outlives a restart:
// the servers it holds are dormant at first, hidden from searches, and a
// server set again with the tools it had costs no bleve indexing (only the
// analysis of its tools for the snapshot's inverted index), only making it
// live. New keeps an index in memory. A writer can also make a live server
// dormant (Hide: it disconnected), remove it (RemoveServer), or remove the
// dormant servers it no longer wants (Prune).
//
// Concurrency: an Index is safe for concurrent use, and searches take no lock
// of this package. A search reads an immutable snapshot of the live tools,
// their inverted index and the statistics BM25 takes over them, through an
// atomic pointer; dormant servers are not in it. Writers (SetServer, Hide,
// RemoveServer, Prune, Close) are serialized by a mutex that searches never
// touch, so re-indexing a server never blocks a search. SetServer applies one
// bleve batch holding that server's tools and publishes a snapshot sharing
// every other server's entry and every dictionary shard without its terms:
// its cost is proportional to that server's tools and, for each of its terms,
// to the servers that have it too, not to the size of the index.
//
// Each batch becomes a bleve segment, and bleve pays for every segment.
// On disk, bleve merges segments in the background itself. In memory it
// never does, so the Index merges them, with a goroutine it owns: it
// re-indexes the servers of several small segments in one batch, which
// leaves one segment in their place (see merge.go). Merging does not hold the
// writers' mutex while bleve works. Close stops that goroutine (and bleve's),
// waits for it and for searches in flight. Nothing here waits on an upstream.
//
// Tools are treated as immutable once passed in: hits return the same Tool
// values (sharing their raw JSON), which callers must not modify.
package index

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bleveindex "github.com/blevesearch/bleve_index_api"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// DefaultLimit is the number of hits Search returns when limit <= 0.
const DefaultLimit = 15

// Hit is one search result.
type Hit struct {
	Server string // server name
	Tool   mcpproxy.Tool
	Score  float64
	// CompactJSON reports that Tool.InputSchema and Tool.Annotations are
	// each empty or valid JSON exactly as encoding/json writes a
	// json.RawMessage (compacted, HTML characters as they are), so that an
	// answer may copy them as they are. The index checks this once, when
	// it takes the tool in.
	CompactJSON bool
	// Why is set by SearchExplained: what the score is made of.
	Why *Explanation
}

// ID returns the tool id, "server:tool".
func (h *Hit) ID() string { return docID(h.Server, h.Tool.Name) }

// Index is a BM25 index over the tools of many servers. The zero value is not
// usable; call New.
type Index struct {
	bleve     bleve.Index
	dir       string // "" in memory
	version   []byte // on disk: the format version recorded
	log       *slog.Logger
	analyzer  analysis.Analyzer // the query analyzer; the same for every field
	policy    mergePolicy
	rank      ranking
	selfMerge bool // false where bleve merges segments itself (on disk)
	// indexed counts the documents writers have given bleve (merges
	// excluded): tests tell re-indexing from reviving with it.
	indexed atomic.Uint64
	// Test hooks: merged is called by the merger after each merge,
	// beforeFixup by merge between its two batches.
	merged, beforeFixup func()

	wake chan struct{} // buffered: asks the merger to look for work
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the merger has returned
	// merging serializes merges: the merger's, and those tests force.
	merging sync.Mutex

	mu sync.Mutex // serializes writers; searches never take it
	// snap is replaced and closed set under mu; both are read without it.
	snap   atomic.Pointer[snapshot]
	closed atomic.Bool
	// known is every server with documents in bleve, live (in snap) or
	// dormant (hidden from searches until set again with the same tools).
	known   map[string]*serverTools // guarded by mu
	groupOf map[string]*group       // guarded by mu; the segment each server's tools are in
	groups  map[*group]struct{}     // guarded by mu
	// freeSlots are the slots no live server holds, below nextSlot.
	freeSlots []int32 // guarded by mu
	nextSlot  int32   // guarded by mu
}

// snapshot is the immutable set of indexed tools. An update copies the map of
// pointers and replaces only the changed server's entry.
type snapshot struct {
	servers map[string]*serverTools // live servers only
	n       int                     // number of tools across servers
	lens    fieldLens               // analyzed tokens per field across servers
	hidden  int                     // documents of dormant servers, which searches skip
	// terms is the inverted index of the live servers' tools, by analyzed
	// term, that the index's own scorer searches (scorer.go).
	terms *termDict
	slots int // above every live server's slot
}

type serverTools struct {
	server string
	hash   [sha256.Size]byte
	names  []string               // sorted; the documents' tool names
	lens   fieldLens              // analyzed tokens per field, summed over the tools
	tools  map[string]indexedTool // by name; nil for a dormant server loaded from disk
	post   *postings              // nil for a dormant server loaded from disk
	// slot numbers the server among the live ones, from the time a snapshot
	// first holds it: a search keeps per-server state in a slice by slot.
	slot int32
}

// indexedTool is a tool as the index keeps it.
type indexedTool struct {
	mcpproxy.Tool
	compactJSON bool // see Hit.CompactJSON
}

func newIndexedTool(t mcpproxy.Tool) indexedTool {
	return indexedTool{Tool: t, compactJSON: isCompactJSON(t.InputSchema) && isCompactJSON(t.Annotations)}
}

// isCompactJSON reports whether raw is empty, or valid JSON that
// compacting leaves as it is.
func isCompactJSON(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return true
	}
	var b bytes.Buffer
	return json.Compact(&b, raw) == nil && bytes.Equal(b.Bytes(), raw)
}

func (s *snapshot) lookup(id string) (server string, t indexedTool, ok bool) {
	server, name, _ := strings.Cut(id, ":")
	if st := s.servers[server]; st != nil {
		t, ok = st.tools[name]
	}
	return server, t, ok
}

var errClosed = mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "tool index: closed")

// New returns an empty in-memory index. Close releases it.
func New() (*Index, error) { return newIndex(defaultMergePolicy, nil) }

// newIndex returns an empty in-memory index that merges segments by policy
// and calls merged, if not nil, after each merge.
func newIndex(policy mergePolicy, merged func()) (*Index, error) {
	return newIndexRanked(policy, merged, defaultRanking)
}

// newIndexRanked is newIndex with a ranking: the evaluation compares
// rankings in one run.
func newIndexRanked(policy mergePolicy, merged func(), r ranking) (*Index, error) {
	// scorch, not bleve.NewMemOnly: only scorch implements the per-field
	// statistics BM25 needs; the in-memory upsidedown index silently scores
	// with TF-IDF. With an empty path scorch keeps its segments in memory and
	// starts no persister or merger.
	bi, err := bleve.NewUsing("", newMapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("tool index: %w", err)
	}
	x, err := build(bi, "", slog.Default(), policy, true)
	if err != nil {
		bi.Close()
		return nil, err
	}
	x.rank = r
	x.merged = merged
	x.start()
	return x, nil
}

// build returns an Index over bi, which is empty or holds what load reads.
func build(bi bleve.Index, dir string, log *slog.Logger, policy mergePolicy, selfMerge bool) (*Index, error) {
	a := bi.Mapping().AnalyzerNamed(en.AnalyzerName)
	if a == nil {
		return nil, fmt.Errorf("tool index: no analyzer %q", en.AnalyzerName)
	}
	x := &Index{
		bleve:     bi,
		dir:       dir,
		log:       log,
		analyzer:  a,
		policy:    policy,
		rank:      defaultRanking,
		selfMerge: selfMerge,
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		known:     map[string]*serverTools{},
		groupOf:   map[string]*group{},
		groups:    map[*group]struct{}{},
	}
	x.snap.Store(&snapshot{servers: map[string]*serverTools{}})
	return x, nil
}

// start starts the merger, if the index merges its segments itself.
func (x *Index) start() {
	if !x.selfMerge {
		close(x.done)
		return
	}
	go x.merger()
}

func newMapping() *mapping.IndexMappingImpl {
	doc := bleve.NewDocumentStaticMapping()
	for _, name := range indexedFields {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = en.AnalyzerName // stemming: "reading files" finds "read_file"
		f.Store = false
		f.IncludeTermVectors = false // no phrases or highlighting
		f.IncludeInAll = false
		f.DocValues = false
		doc.AddFieldMappingsAt(name, f)
	}
	// No composite "_all" field: nothing searches it, and bleve would
	// still build it for every document.
	doc.AddSubDocumentMapping("_all", bleve.NewDocumentDisabledMapping())
	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = en.AnalyzerName
	m.ScoringModel = bleveindex.BM25Scoring
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false
	return m
}

func docID(server, tool string) string { return server + ":" + tool }

// SetServer replaces all tools of one server in a single batch, so a search
// sees either the old tools or the new ones. It does nothing when the tools
// are identical to those indexed. An empty list removes the server. The
// server's instructions, if Update gave it some, are dropped.
func (x *Index) SetServer(server string, tools []mcpproxy.Tool) error {
	return x.SetServers(map[string][]mcpproxy.Tool{server: tools})
}

// Server is what the index takes of one server.
type Server struct {
	Tools []mcpproxy.Tool
	// Instructions are the instructions the server gave in its initialize
	// result. They are a weak field of each of its tools: a query word
	// found there adds a little to the score of a tool the query matches
	// otherwise (at instrBoost), never makes one match and does not count
	// toward coverage. Only the first MaxInstructions bytes are indexed.
	Instructions string
}

// MaxInstructions bounds the bytes of a server's instructions the index
// reads: each of the server's tools holds their terms.
const MaxInstructions = 4096

// Update is SetServers with each server's instructions.
func (x *Index) Update(sets map[string]Server) error {
	// Deriving the documents is pure work: do it before taking the lock.
	var preps []*prepared
	var removes []string
	for _, server := range slices.Sorted(maps.Keys(sets)) {
		p, err := x.prepare(server, sets[server].Tools, sets[server].Instructions)
		if err != nil {
			return err
		}
		switch {
		case p == nil:
			removes = append(removes, server)
		case p.st != nil:
			preps = append(preps, p)
		}
	}
	return x.apply(preps, removes)
}

// prepared is one server's tools made ready for indexing.
type prepared struct {
	server string
	sorted []mcpproxy.Tool
	docs   []*document
	st     *serverTools
}

// prepare checks, sorts and de-duplicates a server's tools and derives their
// documents. It returns nil when the server has no tools.
func (x *Index) prepare(server string, tools []mcpproxy.Tool, instructions string) (*prepared, error) {
	if err := checkServer(server); err != nil {
		return nil, err
	}
	for i := range tools {
		if tools[i].Name == "" {
			return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "tools[%d].name: must not be empty (server %s)", i, server)
		}
	}
	sorted := slices.Clone(tools)
	slices.SortStableFunc(sorted, func(a, b mcpproxy.Tool) int { return cmp.Compare(a.Name, b.Name) })
	// A server that lists a name twice gets its last definition.
	uniq := sorted[:0]
	for i := range sorted {
		if i+1 < len(sorted) && sorted[i+1].Name == sorted[i].Name {
			continue
		}
		uniq = append(uniq, sorted[i])
	}
	sorted = uniq
	if len(sorted) == 0 {
		return nil, nil
	}
	instructions = mcpproxy.CutBytes(instructions, MaxInstructions)
	hash := toolsHash(sorted, instructions)
	if x.unchanged(server, hash) {
		return &prepared{server: server}, nil
	}
	p := &prepared{server: server, sorted: sorted, docs: make([]*document, len(sorted)),
		st: &serverTools{server: server, hash: hash, names: make([]string, len(sorted)), tools: make(map[string]indexedTool, len(sorted))}}
	for i := range sorted {
		p.docs[i] = newDocument(server, &sorted[i])
		p.docs[i].instructions = instructions
		p.st.names[i] = sorted[i].Name
		p.st.tools[sorted[i].Name] = newIndexedTool(sorted[i])
	}
	p.st.post, p.st.lens = newPostings(x.analyzer, p.docs)
	return p, nil
}

// SetServers does what SetServer does for several servers at once, in one
// batch: a search sees all of the changes or none, and the batch makes one
// segment instead of one per server (many servers connecting at startup
// cost one index update, not hundreds). Servers with an empty list are
// removed. An invalid server or tool changes nothing.
//
// A dormant server (see Hide and Open) set with the tools it has indexed
// becomes live again without being re-indexed.
func (x *Index) SetServers(sets map[string][]mcpproxy.Tool) error {
	servers := make(map[string]Server, len(sets))
	for name, tools := range sets {
		servers[name] = Server{Tools: tools}
	}
	return x.Update(servers)
}

// apply indexes the prepared servers and removes those of removes, in one
// batch.
func (x *Index) apply(preps []*prepared, removes []string) error {
	if len(preps) == 0 && len(removes) == 0 {
		return nil
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed.Load() {
		return errClosed
	}
	cur := x.snap.Load()
	b := x.bleve.NewBatch()
	changes := map[string]*serverTools{}
	revived := map[string]*serverTools{}
	grouped := map[string]int{}
	indexed := 0
	for _, server := range removes {
		if old := x.known[server]; old != nil {
			deleteServer(b, server, old)
			changes[server] = nil
		}
	}
	for _, p := range preps {
		if old := x.known[p.server]; old != nil {
			if old.hash == p.st.hash {
				// Live: a writer indexed the same tools since prepare.
				// Dormant: its documents are the ones it would index.
				if cur.servers[p.server] == nil {
					revived[p.server] = p.st
				}
				continue
			}
			deleteServer(b, p.server, old)
		}
		// An id both deleted and indexed in one batch ends up indexed:
		// the later operation wins.
		for i := range p.sorted {
			if err := b.Index(docID(p.server, p.sorted[i].Name), p.docs[i]); err != nil {
				return fmt.Errorf("index server %s: tool %s: %w", p.server, p.sorted[i].Name, err)
			}
		}
		// In the same batch as the documents, so the two cannot disagree.
		b.SetInternal(recordKey(p.server), p.st.hash[:])
		changes[p.server] = p.st
		grouped[p.server] = len(p.sorted)
		indexed += len(p.sorted)
	}
	if len(changes) == 0 && len(revived) == 0 {
		return nil
	}
	if len(changes) > 0 {
		if err := x.bleve.Batch(b); err != nil {
			return fmt.Errorf("index servers %s: %w", strings.Join(slices.Sorted(maps.Keys(changes)), ", "), err)
		}
		x.indexed.Add(uint64(indexed))
	}
	maps.Copy(changes, revived)
	x.publishLocked(cur, changes, nil)
	for server, st := range changes {
		if st == nil {
			x.ungroupLocked(server)
		}
	}
	x.groupLocked(grouped, indexed)
	x.wakeMergerLocked()
	return nil
}

// deleteServer adds the deletion of a server's documents and record to b.
func deleteServer(b *bleve.Batch, server string, st *serverTools) {
	for _, name := range st.names {
		b.Delete(docID(server, name))
	}
	b.DeleteInternal(recordKey(server))
}

// unchanged reports whether server's live tools have the given hash.
func (x *Index) unchanged(server string, hash [sha256.Size]byte) bool {
	old := x.snap.Load().servers[server]
	return old != nil && old.hash == hash
}

// RemoveServer removes all tools of one server, live or dormant. Removing a
// server that has no tools indexed does nothing.
func (x *Index) RemoveServer(server string) error {
	if err := checkServer(server); err != nil {
		return err
	}
	return x.remove(func(s string) bool { return s == server }, false)
}

// Prune removes every dormant server for which keep is false: the daemon
// calls it with its config, so that servers removed from the config or
// quarantined, which no writer will set again, do not stay on disk. Live
// servers are left to their writer.
func (x *Index) Prune(keep func(server string) bool) error {
	return x.remove(func(s string) bool { return !keep(s) }, true)
}

// remove deletes, in one batch, the servers drop selects, only among the
// dormant ones if dormantOnly.
func (x *Index) remove(drop func(server string) bool, dormantOnly bool) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed.Load() {
		return errClosed
	}
	cur := x.snap.Load()
	b := x.bleve.NewBatch()
	changes := map[string]*serverTools{}
	for server, st := range x.known {
		if dormantOnly && cur.servers[server] != nil || !drop(server) {
			continue
		}
		deleteServer(b, server, st)
		changes[server] = nil
	}
	if len(changes) == 0 {
		return nil
	}
	if err := x.bleve.Batch(b); err != nil {
		return fmt.Errorf("unindex servers %s: %w", strings.Join(slices.Sorted(maps.Keys(changes)), ", "), err)
	}
	x.publishLocked(cur, changes, nil)
	for server := range changes {
		x.ungroupLocked(server)
	}
	x.wakeMergerLocked()
	return nil
}

// Hide makes live servers dormant: their tools leave search results and
// statistics at once but stay indexed, so that setting the same tools again
// (a server that reconnects unchanged) costs no indexing. Hiding a server
// that is not live does nothing.
func (x *Index) Hide(servers ...string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed.Load() {
		return errClosed
	}
	cur := x.snap.Load()
	var hide []string
	for _, server := range servers {
		if cur.servers[server] != nil {
			hide = append(hide, server)
		}
	}
	if len(hide) > 0 {
		x.publishLocked(cur, nil, hide)
	}
	return nil
}

// publishLocked publishes a snapshot in which each server in changes is
// live with its tools, or is gone where they are nil, and each server in
// hide is dormant; known follows. The bleve batch must already be applied:
// a search that loaded the old snapshot and then finds a new tool reloads
// the snapshot (see Search), which is then guaranteed to have it.
func (x *Index) publishLocked(cur *snapshot, changes map[string]*serverTools, hide []string) {
	next := &snapshot{servers: maps.Clone(cur.servers), n: cur.n, lens: cur.lens, hidden: cur.hidden}
	var left, entered []*serverTools
	leave := func(server string) {
		old := x.known[server]
		switch {
		case old == nil:
		case next.servers[server] != nil:
			next.n -= len(old.names)
			next.lens.minus(&old.lens)
			delete(next.servers, server)
			left = append(left, old)
		default:
			next.hidden -= len(old.names)
		}
	}
	for server, st := range changes {
		leave(server)
		if st == nil {
			delete(x.known, server)
			continue
		}
		x.known[server] = st
		next.servers[server] = st
		next.n += len(st.names)
		next.lens.plus(&st.lens)
		entered = append(entered, st)
	}
	for _, server := range hide {
		leave(server)
		next.hidden += len(x.known[server].names)
	}
	// A slot is free once its server left: searches of older snapshots
	// never meet the server that takes it next in the same snapshot.
	for _, st := range left {
		x.freeSlots = append(x.freeSlots, st.slot)
	}
	for _, st := range entered {
		if n := len(x.freeSlots); n > 0 {
			st.slot, x.freeSlots = x.freeSlots[n-1], x.freeSlots[:n-1]
		} else {
			st.slot = x.nextSlot
			x.nextSlot++
		}
	}
	next.slots = int(x.nextSlot)
	next.terms = updateTerms(cur.terms, left, entered)
	x.snap.Store(next)
}

func checkServer(server string) error {
	if server == "" || strings.Contains(server, ":") {
		return mcpproxy.Errorf(mcpproxy.EINVALID, "server: invalid name %q: must be non-empty and without ':'", server)
	}
	return nil
}

// Search returns up to limit tools that best match a natural-language query,
// best first. Any query word may match (it is not a phrase or a conjunction);
// tools matching more of them, in their names more than their descriptions,
// rank higher. limit <= 0 means DefaultLimit.
func (x *Index) Search(ctx context.Context, q string, limit int) ([]Hit, error) {
	return x.search(ctx, q, limit, nil, false)
}

// SearchKeep is Search over only the tools keep accepts (all when keep is
// nil): up to limit of them, never short because others ranked higher.
// keep is called on the searching goroutine and must not block.
func (x *Index) SearchKeep(ctx context.Context, q string, limit int, keep func(server string, t *mcpproxy.Tool) bool) ([]Hit, error) {
	return x.search(ctx, q, limit, keep, false)
}

// SearchExplained is Search with each hit's Why set: the terms, fields and
// coverage its score is made of. It costs more than Search (bleve builds an
// explanation tree per hit), so retrieve_tools does not use it.
func (x *Index) SearchExplained(ctx context.Context, q string, limit int) ([]Hit, error) {
	return x.search(ctx, q, limit, nil, true)
}

func (x *Index) search(ctx context.Context, q string, limit int, keep func(server string, t *mcpproxy.Tool) bool, explain bool) ([]Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "query: must not be empty")
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	if x.closed.Load() {
		return nil, errClosed
	}
	// Load the snapshot before querying bleve: a tool bleve returns was
	// either in this snapshot or is in any snapshot loaded after the query.
	snap := x.snap.Load()
	if snap.n == 0 {
		return []Hit{}, nil
	}
	plan := x.plan(q)
	if len(plan) == 0 { // only stop words, like "the"
		return []Hit{}, nil
	}
	if !x.rank.bleve {
		return x.scoreSearch(snap, plan, limit, keep, explain), nil
	}
	bq := x.queryOf(plan)
	// Ask for a few more than limit: bleve picks among equal scores at the
	// cut by internal document number, which depends on indexing history.
	// With the extra hits sorted by id below, which of the tied tools make
	// the cut no longer depends on it (unless more tie than the margin).
	want := min(limit+tieMargin, snap.n)
	// bleve estimates a field's average length from the sizes of its
	// segments' term dictionaries, which is far from the mean number of
	// tokens and changes with how the index happens to be segmented. Give
	// it the statistics the snapshot keeps instead.
	stats := map[string]any{search.BM25PreSearchDataKey: snap.lens.stats(snap.n)}
	// Dormant servers' documents match too, and are dropped below. Ask for
	// as many more as they would take in proportion, and if that is not
	// enough, for all of them: the answer is never short of live tools.
	size := want
	if snap.hidden > 0 {
		size = min(want+want*snap.hidden/snap.n+tieMargin, want+snap.hidden)
	}
	var hits []Hit
	for {
		req := bleve.NewSearchRequestOptions(bq, size, 0, explain)
		req.PreSearchData = stats
		res, err := x.bleve.SearchInContext(ctx, req)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			if errors.Is(err, bleve.ErrorIndexClosed) {
				return nil, errClosed
			}
			return nil, fmt.Errorf("search tools: %w", err)
		}
		hits = make([]Hit, 0, len(res.Hits))
		live := snap
		for _, h := range res.Hits {
			server, t, ok := live.lookup(h.ID)
			if !ok {
				// Indexed after snap was loaded; or removed or hidden
				// since the query, in which case it is rightly dropped.
				live = x.snap.Load()
				server, t, ok = live.lookup(h.ID)
			}
			if ok && (keep == nil || keep(server, &t.Tool)) {
				hit := Hit{Server: server, Tool: t.Tool, Score: h.Score, CompactJSON: t.compactJSON}
				if explain {
					hit.Why = explanation(plan, h.Score, h.Expl)
				}
				hits = append(hits, hit)
			}
		}
		all := want + snap.hidden
		if keep != nil {
			// Tools keep refuses may rank anywhere: take every match.
			all = snap.n + snap.hidden
		}
		if len(hits) >= want || res.Total <= uint64(len(res.Hits)) || size >= all {
			break
		}
		size = all
	}
	// bleve orders equal scores by internal document number, which depends
	// on indexing history; order them by id so results are reproducible.
	slices.SortStableFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Server, b.Server), cmp.Compare(a.Tool.Name, b.Tool.Name))
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}

// tieMargin is how many hits beyond the limit a search fetches so that
// ties at the cut are broken by id, not by index layout.
const tieMargin = 8

// maxTerms bounds the work of one search: a query with more distinct terms
// (after stop words are dropped) is searched by its first maxTerms.
const maxTerms = 32

// queryOf builds the bleve query of a plan: a disjunction with one clause per distinct
// query term and per synonym of one, so a tool matches if it contains any
// of them. bleve multiplies a disjunction's score by the fraction of
// clauses that matched, so tools covering more of the query rank first. A
// clause requires the term in fieldText and adds, without such a fraction,
// its score in the name, server and parameter fields. queryOf returns nil
// for an empty plan: analysis left no term.
func (x *Index) queryOf(plan []clause) query.Query {
	if len(plan) == 0 {
		return nil
	}
	clauses := make([]query.Query, len(plan))
	for i, c := range plan {
		clauses[i] = x.termClause(c.term, c.boost)
	}
	return query.NewDisjunctionQuery(clauses)
}

// clause is one term of a planned query.
type clause struct {
	term  string  // analyzed
	of    string  // the query term it is a synonym of; "" for a query term
	boost float64 // 1 for a query term
}

// plan returns the clauses of the query for q: its distinct analyzed terms,
// then, with the synonym layer, their synonyms.
func (x *Index) plan(q string) []clause {
	tokens := x.analyzer.Analyze([]byte(expandQuery(q)))
	var plan []clause
	has := func(t string) bool { return slices.ContainsFunc(plan, func(c clause) bool { return c.term == t }) }
	for _, tok := range tokens {
		if t := string(tok.Term); !has(t) {
			plan = append(plan, clause{term: t, boost: 1})
			if len(plan) == maxTerms {
				break
			}
		}
	}
	if !x.rank.synonyms {
		return plan
	}
	// Each synonym is a clause of its own, at a lower boost. It counts in
	// the fraction of clauses matched as a query term does: a tool
	// described in other words than the query's covers as much of it.
	syn := synonyms(x.analyzer)
	terms := len(plan)
	for _, c := range plan[:terms] {
		n := 0
		for _, s := range syn[c.term] {
			if n < x.rank.synonymsPerTerm && len(plan) < terms+maxSynonyms && !has(s) {
				plan = append(plan, clause{term: s, of: c.term, boost: x.rank.synonymBoost})
				n++
			}
		}
	}
	return plan
}

// maxSynonyms bounds the synonyms a query adds to its terms.
const maxSynonyms = 32

// termClause matches a term in fieldText and adds its score in the name,
// server and parameter fields; boost scales all of it.
func (x *Index) termClause(t string, boost float64) query.Query {
	c := termQuery(t, fieldText, boost)
	c = withBonus(c, termQuery(t, fieldName, x.rank.nameBoost*boost))
	c = withBonus(c, termQuery(t, fieldServer, x.rank.serverBoost*boost))
	return withBonus(c, termQuery(t, fieldParams, x.rank.paramsBoost*boost))
}

func termQuery(term, field string, boost float64) query.Query {
	q := query.NewTermQuery(term)
	q.SetField(field)
	q.SetBoost(boost)
	return q
}

// withBonus matches what must matches and adds the score of bonus where it
// also matches. (A disjunction of the two would instead halve the score of
// documents matching only one.)
func withBonus(must, bonus query.Query) query.Query {
	return query.NewBooleanQuery([]query.Query{must}, []query.Query{bonus}, nil)
}

// Len returns the number of indexed tools.
func (x *Index) Len() int { return x.snap.Load().n }

// Close stops the merger, waits for it and for searches in flight, writes
// to disk what is not there yet, and releases the index. Later calls return an unavailable error; Close itself
// may be called more than once.
func (x *Index) Close() error {
	x.mu.Lock()
	if x.closed.Swap(true) {
		x.mu.Unlock()
		return nil
	}
	x.mu.Unlock()
	close(x.stop)
	<-x.done
	var err error
	if x.dir != "" {
		err = x.flush()
	}
	// bleve's Close waits for the searches it is running, and for its
	// persister and merger.
	err = errors.Join(err, x.bleve.Close())
	if err != nil {
		return fmt.Errorf("close tool index %s: %w", x.dir, err)
	}
	return nil
}

// fieldLens counts analyzed tokens per field, in the order of scoreFields.
type fieldLens [numScoreFields]int

func (l *fieldLens) plus(o *fieldLens) {
	for i := range l {
		l[i] += o[i]
	}
}

func (l *fieldLens) minus(o *fieldLens) {
	for i := range l {
		l[i] -= o[i]
	}
}

// stats returns the statistics bleve's BM25 takes: the number of documents
// and, per field, the total number of tokens (bleve calls it cardinality and
// divides it by the number of documents to get the average length).
func (l *fieldLens) stats(docs int) *search.BM25Stats {
	m := map[string]int{
		// bleve's text holds the parameter names too.
		fieldText:   l[sfText] + l[sfParamNames],
		fieldName:   l[sfName],
		fieldServer: l[sfServer],
		fieldParams: l[sfParams],
	}
	return &search.BM25Stats{DocCount: float64(docs), FieldCardinality: m}
}
