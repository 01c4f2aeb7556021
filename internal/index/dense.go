package index

import (
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/mcpproxy/mcpproxy/internal/index/wordvec"
)

// The dense signal: each tool has a vector, the weighted mean of the word
// vectors of its text's terms (wordvec), computed when it is indexed; a
// query has the same of its own terms; their cosine similarity says how
// close in meaning they are even when they share no word ("add 17 and 25"
// and a tool that returns a sum). The weights are smooth inverse
// frequencies (SIF): a/(a+p(w)), p the word's frequency in English, so
// that "get" or "new" count less than "screenshot".

var (
	vectorsOnce  sync.Once
	vectorsTable *wordvec.Table
)

// wordVectors returns the embedded word vectors, nil if they do not parse
// (a broken build: the tests parse them), in which case searches go
// without the dense signal.
func wordVectors() *wordvec.Table {
	vectorsOnce.Do(func() {
		t, err := wordvec.Default()
		if err != nil {
			slog.Error("tool index: word vectors unusable; searching without them", "err", err)
			return
		}
		vectorsTable = t
	})
	return vectorsTable
}

// sifA is the a of the SIF weights: a term as frequent as a in English
// counts half.
var sifA = 1e-4

// denseFields weighs a term's frequency in each field of a tool (in the
// order of scoreFields) in the tool's vector.
var denseFields = [numScoreFields]float32{sfText: 1, sfParamNames: 0.5, sfParams: 0}

var expandOOVOnly = false
var expandMinRank = 0

// toolVecs are the quantized unit vectors of one server's tools, by tool
// position: tool i's is vecs[i*dim:(i+1)*dim] times scale[i]. A tool none
// of whose terms has a vector has scale 0.
type toolVecs struct {
	dim   int
	vecs  []int8
	scale []float32
}

// sifWeight is the smooth inverse frequency weight of the table's term i.
func sifWeight(t *wordvec.Table, i int, a float64) float32 {
	return float32(a / (a + t.Frequency(i)))
}

// newToolVecs computes the vectors of a server's tools from their
// postings: each term of a tool's text counts its SIF weight times its
// frequency in the fields, weighted by r's dense field weights.
func newToolVecs(t *wordvec.Table, p *postings, ndocs int) *toolVecs {
	if t == nil {
		return nil
	}
	dim := t.Dim()
	sums := make([]float32, ndocs*dim)
	for ti := range p.terms {
		tp := &p.terms[ti]
		wi, ok := t.Lookup(tp.term)
		if !ok {
			continue
		}
		w := sifWeight(t, wi, sifA)
		for _, td := range p.docs[tp.start:tp.end] {
			f := float32(td.tf[sfName])*denseFields[sfName] + float32(td.tf[sfText])*denseFields[sfText] + float32(td.tf[sfParamNames])*denseFields[sfParamNames] + float32(td.tf[sfParams])*denseFields[sfParams]
			if f == 0 {
				continue
			}
			t.Vector(wi, w*f, sums[int(td.doc)*dim:(int(td.doc)+1)*dim])
		}
	}
	tv := &toolVecs{dim: dim, vecs: make([]int8, ndocs*dim), scale: make([]float32, ndocs)}
	for d := range ndocs {
		tv.scale[d] = quantizeUnit(sums[d*dim:(d+1)*dim], tv.vecs[d*dim:(d+1)*dim])
	}
	return tv
}

// quantizeUnit writes v, normalized, into q as signed bytes and returns
// their scale; 0 if v is zero.
func quantizeUnit(v []float32, q []int8) float32 {
	var norm, m float64
	for _, x := range v {
		norm += float64(x) * float64(x)
		m = max(m, math.Abs(float64(x)))
	}
	if norm == 0 {
		return 0
	}
	norm = math.Sqrt(norm)
	s := m / norm / 127
	for j, x := range v {
		q[j] = int8(math.Round(float64(x) / norm / s))
	}
	return float32(s)
}

// queryVec returns the unit vector of a query's own terms (not their
// synonyms), nil if none has a vector.
func (x *Index) queryVec(plan []clause) []float32 {
	t := wordVectors()
	if t == nil {
		return nil
	}
	v := make([]float32, t.Dim())
	found := false
	for _, c := range plan {
		if c.of != "" {
			continue
		}
		if wi, ok := t.Lookup(c.term); ok {
			t.Vector(wi, sifWeight(t, wi, sifA), v)
			found = true
		}
	}
	if !found {
		return nil
	}
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if norm == 0 {
		return nil
	}
	inv := float32(1 / math.Sqrt(norm))
	for j := range v {
		v[j] *= inv
	}
	return v
}

// cosine returns the cosine similarity of the unit query vector q and tool
// d's vector.
func (tv *toolVecs) cosine(q []float32, d int32) float32 {
	s := tv.scale[d]
	if s == 0 {
		return 0
	}
	v := tv.vecs[int(d)*tv.dim : (int(d)+1)*tv.dim]
	v = v[:len(q)]
	var a0, a1, a2, a3 float32
	j := 0
	for ; j+4 <= len(q); j += 4 {
		a0 += q[j] * float32(v[j])
		a1 += q[j+1] * float32(v[j+1])
		a2 += q[j+2] * float32(v[j+2])
		a3 += q[j+3] * float32(v[j+3])
	}
	for ; j < len(q); j++ {
		a0 += q[j] * float32(v[j])
	}
	return (a0 + a1 + a2 + a3) * s
}

// expandPlan adds to plan, for each query term with a vector, the terms of
// the live tools closest to it in meaning (cosine similarity at least
// expandMin, at most expandPerTerm of them), as clauses standing for it
// with boost expandBoost times their similarity.
func (x *Index) expandPlan(snap *snapshot, plan []clause) []clause {
	t := wordVectors()
	if t == nil {
		return plan
	}
	has := func(term string) bool {
		return slices.ContainsFunc(plan, func(c clause) bool { return c.term == term })
	}
	terms := len(plan)
	type near struct {
		term string
		cos  float32
	}
	qv := make([]float32, t.Dim())
	for _, c := range plan[:terms] {
		if c.of != "" {
			continue
		}
		if expandOOVOnly {
			if e := snap.terms.get(c.term); e != nil && e.df[sfText] > 0 {
				continue
			}
		}
		qi, ok := t.Lookup(c.term)
		if !ok || t.Rank(qi) < expandMinRank {
			continue
		}
		clear(qv)
		t.Vector(qi, 1, qv)
		var best []near
		for sh := range snap.terms.shards {
			for _, e := range snap.terms.shards[sh] {
				if e.df[sfText] == 0 || e.term == c.term {
					continue
				}
				wi, ok := t.Lookup(e.term)
				if !ok || t.Rank(wi) < expandMinRank {
					continue
				}
				var cos float32
				q := t.Quantized(wi)
				for j := range q {
					cos += qv[j] * float32(q[j])
				}
				cos *= t.Scale(wi)
				if float64(cos) >= x.rank.expandMin {
					best = append(best, near{e.term, cos})
				}
			}
		}
		slices.SortFunc(best, func(a, b near) int {
			if a.cos != b.cos {
				if a.cos > b.cos {
					return -1
				}
				return 1
			}
			return strings.Compare(a.term, b.term)
		})
		n := 0
		for _, b := range best {
			if n == x.rank.expandPerTerm || len(plan) >= 64 {
				break
			}
			if has(b.term) {
				continue
			}
			plan = append(plan, clause{term: b.term, of: c.term, boost: x.rank.expandBoost * float64(b.cos), near: true})
			n++
		}
	}
	return plan
}

var synCtxA, synCtxB float64

// weighSynonyms scales each synonym clause's boost by how close the synonym
// is in meaning to the query as a whole.
func (x *Index) weighSynonyms(plan []clause) {
	t := wordVectors()
	if t == nil || synCtxB == 0 {
		return
	}
	qv := x.queryVec(plan)
	if qv == nil {
		return
	}
	for i := range plan {
		c := &plan[i]
		if c.of == "" || c.near {
			continue
		}
		wi, ok := t.Lookup(c.term)
		if !ok {
			continue
		}
		v := make([]float32, t.Dim())
		t.Vector(wi, 1, v)
		var cos float64
		for j := range v {
			cos += float64(v[j] * qv[j])
		}
		c.boost *= max(0, synCtxA+synCtxB*cos)
	}
}
