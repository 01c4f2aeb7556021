package upstream

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/secret"
)

// TestLogBuffer_CutLineKeepsNoPartOfSecret: stderr lines longer than
// maxLineBytes are cut; where a secret straddles the cut, no part of it may
// be kept, in memory or in the log file.
func TestLogBuffer_CutLineKeepsNoPartOfSecret(t *testing.T) {
	const value = "tok-5e4d3c2b1a0918273645f5e4d3c2b1a09"
	const window = 8 // bytes of the secret that count as a part of it
	partOf := func(text string) string {
		for i := 0; i+window <= len(value); i++ {
			if strings.Contains(text, value[i:i+window]) {
				return value[i : i+window]
			}
		}
		return ""
	}
	for _, kept := range []int{window, len(value) / 2, len(value) - 1} {
		path := filepath.Join(t.TempDir(), "server.log")
		b := NewLogBuffer(path, 0)
		b.SetRedactor(secret.NewRedactor(value))
		long := strings.Repeat("x", maxLineBytes-kept) + value + " and the rest of the line\n"
		copyLines(strings.NewReader(long+"short "+value+"\n"), b)
		b.Close() // writes the file out
		lines := b.Tail(0)
		if len(lines) != 2 || lines[1] != "short ***" {
			t.Fatalf("kept %d: lines %q", kept, lines)
		}
		if part := partOf(lines[0]); part != "" {
			t.Errorf("%d bytes of the secret before the cut: the kept line holds %q", kept, part)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if part := partOf(string(data)); part != "" {
			t.Errorf("%d bytes of the secret before the cut: the log file holds %q", kept, part)
		}
	}
}

// TestLogBuffer_WriterRunsOnlyWhileLinesCome: no writer goroutine until the
// first line; it ends after logIdle of quiet with every line on disk, and
// the next line starts a new one that appends to the same file.
func TestLogBuffer_WriterRunsOnlyWhileLinesCome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "server.log")
		b := NewLogBuffer(path, 0)
		writing := func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.writing
		}
		if writing() {
			t.Fatal("a writer runs before any line")
		}
		b.Append("one")
		b.Append("two")
		if !writing() {
			t.Fatal("no writer after a line")
		}
		time.Sleep(logIdle + 2*time.Second)
		synctest.Wait()
		if writing() {
			t.Fatal("the writer still runs after the server has been quiet")
		}
		if data, _ := os.ReadFile(path); strings.Count(string(data), "\n") != 2 || !strings.Contains(string(data), " two\n") {
			t.Fatalf("after the writer ended the file holds %q, want both lines", data)
		}
		b.Append("three")
		b.Close()
		data, _ := os.ReadFile(path)
		if strings.Count(string(data), "\n") != 3 || !strings.HasSuffix(string(data), " three\n") {
			t.Fatalf("file = %q, want three lines", data)
		}
		if got := b.Tail(0); len(got) != 3 || got[0] != "one" {
			t.Fatalf("tail = %q", got)
		}
	})
}

func TestLogBuffer_Telling(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"NodeStack", []string{"node:internal/modules/cjs/loader:1228", "  throw err;", "Error: Cannot find module 'ajv'", "Require stack:", "    at Module._load (node:x:1)", "", "Node.js v20.20.2"}, "Error: Cannot find module 'ajv'"},
		{"PythonTraceback", []string{"Traceback (most recent call last):", `  File "x.py", line 1`, "ModuleNotFoundError: No module named 'mcp'"}, "ModuleNotFoundError: No module named 'mcp'"},
		{"NoErrorWord", []string{"starting", "listening failed on port 3000"}, "listening failed on port 3000"},
		{"OnlyFrames", []string{"    at a (x:1)", "Node.js v20"}, ""},
		{"Empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewLogBuffer("", 0)
			defer b.Close()
			for _, l := range tc.lines {
				b.Append(l)
			}
			if got := b.Telling(); got != tc.want {
				t.Errorf("Telling = %q, want %q", got, tc.want)
			}
		})
	}
}

// copyLines reads in small pieces: lines that cross reads, CRLF endings,
// empty lines, an over-long line (cut) and a last line without a newline
// come out as ReadLine gave them.
func TestCopyLines_Pieces(t *testing.T) {
	long := strings.Repeat("x", maxLineBytes+redactSlack+3*stderrChunk)
	in := "first\r\n\nsecond " + strings.Repeat("y", stderrChunk) + "\n" + long + "\nafter\nlast"
	for _, step := range []int{1, 7, stderrChunk - 1, len(in)} {
		b := NewLogBuffer("", 0)
		copyLines(&chunkReader{b: []byte(in), sizes: []int{step}}, b)
		got := b.Tail(0)
		want := []string{"first", "", "second " + strings.Repeat("y", stderrChunk), long[:maxLineBytes], "after", "last"}
		// Append cuts to maxLineBytes after masking.
		if !slices.Equal(got, want) {
			t.Errorf("step %d: got %d lines %.80q, want %.80q", step, len(got), got, want)
		}
	}
}
