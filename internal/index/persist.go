package index

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
)

// An index on disk holds, besides the documents, one internal record per
// server: the hash of the tools its documents were made from, written in
// the batch that writes them. Its tools are not stored: a server becomes
// live only when a writer sets it with its current tools, and those are the
// ones hits return.

// formatVersion names how documents are derived from tools (document.go)
// and how records are kept. Change it when either changes: an index of
// another version is rebuilt, as is one whose mapping differs.
const formatVersion = 1

var versionKey = []byte("mcpproxy.version")

func recordKey(server string) []byte { return []byte("mcpproxy.server/" + server) }

// version identifies the format and the mapping of an index.
func version() ([]byte, error) {
	m, err := json.Marshal(newMapping())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(m)
	return fmt.Appendf(nil, "%d %s", formatVersion, hex.EncodeToString(sum[:8])), nil
}

// Open opens the index kept in dir, creating it if need be. The servers it
// holds are dormant: searches find none of their tools until a writer sets
// each again, which costs no indexing when the tools are those indexed. An
// index that cannot be read, or was written by another version, is deleted
// and replaced by an empty one, with a warning in log. Close releases it;
// only one Index may have dir open at a time.
func Open(dir string, log *slog.Logger) (*Index, error) {
	if log == nil {
		log = slog.Default()
	}
	ver, err := version()
	if err != nil {
		return nil, fmt.Errorf("tool index: %w", err)
	}
	x, err := openDisk(dir, ver, log)
	if err != nil {
		var unreadable *unreadableError
		if !errors.As(err, &unreadable) {
			return nil, err
		}
		log.Warn("tool index: rebuilding it empty; servers are re-indexed as they connect", "path", dir, "reason", unreadable.err)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("tool index: remove %s: %w", dir, err)
		}
		if x, err = openDisk(dir, ver, log); err != nil {
			return nil, err
		}
	}
	x.start()
	return x, nil
}

// unreadableError is an index directory that is there but cannot be used.
type unreadableError struct{ err error }

func (e *unreadableError) Error() string { return e.err.Error() }

// scorchConfig: bleve's own persister and merger keep the segments few on
// disk; a batch returns once searchable, before it is on disk (see Close).
func scorchConfig() map[string]any { return map[string]any{"unsafe_batch": true} }

// openDisk opens or creates the index in dir, with its servers loaded.
func openDisk(dir string, ver []byte, log *slog.Logger) (*Index, error) {
	var bi bleve.Index
	_, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		bi, err = bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, scorchConfig())
		if err != nil {
			return nil, fmt.Errorf("tool index: create %s: %w", dir, err)
		}
		if err := bi.SetInternal(versionKey, ver); err != nil {
			bi.Close()
			return nil, fmt.Errorf("tool index: create %s: %w", dir, err)
		}
	case err != nil:
		return nil, fmt.Errorf("tool index: %w", err)
	default:
		bi, err = bleve.OpenUsing(dir, scorchConfig())
		if err != nil {
			return nil, &unreadableError{err}
		}
		got, err := bi.GetInternal(versionKey)
		if err != nil || !bytes.Equal(got, ver) {
			bi.Close()
			return nil, &unreadableError{fmt.Errorf("version %q, want %q (err %v)", got, ver, err)}
		}
	}
	x, err := build(bi, dir, log, defaultMergePolicy, false)
	if err == nil {
		x.version = ver
		err = x.load()
	}
	if err != nil {
		bi.Close()
		return nil, &unreadableError{err}
	}
	return x, nil
}

// load makes every server the index holds known, and dormant. Documents
// without a record (there should be none) are deleted.
func (x *Index) load() error {
	names, err := x.docNames()
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	cur := x.snap.Load()
	b := x.bleve.NewBatch()
	loaded := map[string]*serverTools{}
	for server, tools := range names {
		slices.Sort(tools)
		st := &serverTools{server: server, names: tools}
		rec, err := x.bleve.GetInternal(recordKey(server))
		if err != nil {
			return err
		}
		if len(rec) != len(st.hash) {
			deleteServer(b, server, st)
			continue
		}
		copy(st.hash[:], rec)
		loaded[server] = st
	}
	if b.Size() > 0 {
		x.log.Warn("tool index: deleting documents without a record", "path", x.dir, "documents", b.Size())
		if err := x.bleve.Batch(b); err != nil {
			return err
		}
	}
	// Known and dormant: no change to the live tools or their statistics.
	next := *cur
	for server, st := range loaded {
		x.known[server] = st
		next.hidden += len(st.names)
	}
	x.snap.Store(&next)
	return nil
}

// docNames returns the tool names of the documents in the index by server.
func (x *Index) docNames() (map[string][]string, error) {
	adv, err := x.bleve.Advanced()
	if err != nil {
		return nil, err
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ids, err := r.DocIDReaderAll()
	if err != nil {
		return nil, err
	}
	defer ids.Close()
	names := map[string][]string{}
	for {
		id, err := ids.Next()
		if err != nil {
			return nil, err
		}
		if id == nil {
			return names, nil
		}
		ext, err := r.ExternalID(id)
		if err != nil {
			return nil, err
		}
		server, name, ok := strings.Cut(ext, ":")
		if !ok {
			return nil, fmt.Errorf("document id %q: want server:tool", ext)
		}
		names[server] = append(names[server], name)
	}
}

// flushTimeout bounds how long Close waits for the index to reach the disk.
const flushTimeout = 10 * time.Second

// flush waits until every applied batch is on disk. A batch returns before
// (scorchConfig), and bleve's persister, stopped by Close, does not finish
// its work first.
func (x *Index) flush() error {
	persisted := make(chan error, 1)
	b := x.bleve.NewBatch()
	// Some change, so that there is a snapshot to persist after the last.
	b.SetInternal(versionKey, x.version)
	b.SetPersistedCallback(func(err error) {
		select {
		case persisted <- err:
		default:
		}
	})
	if err := x.bleve.Batch(b); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	t := time.NewTimer(flushTimeout)
	defer t.Stop()
	select {
	case err := <-persisted:
		if err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("flush: not on disk after %v", flushTimeout)
	}
}
