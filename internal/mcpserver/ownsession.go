package mcpserver

import (
	"context"
	"slices"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A pass-through client of an HTTP upstream gets a session of that upstream
// of its own: opened when the client has initialized, with the client's
// identity and capabilities (sampling, elicitation, roots), and closed with
// the client's session. Everything the upstream keeps per session
// (subscriptions, log level, what it lists for the client's capabilities,
// state its tools keep) is then the client's own, as it is directly, and
// what the upstream sends on that session goes to that client alone.
//
// Its tools are still the ones a person approved: the lists it returns pass
// through the same filter as the shared session's, and calls through the
// same checks. A stdio upstream has one process and so one session, shared
// by all its clients (see relay.Hub).

// ownOpenTimeout bounds opening a client's own session.
const ownOpenTimeout = 30 * time.Second

// ownUpstream is one opening (or opened) own session.
type ownUpstream struct {
	ready chan struct{} // closed when cs or err is set
	cs    *mcp.ClientSession
	err   error
	// from is the upstream's shared session when this one was opened: a
	// reconnect of the upstream ends this one with it, and a new one is
	// opened beside the new connection.
	from *mcp.ClientSession
}

// ownSession returns the client's own session of srv's upstream, opening
// it if there is none (or the upstream reconnected since), or nil when the
// upstream has no own sessions (stdio).
func (s *Server) ownSession(ctx context.Context, srv *stateview.Server, p *passPeer) (*mcp.ClientSession, error) {
	if srv.Opener == nil {
		return nil, nil
	}
	p.mu.Lock()
	o := p.own
	var stale *mcp.ClientSession
	if o != nil && o.from != srv.Session {
		select {
		case <-o.ready:
			stale = o.cs
		default:
		}
		o = nil
	}
	if o == nil {
		o = &ownUpstream{ready: make(chan struct{}), from: srv.Session}
		p.own = o
		s.sessions.Add(1)
		go func() {
			defer s.sessions.Done()
			s.openOwn(srv.Opener, p, o)
		}()
	}
	p.mu.Unlock()
	if stale != nil {
		stale.Close()
	}
	select {
	case <-o.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if o.err != nil {
		p.mu.Lock()
		if p.own == o {
			p.own = nil // the next request tries again
		}
		p.mu.Unlock()
	}
	return o.cs, o.err
}

// openOwn opens o for the peer's client and publishes it.
func (s *Server) openOwn(op stateview.SessionOpener, p *passPeer, o *ownUpstream) {
	ctx, cancel := context.WithTimeout(s.closing, ownOpenTimeout)
	defer cancel()
	cs, err := op.OpenSession(ctx, s.ownClient(p), p.progress.DeliverRead)
	p.mu.Lock()
	if p.own != o || p.closed {
		// Replaced or ended meanwhile: nobody will use it.
		p.mu.Unlock()
		if cs != nil {
			cs.Close()
		}
		o.err = errOwnEnded
		close(o.ready)
		return
	}
	o.cs, o.err = cs, err
	close(o.ready)
	p.mu.Unlock()
}

type ownEndedError struct{}

func (ownEndedError) Error() string { return "mcpproxy: the client's session ended" }

var errOwnEnded error = ownEndedError{}

// closeOwn closes the peer's own session, when its client's session ends.
func (p *passPeer) closeOwn() {
	p.mu.Lock()
	p.closed = true
	o := p.own
	p.own = nil
	p.mu.Unlock()
	if o == nil {
		return
	}
	<-o.ready // openOwn closes it itself when it finishes after this
	if o.cs != nil {
		o.cs.Close()
	}
}

// ownClient builds the MCP client of a peer's own session: the downstream
// client's identity and capabilities, and handlers that hand what the
// upstream sends to that client.
func (s *Server) ownClient(p *passPeer) *mcp.Client {
	ss := p.session()
	impl := &mcp.Implementation{Name: "mcpproxy", Version: s.opts.Version}
	caps := &mcp.ClientCapabilities{}
	if ip := ss.InitializeParams(); ip != nil {
		if ip.ClientInfo != nil {
			cp := *ip.ClientInfo
			impl = &cp
		}
		if c := ip.Capabilities; c != nil {
			caps.Sampling = c.Sampling
			caps.Elicitation = c.Elicitation
			if c.Roots.ListChanged || c.RootsV2 != nil {
				caps.RootsV2 = &mcp.RootCapabilities{ListChanged: c.Roots.ListChanged}
			}
		}
	}
	notify := func(method string) func(context.Context, mcp.Params) {
		return func(ctx context.Context, params mcp.Params) { p.Notify(ctx, method, params) }
	}
	tools, prompts, resources := notify("notifications/tools/list_changed"), notify("notifications/prompts/list_changed"), notify("notifications/resources/list_changed")
	updated, logged := notify("notifications/resources/updated"), notify("notifications/message")
	c := mcp.NewClient(impl, &mcp.ClientOptions{
		Capabilities: caps,
		// Mostly delivered already, as the transport read it.
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			p.progress.Deliver(ctx, req.Params)
		},
		ToolListChangedHandler:     func(ctx context.Context, req *mcp.ToolListChangedRequest) { tools(ctx, req.Params) },
		PromptListChangedHandler:   func(ctx context.Context, req *mcp.PromptListChangedRequest) { prompts(ctx, req.Params) },
		ResourceListChangedHandler: func(ctx context.Context, req *mcp.ResourceListChangedRequest) { resources(ctx, req.Params) },
		ResourceUpdatedHandler:     func(ctx context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updated(ctx, req.Params) },
		LoggingMessageHandler:      func(ctx context.Context, req *mcp.LoggingMessageRequest) { logged(ctx, req.Params) },
	})
	// The client's requests are answered by the downstream client, within
	// its call in flight when there is one (the SDK can only send a
	// request back on the stream of the request that caused it). Answered
	// here, before the SDK's own handling, which would check elicitation
	// schemas itself and answer roots from a static list.
	c.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			peer := sessionPeer{ss, s.closing}
			switch method {
			case "sampling/createMessage":
				if params, ok := req.GetParams().(*mcp.CreateMessageWithToolsParams); ok {
					return peer.CreateMessage(p.callContext(ctx), params)
				}
			case "elicitation/create":
				if params, ok := req.GetParams().(*mcp.ElicitParams); ok {
					return peer.Elicit(p.callContext(ctx), params)
				}
			case "roots/list":
				params, _ := req.GetParams().(*mcp.ListRootsParams)
				return peer.ListRoots(p.callContext(ctx), params)
			}
			return next(ctx, method, req)
		}
	})
	return c
}

// beginOwnCall records a call of the peer's client in flight on its own
// session: requests the upstream sends meanwhile are answered within ctx.
// Call end when the call has returned.
func (p *passPeer) beginOwnCall(ctx context.Context) (end func()) {
	c := &ownCall{ctx: ctx}
	p.mu.Lock()
	p.calls = append(p.calls, c)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.calls = slices.DeleteFunc(p.calls, func(x *ownCall) bool { return x == c })
		p.mu.Unlock()
	}
}

type ownCall struct{ ctx context.Context }

// callContext is ctx within the client's most recent call in flight (see
// relay.InCall), or ctx when none is.
func (p *passPeer) callContext(ctx context.Context) context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.calls); n > 0 {
		return relay.InCall(ctx, p.calls[n-1].ctx)
	}
	return ctx
}
