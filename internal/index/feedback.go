package index

import (
	"cmp"
	"math"
	"slices"
)

// Pseudo-relevance feedback: a search takes the text of its first few hits
// as if the user had said they were what they meant, adds the words those
// hits share and the query lacks as clauses of low weight, and scores again.
// A tool described in the words of the tools the query found best gains;
// the words never make a tool match (only tools that matched the query
// itself score them) and never count toward coverage.

// feedbackTerm is a candidate expansion term with its weight.
type feedbackTerm struct {
	term   string
	weight float64
	entry  *termEntry
}

// feedbackClauses returns the expansion clauses for plan from the first
// hits of a search, top: the rank.feedbackTerms terms of the hits' text
// with the highest weight, each a clause of boost rank.feedbackBoost times
// its weight over the highest. A term's weight is the mean, over the hits
// weighted by their scores, of its frequency in the hit's text over the
// text's length, times its idf over the live tools (RM3's relevance model
// with idf in place of a background model).
func (x *Index) feedbackClauses(snap *snapshot, plan []clause, top []candidate) ([]clause, []*termEntry) {
	var total float64
	for i := range top {
		total += top[i].score
	}
	if total <= 0 {
		return nil, nil
	}
	weights := map[string]float64{}
	docsOf := map[string]int{}
	for i := range top {
		c := &top[i]
		p := c.st.post
		length := float64(p.lens[c.doc][sfText])
		if length == 0 {
			continue
		}
		share := c.score / total
		if x.rank.feedbackRank {
			share = 1 / float64(i+1)
		}
		for j := p.fwdStart[c.doc]; j < p.fwdStart[c.doc+1]; j++ {
			tp := &p.terms[p.fwdTerm[j]]
			if x.rank.feedbackNoServer && tp.df[sfServer] > 0 {
				continue
			}
			weights[tp.term] += share * float64(p.fwdTF[j]) / length
			docsOf[tp.term]++
		}
	}
	for t, n := range docsOf {
		if n < x.rank.feedbackShared {
			delete(weights, t)
		}
	}
	for _, c := range plan {
		delete(weights, c.term)
	}
	cands := make([]feedbackTerm, 0, len(weights))
	n := float64(snap.n)
	for t, w := range weights {
		e := snap.terms.get(t)
		if e == nil || e.df[sfText] == 0 {
			continue
		}
		df := float64(e.df[sfText])
		cands = append(cands, feedbackTerm{term: t, weight: w * math.Log(1+(n-df+0.5)/(df+0.5)), entry: e})
	}
	slices.SortFunc(cands, func(a, b feedbackTerm) int {
		return cmp.Or(cmp.Compare(b.weight, a.weight), cmp.Compare(a.term, b.term))
	})
	cands = cands[:min(len(cands), x.rank.feedbackTerms)]
	if len(cands) == 0 || cands[0].weight <= 0 {
		return nil, nil
	}
	clauses := make([]clause, len(cands))
	entries := make([]*termEntry, len(cands))
	for i, ft := range cands {
		clauses[i] = clause{term: ft.term, boost: x.rank.feedbackBoost * ft.weight / cands[0].weight, feedback: true}
		entries[i] = ft.entry
	}
	return clauses, entries
}
