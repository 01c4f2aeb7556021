package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/mcpproxy/mcpproxy/internal/secret"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The pass-through endpoint /mcp/server/{name} gives each downstream session
// its own *mcp.Server that forwards every request to the named upstream's
// live session, unchanged: tools, prompts, resources and templates,
// completions, subscriptions and logging. The upstream's own requests and
// notifications come back through the hub (relay.Hub) to this session.

// passPeer is one downstream pass-through session, as the hub sees it.
type passPeer struct {
	server  *mcp.Server
	closing context.Context // the Server's: see sessionPeer

	// progress routes the progress of the client's calls on its own
	// session of an HTTP upstream back to them.
	progress *relay.ProgressRouter

	mu     sync.Mutex
	ss     *mcp.ServerSession // guarded by mu; set at initialized
	own    *ownUpstream       // guarded by mu; the client's own session of an HTTP upstream
	closed bool               // guarded by mu; the client's session has ended
	calls  []*ownCall         // guarded by mu; the client's calls in flight on own
}

func (p *passPeer) session() *mcp.ServerSession {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ss
}

func (p *passPeer) CreateMessage(ctx context.Context, params *mcp.CreateMessageWithToolsParams) (*mcp.CreateMessageWithToolsResult, error) {
	ss := p.session()
	if ss == nil {
		return nil, relay.ErrNoPeer
	}
	return sessionPeer{ss, p.closing}.CreateMessage(ctx, params)
}

func (p *passPeer) Elicit(ctx context.Context, params *mcp.ElicitParams) (*mcp.ElicitResult, error) {
	ss := p.session()
	if ss == nil {
		return nil, relay.ErrNoPeer
	}
	return sessionPeer{ss, p.closing}.Elicit(ctx, params)
}

func (p *passPeer) ListRoots(ctx context.Context, params *mcp.ListRootsParams) (*mcp.ListRootsResult, error) {
	ss := p.session()
	if ss == nil {
		return &mcp.ListRootsResult{Roots: []*mcp.Root{}}, nil
	}
	return sessionPeer{ss, p.closing}.ListRoots(ctx, params)
}

// Placeholders registered with a per-session server when its upstream's
// list changes: adding one is how a list-changed notification is sent to the
// session. Lists are answered from the upstream, so these never show.
var (
	placeholderPrompt   = &mcp.Prompt{Name: "mcpproxy_placeholder"}
	placeholderResource = &mcp.Resource{URI: "mcpproxy://placeholder", Name: "mcpproxy_placeholder"}
)

func placeholderPromptHandler(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	return &mcp.GetPromptResult{}, nil
}

func placeholderResourceHandler(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	return &mcp.ReadResourceResult{}, nil
}

func (p *passPeer) Notify(ctx context.Context, method string, params mcp.Params) {
	switch method {
	case "notifications/tools/list_changed":
		p.server.AddTool(placeholderTool, placeholderHandler)
	case "notifications/prompts/list_changed":
		p.server.AddPrompt(placeholderPrompt, placeholderPromptHandler)
	case "notifications/resources/list_changed":
		p.server.AddResource(placeholderResource, placeholderResourceHandler)
	case "notifications/resources/updated":
		if rp, ok := params.(*mcp.ResourceUpdatedNotificationParams); ok {
			p.server.ResourceUpdated(ctx, rp)
		}
	case "notifications/message":
		if lp, ok := params.(*mcp.LoggingMessageParams); ok {
			if ss := p.session(); ss != nil {
				ss.Log(ctx, lp)
			}
		}
	}
}

// passRoute is the upstream of a pass-through session, for calls answered
// in front of the SDK: through the session's receiving middlewares, whose
// forwarder answers them.
type passRoute struct {
	name    string
	handler mcp.MethodHandler
}

// passthroughHandler serves /mcp/server/{name}.
func (s *Server) passthroughHandler() http.Handler {
	h := mcp.NewStreamableHTTPHandler(s.passthroughServer, streamOpts)
	s.fastPass = newFastPath(h, func(fs *fastSession, _ *mcp.CallToolRequest) bool {
		return fs.pass != nil && s.fastFits(fs.pass.name)
	}, func(fs *fastSession) mcp.MethodHandler { return fs.pass.handler })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		// Only a new session is refused here. Requests of an open session
		// go on (plain calls answered in front of the SDK, the rest by it),
		// so that its calls are refused as JSON-RPC errors the forwarder
		// records, and its DELETE still ends it.
		if r.Header.Get("Mcp-Session-Id") != "" {
			s.fastPass.ServeHTTP(w, r)
			return
		}
		err := allowCall(callerToken(r.Context()), name, nil, "")
		if err == nil {
			_, err = serverReady(s.b.View().Load(), name)
		}
		if err != nil {
			code := mcpproxy.ErrorCode(err)
			status := http.StatusServiceUnavailable
			switch code {
			case mcpproxy.ENOTFOUND:
				status = http.StatusNotFound
			case mcpproxy.EFORBIDDEN:
				status = http.StatusForbidden
			}
			body, _ := json.Marshal(map[string]any{"success": false, "error": map[string]string{"code": code, "message": mcpproxy.ErrorMessage(err)}})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write(append(body, '\n'))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// passthroughServer builds the per-session server for a new downstream
// session, mirroring the upstream's initialize result: its identity,
// instructions and capabilities, exactly. Requests for what the upstream
// lacks are forwarded all the same, and refused as it refuses them.
func (s *Server) passthroughServer(r *http.Request) *mcp.Server {
	// The SDK also calls this for requests of existing sessions (only to
	// read supported versions); building a server for each of those would
	// pile them up. Only a request without a session starts one.
	if r.Header.Get("Mcp-Session-Id") != "" {
		return nil
	}
	name := r.PathValue("name")
	srv, err := serverReady(s.b.View().Load(), name)
	if err != nil {
		return nil
	}
	impl := &mcp.Implementation{Name: name}
	opts := &mcp.ServerOptions{
		SupportedProtocolVersions: protocolVersions,
		Logger:                    discardLogger,
		Capabilities:              &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
		SubscribeHandler:          func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler:        func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	}
	if init := srv.Session.InitializeResult(); init != nil {
		if init.ServerInfo != nil {
			cp := *init.ServerInfo
			impl = &cp
		}
		opts.Instructions = init.Instructions
		if init.Capabilities != nil {
			caps := *init.Capabilities
			opts.Capabilities = &caps
		}
	}
	peer := &passPeer{closing: s.closing, progress: relay.NewProgressRouter()}
	mw := s.middleware(s.forward(name, peer))
	// An HTTP upstream gives each client a session of its own (see
	// ownsession.go); the shared session's traffic is then not this
	// client's.
	own := srv.Opener != nil
	opts.InitializedHandler = func(ctx context.Context, req *mcp.InitializedRequest) {
		peer.mu.Lock()
		first := peer.ss == nil
		peer.ss = req.Session
		peer.mu.Unlock()
		if !first {
			return
		}
		s.track(peer.server)
		s.watchFast(s.fastPass, req.Session, identityOf(ctx), &passRoute{name: name, handler: chain(notForwarded, mw...)})
		detach := func() {}
		if s.opts.Hub != nil && !own {
			detach = s.opts.Hub.Attach(name, peer)
		}
		if own {
			// Opened now rather than at the first request, so that what
			// the upstream sends the client meanwhile reaches it.
			s.sessions.Add(1)
			go func() {
				defer s.sessions.Done()
				s.ownSession(context.WithoutCancel(ctx), srv, peer)
			}()
		}
		s.sessions.Add(1)
		go func() {
			defer s.sessions.Done()
			req.Session.Wait()
			peer.closeOwn()
			detach()
			s.mu.Lock()
			delete(s.servers, peer.server)
			s.mu.Unlock()
		}()
	}
	// Nothing is registered with the server before the client's
	// initialize: the SDK would add the capabilities of what is registered
	// (prompts, resources with subscribe) to the upstream's own, and the
	// client must see exactly the upstream's.
	ps := mcp.NewServer(impl, opts)
	peer.server = ps
	ps.AddReceivingMiddleware(mw...)
	return ps
}

// forward sends each request of a pass-through session to the upstream's
// current session; methods the proxy does not forward fall through to the
// SDK (initialize, ping, …).
func (s *Server) forward(name string, peer *passPeer) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := s.forwardOne(ctx, name, peer, next, method, req)
			return res, upstreamError(err)
		}
	}
}

// upstreamError is the error the client gets for err: the upstream's own
// JSON-RPC error (code, message and data) when err holds one, without the
// "calling …" the proxy's client session wraps it in; err otherwise.
func upstreamError(err error) error {
	var werr *jsonrpc.Error
	if errors.As(err, &werr) {
		return werr
	}
	return err
}

func (s *Server) forwardOne(ctx context.Context, name string, peer *passPeer, next mcp.MethodHandler, method string, req mcp.Request) (mcp.Result, error) {
	switch method {
	case "tools/list", "tools/call", "prompts/list", "prompts/get", "resources/list",
		"resources/read", "resources/templates/list", "completion/complete",
		"logging/setLevel", "resources/subscribe", "resources/unsubscribe":
	default:
		return next(ctx, method, req)
	}
	if p, isCall := req.GetParams().(*mcp.CallToolParamsRaw); isCall {
		res, err := s.passToolCall(ctx, req, name, peer, p)
		if err != nil {
			return nil, err
		}
		return res, nil
	}
	srv, own, err := s.upstreamOf(ctx, name, peer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout(name))
	defer cancel()
	up := srv.Session
	if own != nil {
		up = own
	}
	switch p := req.GetParams().(type) {
	case *mcp.ListToolsParams:
		res, err := up.ListTools(ctx, p)
		if err != nil {
			return nil, err
		}
		res = usableList(srv, res)
		res.Tools = hideBlocked(s.b.Config(), res.Tools)
		if tok := callerToken(ctx); tok != nil {
			res.Tools = slices.DeleteFunc(res.Tools, func(t *mcp.Tool) bool { return !toolAllowed(tok, name, t) })
		}
		return res, nil
	case *mcp.ListPromptsParams:
		return up.ListPrompts(ctx, p)
	case *mcp.GetPromptParams:
		return up.GetPrompt(ctx, p)
	case *mcp.ListResourcesParams:
		return up.ListResources(ctx, p)
	case *mcp.ReadResourceParams:
		return up.ReadResource(ctx, p)
	case *mcp.ListResourceTemplatesParams:
		return up.ListResourceTemplates(ctx, p)
	case *mcp.CompleteParams:
		return up.Complete(ctx, p)
	case *mcp.SetLoggingLevelParams:
		if err := up.SetLoggingLevel(ctx, p); err != nil {
			return nil, err
		}
	case *mcp.SubscribeParams:
		if err := up.Subscribe(ctx, p); err != nil {
			return nil, err
		}
	case *mcp.UnsubscribeParams:
		if err := up.Unsubscribe(ctx, p); err != nil {
			return nil, err
		}
	}
	// Let the SDK record the level or subscription for this session.
	return next(ctx, method, req)
}

// usableList keeps the tools of an upstream's list whose definition is
// exactly the approved one published for the server: a tool that is new,
// changed (even before the proxy re-listed it) or blocked does not pass.
func usableList(srv *stateview.Server, res *mcp.ListToolsResult) *mcp.ListToolsResult {
	approved := make(map[string]string, len(srv.Tools))
	for i := range srv.Tools {
		if srv.Tools[i].Usable() {
			approved[srv.Tools[i].Name] = srv.Tools[i].Fingerprint
		}
	}
	out := *res
	out.Tools = make([]*mcp.Tool, 0, len(res.Tools))
	for _, t := range res.Tools {
		fp, ok := approved[t.Name]
		if !ok {
			continue
		}
		if fp != "" {
			ct := relay.ConvertTool(t)
			if pinning.Fingerprint(&ct) != fp {
				continue
			}
		}
		out.Tools = append(out.Tools, t)
	}
	return &out
}

// passToolCall forwards one pass-through tools/call to the upstream's
// current session and records it. An error is for the JSON-RPC response.
func (s *Server) passToolCall(ctx context.Context, req mcp.Request, name string, peer *passPeer, p *mcp.CallToolParamsRaw) (*mcp.CallToolResult, error) {
	srv, own, err := s.upstreamOf(ctx, name, peer)
	if srv == nil {
		s.recordCall(callRecord{endpoint: "/mcp/server/" + name, client: clientOf(ctx, req.GetSession()),
			server: name, tool: p.Name, args: p.Arguments, start: time.Now(), status: refusalStatus(err), err: err,
			sensitive: sensitiveRecord(s.sensitiveMode(), scanArgs(p.Arguments), nil)})
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout(name))
	defer cancel()
	switch {
	case own != nil:
		end := peer.beginOwnCall(ctx)
		defer end()
	case s.opts.Hub != nil:
		// Requests the upstream sends back go to the client whose tool
		// call is in flight.
		var end func()
		ctx, end = s.callerFor(ctx, name, peer)
		defer end()
	}
	if own != nil {
		return s.passCall(ctx, req, name, srv, own, peer.progress, p)
	}
	return s.passCall(ctx, req, name, srv, srv.Caller, s.opts.Progress, p)
}

// upstreamOf returns the ready upstream name and, for an HTTP upstream, the
// client's own session of it (see ownsession.go). srv is nil when the
// upstream is not ready (err says why); an own session that cannot be
// opened is an error with srv set.
func (s *Server) upstreamOf(ctx context.Context, name string, peer *passPeer) (*stateview.Server, *mcp.ClientSession, error) {
	srv, err := serverReady(s.b.View().Load(), name)
	if err != nil {
		return nil, nil, err
	}
	own, err := s.ownSession(ctx, srv, peer)
	if err != nil {
		return srv, nil, fmt.Errorf("mcpproxy: open a session of %q for this client: %w", name, err)
	}
	return srv, own, nil
}

// passCall forwards one pass-through tools/call to up (the upstream's
// session, or the client's own session of it) and records it; progress
// routes the call's progress back.
func (s *Server) passCall(ctx context.Context, req mcp.Request, name string, srv *stateview.Server, up stateview.ToolCaller, progress *relay.ProgressRouter, p *mcp.CallToolParamsRaw) (*mcp.CallToolResult, error) {
	rec := callRecord{endpoint: "/mcp/server/" + name, client: clientOf(ctx, req.GetSession()), server: name, tool: p.Name, args: p.Arguments, start: time.Now()}
	mode := s.sensitiveMode()
	argKinds := scanArgs(p.Arguments)
	rec.sensitive = sensitiveRecord(mode, argKinds, nil)
	err := toolUsable(srv, p.Name, ":")
	if err == nil {
		err = allowCall(callerToken(ctx), name, srv, p.Name)
	}
	if err == nil {
		err = checkIntent(s.b.Config(), nil, false, srv, p.Name, ":")
	}
	if err != nil {
		rec.res, rec.status = errorResult("%s", mcpproxy.ErrorMessage(err)), refusalStatus(err)
		s.recordCall(rec)
		return rec.res, nil
	}
	if len(argKinds) > 0 && mode == config.SensitiveBlock {
		rec.res, rec.status = refuseArgs(name, ":", p.Name, argKinds), activity.StatusBlocked
		s.recordCall(rec)
		return rec.res, nil
	}
	res, err := forwardCall(ctx, req, up, progress, p)
	if err != nil {
		rec.res, rec.status, rec.err = callFailed(ctx, err, name, ":", p.Name, s.callTimeout(name), true)
		s.recordCall(rec)
		return rec.res, rec.err
	}
	rec.res, rec.status = res, activity.StatusOK
	if res.IsError {
		rec.status = activity.StatusToolError
	}
	var resKinds []secret.Kind
	res, resKinds = guardResult(mode, res, name, ":", p.Name)
	rec.res, rec.sensitive = res, sensitiveRecord(mode, argKinds, resKinds)
	if len(resKinds) > 0 && mode == config.SensitiveBlock {
		rec.status = activity.StatusBlocked
	}
	s.recordCall(rec)
	return res, nil
}

// forwardCall calls a tool of up for a client's call; the upstream gets a
// progress token of progress's, and what it reports for it goes back to the
// client under the client's own token.
func forwardCall(ctx context.Context, req mcp.Request, up stateview.ToolCaller, progress *relay.ProgressRouter, p *mcp.CallToolParamsRaw) (*mcp.CallToolResult, error) {
	params := &mcp.CallToolParams{Meta: p.Meta, Name: p.Name, Arguments: p.Arguments}
	if tok := p.GetProgressToken(); tok != nil && progress != nil {
		ss, _ := req.GetSession().(*mcp.ServerSession)
		if ss != nil {
			upTok, release := progress.Register(tok, func(_ context.Context, pp *mcp.ProgressNotificationParams) {
				notifyProgress(ctx, ss, pp)
			})
			defer release()
			params.Meta = mcp.Meta{}
			for k, v := range p.Meta {
				params.Meta[k] = v
			}
			params.Meta["progressToken"] = upTok
		}
	}
	return up.CallTool(ctx, params)
}
