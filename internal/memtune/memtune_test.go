package memtune

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live, floor int64
		want        int
	}{
		{4 << 20, 16 << 20, 400},  // small heap: the floor
		{16 << 20, 16 << 20, 100}, // floor = live
		{64 << 20, 16 << 20, 100}, // large heap: never below 100
		{1 << 10, 16 << 20, maxPercent},
		{0, 16 << 20, maxPercent},
	} {
		if got := Percent(c.live, c.floor); got != c.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

// TestTuner_Floor: with a live heap far below the floor the tuner raises
// GOGC after each collection, leaves it alone when GOGC came from the
// environment, and Stop puts back 100.
func TestTuner_Floor(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tu := Start(Options{Floor: 64 << 20}, false)
	runtime.GC()
	runtime.GC() // the finalizer of the first collection's sentinel has run
	p := tu.Percent()
	if p <= 100 {
		t.Fatalf("GOGC set by the floor = %d, want above 100 for a test's small heap", p)
	}
	if cur := debug.SetGCPercent(p); cur != p {
		t.Errorf("the runtime's GOGC = %d, the tuner says %d", cur, p)
	}
	tu.Stop()
	if cur := debug.SetGCPercent(100); cur != 100 {
		t.Errorf("GOGC after Stop = %d, want 100", cur)
	}

	env := Start(Options{Floor: 64 << 20}, true)
	defer env.Stop()
	runtime.GC()
	runtime.GC()
	if env.Percent() != 0 || debug.SetGCPercent(100) != 100 {
		t.Errorf("with GOGC from the environment the tuner set %d", env.Percent())
	}
}

// TestTuner_ReleasesWhenQuiet: memory goes back to the system once the
// state has stopped changing for Quiet, only when there is enough of it,
// and at most once per minInterval.
func TestTuner_ReleasesWhenQuiet(t *testing.T) {
	var version atomic.Uint64
	var held atomic.Int64 // what a release would give back
	tu := Start(Options{Floor: -1, Changes: version.Load, Quiet: 60 * time.Millisecond,
		reclaimable: held.Load, objects: func() int64 { return 1 << 20 }}, false)
	defer tu.Stop()
	version.Add(1)
	time.Sleep(300 * time.Millisecond)
	if tu.Freed() != 0 {
		t.Fatalf("freed %d times with nothing to give back", tu.Freed())
	}
	held.Store(64 << 20)
	// Keep changing for a while: no release while the state changes.
	for range 5 {
		version.Add(1)
		time.Sleep(20 * time.Millisecond)
	}
	if tu.Freed() != 0 {
		t.Fatalf("freed %d times while the state kept changing", tu.Freed())
	}
	deadline := time.Now().Add(10 * time.Second)
	for tu.Freed() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if tu.Freed() != 1 {
		t.Fatalf("freed %d times, want once after the state stood still", tu.Freed())
	}
	version.Add(1)
	time.Sleep(300 * time.Millisecond)
	if tu.Freed() != 1 {
		t.Errorf("freed %d times; minInterval allows one", tu.Freed())
	}
}

// A large object that a collection counted live and that became garbage
// after it (a tool result, once its call is done) is given back too, though
// nothing shows it as garbage until the next collection: whether the tuner
// first looks before the object is done with or after.
func TestTuner_ReleasesGarbageCountedLive(t *testing.T) {
	for _, inUse := range []time.Duration{0, 2 * time.Second} {
		t.Run(fmt.Sprintf("InUse%s", inUse), func(t *testing.T) {
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			runtime.GC()
			var version atomic.Uint64
			tu := Start(Options{Floor: -1, Changes: version.Load, Quiet: 300 * time.Millisecond}, false)
			defer tu.Stop()
			time.Sleep(100 * time.Millisecond) // the tuner has measured the heap
			// A state change first, so that no release comes while the
			// object is made.
			version.Add(1)
			big := make([]byte, 64<<20)
			runtime.GC()
			time.Sleep(inUse) // the tuner looks, and finds it live
			runtime.KeepAlive(big)
			if tu.Freed() != 0 {
				t.Fatalf("freed %d times while the object was in use", tu.Freed())
			}
			big = nil
			if u := Unreleased(); u >= 32<<20 {
				t.Fatalf("Unreleased = %d: the last collection saw the object live", u)
			}
			deadline := time.Now().Add(10 * time.Second)
			for tu.Freed() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if tu.Freed() != 1 {
				t.Fatalf("freed %d times, want once", tu.Freed())
			}
			if h := heapObjects(); h >= 32<<20 {
				t.Errorf("heap objects %d bytes after the release", h)
			}
		})
	}
}

// A release that runs while a large result is in use (other garbage made
// it worth one) counts the result live; once the result is garbage it is
// given back too, not taken as what the daemon settles at.
func TestTuner_ReleasesWhatAReleaseSawInUse(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	var version atomic.Uint64
	tu := Start(Options{Floor: -1, Changes: version.Load, Quiet: 300 * time.Millisecond,
		minInterval: 500 * time.Millisecond}, false)
	defer tu.Stop()
	time.Sleep(100 * time.Millisecond) // the tuner has measured the heap
	version.Add(1)
	big := make([]byte, 64<<20)
	for range 16 {
		_ = make([]byte, 1<<20) // garbage enough for a release
	}
	deadline := time.Now().Add(10 * time.Second)
	for tu.Freed() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if tu.Freed() != 1 {
		t.Fatalf("freed %d times while the result was in use, want once", tu.Freed())
	}
	runtime.KeepAlive(big)
	big = nil
	for tu.Freed() == 1 && time.Now().Before(deadline.Add(10*time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	if h := heapObjects(); tu.Freed() != 2 || h >= 32<<20 {
		t.Errorf("freed %d times, heap objects %d bytes once the result is garbage", tu.Freed(), h)
	}
}

// TestUnreleased: garbage not yet collected counts as reclaimable, and a
// collection followed by a release gives it back.
func TestUnreleased(t *testing.T) {
	// No collection while the garbage is made (FreeOSMemory still runs one).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var sink [][]byte
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	runtime.KeepAlive(sink)
	sink = nil
	if u := Unreleased(); u < 32<<20 {
		t.Errorf("with 64 MiB of garbage Unreleased = %d", u)
	}
	debug.FreeOSMemory()
	if u := Unreleased(); u >= minRelease {
		t.Errorf("after FreeOSMemory Unreleased = %d", u)
	}
}
