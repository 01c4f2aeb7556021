package relay

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The tap delivers a notification as read and the SDK's handler delivers
// it again later; the caller must get it once, in the order read, whatever
// the progress values.
func TestProgressRouter_Dedupe(t *testing.T) {
	type delivery struct {
		read     bool // from the tap; else from the SDK's handler
		progress float64
		msg      string
	}
	tests := []struct {
		name string
		in   []delivery
		want []string
	}{
		{"ReadThenHandler", []delivery{
			{true, 1, "a"}, {true, 2, "b"}, {false, 1, "a"}, {true, 3, "c"}, {false, 2, "b"}, {false, 3, "c"},
		}, []string{"tok 1 a", "tok 2 b", "tok 3 c"}},
		{"HandlerOnly", []delivery{
			{false, 1, "a"}, {false, 2, "b"},
		}, []string{"tok 1 a", "tok 2 b"}},
		// A line too long for the tap reaches the caller through the
		// handler alone.
		{"MissedByTap", []delivery{
			{true, 1, "a"}, {false, 1, "a"}, {false, 2, "long"}, {true, 3, "c"}, {false, 3, "c"},
		}, []string{"tok 1 a", "tok 2 long", "tok 3 c"}},
		// Servers that do not increase progress lose nothing.
		{"ProgressNotIncreasing", []delivery{
			{true, 0, "a"}, {true, 0, "b"}, {false, 0, "a"}, {false, 0, "b"}, {true, 0, "c"}, {false, 0, "c"},
		}, []string{"tok 0 a", "tok 0 b", "tok 0 c"}},
		{"Repeated", []delivery{
			{true, 1, "a"}, {true, 1, "a"}, {false, 1, "a"}, {false, 1, "a"},
		}, []string{"tok 1 a", "tok 1 a"}},
		// One the SDK never hands over (it rejected the message) does not
		// make a later one count as a repeat.
		{"DroppedBySDK", []delivery{
			{true, 1, "a"}, {true, 2, "b"}, {false, 2, "b"}, {false, 1, "a"},
		}, []string{"tok 1 a", "tok 2 b", "tok 1 a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewProgressRouter()
			var sink testupstream.ProgressSink
			up, release := r.Register("tok", sink.Fn)
			for _, d := range tt.in {
				p := testupstream.ProgressParams(up, d.progress, d.msg)
				if d.read {
					r.DeliverRead(context.Background(), p)
				} else {
					r.Deliver(context.Background(), p)
				}
				if p.ProgressToken != up {
					t.Fatalf("Deliver changed the notification's token to %v", p.ProgressToken)
				}
			}
			release()
			if got := sink.Steps(); !slices.Equal(got, tt.want) {
				t.Errorf("delivered %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProgressRouter_Routes(t *testing.T) {
	r := NewProgressRouter()
	var a, b testupstream.ProgressSink
	upA, releaseA := r.Register("tok", a.Fn)
	upB, releaseB := r.Register(7, b.Fn) // another client may use the same or any token
	if upA == upB {
		t.Fatalf("two calls got the same upstream token %q", upA)
	}
	if n := r.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
	ctx := context.Background()
	r.Deliver(ctx, testupstream.ProgressParams(upA, 1, "a"))
	r.DeliverRead(ctx, testupstream.ProgressParams(upB, 1, "b"))
	r.Deliver(ctx, testupstream.ProgressParams("unknown", 1, "x"))
	r.Deliver(ctx, testupstream.ProgressParams(42, 1, "x")) // not one of ours
	r.Deliver(ctx, nil)
	(*ProgressRouter)(nil).Deliver(ctx, testupstream.ProgressParams(upA, 1, "x"))
	(*ProgressRouter)(nil).DeliverRead(ctx, testupstream.ProgressParams(upA, 1, "x"))
	releaseA()
	releaseB()
	if got, want := a.Steps(), []string{"tok 1 a"}; !slices.Equal(got, want) {
		t.Errorf("call A got %q, want %q", got, want)
	}
	if got, want := b.Steps(), []string{"7 1 b"}; !slices.Equal(got, want) {
		t.Errorf("call B got %q, want %q", got, want)
	}
	if n := r.Len(); n != 0 {
		t.Errorf("Len after release = %d, want 0", n)
	}
	r.Deliver(ctx, testupstream.ProgressParams(upA, 2, "late"))
	r.DeliverRead(ctx, testupstream.ProgressParams(upA, 2, "late"))
	if got := a.Steps(); len(got) != 1 {
		t.Errorf("a released call got %q", got)
	}
}

// Reading never waits for the downstream client; release waits until the
// client has been given what was read before the call returned, but only
// for a bounded time.
func TestProgressRouter_ReleaseFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := NewProgressRouter()
		unblock := make(chan struct{})
		var sink testupstream.ProgressSink
		up, release := r.Register("tok", func(ctx context.Context, p *mcp.ProgressNotificationParams) {
			<-unblock
			sink.Fn(ctx, p)
		})
		for i := range 3 {
			r.DeliverRead(context.Background(), testupstream.ProgressParams(up, float64(i+1), "step"))
		}
		released := make(chan time.Duration)
		start := time.Now()
		go func() {
			release()
			released <- time.Since(start)
		}()
		synctest.Wait()
		select {
		case <-released:
			t.Fatal("release returned before the pending notifications were delivered")
		default:
		}
		close(unblock)
		if d := <-released; d != 0 {
			t.Errorf("release took %v once the client kept up, want no time", d)
		}
		if n := len(sink.Steps()); n != 3 {
			t.Errorf("client got %d notifications, want 3", n)
		}
	})
	t.Run("SlowClient", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := NewProgressRouter()
			unblock := make(chan struct{})
			up, release := r.Register("tok", func(context.Context, *mcp.ProgressNotificationParams) { <-unblock })
			r.DeliverRead(context.Background(), testupstream.ProgressParams(up, 1, "step"))
			start := time.Now()
			release()
			if d := time.Since(start); d != progressFlushTimeout {
				t.Errorf("release waited %v for a stuck client, want %v", d, progressFlushTimeout)
			}
			close(unblock)
			synctest.Wait() // the delivering goroutine ends
		})
	})
}

// A client that does not keep up loses its oldest pending notifications,
// not the newest.
func TestProgressRouter_QueueBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := NewProgressRouter()
		unblock := make(chan struct{})
		var sink testupstream.ProgressSink
		up, release := r.Register("tok", func(ctx context.Context, p *mcp.ProgressNotificationParams) {
			<-unblock
			sink.Fn(ctx, p)
		})
		const n = maxQueued + 50
		for i := range n {
			r.DeliverRead(context.Background(), testupstream.ProgressParams(up, float64(i), ""))
			synctest.Wait() // the first is taken off the queue at once
		}
		close(unblock)
		release()
		got := sink.Steps()
		if len(got) != maxQueued+1 {
			t.Fatalf("client got %d notifications, want %d", len(got), maxQueued+1)
		}
		if got[0] != "tok 0 " || got[1] != fmt.Sprintf("tok %d ", n-maxQueued) || got[len(got)-1] != fmt.Sprintf("tok %d ", n-1) {
			t.Errorf("client got %q … %q", got[:2], got[len(got)-1])
		}
	})
}

// Calls register, deliver and release concurrently (run with -race).
func TestProgressRouter_Concurrent(t *testing.T) {
	r := NewProgressRouter()
	var wg sync.WaitGroup
	for c := range 20 {
		wg.Go(func() {
			var sink testupstream.ProgressSink
			up, release := r.Register(c, sink.Fn)
			var inner sync.WaitGroup
			inner.Go(func() { // the SDK's handler, behind the tap
				for i := range 50 {
					r.Deliver(context.Background(), testupstream.ProgressParams(up, float64(i), "m"))
				}
			})
			for i := range 50 {
				r.DeliverRead(context.Background(), testupstream.ProgressParams(up, float64(i), "m"))
			}
			inner.Wait()
			release()
			if got := sink.Steps(); len(got) < 50 {
				t.Errorf("call %d got %d notifications, want at least 50", c, len(got))
			}
		})
	}
	wg.Wait()
	if n := r.Len(); n != 0 {
		t.Errorf("Len = %d, want 0", n)
	}
}
