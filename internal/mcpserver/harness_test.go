package mcpserver

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/index"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/metrics"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/store"
	"github.com/mcpproxy/mcpproxy/internal/supervisor"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/token"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestMain(m *testing.M) {
	testupstream.RunIfChild()
	code := m.Run()
	if code == 0 {
		code = checkNoLeaks()
	}
	os.Exit(code)
}

// checkNoLeaks runs after every test and benchmark has cleaned up: no
// goroutine of this module or of the MCP SDK may remain, and no stdio
// upstream (a re-executed test binary) may still run.
func checkNoLeaks() int {
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		leaked := leakedGoroutines()
		children := testupstream.LiveChildren()
		if len(leaked) == 0 && len(children) == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			for _, g := range leaked {
				fmt.Fprintf(os.Stderr, "leaked goroutine:\n%s\n\n", g)
			}
			if len(children) > 0 {
				fmt.Fprintf(os.Stderr, "child processes still running: %v\n", children)
			}
			fmt.Fprintf(os.Stderr, "FAIL: %d leaked goroutines, %d child processes (NumGoroutine=%d)\n",
				len(leaked), len(children), runtime.NumGoroutine())
			return 1
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "checkNoLeaks") {
			continue // this goroutine
		}
		if strings.Contains(g, "github.com/mcpproxy/mcpproxy/internal/") ||
			strings.Contains(g, "github.com/modelcontextprotocol/go-sdk/") ||
			strings.Contains(g, "net/http.(*conn).serve") {
			out = append(out, g)
		}
	}
	return out
}

func waitFor(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	testupstream.WaitFor(tb, timeout, cond, format, args...)
}

// ---- the proxy under test ----

// proxyOptions configures a test proxy.
type proxyOptions struct {
	// Servers are mcpServers entries, written to the config file as JSON.
	Servers []map[string]any
	// Top holds extra top-level config keys (read_only, require_mcp_auth, …).
	Top map[string]any
	// Listen is what mcpserver.Options.Listen says; default 127.0.0.1:0.
	Listen string
	// Backoff of the actors; default a minute, so that a failed server stays
	// in the error state for the length of a test.
	Backoff upstream.Backoff
	// Store opens a store in a temp dir (read_cache, tools_stat).
	Store bool
	// Pins opens tool pins on a store in a temp dir and gives them to
	// the supervisor (approval) and the server (diffs), as the daemon does.
	Pins bool
	// Scan is the pins' suspicious-content scanner (with Pins).
	Scan func(t *mcpproxy.Tool, serverURL string) []mcpproxy.Warning
	// Activity opens an activity log on a store in a temp dir, masking
	// the supervisor's secret values as the daemon does, and gives it to
	// the server.
	Activity bool
	// Metrics counts calls, index updates and connects in p.metrics, as
	// the daemon does.
	Metrics bool
	// Tokens opens agent tokens on a store in a temp dir (p.tokens).
	Tokens bool
	// TokenNow is the tokens' clock; default time.Now.
	TokenNow func() time.Time
	// Middleware is the server's Options.Middleware.
	Middleware []mcp.Middleware
}

const testAPIKey = "test-api-key"

// proxy is mcpproxy's MCP front door wired as the daemon wires it: a
// supervisor with a config writer, a tool index, a progress router, and the
// mcpserver handler on an httptest server.
type proxy struct {
	cfgPath  string
	view     *stateview.View
	sup      *supervisor.Supervisor
	idx      *index.Index
	progress *relay.ProgressRouter
	hub      *relay.Hub
	pins     *pinning.Pins    // nil unless proxyOptions.Pins
	act      *activity.Log    // nil unless proxyOptions.Activity
	metrics  *metrics.Metrics // nil unless proxyOptions.Metrics
	tokens   *token.Tokens    // nil unless proxyOptions.Tokens
	srv      *Server
	ts       *httptest.Server
	URL      string
}

func newProxy(tb testing.TB, opts proxyOptions) *proxy {
	tb.Helper()
	top := map[string]any{
		"listen":          "127.0.0.1:8080",
		"api_key":         testAPIKey,
		"connect_timeout": "10s",
		"mcpServers":      opts.Servers,
	}
	if opts.Servers == nil {
		top["mcpServers"] = []any{}
	}
	for k, v := range opts.Top {
		top[k] = v
	}
	data, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{cfgPath: filepath.Join(tb.TempDir(), "mcp_config.json")}
	if err := os.WriteFile(p.cfgPath, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, _, err := config.Parse(data)
	if err != nil {
		tb.Fatalf("config: %v\n%s", err, data)
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Backoff == (upstream.Backoff{}) {
		opts.Backoff = upstream.Backoff{Base: time.Minute, Max: time.Minute}
	}
	log := slog.New(slog.DiscardHandler)
	// A fuzz target may not log through its *testing.F.
	if _, fuzz := tb.(*testing.F); testing.Verbose() && !fuzz {
		log = slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	writer := config.NewWriter(p.cfgPath)
	tb.Cleanup(func() { writer.Close() })
	p.view = stateview.New()
	p.progress = relay.NewProgressRouter()
	p.hub = relay.NewHub()
	if opts.Pins {
		// Registered before the supervisor, so closed after it.
		p.pins = openPins(tb, p.view, opts.Scan, log)
	}
	p.idx, err = index.New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.idx.Close() })
	var onConnect func(string, bool, error)
	if opts.Metrics {
		p.metrics = metrics.New(metrics.Options{View: p.view, ToolsIndexed: p.idx.Len})
		onConnect = p.metrics.OnConnect
	}
	p.sup = supervisor.New(supervisor.Options{
		View:   p.view,
		Writer: writer,
		Logger: log,
		Actor: upstream.Options{
			PingInterval: time.Minute,
			StableAfter:  time.Second,
			Backoff:      opts.Backoff,
			Progress:     p.progress,
			Hub:          p.hub,
			OnConnect:    onConnect,
			SpoolDir:     tb.TempDir(), // as the daemon runs
		},
		Pins: p.pins,
	})
	tb.Cleanup(func() { p.sup.Close() })
	var st *store.Store
	if opts.Store {
		st, err = store.Open(tb.TempDir(), store.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
	}
	srvOpts := Options{
		Store:      st,
		Backend:    p.sup,
		Index:      p.idx,
		Version:    "test",
		Listen:     opts.Listen,
		Logger:     log,
		Progress:   p.progress,
		Hub:        p.hub,
		Middleware: opts.Middleware,
	}
	if p.pins != nil {
		srvOpts.Pins = p.sup.ApprovedTool
	}
	if opts.Activity {
		// Registered after the supervisor and before the server: the
		// server closes first, then the log, then the supervisor.
		p.act = openActivity(tb, p.sup.Redact, log)
		srvOpts.Activity = p.act
	}
	if p.metrics != nil {
		srvOpts.Metrics = p.metrics
	}
	if opts.Tokens {
		db, err := store.Open(tb.TempDir(), store.Options{LockTimeout: 5 * time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		if p.tokens, err = token.Open(db, token.Options{Now: opts.TokenNow}); err != nil {
			tb.Fatal(err)
		}
		srvOpts.Tokens = p.tokens
	}
	p.srv = New(srvOpts)
	tb.Cleanup(func() { p.srv.Close() })
	p.ts = httptest.NewServer(p.srv)
	tb.Cleanup(func() {
		// Sessions whose clients are gone would hold their streams open.
		p.ts.CloseClientConnections()
		p.ts.Close()
	})
	p.URL = p.ts.URL
	p.sup.Apply(cfg)
	return p
}

// openPins opens tool pins on a fresh store, publishing on view's bus,
// and closes both at cleanup.
func openPins(tb testing.TB, view *stateview.View, scan func(*mcpproxy.Tool, string) []mcpproxy.Warning, log *slog.Logger) *pinning.Pins {
	tb.Helper()
	db, err := store.Open(tb.TempDir(), store.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	pins, err := pinning.Open(db, pinning.Options{Publish: view.Bus.Publish, Scan: scan, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pins.Close() })
	return pins
}

// openActivity opens an activity log on a fresh store and closes both
// at cleanup, the log first.
func openActivity(tb testing.TB, redact func(string) string, log *slog.Logger) *activity.Log {
	tb.Helper()
	db, err := store.Open(tb.TempDir(), store.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	l, err := activity.Open(db, activity.Options{Redact: redact, Logger: log, FlushEvery: 10 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// tbWriter logs through tb while the test runs.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(b []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// waitState waits until the named server is in state st.
// waitQuarantined waits until the named server is quarantined; with
// settled, also until its actor (if it ran) is gone: a quarantined server
// is not started.
func (p *proxy) waitQuarantined(tb testing.TB, name string, settled bool) *stateview.Server {
	tb.Helper()
	var srv *stateview.Server
	waitFor(tb, 15*time.Second, func() bool {
		srv = p.view.Load().Get(name)
		return srv != nil && srv.Quarantined && (!settled || srv.State == mcpproxy.StateQuarantined)
	}, "server %q to be quarantined (settled %v)", name, settled)
	return srv
}

func (p *proxy) waitState(tb testing.TB, name string, st mcpproxy.ServerState) *stateview.Server {
	tb.Helper()
	var srv *stateview.Server
	waitFor(tb, 15*time.Second, func() bool {
		srv = p.view.Load().Get(name)
		return srv != nil && srv.State == st
	}, "server %q to be %s (now %+v)", name, st, func() any {
		if s := p.view.Load().Get(name); s != nil {
			return s.ServerStatus
		}
		return nil
	}())
	return srv
}

// waitGone waits until the named server has left the state view.
func (p *proxy) waitGone(tb testing.TB, name string) {
	tb.Helper()
	waitFor(tb, 15*time.Second, func() bool { return p.view.Load().Get(name) == nil }, "server %q to be removed", name)
}

// waitCatalog waits until every named server is ready and its tools are in
// the index and the direct endpoint's list.
func (p *proxy) waitCatalog(tb testing.TB, names ...string) {
	tb.Helper()
	for _, n := range names {
		srv := p.waitState(tb, n, mcpproxy.StateReady)
		if len(srv.Tools) == 0 {
			tb.Fatalf("server %q is ready with no tools", n)
		}
		want := n + directSep + srv.Tools[0].Name
		waitFor(tb, 10*time.Second, func() bool {
			_, ok := p.srv.cat.set.Load().routes[want]
			return ok
		}, "catalog to list %s", want)
	}
}

// readConfig parses the config file as it is on disk now.
func (p *proxy) readConfig(tb testing.TB) *config.Config {
	tb.Helper()
	cfg, _, err := config.Load(p.cfgPath)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// ---- clients ----

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	base http.RoundTripper
	hdr  http.Header
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.hdr {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

type clientOptions struct {
	// impl is the clientInfo sent at initialize; default test-client 1.
	impl   *mcp.Implementation
	mcp    *mcp.ClientOptions
	header http.Header
	sse    bool // legacy SSE transport instead of streamable HTTP
	// protocol is the MCP version the client asks for; default the SDK's
	// latest.
	protocol string
	roots    []*mcp.Root // the client's roots
}

// testProtocol is the MCP version test clients ask for unless they say
// otherwise; "" is the SDK's latest.
var testProtocol = os.Getenv("MCPPROXY_TEST_PROTOCOL")

// dial connects a go-sdk client to path on the proxy.
func (p *proxy) dial(ctx context.Context, path string, o clientOptions) (*mcp.ClientSession, error) {
	hc := &http.Client{Transport: headerTransport{base: http.DefaultTransport, hdr: o.header}}
	var t mcp.Transport = &mcp.StreamableClientTransport{Endpoint: p.URL + path, HTTPClient: hc, MaxRetries: -1}
	if o.sse {
		t = &mcp.SSEClientTransport{Endpoint: p.URL + path, HTTPClient: hc}
	}
	impl := o.impl
	if impl == nil {
		impl = &mcp.Implementation{Name: "test-client", Version: "1"}
	}
	c := mcp.NewClient(impl, o.mcp)
	c.AddRoots(o.roots...)
	return c.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: cmp.Or(o.protocol, testProtocol)})
}

// connect is dial that fails the test on error and closes the session at
// cleanup.
func (p *proxy) connect(tb testing.TB, path string, o clientOptions) *mcp.ClientSession {
	tb.Helper()
	// The SDK's SSE client keeps its stream on the context given to
	// Connect, so that context lives until cleanup; a timer bounds the
	// handshake.
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(10*time.Second, cancel)
	cs, err := p.dial(ctx, path, o)
	timer.Stop()
	if err != nil {
		cancel()
		tb.Fatalf("connect %s: %v", path, err)
	}
	tb.Cleanup(func() {
		cs.Close()
		cancel()
	})
	return cs
}

// call calls a tool and fails the test on a protocol error (a tool error
// result is returned, not failed on).
func call(tb testing.TB, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	tb.Helper()
	return testupstream.Call(tb, cs, name, args)
}

// textOf joins the text contents of a tool result.
func textOf(res *mcp.CallToolResult) string { return testupstream.Text(res) }

// wantOK fails unless res is a successful result with exactly text want.
func wantOK(tb testing.TB, res *mcp.CallToolResult, want string) {
	tb.Helper()
	if res.IsError || textOf(res) != want {
		tb.Fatalf("result = %q (isError %v), want %q", textOf(res), res.IsError, want)
	}
}

// wantError fails unless res is a tool error whose text contains every
// fragment.
func wantError(tb testing.TB, res *mcp.CallToolResult, fragments ...string) string {
	tb.Helper()
	text := textOf(res)
	if !res.IsError {
		tb.Fatalf("result %q is not an error", text)
	}
	for _, f := range fragments {
		if !strings.Contains(text, f) {
			tb.Errorf("error %q does not mention %q", text, f)
		}
	}
	return text
}

// searchResult is retrieve_tools' JSON.
type searchResult struct {
	Tools   []FoundTool `json:"tools"`
	Total   int         `json:"total"`
	Message string      `json:"message"`
}

func retrieve(tb testing.TB, cs *mcp.ClientSession, query string, limit int) searchResult {
	tb.Helper()
	args := map[string]any{"query": query}
	if limit != 0 {
		args["limit"] = limit
	}
	res := call(tb, cs, "retrieve_tools", args)
	if res.IsError {
		tb.Fatalf("retrieve_tools %q: %s", query, textOf(res))
	}
	var out searchResult
	if err := json.Unmarshal([]byte(textOf(res)), &out); err != nil {
		tb.Fatalf("retrieve_tools result: %v\n%s", err, textOf(res))
	}
	return out
}

func (r searchResult) servers() []string {
	var s []string
	for _, t := range r.Tools {
		if !slices.Contains(s, t.Server) {
			s = append(s, t.Server)
		}
	}
	slices.Sort(s)
	return s
}

// ---- upstreams ----

// streamable starts an in-process streamable HTTP upstream and returns its
// config entry.
func streamable(tb testing.TB, name string, o testupstream.Options, extra map[string]any) map[string]any {
	tb.Helper()
	up := testupstream.StartStreamable(tb, o)
	e := map[string]any{"name": name, "url": up.URL, "protocol": "streamable-http"}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

// stdio returns the config entry of a stdio upstream that re-executes the
// test binary in the given mode.
func stdio(name, mode string) map[string]any {
	path, env := testupstream.Command(mode, nil)
	return map[string]any{"name": name, "command": path, "env": env}
}

// customUpstream serves an MCP server the test builds itself over
// streamable HTTP on 127.0.0.1, and closes it (sessions first) at cleanup.
func customUpstream(tb testing.TB, s *mcp.Server) string {
	tb.Helper()
	return serveUpstream(tb, s, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
}

// serveUpstream serves h (an MCP handler for s) on 127.0.0.1 and closes it,
// sessions first, at cleanup.
func serveUpstream(tb testing.TB, s *mcp.Server, h http.Handler) string {
	tb.Helper()
	ts := httptest.NewServer(h)
	tb.Cleanup(func() {
		for ss := range s.Sessions() {
			ss.Close()
		}
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts.URL
}

// rawPost posts body to url with extra headers and returns the status and
// body. Only for requests that are refused: an accepted initialize would
// open a session nobody closes.
func rawPost(tb testing.TB, url, host string, hdr http.Header, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header[k] = v
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// collector gathers values sent from SDK callbacks.
type collector[T any] struct {
	mu  sync.Mutex
	got []T
}

func (c *collector[T]) add(v T) {
	c.mu.Lock()
	c.got = append(c.got, v)
	c.mu.Unlock()
}

func (c *collector[T]) snapshot() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}
