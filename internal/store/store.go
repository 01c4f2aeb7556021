// Package store keeps mcpproxy's learned state under the data directory:
// tool-call statistics, and the records of the packages that see it as an
// mcpproxy.Store (approvals, the activity log, OAuth grants, agent tokens),
// in one bbolt file, and cached large tool results as files of their own
// under cache/results, within a size cap, so that an expired or evicted
// result gives its space back at once (a bbolt file never shrinks). The
// schema version is recorded in the meta bucket. It is the only package
// that knows bbolt.
//
// Concurrency contract: Store is safe for concurrent use. Statistics are
// counted in memory (a mutex around a map, never held across I/O) and
// flushed by the store's own goroutine, which also removes expired results;
// Close stops it, flushes, and closes the file. The result cache's index is
// behind its own mutex, also never held across I/O.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code reads and writes.
const SchemaVersion = 1

var (
	bucketMeta  = []byte("meta")
	bucketStats = []byte("tool_stats")
	// bucketCache held cached results before they moved to files; Open
	// deletes it, so that its pages are reused.
	bucketCache = []byte("result_cache")
	keySchema   = []byte("schema_version")
)

// FileName is the store's file in the data directory.
const FileName = "mcpproxy.db"

// Store is the open database.
type Store struct {
	db      *bolt.DB
	path    string
	every   time.Duration
	results *resultCache
	stop    chan struct{}
	done    chan struct{}

	mu      sync.Mutex
	pending map[string]*ToolStat // guarded by mu: counts not yet flushed
}

// Options tunes Open.
type Options struct {
	// FlushEvery is how often counted statistics are written; default 5s.
	FlushEvery time.Duration
	// LockTimeout is how long to wait for another process's lock; default 1s.
	LockTimeout time.Duration
	// ResultCacheMaxBytes caps the files of cached results; the oldest
	// are removed to make room. 0 means DefaultResultCacheMaxBytes; a
	// negative value caches nothing.
	ResultCacheMaxBytes int64
}

// Open opens (creating if needed) the store in dataDir. A second mcpproxy on
// the same data directory gets a clear error instead of waiting.
func Open(dataDir string, opts Options) (*Store, error) {
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = 5 * time.Second
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.ResultCacheMaxBytes == 0 {
		opts.ResultCacheMaxBytes = DefaultResultCacheMaxBytes
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(dataDir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, mcpproxy.Errorf(mcpproxy.ECONFLICT,
				"store %s is locked: another mcpproxy is already running with data dir %s", path, dataDir)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketStats} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketCache) != nil {
			if err := tx.DeleteBucket(bucketCache); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("schema version record is corrupt (%d bytes)", len(v))
			}
			if got := binary.BigEndian.Uint64(v); got > SchemaVersion {
				return fmt.Errorf("schema version %d is newer than this mcpproxy understands (%d); upgrade mcpproxy", got, SchemaVersion)
			}
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], SchemaVersion)
		return meta.Put(keySchema, v[:])
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	results, err := openResultCache(filepath.Join(dataDir, ResultsDir), opts.ResultCacheMaxBytes, CacheTTL, time.Now())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{db: db, path: path, every: opts.FlushEvery, results: results, stop: make(chan struct{}), done: make(chan struct{}), pending: map[string]*ToolStat{}}
	go s.loop()
	return s, nil
}

// Path returns the database file.
func (s *Store) Path() string { return s.path }

// Close flushes statistics and closes the file.
func (s *Store) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	<-s.done
	s.flush()
	return s.db.Close()
}

func (s *Store) loop() {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.flush()
			s.sweepCache(time.Now())
		}
	}
}

// ToolStat is the call statistics of one tool.
type ToolStat struct {
	ID          string    `json:"id"` // server:tool
	Calls       int64     `json:"calls"`
	Errors      int64     `json:"errors"`
	TotalMillis float64   `json:"total_ms"`
	LastCall    time.Time `json:"last_call"`
}

// MeanMillis is the mean call duration.
func (t *ToolStat) MeanMillis() float64 {
	if t.Calls == 0 {
		return 0
	}
	return t.TotalMillis / float64(t.Calls)
}

func (t *ToolStat) add(o *ToolStat) {
	t.Calls += o.Calls
	t.Errors += o.Errors
	t.TotalMillis += o.TotalMillis
	if o.LastCall.After(t.LastCall) {
		t.LastCall = o.LastCall
	}
}

// RecordCall counts one call. It only touches memory.
func (s *Store) RecordCall(id string, d time.Duration, failed bool) {
	s.mu.Lock()
	st := s.pending[id]
	if st == nil {
		st = &ToolStat{ID: id}
		s.pending[id] = st
	}
	st.Calls++
	if failed {
		st.Errors++
	}
	st.TotalMillis += float64(d) / float64(time.Millisecond)
	st.LastCall = time.Now().UTC()
	s.mu.Unlock()
}

func (s *Store) takePending() map[string]*ToolStat {
	s.mu.Lock()
	p := s.pending
	s.pending = map[string]*ToolStat{}
	s.mu.Unlock()
	return p
}

func (s *Store) flush() {
	p := s.takePending()
	if len(p) == 0 {
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStats)
		for id, d := range p {
			var cur ToolStat
			if v := b.Get([]byte(id)); v != nil {
				json.Unmarshal(v, &cur)
			}
			cur.ID = id
			cur.add(d)
			v, _ := json.Marshal(&cur)
			if err := b.Put([]byte(id), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Put the counts back so they are not lost; the next flush retries.
		s.mu.Lock()
		for id, d := range p {
			if cur := s.pending[id]; cur != nil {
				cur.add(d)
			} else {
				s.pending[id] = d
			}
		}
		s.mu.Unlock()
	}
}

// ToolStats returns statistics of every tool, most called first, including
// counts not yet flushed; top > 0 limits the result.
func (s *Store) ToolStats(top int) ([]ToolStat, error) {
	all := map[string]*ToolStat{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStats).ForEach(func(k, v []byte) error {
			var st ToolStat
			if json.Unmarshal(v, &st) == nil {
				st.ID = string(k)
				all[st.ID] = &st
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for id, p := range s.pending {
		if cur := all[id]; cur != nil {
			cur.add(p)
		} else {
			cp := *p
			all[id] = &cp
		}
	}
	s.mu.Unlock()
	out := make([]ToolStat, 0, len(all))
	for _, st := range all {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b ToolStat) int {
		if a.Calls != b.Calls {
			if a.Calls > b.Calls {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out, nil
}
