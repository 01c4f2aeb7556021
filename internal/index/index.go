// Package index owns the search index over the tools of all upstream servers:
// the BM25 (bleve) index behind retrieve_tools, and the map from each hit back
// to the mcpproxy.Tool an upstream reported.
//
// Concurrency: an Index is safe for concurrent use, and searches take no
// lock. A search reads an immutable snapshot of the tools and a reference-
// counted bleve index, both through atomic pointers; bleve's index is itself
// safe for concurrent readers and a writer. Writers (SetServer, RemoveServer,
// Close) are serialized by a mutex that searches never touch, so re-indexing
// a server never blocks a search. A SetServer applies one bleve batch for that
// server alone and publishes a snapshot sharing every other server's entry:
// its cost is proportional to that server, not to the size of the index.
//
// Each batch becomes one in-memory bleve segment, and bleve only merges
// segments of on-disk indexes; a search pays for every segment. So once
// enough servers have been re-indexed, a goroutine owned by the Index
// rebuilds the whole index into one segment from the snapshot, replays the
// servers that changed meanwhile, and swaps it in; searches in flight finish
// on the old index, which is closed after them. Close stops that goroutine
// and waits for it and for searches in flight. The index does no I/O, and
// nothing here waits on an upstream.
//
// Tools are treated as immutable once passed in: hits return the same Tool
// values (sharing their raw JSON), which callers must not modify.
package index

import (
	"cmp"
	"context"
	"crypto/sha256"
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

// Boosts of the fields that add to the score of a term found in fieldText:
// a term in the tool's name says more than the same term in its description,
// and naming a server ("github issues") lifts that server's tools.
const (
	nameBoost   = 2.0
	serverBoost = 1.0
	paramsBoost = 0.5
)

// Hit is one search result.
type Hit struct {
	Server string // server name
	Tool   mcpproxy.Tool
	Score  float64
}

// ID returns the tool id, "server:tool".
func (h *Hit) ID() string { return docID(h.Server, h.Tool.Name) }

// compactAfter is how many servers may sit in segments of their own before
// the index is rebuilt into one segment. Each costs a search some 15 µs
// (three terms, four fields); a rebuild of 10,000 tools takes a fraction of a
// second of the compactor's time.
const compactAfter = 8

// Index is a BM25 index over the tools of many servers. The zero value is not
// usable; call New.
type Index struct {
	mapping      mapping.IndexMapping
	analyzer     analysis.Analyzer // the query analyzer; the same for every field
	compactAfter int
	compacted    func() // test hook: called by the compactor after each rebuild

	wake chan struct{} // buffered: asks the compactor to check
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the compactor has returned

	mu sync.Mutex // serializes writers; searches never take it
	// snap and gen are replaced under mu and read without it. gen is nil
	// once the index is closed.
	snap   atomic.Pointer[snapshot]
	gen    atomic.Pointer[generation]
	closed bool                // guarded by mu
	loose  map[string]struct{} // guarded by mu; servers in a segment of their own
	dirty  map[string]struct{} // guarded by mu; servers changed during a rebuild, nil between rebuilds
}

// snapshot is the immutable set of indexed tools. An update copies the map of
// pointers and replaces only the changed server's entry.
type snapshot struct {
	servers map[string]*serverTools
	n       int       // number of tools across servers
	lens    fieldLens // analyzed tokens per field across servers
}

type serverTools struct {
	hash  [sha256.Size]byte
	lens  fieldLens                // analyzed tokens per field, summed over the tools
	tools map[string]mcpproxy.Tool // by name
}

func (s *snapshot) lookup(id string) (server string, t mcpproxy.Tool, ok bool) {
	server, name, _ := strings.Cut(id, ":")
	if st := s.servers[server]; st != nil {
		t, ok = st.tools[name]
	}
	return server, t, ok
}

// generation is one bleve index, closed when it is no longer current and the
// last search using it has finished.
type generation struct {
	bleve  bleve.Index
	refs   atomic.Int64  // 1 while current, plus 1 per search using it
	closed chan struct{} // closed once bleve is closed; err is then set
	err    error
}

func newGeneration(bi bleve.Index) *generation {
	g := &generation{bleve: bi, closed: make(chan struct{})}
	g.refs.Store(1)
	return g
}

// acquire takes a reference, unless the generation has already been released
// for good.
func (g *generation) acquire() bool {
	for {
		n := g.refs.Load()
		if n == 0 {
			return false
		}
		if g.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (g *generation) release() {
	if g.refs.Add(-1) == 0 {
		g.err = g.bleve.Close()
		close(g.closed)
	}
}

var errClosed = mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "tool index: closed")

// New returns an empty in-memory index. Close releases it.
func New() (*Index, error) { return newIndex(compactAfter, nil) }

func newIndex(compactAfter int, compacted func()) (*Index, error) {
	m := newMapping()
	a := m.AnalyzerNamed(en.AnalyzerName)
	if a == nil {
		return nil, fmt.Errorf("tool index: no analyzer %q", en.AnalyzerName)
	}
	bi, err := newBleve(m)
	if err != nil {
		return nil, err
	}
	x := &Index{
		mapping:      m,
		analyzer:     a,
		compactAfter: compactAfter,
		compacted:    compacted,
		wake:         make(chan struct{}, 1),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
		loose:        map[string]struct{}{},
	}
	x.snap.Store(&snapshot{servers: map[string]*serverTools{}})
	x.gen.Store(newGeneration(bi))
	go x.compactor()
	return x, nil
}

func newBleve(m mapping.IndexMapping) (bleve.Index, error) {
	// scorch, not bleve.NewMemOnly: only scorch implements the per-field
	// statistics BM25 needs; the in-memory upsidedown index silently scores
	// with TF-IDF. With an empty path scorch keeps its segments in memory and
	// starts no persister or merger.
	bi, err := bleve.NewUsing("", m, scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("tool index: %w", err)
	}
	return bi, nil
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
// are identical to those indexed. An empty list removes the server.
func (x *Index) SetServer(server string, tools []mcpproxy.Tool) error {
	if err := checkServer(server); err != nil {
		return err
	}
	for i := range tools {
		if tools[i].Name == "" {
			return mcpproxy.Errorf(mcpproxy.EINVALID, "tools[%d].name: must not be empty (server %s)", i, server)
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
		return x.RemoveServer(server)
	}
	hash := toolsHash(sorted)
	if x.unchanged(server, hash) {
		return nil
	}

	// Deriving the documents is pure work: do it before taking the lock.
	docs := make([]*document, len(sorted))
	st := &serverTools{hash: hash, tools: make(map[string]mcpproxy.Tool, len(sorted))}
	for i := range sorted {
		docs[i] = newDocument(server, &sorted[i])
		st.lens.add(x.analyzer, docs[i])
		st.tools[sorted[i].Name] = sorted[i]
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return errClosed
	}
	if x.unchanged(server, hash) {
		return nil
	}
	g := x.gen.Load()
	cur := x.snap.Load()
	old := cur.servers[server]
	b := g.bleve.NewBatch()
	if old != nil {
		for name := range old.tools {
			b.Delete(docID(server, name))
		}
	}
	// An id both deleted and indexed in one batch ends up indexed: the later
	// operation wins.
	for i := range sorted {
		if err := b.Index(docID(server, sorted[i].Name), docs[i]); err != nil {
			return fmt.Errorf("index server %s: tool %s: %w", server, sorted[i].Name, err)
		}
	}
	if err := g.bleve.Batch(b); err != nil {
		return fmt.Errorf("index server %s: %w", server, err)
	}
	x.publishLocked(cur, server, st)
	x.changedLocked(server, true)
	return nil
}

// unchanged reports whether server's indexed tools have the given hash.
func (x *Index) unchanged(server string, hash [sha256.Size]byte) bool {
	old := x.snap.Load().servers[server]
	return old != nil && old.hash == hash
}

// RemoveServer removes all tools of one server. Removing a server that has no
// tools indexed does nothing.
func (x *Index) RemoveServer(server string) error {
	if err := checkServer(server); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return errClosed
	}
	cur := x.snap.Load()
	old := cur.servers[server]
	if old == nil {
		return nil
	}
	g := x.gen.Load()
	b := g.bleve.NewBatch()
	for name := range old.tools {
		b.Delete(docID(server, name))
	}
	if err := g.bleve.Batch(b); err != nil {
		return fmt.Errorf("unindex server %s: %w", server, err)
	}
	x.publishLocked(cur, server, nil)
	x.changedLocked(server, false)
	return nil
}

// publishLocked publishes a snapshot in which server has the tools st, or is
// absent if st is nil. The bleve batch must already be applied: a search that
// loaded the old snapshot and then finds a new tool reloads the snapshot
// (see Search), which is then guaranteed to have it.
func (x *Index) publishLocked(cur *snapshot, server string, st *serverTools) {
	next := &snapshot{servers: maps.Clone(cur.servers), n: cur.n, lens: cur.lens}
	if old := next.servers[server]; old != nil {
		next.n -= len(old.tools)
		next.lens.minus(&old.lens)
	}
	if st == nil {
		delete(next.servers, server)
	} else {
		next.servers[server] = st
		next.n += len(st.tools)
		next.lens.plus(&st.lens)
	}
	x.snap.Store(next)
}

// changedLocked records that server was re-indexed (into a segment of its
// own when indexed) or removed, and wakes the compactor when too many
// servers have segments of their own. A server's previous segment held only
// its tools, so bleve dropped it when the batch deleted them.
func (x *Index) changedLocked(server string, indexed bool) {
	if x.dirty != nil {
		x.dirty[server] = struct{}{}
	}
	if !indexed {
		delete(x.loose, server)
		return
	}
	x.loose[server] = struct{}{}
	if len(x.loose) > x.compactAfter {
		select {
		case x.wake <- struct{}{}:
		default: // already awake
		}
	}
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
	// Load the snapshot before the bleve index: a tool the index returns
	// was either in this snapshot or is in any snapshot loaded after it.
	snap := x.snap.Load()
	g := x.acquire()
	if g == nil {
		return nil, errClosed
	}
	defer g.release()
	if snap.n == 0 {
		return []Hit{}, nil
	}
	bq := x.query(q)
	if bq == nil { // only stop words, like "the"
		return []Hit{}, nil
	}
	req := bleve.NewSearchRequestOptions(bq, min(limit, snap.n), 0, false)
	// bleve estimates a field's average length from the sizes of its
	// segments' term dictionaries, which is far from the mean number of
	// tokens and changes with how the index happens to be segmented. Give
	// it the real statistics, which the snapshot keeps exactly.
	req.PreSearchData = map[string]any{search.BM25PreSearchDataKey: snap.lens.stats(snap.n)}
	res, err := g.bleve.SearchInContext(ctx, req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("search tools: %w", err)
	}
	hits := make([]Hit, 0, len(res.Hits))
	for _, h := range res.Hits {
		server, t, ok := snap.lookup(h.ID)
		if !ok {
			// Indexed after snap was loaded; or removed since the query,
			// in which case it is rightly dropped.
			snap = x.snap.Load()
			server, t, ok = snap.lookup(h.ID)
		}
		if ok {
			hits = append(hits, Hit{Server: server, Tool: t, Score: h.Score})
		}
	}
	// bleve orders equal scores by internal document number, which depends
	// on indexing history; order them by id so results are reproducible.
	slices.SortStableFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Server, b.Server), cmp.Compare(a.Tool.Name, b.Tool.Name))
	})
	return hits, nil
}

// acquire returns the current generation with a reference taken, or nil if
// the index is closed.
func (x *Index) acquire() *generation {
	for {
		g := x.gen.Load()
		// A generation can only have been released for good after it was
		// replaced, so loading again makes progress.
		if g == nil || g.acquire() {
			return g
		}
	}
}

// query builds the bleve query: a disjunction with one clause per distinct
// query term, so a tool matches if it contains any of them. bleve multiplies
// a disjunction's score by the fraction of clauses that matched, so tools
// covering more of the query rank first. A clause requires the term in
// fieldText and adds, without such a fraction, its score in the name, server
// and parameter fields. query returns nil when analysis leaves no term.
func (x *Index) query(q string) query.Query {
	tokens := x.analyzer.Analyze([]byte(expandQuery(q)))
	terms := make([]string, 0, len(tokens))
	for _, tok := range tokens {
		if t := string(tok.Term); !slices.Contains(terms, t) {
			terms = append(terms, t)
		}
	}
	if len(terms) == 0 {
		return nil
	}
	clauses := make([]query.Query, len(terms))
	for i, t := range terms {
		c := termQuery(t, fieldText, 1)
		c = withBonus(c, termQuery(t, fieldName, nameBoost))
		c = withBonus(c, termQuery(t, fieldServer, serverBoost))
		c = withBonus(c, termQuery(t, fieldParams, paramsBoost))
		clauses[i] = c
	}
	return query.NewDisjunctionQuery(clauses)
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

// Close stops the compactor, waits for searches in flight and releases the
// index. Later calls return an unavailable error; Close itself may be called
// more than once.
func (x *Index) Close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	g := x.gen.Swap(nil)
	x.mu.Unlock()

	close(x.stop)
	<-x.done
	g.release()
	<-g.closed
	if g.err != nil {
		return fmt.Errorf("close tool index: %w", g.err)
	}
	return nil
}

// compactor rebuilds the index when woken, until Close.
func (x *Index) compactor() {
	defer close(x.done)
	for {
		select {
		case <-x.stop:
			return
		case <-x.wake:
		}
		if err := x.compact(); err != nil {
			// The current index stays in use: searches are slower, not
			// wrong. The next change wakes the compactor again.
			slog.Warn("tool index: rebuild failed", "err", err)
		}
		if x.compacted != nil {
			x.compacted()
		}
	}
}

// compact rebuilds the index into one segment if enough servers have
// segments of their own. It builds from a snapshot without holding mu, so
// writers go on updating the current index meanwhile; it then replays, under
// mu, the servers they changed, and makes the new index current.
func (x *Index) compact() error {
	x.mu.Lock()
	if x.closed || len(x.loose) <= x.compactAfter {
		x.mu.Unlock()
		return nil
	}
	base := x.snap.Load()
	x.dirty = map[string]struct{}{}
	x.mu.Unlock()

	bi, err := x.build(base)

	x.mu.Lock()
	defer x.mu.Unlock()
	dirty := x.dirty
	x.dirty = nil
	if err != nil {
		return err
	}
	if x.closed {
		return bi.Close()
	}
	cur := x.snap.Load()
	b := bi.NewBatch()
	for _, server := range slices.Sorted(maps.Keys(dirty)) {
		if old := base.servers[server]; old != nil {
			for name := range old.tools {
				b.Delete(docID(server, name))
			}
		}
		if err := addServer(b, server, cur.servers[server]); err != nil {
			_ = bi.Close()
			return err
		}
	}
	if b.Size() > 0 {
		if err := bi.Batch(b); err != nil {
			_ = bi.Close()
			return fmt.Errorf("rebuild tool index: %w", err)
		}
	}
	clear(x.loose)
	x.gen.Swap(newGeneration(bi)).release()
	return nil
}

// build returns a new bleve index holding the tools of snap in one segment.
func (x *Index) build(snap *snapshot) (bleve.Index, error) {
	bi, err := newBleve(x.mapping)
	if err != nil {
		return nil, err
	}
	b := bi.NewBatch()
	// In order, so that equal scores order the same way in every rebuild.
	for _, server := range slices.Sorted(maps.Keys(snap.servers)) {
		if err := addServer(b, server, snap.servers[server]); err != nil {
			_ = bi.Close()
			return nil, err
		}
	}
	if err := bi.Batch(b); err != nil {
		_ = bi.Close()
		return nil, fmt.Errorf("rebuild tool index: %w", err)
	}
	return bi, nil
}

// addServer adds the tools of st, if any, to a batch.
func addServer(b *bleve.Batch, server string, st *serverTools) error {
	if st == nil {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(st.tools)) {
		t := st.tools[name]
		if err := b.Index(docID(server, name), newDocument(server, &t)); err != nil {
			return fmt.Errorf("rebuild tool index: server %s: tool %s: %w", server, name, err)
		}
	}
	return nil
}

// fieldLens counts analyzed tokens per field, in the order of indexedFields.
type fieldLens [len(indexedFields)]int

// add counts the tokens of d as bleve will when it indexes d.
func (l *fieldLens) add(a analysis.Analyzer, d *document) {
	for i, text := range d.fields() {
		l[i] += len(a.Analyze([]byte(text)))
	}
}

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
	m := make(map[string]int, len(l))
	for i, f := range indexedFields {
		m[f] = l[i]
	}
	return &search.BM25Stats{DocCount: float64(docs), FieldCardinality: m}
}
