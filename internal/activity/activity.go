// Package activity keeps the activity log: one record per tool call or
// management action, in the "activity" bucket of the store,
// keyed by a time-ordered ID so that the newest records come first with a
// reverse scan.
//
// Concurrency contract: a Log is safe for concurrent use. Record never
// waits on I/O: it copies the record into a bounded in-memory queue and
// returns. One goroutine, started by Open and stopped by Close, owns all
// writes to the bucket: it redacts and encodes queued records, commits them
// in batches (one store transaction per batch), publishes each committed
// record, and prunes old records. Readers (List, Get) use their own read
// transactions and never wait for the writer. A record becomes visible to
// readers once its batch commits, at most Options.FlushEvery after Record
// returned; that is also what a kill -9 can lose.
package activity

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Record kinds.
const (
	KindToolCall   = "tool_call"
	KindManagement = "management"
)

// Record statuses.
const (
	StatusOK        = "ok"
	StatusToolError = "tool_error" // the tool ran and reported an error
	StatusError     = "error"      // the call failed (transport, upstream, proxy)
	StatusBlocked   = "blocked"    // refused by policy (quarantine, disabled)
	StatusTimeout   = "timeout"
	StatusCancelled = "cancelled"
)

// Record is one tool call or management action, as stored and as the
// REST API shows it. Record (the method) assigns ID and Time when empty;
// it takes ownership of Arguments, which are stored redacted and
// truncated (see Options.MaxArgBytes).
type Record = apiv1.ActivityRecord

// Sensitive names the kinds of sensitive data found in a call.
type Sensitive = apiv1.ActivitySensitive

// Intent is the intent an agent declared with a call.
type Intent = apiv1.ActivityIntent

// Client identifies who made the request.
type Client = apiv1.ActivityClient

// Options tunes Open. Zero values take the defaults.
type Options struct {
	// RetentionDays: older records are pruned; default 30.
	RetentionDays int
	// MaxRecords: the oldest records beyond this many are pruned; default
	// 100000. Enforced each PruneEvery, so the log can briefly exceed it.
	MaxRecords int
	// FlushEvery is the longest a record waits in memory before its batch
	// commits (a batch also commits at 512 records); default 100ms. It is
	// the window of records a kill -9 loses.
	FlushEvery time.Duration
	// PruneEvery is how often retention runs; default 1 minute. It also
	// runs once when the log opens.
	PruneEvery time.Duration
	// Publish, if set, is called on the writer goroutine once per record
	// after its batch commits, with an EventActivity event whose Data is the
	// stored record JSON. It must not block.
	Publish func(mcpproxy.Event)
	// Redact, if set, is applied to every string in the arguments and to
	// the error text, after the built-in redaction; use it to remove known
	// secret values.
	Redact func(string) string
	Logger *slog.Logger
	// MaxArgBytes truncates each argument string (and the error text)
	// longer than this, appending "…(truncated, N bytes)"; default 4096.
	// The whole arguments JSON is capped at 16 KiB.
	MaxArgBytes int
}

const (
	// queueSize bounds the records waiting for the writer. Beyond it,
	// Record drops the record (counted in Dropped, logged at most once a
	// second) rather than make the caller wait for the disk.
	queueSize = 65536
	// maxBatch is the most records one write transaction commits; a batch
	// this big commits without waiting for FlushEvery.
	maxBatch = 512
	// pruneBatch is the most records one pruning transaction deletes, so
	// a big prune does not hold the write lock for long.
	pruneBatch = 10000
)

const bucket = "activity"

// Log is the open activity log.
type Log struct {
	db       mcpproxy.Store
	opts     Options
	rd       redactor
	q        chan *Record
	flushReq chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
	seq      atomic.Uint32
	dropped  atomic.Uint64

	mu     sync.RWMutex // held for reading around each enqueue
	closed bool         // guarded by mu

	// Owned by the writer goroutine.
	reported uint64    // drops already logged
	warnedAt time.Time // when drops were last logged
}

// Open starts the writer goroutine, which first prunes. The caller keeps
// ownership of db and must Close the Log before closing db.
func Open(db mcpproxy.Store, opts Options) (*Log, error) { return open(db, opts, queueSize) }

func open(db mcpproxy.Store, opts Options, queue int) (*Log, error) {
	if db == nil {
		return nil, errors.New("activity: nil database")
	}
	if opts.RetentionDays <= 0 {
		opts.RetentionDays = 30
	}
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 100000
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = 100 * time.Millisecond
	}
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = time.Minute
	}
	if opts.MaxArgBytes <= 0 {
		opts.MaxArgBytes = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Log{
		db:       db,
		opts:     opts,
		rd:       redactor{extra: opts.Redact, maxBytes: opts.MaxArgBytes},
		q:        make(chan *Record, queue),
		flushReq: make(chan chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go l.run()
	return l, nil
}

// Record queues r and returns its ID. It never waits on I/O: when the queue
// is full (the disk is slower than the callers for a while) or the log is
// closed, the record is dropped and counted in Dropped; the writer logs a
// warning about drops at most once a second. Redaction and encoding happen
// later, on the writer goroutine.
func (l *Log) Record(r Record) string {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC()
	if !validID(r.ID) {
		r.ID = newID(r.Time, uint16(l.seq.Add(1)))
	}
	l.mu.RLock()
	// A full queue drops the record; checking first saves copying it to
	// the heap just to drop it.
	if l.closed || len(l.q) == cap(l.q) {
		l.mu.RUnlock()
		l.dropped.Add(1)
		return r.ID
	}
	p := new(Record)
	*p = r
	select {
	case l.q <- p:
	default:
		l.dropped.Add(1)
	}
	l.mu.RUnlock()
	return r.ID
}

// Dropped returns how many records were dropped because the queue was full
// or the log was closed.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Flush waits until every record queued before the call is committed (or
// its commit failed and was logged).
func (l *Log) Flush() {
	req := make(chan struct{})
	select {
	case l.flushReq <- req:
	case <-l.done:
		return
	}
	select {
	case <-req:
	case <-l.done:
	}
}

// Close commits what is queued and stops the writer. Records after Close
// are dropped. Close is idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	if !already {
		close(l.stop)
	}
	<-l.done
	return nil
}

// readyNow is always ready to receive from: the writer selects on it
// instead of the prune ticker while a prune has more to delete.
var readyNow = func() chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	more := l.prune(time.Now())
	flushT := time.NewTimer(time.Hour)
	flushT.Stop()
	defer flushT.Stop()
	pruneT := time.NewTicker(l.opts.PruneEvery)
	defer pruneT.Stop()

	batch := make([]*Record, 0, maxBatch)
	commit := func() {
		flushT.Stop()
		l.write(batch)
		clear(batch)
		batch = batch[:0]
		l.reportDrops(false)
	}
	for {
		pruneC := pruneT.C
		if more {
			// Delete the rest in further bounded steps, interleaved with
			// writes.
			pruneC = readyNow
		}
		select {
		case <-l.stop:
			// Close set closed before closing stop, so nothing more arrives.
			for drained := false; !drained; {
				select {
				case r := <-l.q:
					batch = append(batch, r)
				default:
					drained = true
				}
			}
			commit()
			l.reportDrops(true)
			return
		case r := <-l.q:
			if len(batch) == 0 {
				flushT.Reset(l.opts.FlushEvery)
			}
			batch = append(batch, r)
			if len(batch) >= maxBatch {
				commit()
			}
		case <-flushT.C:
			commit()
		case req := <-l.flushReq:
			// Everything recorded before Flush was called is in the queue
			// already, ahead of anything recorded since.
			for n := len(l.q); n > 0; n-- {
				batch = append(batch, <-l.q)
			}
			commit()
			close(req)
		case <-pruneC:
			more = l.prune(time.Now())
			l.reportDrops(false)
		}
	}
}

// reportDrops logs records dropped since the last report, at most once a
// second unless forced.
func (l *Log) reportDrops(force bool) {
	d := l.dropped.Load()
	if d == l.reported || (!force && time.Since(l.warnedAt) < time.Second) {
		return
	}
	l.opts.Logger.Warn("activity: records dropped: the log's queue was full or the log was closed",
		"dropped", d-l.reported, "dropped_total", d)
	l.reported = d
	l.warnedAt = time.Now()
}

type encoded struct {
	key, val []byte
	server   string
}

// write redacts, encodes and commits recs, maxBatch per transaction, then
// publishes them. A failed commit loses its batch: it is logged, not
// retried, so a broken disk cannot grow memory without bound.
func (l *Log) write(recs []*Record) {
	for len(recs) > 0 {
		n := min(len(recs), maxBatch)
		l.writeBatch(recs[:n])
		recs = recs[n:]
	}
}

func (l *Log) writeBatch(recs []*Record) {
	batch := make([]encoded, 0, len(recs))
	for _, r := range recs {
		r.Arguments = l.rd.args(r.Arguments)
		// A client chooses the tool name too: a model that folds its
		// arguments into the name must not get them stored in clear.
		for _, f := range []*string{&r.Error, &r.Tool, &r.Server, &r.Action} {
			if *f != "" {
				*f = l.rd.text(*f)
			}
		}
		if r.Intent != nil && r.Intent.Reason != "" {
			in := *r.Intent // the caller's copy is not the log's to change
			in.Reason = l.rd.text(in.Reason)
			r.Intent = &in
		}
		v, err := json.Marshal(r)
		if err != nil {
			l.opts.Logger.Error("activity: encode record", "id", r.ID, "error", err)
			continue
		}
		batch = append(batch, encoded{key: []byte(r.ID), val: v, server: r.Server})
	}
	err := l.db.Update(func(tx mcpproxy.StoreTx) error {
		for _, e := range batch {
			// Keys arrive mostly in increasing order.
			if err := tx.Append(bucket, e.key, e.val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		l.opts.Logger.Error("activity: commit records; they are lost", "records", len(batch), "error", err)
		return
	}
	if l.opts.Publish == nil {
		return
	}
	for _, e := range batch {
		l.opts.Publish(mcpproxy.Event{Type: mcpproxy.EventActivity, Time: time.Now().UTC(), Server: e.server, Data: e.val})
	}
}

// prune deletes at most pruneBatch records, oldest first: those older than
// the retention period, then those beyond MaxRecords. It reports whether
// more may remain.
func (l *Log) prune(now time.Time) (more bool) {
	cutoff := []byte(newID(now.AddDate(0, 0, -l.opts.RetentionDays), 0))
	var n int
	err := l.db.Update(func(tx mcpproxy.StoreTx) error {
		excess := tx.Len(bucket) - l.opts.MaxRecords
		var keys [][]byte
		tx.Scan(bucket, nil, false, func(k, _ []byte) bool {
			if len(keys) == pruneBatch || string(k) >= string(cutoff) && len(keys) >= excess {
				return false
			}
			keys = append(keys, append([]byte(nil), k...))
			return true
		})
		for _, k := range keys {
			if err := tx.Delete(bucket, k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		l.opts.Logger.Error("activity: prune", "error", err)
		return false
	}
	if n > 0 {
		l.opts.Logger.Debug("activity: pruned", "records", n)
	}
	return n == pruneBatch
}

// newID returns the ID for a record at t: 16 hex digits of t in Unix
// nanoseconds (clamped to 0 before 1970), then 4 of seq. IDs are unique
// unless more than 65536 records carry the very same nanosecond.
func newID(t time.Time, seq uint16) string {
	ns := max(t.UnixNano(), 0)
	var raw [10]byte
	for i := range 8 {
		raw[i] = byte(uint64(ns) >> (56 - 8*i))
	}
	raw[8], raw[9] = byte(seq>>8), byte(seq)
	return hex.EncodeToString(raw[:])
}

// validID reports whether s has the shape newID makes.
func validID(s string) bool {
	if len(s) != 20 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
