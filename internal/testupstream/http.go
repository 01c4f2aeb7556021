package testupstream

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPServer is an upstream served over HTTP on a 127.0.0.1 port.
type HTTPServer struct {
	// URL is the full endpoint URL, for example http://127.0.0.1:PORT/mcp.
	URL string
	// Addr is the listening address, 127.0.0.1:PORT; pass it to
	// StartStreamableAt to bring a closed server back on the same port.
	Addr string
	// MCP is the server behind the endpoint, shared by all its sessions;
	// nil for StartHanging and StartStatus. Tests may add or remove tools.
	MCP *mcp.Server

	ln        net.Listener
	srv       *http.Server
	stop      context.Context // done at Close; ends hanging handlers and tool calls
	cancel    context.CancelFunc
	served    chan struct{} // closed when srv.Serve has returned
	requests  atomic.Int64
	closeOnce sync.Once

	mu     sync.Mutex
	closed bool           // guarded by mu
	active sync.WaitGroup // Add guarded by mu, so none follows Close's Wait
}

// StartStreamable serves NewServer(opts) with a stateful streamable HTTP
// handler at http://127.0.0.1:PORT/mcp.
func StartStreamable(tb testing.TB, opts Options) *HTTPServer {
	tb.Helper()
	return StartStreamableAt(tb, "127.0.0.1:0", opts)
}

// StartStreamableAt is StartStreamable on a given address, typically one
// from ReserveAddr, for tests where an upstream is down at first and comes
// up later.
func StartStreamableAt(tb testing.TB, addr string, opts Options) *HTTPServer {
	tb.Helper()
	hs := listen(tb, addr, "/mcp")
	hs.MCP = newServer(opts, hs.stop)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return hs.MCP }, nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	return hs.serve(tb, mux)
}

// StartSSE serves NewServer(opts) with the SDK's SSE handler (the
// 2024-11-05 transport) at http://127.0.0.1:PORT/sse; messages are posted
// back to the same path.
func StartSSE(tb testing.TB, opts Options) *HTTPServer {
	tb.Helper()
	hs := listen(tb, "127.0.0.1:0", "/sse")
	hs.MCP = newServer(opts, hs.stop)
	h := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return hs.MCP }, nil)
	mux := http.NewServeMux()
	mux.Handle("/sse", h)
	return hs.serve(tb, mux)
}

// StartHanging accepts every request and never answers it: each handler
// reads the request body and then blocks until the client goes away or the
// server is closed. The URL ends in /mcp but any path hangs.
func StartHanging(tb testing.TB) *HTTPServer {
	tb.Helper()
	hs := listen(tb, "127.0.0.1:0", "/mcp")
	return hs.serve(tb, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-hs.stop.Done():
		case <-r.Context().Done():
		}
	}))
}

// StartStatus answers every request, on any path, with the given HTTP
// status code and its status text. The URL ends in /mcp.
func StartStatus(tb testing.TB, code int) *HTTPServer {
	tb.Helper()
	return listen(tb, "127.0.0.1:0", "/mcp").serve(tb, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, http.StatusText(code), code)
	}))
}

// ReserveAddr returns a 127.0.0.1:PORT address that was free a moment ago:
// it listens on port 0 and closes the listener. Connections to it are
// refused until something listens there (see StartStreamableAt).
func ReserveAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testupstream: reserve address: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("testupstream: reserve address: %v", err)
	}
	return addr
}

// listen binds addr and returns a server that does not serve yet, so that
// a handler can refer to it before the first request can arrive.
func listen(tb testing.TB, addr, path string) *HTTPServer {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("testupstream: listen %s: %v", addr, err)
	}
	stop, cancel := context.WithCancel(context.Background())
	return &HTTPServer{
		URL:    "http://" + ln.Addr().String() + path,
		Addr:   ln.Addr().String(),
		ln:     ln,
		stop:   stop,
		cancel: cancel,
		served: make(chan struct{}),
	}
}

// serve starts serving h and registers Close with tb.Cleanup.
func (hs *HTTPServer) serve(tb testing.TB, h http.Handler) *HTTPServer {
	hs.srv = &http.Server{
		Handler: hs.track(h),
		// Connections cut by Close are expected; keep them out of test logs.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(hs.served)
		if err := hs.srv.Serve(hs.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("testupstream: serve %s: %v", hs.Addr, err)
		}
	}()
	tb.Cleanup(hs.Close)
	return hs
}

// track counts requests and registers each handler with hs.active, so that
// Close can wait for them.
func (hs *HTTPServer) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.requests.Add(1)
		hs.mu.Lock()
		if hs.closed {
			hs.mu.Unlock()
			http.Error(w, "testupstream: server closed", http.StatusServiceUnavailable)
			return
		}
		hs.active.Add(1)
		hs.mu.Unlock()
		defer hs.active.Done()
		h.ServeHTTP(w, r)
	})
}

// Requests reports how many HTTP requests the server has received.
func (hs *HTTPServer) Requests() int64 { return hs.requests.Load() }

// Close stops the server: it closes the listener and every connection,
// cancels hanging handlers and running tool calls, closes all MCP
// sessions, and waits for every handler to return. It is idempotent and
// also runs at test cleanup.
func (hs *HTTPServer) Close() {
	hs.closeOnce.Do(func() {
		hs.mu.Lock()
		hs.closed = true
		hs.mu.Unlock()
		// Cut connections before releasing handlers, so that a released
		// hanging handler cannot send a late empty 200.
		_ = hs.srv.Close()
		hs.cancel()
		if hs.MCP != nil {
			// Stateful sessions outlive their connections; end them so
			// their goroutines exit.
			for ss := range hs.MCP.Sessions() {
				_ = ss.Close()
			}
		}
		hs.active.Wait()
		<-hs.served
	})
}
