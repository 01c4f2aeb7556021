package mcpserver

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
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
}

var askEndpoints = []askEndpoint{
	{"pass-through", func(server string) string { return "/mcp/server/" + server },
		func(_, tool string, args map[string]any) (string, any) { return tool, args }},
	{"/mcp", func(string) string { return "/mcp" },
		func(server, tool string, args map[string]any) (string, any) {
			return "call_tool", map[string]any{"name": server + ":" + tool, "args": args}
		}},
	{"/mcp/all", func(string) string { return "/mcp/all" },
		func(server, tool string, args map[string]any) (string, any) { return server + "__" + tool, args }},
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
				var clients []*mcp.ClientSession
				for i := range 3 {
					clients = append(clients, samplingClient(t, p, ep.path(server), fmt.Sprintf("client-%d", i), nil))
				}
				for i, cs := range clients {
					tool, args := ep.call(server, "ask_sampling", map[string]any{"question": "who are you?"})
					wantOK(t, call(t, cs, tool, args), fmt.Sprintf("client-%d", i))
				}
				mute := p.connect(t, ep.path(server), clientOptions{})
				tool, args := ep.call(server, "ask_sampling", map[string]any{"question": "who are you?"})
				wantError(t, call(t, mute, tool, args), "does not support sampling")
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
