package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Tests here wait for callbacks with a deadline and never assert that
// something happened within a time. Where a test needs "no other callback",
// it writes a sentinel afterwards and checks that the sentinel's callback is
// the next one: callbacks arrive in order.

type change struct {
	data string
	err  error
}

func TestWatcher(t *testing.T) {
	const debounce = 100 * time.Millisecond

	t.Run("Write", func(t *testing.T) {
		t.Parallel()
		path := writeTemp(t, t.TempDir(), "c.json", "v0")
		w, changes := startWatcher(t, path, debounce)
		w.Seen([]byte("v0"))
		writeFile(t, path, "v1")
		expectData(t, changes, "v1")
		writeFile(t, path, "v2")
		expectData(t, changes, "v2")
	})
	t.Run("RenameReplace", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := writeTemp(t, dir, "c.json", "old")
		_, changes := startWatcher(t, path, debounce)
		tmp := writeTemp(t, dir, ".c.json.swp", "new")
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		expectData(t, changes, "new")
		// The watch survives the replacement.
		writeFile(t, path, "newer")
		expectData(t, changes, "newer")
	})
	t.Run("Burst", func(t *testing.T) {
		t.Parallel()
		// Generous, so that ten writes in a row fall into one window even
		// on a loaded machine.
		const debounce = 500 * time.Millisecond
		path := writeTemp(t, t.TempDir(), "c.json", "start")
		_, changes := startWatcher(t, path, debounce)
		for i := 1; i <= 10; i++ {
			writeFile(t, path, fmt.Sprintf("write %d", i))
		}
		expectData(t, changes, "write 10")
		writeFile(t, path, "sentinel")
		expectData(t, changes, "sentinel")
	})
	t.Run("SeenSuppresses", func(t *testing.T) {
		t.Parallel()
		path := writeTemp(t, t.TempDir(), "c.json", "start")
		w, changes := startWatcher(t, path, debounce)
		w.Seen([]byte("ours"))
		writeFile(t, path, "ours")
		// Let the debounce for "ours" pass. Should it not have, the next
		// write merges with it and the test still holds.
		time.Sleep(3 * debounce)
		writeFile(t, path, "theirs")
		expectData(t, changes, "theirs")
	})
	t.Run("UnchangedContentSuppressed", func(t *testing.T) {
		t.Parallel()
		path := writeTemp(t, t.TempDir(), "c.json", "start")
		_, changes := startWatcher(t, path, debounce)
		writeFile(t, path, "same")
		expectData(t, changes, "same")
		writeFile(t, path, "same") // e.g. an editor saving without changes
		time.Sleep(3 * debounce)
		writeFile(t, path, "sentinel")
		expectData(t, changes, "sentinel")
	})
	t.Run("DeleteAndRecreate", func(t *testing.T) {
		t.Parallel()
		// Generous: the recreate must land within two windows of the delete.
		const debounce = 500 * time.Millisecond
		path := writeTemp(t, t.TempDir(), "c.json", "start")
		_, changes := startWatcher(t, path, debounce)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, "recreated")
		expectData(t, changes, "recreated")
	})
	t.Run("DeleteReportsError", func(t *testing.T) {
		t.Parallel()
		path := writeTemp(t, t.TempDir(), "c.json", "start")
		_, changes := startWatcher(t, path, debounce)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		c := next(t, changes)
		if !errors.Is(c.err, fs.ErrNotExist) || c.data != "" {
			t.Fatalf("got %+v, want a not-exist error", c)
		}
		writeFile(t, path, "back")
		expectData(t, changes, "back")
	})
	t.Run("DeleteThenRestoreSameContent", func(t *testing.T) {
		t.Parallel()
		path := writeTemp(t, t.TempDir(), "c.json", "good")
		w, changes := startWatcher(t, path, debounce)
		w.Seen([]byte("good"))
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if c := next(t, changes); !errors.Is(c.err, fs.ErrNotExist) {
			t.Fatalf("got %+v, want a not-exist error", c)
		}
		// The same bytes as before the delete must be delivered again: they
		// are what clears the error.
		writeFile(t, path, "good")
		expectData(t, changes, "good")
	})
	t.Run("OtherFilesIgnored", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := writeTemp(t, dir, "c.json", "start")
		_, changes := startWatcher(t, path, debounce)
		writeTemp(t, dir, "other.json", "x")
		writeTemp(t, dir, "c.json.bak", "x")
		time.Sleep(3 * debounce)
		writeFile(t, path, "sentinel")
		expectData(t, changes, "sentinel")
	})
	t.Run("Symlink", func(t *testing.T) {
		t.Parallel()
		target := writeTemp(t, t.TempDir(), "real.json", "start")
		link := filepath.Join(t.TempDir(), "c.json")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		_, changes := startWatcher(t, link, debounce)
		if err := WriteFileAtomic(link, []byte("via link"), 0o600); err != nil {
			t.Fatal(err)
		}
		expectData(t, changes, "via link")
	})
	t.Run("MissingDir", func(t *testing.T) {
		t.Parallel()
		_, err := NewWatcher(filepath.Join(t.TempDir(), "no", "c.json"), debounce, func([]byte, error) {})
		if err == nil {
			t.Error("no error")
		}
	})
}

func TestWatcher_Close(t *testing.T) {
	const debounce = 50 * time.Millisecond
	path := writeTemp(t, t.TempDir(), "c.json", "start")
	var closed, late atomic.Bool
	w, err := NewWatcher(path, debounce, func([]byte, error) {
		if closed.Load() {
			late.Store(true)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "pending") // a callback may be due at any moment
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "after close")
	// Give a wrongly surviving goroutine the chance to misbehave; this
	// cannot fail a correct watcher, only miss a broken one.
	time.Sleep(4 * debounce)
	if late.Load() {
		t.Error("callback ran after Close returned")
	}
}

func startWatcher(tb testing.TB, path string, debounce time.Duration) (*Watcher, <-chan change) {
	tb.Helper()
	ch := make(chan change, 100)
	w, err := NewWatcher(path, debounce, func(data []byte, err error) {
		ch <- change{string(data), err}
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	return w, ch
}

func next(tb testing.TB, ch <-chan change) change {
	tb.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		tb.Fatal("no callback within 10s")
		return change{}
	}
}

func expectData(tb testing.TB, ch <-chan change, want string) {
	tb.Helper()
	if c := next(tb, ch); c.err != nil || c.data != want {
		tb.Fatalf("callback (%q, %v), want (%q, nil)", c.data, c.err, want)
	}
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}
