package store

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// CacheTTL is how long a cached result stays readable.
const CacheTTL = 2 * time.Hour

// DefaultResultCacheMaxBytes is the result cache's size cap unless
// Options.ResultCacheMaxBytes says otherwise.
const DefaultResultCacheMaxBytes = 256 << 20

// ResultsDir is where cached results are kept, under the data directory:
// one file per result, named by its key.
const ResultsDir = "cache/results"

// CachedResult is a tool result kept for paging through read_cache.
type CachedResult struct {
	Key       string    `json:"key"`
	Tool      string    `json:"tool"` // server:tool
	Text      string    `json:"-"`
	Bytes     int64     `json:"bytes"` // bytes of Text
	Chars     int       `json:"chars"` // characters (runes) in Text
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// A result file is the magic line resultMagic, the length of the JSON
// metadata as a uvarint, the metadata, then the text as it is: a result of
// many megabytes is written from the caller's string, never escaped,
// parsed or copied. A file whose length does not match its metadata (cut
// short by a crash: files are renamed into place but not synced, since a
// cache may lose entries) reads as missing.
const resultMagic = "mcpproxy-result 1\n"

// maxResultMeta bounds the metadata read from a result file's header.
const maxResultMeta = 64 << 10

// ErrResultTooLarge is returned by PutResult for a result larger than the
// cache's whole size cap.
var ErrResultTooLarge = errors.New("result larger than the result cache (result_cache_max_bytes)")

// resultCache keeps truncated results as files under the data directory,
// within a size cap, the oldest going first. Files (not bbolt values) so
// that an expired or evicted result gives its space back to the file
// system at once.
//
// Concurrency: safe for concurrent use. mu guards only the in-memory
// index; it is never held across file I/O. A result being read while it is
// evicted is either read whole (an open file outlives its name) or not
// found.
type resultCache struct {
	dir string
	max int64 // <= 0: nothing is cached
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]*cacheEntry // guarded by mu; by key
	order   []*cacheEntry          // guarded by mu; oldest first (so also soonest to expire)
	total   int64                  // guarded by mu; bytes of the files in entries and of those being written
}

type cacheEntry struct {
	key     string
	size    int64 // the file's size
	expires time.Time
}

// openResultCache indexes the result files in dir, removing expired,
// unreadable and half-written ones, and then the oldest beyond max.
func openResultCache(dir string, max int64, ttl time.Duration, now time.Time) (*resultCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("result cache: %w", err)
	}
	c := &resultCache{dir: dir, max: max, ttl: ttl, entries: map[string]*cacheEntry{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("result cache: %w", err)
	}
	for _, de := range ents {
		name := de.Name()
		path := filepath.Join(dir, name)
		if !de.Type().IsRegular() || !validKey(name) {
			if strings.HasPrefix(name, ".tmp-") {
				os.Remove(path) // a write a crash interrupted
			}
			continue
		}
		meta, size, err := readResultHeader(path)
		if err != nil || !now.Before(meta.ExpiresAt) || meta.Key != name {
			os.Remove(path)
			continue
		}
		c.order = append(c.order, &cacheEntry{key: name, size: size, expires: meta.ExpiresAt})
	}
	slices.SortFunc(c.order, func(a, b *cacheEntry) int { return a.expires.Compare(b.expires) })
	for _, e := range c.order {
		c.entries[e.key] = e
		c.total += e.size
	}
	c.remove(c.evictLocked(now)) // not yet shared: no lock needed
	return c, nil
}

// validKey reports whether name could be a key PutResult made: hex only,
// so that a key from a client never names a path outside the directory.
func validKey(name string) bool {
	if len(name) != 24 {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil
}

// put writes text as a new result and returns its metadata.
func (c *resultCache) put(tool, text string, chars int) (*CachedResult, error) {
	now := time.Now().UTC()
	var b [12]byte
	rand.Read(b[:])
	r := &CachedResult{Key: hex.EncodeToString(b[:]), Tool: tool, Bytes: int64(len(text)), Chars: chars, CreatedAt: now, ExpiresAt: now.Add(c.ttl)}
	meta, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	head := append([]byte(resultMagic), binary.AppendUvarint(nil, uint64(len(meta)))...)
	head = append(head, meta...)
	size := int64(len(head)) + r.Bytes
	if c.max <= 0 {
		return nil, fmt.Errorf("%w: the cache is off", ErrResultTooLarge)
	}
	if size > c.max {
		return nil, fmt.Errorf("%w: %d bytes, the cap is %d", ErrResultTooLarge, size, c.max)
	}
	// Room is made before the file is written, so that the files on disk
	// stay within the cap: the new result's size is counted from here on.
	c.mu.Lock()
	c.total += size
	victims := c.evictLocked(now)
	c.mu.Unlock()
	c.remove(victims)
	f, err := os.CreateTemp(c.dir, ".tmp-")
	if err != nil {
		c.unreserve(size)
		return nil, fmt.Errorf("result cache: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(head)
	if err == nil {
		_, err = f.WriteString(text) // no copy of text
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(c.dir, r.Key))
	}
	if err != nil {
		os.Remove(tmp)
		c.unreserve(size)
		return nil, fmt.Errorf("result cache: write %s: %w", r.Key, err)
	}
	c.mu.Lock()
	e := &cacheEntry{key: r.Key, size: size, expires: r.ExpiresAt}
	c.entries[e.key] = e
	c.order = append(c.order, e)
	c.mu.Unlock()
	return r, nil
}

// unreserve gives back the room put counted for a result it did not write.
func (c *resultCache) unreserve(size int64) {
	c.mu.Lock()
	c.total -= size
	c.mu.Unlock()
}

// evictLocked takes out of the index the entries expired at now and then
// the oldest until total fits the cap, and returns their keys for remove.
// The caller holds mu (or is the only user of c).
func (c *resultCache) evictLocked(now time.Time) []string {
	var victims []string
	i := 0
	for ; i < len(c.order); i++ {
		e := c.order[i]
		if now.Before(e.expires) && c.total <= c.max {
			break
		}
		delete(c.entries, e.key)
		c.total -= e.size
		victims = append(victims, e.key)
	}
	if i > 0 {
		c.order = slices.Delete(c.order, 0, i)
	}
	return victims
}

// remove deletes the files of evicted entries; the caller holds no lock.
func (c *resultCache) remove(keys []string) {
	for _, k := range keys {
		os.Remove(filepath.Join(c.dir, k))
	}
}

// sweep removes expired results.
func (c *resultCache) sweep(now time.Time) {
	c.mu.Lock()
	victims := c.evictLocked(now)
	c.mu.Unlock()
	c.remove(victims)
}

// size returns the bytes and number of cached results.
func (c *resultCache) size() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total, len(c.entries)
}

// get reads a result whole.
func (c *resultCache) get(key string, now time.Time) (*CachedResult, error) {
	notFound := mcpproxy.Errorf(mcpproxy.ENOTFOUND, "no cached result %q (results are kept for %s, and the oldest are dropped when the cache is full)", key, c.ttl)
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	if e == nil || !now.Before(e.expires) {
		return nil, notFound
	}
	f, err := os.Open(filepath.Join(c.dir, key))
	if err != nil {
		return nil, notFound // evicted meanwhile
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 4096)
	r, _, err := readResultMeta(br)
	if err != nil || r.Key != key {
		return nil, notFound
	}
	var sb strings.Builder
	sb.Grow(int(r.Bytes))
	n, err := io.Copy(&sb, io.LimitReader(br, r.Bytes))
	if err != nil {
		return nil, fmt.Errorf("result cache: read %s: %w", key, err)
	}
	if n != r.Bytes {
		return nil, notFound // cut short
	}
	r.Text = sb.String()
	return r, nil
}

// open opens a result for reading its text in parts.
func (c *resultCache) open(key string, now time.Time) (*CachedResult, *ResultText, error) {
	notFound := mcpproxy.Errorf(mcpproxy.ENOTFOUND, "no cached result %q (results are kept for %s, and the oldest are dropped when the cache is full)", key, c.ttl)
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	if e == nil || !now.Before(e.expires) {
		return nil, nil, notFound
	}
	f, err := os.Open(filepath.Join(c.dir, key))
	if err != nil {
		return nil, nil, notFound // evicted meanwhile
	}
	r, head, err := readResultMeta(bufio.NewReaderSize(f, 512))
	if err != nil || r.Key != key {
		f.Close()
		return nil, nil, notFound
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != head+r.Bytes {
		f.Close()
		return nil, nil, notFound // cut short
	}
	return r, &ResultText{f: f, SectionReader: io.NewSectionReader(f, head, r.Bytes)}, nil
}

// ResultText is the text of a cached result, open for reading in parts
// (a page of a result of many megabytes need not read all of it). It stays
// readable even if the result is evicted meanwhile. Close it when done.
type ResultText struct {
	*io.SectionReader
	f *os.File
}

// Close closes the result's file.
func (t *ResultText) Close() error { return t.f.Close() }

// readResultHeader reads the metadata of a result file and checks the
// file's length against it.
func readResultHeader(path string) (*CachedResult, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	r, head, err := readResultMeta(bufio.NewReaderSize(f, 512))
	if err != nil {
		return nil, 0, err
	}
	if fi.Size() != head+r.Bytes {
		return nil, 0, errors.New("result file cut short")
	}
	return r, fi.Size(), nil
}

// readResultMeta reads the magic line and the metadata, leaving br at the
// text, and returns the header's length.
func readResultMeta(br *bufio.Reader) (*CachedResult, int64, error) {
	magic := make([]byte, len(resultMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != resultMagic {
		return nil, 0, errors.New("not a result file")
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxResultMeta {
		return nil, 0, errors.New("bad result header")
	}
	meta := make([]byte, n)
	if _, err := io.ReadFull(br, meta); err != nil {
		return nil, 0, err
	}
	r := new(CachedResult)
	if err := json.Unmarshal(meta, r); err != nil {
		return nil, 0, err
	}
	if r.Bytes < 0 || !validKey(r.Key) {
		return nil, 0, errors.New("bad result metadata")
	}
	return r, int64(len(resultMagic) + len(binary.AppendUvarint(nil, n)) + int(n)), nil
}

// PutResult stores text, which has chars characters, and returns its key.
// A result larger than the whole cache is refused with ErrResultTooLarge;
// otherwise the oldest results make room for it.
func (s *Store) PutResult(tool, text string, chars int) (string, error) {
	r, err := s.results.put(tool, text, chars)
	if err != nil {
		return "", err
	}
	return r.Key, nil
}

// GetResult returns a cached result, or not_found when it never existed, has
// expired, was dropped to make room, or cannot be read whole.
func (s *Store) GetResult(key string) (*CachedResult, error) {
	return s.results.get(key, time.Now())
}

// OpenResult returns a cached result's metadata (without Text) and its
// text open for reading in parts, or not_found as GetResult does. The
// caller closes the text.
func (s *Store) OpenResult(key string) (*CachedResult, *ResultText, error) {
	return s.results.open(key, time.Now())
}

// ResultCacheSize returns the bytes on disk and the number of cached
// results.
func (s *Store) ResultCacheSize() (bytes int64, results int) { return s.results.size() }

// sweepCache deletes expired results.
func (s *Store) sweepCache(now time.Time) { s.results.sweep(now) }
