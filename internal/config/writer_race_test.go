package config

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// handEditor edits the config file by hand in a tight loop, as a person
// (or a script) does who opens the file, adds a server and saves: save n
// reads the file and adds server hand-n. A save that something overwrites
// is lost for good: the next one starts from what is on disk.
type handEditor struct {
	path    string
	inPlace bool         // write the file in place (truncate, write) instead of temp + rename
	saved   atomic.Int64 // the last save that has completed
}

func (h *handEditor) content(tb testing.TB, n int) []byte {
	var doc map[string]any
	if n == 0 {
		doc = map[string]any{"api_key": "k", "mcpServers": []any{}}
	} else {
		data, err := os.ReadFile(h.path)
		if err != nil {
			tb.Error(err)
			return nil
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			tb.Errorf("hand save %d: the file does not parse: %v", n, err)
			return nil
		}
	}
	servers, _ := doc["mcpServers"].([]any)
	doc["mcpServers"] = append(servers, map[string]any{"name": fmt.Sprintf("hand-%d", n), "url": "http://127.0.0.1:1/mcp", "enabled": false})
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}

func (h *handEditor) save(tb testing.TB, n int) {
	data := h.content(tb, n)
	if data == nil {
		return
	}
	if h.inPlace {
		f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			tb.Error(err)
			return
		}
		// Two writes, so that a reader can see half of the save.
		half := len(data) / 2
		f.Write(data[:half])
		f.Write(data[half:])
		f.Close()
	} else {
		tmp := h.path + ".edit~"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			tb.Error(err)
			return
		}
		if err := os.Rename(tmp, h.path); err != nil {
			tb.Error(err)
			return
		}
	}
	h.saved.Store(int64(n))
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// missingHandEdits returns the hand edits 1..n that cfg lacks.
func missingHandEdits(cfg *Config, n int64) []string {
	var missing []string
	for i := int64(1); i <= n; i++ {
		if _, ok := cfg.Server(fmt.Sprintf("hand-%d", i)); !ok {
			missing = append(missing, fmt.Sprintf("hand-%d", i))
		}
	}
	return missing
}

// A person saving the file by hand while edits run never loses a save:
// every hand edit saved before an edit starts is in what the edit wrote,
// and in the file at the end.
func TestWriter_HandEditsDuringEdits(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		name := "Rename"
		if inPlace {
			name = "InPlace"
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.json")
			h := &handEditor{path: path, inPlace: inPlace}
			if err := os.WriteFile(path, h.content(t, 0), 0o600); err != nil {
				t.Fatal(err)
			}
			w := newTestWriter(t, path)

			const saves = 200
			handDone := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				defer close(handDone)
				for n := 1; n <= saves; n++ {
					h.save(t, n)
					// A save every few milliseconds: far more often than
					// a person saves, yet leaving an edit (read, apply,
					// validate, write and sync a temporary file) room to
					// finish between two of them now and then.
					time.Sleep(3 * time.Millisecond)
				}
			})
			var edits, ok, refused int
			start := time.Now()
			for i := 0; ; i++ {
				if isClosed(handDone) {
					break
				}
				edits++
				before := h.saved.Load()
				cfg, err := w.Edit(context.Background(), func(d *Document) error {
					return d.SetTop("tools_limit", 1+i%100)
				})
				if err != nil {
					// A file that keeps changing, or stays half-written
					// longer than the writer waits for it to settle, may
					// refuse an edit, with a conflict that says so.
					if mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT || !strings.Contains(err.Error(), "your change was not saved") {
						t.Errorf("edit %d: %v (code %s)", i, err, mcpproxy.ErrorCode(err))
					}
					refused++
					continue
				}
				ok++
				if m := missingHandEdits(cfg, before); len(m) > 0 {
					t.Errorf("edit %d wrote a file without hand edits saved before it began: %v", i, m)
				}
			}
			took := time.Since(start)
			wg.Wait()
			// Once the person stops saving, an edit goes through and keeps
			// every save. (How many edits succeeded during the saves
			// depends on the machine's speed, so it is only logged.)
			cfg, err := w.Edit(context.Background(), func(d *Document) error {
				return d.SetTop("tools_limit", 7)
			})
			if err != nil {
				t.Fatalf("edit after the hand saves: %v", err)
			}
			if m := missingHandEdits(cfg, saves); len(m) > 0 {
				t.Errorf("the edit after the hand saves dropped %v", m)
			}
			final := mustParse(t, string(readFile(t, path)))
			lost := missingHandEdits(final, saves)
			if len(lost) > 0 {
				t.Errorf("%d hand edits lost: %v", len(lost), lost)
			}
			if final.ToolsLimit != 7 {
				t.Errorf("tools_limit = %d after the last edit, want 7", final.ToolsLimit)
			}
			t.Logf("%s: %d edits in %v beside %d hand saves: %d written, %d refused, %d races detected and merged, %d hand edits lost",
				name, edits, took.Round(time.Millisecond), h.saved.Load(), ok, refused, w.Merged(), len(lost))
		})
	}
}

// A save written in place by a program that opened the file just before an
// edit swapped its own in, and wrote just after, lands in the file the edit
// replaced: the edit sees it there and merges it instead of dropping it.
func TestWriter_InPlaceSaveIntoTheReplacedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	h := &handEditor{path: path, inPlace: true}
	if err := os.WriteFile(path, h.content(t, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	saved := h.content(t, 1)                        // the person's save, made from the file as it is
	f, err := os.OpenFile(path, os.O_WRONLY, 0o600) // opened before the swap
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	once := false
	afterSwap = func() {
		if once {
			return
		}
		once = true
		// Written after the edit's first look at the file it replaced.
		if err := f.Truncate(0); err != nil {
			t.Error(err)
		}
		if _, err := f.WriteAt(saved, 0); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { afterSwap = nil })
	w := newTestWriter(t, path)
	cfg, err := w.Edit(context.Background(), func(d *Document) error { return d.SetTop("tools_limit", 9) })
	if err != nil {
		t.Fatal(err)
	}
	if !once {
		t.Fatal("the edit never swapped the file")
	}
	final := mustParse(t, string(readFile(t, path)))
	if m := missingHandEdits(final, 1); len(m) > 0 || final.ToolsLimit != 9 {
		t.Errorf("file: tools_limit %d, missing %v; want 9 and the save kept", final.ToolsLimit, m)
	}
	if m := missingHandEdits(cfg, 1); len(m) > 0 {
		t.Errorf("the edit's config lacks the save: %v", m)
	}
}
