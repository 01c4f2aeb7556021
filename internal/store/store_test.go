package store

import (
	"encoding/binary"
	"errors"
	"strings"
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
	s := open(t, t.TempDir())
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
	// A value in the JSON-only format of earlier versions reads as missing.
	old := binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(time.Hour).UnixNano()))
	old = append(old, `{"key":"old","text":"x"}`...)
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketCache).Put([]byte("old"), old) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetResult("old"); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
		t.Fatalf("old format: %v", err)
	}
	if _, err := s.GetResult("nope"); mcpproxy.ErrorCode(err) != mcpproxy.ENOTFOUND {
		t.Fatalf("missing key: %v", err)
	}
	s.sweepCache(time.Now().Add(CacheTTL + time.Minute))
	_, err = s.GetResult(key)
	var e *mcpproxy.Error
	if !errors.As(err, &e) || e.Code != mcpproxy.ENOTFOUND {
		t.Fatalf("after sweep: %v", err)
	}
}
