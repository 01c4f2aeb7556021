package testupstream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Stdio modes for faults that begin only after the handshake.
const (
	// ModeExitOnCall serves like ok, but exits with status 5 as soon as a
	// tools/call arrives, without answering it.
	ModeExitOnCall = "exit-on-call"
	// ModeBigResult serves like ok plus a tool "big" whose result is one
	// text of EnvBigBytes bytes (default 50 MB).
	ModeBigResult = "big-result"
	// ModeStopReading answers the handshake (initialize, then tools/list
	// with one tool, "echo") and then never reads its stdin again, so a
	// parent writing more than the pipe holds blocks in that write. It
	// exits only when killed (SIGTERM keeps its default action) or after
	// EnvMaxLifetime.
	ModeStopReading = "stop-reading"
)

// EnvBigBytes is the size of the "big" tool's result in big-result mode.
const EnvBigBytes = "TESTUPSTREAM_BIG_BYTES"

// DefaultBigBytes is the size of the "big" tool's result unless EnvBigBytes
// says otherwise.
const DefaultBigBytes = 50 << 20

func exitOnCall(opts Options) int {
	fmt.Fprintf(os.Stderr, "testupstream ready pid=%d\n", os.Getpid())
	s := NewServer(opts)
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/call" {
				fmt.Fprintln(os.Stderr, "exiting mid-call")
				os.Exit(5)
			}
			return next(ctx, method, req)
		}
	})
	return runServer(s)
}

// stopReading serves the handshake by hand, one JSON-RPC message a line,
// and stops reading once it has answered tools/list.
func stopReading() int {
	fmt.Fprintf(os.Stderr, "testupstream ready pid=%d\n", os.Getpid())
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return 0
		}
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				ProtocolVersion string `json:"protocolVersion"`
			} `json:"params"`
		}
		if json.Unmarshal(line, &req) != nil || len(req.ID) == 0 {
			continue // a notification, or not ours to answer
		}
		var result any
		switch req.Method {
		case "initialize":
			result = map[string]any{
				"protocolVersion": req.Params.ProtocolVersion,
				"capabilities":    map[string]any{"tools": map[string]any{}},
				"serverInfo":      map[string]any{"name": "testupstream", "version": Version},
			}
		case "tools/list":
			result = map[string]any{"tools": []any{map[string]any{
				"name":        "echo",
				"description": "Never answers: this server has stopped reading.",
				"inputSchema": map[string]any{"type": "object"},
			}}}
		default:
			result = map[string]any{}
		}
		out, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
		if _, err := os.Stdout.Write(append(out, '\n')); err != nil {
			return 1
		}
		if req.Method == "tools/list" {
			fmt.Fprintln(os.Stderr, "testupstream: stopped reading stdin")
			return waitUntilKilled(nil)
		}
	}
}

func bigResult(opts Options) int {
	n := DefaultBigBytes
	if v := os.Getenv(EnvBigBytes); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "testupstream: %s=%q: want a non-negative integer\n", EnvBigBytes, v)
			return 2
		}
	}
	fmt.Fprintf(os.Stderr, "testupstream ready pid=%d\n", os.Getpid())
	s := NewServer(opts)
	mcp.AddTool(s, &mcp.Tool{Name: "big", Description: "Returns one very large text."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return textResult(BigText(n)), nil, nil
		})
	return runServer(s)
}

// BigText is the text of the "big" tool: n bytes of numbered lines, so a
// reader can tell where a page of it starts.
func BigText(n int) string {
	var b strings.Builder
	b.Grow(n + 64)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %09d ......................................................\n", i)
	}
	return b.String()[:n]
}

func runServer(s *mcp.Server) int {
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil && err != io.EOF && err != context.Canceled {
		fmt.Fprintf(os.Stderr, "testupstream: serve: %v\n", err)
		return 1
	}
	return 0
}

// StartReset accepts connections and resets each one (RST, by closing with
// SO_LINGER 0) as soon as the request has started to arrive. The URL ends
// in /mcp.
func StartReset(tb testing.TB) *HTTPServer {
	tb.Helper()
	hs := listen(tb, "127.0.0.1:0", "/mcp")
	return hs.serve(tb, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	}))
}

// StartSlowLoris answers every request with a 200 and a JSON content type,
// then trickles one byte of a never-finished body every interval until the
// client goes away or the server is closed. The URL ends in /mcp.
func StartSlowLoris(tb testing.TB, interval time.Duration) *HTTPServer {
	tb.Helper()
	hs := listen(tb, "127.0.0.1:0", "/mcp")
	return hs.serve(tb, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			_ = rc.Flush()
			select {
			case <-t.C:
			case <-hs.stop.Done():
				return
			case <-r.Context().Done():
				return
			}
		}
	}))
}
