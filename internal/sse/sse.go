// Package sse reads the two framings MCP messages travel in: one message
// per line (stdio), and server-sent events (HTTP). It reads a short line
// in place, without copying it, and a long one into a slice of exactly its
// size, so that a large message costs its size about once. A very long
// line may be gathered in a file while it is read (Reader.Spool), so that
// the pieces it arrives in and the line they make are never in memory
// together.
//
// Concurrency contract: a Reader is used by one goroutine at a time.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
)

// ErrTooLong is the error of a line or an event longer than the limit its
// caller gave.
var ErrTooLong = errors.New("too long")

// Reader reads lines, or events made of lines, from a stream.
type Reader struct {
	br         *bufio.Reader
	spool      string // see Spool
	spoolAfter int64
}

// NewReader reads r through a buffer of size bytes: lines up to that size
// are returned in place.
func NewReader(r io.Reader, size int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, size)}
}

// Spool makes a line of more than after bytes gather in a file of its own
// in dir while it is read, the file removed once the line is whole. In
// memory, the pieces of a long line and the line they are joined into
// are alive together, twice the line's size; spooled, the line costs its
// size once (and the page cache the rest). A file that cannot be created
// or written leaves the line in memory.
func (r *Reader) Spool(dir string, after int64) { r.spool, r.spoolAfter = dir, after }

// Line returns the next line without its end ("\n" or "\r\n"), and whether
// it is the caller's: a line longer than the buffer is in a slice of its
// own of exactly its size, a shorter one in the reader's buffer, which the
// next read overwrites. A line cut short by the end of the stream is
// returned with io.EOF. A line of more than limit bytes is an error that
// wraps ErrTooLong.
func (r *Reader) Line(limit int64) (line []byte, owned bool, err error) {
	g := gather{dir: r.spool, after: r.spoolAfter}
	defer g.close()
	for {
		b, err := r.br.ReadSlice('\n')
		if g.n+int64(len(b)) > limit+1 { // +1: the newline
			return nil, false, fmt.Errorf("a line exceeds %d bytes: %w", limit, ErrTooLong)
		}
		if err == bufio.ErrBufferFull {
			g.add(b)
			continue
		}
		if err == nil {
			b = b[:len(b)-1] // the newline
		}
		if g.n == 0 {
			return trimCR(b), false, err
		}
		line, gerr := g.whole(b)
		if gerr != nil {
			return nil, false, gerr
		}
		return trimCR(line), true, err
	}
}

// ReadAll reads r to its end into a slice of exactly its size, through a
// spool file in dir once it is longer than after bytes (see Spool); dir ""
// keeps it in memory.
func ReadAll(r io.Reader, dir string, after int64) ([]byte, error) {
	g := gather{dir: dir, after: after}
	defer g.close()
	buf := make([]byte, 32<<10)
	for {
		k, err := r.Read(buf)
		g.add(buf[:k])
		switch {
		case err == io.EOF:
			return g.whole(nil)
		case err != nil:
			return nil, err
		}
	}
}

// gather collects a long line or a body: in blocks of memory, or in a
// spool file once it is longer than after bytes and dir is not empty.
type gather struct {
	dir    string
	after  int64
	n      int64 // bytes added
	pieces [][]byte
	sp     *spool
	tried  bool  // a spool file was tried
	err    error // the spool file could not be read back
}

// add copies b.
func (g *gather) add(b []byte) {
	if len(b) == 0 || g.err != nil {
		return
	}
	g.n += int64(len(b))
	if !g.tried && g.dir != "" && g.n > g.after {
		g.tried = true
		if g.sp = newSpool(g.dir, g.pieces); g.sp != nil {
			g.pieces = nil
		}
	}
	if g.sp != nil {
		if g.sp.write(b) {
			return
		}
		// The disk failed: on in memory.
		line := g.sp.unspool(0)
		g.sp = nil
		if line == nil {
			g.err = errors.New("a long message could not be read back from its spool file")
			return
		}
		g.pieces = [][]byte{line}
	}
	// Gathered in blocks that grow to pieceMax, so that a long line costs
	// few allocations whatever the reader's buffer.
	if k := len(g.pieces) - 1; k >= 0 && cap(g.pieces[k])-len(g.pieces[k]) >= len(b) {
		g.pieces[k] = append(g.pieces[k], b...)
		return
	}
	size := pieceMin
	if k := len(g.pieces) - 1; k >= 0 {
		size = min(2*cap(g.pieces[k]), pieceMax)
	}
	g.pieces = append(g.pieces, append(make([]byte, 0, max(size, len(b))), b...))
}

// whole returns what was added followed by last, in a slice of exactly
// their size.
func (g *gather) whole(last []byte) ([]byte, error) {
	if g.err != nil {
		return nil, g.err
	}
	n := g.n + int64(len(last))
	if g.sp != nil {
		if n >= collectAfter {
			// Large messages read before this one are likely done
			// with, and garbage the collector has not reached: with
			// several at once, this one would take more memory
			// instead of theirs.
			runtime.GC()
		}
		return g.sp.readBack(last)
	}
	line := make([]byte, 0, n)
	for _, p := range g.pieces {
		line = append(line, p...)
	}
	line = append(line, last...)
	if n >= collectAfter {
		// The pieces are as large as the line and garbage now. The
		// collector would not run before the caller decodes the line
		// (the heap has not reached its goal yet), so that decoding
		// would take a third line's worth of memory instead of reusing
		// theirs.
		g.pieces = nil
		runtime.GC()
	}
	return line, nil
}

func (g *gather) close() { g.sp.close() }

// createSpool creates a spool file; a variable for the tests.
var createSpool = func(dir string) (*os.File, error) { return os.CreateTemp(dir, "line-*") }

// spool is a long line being gathered in a file.
type spool struct {
	f      *os.File
	buf    []byte // what is not in the file yet; cap pieceMax
	inFile int64
}

// newSpool creates a spool file in dir holding pieces; nil if it cannot.
func newSpool(dir string, pieces [][]byte) *spool {
	f, err := createSpool(dir)
	if err != nil {
		return nil
	}
	// Unlinked at once where the system allows it (not on Windows), so
	// that nothing is left behind if the process dies.
	os.Remove(f.Name())
	sp := &spool{f: f, buf: make([]byte, 0, pieceMax)}
	for _, p := range pieces {
		if !sp.write(p) {
			sp.close()
			return nil
		}
	}
	return sp
}

// write adds b (at most pieceMax bytes) to the line; false if the file
// could not take what came before it, b then not added.
func (sp *spool) write(b []byte) bool {
	if len(sp.buf)+len(b) > cap(sp.buf) && !sp.flush() {
		return false
	}
	sp.buf = append(sp.buf, b...)
	return true
}

// flush writes the buffer to the file. What a failed write left out
// stays in the buffer.
func (sp *spool) flush() bool {
	k, err := sp.f.Write(sp.buf)
	sp.inFile += int64(k)
	sp.buf = sp.buf[:copy(sp.buf, sp.buf[k:])]
	return err == nil
}

// readBack returns the line so far followed by last, in a slice of exactly
// their size, and closes the file.
func (sp *spool) readBack(last []byte) ([]byte, error) {
	line := sp.unspool(len(last))
	if line == nil {
		return nil, errors.New("a long line could not be read back from its spool file")
	}
	return append(line, last...), nil
}

// unspool returns the line so far in memory, with room for extra more
// bytes, or nil if the file cannot be read; and closes the file.
func (sp *spool) unspool(extra int) []byte {
	defer sp.close()
	line := make([]byte, sp.inFile, sp.inFile+int64(len(sp.buf)+extra))
	if _, err := sp.f.ReadAt(line, 0); err != nil {
		return nil
	}
	return append(line, sp.buf...)
}

func (sp *spool) close() {
	if sp != nil && sp.f != nil {
		sp.f.Close()
		os.Remove(sp.f.Name())
		sp.f = nil
	}
}

// collectAfter is the length of a line after whose reading the garbage
// collector runs at once.
const collectAfter = 16 << 20

// The blocks a long line is gathered in grow from pieceMin to pieceMax
// bytes: a line costs at most pieceMax more than its size before it is
// joined.
const (
	pieceMin = 64 << 10
	pieceMax = 1 << 20
)

func trimCR(b []byte) []byte { return bytes.TrimSuffix(b, []byte{'\r'}) }

// Event returns the data of the next "message" event (the type of an event
// that names none), its data lines joined by "\n", in a slice of the
// caller's. Events of other types are skipped. A stream that ends inside
// an event is io.ErrUnexpectedEOF; data of more than limit bytes is an
// error that wraps ErrTooLong.
func (r *Reader) Event(limit int64) ([]byte, error) {
	var data []byte
	hasData, other := false, false
	for {
		line, owned, err := r.Line(limit)
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(line) == 0 { // the event ends
			if hasData && !other {
				return data, nil
			}
			data, hasData, other = data[:0], false, false
			continue
		}
		field, value := Field(line)
		switch string(field) {
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			if int64(len(data)+len(value)) > limit {
				return nil, fmt.Errorf("an event exceeds %d bytes: %w", limit, ErrTooLong)
			}
			if !hasData && owned {
				data = value // a long line in its own slice: no copy of a large result
			} else {
				data = append(data, value...)
			}
			hasData = true
		case "event":
			other = len(value) > 0 && string(value) != "message"
		}
	}
}

// Field splits a line of an event stream into its field's name and value
// (without the one space that may follow the colon). A comment (a line
// that starts with a colon) has an empty name.
func Field(line []byte) (name, value []byte) {
	name, value, _ = bytes.Cut(line, []byte(":"))
	return name, bytes.TrimPrefix(value, []byte(" "))
}
