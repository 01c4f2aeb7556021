package upstream

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
	// stderrChunk is the size of the reads from a server's stderr.
	stderrChunk = 1 << 10
)

// LogBuffer keeps the last lines an upstream wrote to stderr, in memory, and
// appends them to a log file. It outlives individual connections: the
// supervisor creates one per server name.
//
// Append never blocks on disk: lines for the file go through a bounded channel
// to the buffer's writer goroutine, and are counted and dropped when that
// goroutine falls behind (a flooding server must not slow its actor down).
//
// A quiet server costs next to nothing: the ring grows as lines arrive, and
// the writer goroutine (with its open file and flush ticker) runs only while
// lines do, ending once the server has been quiet for logIdle. An HTTP
// server, which has no stderr, never starts one.
type LogBuffer struct {
	path     string
	capacity int
	wg       sync.WaitGroup // the writer goroutine, when one runs

	redact atomic.Pointer[secret.Redactor] // values never written

	mu      sync.Mutex
	lines   []string    // ring once it holds capacity lines, guarded by mu
	next    int         // oldest line once full, guarded by mu
	fileC   chan string // made when a writer starts, dropped when it ends; guarded by mu
	writing bool        // a writer goroutine runs, guarded by mu
	dropped int64       // guarded by mu
	closed  bool        // guarded by mu
}

// logIdle is how long the writer goroutine waits for another line before it
// flushes, closes the file and ends.
const logIdle = 2 * time.Second

// NewLogBuffer returns a buffer of capacity lines writing to path ("" for
// memory only).
func NewLogBuffer(path string, capacity int) *LogBuffer {
	if capacity <= 0 {
		capacity = DefaultLogLines
	}
	return &LogBuffer{path: path, capacity: capacity}
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
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if len(b.lines) < b.capacity {
		b.lines = append(b.lines, line)
	} else {
		b.lines[b.next] = line
		b.next = (b.next + 1) % b.capacity
	}
	if b.path == "" {
		return
	}
	if b.fileC == nil {
		b.fileC = make(chan string, 4096)
	}
	select {
	case b.fileC <- line:
	default:
		b.dropped++
	}
	if !b.writing {
		b.writing = true
		b.wg.Add(1)
		go b.writeLoop()
	}
}

// Tail returns up to n of the most recent lines, oldest first (n <= 0: all).
func (b *LogBuffer) Tail(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	size := len(b.lines)
	if n <= 0 || n > size {
		n = size
	}
	out := make([]string, n)
	if size == 0 {
		return out
	}
	// Until the ring is full next is 0 and the oldest line is the first.
	start := (b.next + size - n) % size
	for i := range n {
		out[i] = b.lines[(start+i)%size]
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

// Telling returns the stderr line that best says why a process failed: of
// the last 30 lines, the last that names an error ("Error: Cannot find
// module 'ajv'" in a Node stack, above its "at …" frames and the trailing
// "Node.js v20…"), else the last line that is not a stack frame.
func (b *LogBuffer) Telling() string {
	tail := b.Tail(30)
	fallback := ""
	for i := len(tail) - 1; i >= 0; i-- {
		line := strings.TrimSpace(tail[i])
		switch {
		case line == "":
		case strings.Contains(strings.ToLower(line), "error") && strings.Contains(line, ":"):
			return line
		case fallback == "" && !strings.HasPrefix(line, "at ") && !strings.HasPrefix(line, "Node.js v"):
			fallback = line
		}
	}
	return fallback
}

// Path returns the log file path ("" when memory only).
func (b *LogBuffer) Path() string { return b.path }

// Close stops the file writer after it has written what is queued.
func (b *LogBuffer) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		if b.fileC != nil {
			close(b.fileC)
		}
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// writeLoop writes queued lines to the file until the buffer is closed or
// no line has come for logIdle.
func (b *LogBuffer) writeLoop() {
	defer b.wg.Done()
	b.mu.Lock()
	lines := b.fileC
	b.mu.Unlock()
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
	quiet := time.Duration(0)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return
			}
			quiet = 0
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
			if quiet += time.Second; quiet < logIdle {
				continue
			}
			// Lines are queued under mu, so with mu held an empty
			// queue stays empty until the next Append, which will
			// see writing false and start a new writer.
			b.mu.Lock()
			if len(lines) == 0 && !b.closed {
				b.writing = false
				// The queue goes too (the next line makes another):
				// a thousand quiet servers would each hold one.
				b.fileC = nil
				b.mu.Unlock()
				return
			}
			b.mu.Unlock()
		}
	}
}

// copyLines reads r line by line into b until r fails. Over-long lines are
// cut so one runaway line cannot grow memory: kept to maxLineBytes plus
// redactSlack, so that Append can mask a secret that straddles
// maxLineBytes before it cuts there. It reads in small pieces: a quiet
// server's stderr costs stderrChunk bytes.
func copyLines(r io.Reader, b *LogBuffer) {
	buf := make([]byte, stderrChunk)
	var line []byte
	cut := false // the rest of the current line is dropped
	for {
		n, err := r.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			part := data
			if i >= 0 {
				part = data[:i]
			}
			if !cut {
				if room := maxLineBytes + redactSlack - len(line); len(part) > room {
					part, cut = part[:room], true
				}
				line = append(line, part...)
			}
			if i < 0 {
				break
			}
			b.Append(string(bytes.TrimSuffix(line, []byte{'\r'})))
			line, cut = line[:0], false
			if cap(line) > stderrChunk {
				line = nil // a long line's buffer goes back
			}
			data = data[i+1:]
		}
		if err != nil {
			if len(line) > 0 {
				b.Append(string(line))
			}
			return
		}
	}
}
