package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// pipeServer runs srv over a pair of pipes and returns a lineConn on the
// client's ends (spooling long messages in spool, if not empty), closed at
// cleanup.
func pipeServer(tb testing.TB, srv *mcp.Server, maxMessage int64, spool string) *lineConn {
	tb.Helper()
	toServer, fromClient := io.Pipe()
	toClient, fromServer := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	ss, err := srv.Connect(ctx, &mcp.IOTransport{Reader: toServer, Writer: fromServer}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	lc := newLineConn(toClient, fromClient, maxMessage, spool)
	tb.Cleanup(func() {
		cancel()
		lc.Close()
		// Unblock the server's writes before waiting for its handlers.
		toClient.Close()
		toServer.Close()
		ss.Close()
	})
	return lc
}

type connTransportFunc func() mcp.Connection

func (f connTransportFunc) Connect(context.Context) (mcp.Connection, error) { return f(), nil }

func connectLine(tb testing.TB, lc *lineConn) *mcp.ClientSession {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	cs, err := c.Connect(ctx, connTransportFunc(func() mcp.Connection { return lc }), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cs.Close() })
	return cs
}

func resultText(tb testing.TB, res *mcp.CallToolResult) string {
	tb.Helper()
	if len(res.Content) != 1 {
		tb.Fatalf("content %d blocks, want 1", len(res.Content))
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		tb.Fatalf("content %T, want text", res.Content[0])
	}
	return tc.Text
}

// mcpproxy's own calls and the SDK session's requests share the pipe, in
// parallel, and each gets its own answers.
func TestLineConn_CallsBesideTheSession(t *testing.T) {
	lc := pipeServer(t, testupstream.NewServer(testupstream.Options{}), MaxMessageBytes, "")
	cs := connectLine(t, lc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 40 {
		wg.Go(func() {
			msg := fmt.Sprintf("lean %d", i)
			res, err := lc.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": msg}})
			if err != nil {
				errs <- fmt.Errorf("lean call %d: %v", i, err)
				return
			}
			if got := resultText(t, res); got != msg {
				errs <- fmt.Errorf("lean call %d: got %q", i, got)
			}
		})
		wg.Go(func() {
			msg := fmt.Sprintf("sdk %d", i)
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": msg}})
			if err != nil {
				errs <- fmt.Errorf("sdk call %d: %v", i, err)
				return
			}
			if got := resultText(t, res); got != msg {
				errs <- fmt.Errorf("sdk call %d: got %q", i, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A tool error is a result, a JSON-RPC error an error.
	res, err := lc.CallTool(ctx, &mcp.CallToolParams{Name: "fail"})
	if err != nil || !res.IsError || resultText(t, res) != "boom" {
		t.Errorf("fail: %v, %+v", err, res)
	}
	if _, err := lc.CallTool(ctx, &mcp.CallToolParams{Name: "no_such_tool"}); err == nil || !strings.Contains(err.Error(), "no_such_tool") {
		t.Errorf("unknown tool: err %v, want one naming the tool", err)
	}
}

// A result larger than SpoolAfter, gathered through a spool file, comes
// back whole, and leaves no file behind.
func TestLineConn_LargeResultSpooled(t *testing.T) {
	dir := t.TempDir()
	var sb strings.Builder
	for i := 0; sb.Len() < SpoolAfter+SpoolAfter/2; i++ {
		fmt.Fprintf(&sb, "%d \"é\"\t€\n", i)
	}
	want := sb.String()
	// The text is made by the server, not sent to it: decoding and
	// checking a 6 MiB argument under the race detector took the server
	// most of half a minute on a loaded machine.
	srv := testupstream.NewServer(testupstream.Options{})
	mcp.AddTool(srv, &mcp.Tool{Name: "large"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: want}}}, nil, nil
	})
	lc := pipeServer(t, srv, MaxMessageBytes, dir)
	connectLine(t, lc)
	// Only a guard against a hang: the test bounds no time.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := lc.CallTool(ctx, &mcp.CallToolParams{Name: "large", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resultText(t, res); got != want {
		t.Errorf("the result (%d bytes) differs from the %d bytes expected", len(got), len(want))
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("spool files left behind: %v", left)
	}
}

// A call given up is cancelled at the upstream, and its late answer does
// not reach the SDK.
func TestLineConn_Cancel(t *testing.T) {
	srv := testupstream.NewServer(testupstream.Options{})
	cancelled := make(chan string, 1)
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "notifications/cancelled" {
				if p, ok := req.GetParams().(*mcp.CancelledParams); ok {
					cancelled <- fmt.Sprint(p.RequestID)
				}
			}
			return next(ctx, method, req)
		}
	})
	lc := pipeServer(t, srv, MaxMessageBytes, "")
	cs := connectLine(t, lc)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := lc.CallTool(ctx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 60_000}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the cancelled call returned after %s", d)
	}
	select {
	case id := <-cancelled:
		if !strings.HasPrefix(id, leanPrefix) {
			t.Errorf("cancelled request %q, want one of mcpproxy's own", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream was not told of the cancellation")
	}
	// The session still works.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := cs.Ping(ctx2, nil); err != nil {
		t.Fatalf("ping after a cancelled call: %v", err)
	}
}

// A message beyond the bound ends the connection with an error that says
// so; calls waiting, and later ones, fail at once instead of hanging.
func TestLineConn_MessageTooLarge(t *testing.T) {
	lc := pipeServer(t, testupstream.NewServer(testupstream.Options{}), 4096, "")
	cs := connectLine(t, lc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := lc.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": strings.Repeat("x", 10_000)}})
	if err == nil || !strings.Contains(err.Error(), "exceeds 4096 bytes") {
		t.Fatalf("err %v, want one about the size", err)
	}
	if _, err := lc.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "x"}}); err == nil {
		t.Error("a call after the connection broke succeeded")
	}
	if err := cs.Wait(); err == nil {
		t.Error("the session did not end")
	}
}

func TestLineConn_CloseEndsWaitingCalls(t *testing.T) {
	lc := pipeServer(t, testupstream.NewServer(testupstream.Options{}), MaxMessageBytes, "")
	connectLine(t, lc)
	errc := make(chan error, 1)
	go func() {
		_, err := lc.CallTool(context.Background(), &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 60_000}})
		errc <- err
	}()
	// Close only once the call waits for its answer: a call that starts
	// after Close fails at once and would prove nothing.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		lc.mu.Lock()
		n := len(lc.waiting)
		lc.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call never started waiting")
		}
	}
	lc.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("a call cut off by Close succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting call outlived Close")
	}
}

// The decoder here and the SDK's agree on every kind of result.
func TestDecodeCallResult_AgreesWithSDK(t *testing.T) {
	for _, raw := range []string{
		`{"content":[{"type":"text","text":"hello"}]}`,
		`{"content":[{"type":"text","text":""}],"isError":true}`,
		`{"content":[{"type":"text","text":"a","annotations":{"audience":["user"],"priority":0.5},"_meta":{"k":"v"}},{"type":"text","text":"b"}],"_meta":{"m":1}}`,
		`{"content":[{"type":"text","text":"{\"n\":1}"}],"structuredContent":{"n":1,"list":[1,"two",null]}}`,
		`{"content":[],"structuredContent":[1,2]}`,
		`{"content":[{"type":"image","data":"aGk=","mimeType":"image/png"},{"type":"text","text":"x"}]}`,
		`{"content":[{"type":"resource","resource":{"uri":"file:///a","text":"t"}}]}`,
		`{"content":[{"type":"text","text":"x","unknownField":1}],"unknownTop":true}`,
	} {
		got, err := decodeCallResult(json.RawMessage(raw))
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		var want mcp.CallToolResult
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatalf("%s: the SDK: %v", raw, err)
		}
		if !reflect.DeepEqual(got, &want) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(&want)
			t.Errorf("%s:\n got %s\nwant %s", raw, gb, wb)
		}
	}
	for _, raw := range []string{``, `null`, `{"content":[{"type":"nonsense"}]}`, `[1]`} {
		if _, err := decodeCallResult(json.RawMessage(raw)); err == nil {
			t.Errorf("%q: no error", raw)
		}
	}
}

// A response whose texts are most of it has them decoded in place: the
// result's texts share the message's memory and equal the SDK's decoding.
// A result the SDK must decode (an image beside a large text) finds the
// message unchanged.
func TestCallResult_InPlace(t *testing.T) {
	var sb strings.Builder
	for i := 0; sb.Len() < 3*inPlaceMin; i++ {
		fmt.Fprintf(&sb, "line %d: \"quoted\" \\ tab\t é \u20ac <&>\n", i)
	}
	text := sb.String()
	plain := strings.Repeat("p", inPlaceMin)
	for _, tc := range []struct {
		name, result string
		inPlace      bool
	}{
		{"Escaped", `{"content":[{"type":"text","text":` + quote(text) + `}]}`, true},
		{"Plain", `{"content":[{"type":"text","text":"` + plain + `"},{"type":"text","text":"small"}],"isError":true}`, true},
		{"StructuredMostly", `{"content":[{"type":"text","text":"` + plain[:100] + `"}],"structuredContent":{"s":"` + plain + `"}}`, false},
		{"Small", `{"content":[{"type":"text","text":"a\nb"}]}`, false},
		{"ImageBeside", `{"content":[{"type":"image","data":"aGk=","mimeType":"image/png"},{"type":"text","text":` + quote(text) + `}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(`{"jsonrpc":"2.0","id":"mcpproxy-1","result":` + tc.result + `}`)
			var want struct{ Result mcp.CallToolResult }
			if err := json.Unmarshal(msg, &want); err != nil {
				t.Fatal(err)
			}
			got, err := callResult(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, &want.Result) {
				t.Fatalf("differs from the SDK's decoding")
			}
			shared := false
			for _, c := range got.Content {
				if tc, ok := c.(*mcp.TextContent); ok && len(tc.Text) > 0 {
					p := uintptr(unsafe.Pointer(unsafe.StringData(tc.Text)))
					start := uintptr(unsafe.Pointer(&msg[0]))
					in := p >= start && p < start+uintptr(len(msg))
					if in && len(tc.Text) < inPlaceMin {
						t.Errorf("a text of %d bytes shares the message's memory", len(tc.Text))
					}
					shared = shared || in
				}
			}
			if shared != tc.inPlace {
				t.Errorf("texts in the message's memory: %v, want %v", shared, tc.inPlace)
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// askServer is a streamable-HTTP server with a tool that asks the client
// to sample, logs and reports progress while it waits, and returns the
// sampled text.
func askServer(tb testing.TB, jsonResponse bool) string {
	tb.Helper()
	url, _ := askServerConns(tb, jsonResponse)
	return url
}

// askServerConns is askServer that also counts the connections accepted.
func askServerConns(tb testing.TB, jsonResponse bool) (string, *atomic.Int64) {
	tb.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "ask", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "asking"})
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 5,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "ping"}}}})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in struct {
		Message string `json:"message"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Message}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "repeat"}, func(ctx context.Context, req *mcp.CallToolRequest, in struct {
		Text  string `json:"text"`
		Times int    `json:"times"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat(in.Text, in.Times)}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{JSONResponse: jsonResponse})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	conns := new(atomic.Int64)
	hs := &http.Server{Handler: h, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}}
	go hs.Serve(ln)
	tb.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String() + "/mcp", conns
}

// leanSession connects an SDK session to url and returns the lean caller
// beside it, with traffic that answers sampling with "pong" and records
// the methods it saw.
func leanSession(tb testing.TB, url string, seen *sync.Map) *leanHTTP {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := &http.Client{}
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Content: &mcp.TextContent{Text: "pong"}, Role: "assistant"}, nil
		},
	})
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, &mcp.ClientSessionOptions{ProtocolVersion: upstreamProtocol})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cs.Close() })
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		tb.Fatal(err)
	}
	return &leanHTTP{client: hc, url: url, session: cs, traffic: &traffic{
		request: func(_ context.Context, method string, params json.RawMessage) (any, error) {
			seen.Store(method, string(params))
			if method != "sampling/createMessage" {
				return nil, fmt.Errorf("unexpected %s", method)
			}
			return &mcp.CreateMessageResult{Content: &mcp.TextContent{Text: "pong"}, Role: "assistant", Model: "m"}, nil
		},
		notify: func(_ context.Context, method string, params json.RawMessage) { seen.Store(method, string(params)) },
	}}
}

// A lean call answers the upstream's requests on the way (sampling here)
// and passes its notifications on, over an event stream and over plain
// JSON responses alike.
func TestLeanHTTP_CallWithServerRequests(t *testing.T) {
	for _, jsonResponse := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", jsonResponse), func(t *testing.T) {
			var seen sync.Map
			l := leanSession(t, askServer(t, jsonResponse), &seen)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := l.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hi"}})
			if err != nil || resultText(t, res) != "hi" {
				t.Fatalf("echo: %v %+v", err, res)
			}
			if jsonResponse {
				// With JSON responses the SDK sends the request on the
				// standalone stream, which the SDK session answers.
				return
			}
			res, err = l.CallTool(ctx, &mcp.CallToolParams{Name: "ask"})
			if err != nil {
				t.Fatal(err)
			}
			if got := resultText(t, res); got != "pong" {
				t.Errorf("ask: %q, want pong", got)
			}
			if _, ok := seen.Load("sampling/createMessage"); !ok {
				t.Error("the sampling request did not reach traffic")
			}
			if p, ok := seen.Load("notifications/message"); !ok || !strings.Contains(p.(string), "asking") {
				t.Errorf("the log message did not reach traffic: %v", p)
			}
		})
	}
}

// A result larger than SpoolAfter comes back whole through a spool file,
// over an event stream and over a JSON response alike, and leaves no file
// behind.
func TestLeanHTTP_LargeResultSpooled(t *testing.T) {
	const unit = "line \"é\"\t€\n"
	times := (SpoolAfter + SpoolAfter/2) / len(unit)
	want := strings.Repeat(unit, times)
	for _, jsonResponse := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", jsonResponse), func(t *testing.T) {
			var seen sync.Map
			l := leanSession(t, askServer(t, jsonResponse), &seen)
			l.spool = t.TempDir()
			// Only a guard against a hang: the test bounds no time.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			res, err := l.CallTool(ctx, &mcp.CallToolParams{Name: "repeat", Arguments: map[string]any{"text": unit, "times": times}})
			if err != nil {
				t.Fatal(err)
			}
			if got := resultText(t, res); got != want {
				t.Errorf("the result (%d bytes) differs from the %d bytes expected", len(got), len(want))
			}
			if left, _ := os.ReadDir(l.spool); len(left) > 0 {
				t.Errorf("spool files left behind: %v", left)
			}
		})
	}
}

// Calls reuse connections: each read to its end, over an event stream or
// a JSON response alike (a connection closed early is dropped, and the
// next call would pay for a new one).
func TestLeanHTTP_ReusesConnections(t *testing.T) {
	for _, jsonResponse := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", jsonResponse), func(t *testing.T) {
			url, conns := askServerConns(t, jsonResponse)
			var seen sync.Map
			l := leanSession(t, url, &seen)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			before := conns.Load()
			for i := range 50 {
				if _, err := l.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": fmt.Sprint(i)}}); err != nil {
					t.Fatal(err)
				}
			}
			if n := conns.Load() - before; n > 2 {
				t.Errorf("50 calls in a row opened %d connections", n)
			}
		})
	}
}

// An HTTP failure is an error naming the status; a session the upstream
// forgot is one too, and the SDK session learns of it.
func TestLeanHTTP_Status(t *testing.T) {
	var forget atomic.Bool
	url := askServer(t, false)
	proxy := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if forget.Load() && r.Header.Get("Mcp-Session-Id") != "" {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, url, r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(flushWriter{w}, resp.Body)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go proxy.Serve(ln)
	defer proxy.Close()
	var seen sync.Map
	l := leanSession(t, "http://"+ln.Addr().String()+"/mcp", &seen)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hi"}}); err != nil {
		t.Fatal(err)
	}
	forget.Store(true)
	_, err = l.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hi"}})
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") || !strings.Contains(err.Error(), "no longer knows the session") {
		t.Fatalf("err %v, want the 404 explained", err)
	}
	done := make(chan error, 1)
	go func() { done <- l.session.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("the SDK session did not end after the upstream forgot it")
	}
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.w.(http.Flusher).Flush()
	return n, err
}

// scriptedChild is the other end of a lineConn: it answers each request of
// mcpproxy's own with what reply returns for its id and sequence number,
// written in one piece.
func scriptedChild(tb testing.TB, reply func(n int, id string) string) *lineConn {
	tb.Helper()
	toClient, fromServer := io.Pipe()
	toServer, fromClient := io.Pipe()
	lc := newLineConn(toClient, fromClient, MaxMessageBytes, "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer fromServer.Close() // as a child exits when its stdin closes
		dec := json.NewDecoder(toServer)
		for n := 0; ; n++ {
			var req struct {
				ID string `json:"id"`
			}
			if dec.Decode(&req) != nil {
				return
			}
			if _, err := io.WriteString(fromServer, reply(n, req.ID)); err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() {
		lc.Close()
		<-done
	})
	return lc
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A large result reaches its call whole, what the child wrote right behind
// it (in the same write, a message split over lines; then two messages on
// one line) still arrives, and nothing of the large message is kept
// afterwards.
func TestLineConn_BigResultLeavesNoBuffer(t *testing.T) {
	const size = 8 << 20
	big := strings.Repeat("0123456789abcdef", size/16)
	lc := scriptedChild(t, func(n int, id string) string {
		if n == 0 {
			return `{"jsonrpc":"2.0","id":"` + id + `","result":{"content":[{"type":"text","text":"` + big + `"}]}}` + "\n" +
				"{\"jsonrpc\":\"2.0\",\n\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"after\"}}\n"
		}
		// Two values on one line.
		return `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"same line"}} ` +
			`{"jsonrpc":"2.0","id":"` + id + `","result":{"content":[{"type":"text","text":"small"}]}}` + "\n"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := heapAlloc()
	res, err := lc.CallTool(ctx, &mcp.CallToolParams{Name: "big"})
	if err != nil {
		t.Fatal(err)
	}
	if got := resultText(t, res); got != big {
		t.Fatalf("big result: %d bytes, want %d", len(got), len(big))
	}
	msg, err := lc.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := msg.(*jsonrpc.Request); !ok || r.Method != "notifications/message" {
		t.Fatalf("after the big result the SDK got %#v, want the notification", msg)
	}
	res = nil
	if grown := int64(heapAlloc()) - int64(before); grown > size/2 {
		t.Errorf("after an %d MiB result the heap is %.1f MiB larger: the reader kept its buffer", size>>20, float64(grown)/(1<<20))
	}
	got := make(chan jsonrpc.Message, 1)
	go func() {
		m, _ := lc.Read(ctx)
		got <- m
	}()
	res, err = lc.CallTool(ctx, &mcp.CallToolParams{Name: "small"})
	if err != nil || resultText(t, res) != "small" {
		t.Fatalf("call after the big result: %v", err)
	}
	if r, ok := (<-got).(*jsonrpc.Request); !ok || r.Method != "notifications/message" {
		t.Fatalf("the value before the response on the same line: %#v", r)
	}
}
