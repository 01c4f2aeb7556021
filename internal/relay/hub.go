package relay

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Peer is a downstream client that gets an upstream's server-initiated
// traffic: its requests (sampling, elicitation, roots) and notifications
// (list changes, resource updates, log messages).
type Peer interface {
	CreateMessage(ctx context.Context, p *mcp.CreateMessageWithToolsParams) (*mcp.CreateMessageWithToolsResult, error)
	Elicit(ctx context.Context, p *mcp.ElicitParams) (*mcp.ElicitResult, error)
	ListRoots(ctx context.Context, p *mcp.ListRootsParams) (*mcp.ListRootsResult, error)
	// Notify delivers a notification: method is the MCP method name.
	Notify(ctx context.Context, method string, params mcp.Params)
}

// ErrNoPeer is returned to an upstream that asks something of a client when
// no downstream client can answer.
var ErrNoPeer = errors.New("mcpproxy: no downstream client is connected to answer this request")

// Hub routes an upstream's server-initiated traffic to downstream peers.
//
// A request goes to the client whose call caused it, with that call's
// context (the SDK can only send a request back to a client within the
// request that caused it):
//
//   - when the request arrives on a context that carries its caller (see
//     WithCaller), to that caller: an HTTP upstream sends the requests a
//     call causes on that call's own response stream, which mcpproxy reads
//     within the call's context;
//   - otherwise to the peer whose calls are in flight on that server, when
//     they are all one peer's (see BeginCall). A stdio upstream's requests
//     name no call, so with calls of two clients in flight nobody answers
//     rather than the wrong client.
//
// Notifications go to every attached peer. All methods are safe for
// concurrent use; no lock is held while a peer is called.
type Hub struct {
	mu    sync.Mutex
	peers map[string][]Peer     // guarded by mu; server → attached peers
	calls map[string][]*hubCall // guarded by mu; server → in-flight calls, oldest first
}

type hubCall struct {
	peer Peer
	ctx  context.Context
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{peers: map[string][]Peer{}, calls: map[string][]*hubCall{}}
}

// Attach subscribes p to server's notifications until detach is called.
func (h *Hub) Attach(server string, p Peer) (detach func()) {
	h.mu.Lock()
	h.peers[server] = append(h.peers[server], p)
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			h.peers[server] = slices.DeleteFunc(slices.Clone(h.peers[server]), func(q Peer) bool { return q == p })
			if len(h.peers[server]) == 0 {
				delete(h.peers, server)
			}
			h.mu.Unlock()
		})
	}
}

type callerKey struct{}

// WithCaller returns ctx carrying p as the client whose call ctx serves:
// requests an upstream sends on that context go to p.
func WithCaller(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, callerKey{}, p)
}

// BeginCall records that p is waiting on a request to server, so that
// requests the upstream sends meanwhile go to p on ctx. Call end when the
// request is answered.
func (h *Hub) BeginCall(ctx context.Context, server string, p Peer) (end func()) {
	c := &hubCall{peer: p, ctx: ctx}
	h.mu.Lock()
	h.calls[server] = append(h.calls[server], c)
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.calls[server] = slices.DeleteFunc(slices.Clone(h.calls[server]), func(x *hubCall) bool { return x == c })
		if len(h.calls[server]) == 0 {
			delete(h.calls, server)
		}
		h.mu.Unlock()
	}
}

// target picks who answers a request from server: the caller ctx carries,
// else the peer whose tool call is in flight. With calls from more than one peer in flight it cannot tell
// whose call caused the request, so nobody answers rather than the wrong
// client. Only when anyPeer is set (roots, which are not private to a
// call) does an attached peer without a call in flight qualify.
func (h *Hub) target(ctx context.Context, server string, anyPeer bool) (Peer, context.Context) {
	if p, ok := ctx.Value(callerKey{}).(Peer); ok && p != nil {
		return p, ctx
	}
	if h == nil {
		return nil, ctx
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if cs := h.calls[server]; len(cs) > 0 {
		c := cs[len(cs)-1]
		for _, o := range cs {
			if o.peer != c.peer {
				return nil, ctx
			}
		}
		return c.peer, InCall(ctx, c.ctx)
	}
	if ps := h.peers[server]; anyPeer && len(ps) > 0 {
		return ps[len(ps)-1], ctx
	}
	return nil, ctx
}

func (h *Hub) CreateMessage(ctx context.Context, server string, p *mcp.CreateMessageWithToolsParams) (*mcp.CreateMessageWithToolsResult, error) {
	peer, pctx := h.target(ctx, server, false)
	if peer == nil {
		return nil, ErrNoPeer
	}
	return peer.CreateMessage(pctx, p)
}

func (h *Hub) Elicit(ctx context.Context, server string, p *mcp.ElicitParams) (*mcp.ElicitResult, error) {
	peer, pctx := h.target(ctx, server, false)
	if peer == nil {
		return nil, ErrNoPeer
	}
	return peer.Elicit(pctx, p)
}

func (h *Hub) ListRoots(ctx context.Context, server string, p *mcp.ListRootsParams) (*mcp.ListRootsResult, error) {
	peer, pctx := h.target(ctx, server, true)
	if peer == nil {
		return &mcp.ListRootsResult{Roots: []*mcp.Root{}}, nil
	}
	return peer.ListRoots(pctx, p)
}

// notify sends a notification to every peer attached to server.
func (h *Hub) Notify(ctx context.Context, server, method string, params mcp.Params) {
	if h == nil {
		return
	}
	h.mu.Lock()
	peers := h.peers[server]
	h.mu.Unlock()
	for _, p := range peers {
		p.Notify(ctx, method, params)
	}
}

// InCall returns a context for asking a client something within its call
// whose context is call: it carries call's values (they tell the SDK which
// request, and so which response stream, the question belongs to) but ends
// when ctx (the upstream's request) ends, not when that call does. A client
// with several calls in flight is asked within one of them, which may
// finish before the question is answered.
func InCall(ctx, call context.Context) context.Context {
	return callValues{Context: ctx, call: call}
}

type callValues struct {
	context.Context
	call context.Context
}

func (c callValues) Value(key any) any {
	if v := c.call.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}
