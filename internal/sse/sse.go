// Package sse reads the two framings MCP messages travel in: one message
// per line (stdio), and server-sent events (HTTP). It reads a short line
// in place, without copying it, and a long one into a slice of exactly its
// size, so that a large message costs its size about once.
//
// Concurrency contract: a Reader is used by one goroutine at a time.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
)

// ErrTooLong is the error of a line or an event longer than the limit its
// caller gave.
var ErrTooLong = errors.New("too long")

// Reader reads lines, or events made of lines, from a stream.
type Reader struct {
	br *bufio.Reader
}

// NewReader reads r through a buffer of size bytes: lines up to that size
// are returned in place.
func NewReader(r io.Reader, size int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, size)}
}

// Line returns the next line without its end ("\n" or "\r\n"), and whether
// it is the caller's: a line longer than the buffer is in a slice of its
// own of exactly its size, a shorter one in the reader's buffer, which the
// next read overwrites. A line cut short by the end of the stream is
// returned with io.EOF. A line of more than limit bytes is an error that
// wraps ErrTooLong.
func (r *Reader) Line(limit int64) (line []byte, owned bool, err error) {
	var pieces [][]byte
	var n int64
	for {
		b, err := r.br.ReadSlice('\n')
		n += int64(len(b))
		if n > limit+1 { // +1: the newline
			return nil, false, fmt.Errorf("a line exceeds %d bytes: %w", limit, ErrTooLong)
		}
		if err == bufio.ErrBufferFull {
			// Gathered in blocks that grow to pieceMax, so that a long
			// line costs few allocations whatever the buffer's size.
			if k := len(pieces) - 1; k >= 0 && cap(pieces[k])-len(pieces[k]) >= len(b) {
				pieces[k] = append(pieces[k], b...)
			} else {
				size := pieceMin
				if k >= 0 {
					size = min(2*cap(pieces[k]), pieceMax)
				}
				pieces = append(pieces, append(make([]byte, 0, max(size, len(b))), b...))
			}
			continue
		}
		if err == nil {
			b, n = b[:len(b)-1], n-1 // the newline
		}
		if pieces == nil {
			return trimCR(b), false, err
		}
		line := make([]byte, 0, n)
		for _, p := range pieces {
			line = append(line, p...)
		}
		line = trimCR(append(line, b...))
		if n >= collectAfter {
			// The pieces are as large as the line and garbage now. The
			// collector would not run before the caller decodes the
			// line (the heap has not reached its goal yet), so that
			// decoding would take a third line's worth of memory
			// instead of reusing theirs.
			pieces = nil
			runtime.GC()
		}
		return line, true, err
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
