package index

import (
	"hash/maphash"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/search"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// The index scores queries itself, over an inverted index of each server's
// tools kept in the snapshot beside bleve's. bleve answers a query of a few
// terms, each with its synonyms and each looked up in four fields, with a
// tree of a hundred searchers merging postings document by document; most of
// a search went to that machinery, not to scoring. Here a search looks each
// clause's term up once in a dictionary of the live tools and adds up the
// scores of the tools that have it.
//
// A tool's score is the sum, over the query's terms and their synonyms that
// it has, of BM25 per field (tf as the square root of the frequency, as
// bleve has it; each field with its boost, a synonym at a fraction of a
// term's weight), times the share of the query's terms it covers (see
// coverage). The server's instructions (Server.Instructions) are a field of
// each of its tools that only adds. The evaluation's baseline still queries bleve itself
// (queryOf).

// The fields the scorer keeps: bleve's, but with the parameter names out of
// the text, in a field of their own (they name arguments, "path", "query",
// "owner", and say less of what a tool does than its description).
const (
	sfText       = iota // the text without the parameter names
	sfName              // fieldName
	sfServer            // fieldServer
	sfParams            // fieldParams: parameter descriptions
	sfParamNames        // the parameter names, split into words
	sfInstr             // the server's instructions
	numScoreFields
)

// fieldParamNames names sfParamNames in explanations.
const fieldParamNames = "param_names"

// scoreFields names the scorer's fields, in order.
var scoreFields = [numScoreFields]string{fieldText, fieldName, fieldServer, fieldParams, fieldParamNames, fieldInstructions}

// fieldInstructions names sfInstr in explanations.
const fieldInstructions = "instructions"

// postings is one server's inverted index. It is immutable once built.
type postings struct {
	// lens holds each tool's analyzed tokens per field, by the tool's
	// position in serverTools.names.
	lens [][numScoreFields]int32
	// terms is sorted by term; their postings are runs of docs.
	terms []termPostings
	docs  []termDoc
}

// termPostings lists the tools of one server that have a term in any field:
// in docs those that have it in their text or parameter names, which it
// makes match, and in paramDocs those that have it only in their parameter
// descriptions or their server's instructions, which it adds to only if
// something else made them match.
// They are postings.docs[start:mid] and [mid:end], by tool position.
type termPostings struct {
	term            string
	df              [numScoreFields]int32 // tools with the term, per field
	start, mid, end int32
}

func (p *postings) matchDocs(tp *termPostings) []termDoc { return p.docs[tp.start:tp.mid:tp.mid] }
func (p *postings) paramDocs(tp *termPostings) []termDoc { return p.docs[tp.mid:tp.end:tp.end] }

// termDoc is a term's frequency in each field of one tool (saturated at
// 255, far past where BM25 stops counting).
type termDoc struct {
	doc int32
	tf  [numScoreFields]uint8
}

// newPostings analyzes the documents of one server's tools (in the order of
// its names) and returns their inverted index and the total number of
// tokens per field.
func newPostings(a analysis.Analyzer, docs []*document) (*postings, fieldLens) {
	p := &postings{lens: make([][numScoreFields]int32, len(docs))}
	type building struct {
		df   [numScoreFields]int32
		docs []termDoc
	}
	terms := map[string]*building{}
	var total fieldLens
	npost := 0
	for i, d := range docs {
		for f, text := range d.scoreFields() {
			if text == "" {
				continue
			}
			tokens := a.Analyze([]byte(text))
			p.lens[i][f] = int32(len(tokens))
			total[f] += len(tokens)
			for _, tok := range tokens {
				b := terms[string(tok.Term)]
				if b == nil {
					b = &building{}
					terms[string(tok.Term)] = b
				}
				n := len(b.docs)
				if n == 0 || b.docs[n-1].doc != int32(i) {
					b.docs = append(b.docs, termDoc{doc: int32(i)})
					n++
					npost++
				}
				td := &b.docs[n-1]
				if td.tf[f] == 0 {
					b.df[f]++
				}
				if td.tf[f] < math.MaxUint8 {
					td.tf[f]++
				}
			}
		}
	}
	all := make([]termDoc, 0, npost)
	p.terms = make([]termPostings, 0, len(terms))
	for _, t := range slices.Sorted(maps.Keys(terms)) {
		b := terms[t]
		start := len(all)
		for _, td := range b.docs {
			if td.tf[sfText] > 0 || td.tf[sfParamNames] > 0 {
				all = append(all, td)
			}
		}
		mid := len(all)
		for _, td := range b.docs {
			if td.tf[sfText] == 0 && td.tf[sfParamNames] == 0 {
				all = append(all, td)
			}
		}
		p.terms = append(p.terms, termPostings{term: t, df: b.df, start: int32(start), mid: int32(mid), end: int32(len(all))})
	}
	p.docs = all
	return p, total
}

// lookup returns the postings of a term, nil if no tool of the server has it.
func (p *postings) lookup(term string) *termPostings {
	i, ok := slices.BinarySearchFunc(p.terms, term, func(tp termPostings, t string) int { return strings.Compare(tp.term, t) })
	if !ok {
		return nil
	}
	return &p.terms[i]
}

// doc returns the frequencies of the term of tp in tool i, if it has it.
func (p *postings) doc(tp *termPostings, i int32) (termDoc, bool) {
	for _, docs := range [...][]termDoc{p.matchDocs(tp), p.paramDocs(tp)} {
		if j, ok := slices.BinarySearchFunc(docs, i, func(d termDoc, i int32) int { return int(d.doc - i) }); ok {
			return docs[j], true
		}
	}
	return termDoc{}, false
}

// weights are what a search computes once per query: per clause and field,
// the BM25 weight of the clause's term (boosts, idf and query norm), and per
// field the average length.
type weights struct {
	w   [][numScoreFields]float64
	avg [numScoreFields]float64
}

// fieldBoosts returns the boost of each field in the order of scoreFields.
func (r *ranking) fieldBoosts() [numScoreFields]float64 {
	return [...]float64{1, r.nameBoost, r.serverBoost, r.paramsBoost, r.paramNamesBoost, r.instrBoost}
}

// weightsOf computes the weights of plan's clauses from their document
// frequencies over the n live tools.
func (x *Index) weightsOf(plan []clause, df [][numScoreFields]int32, n int, lens fieldLens) weights {
	ws := weights{w: make([][numScoreFields]float64, len(plan))}
	boosts := x.rank.fieldBoosts()
	var sumSq float64
	for i, c := range plan {
		for f := range numScoreFields {
			if df[i][f] == 0 {
				continue
			}
			idf := math.Log(1 + (float64(n)-float64(df[i][f])+0.5)/(float64(df[i][f])+0.5))
			qw := c.boost * boosts[f] * idf
			sumSq += qw * qw
			ws.w[i][f] = qw
		}
	}
	norm := 1.0
	if sumSq > 0 {
		norm = 1 / math.Sqrt(sumSq)
	}
	for i := range ws.w {
		for f := range ws.w[i] {
			ws.w[i][f] *= norm
		}
	}
	for f := range numScoreFields {
		if n > 0 {
			ws.avg[f] = float64(lens[f]) / float64(n)
		}
	}
	return ws
}

// fieldScore is the BM25 score of a term in one field of a tool, before its
// weight.
func fieldScore(tf uint8, length int32, avg float64) float64 {
	t := sqrtTF[tf]
	return t * search.BM25_k1 / (t + search.BM25_k1*(1-search.BM25_b+search.BM25_b*float64(length)/avg))
}

// sqrtTF caches the square roots of term frequencies.
var sqrtTF = func() (t [math.MaxUint8 + 1]float64) {
	for i := range t {
		t[i] = math.Sqrt(float64(i))
	}
	return t
}()

// scoreTerm returns the score one clause adds to a tool that has its term,
// summed over the fields that have it, and with parts set, the score per
// field.
func (ws *weights) scoreTerm(ci int, td *termDoc, lens *[numScoreFields]int32, parts *[numScoreFields]float64) float64 {
	var s float64
	for f, tf := range td.tf {
		if tf == 0 || ws.w[ci][f] == 0 {
			continue
		}
		v := ws.w[ci][f] * fieldScore(tf, lens[f], ws.avg[f])
		if parts != nil {
			parts[f] = v
		}
		s += v
	}
	return s
}

// A tool matches a clause in one of three ways, by where it has the term.
const (
	inText       = iota // in its text (name, title, description)
	inParamNames        // not there, but in its parameter names
	inParams            // only in its parameter descriptions
	inInstr             // only in its server's instructions, which cover nothing
	numMatchKinds
)

// matchKind says how a tool matches a clause, and false if it has the
// term in no field that counts.
func matchKind(td *termDoc) (int, bool) {
	switch {
	case td.tf[sfText] > 0:
		return inText, true
	case td.tf[sfParamNames] > 0:
		return inParamNames, true
	case td.tf[sfParams] > 0:
		return inParams, true
	case td.tf[sfInstr] > 0:
		return inInstr, true
	}
	return 0, false
}

// coverage computes the factor by which a tool's summed score is multiplied:
// the share of the query's terms it covers. A tool covers a term fully if it
// has the term in its text, to the degree syn if it has only a synonym of it
// there; and to the degrees paramNames and params if it has the term or a
// synonym only in its parameter names or only in its parameter
// descriptions. A term only in the server's instructions covers nothing.
type coverage struct {
	syn, paramNames, params float64
	terms                   []uint64 // per query term: its own clause's bit
	synonyms                []uint64 // per query term: its synonyms' bits
}

func (x *Index) coverageOf(plan []clause) coverage {
	c := coverage{syn: x.rank.synonymCover, paramNames: x.rank.paramNamesCover, params: x.rank.paramsCover}
	index := map[string]int{}
	for i, cl := range plan {
		if cl.of == "" {
			index[cl.term] = len(c.terms)
			c.terms = append(c.terms, 1<<i)
			c.synonyms = append(c.synonyms, 0)
		}
	}
	for i, cl := range plan {
		if cl.of != "" {
			c.synonyms[index[cl.of]] |= 1 << i
		}
	}
	return c
}

// of returns the coverage of a tool that matched the clauses of m[k] in the
// way k (inText…).
func (c *coverage) of(m *[numMatchKinds]uint64) float64 {
	var sum float64
	for q, own := range c.terms {
		either := own | c.synonyms[q]
		switch {
		case m[inText]&own != 0:
			sum++
		case m[inText]&c.synonyms[q] != 0:
			sum += c.syn
		case m[inParamNames]&either != 0:
			sum += c.paramNames
		case m[inParams]&either != 0:
			sum += c.params
		}
	}
	return sum / float64(len(c.terms))
}

// termEntry is a term's postings over the live servers of a snapshot:
// servers lists those with tools that the term makes match, params those
// with tools that have it only in their parameter descriptions.
type termEntry struct {
	df      [numScoreFields]int32 // live tools with the term, per field
	servers []serverTerm
	params  []serverTerm
}

// serverTerm is one server's postings of a term, with what a search needs
// of the server copied in, so that it reads them in sequence (the server's
// field lengths it reads once per search, into scratch).
type serverTerm struct {
	slot int32 // the server's
	n    int32 // the server's number of tools
	docs []termDoc
	st   *serverTools
}

// termDict is the term dictionary of a snapshot, immutable once published.
// It is split into shards by a hash of the term, so that a change to one
// server copies only the shards of that server's terms (and the array of
// shard pointers), not the whole dictionary. A shard is a short slice sorted
// by term: a map per shard would cost more than its terms.
type termDict struct {
	shards [termShards][]dictEntry
}

type dictEntry struct {
	term string
	termEntry
}

// termShards: a server's few hundred terms fall in as many shards, each
// holding a handful of terms even when the dictionary holds 20,000.
const termShards = 1 << 12

var termSeed = maphash.MakeSeed()

func shardOf(term string) int { return int(maphash.String(termSeed, term) & (termShards - 1)) }

func findTerm(shard []dictEntry, term string) (int, bool) {
	return slices.BinarySearchFunc(shard, term, func(e dictEntry, t string) int { return strings.Compare(e.term, t) })
}

// get returns the entry of a term, nil if no live tool has it.
func (d *termDict) get(term string) *termEntry {
	if d == nil {
		return nil
	}
	shard := d.shards[shardOf(term)]
	if i, ok := findTerm(shard, term); ok {
		return &shard[i].termEntry
	}
	return nil
}

// updateTerms returns the term dictionary of a snapshot in which the servers
// of leave are no longer live and those of enter are. It copies the shards
// and entries of their terms only; an entry's copy costs a copy of its list
// of servers.
func updateTerms(cur *termDict, leave, enter []*serverTools) *termDict {
	next := &termDict{}
	if cur != nil {
		next.shards = cur.shards
	}
	gone := func(st *serverTools) bool { return slices.Contains(leave, st) }
	if len(leave) > 8 {
		set := make(map[*serverTools]bool, len(leave))
		for _, st := range leave {
			set[st] = true
		}
		gone = func(st *serverTools) bool { return set[st] }
	}
	edited := map[string]*termEntry{}
	entry := func(t string) *termEntry {
		if e := edited[t]; e != nil {
			return e
		}
		e := &termEntry{}
		if old := cur.get(t); old != nil {
			e.df = old.df
			e.servers = slices.Clone(old.servers)
			e.params = slices.Clone(old.params)
		}
		edited[t] = e
		return e
	}
	for _, st := range leave {
		for i := range st.post.terms {
			tp := &st.post.terms[i]
			e := entry(tp.term)
			for f := range e.df {
				e.df[f] -= tp.df[f]
			}
		}
	}
	if len(leave) > 0 {
		drop := func(s serverTerm) bool { return gone(s.st) }
		for _, e := range edited {
			e.servers = slices.DeleteFunc(e.servers, drop)
			e.params = slices.DeleteFunc(e.params, drop)
		}
	}
	for _, st := range enter {
		for i := range st.post.terms {
			tp := &st.post.terms[i]
			e := entry(tp.term)
			for f := range e.df {
				e.df[f] += tp.df[f]
			}
			s := serverTerm{slot: st.slot, n: int32(len(st.names)), st: st}
			if tp.mid > tp.start {
				s.docs = st.post.matchDocs(tp)
				e.servers = append(e.servers, s)
			}
			if tp.end > tp.mid {
				s.docs = st.post.paramDocs(tp)
				e.params = append(e.params, s)
			}
		}
	}
	copied := map[int]bool{}
	for t, e := range edited {
		sh := shardOf(t)
		if !copied[sh] {
			copied[sh] = true
			next.shards[sh] = slices.Clone(next.shards[sh])
		}
		i, ok := findTerm(next.shards[sh], t)
		switch {
		case len(e.servers)+len(e.params) == 0 && ok:
			next.shards[sh] = slices.Delete(next.shards[sh], i, i+1)
		case len(e.servers)+len(e.params) == 0:
		case ok:
			next.shards[sh][i].termEntry = *e
		default:
			next.shards[sh] = slices.Insert(next.shards[sh], i, dictEntry{term: t, termEntry: *e})
		}
	}
	return next
}

// scratch is what one search reuses from the last: the servers with a tool
// that matched, and for each of their tools its running score and the
// clauses it matched, by kind of match.
type scratch struct {
	offset  []int32                   // by slot: the server's first tool in sum, or -1
	lens    [][][numScoreFields]int32 // by slot: the server's field lengths
	touched []*serverTools
	sum     []float64
	matched [][numMatchKinds]uint64
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// candidate is a tool that scored, before it is resolved to a Hit.
type candidate struct {
	score float64
	st    *serverTools
	doc   int32
}

// before orders candidates best first: by score, then by id.
func (c *candidate) before(o *candidate) bool {
	if c.score != o.score {
		return c.score > o.score
	}
	if c.st.server != o.st.server {
		return c.st.server < o.st.server
	}
	return c.st.names[c.doc] < o.st.names[o.doc]
}

// scoreSearch ranks the live tools of snap for the planned query and returns
// the best limit that keep accepts (all if keep is nil), best first, ties
// ordered by id. A tool matches a query if it has one of its terms or their
// synonyms in its text or parameter names (parameter descriptions only add
// to the score of a tool that matches).
func (x *Index) scoreSearch(snap *snapshot, plan []clause, limit int, keep func(server string, t *mcpproxy.Tool) bool, explain bool) []Hit {
	entries := make([]*termEntry, len(plan))
	df := make([][numScoreFields]int32, len(plan))
	found := false
	for i := range plan {
		if e := snap.terms.get(plan[i].term); e != nil {
			entries[i], df[i] = e, e.df
			found = found || e.df[sfText] > 0 || e.df[sfParamNames] > 0
		}
	}
	if !found {
		return []Hit{}
	}
	ws := x.weightsOf(plan, df, snap.n, snap.lens)
	cov := x.coverageOf(plan)

	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	if len(sc.offset) < snap.slots {
		sc.offset = make([]int32, snap.slots)
		sc.lens = make([][][numScoreFields]int32, snap.slots)
		for i := range sc.offset {
			sc.offset[i] = -1
		}
	}
	sc.sum, sc.matched, sc.touched = sc.sum[:0], sc.matched[:0], sc.touched[:0]
	// First the tools each clause makes match, then, of those, the ones
	// that have a clause's term only in their parameter descriptions.
	for i, e := range entries {
		if e == nil {
			continue
		}
		bit := uint64(1) << i
		for _, s := range e.servers {
			off := sc.offset[s.slot]
			if off < 0 {
				off = int32(len(sc.sum))
				sc.offset[s.slot] = off
				sc.lens[s.slot] = s.st.post.lens
				sc.sum = append(sc.sum, make([]float64, s.n)...)
				sc.matched = append(sc.matched, make([][numMatchKinds]uint64, s.n)...)
				sc.touched = append(sc.touched, s.st)
			}
			lens := sc.lens[s.slot]
			for j := range s.docs {
				td := &s.docs[j]
				k := inText
				if td.tf[sfText] == 0 {
					k = inParamNames
				}
				d := off + td.doc
				sc.sum[d] += ws.scoreTerm(i, td, &lens[td.doc], nil)
				sc.matched[d][k] |= bit
			}
		}
	}
	for i, e := range entries {
		if e == nil {
			continue
		}
		bit := uint64(1) << i
		for _, s := range e.params {
			off := sc.offset[s.slot]
			if off < 0 {
				continue // none of its tools matched
			}
			lens := sc.lens[s.slot]
			for j := range s.docs {
				td := &s.docs[j]
				d := off + td.doc
				if sc.matched[d][inText]|sc.matched[d][inParamNames] == 0 {
					continue
				}
				sc.sum[d] += ws.scoreTerm(i, td, &lens[td.doc], nil)
				if td.tf[sfParams] > 0 {
					sc.matched[d][inParams] |= bit
				} else {
					sc.matched[d][inInstr] |= bit
				}
			}
		}
	}
	top := make([]candidate, 0, limit+1)
	for _, st := range sc.touched {
		off := sc.offset[st.slot]
		sc.offset[st.slot], sc.lens[st.slot] = -1, nil
		for d := range int32(len(st.names)) {
			m := &sc.matched[off+d]
			if m[inText]|m[inParamNames] == 0 {
				continue // parameter descriptions alone do not make a match
			}
			c := candidate{score: sc.sum[off+d] * cov.of(m), st: st, doc: d}
			if len(top) == limit && !c.before(&top[limit-1]) {
				continue
			}
			if keep != nil {
				t := st.tools[st.names[d]]
				if !keep(st.server, &t.Tool) {
					continue
				}
			}
			// Insert in order: limit is small.
			j := len(top)
			top = append(top, c)
			for ; j > 0 && c.before(&top[j-1]); j-- {
				top[j] = top[j-1]
			}
			top[j] = c
			if len(top) > limit {
				top = top[:limit]
			}
		}
	}
	hits := make([]Hit, len(top))
	for i := range top {
		c := &top[i]
		t := c.st.tools[c.st.names[c.doc]]
		hits[i] = Hit{Server: c.st.server, Tool: t.Tool, Score: c.score, CompactJSON: t.compactJSON}
		if explain {
			hits[i].Why = explainCandidate(plan, &ws, &cov, c)
		}
	}
	return hits
}

// explainCandidate says what a candidate's score is made of.
func explainCandidate(plan []clause, ws *weights, cov *coverage, c *candidate) *Explanation {
	e := &Explanation{Score: c.score, Clauses: len(plan)}
	lens := &c.st.post.lens[c.doc]
	var m [numMatchKinds]uint64
	for i, cl := range plan {
		tp := c.st.post.lookup(cl.term)
		if tp == nil {
			continue
		}
		td, ok := c.st.post.doc(tp, c.doc)
		if !ok {
			continue
		}
		k, ok := matchKind(&td)
		if !ok {
			continue
		}
		m[k] |= 1 << i
		var parts [numScoreFields]float64
		total := ws.scoreTerm(i, &td, lens, &parts)
		tc := TermContribution{Term: cl.term, SynonymOf: cl.of, Boost: cl.boost, Fields: map[string]float64{}, Total: total}
		for f, v := range parts {
			if v != 0 {
				tc.Fields[scoreFields[f]] = v
			}
		}
		e.Terms = append(e.Terms, tc)
	}
	e.Matched = len(e.Terms)
	e.Coverage = cov.of(&m)
	return e
}
