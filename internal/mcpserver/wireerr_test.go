package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// wireClient speaks MCP over streamable HTTP in raw requests, so that a test
// sees what an endpoint puts on the wire rather than what a client library
// makes of it.
type wireClient struct {
	url string
	hdr http.Header // the session's id and protocol version
}

// wireAnswer is what came back for one POST: the status and the JSON-RPC
// messages, whether sent as JSON or as events (the framing is the
// transport's choice; see fastPath).
type wireAnswer struct {
	Status   int
	Messages []string
}

func (a wireAnswer) String() string {
	return fmt.Sprintf("%d %s", a.Status, strings.Join(a.Messages, " | "))
}

// callPaths are the ways a session's calls are answered, for the tests
// that try each: in front of the SDK, for a client that declared sampling
// or not, and by the SDK (the fast path switched off; see
// fastPath.viaSDK).
var callPaths = []struct {
	name, caps string
	sdk        bool
}{{"FastPath", `{}`, false}, {"Sampling", `{"sampling":{}}`, false}, {"SDK", `{}`, true}}

// viaSDK hands every request of f to the SDK until the test ends.
func (f *fastPath) viaSDK(t *testing.T) {
	f.off.Store(true)
	t.Cleanup(func() { f.off.Store(false) })
}

// openWire initializes a session of url for a client that declares caps
// (JSON), and deletes it at cleanup.
func openWire(tb testing.TB, url, caps string) *wireClient {
	tb.Helper()
	return openWireWith(tb, url, caps, nil)
}

// openWireWith is openWire with extra headers on every request.
func openWireWith(tb testing.TB, url, caps string, hdr http.Header) *wireClient {
	tb.Helper()
	c := &wireClient{url: url, hdr: http.Header{}}
	for k, v := range hdr {
		c.hdr[k] = v
	}
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + fastProtocol +
		`","capabilities":` + caps + `,"clientInfo":{"name":"wire","version":"1"}}}`
	resp, ans := c.do(tb, context.Background(), http.MethodPost, init)
	if ans.Status != http.StatusOK || len(ans.Messages) != 1 || !strings.Contains(ans.Messages[0], `"result"`) {
		tb.Fatalf("initialize %s: %v", url, ans)
	}
	c.hdr.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	c.hdr.Set("Mcp-Protocol-Version", fastProtocol)
	if _, ans := c.do(tb, context.Background(), http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); ans.Status != http.StatusAccepted {
		tb.Fatalf("initialized %s: %v", url, ans)
	}
	tb.Cleanup(func() { c.do(tb, context.Background(), http.MethodDelete, "") })
	return c
}

// do sends one request and reads its whole answer.
func (c *wireClient) do(tb testing.TB, ctx context.Context, method, body string) (*http.Response, wireAnswer) {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, method, c.url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			tb.Errorf("%s %s: %v", method, c.url, err)
		}
		return nil, wireAnswer{}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil && ctx.Err() == nil {
		tb.Errorf("%s %s: read: %v", method, c.url, err)
	}
	ans := wireAnswer{Status: resp.StatusCode}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for line := range strings.SplitSeq(string(data), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && strings.TrimSpace(d) != "" {
				ans.Messages = append(ans.Messages, d)
			}
		}
	} else if len(data) > 0 {
		ans.Messages = []string{strings.TrimSpace(string(data))}
	}
	return resp, ans
}

// call posts a tools/call of tool with args (JSON) under id.
func (c *wireClient) call(tb testing.TB, id int, tool, args string) wireAnswer {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, ans := c.do(tb, ctx, http.MethodPost, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, tool, args))
	return ans
}

// cancelled posts a tools/call under id, cancels it with
// notifications/cancelled once started says the upstream has it, and
// returns what came back for the call.
func (c *wireClient) cancelled(tb testing.TB, id int, tool, args string, started func()) wireAnswer {
	tb.Helper()
	got := make(chan wireAnswer, 1)
	go func() { got <- c.call(tb, id, tool, args) }()
	started()
	if _, ans := c.do(tb, context.Background(), http.MethodPost,
		fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":%d,"reason":"wire test"}}`, id)); ans.Status != http.StatusAccepted {
		tb.Errorf("notifications/cancelled: %v", ans)
	}
	select {
	case ans := <-got:
		return ans
	case <-time.After(15 * time.Second):
		tb.Fatalf("%s: the cancelled call's stream did not end", c.url)
		return wireAnswer{}
	}
}

// isRPCToolError reports whether msgs is one message, call_tool's tool
// error for server's rpc_error (the upstream's JSON-RPC error in words),
// and returns the text it should have.
func isRPCToolError(msgs []string, server string) (want string, ok bool) {
	want = `upstream "` + server + `" returned an error for rpc_error: ` + testupstream.RPCError.Message + ` (JSON-RPC error -32042)`
	var res struct {
		Result struct {
			IsError bool `json:"isError"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
	}
	return want, len(msgs) == 1 && json.Unmarshal([]byte(msgs[0]), &res) == nil &&
		res.Result.IsError && len(res.Result.Content) == 1 && res.Result.Content[0].Text == want
}

// wireProxy is a proxy in front of three upstreams that answer rpc_error
// with a JSON-RPC error and send nothing for a cancelled call: "up"
// (streamable HTTP, at upURL), "sse" and "io" (stdio). While waiting is
// above zero, each call that reaches an in-process upstream is reported on
// started.
func wireProxy(t *testing.T) (p *proxy, upURL string, waiting *atomic.Int32, started chan struct{}) {
	t.Helper()
	waiting, started = new(atomic.Int32), make(chan struct{}, 16)
	opts := testupstream.Options{RPCError: true, QuietCancel: true, BeforeCall: func(ctx context.Context) error {
		if waiting.Load() > 0 {
			started <- struct{}{}
		}
		return nil
	}}
	up := testupstream.StartStreamable(t, opts)
	sse := testupstream.StartSSE(t, opts)
	stdioPath, stdioEnv := testupstream.Command(testupstream.ModeOK, map[string]string{testupstream.EnvRPCError: "1"})
	p = newProxy(t, proxyOptions{Servers: []map[string]any{
		{"name": "up", "url": up.URL, "protocol": "streamable-http"},
		{"name": "sse", "url": sse.URL, "protocol": "sse"},
		{"name": "io", "command": stdioPath, "env": stdioEnv},
	}})
	p.waitCatalog(t, "up", "sse", "io")
	return p, up.URL, waiting, started
}

// TestWire_ErrorsAndCancellation: the same raw client makes the same
// erroring call and the same cancelled call directly on an upstream and
// through each endpoint, answered in front of the SDK (a client without
// sampling) and by the SDK (a client with it), and compares the wire
// answers. Where the endpoint forwards tools/call as it is (the
// pass-through and /mcp/all), the upstream's JSON-RPC error arrives
// unchanged (code, message, data; no wrapping); /mcp's call_tool says the
// same in a tool error. A cancelled call gets no response anywhere, as from
// an upstream that follows the specification (server-everything does; the
// test upstream does with QuietCancel).
func TestWire_ErrorsAndCancellation(t *testing.T) {
	p, upURL, waiting, started := wireProxy(t)

	// started waits until the upstream has the call: the in-process ones
	// say so, the stdio child is given time.
	startedOn := func(tb testing.TB, server string) func() {
		return func() {
			if server == "io" {
				time.Sleep(300 * time.Millisecond)
				return
			}
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				tb.Fatal("the call never reached its upstream")
			}
		}
	}
	const sleepArgs = `{"ms":30000}`

	// The upstream's own answers, to the same client.
	direct := openWire(t, upURL, `{}`)
	wantErr := direct.call(t, 7, "rpc_error", `{}`)
	if len(wantErr.Messages) != 1 || !strings.Contains(wantErr.Messages[0], `"code":-32042`) {
		t.Fatalf("the upstream's own error: %v", wantErr)
	}
	// A method the upstream does not serve (it has no resources).
	const readBody = `{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":"test://none"}}`
	_, wantRead := direct.do(t, context.Background(), http.MethodPost, readBody)
	waiting.Add(1)
	wantCancel := direct.cancelled(t, 8, "sleep", sleepArgs, startedOn(t, "up"))
	waiting.Add(-1)
	if wantCancel.Status != http.StatusOK || len(wantCancel.Messages) != 0 {
		t.Fatalf("the upstream answered a cancelled call: %v", wantCancel)
	}

	for _, caps := range callPaths {
		for _, server := range []string{"up", "sse", "io"} {
			for _, ep := range []string{"pass", "all", "smart"} {
				t.Run(caps.name+"/"+server+"/"+ep, func(t *testing.T) {
					var c *wireClient
					var fast *fastPath
					tool := func(name, args string) (string, string) { return name, args }
					switch ep {
					case "pass":
						c, fast = openWire(t, p.URL+"/mcp/server/"+server, caps.caps), p.srv.fastPass
					case "all":
						c, fast = openWire(t, p.URL+"/mcp/all", caps.caps), p.srv.fastDirect
						tool = func(name, args string) (string, string) { return server + "__" + name, args }
					case "smart":
						c, fast = openWire(t, p.URL+"/mcp", caps.caps), p.srv.fastSmart
						tool = func(name, args string) (string, string) {
							return "call_tool", `{"name":"` + server + `:` + name + `","args":` + args + `}`
						}
					}
					if caps.sdk {
						fast.viaSDK(t)
					} else {
						waitFor(t, 5*time.Second, func() bool {
							fast.mu.Lock()
							defer fast.mu.Unlock()
							return fast.sessions[c.hdr.Get("Mcp-Session-Id")] != nil
						}, "the session is not served in front of the SDK")
					}
					before := fast.served.Load()

					name, args := tool("rpc_error", `{}`)
					gotErr := c.call(t, 7, name, args)
					if ep == "smart" {
						// call_tool is the proxy's own tool: a tool error
						// with the upstream's message and code.
						if want, ok := isRPCToolError(gotErr.Messages, server); !ok {
							t.Errorf("error call: %v\nwant a tool error %q", gotErr, want)
						}
					} else if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
						t.Errorf("error call:\n got %v\nwant %v (the upstream's own)", gotErr, wantErr)
					}

					if ep == "pass" {
						if _, got := c.do(t, context.Background(), http.MethodPost, readBody); fmt.Sprint(got) != fmt.Sprint(wantRead) {
							t.Errorf("resources/read:\n got %v\nwant %v (the upstream's own)", got, wantRead)
						}
					}

					waiting.Add(1)
					name, args = tool("sleep", sleepArgs)
					gotCancel := c.cancelled(t, 8, name, args, startedOn(t, server))
					waiting.Add(-1)
					if fmt.Sprint(gotCancel) != fmt.Sprint(wantCancel) {
						t.Errorf("cancelled call:\n got %v\nwant %v (the upstream's own)", gotCancel, wantCancel)
					}

					served := fast.served.Load() - before
					if want := map[bool]uint64{false: 2, true: 0}[caps.sdk]; served != want {
						t.Errorf("%d calls answered in front of the SDK, want %d", served, want)
					}
				})
			}
		}
	}
}

// TestWire_DisconnectCancels: a client that closes a call's stream before
// the answer (mcp-go's client cancels so over HTTP) cancels the call on
// the upstream, on every endpoint, in front of the SDK and through it; and
// the stream cannot be resumed (Last-Event-ID is refused), so the answer
// could never have been delivered.
func TestWire_DisconnectCancels(t *testing.T) {
	started, ended := make(chan struct{}, 1), make(chan struct{}, 1)
	hang := mcp.NewServer(&mcp.Implementation{Name: "hang"}, nil)
	hang.AddTool(&mcp.Tool{Name: "hang", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			started <- struct{}{}
			<-ctx.Done()
			ended <- struct{}{}
			return nil, ctx.Err()
		})
	p := newProxy(t, proxyOptions{Servers: []map[string]any{{"name": "hung", "url": customUpstream(t, hang), "protocol": "streamable-http"}}})
	p.waitCatalog(t, "hung")
	for _, caps := range callPaths {
		for _, ep := range []struct {
			name, path, tool, args string
			fast                   *fastPath
		}{
			{"pass", "/mcp/server/hung", "hang", `{}`, p.srv.fastPass},
			{"all", "/mcp/all", "hung__hang", `{}`, p.srv.fastDirect},
			{"smart", "/mcp", "call_tool", `{"name":"hung:hang","args":{}}`, p.srv.fastSmart},
		} {
			t.Run(caps.name+"/"+ep.name, func(t *testing.T) {
				if caps.sdk {
					ep.fast.viaSDK(t)
				}
				c := openWire(t, p.URL+ep.path, caps.caps)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					c.do(t, ctx, http.MethodPost, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"`+ep.tool+`","arguments":`+ep.args+`}}`)
				}()
				select {
				case <-started:
				case <-time.After(10 * time.Second):
					t.Fatal("the call never reached its upstream")
				}
				cancel()
				<-done
				select {
				case <-ended:
				case <-time.After(10 * time.Second):
					t.Fatal("the upstream's call went on after its client went away")
				}
				// Nor could the answer ever reach the client: the endpoints
				// keep no event store, so a stream cannot be resumed.
				r := &wireClient{url: c.url, hdr: c.hdr.Clone()}
				r.hdr.Set("Last-Event-ID", "0_0")
				if _, ans := r.do(t, context.Background(), http.MethodGet, ""); ans.Status != http.StatusBadRequest || !strings.Contains(ans.String(), "replay unsupported") {
					t.Errorf("GET with Last-Event-ID: %v, want 400 stream replay unsupported", ans)
				}
			})
		}
	}
}
