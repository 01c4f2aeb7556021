package stateview

import (
	"sync"
	"sync/atomic"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// DefaultBuffer is the per-subscriber buffer when Subscribe is given 0.
const DefaultBuffer = 256

// Bus fans events out to subscribers. Publish never blocks: each subscriber
// has a bounded buffer, and a subscriber whose buffer is full is dropped (its
// channel is closed; it may subscribe again and start from a fresh snapshot).
type Bus struct {
	// Counters for metrics, read without the lock.
	subscribers atomic.Int64
	drops       atomic.Uint64

	mu   sync.Mutex
	subs map[*Subscription]struct{} // guarded by mu
}

// NewBus returns a bus with no subscribers.
func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Subscription is one subscriber's stream of events.
type Subscription struct {
	bus *Bus
	c   chan mcpproxy.Event

	once    sync.Once
	dropped bool // set before c is closed by the bus; read after c is closed
}

// C returns the channel of events. It is closed when the subscription is
// cancelled or dropped for falling behind.
func (s *Subscription) C() <-chan mcpproxy.Event { return s.c }

// Dropped reports whether the bus dropped this subscriber for being slow.
// Only meaningful after C has been closed.
func (s *Subscription) Dropped() bool { return s.dropped }

// Close cancels the subscription. Safe to call more than once.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	if _, ok := s.bus.subs[s]; ok {
		delete(s.bus.subs, s)
		s.bus.subscribers.Add(-1)
	}
	s.bus.mu.Unlock()
	s.once.Do(func() { close(s.c) })
}

// Subscribe registers a subscriber with a buffer of n events.
func (b *Bus) Subscribe(n int) *Subscription {
	if n <= 0 {
		n = DefaultBuffer
	}
	s := &Subscription{bus: b, c: make(chan mcpproxy.Event, n)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.subscribers.Add(1)
	b.mu.Unlock()
	return s
}

// Publish delivers ev to every subscriber that has room and drops the ones
// that do not. The sends are non-blocking, so holding mu here never waits on
// a subscriber.
func (b *Bus) Publish(ev mcpproxy.Event) {
	var slow []*Subscription
	b.mu.Lock()
	for s := range b.subs {
		select {
		case s.c <- ev:
		default:
			delete(b.subs, s)
			slow = append(slow, s)
		}
	}
	b.subscribers.Add(-int64(len(slow)))
	b.mu.Unlock()
	b.drops.Add(uint64(len(slow)))
	for _, s := range slow {
		s.dropped = true
		s.once.Do(func() { close(s.c) })
	}
}

// Len returns the number of subscribers.
func (b *Bus) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Stats returns the number of subscribers and how many slow subscribers
// have been dropped since the bus was made. It takes no lock, so a metrics
// scrape never waits on a publisher.
func (b *Bus) Stats() (subscribers int, drops uint64) {
	return int(b.subscribers.Load()), b.drops.Load()
}
