package store

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	bolt "go.etcd.io/bbolt"
)

func open(tb testing.TB, dir string) *Store {
	tb.Helper()
	s, err := Open(dir, Options{FlushEvery: time.Hour, LockTimeout: 100 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestStore_SecondOpenSaysAlreadyRunning(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	_, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT || !strings.Contains(err.Error(), "another mcpproxy is already running") {
		t.Fatalf("second open: %v", err)
	}
}

func TestStore_StatsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.RecordCall("a:x", 10*time.Millisecond, false)
	s.RecordCall("a:x", 30*time.Millisecond, true)
	s.RecordCall("b:y", time.Millisecond, false)
	// Unflushed counts are visible.
	st, err := s.ToolStats(0)
	if err != nil || len(st) != 2 || st[0].ID != "a:x" || st[0].Calls != 2 || st[0].Errors != 1 || st[0].MeanMillis() != 20 {
		t.Fatalf("before flush: %+v %v", st, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	s.RecordCall("b:y", time.Millisecond, false)
	s.RecordCall("b:y", time.Millisecond, false)
	st, _ = s.ToolStats(1)
	if len(st) != 1 || st[0].ID != "b:y" || st[0].Calls != 3 {
		t.Fatalf("after reopen: %+v", st)
	}
}

func TestStore_Cache(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	// Kept as is: quotes, newlines, non-ASCII and bytes that are not UTF-8.
	text := "hello \"world\"\n\u00e9t\u00e9 \xff{\"k\":1}"
	key, err := s.PutResult("a:x", text, 99)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.GetResult(key)
	if err != nil || r.Text != text || r.Tool != "a:x" || r.Chars != 99 || r.ExpiresAt.Sub(r.CreatedAt) != CacheTTL {
		t.Fatalf("get: %+v %v", r, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ResultsDir, key)); err != nil {
		t.Fatalf("result file: %v", err)
	}
	// In parts: the text is the file's section after the header.
	m, body, err := s.OpenResult(key)
	if err != nil || m.Chars != 99 || m.Bytes != int64(len(text)) || body.Size() != int64(len(text)) {
		t.Fatalf("open: %+v %v", m, err)
	}
	part := make([]byte, 7)
	if _, err := body.ReadAt(part, 6); err != nil || string(part) != text[6:13] {
		t.Errorf("ReadAt(6) = %q, %v; want %q", part, err, text[6:13])
	}
	body.Close()
	for _, k := range []string{"nope", "../mcpproxy.db", strings.Repeat("0", 24)} {
		if _, err := s.GetResult(k); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
			t.Fatalf("key %q: %v", k, err)
		}
	}
	s.sweepCache(time.Now().Add(CacheTTL + time.Minute))
	_, err = s.GetResult(key)
	var e *mcpproxy.Error
	if !errors.As(err, &e) || e.Code != mcpproxy.ENOTFOUND {
		t.Fatalf("after sweep: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ResultsDir, key)); !os.IsNotExist(err) {
		t.Fatalf("an expired result's file is still there: %v", err)
	}
	if n, c := s.ResultCacheSize(); n != 0 || c != 0 {
		t.Fatalf("after sweep: %d bytes in %d results, want none", n, c)
	}
}

// dirBytes is the total size of the files in dir.
func dirBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			tb.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func TestStore_CacheCap(t *testing.T) {
	dir := t.TempDir()
	const capBytes = 10_000
	s, err := Open(dir, Options{FlushEvery: time.Hour, ResultCacheMaxBytes: capBytes})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 16 {
		text := strings.Repeat(string(rune('a'+i)), 3000)
		key, err := s.PutResult("a:x", text, len(text))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
		if n := dirBytes(t, filepath.Join(dir, ResultsDir)); n > capBytes {
			t.Fatalf("after %d results the cache holds %d bytes, over its cap of %d", i+1, n, capBytes)
		}
	}
	// Oldest out first: the last three fit, the ones before are gone.
	for i, key := range keys {
		_, err := s.GetResult(key)
		if kept := i >= len(keys)-3; kept != (err == nil) {
			t.Errorf("result %d: kept %v, error %v", i, kept, err)
		}
	}
	if n, c := s.ResultCacheSize(); c != 3 || n != dirBytes(t, filepath.Join(dir, ResultsDir)) {
		t.Errorf("ResultCacheSize = %d bytes, %d results; want 3 results and the directory's size", n, c)
	}
	if _, err := s.PutResult("a:x", strings.Repeat("z", capBytes), capBytes); !errors.Is(err, ErrResultTooLarge) {
		t.Errorf("a result larger than the cap: %v, want ErrResultTooLarge", err)
	}
	if _, err := s.GetResult(keys[len(keys)-1]); err != nil {
		t.Errorf("a refused result evicted others: %v", err)
	}
	s.Close()

	// Reopened with a smaller cap: the index is rebuilt from the files and
	// the oldest go; stray and half-written files are removed.
	res := filepath.Join(dir, ResultsDir)
	os.WriteFile(filepath.Join(res, ".tmp-123"), []byte("half"), 0o600)
	last := filepath.Join(res, keys[len(keys)-1])
	fi, _ := os.Stat(last)
	os.Truncate(filepath.Join(res, keys[len(keys)-2]), fi.Size()-10) // cut short by a crash
	s, err = Open(dir, Options{FlushEvery: time.Hour, ResultCacheMaxBytes: 4000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.GetResult(keys[len(keys)-1])
	if err != nil || r.Text != strings.Repeat("p", 3000) {
		t.Fatalf("newest after reopen: %v", err)
	}
	if ents, _ := os.ReadDir(res); len(ents) != 1 {
		t.Errorf("after reopen the cache dir holds %d files, want the newest result only", len(ents))
	}

	off, err := Open(t.TempDir(), Options{ResultCacheMaxBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if _, err := off.PutResult("a:x", "x", 1); !errors.Is(err, ErrResultTooLarge) {
		t.Errorf("cache off: %v", err)
	}
}

// A store from before results moved to files still opens; its result
// bucket is dropped.
func TestStore_OldCacheBucketDropped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketCache)
		if err != nil {
			return err
		}
		return b.Put([]byte("old"), binary.BigEndian.AppendUint64(nil, 1))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketCache) != nil {
			t.Error("the old result bucket is still there")
		}
		return nil
	})
}

// Concurrent puts and gets: every get of a kept result reads it whole, and
// the files stay within the cap.
func TestStore_CacheConcurrent(t *testing.T) {
	dir := t.TempDir()
	const capBytes = 8000
	s, err := Open(dir, Options{FlushEvery: time.Hour, ResultCacheMaxBytes: capBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				text := strings.Repeat(string(rune('a'+w)), 1000+i)
				key, err := s.PutResult("a:x", text, len(text))
				if err != nil {
					t.Error(err)
					return
				}
				if r, err := s.GetResult(key); err == nil && r.Text != text {
					t.Errorf("got %d bytes of %q, want %d", len(r.Text), r.Text[:1], len(text))
				}
			}
		})
	}
	wg.Wait()
	if n := dirBytes(t, filepath.Join(dir, ResultsDir)); n > capBytes {
		t.Errorf("the cache holds %d bytes, over its cap of %d", n, capBytes)
	}
	if n, _ := s.ResultCacheSize(); n != dirBytes(t, filepath.Join(dir, ResultsDir)) {
		t.Errorf("ResultCacheSize %d bytes, the directory %d", n, dirBytes(t, filepath.Join(dir, ResultsDir)))
	}
}
