package upstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
