package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	bolt "go.etcd.io/bbolt"
)

// CacheTTL is how long a cached result stays readable.
const CacheTTL = 2 * time.Hour

// CachedResult is a tool result kept for paging through read_cache.
type CachedResult struct {
	Key       string    `json:"key"`
	Tool      string    `json:"tool"` // server:tool
	Text      string    `json:"-"`
	Chars     int       `json:"chars"` // characters (runes) in Text
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// A cached value is the expiry (8 bytes, big endian, so the sweep need not
// decode large results), the format byte cacheFormat, the length of the
// JSON metadata as a uvarint, the metadata, then the text as it is: a
// result of many megabytes is copied, never escaped or parsed.
const cacheFormat = 1

// PutResult stores text, which has chars characters, and returns its key.
func (s *Store) PutResult(tool, text string, chars int) (string, error) {
	var b [12]byte
	rand.Read(b[:])
	now := time.Now().UTC()
	r := CachedResult{Key: hex.EncodeToString(b[:]), Tool: tool, Chars: chars, CreatedAt: now, ExpiresAt: now.Add(CacheTTL)}
	meta, err := json.Marshal(&r)
	if err != nil {
		return "", err
	}
	v := make([]byte, 0, 8+1+binary.MaxVarintLen64+len(meta)+len(text))
	v = binary.BigEndian.AppendUint64(v, uint64(r.ExpiresAt.UnixNano()))
	v = append(v, cacheFormat)
	v = binary.AppendUvarint(v, uint64(len(meta)))
	v = append(v, meta...)
	v = append(v, text...)
	err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketCache).Put([]byte(r.Key), v) })
	if err != nil {
		return "", err
	}
	return r.Key, nil
}

// GetResult returns a cached result, or not_found when it never existed, has
// expired or was written in a format this version does not read.
func (s *Store) GetResult(key string) (*CachedResult, error) {
	var r *CachedResult
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCache).Get([]byte(key))
		if len(v) < 9 || v[8] != cacheFormat {
			return nil
		}
		v = v[9:]
		n, w := binary.Uvarint(v)
		if w <= 0 || n > uint64(len(v)-w) {
			return nil
		}
		r = new(CachedResult)
		if err := json.Unmarshal(v[w:w+int(n)], r); err != nil {
			return err
		}
		r.Text = string(v[w+int(n):]) // a copy: v lives only as long as tx
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r == nil || time.Now().After(r.ExpiresAt) {
		return nil, mcpproxy.Errorf(mcpproxy.ENOTFOUND, "no cached result %q (results are kept for %s)", key, CacheTTL)
	}
	return r, nil
}

// sweepCache deletes expired results.
func (s *Store) sweepCache(now time.Time) {
	var expired [][]byte
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCache).ForEach(func(k, v []byte) error {
			if len(v) < 8 || now.UnixNano() > int64(binary.BigEndian.Uint64(v)) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if len(expired) == 0 {
		return
	}
	s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCache)
		for _, k := range expired {
			b.Delete(k)
		}
		return nil
	})
}
