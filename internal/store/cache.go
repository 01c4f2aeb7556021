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
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PutResult stores text and returns its key.
func (s *Store) PutResult(tool, text string) (string, error) {
	var b [12]byte
	rand.Read(b[:])
	now := time.Now().UTC()
	r := CachedResult{Key: hex.EncodeToString(b[:]), Tool: tool, Text: text, CreatedAt: now, ExpiresAt: now.Add(CacheTTL)}
	body, err := json.Marshal(&r)
	if err != nil {
		return "", err
	}
	// The expiry leads the value so the sweep need not decode large results.
	v := binary.BigEndian.AppendUint64(nil, uint64(r.ExpiresAt.UnixNano()))
	v = append(v, body...)
	err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketCache).Put([]byte(r.Key), v) })
	if err != nil {
		return "", err
	}
	return r.Key, nil
}

// GetResult returns a cached result, or not_found when it never existed or
// has expired.
func (s *Store) GetResult(key string) (*CachedResult, error) {
	var r *CachedResult
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCache).Get([]byte(key))
		if len(v) < 8 {
			return nil
		}
		r = new(CachedResult)
		return json.Unmarshal(v[8:], r)
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
