package upstream

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ProgressRouter carries progress notifications from upstreams back to the
// downstream call that caused them. A proxied call registers itself and gets
// a token unique across all downstream clients (their own tokens may
// collide); the upstream echoes that token, and Deliver hands the
// notification to the registered function with the caller's own token.
type ProgressRouter struct {
	next atomic.Uint64

	mu     sync.Mutex
	routes map[string]progressRoute // guarded by mu
}

type progressRoute struct {
	token any
	fn    func(ctx context.Context, p *mcp.ProgressNotificationParams)
}

// NewProgressRouter returns an empty router.
func NewProgressRouter() *ProgressRouter {
	return &ProgressRouter{routes: map[string]progressRoute{}}
}

// Register routes progress for a call whose downstream token is token to
// fn. It returns the token to send upstream and a release function to call
// when the call ends.
func (r *ProgressRouter) Register(token any, fn func(ctx context.Context, p *mcp.ProgressNotificationParams)) (string, func()) {
	t := "mcpproxy-" + strconv.FormatUint(r.next.Add(1), 10)
	r.mu.Lock()
	r.routes[t] = progressRoute{token: token, fn: fn}
	r.mu.Unlock()
	return t, func() {
		r.mu.Lock()
		delete(r.routes, t)
		r.mu.Unlock()
	}
}

// Deliver forwards an upstream progress notification, if a call is waiting
// for it. fn runs outside the lock.
func (r *ProgressRouter) Deliver(ctx context.Context, p *mcp.ProgressNotificationParams) {
	if r == nil || p == nil {
		return
	}
	t, ok := p.ProgressToken.(string)
	if !ok {
		return
	}
	r.mu.Lock()
	rt, ok := r.routes[t]
	r.mu.Unlock()
	if !ok {
		return
	}
	out := *p
	out.ProgressToken = rt.token
	rt.fn(ctx, &out)
}

// Len returns the number of registered calls.
func (r *ProgressRouter) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.routes)
}
