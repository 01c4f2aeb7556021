package wordvec

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomEntries returns n entries of dimension dim with random unit
// vectors (one of them zero) and distinct terms.
func randomEntries(n, dim int) []Entry {
	r := rand.New(rand.NewPCG(1, 2))
	entries := make([]Entry, n)
	for i := range entries {
		v := make([]float32, dim)
		if i != 3 {
			var norm float64
			for j := range v {
				v[j] = float32(r.NormFloat64())
				norm += float64(v[j]) * float64(v[j])
			}
			for j := range v {
				v[j] /= float32(math.Sqrt(norm))
			}
		}
		// Terms in an order other than sorted, to check Encode sorts.
		entries[i] = Entry{Term: string(rune('z'-i%26)) + strings.Repeat("q", i/26), Rank: i + 1, Vec: v}
	}
	return entries
}

func TestTable_RoundTrip(t *testing.T) {
	const dim = 16
	entries := randomEntries(200, dim)
	b, err := Encode(dim, entries)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != len(entries) || tab.Dim() != dim {
		t.Fatalf("Len %d, Dim %d; want %d, %d", tab.Len(), tab.Dim(), len(entries), dim)
	}
	for _, e := range entries {
		i, ok := tab.Lookup(e.Term)
		if !ok {
			t.Fatalf("Lookup(%q): not found", e.Term)
		}
		if tab.Term(i) != e.Term || tab.Rank(i) != e.Rank {
			t.Fatalf("term %q: got %q, rank %d; want rank %d", e.Term, tab.Term(i), tab.Rank(i), e.Rank)
		}
		got := make([]float32, dim)
		tab.Vector(i, 1, got)
		var m float32
		for _, x := range e.Vec {
			m = max(m, float32(math.Abs(float64(x))))
		}
		// The quantisation error bound: half a step, the step being the
		// largest component over 127.
		bound := m/127/2 + 1e-6
		for j := range got {
			if d := float32(math.Abs(float64(got[j] - e.Vec[j]))); d > bound {
				t.Fatalf("term %q, component %d: %v, want %v ± %v", e.Term, j, got[j], e.Vec[j], bound)
			}
		}
		// Vector adds, scaled.
		tab.Vector(i, -1, got)
		for j := range got {
			if got[j] != 0 {
				t.Fatalf("term %q: Vector(-1) did not cancel Vector(1): %v", e.Term, got)
			}
		}
	}
	for i := 1; i < tab.Len(); i++ {
		if tab.Term(i-1) >= tab.Term(i) {
			t.Fatalf("terms %q, %q out of order", tab.Term(i-1), tab.Term(i))
		}
	}
}

func TestTable_Unknown(t *testing.T) {
	b, err := Encode(2, []Entry{{"b", 1, []float32{1, 0}}, {"d", 2, []float32{0, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"", "a", "bb", "c", "e", "B"} {
		if i, ok := tab.Lookup(w); ok {
			t.Errorf("Lookup(%q) = %d, found; want not found", w, i)
		}
	}
	var empty Table
	if _, ok := empty.Lookup("a"); ok {
		t.Error("zero Table: Lookup found a term")
	}
}

func TestEncode_Invalid(t *testing.T) {
	for name, entries := range map[string][]Entry{
		"Dim":       {{"a", 1, []float32{1}}},
		"Twice":     {{"a", 1, []float32{1, 0}}, {"a", 2, []float32{0, 1}}},
		"RankZero":  {{"a", 0, []float32{1, 0}}},
		"RankBelow": {{"a", -3, []float32{1, 0}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Encode(2, entries); err == nil {
				t.Fatal("Encode: no error")
			}
		})
	}
}

func TestParse_Invalid(t *testing.T) {
	good, err := Encode(4, randomEntries(10, 4))
	if err != nil {
		t.Fatal(err)
	}
	unsorted := bytes.Clone(good)
	// Swap the first two one-letter terms in the blob: "q"… terms sort
	// after single letters, so the first two are single letters.
	off := len(magic) + 8 + 4*11
	unsorted[off], unsorted[off+1] = unsorted[off+1], unsorted[off]
	badDim := bytes.Clone(good)
	binary.LittleEndian.PutUint32(badDim[len(magic)+4:], 0)
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"Empty":     {nil, "magic"},
		"Magic":     {append([]byte("NOTATABL"), good[len(magic):]...), "magic"},
		"Truncated": {good[:len(good)-1], "bytes"},
		"Longer":    {append(bytes.Clone(good), 0), "bytes"},
		"Unsorted":  {unsorted, "out of order"},
		"Dim":       {badDim, "header"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestDefault checks the embedded table: it parses, holds the terms of
// frequent words as the index's analyzer writes them (stemmed), and its
// vectors are unit vectors in which related words are close.
func TestDefault(t *testing.T) {
	tab, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() < 20000 || tab.Dim() != 64 {
		t.Fatalf("%d terms of %d dimensions; want >= 20000 of 64", tab.Len(), tab.Dim())
	}
	vec := func(term string) []float32 {
		t.Helper()
		i, ok := tab.Lookup(term)
		if !ok {
			t.Fatalf("no term %q", term)
		}
		v := make([]float32, tab.Dim())
		tab.Vector(i, 1, v)
		return v
	}
	cos := func(a, b []float32) float64 {
		var s float64
		for j := range a {
			s += float64(a[j] * b[j])
		}
		return s
	}
	for _, term := range []string{"file", "search", "delet", "imag", "directori"} {
		if n := cos(vec(term), vec(term)); math.Abs(n-1) > 0.02 {
			t.Errorf("%q: squared norm %.4f, want 1", term, n)
		}
	}
	// Stop words are not terms; nor are surface forms the stemmer changes.
	for _, w := range []string{"the", "which", "deleted"} {
		if _, ok := tab.Lookup(w); ok {
			t.Errorf("Lookup(%q): found; the analyzer never makes this term", w)
		}
	}
	if a, b := cos(vec("pictur"), vec("photo")), cos(vec("pictur"), vec("databas")); a <= b+0.2 {
		t.Errorf("cos(picture, photo) %.3f, cos(picture, database) %.3f: want the first well above", a, b)
	}
}
