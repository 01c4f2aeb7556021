package upstream

import (
	"context"
	"sync"
	"time"
)

// StartLimit bounds how many connect attempts run at once across actors,
// so that hundreds of servers starting together (the daemon's own start, a
// reload, a network coming back) do not flood the CPUs and keep the daemon
// from answering its API. An attempt holds its slot until it ends or for at
// most a fixed time: a server that hangs (or is merely far away) costs a
// slot for that long and no longer, so it cannot hold up the others.
type StartLimit struct {
	slots chan struct{}
	hold  time.Duration
}

// NewStartLimit returns a limit of n attempts at once, each holding its
// slot for at most hold.
func NewStartLimit(n int, hold time.Duration) *StartLimit {
	return &StartLimit{slots: make(chan struct{}, max(1, n)), hold: hold}
}

// Enter waits for a slot and returns the function that gives it back
// (idempotent; it also goes back by itself after the hold time). It fails
// only when ctx ends first.
func (l *StartLimit) Enter(ctx context.Context) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	give := func() { once.Do(func() { <-l.slots }) }
	t := time.AfterFunc(l.hold, give)
	return func() {
		t.Stop()
		give()
	}, nil
}

// InUse returns the number of slots taken.
func (l *StartLimit) InUse() int { return len(l.slots) }
