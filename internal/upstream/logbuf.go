package upstream

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/secret"
)

const (
	// DefaultLogLines is how many stderr lines a LogBuffer keeps in memory.
	DefaultLogLines = 1000
	maxLineBytes    = 8 << 10
	// redactSlack is how far past maxLineBytes a line is read so that a
	// secret crossing the cut is still masked (secrets up to this long).
	redactSlack     = 4 << 10
	maxLogFileBytes = 10 << 20
)

// LogBuffer keeps the last lines an upstream wrote to stderr, in memory, and
// appends them to a log file. It outlives individual connections: the
// supervisor creates one per server name.
//
// Append never blocks on disk: lines for the file go through a bounded channel
// to the buffer's own writer goroutine, and are counted and dropped when that
// goroutine falls behind (a flooding server must not slow its actor down).
type LogBuffer struct {
	path  string
	fileC chan string
	done  chan struct{}

	redact atomic.Pointer[secret.Redactor] // values never written

	mu      sync.Mutex
	lines   []string // ring, guarded by mu
	next    int      // guarded by mu
	full    bool     // guarded by mu
	dropped int64    // guarded by mu
	closed  bool     // guarded by mu
}

// NewLogBuffer returns a buffer of capacity lines writing to path ("" for
// memory only).
func NewLogBuffer(path string, capacity int) *LogBuffer {
	if capacity <= 0 {
		capacity = DefaultLogLines
	}
	b := &LogBuffer{path: path, lines: make([]string, capacity), done: make(chan struct{})}
	if path == "" {
		close(b.done)
		return b
	}
	b.fileC = make(chan string, 4096)
	go b.writeLoop()
	return b
}

// SetRedactor makes Append mask r's values (secrets expanded into the
// server's command line, env or headers) before a line is kept or written.
func (b *LogBuffer) SetRedactor(r *secret.Redactor) { b.redact.Store(r) }

// Append records one line, masked and then cut to maxLineBytes (masking
// first, so that a cut cannot keep the start of a secret).
func (b *LogBuffer) Append(line string) {
	line = b.redact.Load().Redact(line)
	if len(line) > maxLineBytes {
		line = line[:maxLineBytes]
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.lines[b.next] = line
	b.next = (b.next + 1) % len(b.lines)
	if b.next == 0 {
		b.full = true
	}
	if b.fileC != nil {
		select {
		case b.fileC <- line:
		default:
			b.dropped++
		}
	}
	b.mu.Unlock()
}

// Tail returns up to n of the most recent lines, oldest first (n <= 0: all).
func (b *LogBuffer) Tail(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	size := b.next
	if b.full {
		size = len(b.lines)
	}
	if n <= 0 || n > size {
		n = size
	}
	out := make([]string, n)
	start := b.next - n
	if start < 0 {
		start += len(b.lines)
	}
	for i := range n {
		out[i] = b.lines[(start+i)%len(b.lines)]
	}
	return out
}

// Last returns the most recent line, or "".
func (b *LogBuffer) Last() string {
	t := b.Tail(1)
	if len(t) == 0 {
		return ""
	}
	return t[0]
}

// Path returns the log file path ("" when memory only).
func (b *LogBuffer) Path() string { return b.path }

// Close stops the file writer after it has written what is queued.
func (b *LogBuffer) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return
	}
	b.closed = true
	if b.fileC != nil {
		close(b.fileC)
	}
	b.mu.Unlock()
	<-b.done
}

func (b *LogBuffer) writeLoop() {
	defer close(b.done)
	var (
		f    *os.File
		w    *bufio.Writer
		size int64
	)
	open := func() {
		if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
			return
		}
		var err error
		f, err = os.OpenFile(b.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			f = nil
			return
		}
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		w = bufio.NewWriterSize(f, 32<<10)
	}
	closeFile := func() {
		if f != nil {
			w.Flush()
			f.Close()
			f, w = nil, nil
		}
	}
	defer closeFile()
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	for {
		select {
		case line, ok := <-b.fileC:
			if !ok {
				return
			}
			if f == nil {
				open()
				if f == nil {
					continue
				}
			}
			n, _ := fmt.Fprintf(w, "%s %s\n", time.Now().UTC().Format(time.RFC3339Nano), line)
			size += int64(n)
			if size > maxLogFileBytes {
				closeFile()
				os.Rename(b.path, b.path+".1")
				size = 0
			}
		case <-flush.C:
			if w != nil {
				w.Flush()
			}
		}
	}
}

// copyLines reads r line by line into b until r fails. Over-long lines are
// cut so one runaway line cannot grow memory: read to maxLineBytes plus
// redactSlack, so that Append can mask a secret that straddles
// maxLineBytes before it cuts there.
func copyLines(r io.Reader, b *LogBuffer) {
	br := bufio.NewReaderSize(r, maxLineBytes+redactSlack)
	for {
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 || (err == nil && !isPrefix) {
			b.Append(string(line))
		}
		for isPrefix && err == nil { // discard the rest of an over-long line
			_, isPrefix, err = br.ReadLine()
		}
		if err != nil {
			return
		}
	}
}
