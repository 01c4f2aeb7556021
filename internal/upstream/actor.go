package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/keeper"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/mcpproxy/mcpproxy/internal/secret"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Options configures an Actor.
type Options struct {
	Spec       mcpproxy.ServerSpec
	Generation uint64
	View       *stateview.View
	Logs       *LogBuffer
	Logger     *slog.Logger

	// ConnectTimeout applies when the spec has none. Default 30s.
	// InstallTimeout replaces it, when longer, for a server started by a
	// package runner (npx, uvx, docker, …; see PackageRunner) until it has
	// been ready once, since its first start may download the package.
	// Default 5m. The owner may change both later with SetTimeouts.
	ConnectTimeout time.Duration
	InstallTimeout time.Duration
	// PingInterval between keep-alive pings while ready; default 30s.
	PingInterval time.Duration
	// StableAfter is how long a connection must stay up before the backoff
	// resets; default 30s.
	StableAfter time.Duration
	// Backoff spaces connect attempts after failures; default 1 s
	// doubling to 5 min, with ±20 % jitter.
	Backoff Backoff
	// Progress receives the upstream's progress notifications; nil drops them.
	Progress *relay.ProgressRouter
	// Hub passes the upstream's requests and notifications to downstream
	// clients; nil means none are offered to the upstream.
	Hub *relay.Hub
	// Gate fingerprints, scans and stamps the approval of listed tools
	// before they are published; nil publishes them as approved.
	Gate ToolGate
	// Hold, if not nil, delays the first connect until it is closed: the
	// supervisor registers every server of a config before any of them
	// starts a process, so a start of hundreds of servers does not starve
	// its own registration (and the HTTP server) of CPU.
	Hold <-chan struct{}
	// Starts, if not nil, is shared by the actors of a supervisor and
	// bounds their connect attempts in flight (see StartLimit).
	Starts *StartLimit
	// OnConnect, if not nil, learns the outcome of each connect attempt
	// that ran to the end (not one cut short by stop or restart); reconnect
	// is true when this actor had been ready before. It runs on the actor's
	// goroutine and must not block.
	OnConnect func(server string, reconnect bool, err error)
	// Auth supplies OAuth tokens to HTTP upstreams; nil sends none.
	Auth Authorizer
	// Version is the client version reported to upstreams; default "dev".
	Version string
	// Spawner starts stdio servers; nil starts them as mcpproxy's own
	// children (keeper.Direct). The daemon passes its keeper (keeper.New),
	// without which a stdio server's own children (npx → node) would
	// outlive a kill -9 of mcpproxy.
	Spawner keeper.Spawner
	// PatientPing is the least deadline of the second ping that decides
	// whether a session whose first ping timed out is dead; default 1m.
	PatientPing time.Duration
	// CloseGrace bounds how long closing a connection may talk to the
	// upstream (the DELETE that ends a streamable HTTP session) before its
	// context is cancelled; default 1s.
	CloseGrace time.Duration
	// RefreshRetry is the wait before retrying an OAuth refresh that
	// failed for a reason other than a refusal; default 10s.
	RefreshRetry time.Duration
	// SpoolDir is where a message of more than SpoolAfter bytes from an
	// upstream (a large tool result) is gathered while it is read, in a
	// file removed once it is whole, so that it costs its size in memory
	// once rather than twice (see sse.Reader.Spool). Empty: in memory.
	SpoolDir string
}

// SpoolAfter is the size of a message beyond which it goes through
// Options.SpoolDir.
const SpoolAfter = 4 << 20

// ToolGate decides which of an upstream's tools are usable (see package
// pinning). Prepare runs outside any lock; Stamp runs inside the state
// view's update and must not block.
type ToolGate interface {
	Prepare(server, serverURL string, tools []mcpproxy.Tool) []mcpproxy.Tool
	Stamp(server string, quarantined bool, tools []mcpproxy.Tool) []mcpproxy.Tool
}

// Actor owns one upstream server's connection. Create it with Start.
type Actor struct {
	opts    Options
	spec    *mcpproxy.ServerSpec
	log     *slog.Logger
	restart chan struct{}
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	hurry   chan struct{} // closed by Shutdown
	hurried sync.Once
	// redactor masks the secret values of the current connection attempt.
	redactor atomic.Pointer[secret.Redactor]
	// connectTimeout and installTimeout are the deadlines of the next
	// connection attempt, in nanoseconds (see Options).
	connectTimeout, installTimeout atomic.Int64
}

// Start starts an actor's goroutine; it connects at once.
func Start(opts Options) *Actor {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = defaultConnectTimeout
	}
	if opts.Spec.ConnectTimeout > 0 {
		opts.ConnectTimeout = opts.Spec.ConnectTimeout.D()
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 30 * time.Second
	}
	if opts.StableAfter <= 0 {
		opts.StableAfter = 30 * time.Second
	}
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = defaultBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Version == "" {
		opts.Version = defaultVersion
	}
	if opts.PatientPing <= 0 {
		opts.PatientPing = time.Minute
	}
	if opts.CloseGrace <= 0 {
		opts.CloseGrace = defaultCloseGrace
	}
	if opts.RefreshRetry <= 0 {
		opts.RefreshRetry = 10 * time.Second
	}
	if opts.Logs == nil {
		opts.Logs = NewLogBuffer("", 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Actor{
		opts:    opts,
		spec:    &opts.Spec,
		log:     opts.Logger.With("server", opts.Spec.Name),
		restart: make(chan struct{}, 1),
		changed: make(chan struct{}, 1),
		cancel:  cancel,
		done:    make(chan struct{}),
		hurry:   make(chan struct{}),
	}
	a.connectTimeout.Store(int64(opts.ConnectTimeout))
	a.SetTimeouts(0, opts.InstallTimeout)
	go a.run(ctx)
	return a
}

// Deadlines of a connection attempt when neither the spec nor the owner
// gives one.
const (
	defaultConnectTimeout = 30 * time.Second
	defaultInstallTimeout = 5 * time.Minute
)

// SetTimeouts changes the connection deadlines (see Options) from the next
// connection attempt on (a restart, a reconnect or the next retry): a
// changed global connect_timeout or install_timeout reaches running servers
// without restarting them. A connect deadline is ignored for a server whose
// spec has its own; d <= 0 leaves that deadline as it is.
func (a *Actor) SetTimeouts(connect, install time.Duration) {
	if connect > 0 && a.opts.Spec.ConnectTimeout <= 0 {
		a.connectTimeout.Store(int64(connect))
	}
	if install > 0 {
		a.installTimeout.Store(int64(install))
	} else if a.installTimeout.Load() == 0 {
		a.installTimeout.Store(int64(defaultInstallTimeout))
	}
}

// attemptTimeout is the deadline of a connection attempt starting now;
// first says the server has not been ready yet in this actor's life.
func (a *Actor) attemptTimeout(first bool) time.Duration {
	d := time.Duration(a.connectTimeout.Load())
	if first && PackageRunner(a.opts.Spec.Command) {
		d = max(d, time.Duration(a.installTimeout.Load()))
	}
	return d
}

// PackageRunner reports whether command (a path or a name, with or without
// a Windows extension) is a program that may fetch what it runs before
// running it: npx, pnpx, bunx, uvx, pipx, uv, pnpm, yarn, bun, deno, docker,
// podman.
func PackageRunner(command string) bool {
	base := strings.ToLower(filepath.Base(strings.ReplaceAll(command, "\\", "/")))
	for _, ext := range []string{".exe", ".cmd", ".bat", ".ps1"} {
		base = strings.TrimSuffix(base, ext)
	}
	switch base {
	case "npx", "pnpx", "bunx", "uvx", "pipx", "uv", "pnpm", "yarn", "bun", "deno", "docker", "podman":
		return true
	}
	return false
}

// Restart asks the actor to drop its connection (or its wait for a retry)
// and connect again now. It never blocks.
func (a *Actor) Restart() {
	select {
	case a.restart <- struct{}{}:
	default:
	}
}

// Stop cancels the actor without waiting; Wait waits for it.
func (a *Actor) Stop() { a.cancel() }

// Shutdown is Stop for a daemon that is exiting: a stdio child that
// outlives its closed stdin gets SIGTERM and then SIGKILL after hurryGrace
// instead of the usual grace periods, so that shutdown is short whatever
// the child does. It may follow Stop, even while the child is stopping.
func (a *Actor) Shutdown() {
	a.hurried.Do(func() { close(a.hurry) })
	a.cancel()
}

// Wait returns when the actor's goroutine and everything it owns (session,
// child process) are gone.
func (a *Actor) Wait() { <-a.done }

// Done is closed when the actor has finished.
func (a *Actor) Done() <-chan struct{} { return a.done }

func (a *Actor) update(fn func(s *stateview.Server)) {
	a.opts.View.Update(a.spec.Name, a.opts.Generation, fn)
}

// conn is one live connection.
type conn struct {
	session *mcp.ClientSession
	proc    *process // stdio only
	proto   mcpproxy.Protocol
	cancel  context.CancelFunc      // ends the connection's context; set once connected
	gate    *authGate               // HTTP with OAuth only
	lean    stateview.ToolCaller    // calls tools beside the session, if the transport can
	open    stateview.SessionOpener // HTTP only
	grace   time.Duration           // see Options.CloseGrace
}

// opener opens sessions of an HTTP upstream beside the connection's own,
// within the connection's lifetime.
type opener struct {
	life  context.Context
	spec  *mcpproxy.ServerSpec // placeholders expanded
	gate  *authGate
	proto mcpproxy.Protocol
}

func (o *opener) OpenSession(ctx context.Context, client *mcp.Client, progress func(context.Context, *mcp.ProgressNotificationParams)) (*mcp.ClientSession, error) {
	if o.life.Err() != nil {
		return nil, errors.New("the upstream's connection has ended")
	}
	hc := httpClient(o.life, o.spec, progress, o.gate)
	t := streamableTransport(o.spec, hc)
	if o.proto == mcpproxy.ProtocolSSE {
		t = sseTransport(o.spec, hc)
	}
	// The SDK's SSE transport keeps its stream on the context given to
	// Connect, so that context outlives ctx, which bounds the handshake
	// only. The session ends when it is closed, or with the connection,
	// whose lifetime ends the HTTP client's requests.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	cs, err := client.Connect(sctx, t, &mcp.ClientSessionOptions{ProtocolVersion: upstreamProtocol})
	if !stop() || err != nil {
		cancel()
		if cs != nil {
			cs.Close()
		}
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	return cs, nil // sctx is not cancelled: nothing but the session holds it
}

// caller is what tool calls on the connection go through.
func (c *conn) caller() stateview.ToolCaller {
	if c.lean != nil {
		return c.lean
	}
	return c.session
}

// Defaults of Options and ConnectOptions.
const (
	defaultVersion    = "dev"
	defaultCloseGrace = time.Second
)

func (c *conn) close() {
	if c.cancel != nil {
		t := time.AfterFunc(c.grace, c.cancel)
		defer t.Stop()
	}
	if c.proc != nil {
		// Stop the child first: that ends the session's reads, which
		// retires the calls it has in flight. The SDK's Close waits for
		// those, however long their own deadlines, and for a write
		// blocked on a child that stopped reading.
		c.proc.stop()
	}
	c.session.Close()
	if c.cancel != nil {
		c.cancel()
	}
}

func (a *Actor) run(ctx context.Context) {
	defer close(a.done)
	if a.opts.Hold != nil {
		select {
		case <-a.opts.Hold:
		case <-ctx.Done():
			return
		}
	}
	attempt := 0
	wasReady := false
	for {
		installing := !wasReady && PackageRunner(a.opts.Spec.Command)
		a.update(func(s *stateview.Server) {
			s.State = mcpproxy.StateConnecting
			s.Installing = installing
			s.NextRetryAt = nil
			s.Session = nil
			s.Caller = nil
			s.Opener = nil
			s.PID = 0
		})
		release, err := a.opts.Starts.Enter(ctx)
		if err != nil {
			return
		}
		c, tools, err := a.connect(ctx, !wasReady)
		release()
		if ctx.Err() != nil {
			if c != nil {
				c.close()
			}
			return
		}
		if a.opts.OnConnect != nil && !errors.Is(err, errRestart) {
			a.opts.OnConnect(a.opts.Spec.Name, wasReady, err)
		}
		if err == nil {
			wasReady = true
			readyAt := time.Now()
			err = a.serve(ctx, c, tools)
			if ctx.Err() != nil {
				return
			}
			if time.Since(readyAt) >= a.opts.StableAfter {
				attempt = 0
			}
			if err == nil { // restart requested
				attempt = 0
				continue
			}
		} else if errors.Is(err, errRestart) {
			attempt = 0
			continue
		}
		if na, ok := isNeedsAuth(err); ok {
			// Retrying cannot help: wait for a login (which restarts
			// the actor) or a person's restart.
			attempt = 0
			if !a.waitForLogin(ctx, na) {
				return
			}
			continue
		}
		attempt++
		delay := a.opts.Backoff.Delay(attempt, nil)
		now := time.Now().UTC()
		next := now.Add(delay)
		msg := mcpproxy.ShortError(a.redactor.Load().Redact(err.Error()))
		a.log.Warn("upstream failed", "error", msg, "retry_in", delay.Round(time.Millisecond), "attempt", attempt)
		a.update(func(s *stateview.Server) {
			s.State = mcpproxy.StateError
			s.Installing = false
			s.LastError = msg
			s.LastErrorAt = &now
			s.RetryCount = attempt
			s.NextRetryAt = &next
			s.Session = nil
			s.Caller = nil
			s.Opener = nil
			s.PID = 0
		})
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-a.restart:
			t.Stop()
			attempt = 0
		case <-t.C:
		}
	}
}

var errRestart = errors.New("restart requested")

// waitForLogin publishes needs_auth and waits for a restart (a completed
// login asks for one). It reports false when the actor is stopped.
func (a *Actor) waitForLogin(ctx context.Context, na *NeedsAuthError) bool {
	now := time.Now().UTC()
	msg := mcpproxy.ShortError(a.redactor.Load().Redact(na.Error()))
	a.log.Warn("upstream needs an OAuth login", "reason", a.redactor.Load().Redact(na.Reason))
	a.update(func(s *stateview.Server) {
		s.State = mcpproxy.StateNeedsAuth
		s.LastError = msg
		s.LastErrorAt = &now
		s.RetryCount = 0
		s.NextRetryAt = nil
		s.Session = nil
		s.Caller = nil
		s.Opener = nil
		s.PID = 0
	})
	select {
	case <-ctx.Done():
		return false
	case <-a.restart:
		return true
	}
}

// connect dials the upstream, initializes and lists its tools within the
// connect deadline (the install deadline for a package runner that has not
// been ready yet: first). A restart request aborts it.
//
// The context handed to the SDK lives as long as the connection, not just
// the handshake: the SDK ties an SSE stream to the context given to Connect.
// The deadline is enforced by cancelling that context from a timer instead.
// Stopping the actor cancels it only while connecting: once connected, the
// connection's close must still reach the upstream (see conn.close).
func (a *Actor) connect(ctx context.Context, first bool) (*conn, []mcpproxy.Tool, error) {
	deadline := a.attemptTimeout(first)
	life, lifeCancel := context.WithCancel(context.WithoutCancel(ctx))
	stopOnCancel := context.AfterFunc(ctx, lifeCancel)
	defer stopOnCancel()
	var timedOut atomic.Bool
	timer := time.AfterFunc(deadline, func() {
		timedOut.Store(true)
		lifeCancel()
	})
	restarted := make(chan struct{})
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-a.restart:
			close(restarted)
			lifeCancel()
		case <-stopWatch:
		}
	}()
	c, tools, err := a.dial(life)
	fired := !timer.Stop()
	close(stopWatch)
	<-watchDone
	select {
	case <-restarted:
		err = errRestart
	default:
		if err == nil && fired {
			err = context.DeadlineExceeded
		}
	}
	if err != nil {
		if c != nil {
			c.close()
		}
		lifeCancel()
		if timedOut.Load() && ctx.Err() == nil && !errors.Is(err, errRestart) {
			err = fmt.Errorf("connect: timed out after %s (%w)", deadline, err)
		}
		return nil, nil, err
	}
	c.cancel = lifeCancel
	return c, tools, nil
}

func (a *Actor) newClient() *mcp.Client {
	opts := &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{},
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			// Usually too late, and then a duplicate the router drops: the
			// transport's tap has delivered it as it was read.
			a.opts.Progress.Deliver(ctx, req.Params)
		},
		ToolListChangedHandler: func(ctx context.Context, req *mcp.ToolListChangedRequest) {
			a.notified(ctx, "notifications/tools/list_changed", req.Params)
		},
	}
	if a.opts.Hub != nil {
		// With a hub, mcpproxy can pass requests for sampling and
		// elicitation to the downstream client whose call caused them, so
		// it offers them. Not roots: this one session serves every client,
		// and no client's roots are the server's; a server that asks for
		// roots would take one client's (or none) in place of the
		// directories its own configuration gives it.
		opts.Capabilities = &mcp.ClientCapabilities{
			Sampling:    &mcp.SamplingCapabilities{},
			Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}},
		}
		opts.PromptListChangedHandler = func(ctx context.Context, req *mcp.PromptListChangedRequest) {
			a.notified(ctx, "notifications/prompts/list_changed", req.Params)
		}
		opts.ResourceListChangedHandler = func(ctx context.Context, req *mcp.ResourceListChangedRequest) {
			a.notified(ctx, "notifications/resources/list_changed", req.Params)
		}
		opts.ResourceUpdatedHandler = func(ctx context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			a.notified(ctx, "notifications/resources/updated", req.Params)
		}
		opts.LoggingMessageHandler = func(ctx context.Context, req *mcp.LoggingMessageRequest) {
			a.notified(ctx, "notifications/message", req.Params)
		}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "mcpproxy", Version: a.opts.Version}, opts)
	if a.opts.Hub != nil {
		// The upstream's requests are answered here, from upstreamRequests,
		// before the SDK's own handling (its elicitation schema check
		// rejects some valid schemas, and roots come from the downstream
		// client, not from a static list), as traffic answers them on the
		// calls beside the session.
		c.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
			return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				if h, ok := upstreamRequests[method]; ok {
					return h.answer(ctx, a.opts.Hub, a.spec.Name, req.GetParams())
				}
				return next(ctx, method, req)
			}
		})
	}
	return c
}

// upstreamRequest is how mcpproxy answers one method an upstream may ask
// of its client: the type of its params, and the answer, from the client
// whose call caused it (see relay.Hub).
type upstreamRequest struct {
	params func() mcp.Params
	answer func(ctx context.Context, hub *relay.Hub, server string, p mcp.Params) (mcp.Result, error)
}

// upstreamRequests is the one table of the requests an upstream may send,
// used by the SDK session (newClient) and by the calls beside it (traffic).
// ping is answered by the SDK session itself, and by traffic.
var upstreamRequests = map[string]upstreamRequest{
	"sampling/createMessage": {
		params: func() mcp.Params { return new(mcp.CreateMessageWithToolsParams) },
		answer: func(ctx context.Context, hub *relay.Hub, server string, p mcp.Params) (mcp.Result, error) {
			cp, _ := p.(*mcp.CreateMessageWithToolsParams)
			return result(hub.CreateMessage(ctx, server, cp))
		},
	},
	"elicitation/create": {
		params: func() mcp.Params { return new(mcp.ElicitParams) },
		answer: func(ctx context.Context, hub *relay.Hub, server string, p mcp.Params) (mcp.Result, error) {
			ep, _ := p.(*mcp.ElicitParams)
			return result(hub.Elicit(ctx, server, ep))
		},
	},
	"roots/list": {
		params: func() mcp.Params { return new(mcp.ListRootsParams) },
		answer: func(ctx context.Context, hub *relay.Hub, server string, p mcp.Params) (mcp.Result, error) {
			rp, _ := p.(*mcp.ListRootsParams)
			return result(hub.ListRoots(ctx, server, rp))
		},
	},
}

// result turns a typed answer into an mcp.Result without a typed nil.
func result[R mcp.Result](r R, err error) (mcp.Result, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

// upstreamNotifications are the notifications of an upstream that go to its
// downstream clients, with the type of their params; progress goes through
// the progress router instead.
var upstreamNotifications = map[string]func() mcp.Params{
	"notifications/tools/list_changed":     func() mcp.Params { return new(mcp.ToolListChangedParams) },
	"notifications/prompts/list_changed":   func() mcp.Params { return new(mcp.PromptListChangedParams) },
	"notifications/resources/list_changed": func() mcp.Params { return new(mcp.ResourceListChangedParams) },
	"notifications/resources/updated":      func() mcp.Params { return new(mcp.ResourceUpdatedNotificationParams) },
	"notifications/message":                func() mcp.Params { return new(mcp.LoggingMessageParams) },
}

// notified handles a notification of upstreamNotifications, from the SDK
// session or from a call beside it: a changed tool list is re-listed, and
// every notification goes to the downstream clients.
func (a *Actor) notified(ctx context.Context, method string, p mcp.Params) {
	if method == "notifications/tools/list_changed" {
		select {
		case a.changed <- struct{}{}:
		default:
		}
	}
	a.opts.Hub.Notify(ctx, a.spec.Name, method, p)
}

func (a *Actor) dial(ctx context.Context) (*conn, []mcpproxy.Tool, error) {
	// ${env:NAME} placeholders are expanded here, at connect time, into a
	// copy that lives only as long as this attempt; the expanded values
	// are masked in everything the actor reports.
	expanded, red, err := secret.ExpandSpec(*a.spec, os.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	a.redactor.Store(red)
	a.opts.Logs.SetRedactor(red)
	return dialSpec(ctx, &expanded, dialer{
		auth:      a.opts.Auth,
		logs:      a.opts.Logs,
		progress:  a.opts.Progress,
		newClient: a.newClient,
		traffic:   a.traffic(),
		hurry:     a.hurry,
		spawn:     a.opts.Spawner,
		grace:     a.opts.CloseGrace,
		spool:     a.opts.SpoolDir,
	})
}

// traffic answers what the upstream sends during a tool call mcpproxy
// makes beside the SDK's session (see leanHTTP), from the same tables as
// the session's handlers in newClient.
func (a *Actor) traffic() *traffic {
	return &traffic{
		request: func(ctx context.Context, method string, params json.RawMessage) (any, error) {
			if method == "ping" {
				return struct{}{}, nil
			}
			h, ok := upstreamRequests[method]
			if !ok {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "method not found: " + method}
			}
			p := h.params()
			if err := decodeParams(params, p); err != nil {
				return nil, err
			}
			return h.answer(ctx, a.opts.Hub, a.spec.Name, p)
		},
		notify: func(ctx context.Context, method string, params json.RawMessage) {
			newParams, ok := upstreamNotifications[method]
			if !ok {
				return // progress: the transport's tap delivered it
			}
			if p := newParams(); decodeParams(params, p) == nil {
				a.notified(ctx, method, p)
			}
		},
	}
}

// decodeParams decodes a message's params; absent params leave p as is.
func decodeParams(raw json.RawMessage, p any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, p); err != nil {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid params: " + err.Error()}
	}
	return nil
}

// dialer is what a connection to one server needs besides its spec.
type dialer struct {
	auth      Authorizer            // may be nil
	logs      *LogBuffer            // stdio: the child's stderr
	progress  *relay.ProgressRouter // may be nil
	newClient func() *mcp.Client
	traffic   *traffic        // nil: tool calls go through the SDK session
	hurry     <-chan struct{} // stdio: closed when stopping the child must be quick
	spawn     keeper.Spawner  // stdio: see Options.Spawner
	grace     time.Duration   // see Options.CloseGrace
	spool     string          // see Options.SpoolDir
}

// dialSpec connects to the server of spec (placeholders expanded), over
// its transport (auto: streamable HTTP, then SSE), initializes and lists
// its tools. ctx is the connection's lifetime.
func dialSpec(ctx context.Context, spec *mcpproxy.ServerSpec, d dialer) (*conn, []mcpproxy.Tool, error) {
	switch p := spec.Transport(); p {
	case mcpproxy.ProtocolStdio:
		t := &stdioTransport{spec: spec, logs: d.logs, progress: d.progress, hurry: d.hurry, spawn: d.spawn, spool: d.spool}
		c, tools, err := d.handshake(ctx, t, p, func() *process { return t.proc })
		if c != nil {
			c.lean = t.conn
		}
		return c, tools, err
	}
	gate := newAuthGate(d.auth, spec)
	hc := httpClient(ctx, spec, deliverRead(d.progress), gate)
	var c *conn
	var tools []mcpproxy.Tool
	var err error
	switch p := spec.Transport(); p {
	case mcpproxy.ProtocolStreamableHTTP:
		c, tools, err = d.handshake(ctx, streamableTransport(spec, hc), p, nil)
	case mcpproxy.ProtocolSSE:
		c, tools, err = d.handshake(ctx, sseTransport(spec, hc), p, nil)
	default: // auto with a URL
		c, tools, err = d.handshake(ctx, streamableTransport(spec, hc), mcpproxy.ProtocolStreamableHTTP, nil)
		if err != nil && ctx.Err() == nil && gate.err() == nil {
			var err2 error
			c, tools, err2 = d.handshake(ctx, sseTransport(spec, hc), mcpproxy.ProtocolSSE, nil)
			if err2 != nil {
				err = fmt.Errorf("streamable HTTP: %v; SSE: %w", err, err2)
			} else {
				err = nil
			}
		}
	}
	if err != nil {
		if aerr := gate.err(); aerr != nil {
			return nil, nil, aerr
		}
		return nil, nil, err
	}
	c.gate = gate
	c.open = &opener{life: ctx, spec: spec, gate: gate, proto: c.proto}
	if c.proto == mcpproxy.ProtocolStreamableHTTP && d.traffic != nil {
		c.lean = &leanHTTP{client: hc, url: spec.URL, session: c.session, traffic: d.traffic, spool: d.spool}
	}
	return c, tools, nil
}

// upstreamProtocol is the MCP version mcpproxy asks upstreams for. The SDK
// would otherwise offer 2026-07-28, under which a server may not send
// sampling or elicitation requests while serving a call and takes the log
// level from each request rather than from logging/setLevel: upstreams
// written for the earlier versions would then fail sampling and elicitation
// and drop log messages for every client behind the proxy.
const upstreamProtocol = "2025-11-25"

func (d dialer) handshake(ctx context.Context, t mcp.Transport, proto mcpproxy.Protocol, proc func() *process) (*conn, []mcpproxy.Tool, error) {
	cs, err := d.newClient().Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: upstreamProtocol})
	var p *process
	if proc != nil {
		p = proc()
	}
	if err != nil {
		if p != nil {
			p.stop()
			if perr := p.exitError(); perr != nil {
				err = fmt.Errorf("%w; %v", err, perr)
			}
		}
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	c := &conn{session: cs, proc: p, proto: proto, grace: d.grace}
	tools, err := listTools(ctx, cs)
	if err != nil {
		c.close()
		return nil, nil, fmt.Errorf("list tools: %w", err)
	}
	return c, tools, nil
}

func listTools(ctx context.Context, cs *mcp.ClientSession) ([]mcpproxy.Tool, error) {
	if cs.InitializeResult() != nil && cs.InitializeResult().Capabilities != nil &&
		cs.InitializeResult().Capabilities.Tools == nil {
		return nil, nil
	}
	var tools []mcpproxy.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		tools = append(tools, relay.ConvertTool(t))
	}
	return tools, nil
}

// prepare fingerprints and scans a fresh tool list, outside the view's lock.
func (a *Actor) prepare(tools []mcpproxy.Tool) []mcpproxy.Tool {
	if a.opts.Gate == nil {
		return tools
	}
	return a.opts.Gate.Prepare(a.spec.Name, a.spec.URL, tools)
}

// setTools stamps tools' approval for the server's current quarantine flag
// and installs them; it runs inside the view's update.
func (a *Actor) setTools(s *stateview.Server, tools []mcpproxy.Tool) {
	if a.opts.Gate != nil {
		tools = a.opts.Gate.Stamp(a.spec.Name, s.Quarantined, tools)
	} else {
		stamped := make([]mcpproxy.Tool, len(tools))
		for i := range tools {
			stamped[i] = tools[i]
			stamped[i].Approval = mcpproxy.ApprovalApproved
		}
		tools = stamped
	}
	stateview.SetTools(s, tools)
}

// serve publishes the connection as ready and keeps it: re-lists tools on
// list_changed, pings, and returns when the session ends (an error), on a
// restart request (nil) or when ctx is cancelled.
func (a *Actor) serve(ctx context.Context, c *conn, tools []mcpproxy.Tool) error {
	defer c.close()
	// Drain list_changed signals that arrived during the handshake: the list
	// we have is at least as new.
	select {
	case <-a.changed:
	default:
	}
	tools = a.prepare(tools)
	now := time.Now().UTC()
	init := c.session.InitializeResult()
	pid := 0
	if c.proc != nil {
		pid = c.proc.pid()
	}
	a.update(func(s *stateview.Server) {
		s.State = mcpproxy.StateReady
		s.Installing = false
		s.Protocol = c.proto
		s.Session = c.session
		s.Caller = c.caller()
		s.Opener = c.open
		s.ConnectedAt = &now
		s.NextRetryAt = nil
		a.setTools(s, tools)
		if init != nil {
			if init.ServerInfo != nil {
				s.ServerInfo = &mcpproxy.ServerInfo{Name: init.ServerInfo.Name, Version: init.ServerInfo.Version}
			}
			s.ProtocolVersion = init.ProtocolVersion
		}
		s.PID = pid
	})
	a.log.Info("upstream ready", "tools", len(tools), "protocol", c.proto)

	ended := make(chan error, 1)
	go func() { ended <- c.session.Wait() }()
	ping := time.NewTicker(a.opts.PingInterval)
	defer ping.Stop()
	// The OAuth token is refreshed ahead of its expiry by a timer of this
	// loop, so it stops with the connection.
	refresh := time.NewTimer(0)
	refresh.Stop()
	defer refresh.Stop()
	var refreshC <-chan time.Time
	schedule := func(d time.Duration) {
		refresh.Reset(max(d, 0))
		refreshC = refresh.C
	}
	if at, ok := c.gate.refreshDue(); ok {
		schedule(time.Until(at))
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.restart:
			a.log.Info("upstream restart requested")
			return nil
		case <-refreshC:
			refreshC = nil
			rctx, cancel := context.WithTimeout(ctx, a.attemptTimeout(false))
			err := c.gate.refresh(rctx)
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if _, ok := isNeedsAuth(err); ok {
				return err
			}
			if err != nil {
				// The authorization server may be down for a moment;
				// the token is still good for a fifth of its life.
				a.log.Warn("oauth refresh failed; retrying", "error", a.redactor.Load().Redact(err.Error()))
				schedule(a.opts.RefreshRetry)
				continue
			}
			if at, ok := c.gate.refreshDue(); ok {
				schedule(time.Until(at))
			}
		case err := <-ended:
			if aerr := c.gate.err(); aerr != nil {
				return aerr
			}
			if c.proc != nil {
				c.proc.stop()
				if perr := c.proc.exitError(); perr != nil {
					return fmt.Errorf("connection lost: %v", perr)
				}
			}
			if err == nil {
				err = errors.New("session closed")
			}
			return fmt.Errorf("connection lost: %w", err)
		case <-a.changed:
			lctx, cancel := context.WithTimeout(ctx, a.attemptTimeout(false))
			tools, err := listTools(lctx, c.session)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if perr := c.proc.exitedWithin(stdinGrace); perr != nil {
					return fmt.Errorf("connection lost: %v", perr)
				}
				return fmt.Errorf("re-list tools after list_changed: %w", err)
			}
			tools = a.prepare(tools)
			a.update(func(s *stateview.Server) { a.setTools(s, tools) })
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, min(a.attemptTimeout(false), 10*time.Second))
			err := c.session.Ping(pctx, nil)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// A crash can fail a ping before the session notices
				// the end; report it the same way.
				if perr := c.proc.exitedWithin(stdinGrace); perr != nil {
					return fmt.Errorf("connection lost: %v", perr)
				}
				if aerr := c.gate.err(); aerr != nil {
					return aerr
				}
				// A busy connection is not a dead one: the answer to a
				// ping queues behind a large result being sent or
				// decoded. Give it one patient second ping before
				// dropping a session that may only be slow.
				a.log.Warn("upstream ping timed out; trying once more with a longer deadline", "error", err)
				pctx, cancel = context.WithTimeout(ctx, max(a.attemptTimeout(false), a.opts.PatientPing))
				err = c.session.Ping(pctx, nil)
				cancel()
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if aerr := c.gate.err(); aerr != nil {
						return aerr
					}
					return fmt.Errorf("ping: %w", err)
				}
			}
		}
	}
}
