package index

import (
	"fmt"
	"slices"
	"strings"

	"github.com/blevesearch/bleve/v2/search"
)

// Explanation says why a tool scored what it did for a query: which query
// terms and synonyms it matched, in which fields, for how much. Score is
// Coverage times the sum of the terms' Total.
type Explanation struct {
	Score float64 `json:"score"`
	// Matched of Clauses query terms and synonyms are in the tool (in its
	// text, or only in its parameter descriptions or its server's
	// instructions). Coverage is the factor applied to the sum: the share
	// of the query's terms the tool covers, itself or by a synonym (a term
	// only in parameter descriptions counts partly, one only in the
	// instructions not at all).
	Matched  int     `json:"matched"`
	Clauses  int     `json:"clauses"`
	Coverage float64 `json:"coverage"`
	// Terms lists the matched terms, in the order of the query's clauses.
	Terms []TermContribution `json:"terms"`
}

// TermContribution is what one query term or synonym adds to a tool's
// score before coverage, per field.
type TermContribution struct {
	Term string `json:"term"` // analyzed (stemmed) form
	// SynonymOf is the query term this one stands for; empty for a term of
	// the query itself.
	SynonymOf string  `json:"synonym_of,omitempty"`
	Boost     float64 `json:"boost"`
	// Fields maps a field (text, name, server, params, param_names,
	// instructions: the server's) to the BM25 score of the term in it,
	// boosts and the query normalization included.
	Fields map[string]float64 `json:"fields"`
	Total  float64            `json:"total"`
}

// String renders the explanation on one line, for logs and test failures.
func (e *Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%.4f = %.3f ×", e.Score, e.Coverage)
	for _, t := range e.Terms {
		fmt.Fprintf(&b, " %s", t.Term)
		if t.SynonymOf != "" {
			fmt.Fprintf(&b, "(~%s)", t.SynonymOf)
		}
		b.WriteString("[")
		sep := ""
		for _, f := range scoreFields {
			if v, ok := t.Fields[f]; ok {
				fmt.Fprintf(&b, "%s%s %.4f", sep, f, v)
				sep = ", "
			}
		}
		b.WriteString("]")
	}
	return b.String()
}

// explanation folds bleve's explanation of a hit's score into one entry per
// matched clause of the plan. Its leaves are the scores of one term in one
// field ("weight(field:term^boost in doc)", or "fieldWeight(field:term in
// doc)" where the query weight is 1), which add up, times the coverage of
// the disjunction, to the score.
func explanation(plan []clause, score float64, expl *search.Explanation) *Explanation {
	e := &Explanation{Score: score, Clauses: len(plan)}
	if expl == nil {
		return e
	}
	terms := map[string]*TermContribution{}
	var walk func(*search.Explanation)
	walk = func(n *search.Explanation) {
		if field, term, ok := leafTerm(n.Message); ok {
			t := terms[term]
			if t == nil {
				t = &TermContribution{Term: term, Fields: map[string]float64{}}
				terms[term] = t
			}
			t.Fields[field] += n.Value
			t.Total += n.Value
			return
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(expl)
	for _, c := range plan {
		if t := terms[c.term]; t != nil {
			t.SynonymOf, t.Boost = c.of, c.boost
			e.Terms = append(e.Terms, *t)
		}
	}
	e.Matched = len(e.Terms)
	e.Coverage = float64(e.Matched) / float64(max(1, e.Clauses))
	return e
}

// leafTerm parses the field and term out of the message of a term scorer's
// explanation.
func leafTerm(msg string) (field, term string, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(msg, "weight("):
		rest = msg[len("weight("):]
		if i := strings.LastIndex(rest, " in "); i >= 0 {
			rest = rest[:i]
		}
		if i := strings.LastIndexByte(rest, '^'); i >= 0 {
			rest = rest[:i]
		}
	case strings.HasPrefix(msg, "fieldWeight("):
		rest = msg[len("fieldWeight("):]
		if i := strings.LastIndex(rest, " in "); i >= 0 {
			rest = rest[:i]
		}
	default:
		return "", "", false
	}
	field, term, ok = strings.Cut(rest, ":")
	return field, term, ok && slices.Contains(indexedFields[:], field)
}
