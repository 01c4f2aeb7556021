package store

import (
	"slices"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	bolt "go.etcd.io/bbolt"
)

func TestStore_Records(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	err := s.Update(func(tx mcpproxy.StoreTx) error {
		for _, k := range []string{"b", "d", "a", "c"} {
			if err := tx.Put("letters", []byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return tx.Append("letters", []byte("e"), []byte("ve"))
	})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(tx mcpproxy.StoreTx, from string, reverse bool, n int) []string {
		var f []byte
		if from != "" {
			f = []byte(from)
		}
		var got []string
		tx.Scan("letters", f, reverse, func(k, v []byte) bool {
			if string(v) != "v"+string(k) {
				t.Errorf("value of %s = %q", k, v)
			}
			got = append(got, string(k))
			return len(got) < n
		})
		return got
	}
	s.View(func(tx mcpproxy.StoreTx) error {
		for _, tt := range []struct {
			from    string
			reverse bool
			n       int
			want    []string
		}{
			{"", false, 9, []string{"a", "b", "c", "d", "e"}},
			{"c", false, 9, []string{"c", "d", "e"}},
			{"bb", false, 2, []string{"c", "d"}},
			{"", true, 9, []string{"e", "d", "c", "b", "a"}},
			{"c", true, 9, []string{"b", "a"}},
			{"cc", true, 1, []string{"c"}},
			{"z", true, 2, []string{"e", "d"}},
		} {
			if got := scan(tx, tt.from, tt.reverse, tt.n); !slices.Equal(got, tt.want) {
				t.Errorf("Scan(from %q, reverse %v, %d) = %v, want %v", tt.from, tt.reverse, tt.n, got, tt.want)
			}
		}
		if n := tx.Len("letters"); n != 5 {
			t.Errorf("Len = %d, want 5", n)
		}
		if tx.Get("letters", []byte("zz")) != nil || tx.Get("none", []byte("a")) != nil || tx.Len("none") != 0 {
			t.Error("a missing key or bucket is not empty")
		}
		scanned := false
		tx.Scan("none", nil, false, func(_, _ []byte) bool { scanned = true; return true })
		if scanned {
			t.Error("scanned a missing bucket")
		}
		if tx.Put("letters", []byte("x"), nil) == nil || tx.Delete("letters", []byte("a")) == nil {
			t.Error("a view wrote")
		}
		return nil
	})
	if err := s.Update(func(tx mcpproxy.StoreTx) error { return tx.Delete("letters", []byte("a")) }); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The records are bbolt buckets of their name, keys and values as
	// given: the layout the daemon's files already hold.
	db, err := bolt.Open(dir+"/"+FileName, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("letters"))
		if b == nil || b.Get([]byte("a")) != nil || string(b.Get([]byte("e"))) != "ve" || b.Stats().KeyN != 4 {
			t.Error("records are not stored as a bucket of their own")
		}
		return nil
	})
}
