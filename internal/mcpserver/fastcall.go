package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fastPath answers the plainest tools/call requests of an open streamable
// HTTP session itself, in front of the SDK's handler, and hands everything
// else to that handler unchanged.
//
// Why: the SDK's server decodes each request four times, each time with a
// fresh 32 KiB buffer, and passes it between three goroutines before a tool
// handler runs; it then writes the answer as a server-sent event. What that
// cost the daemon per call, and what this path saves, is measured in
// docs/BENCHMARKS.md (the fastPath entry under the call benchmarks).
//
// What is plain: a POST on a session the SDK initialized (for a client that
// declared sampling or elicitation, at version 2025-06-18 or later), with
// the headers the SDK would accept (loopback Host, JSON body, Accept of
// both JSON and event streams, the session's protocol version, no
// Last-Event-ID), holding one tools/call request of a tool the path
// answers, with a name, arguments and at most _meta. The call goes through
// the endpoint's receiving middlewares, the ones the SDK runs, so nothing
// the proxy checks or records per request is skipped here. The answer is
// the JSON-RPC response as application/json, which the transport allows
// for any POST, or an event stream when the upstream sends the client
// progress or requests during the call (see callStream); a call the client
// cancelled gets none (as through the SDK: see holdBack). A
// notifications/cancelled for a call answered here cancels it; one for
// anything else goes to the SDK.
//
// The SDK closes a session after SessionTimeout without a POST it handled;
// so when fastIdle has passed since the last request the SDK handled for a
// session, a call answered here first has the SDK answer a ping of the
// session (keepAlive), which restarts its clock.
type fastPath struct {
	next http.Handler // the SDK's handler
	// fits reports whether this path answers a tools/call of a session;
	// handler is then what answers it: the endpoint's receiving
	// middlewares, the same ones the SDK runs, around its tool.
	fits    func(fs *fastSession, req *mcp.CallToolRequest) bool
	handler func(fs *fastSession) mcp.MethodHandler

	mu       sync.Mutex
	sessions map[string]*fastSession // guarded by mu; by session id

	served atomic.Uint64 // calls answered here (tests)
	off    atomic.Bool   // tests: hand everything to the SDK
	idle   atomic.Int64  // nanoseconds: fastIdle; tests shorten it
	pings  atomic.Uint64 // keepAlive pings the SDK answered (tests)
}

type fastSession struct {
	ss *mcp.ServerSession
	// pass is the pass-through upstream of a session of
	// /mcp/server/{name}; nil on the other endpoints.
	pass    *passRoute
	version string // the protocol version the client asked for and uses
	// identity is the caller that created the session (see identity in
	// scope.go); a request from another goes to the SDK, which refuses it.
	identity string
	lastSDK  atomic.Int64  // unix nanoseconds: the end of the last POST the SDK handled
	gone     chan struct{} // closed when the session has ended

	mu       sync.Mutex
	inflight map[string]context.CancelFunc // guarded by mu; by raw request id
	asked    map[string]chan fastReply     // guarded by mu; requests sent on calls' streams, by id
	asks     atomic.Uint64                 // the last such request's number
}

// fastIdle bounds how long a session may go on here without a request the
// SDK handles: well within streamOpts.SessionTimeout, so that a call that
// starts here finishes before the SDK could think the session idle.
const fastIdle = 5 * time.Minute

// maxFastBody bounds a request answered here; a larger one goes to the SDK.
const maxFastBody = 1 << 20

func newFastPath(next http.Handler, fits func(*fastSession, *mcp.CallToolRequest) bool, handler func(*fastSession) mcp.MethodHandler) *fastPath {
	f := &fastPath{next: next, fits: fits, handler: handler, sessions: map[string]*fastSession{}}
	f.idle.Store(int64(fastIdle))
	return f
}

// chain is the handler that middlewares, outermost first, make of h, as the
// SDK's AddReceivingMiddleware makes them of a server's own.
func chain(h mcp.MethodHandler, middlewares ...mcp.Middleware) mcp.MethodHandler {
	for _, m := range slices.Backward(middlewares) {
		h = m(h)
	}
	return h
}

// initialized registers a session once the SDK has initialized it, and
// returns what forgets it when the session ends (to run on a goroutine), or
// nil. Sessions of protocol versions later than the ones this path knows
// are left to the SDK. (A legacy SSE session of the same server registers
// too; its id in a POST here would only let its own client call the same
// tools it may call anyway.)
func (f *fastPath) initialized(ss *mcp.ServerSession, identity string, pass *passRoute) (watch func()) {
	p := ss.InitializeParams()
	if p == nil || ss.ID() == "" || p.ProtocolVersion == "" || p.ProtocolVersion > "2025-11-25" {
		return nil
	}
	// An upstream may ask a client that can sample or elicit for that
	// during a call; the client answers such a request in a POST of its
	// own, which this path must read (see fastSession.reply). Versions
	// before 2025-06-18 let the client batch it with other messages, which
	// this path leaves to the SDK.
	if c := p.Capabilities; c != nil && (c.Sampling != nil || c.Elicitation != nil) && p.ProtocolVersion < "2025-06-18" {
		return nil
	}
	fs := &fastSession{ss: ss, pass: pass, version: p.ProtocolVersion, identity: identity,
		inflight: map[string]context.CancelFunc{}, asked: map[string]chan fastReply{}, gone: make(chan struct{})}
	fs.lastSDK.Store(time.Now().UnixNano())
	f.mu.Lock()
	f.sessions[ss.ID()] = fs
	f.mu.Unlock()
	return func() {
		ss.Wait()
		close(fs.gone)
		f.mu.Lock()
		delete(f.sessions, ss.ID())
		f.mu.Unlock()
	}
}

// fastMessage is the JSON-RPC message this path reads.
type fastMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"` // of a response
	Error   json.RawMessage `json:"error"`  // of a response
}

func (f *fastPath) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get("Mcp-Session-Id")
	if r.Method != http.MethodPost || sid == "" {
		f.next.ServeHTTP(w, r)
		return
	}
	f.mu.Lock()
	fs := f.sessions[sid]
	f.mu.Unlock()
	orig := r.Body
	body, err := io.ReadAll(io.LimitReader(orig, maxFastBody+1))
	if err != nil {
		http.Error(w, "failed to read body", http.StatusBadRequest)
		return
	}
	// For the SDK, if it gets the request: what was read, then the rest.
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), orig), orig}
	var m *fastMessage
	if trimmed := bytes.TrimSpace(body); len(body) <= maxFastBody && len(trimmed) > 0 && trimmed[0] == '{' {
		m = &fastMessage{}
		if json.Unmarshal(body, m) != nil || m.JSONRPC != "2.0" {
			m = nil
		}
	}
	if m == nil || fs == nil || fs.identity != identityOf(r.Context()) || f.off.Load() {
		f.toSDK(w, r, fs, m)
		return
	}
	// A client's answer to a request sent on the stream of a call answered
	// here, whatever its headers: the SDK knows nothing of that request.
	if m.Method == "" && len(m.ID) > 0 && fs.reply(m) {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if !fs.plainHeaders(r) {
		f.toSDK(w, r, fs, m)
		return
	}
	switch m.Method {
	case "tools/call":
		if f.serveCall(w, r, fs, m) {
			return
		}
	case "notifications/cancelled":
		if len(m.ID) == 0 && fs.cancel(m.Params) {
			w.WriteHeader(http.StatusAccepted)
			return
		}
	}
	f.toSDK(w, r, fs, m)
}

// toSDK hands a request to the SDK's handler; m is the message it holds,
// if it is one this path could read.
//
// A client that goes away before its request is answered cancels it, as a
// call answered here is, and as the protocol of 2026-07-28 says of every
// request. The SDK cancels the handlers of older versions only on
// notifications/cancelled, and a client such as mcp-go's sends none over
// HTTP (it closes the request's stream): the call would run on upstream,
// and on a stdio upstream keep the client's later calls from being told
// apart from another's (see relay.Hub). So the SDK is sent one.
func (f *fastPath) toSDK(w http.ResponseWriter, r *http.Request, fs *fastSession, m *fastMessage) {
	f.next.ServeHTTP(w, r)
	if fs != nil {
		fs.lastSDK.Store(time.Now().UnixNano())
	}
	if m != nil && m.Method != "" && len(m.ID) > 0 && r.Context().Err() != nil {
		cancel := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":` + string(m.ID) + `,"reason":"the client went away"}}`
		cr := r.Clone(context.WithoutCancel(r.Context()))
		cr.Body, cr.ContentLength = io.NopCloser(strings.NewReader(cancel)), int64(len(cancel))
		f.next.ServeHTTP(discardResponse{header: http.Header{}}, cr)
	}
}

// discardResponse is a response nobody reads.
type discardResponse struct{ header http.Header }

func (d discardResponse) Header() http.Header       { return d.header }
func (discardResponse) Write(p []byte) (int, error) { return len(p), nil }
func (discardResponse) WriteHeader(int)             {}

// plainHeaders reports whether r's headers are ones the SDK would accept
// for a message of the session and that need nothing of it.
func (fs *fastSession) plainHeaders(r *http.Request) bool {
	if r.Header.Get("Last-Event-ID") != "" ||
		r.Header.Get("Mcp-Protocol-Version") != fs.version || !loopbackHost(r.Host) {
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return false
	}
	accept := strings.Join(r.Header.Values("Accept"), ",")
	return strings.Contains(accept, "application/json") && strings.Contains(accept, "text/event-stream")
}

// loopbackHost reports whether a Host header names this machine, which the
// SDK's DNS-rebinding check accepts whatever address the server listens on.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveCall answers a plain tools/call, or reports false to leave it to
// the SDK.
func (f *fastPath) serveCall(w http.ResponseWriter, r *http.Request, fs *fastSession, m *fastMessage) bool {
	id := bytes.TrimSpace(m.ID)
	if len(id) == 0 || !(id[0] == '"' || id[0] == '-' || id[0] >= '0' && id[0] <= '9') {
		return false
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(m.Params, &raw) != nil {
		return false
	}
	params := &mcp.CallToolParamsRaw{}
	for k, v := range raw {
		switch k {
		case "name":
			if json.Unmarshal(v, &params.Name) != nil {
				return false
			}
		case "arguments":
			params.Arguments = v
		case "_meta":
			// A progress token, mostly: what the upstream reports goes out
			// on the call's stream (see callStream).
			if json.Unmarshal(v, &params.Meta) != nil || params.Meta == nil {
				return false
			}
		default: // a newer protocol's fields, and anything else
			return false
		}
	}
	if params.Name == "" {
		return false
	}
	req := &mcp.CallToolRequest{Session: fs.ss, Params: params, Extra: &mcp.RequestExtra{Header: r.Header}}
	if !f.fits(fs, req) {
		return false
	}
	if time.Since(time.Unix(0, fs.lastSDK.Load())) > time.Duration(f.idle.Load()) {
		f.keepAlive(r, fs)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	key := string(id)
	if !fs.begin(key, cancel) {
		return false // a duplicate id: the SDK answers it as it would
	}
	defer fs.end(key)
	w.Header().Set("Cache-Control", "no-cache, no-transform")
	cs := &callStream{w: w, fs: fs}
	out, err := f.handler(fs)(withCallStream(ctx, cs), "tools/call", req)
	res, _ := out.(*mcp.CallToolResult)
	if err == nil && res == nil {
		err = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("tools/call answered with %T", out)}
	}
	f.served.Add(1)
	events := cs.finish()
	switch {
	case cancelledByClient(ctx):
		// As the SDK's handler does for a cancelled request (holdBack): a
		// stream that ends without the response.
		if !events {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
		}
	case events:
		// The last event of the stream; the JSON of a response holds no
		// line break, so it is one data line.
		io.WriteString(w, "event: message\ndata: ")
		writeCallResponse(w, wireID(id), res, err)
		io.WriteString(w, "\n\n")
	default:
		w.Header().Set("Content-Type", "application/json")
		writeCallResponse(w, wireID(id), res, err)
	}
	return true
}

// keepAlive has the SDK answer a ping of the session r belongs to, with
// r's headers, so that the SDK's idle clock for the session starts again
// while its calls are answered here. (Handing it the call instead would
// have it encode the whole result, at several times its size.)
func (f *fastPath) keepAlive(r *http.Request, fs *fastSession) {
	ping := `{"jsonrpc":"2.0","id":"` + askPrefix + `keepalive-` + strconv.FormatUint(fs.asks.Add(1), 10) + `","method":"ping"}`
	pr := r.Clone(r.Context())
	pr.Body, pr.ContentLength = io.NopCloser(strings.NewReader(ping)), int64(len(ping))
	f.next.ServeHTTP(discardResponse{header: http.Header{}}, pr)
	fs.lastSDK.Store(time.Now().UnixNano())
	f.pings.Add(1)
}

// wireID is a request id as the SDK writes it in its response: it reads a
// number as a float64 and writes it as an integer, and writes a string
// without HTML escapes.
func wireID(raw json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	switch v := v.(type) {
	case float64:
		return strconv.AppendInt(nil, int64(v), 10)
	case string:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if enc.Encode(v) == nil {
			return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
		}
	}
	return raw
}

// begin records a call in flight under its id; false if one is already.
func (fs *fastSession) begin(id string, cancel context.CancelFunc) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, dup := fs.inflight[id]; dup {
		return false
	}
	fs.inflight[id] = cancel
	return true
}

func (fs *fastSession) end(id string) {
	fs.mu.Lock()
	delete(fs.inflight, id)
	fs.mu.Unlock()
}

// cancel cancels the call in flight that a notifications/cancelled names,
// and reports whether there was one.
func (fs *fastSession) cancel(params json.RawMessage) bool {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return false
	}
	fs.mu.Lock()
	cancel := fs.inflight[string(bytes.TrimSpace(p.RequestID))]
	fs.mu.Unlock()
	if cancel == nil {
		return false
	}
	cancel()
	return true
}
