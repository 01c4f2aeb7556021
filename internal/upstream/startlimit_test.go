package upstream

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestStartLimit: at most n attempts hold a slot; a released slot admits
// the next at once; a slot held past the hold time comes back by itself;
// a waiter whose context ends gets its error.
func TestStartLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewStartLimit(2, time.Second)
		ctx := context.Background()
		r1, _ := l.Enter(ctx)
		r2, _ := l.Enter(ctx)
		if l.InUse() != 2 {
			t.Fatalf("in use %d, want 2", l.InUse())
		}
		entered := make(chan time.Time, 1)
		go func() {
			r, err := l.Enter(ctx)
			if err == nil {
				entered <- time.Now()
				r()
			}
		}()
		synctest.Wait()
		if len(entered) != 0 {
			t.Fatal("a third attempt entered while two held their slots")
		}
		r1()
		r1() // idempotent: gives back one slot, not two
		synctest.Wait()
		if len(entered) != 1 {
			t.Fatal("a released slot did not admit the waiting attempt")
		}
		<-entered
		if l.InUse() != 1 {
			t.Fatalf("in use %d after one release and one enter+release, want 1", l.InUse())
		}
		// r2 is never released: its slot comes back after the hold time.
		start := time.Now()
		r3, _ := l.Enter(ctx)
		_ = r2
		go func() {
			if r, err := l.Enter(ctx); err == nil {
				entered <- time.Now()
				r()
			}
		}()
		synctest.Wait()
		if len(entered) != 0 {
			t.Fatal("entered before the held slot timed out")
		}
		got := <-entered
		if d := got.Sub(start); d != time.Second {
			t.Fatalf("the held slot came back after %v, want the hold time 1s", d)
		}
		r3()
		cctx, cancel := context.WithCancel(ctx)
		full, _ := l.Enter(ctx)
		full2, _ := l.Enter(ctx)
		cancel()
		if _, err := l.Enter(cctx); err == nil {
			t.Fatal("Enter on an ended context succeeded with no slot free")
		}
		full()
		full2()
	})
	var nilLimit *StartLimit
	if r, err := nilLimit.Enter(context.Background()); err != nil || r == nil {
		t.Fatalf("a nil limit: %v", err)
	}
}
