package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// askProxy runs a proxy with two upstreams whose tools ask the calling
// client something during the call: "h" over streamable HTTP and "s" over
// stdio.
func askProxy(t *testing.T) *proxy {
	p, _ := askProxyHTTP(t)
	return p
}

// askProxyHTTP is askProxy that also returns the HTTP upstream "h".
func askProxyHTTP(t *testing.T) (*proxy, *testupstream.HTTPServer) {
	t.Helper()
	path, env := testupstream.Command(testupstream.ModeOK, map[string]string{testupstream.EnvAskClient: "1"})
	up := testupstream.StartStreamable(t, testupstream.Options{AskClient: true})
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		{"name": "h", "url": up.URL, "protocol": "streamable-http"},
		{"name": "s", "command": path, "env": env},
	}})
	p.waitCatalog(t, "h", "s")
	return p, up
}

// askEndpoint is one way of calling an upstream's tool through the proxy.
type askEndpoint struct {
	name string
	path func(server string) string
	// call turns (server, tool, args) into the proxy's tool and arguments.
	call func(server, tool string, args map[string]any) (string, any)
	// sdk: the calls go through the SDK (the fast path is off), not in
	// front of it.
	sdk bool
}

// askEndpoints are the endpoints, each with its calls answered in front of
// the SDK and by it.
var askEndpoints = func() []askEndpoint {
	eps := []askEndpoint{
		{name: "pass-through", path: func(server string) string { return "/mcp/server/" + server },
			call: func(_, tool string, args map[string]any) (string, any) { return tool, args }},
		{name: "/mcp", path: func(string) string { return "/mcp" },
			call: func(server, tool string, args map[string]any) (string, any) {
				return "call_tool", map[string]any{"name": server + ":" + tool, "args": args}
			}},
		{name: "/mcp/all", path: func(string) string { return "/mcp/all" },
			call: func(server, tool string, args map[string]any) (string, any) { return server + "__" + tool, args }},
	}
	for _, ep := range eps[:3] {
		ep.name, ep.sdk = ep.name+"/sdk", true
		eps = append(eps, ep)
	}
	return eps
}()

// start begins a test of the endpoint: with the fast path off for an SDK
// variant.
func (ep askEndpoint) start(t *testing.T, p *proxy) {
	if ep.sdk {
		ep.fast(p).viaSDK(t)
	}
}

// fast is the fast path of the endpoint.
func (ep askEndpoint) fast(p *proxy) *fastPath {
	switch ep.path("x") {
	case "/mcp":
		return p.srv.fastSmart
	case "/mcp/all":
		return p.srv.fastDirect
	}
	return p.srv.fastPass
}

// samplingClient connects a client to path whose model answers every
// sampling request with its own name, after hold (if set) returns.
func samplingClient(t *testing.T, p *proxy, path, name string, hold func()) *mcp.ClientSession {
	t.Helper()
	return p.connect(t, path, clientOptions{impl: &mcp.Implementation{Name: name, Version: "1"}, mcp: &mcp.ClientOptions{
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			if hold != nil {
				hold()
			}
			return &mcp.CreateMessageResult{Model: name, Role: "assistant", Content: &mcp.TextContent{Text: name}}, nil
		},
	}})
}

// TestRelay_SamplingGoesToItsCaller: an upstream's sampling request during
// a call goes to the client that made the call, on every endpoint; a
// client that did not declare sampling is not asked, and the upstream is
// told so.
func TestRelay_SamplingGoesToItsCaller(t *testing.T) {
	p := askProxy(t)
	for _, ep := range askEndpoints {
		for _, server := range []string{"h", "s"} {
			t.Run(ep.name+"/"+server, func(t *testing.T) {
				ep.start(t, p)
				var clients []*mcp.ClientSession
				for i := range 3 {
					clients = append(clients, samplingClient(t, p, ep.path(server), fmt.Sprintf("client-%d", i), nil))
					if !ep.sdk {
						waitFast(t, ep.fast(p), clients[i])
					}
				}
				served := ep.fast(p).served.Load()
				for i, cs := range clients {
					tool, args := ep.call(server, "ask_sampling", map[string]any{"question": "who are you?"})
					wantOK(t, call(t, cs, tool, args), fmt.Sprintf("client-%d", i))
				}
				mute := p.connect(t, ep.path(server), clientOptions{})
				if !ep.sdk {
					waitFast(t, ep.fast(p), mute)
				}
				tool, args := ep.call(server, "ask_sampling", map[string]any{"question": "who are you?"})
				wantError(t, call(t, mute, tool, args), "does not support sampling")
				if f, want := ep.fast(p), map[bool]uint64{false: 4, true: 0}[ep.sdk]; f.served.Load()-served != want {
					t.Errorf("%d calls answered in front of the SDK, want %d", f.served.Load()-served, want)
				}
			})
		}
	}
}

// TestRelay_ConcurrentSamplingOverHTTP: three clients with three calls each
// in flight at once on one HTTP upstream: every request is answered by the
// client whose call caused it (an HTTP upstream sends it on that call's
// own stream). A client holds its answer until requests reached all three,
// so the calls overlap.
func TestRelay_ConcurrentSamplingOverHTTP(t *testing.T) {
	p := askProxy(t)
	for _, ep := range askEndpoints {
		t.Run(ep.name, func(t *testing.T) {
			ep.start(t, p)
			const clients, calls = 3, 3
			var arrived sync.WaitGroup
			arrived.Add(clients * calls)
			all := make(chan struct{})
			go func() { arrived.Wait(); close(all) }()
			hold := func() {
				arrived.Done()
				select {
				case <-all:
				case <-time.After(10 * time.Second):
				}
			}
			var sessions []*mcp.ClientSession
			for i := range clients {
				sessions = append(sessions, samplingClient(t, p, ep.path("h"), fmt.Sprintf("client-%d", i), hold))
			}
			var wg sync.WaitGroup
			errs := make(chan string, clients*calls)
			for i, cs := range sessions {
				for range calls {
					wg.Go(func() {
						tool, args := ep.call("h", "ask_sampling", map[string]any{"question": "who are you?"})
						ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						defer cancel()
						res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
						want := fmt.Sprintf("client-%d", i)
						switch {
						case err != nil:
							errs <- fmt.Sprintf("%s: %v", want, err)
						case res.IsError || textOf(res) != want:
							errs <- fmt.Sprintf("%s got %q (isError %v)", want, textOf(res), res.IsError)
						}
					})
				}
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			select {
			case <-all:
			default:
				t.Error("the calls did not overlap: not every request reached a client before the first was answered")
			}
		})
	}
}

// TestRelay_ConcurrentSamplingOverStdio: a stdio upstream's request names
// no call, so with calls of several clients in flight it cannot be told
// whose it is: it is refused, and never answered by another client.
func TestRelay_ConcurrentSamplingOverStdio(t *testing.T) {
	p := askProxy(t)
	const clients = 3
	var sessions []*mcp.ClientSession
	for i := range clients {
		sessions = append(sessions, samplingClient(t, p, "/mcp/server/s", fmt.Sprintf("client-%d", i), nil))
	}
	// Each client first has a slow call in flight, so that every ask
	// below overlaps calls of the other clients.
	var slow sync.WaitGroup
	for _, cs := range sessions {
		slow.Go(func() { call(t, cs, "sleep", map[string]any{"ms": 1500}) })
	}
	time.Sleep(300 * time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for i, cs := range sessions {
		wg.Go(func() {
			res := call(t, cs, "ask_sampling", map[string]any{"question": "who are you?"})
			want := fmt.Sprintf("client-%d", i)
			text := textOf(res)
			switch {
			case !res.IsError && text == want:
			case res.IsError && strings.Contains(text, "no downstream client"):
				mu.Lock()
				refused++
				mu.Unlock()
			default:
				t.Errorf("%s got %q (isError %v): another client's answer, or an unexpected error", want, text, res.IsError)
			}
		})
	}
	wg.Wait()
	slow.Wait()
	if refused == 0 {
		t.Error("no request was refused although calls of three clients were in flight together")
	}
}

// TestPassthrough_OwnSessionPerClient: each client of the pass-through of
// an HTTP upstream has a session of its own there, with its own identity
// and capabilities, as it would directly; over stdio the one session is
// the proxy's.
func TestPassthrough_OwnSessionPerClient(t *testing.T) {
	p, up := askProxyHTTP(t)
	sessions := func() int {
		n := 0
		for range up.MCP.Sessions() {
			n++
		}
		return n
	}
	alice := samplingClient(t, p, "/mcp/server/h", "alice", nil)
	bob := p.connect(t, "/mcp/server/h", clientOptions{impl: &mcp.Implementation{Name: "bob", Version: "1"}})
	wantOK(t, call(t, alice, "whoami", nil), "alice sampling=true elicitation=false roots=true")
	wantOK(t, call(t, bob, "whoami", nil), "bob sampling=false elicitation=false roots=true")
	// The client's roots reach the upstream through its own session.
	wantOK(t, call(t, alice, "ask_roots", nil), "")

	shared := p.connect(t, "/mcp/server/s", clientOptions{impl: &mcp.Implementation{Name: "carol", Version: "1"}})
	wantOK(t, call(t, shared, "whoami", nil), "mcpproxy sampling=true elicitation=true roots=false")

	// A client's own session ends with the client's.
	before := sessions()
	bob.Close()
	waitFor(t, 10*time.Second, func() bool { return sessions() == before-1 },
		"the upstream session of a closed client to end")
}

// TestRelay_ShutdownEndsOpenQuestions: a question an upstream asked a
// client during a call, and left open when the call was cancelled (as
// server-everything does), does not hold the proxy's shutdown: EndCalls
// ends it, and closing the client's session does not wait for its answer.
func TestRelay_ShutdownEndsOpenQuestions(t *testing.T) {
	for _, ep := range askEndpoints {
		t.Run(ep.name, func(t *testing.T) {
			p := askProxy(t)
			ep.start(t, p)
			asked := make(chan struct{}, 1)
			release := make(chan struct{})
			cs := samplingClient(t, p, ep.path("s"), "stubborn", func() {
				asked <- struct{}{}
				<-release // a client that does not answer until the end
			})
			t.Cleanup(func() { close(release) }) // before the client closes
			go func() {
				tool, args := ep.call("s", "ask_sampling_open", map[string]any{"question": "who are you?"})
				cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
			}()
			select {
			case <-asked:
			case <-time.After(10 * time.Second):
				t.Fatal("the client was never asked")
			}
			start := time.Now()
			p.srv.EndCalls()
			p.srv.Close()
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("closing the endpoints took %v with a question left open", d)
			}
		})
	}
}

// TestRelay_AsksOnTheCallsStream: what an upstream asks a client during a
// call answered in front of the SDK (sampling, elicitation, roots) goes to
// that client on the call's own stream, and its answers, errors included,
// reach the upstream as they do when the client is connected to it
// directly. (Through the SDK, the upstream gets a client's error wrapped
// once more: "calling …: calling …: the user declined".) When the client cancels
// its call, the call ends at once, and the client's late answer still ends
// the proxy's wait for it. (The client's own handler is not told: the
// go-sdk client stops reading the call's stream when it cancels, so it is
// not told either when connected to the upstream directly.)
func TestRelay_AsksOnTheCallsStream(t *testing.T) {
	p, up := askProxyHTTP(t)
	asked := make(chan struct{}, 1)
	opts := func(name string, release chan struct{}) clientOptions {
		return clientOptions{impl: &mcp.Implementation{Name: name, Version: "1"},
			roots: []*mcp.Root{{URI: "file:///work/" + name}},
			mcp: &mcp.ClientOptions{
				CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					q := req.Params.Messages[0].Content.(*mcp.TextContent).Text
					switch q {
					case "refuse":
						return nil, &jsonrpc.Error{Code: -1, Message: "the user declined"}
					case "hold":
						asked <- struct{}{}
						select {
						case <-ctx.Done():
						case <-release:
						}
						return nil, &jsonrpc.Error{Code: -1, Message: "too late"}
					}
					return &mcp.CreateMessageResult{Model: name, Role: "assistant", Content: &mcp.TextContent{Text: name + " heard " + q}}, nil
				},
				ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"answer": name + " says " + req.Params.Message}}, nil
				},
			}}
	}
	for _, ep := range askEndpoints {
		if ep.sdk {
			continue
		}
		for _, server := range []string{"h", "s"} {
			t.Run(ep.name+"/"+server, func(t *testing.T) {
				f := ep.fast(p)
				release := make(chan struct{})
				cs := p.connect(t, ep.path(server), opts("ann", release))
				waitFast(t, f, cs)
				// The same client connected to the upstream itself (the
				// stdio one runs the same tools).
				direct := connectDirect(t, up.URL, opts("ann", release))
				t.Cleanup(func() {
					select {
					case <-release:
					default:
						close(release) // before the clients close
					}
				})
				served := f.served.Load()
				for _, tc := range []struct{ tool, question, want string }{
					{"ask_sampling", "hello", "ann heard hello"},
					{"ask_elicit", "name?", "accept:ann says name?"},
					{"ask_roots", "", "file:///work/ann"},
					{"ask_sampling", "refuse", "the user declined"},
				} {
					in := map[string]any{"question": tc.question}
					if tc.question == "" {
						in = map[string]any{}
					}
					tool, args := ep.call(server, tc.tool, in)
					got, want := call(t, cs, tool, args), call(t, direct, tc.tool, in)
					if !strings.Contains(textOf(got), tc.want) || textOf(got) != textOf(want) || got.IsError != want.IsError {
						t.Errorf("%s %q: through the proxy %q (isError %v), directly %q (isError %v); want %q",
							tc.tool, tc.question, textOf(got), got.IsError, textOf(want), want.IsError, tc.want)
					}
				}
				if n := f.served.Load() - served; n != 4 {
					t.Errorf("%d of 4 calls answered in front of the SDK", n)
				}

				// The client cancels its call while its answer is awaited.
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() {
					tool, args := ep.call(server, "ask_sampling", map[string]any{"question": "hold"})
					_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
					done <- err
				}()
				select {
				case <-asked:
				case <-time.After(10 * time.Second):
					t.Fatal("the client was never asked")
				}
				fs := f.sessions[cs.ID()]
				fs.mu.Lock()
				waiting := len(fs.asked)
				fs.mu.Unlock()
				if waiting != 1 {
					t.Errorf("%d questions awaited on the session, want 1", waiting)
				}
				cancel()
				select {
				case err := <-done:
					if !errors.Is(err, context.Canceled) {
						t.Errorf("the cancelled call returned %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the cancelled call did not return")
				}
				close(release)
				waitFor(t, 10*time.Second, func() bool {
					fs.mu.Lock()
					defer fs.mu.Unlock()
					return len(fs.asked) == 0
				}, "the client's late answer did not end the proxy's wait for it")

				// A session that ends with a question open ends the wait.
				held := make(chan struct{})
				t.Cleanup(func() { close(held) })
				bob := p.connect(t, ep.path(server), opts("bob", held))
				waitFast(t, f, bob)
				go func() {
					tool, args := ep.call(server, "ask_sampling", map[string]any{"question": "hold"})
					bob.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
				}()
				select {
				case <-asked:
				case <-time.After(10 * time.Second):
					t.Fatal("the client was never asked")
				}
				f.mu.Lock()
				bobs := f.sessions[bob.ID()]
				f.mu.Unlock()
				del, _ := http.NewRequest(http.MethodDelete, p.URL+ep.path(server), nil)
				del.Header.Set("Mcp-Session-Id", bob.ID())
				if resp, err := http.DefaultClient.Do(del); err != nil {
					t.Fatal(err)
				} else {
					resp.Body.Close()
				}
				waitFor(t, 10*time.Second, func() bool {
					bobs.mu.Lock()
					defer bobs.mu.Unlock()
					return len(bobs.asked) == 0
				}, "the proxy still waits for the answer of a client whose session ended")
			})
		}
	}
}

// connectDirect connects a go-sdk client with o's identity, options and
// roots to the streamable HTTP server at url itself, and closes it at
// cleanup.
func connectDirect(t *testing.T, url string, o clientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(o.impl, o.mcp)
	c.AddRoots(o.roots...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}
