package main

import (
	"math"
	"testing"
)

func TestEigen(t *testing.T) {
	m := [][]float64{{4, 1, 2}, {1, 3, 0.5}, {2, 0.5, 5}}
	a := make([][]float64, len(m))
	for i := range m {
		a[i] = append([]float64(nil), m[i]...)
	}
	vals, vecs := eigen(a)
	var sum float64
	for k, l := range vals {
		sum += l
		for i := range m {
			var av float64
			for j := range m {
				av += m[i][j] * vecs[j][k]
			}
			if math.Abs(av-l*vecs[i][k]) > 1e-9 {
				t.Fatalf("eigenpair %d: (Av)[%d] = %v, λv = %v", k, i, av, l*vecs[i][k])
			}
		}
	}
	if math.Abs(sum-12) > 1e-9 {
		t.Fatalf("eigenvalues sum to %v, want the trace 12", sum)
	}
}

func TestTerms(t *testing.T) {
	s := &source{Dimensions: 2, Words: []string{"the", "Files", "file", "files", "deleted", "x1", "a"},
		Vectors: map[string][]float64{
			"the": {1, 0}, "Files": {1, 0}, "file": {3, 4}, "files": {0, 2}, "deleted": {0, -1}, "x1": {1, 1}, "a": {1, 1},
		}}
	entries, err := terms(s, 4)
	if err != nil {
		t.Fatal(err)
	}
	// Taken: the (a stop word), file, files, deleted; not Files (upper
	// case), x1 (a digit), a (one letter), nor anything past 4 words.
	got := map[string]int{}
	for _, e := range entries {
		got[e.Term] = e.Rank
		if n := math.Hypot(float64(e.Vec[0]), float64(e.Vec[1])); math.Abs(n-1) > 1e-6 {
			t.Errorf("%s: norm %v, want 1", e.Term, n)
		}
	}
	if len(got) != 2 || got["file"] != 3 || got["delet"] != 5 {
		t.Fatalf("terms %v; want file (rank 3) and delet (rank 5)", got)
	}
	// file: (0.6, 0.8)/3 + (0, 1)/4, normalized.
	x, y := 0.6/3, 0.8/3+1.0/4
	n := math.Hypot(x, y)
	for _, e := range entries {
		if e.Term == "file" && (math.Abs(float64(e.Vec[0])-x/n) > 1e-6 || math.Abs(float64(e.Vec[1])-y/n) > 1e-6) {
			t.Fatalf("file: %v, want (%v, %v)", e.Vec, x/n, y/n)
		}
	}
}
