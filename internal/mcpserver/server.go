// Package mcpserver is the MCP front door: the smart endpoint (/mcp and the
// legacy /sse) with mcpproxy's built-in tools, the direct endpoint
// (/mcp/all) that lists every approved upstream tool as server__tool, and
// the pass-through of one upstream (/mcp/server/{name}).
//
// Concurrency contract: handlers read the state view's current snapshot and
// the tool index; a tool call waits only on the one upstream it names, with
// that server's call timeout and the caller's cancellation, and ends at once
// when the daemon shuts down (EndCalls, called by Close). The catalog
// goroutine (started by New, stopped by Close) is the only writer of the
// index and of the direct endpoint's tool list.
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/httpauth"
	"github.com/mcpproxy/mcpproxy/internal/index"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/store"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Backend is what the MCP endpoints need from the rest of the daemon.
type Backend interface {
	View() *stateview.View
	Config() *config.Config
	Restart(name string) error
	SetEnabled(ctx context.Context, name string, enabled bool) error
	Edit(ctx context.Context, fn func(d *config.Document) error) error
}

// Options configures the MCP endpoints.
type Options struct {
	Backend Backend
	Index   *index.Index
	Version string
	// Listen is the address the daemon serves on; on a loopback address the
	// MCP endpoints accept clients without the API key unless the config
	// sets require_mcp_auth.
	Listen string
	Logger *slog.Logger
	// Progress routes upstream progress notifications back to callers; the
	// supervisor's actors must deliver into the same router.
	Progress *relay.ProgressRouter
	// Hub passes upstream requests and notifications to pass-through
	// sessions; the supervisor's actors must use the same hub.
	Hub *relay.Hub
	// Store keeps call statistics and truncated results; nil disables
	// read_cache and tools_stat.
	Store *store.Store
	// Activity records every tool call and agent management action; nil
	// records nothing.
	Activity *activity.Log
	// Pins looks up approved tool definitions for quarantine_security's
	// diffs; nil shows no diffs.
	Pins pinning.PinLookup
	// Metrics, if not nil, is told about every tool call and index update.
	Metrics Metrics
	// Tokens verifies agent tokens (Authorization: Bearer mcpp_…); nil
	// refuses every token.
	Tokens TokenVerifier
	// Middleware is installed on every MCP server of every endpoint as
	// receiving middleware, outermost first, inside the one that ends
	// requests at shutdown: it sees every request, also the tools/call
	// requests answered in front of the SDK (fastcall.go).
	Middleware []mcp.Middleware
}

// Metrics receives measurements; implementations must not block. The
// daemon's Prometheus collectors implement it, so this package does not
// depend on a metrics library.
type Metrics interface {
	// ToolCall is told about every tool call once it ends; status is one
	// of the activity log's statuses (activity.StatusOK, …).
	ToolCall(server, tool, status string, d time.Duration)
	// IndexUpdate is told about each update of the tool index (one per
	// debounced batch of server changes): op is "set", or "remove" when
	// the update only removes servers.
	IndexUpdate(op string, d time.Duration)
}

// Server serves the MCP endpoints.
type Server struct {
	opts   Options
	b      Backend
	log    *slog.Logger
	smart  *mcp.Server
	direct *mcp.Server
	cat    *catalog
	mux    *http.ServeMux
	// Answer plain tools/call requests in front of the SDK (fastcall.go).
	fastSmart, fastDirect, fastPass *fastPath

	sessions sync.WaitGroup // pass-through session watchers
	// listed is the config's part in /mcp's tools/list as sessions last
	// heard of it (see notifyListPolicy).
	listed atomic.Pointer[listPolicy]

	// closing ends with EndCalls: every request's context ends with it.
	closing  context.Context
	endCalls context.CancelCauseFunc

	mu      sync.Mutex
	servers map[*mcp.Server]struct{} // guarded by mu: per-session pass-through servers
	sse     map[string]*sseSession   // guarded by mu: legacy SSE session id → its session (see bindSSE)
}

// track remembers a per-session server so Close can end its sessions.
func (s *Server) track(ps *mcp.Server) {
	s.mu.Lock()
	s.servers[ps] = struct{}{}
	s.mu.Unlock()
}

const instructions = `mcpproxy gives you access to the tools of many MCP servers through a few built-in tools.
1. Call retrieve_tools with a short description of what you want to do (for example "create a github issue"); it returns the best matching tools with their ids ("server:tool"), and for each the call variant that reaches it (call_with). describe_tool gives the full input schema of up to 5 tools.
2. Call the tool with its call_with variant: call_tool_read (read-only tools), call_tool_write (tools that change but destroy nothing) or call_tool_destructive (anything else), with name set to the id, args set to an object that matches the tool's input schema, and intent.reason saying why. A variant that does not fit the tool's annotations is refused without calling it.
Search again with different words if nothing fits. Use upstream_servers to list the servers and their states.
Servers and tools that are new or changed wait in quarantine until a person approves them; quarantine_security shows what waits and why. You cannot approve anything yourself.`

// New builds the endpoints and starts the catalog that keeps the index and
// the direct endpoint in step with the state view. Close stops it.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, b: opts.Backend, log: opts.Logger, servers: map[*mcp.Server]struct{}{}, sse: map[string]*sseSession{}}
	s.closing, s.endCalls = context.WithCancelCause(context.Background())
	impl := &mcp.Implementation{Name: "mcpproxy", Version: opts.Version}
	s.smart = mcp.NewServer(impl, &mcp.ServerOptions{
		SupportedProtocolVersions: protocolVersions,
		Instructions:              instructions,
		Logger:                    discardLogger,
		Capabilities:              &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
		InitializedHandler: func(ctx context.Context, req *mcp.InitializedRequest) {
			s.watchFast(s.fastSmart, req.Session, identityOf(ctx), nil)
		},
	})
	s.addBuiltinTools()
	s.addCallVariants()
	s.addDescribeTool()
	s.addStoreTools()
	smartMW := s.middleware(s.policyMiddleware)
	s.smart.AddReceivingMiddleware(smartMW...)
	s.direct = mcp.NewServer(impl, &mcp.ServerOptions{
		SupportedProtocolVersions: protocolVersions,
		Instructions:              "Every tool of every connected, approved upstream server, named server__tool.",
		Logger:                    discardLogger,
		Capabilities:              &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
		InitializedHandler: func(ctx context.Context, req *mcp.InitializedRequest) {
			s.watchFast(s.fastDirect, req.Session, identityOf(ctx), nil)
		},
	})
	directMW := s.middleware(s.directMiddleware)
	s.direct.AddReceivingMiddleware(directMW...)
	s.listed.Store(listPolicyOf(opts.Backend.Config()))
	s.cat = startCatalog(opts.Backend.View(), opts.Index, s.direct, opts.Logger, opts.Metrics, s.notifyListPolicy)

	smartHTTP := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.smart }, streamOpts)
	smartSSE := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return s.smart }, nil)
	directHTTP := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.direct }, streamOpts)
	// The fast paths answer through the same middlewares as the SDK, around
	// what the SDK would call: the handler of retrieve_tools, or of call_tool
	// (or of the variant called) on /mcp; on /mcp/all the direct middleware
	// answers tools/call itself.
	smartCall := chain(func(ctx context.Context, _ string, req mcp.Request) (mcp.Result, error) {
		r := req.(*mcp.CallToolRequest)
		variant := r.Params.Name
		switch variant {
		case retrieveToolsTool.Name:
			return s.retrieveTools(ctx, r)
		case "call_tool":
			variant = ""
		}
		return s.callToolAs(ctx, r, variant), nil
	}, smartMW...)
	s.fastSmart = newFastPath(smartHTTP, func(_ *fastSession, req *mcp.CallToolRequest) bool {
		if req.Params.Name == retrieveToolsTool.Name {
			return true // answered from the index: no upstream, no timeout
		}
		return isCallTool(req.Params.Name) && s.fastFits(callToolServer(req.Params.Arguments))
	}, func(*fastSession) mcp.MethodHandler { return smartCall })
	directCall := chain(notForwarded, directMW...)
	s.fastDirect = newFastPath(directHTTP, func(_ *fastSession, req *mcp.CallToolRequest) bool {
		server, _, _ := splitID(req.Params.Name, directSep)
		if rt, ok := s.cat.set.Load().routes[req.Params.Name]; ok {
			server = rt.server
		}
		return s.fastFits(server)
	}, func(*fastSession) mcp.MethodHandler { return directCall })

	s.mux = http.NewServeMux()
	s.mux.Handle("/mcp", s.auth(s.fastSmart))
	s.mux.Handle("/mcp/", s.auth(s.fastSmart))
	boundSSE := s.bindSSE(smartSSE)
	s.mux.Handle("/sse", s.auth(boundSSE))
	s.mux.Handle("/sse/", s.auth(boundSSE))
	s.mux.Handle("/mcp/all", s.auth(s.fastDirect))
	s.mux.Handle("/mcp/all/", s.auth(s.fastDirect))
	s.mux.Handle("/mcp/server/{name}", s.auth(s.passthroughHandler()))
	return s
}

var discardLogger = slog.New(slog.DiscardHandler)

// protocolVersions are the MCP versions every endpoint negotiates: those of
// the initialize handshake (2025-11-25 and older). The endpoints keep state
// per session (the credential that opened it, the calls in flight whose
// upstream requests for sampling, elicitation and roots go back to it), which
// the stateless protocol of 2026-07-28 has no place for. A client that opens
// with server/discover at 2026-07-28 is answered with the error that protocol
// defines for a version the server does not speak (UnsupportedProtocolVersion,
// naming the versions it does), and falls back to initialize: the go-sdk's
// client and mcp-go's do so. Answering discover with success instead made
// mcp-go go on in the new protocol, which every later request refused.
var protocolVersions = slices.DeleteFunc(mcp.SupportedProtocolVersions(), func(v string) bool { return v >= "2026-07-28" })

// streamOpts ends sessions whose clients went away without saying so, so
// that their state does not pile up in a long-running daemon.
var streamOpts = &mcp.StreamableHTTPOptions{SessionTimeout: 30 * time.Minute}

// ServeHTTP serves /mcp, /sse and /mcp/all.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// fastMaxCall is the longest call timeout of a call answered in front of
// the SDK: the SDK's idle clock for the session runs meanwhile, and must not
// run out (streamOpts.SessionTimeout, less fastIdle, less a margin).
const fastMaxCall = 20 * time.Minute

// fastFits reports whether a call to server may be answered in front of
// the SDK, by its call timeout.
func (s *Server) fastFits(server string) bool { return s.callTimeout(server) <= fastMaxCall }

// callToolServer returns the server a call_tool's arguments name, or "".
func callToolServer(args json.RawMessage) string {
	var in struct {
		Name string `json:"name"`
	}
	json.Unmarshal(args, &in)
	server, _, _ := splitID(in.Name, ":")
	return server
}

// watchFast lets f answer calls of a session the SDK just initialized,
// until the session ends.
func (s *Server) watchFast(f *fastPath, ss *mcp.ServerSession, identity string, pass *passRoute) {
	if f == nil {
		return
	}
	if watch := f.initialized(ss, identity, pass); watch != nil {
		s.sessions.Add(1)
		go func() {
			defer s.sessions.Done()
			watch()
		}()
	}
}

// Close ends every MCP session and stops the catalog goroutine.
func (s *Server) Close() error {
	s.EndCalls()
	s.mu.Lock()
	servers := make([]*mcp.Server, 0, len(s.servers)+2)
	for ps := range s.servers {
		servers = append(servers, ps)
	}
	s.mu.Unlock()
	servers = append(servers, s.smart, s.direct)
	for _, srv := range servers {
		for ss := range srv.Sessions() {
			ss.Close()
		}
	}
	s.sessions.Wait()
	s.cat.close()
	return nil
}

// errShutdown is why calls in flight end when the daemon stops.
var errShutdown = errors.New("mcpproxy is shutting down")

// EndCalls cancels every request in flight on every endpoint, and every
// request that starts later, with an error saying mcpproxy is shutting
// down; it does not wait. Close calls it; the daemon calls it before it
// shuts its HTTP server down, so that the shutdown does not wait on tool
// calls (the SDK closes a session only once its handlers have returned).
// It is safe to call more than once and concurrently.
func (s *Server) EndCalls() { s.endCalls(errShutdown) }

// untilClose returns ctx, also ended by EndCalls, and the function that
// releases it.
func (s *Server) untilClose(ctx context.Context) (context.Context, func()) {
	return endWith(ctx, s.closing)
}

// endWith returns ctx, also ended (with its cause) when end is, and the
// function that releases it. A nil end ends nothing.
func endWith(ctx, end context.Context) (context.Context, func()) {
	if end == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(end, func() { cancel(context.Cause(end)) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// middleware is the receiving middleware of an MCP server whose own is
// own: endOnClose, Options.Middleware, then own, outermost first.
func (s *Server) middleware(own mcp.Middleware) []mcp.Middleware {
	return slices.Concat([]mcp.Middleware{s.endOnClose}, s.opts.Middleware, []mcp.Middleware{own})
}

// notForwarded ends a chain whose own middleware answers tools/call itself;
// only the fast path puts it under one, and only for tools/call.
func notForwarded(_ context.Context, method string, _ mcp.Request) (mcp.Result, error) {
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mcpproxy: " + method + " was not answered"}
}

// endOnClose is the outermost middleware of every MCP server: the
// request's context ends with EndCalls, and a request its client cancelled
// gets no response (see holdBack).
func (s *Server) endOnClose(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		cctx, done := s.untilClose(ctx)
		defer done()
		res, err := next(cctx, method, req)
		if cancelledByClient(ctx) {
			holdBack(req)
		}
		return res, err
	}
}

// cancelledByClient reports whether ctx ended because the client cancelled
// its request (notifications/cancelled, or it went away), rather than by a
// timeout or by EndCalls.
func cancelledByClient(ctx context.Context) bool {
	return ctx.Err() != nil && context.Cause(ctx) == context.Canceled
}

// holdBack ends the stream of a request its client cancelled without the
// response, which the SDK then drops: the MCP specification says that the
// receiver of notifications/cancelled should not answer the request, and
// upstreams built on the TypeScript SDK (server-everything) do not. Only a
// streamable HTTP request has a stream of its own; on the legacy SSE
// transport every answer shares the session's stream, and bindSSE leaves
// the response out of it (see sseSession).
func holdBack(req mcp.Request) {
	if extra := req.GetExtra(); extra != nil && extra.CloseSSEStream != nil {
		extra.CloseSSEStream(mcp.CloseSSEStreamArgs{})
	}
}

// auth refuses cross-origin browser requests (httpauth.CheckOrigin; the
// SDK's handlers add their DNS-rebinding check behind it), then finds the
// caller (see scope.go): an agent token, the API key, or, on a loopback
// listen address without require_mcp_auth, nobody (what desktop MCP clients
// expect). A wrong credential is always refused.
func (s *Server) auth(h http.Handler) http.Handler {
	bound := bindIdentity(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := httpauth.CheckOrigin(r); err != nil {
			httpauth.WriteError(w, err)
			return
		}
		tok, apiKey, err := s.authenticate(r)
		if err != nil {
			httpauth.WriteError(w, err)
			return
		}
		ctx := context.WithValue(r.Context(), identityKey{}, identity(tok, apiKey))
		if tok != nil {
			ctx = context.WithValue(ctx, callerKey{}, tok)
		}
		bound.ServeHTTP(w, r.WithContext(ctx))
	})
}

// splitID splits "server:tool" (or server__tool in direct mode).
func splitID(id, sep string) (server, tool string, ok bool) {
	server, tool, ok = strings.Cut(id, sep)
	if !ok || server == "" || tool == "" {
		return "", "", false
	}
	return server, tool, true
}

// serverReady returns the named server if it can take calls now, or an
// error that says what the caller can do about it.
func serverReady(snap *stateview.Snapshot, name string) (*stateview.Server, error) {
	srv := snap.Get(name)
	if srv == nil {
		return nil, mcpproxy.Errorf(mcpproxy.ENOTFOUND, "unknown server %q%s", name, closestHint(name, snap.Names, ""))
	}
	switch {
	case srv.Quarantined:
		return nil, mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "server %q is quarantined: approve it in the UI, CLI or REST API first", name)
	case !srv.Enabled || srv.State == mcpproxy.StateDisabled:
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "server %q is disabled; a person can enable it (or upstream_servers enable)", name)
	case srv.State == mcpproxy.StateNeedsAuth:
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "server %q needs a person to log in (OAuth) before it can be called: %s", name, srv.LastError)
	case srv.State != mcpproxy.StateReady || srv.Session == nil || srv.Caller == nil:
		msg := "server " + quote(name) + " is not ready (state " + string(srv.State)
		if srv.LastError != "" {
			msg += ", last error: " + srv.LastError
		}
		msg += ")"
		if srv.NextRetryAt != nil {
			msg += "; next retry at " + srv.NextRetryAt.Format("15:04:05") + " UTC"
		}
		msg += "; try again shortly or call upstream_servers with operation restart"
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "%s", msg)
	}
	return srv, nil
}

func quote(s string) string { return `"` + s + `"` }

// listPolicy is what of the config shapes /mcp's tools/list (see
// policyMiddleware).
type listPolicy struct {
	compact, requireIntent, blockDestructive, noManagement bool
}

func listPolicyOf(cfg *config.Config) *listPolicy {
	return &listPolicy{
		compact:          cfg.ToolResponseMode == config.ResponseCompact,
		requireIntent:    cfg.RequireIntent,
		blockDestructive: cfg.BlockDestructiveAgentCalls,
		noManagement:     cfg.DisableManagement,
	}
}

// notifyListPolicy tells /mcp's sessions (and those of /mcp/all and
// /mcp/server/{name}) that their tool list changed when a config reload
// changed what policyMiddleware (and directMiddleware, and the
// pass-through's hideBlocked) make of it. It runs on the catalog's
// goroutine, after each pass. (Pass-through sessions list their upstream's
// tools afresh on each tools/list; their upstreams send their own list
// changes.)
func (s *Server) notifyListPolicy() {
	now := listPolicyOf(s.b.Config())
	old := s.listed.Swap(now)
	if *old != *now {
		// Adding a tool again, unchanged, makes the SDK send every
		// session tools/list_changed.
		s.smart.AddTool(retrieveToolsTool, s.retrieveTools)
	}
	if old.blockDestructive != now.blockDestructive {
		// /mcp/all and the pass-through sessions list only what the
		// policy lets through too. A pass-through session's list comes
		// from its upstream; the placeholder never shows in it.
		s.direct.AddTool(placeholderTool, placeholderHandler)
		s.mu.Lock()
		pass := slices.Collect(maps.Keys(s.servers))
		s.mu.Unlock()
		for _, ps := range pass {
			ps.AddTool(placeholderTool, placeholderHandler)
		}
	}
}

// policyMiddleware fits tools/list to the config and the caller: it hides
// upstream_servers when the config disables management or the caller's
// agent token may not manage, call_tool when require_intent is on, and
// call_tool_destructive when block_destructive_agent_calls is on (their
// handlers refuse them too, for clients that call them anyway); and it
// gives retrieve_tools the description of the tool_response_mode.
func (s *Server) policyMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if method != "tools/list" || err != nil {
			return res, err
		}
		lr, ok := res.(*mcp.ListToolsResult)
		if !ok {
			return res, err
		}
		cfg := s.b.Config()
		tok := callerToken(ctx)
		hide := func(name string) bool {
			switch name {
			case "upstream_servers":
				return cfg.DisableManagement || tok != nil && !tok.Manage
			case "call_tool":
				return cfg.RequireIntent
			case callDestructive:
				return cfg.BlockDestructiveAgentCalls
			}
			return false
		}
		compact := cfg.ToolResponseMode == config.ResponseCompact
		out := *lr
		out.Tools = make([]*mcp.Tool, 0, len(lr.Tools))
		for _, t := range lr.Tools {
			if hide(t.Name) {
				continue
			}
			if compact && t.Name == "retrieve_tools" {
				c := *t
				c.Description = retrieveToolsDescription(config.ResponseCompact)
				t = &c
			}
			out.Tools = append(out.Tools, t)
		}
		return &out, nil
	}
}
