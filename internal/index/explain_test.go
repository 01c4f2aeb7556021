package index

import (
	"context"
	"math"
	"slices"
	"testing"
)

func TestIndex_SearchExplained(t *testing.T) {
	x := newTestIndex(t, fixtureServers)
	ctx := context.Background()
	explained := func(t *testing.T, q string, limit int) []Hit {
		t.Helper()
		hits, err := x.SearchExplained(ctx, q, limit)
		if err != nil {
			t.Fatalf("SearchExplained(%q): %v", q, err)
		}
		return hits
	}

	t.Run("SameHitsAddingUpToTheScore", func(t *testing.T) {
		for _, q := range []string{"read a file", "open a new issue on github", "remove the folder", "weather forecast for tomorrow", "send a slack message"} {
			plain := searchT(t, x, q, 5)
			hits := explained(t, q, 5)
			if got, want := ids(hits), ids(plain); !slices.Equal(got, want) {
				t.Errorf("SearchExplained(%q) = %v, Search = %v", q, got, want)
			}
			for _, h := range hits {
				e := h.Why
				if e == nil {
					t.Fatalf("SearchExplained(%q): %s has no explanation", q, h.ID())
				}
				var sum float64
				for _, tc := range e.Terms {
					sum += tc.Total
					if tc.Fields[fieldText] <= 0 && tc.Fields[fieldParamNames] <= 0 && tc.Fields[fieldParams] <= 0 && tc.Fields[fieldInstructions] <= 0 {
						t.Errorf("%q, %s: term %s matched without a score in its text or parameters: %s", q, h.ID(), tc.Term, e)
					}
				}
				if got := sum * e.Coverage; math.Abs(got-h.Score) > 1e-9*math.Max(1, h.Score) {
					t.Errorf("%q, %s: terms add up to %v × %v = %v, score %v: %s", q, h.ID(), sum, e.Coverage, got, h.Score, e)
				}
				if e.Matched == 0 || e.Matched != len(e.Terms) || e.Matched > e.Clauses {
					t.Errorf("%q, %s: matched %d of %d clauses with %d terms", q, h.ID(), e.Matched, e.Clauses, len(e.Terms))
				}
			}
		}
	})

	t.Run("NamesFieldsAndSynonyms", func(t *testing.T) {
		// "folder" is in no filesystem tool; "directory", a synonym of
		// it, is in create_directory's name and text.
		var e *Explanation
		for _, h := range explained(t, "make a folder", 15) {
			if h.ID() == "filesystem:create_directory" {
				e = h.Why
			}
		}
		if e == nil {
			t.Fatal("filesystem:create_directory not found")
		}
		var syn *TermContribution
		for i := range e.Terms {
			if e.Terms[i].SynonymOf == "folder" {
				syn = &e.Terms[i]
			}
		}
		if syn == nil {
			t.Fatalf("no term standing for folder: %s", e)
		}
		if syn.Fields[fieldName] <= 0 || syn.Boost >= 1 {
			t.Errorf("synonym %s: boost %v, fields %v; want a name score and a boost below 1", syn.Term, syn.Boost, syn.Fields)
		}
	})

	t.Run("PlainSearchHasNone", func(t *testing.T) {
		for _, h := range searchT(t, x, "read a file", 5) {
			if h.Why != nil {
				t.Errorf("Search: %s has an explanation", h.ID())
			}
		}
	})
}

func TestLeafTerm(t *testing.T) {
	for _, tt := range []struct {
		msg, field, term string
		ok               bool
	}{
		{"weight(text:issu^0.300000 in github:create_issue), product of:", "text", "issu", true},
		{"fieldWeight(name:read in x:y), as per bm25 model, product of:", "name", "read", true},
		{"weight(params:a:b^1.000000 in s:t), product of:", "params", "a:b", true},
		{"weight(_id:x^1.000000 in s:t), product of:", "", "", false},
		{"coord(1/2)", "", "", false},
	} {
		field, term, ok := leafTerm(tt.msg)
		if ok != tt.ok || ok && (field != tt.field || term != tt.term) {
			t.Errorf("leafTerm(%q) = %q, %q, %v; want %q, %q, %v", tt.msg, field, term, ok, tt.field, tt.term, tt.ok)
		}
	}
}
