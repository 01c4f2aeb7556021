// Package memtune tunes the Go garbage collector for the daemon's shape: a
// small live heap (tens of kilobytes per upstream) and request paths that
// make a lot of short-lived garbage (the MCP SDK allocates a 32 KiB buffer
// for every JSON message it decodes, several per proxied call).
//
// With the default GOGC=100 a live heap of 5 MiB is collected after every
// 5 MiB allocated, which under call traffic is every few calls: the
// collector then costs more CPU than the proxying. Tuner keeps a floor
// under the headroom instead: the next collection comes after
// max(live, Floor) bytes, so a small heap gets Floor of room and a large
// one the usual 100%.
//
// Memory the daemon took during a burst (startup, a config reload, a flood
// of calls) would stay with the process until the runtime's scavenger
// slowly gives it back; Tuner returns it to the system once the daemon has
// been quiet for a while.
package memtune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Tuner.
type Options struct {
	// Floor is the least headroom between collections; 0 means
	// DefaultFloor. Negative disables the floor (GOGC as set).
	Floor int64
	// Changes returns a number that changes whenever the daemon's state
	// does (the state view's version). When it has not changed for Quiet
	// after having changed, free memory is returned to the system. Nil
	// disables that.
	Changes func() uint64
	// Quiet is how long Changes must stand still; 0 means DefaultQuiet.
	Quiet time.Duration

	// reclaimable measures what a release would give back; nil means
	// Unreleased. Tests set it: the runtime's own scavenger may return
	// memory first, at its own pace.
	reclaimable func() int64
	// objects measures the heap's objects; nil means heapObjects. Tests
	// set it.
	objects func() int64
	// minInterval is the least time between two releases; 0 means
	// minInterval. Tests set it.
	minInterval time.Duration
}

const (
	DefaultFloor = 16 << 20
	DefaultQuiet = 3 * time.Second
	// maxPercent bounds the GOGC the floor may set, so that a tiny
	// live heap cannot ask for an absurd ratio.
	maxPercent = 2000
)

// Tuner applies Options until Stop.
type Tuner struct {
	opts    Options
	stopped atomic.Bool
	percent atomic.Int32 // last GOGC set, 0 before the first
	freed   atomic.Int64 // times memory was returned to the system
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// Start starts tuning. The floor applies only when the GOGC environment
// variable is unset: a user who set it gets exactly that.
func Start(opts Options, gogcFromEnv bool) *Tuner {
	if opts.Floor == 0 {
		opts.Floor = DefaultFloor
	}
	if opts.Quiet <= 0 {
		opts.Quiet = DefaultQuiet
	}
	if opts.reclaimable == nil {
		opts.reclaimable = Unreleased
	}
	if opts.objects == nil {
		opts.objects = heapObjects
	}
	if opts.minInterval == 0 {
		opts.minInterval = minInterval
	}
	t := &Tuner{opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	if opts.Floor > 0 && !gogcFromEnv {
		t.adjust()
		t.arm()
	}
	if opts.Changes != nil {
		go t.release()
	} else {
		close(t.done)
	}
	return t
}

// Stop stops tuning and restores GOGC=100 if the floor changed it.
func (t *Tuner) Stop() {
	t.once.Do(func() {
		t.stopped.Store(true)
		close(t.stop)
		<-t.done
		if t.percent.Load() != 0 {
			debug.SetGCPercent(100)
		}
	})
}

// Percent returns the GOGC the floor last set, 0 if it never did.
func (t *Tuner) Percent() int { return int(t.percent.Load()) }

// Freed returns how many times memory was returned to the system.
func (t *Tuner) Freed() int64 { return t.freed.Load() }

// sentinel is an object whose finalizer runs once per collection: it is
// unreachable as soon as it is made, and each run makes the next one.
type sentinel struct{ _ [16]byte }

func (t *Tuner) arm() {
	s := &sentinel{}
	runtime.SetFinalizer(s, func(*sentinel) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	})
}

// adjust sets GOGC from the live heap of the last collection.
func (t *Tuner) adjust() {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := Percent(int64(sample[0].Value.Uint64()), t.opts.Floor)
	if old := t.percent.Load(); old != 0 && abs(int32(p)-old)*10 < old {
		return // within 10% of the current setting
	}
	t.percent.Store(int32(p))
	debug.SetGCPercent(p)
}

// Percent returns the GOGC that gives a live heap of live bytes at least
// floor bytes of headroom, and never less than 100.
func Percent(live, floor int64) int {
	if live <= 0 {
		return maxPercent
	}
	p := floor * 100 / live
	return int(min(max(p, 100), maxPercent))
}

func abs(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// release collects and returns free memory to the system when Changes has
// stood still for Quiet, that would give back at least minRelease, and the
// last time was at least minInterval ago (a full collection is not free
// either). At rest the daemon's heap then stays near its live size even
// with the floor's headroom, which slow background work (pings, scrapes)
// would otherwise fill with garbage.
func (t *Tuner) release() {
	defer close(t.done)
	tick := time.NewTicker(t.opts.Quiet / 3)
	defer tick.Stop()
	last := t.opts.Changes()
	lastChange := time.Now()
	var lastFree, lastLook time.Time
	// base is the heap the daemon settles at: the least seen after a
	// release. A release that ran while a large result was in use counted
	// it live; taking that heap as the base would leave the result held
	// once it is garbage.
	base := t.opts.objects()
	lookWait := t.opts.Quiet
	for {
		select {
		case <-t.stop:
			return
		case now := <-tick.C:
			if v := t.opts.Changes(); v != last {
				last, lastChange = v, now
				continue
			}
			if now.Sub(lastChange) < t.opts.Quiet || now.Sub(lastFree) < t.opts.minInterval {
				continue
			}
			if t.opts.reclaimable() < minRelease {
				// A collection that ran while a large object was in use
				// (a tool result of many megabytes) counted it live, and
				// it does not show as garbage once the call is done.
				// When the heap is that much above its base, collect to
				// see; if it is all in use, look again later, less and
				// less often, and after the longest wait take it as the
				// new base (the daemon has grown for good).
				if t.opts.objects() < base+minRelease || now.Sub(lastLook) < lookWait {
					continue
				}
				runtime.GC()
				lastLook = now
				if t.opts.reclaimable() < minRelease {
					if lookWait == maxLookWait {
						base = t.opts.objects()
					}
					lookWait = min(2*lookWait, maxLookWait)
					continue
				}
			}
			debug.FreeOSMemory()
			lastFree, lookWait = time.Now(), t.opts.Quiet
			base = min(base, t.opts.objects())
			t.freed.Add(1)
		}
	}
}

// heapObjects returns the bytes of the heap's objects: live ones, and
// garbage not yet collected.
func heapObjects() int64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(sample[0].Value.Uint64())
}

const (
	minRelease  = 4 << 20
	minInterval = 30 * time.Second
	maxLookWait = 10 * time.Minute
)

// Unreleased returns the bytes of heap the process holds beyond its live
// heap: garbage not yet collected and free memory not yet returned, which
// is what a collection followed by a release gives back.
func Unreleased() int64 {
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(sample)
	var v [4]int64
	for i := range sample {
		if sample[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		v[i] = int64(sample[i].Value.Uint64())
	}
	return v[0] + v[1] + v[2] - v[3]
}
