package relay

import (
	"context"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ProgressRouter carries progress notifications from upstreams back to the
// downstream call that caused them. A proxied call registers itself and gets
// a token unique across all downstream clients (their own tokens may
// collide); the upstream echoes that token, and the router hands the
// notification to the registered function with the caller's own token.
//
// A notification reaches the router twice: from the transport as its bytes
// are read (see progressTap), and later from the SDK's notification handler.
// Only the first counts. The SDK delivers a call's result from its read
// loop but its notifications from a queue, so without the first path the
// call could return, and its route be released, before its last
// notifications were delivered.
//
// Reading never waits for a downstream client: each route hands its
// notifications to its function, in the order read, on a goroutine of its
// own that runs while there are any. Releasing a route waits, for a bounded
// time, until that goroutine has delivered what was read before the call
// returned, so the caller gets its progress before its result.
type ProgressRouter struct {
	next atomic.Uint64
	seed maphash.Seed

	mu     sync.Mutex
	routes map[string]*progressRoute // guarded by mu
}

// Limits per route: a downstream client that does not keep up loses its
// oldest pending notifications; a notification the SDK's handler repeats
// after maxEarly newer ones is delivered twice.
const (
	maxQueued = 256
	maxEarly  = 256
)

// progressFlushTimeout bounds how long releasing a route waits for its
// pending notifications to reach a slow downstream client.
const progressFlushTimeout = 5 * time.Second

type progressRoute struct {
	token any
	fn    func(ctx context.Context, p *mcp.ProgressNotificationParams)

	// Guarded by the router's mu.
	queue   []queuedProgress // not yet handed to fn, oldest first
	flushed chan struct{}    // while a goroutine hands queue to fn; closed when it has emptied it
	early   []progressKey    // delivered as read; the SDK's handler has yet to repeat them
}

type queuedProgress struct {
	ctx context.Context
	p   *mcp.ProgressNotificationParams
}

// progressKey identifies a notification within its route, so that the SDK's
// copy of one the tap delivered can be recognised. It is not the progress
// value alone: servers that do not increase it (as the spec requires) would
// lose notifications.
type progressKey struct {
	progress, total float64
	message         uint64 // hash
}

// NewProgressRouter returns an empty router.
func NewProgressRouter() *ProgressRouter {
	return &ProgressRouter{seed: maphash.MakeSeed(), routes: map[string]*progressRoute{}}
}

// Register routes progress for a call whose downstream token is token to
// fn. It returns the token to send upstream and a release function to call
// when the call ends; release returns once fn has been given every
// notification read so far (or after a bounded wait).
func (r *ProgressRouter) Register(token any, fn func(ctx context.Context, p *mcp.ProgressNotificationParams)) (string, func()) {
	t := "mcpproxy-" + strconv.FormatUint(r.next.Add(1), 10)
	rt := &progressRoute{token: token, fn: fn}
	r.mu.Lock()
	r.routes[t] = rt
	r.mu.Unlock()
	return t, func() {
		r.mu.Lock()
		delete(r.routes, t)
		flushed := rt.flushed
		r.mu.Unlock()
		if flushed == nil {
			return
		}
		timer := time.NewTimer(progressFlushTimeout)
		defer timer.Stop()
		select {
		case <-flushed:
		case <-timer.C:
		}
	}
}

// Deliver forwards an upstream progress notification the SDK has decoded,
// if a call is waiting for it and it was not already delivered as read.
func (r *ProgressRouter) Deliver(ctx context.Context, p *mcp.ProgressNotificationParams) {
	r.deliver(ctx, p, false)
}

// deliverRead forwards a progress notification the moment the transport
// reads it, before the SDK sees what follows it.
func (r *ProgressRouter) DeliverRead(ctx context.Context, p *mcp.ProgressNotificationParams) {
	r.deliver(ctx, p, true)
}

func (r *ProgressRouter) deliver(ctx context.Context, p *mcp.ProgressNotificationParams, read bool) {
	if r == nil || p == nil {
		return
	}
	t, ok := p.ProgressToken.(string)
	if !ok {
		return
	}
	k := progressKey{progress: p.Progress, total: p.Total, message: maphash.String(r.seed, p.Message)}
	r.mu.Lock()
	defer r.mu.Unlock()
	rt, ok := r.routes[t]
	if !ok {
		return
	}
	if read {
		if len(rt.early) == maxEarly {
			rt.early = slices.Delete(rt.early, 0, 1)
		}
		rt.early = append(rt.early, k)
	} else if i := slices.Index(rt.early, k); i >= 0 {
		// The SDK hands notifications over in the order they were read:
		// any before this one it will never hand over.
		rt.early = slices.Delete(rt.early, 0, i+1)
		return
	}
	out := *p
	out.ProgressToken = rt.token
	if len(rt.queue) == maxQueued {
		rt.queue = slices.Delete(rt.queue, 0, 1)
	}
	rt.queue = append(rt.queue, queuedProgress{ctx: ctx, p: &out})
	if rt.flushed == nil {
		rt.flushed = make(chan struct{})
		go r.flush(rt)
	}
}

// flush hands rt's queue to its function until the queue is empty.
func (r *ProgressRouter) flush(rt *progressRoute) {
	for {
		r.mu.Lock()
		if len(rt.queue) == 0 {
			close(rt.flushed)
			rt.flushed = nil
			r.mu.Unlock()
			return
		}
		q := rt.queue[0]
		rt.queue = slices.Delete(rt.queue, 0, 1)
		r.mu.Unlock()
		rt.fn(q.ctx, q.p)
	}
}

// Len returns the number of registered calls.
func (r *ProgressRouter) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.routes)
}
