package mcpserver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// sseWire speaks MCP over the legacy SSE transport in raw requests: one
// GET stream that carries every message of the session, and a POST per
// message to the endpoint it names.
type sseWire struct {
	endpoint string
	sid      string
	messages chan string // the data of each "message" event, in order
}

// openSSEWire opens an SSE session of url and initializes it for a client
// that declares caps (JSON); the stream ends at cleanup.
func openSSEWire(tb testing.TB, base, caps string) *sseWire {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sse", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	c := &sseWire{messages: make(chan string, 64)}
	endpoint := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.messages)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var event string
		for sc.Scan() {
			line := sc.Text()
			if name, ok := strings.CutPrefix(line, "event: "); ok {
				event = name
			} else if data, ok := strings.CutPrefix(line, "data: "); ok {
				if event == "endpoint" {
					endpoint <- data
				} else {
					c.messages <- data
				}
			}
		}
	}()
	tb.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	select {
	case ep := <-endpoint:
		c.endpoint = base + ep
		_, c.sid, _ = strings.Cut(ep, "sessionid=")
	case <-time.After(10 * time.Second):
		tb.Fatal("no endpoint event on /sse")
	}
	c.post(tb, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":`+caps+`,"clientInfo":{"name":"wire","version":"1"}}}`)
	if msg := c.next(tb); !strings.Contains(msg, `"id":1`) || !strings.Contains(msg, `"result"`) {
		tb.Fatalf("initialize on /sse: %s", msg)
	}
	c.post(tb, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return c
}

// post sends one message; the SDK accepts it with 202.
func (c *sseWire) post(tb testing.TB, body string) {
	tb.Helper()
	resp, err := http.Post(c.endpoint, "application/json", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		tb.Fatalf("POST %s: %s", body, resp.Status)
	}
}

// next returns the next message on the stream.
func (c *sseWire) next(tb testing.TB) string {
	tb.Helper()
	select {
	case msg, ok := <-c.messages:
		if !ok {
			tb.Fatal("the /sse stream ended")
		}
		return msg
	case <-time.After(15 * time.Second):
		tb.Fatal("no message on the /sse stream")
		return ""
	}
}

// until returns the messages on the stream up to and with the response
// whose id is id.
func (c *sseWire) until(tb testing.TB, id int) []string {
	tb.Helper()
	var msgs []string
	for {
		msg := c.next(tb)
		msgs = append(msgs, msg)
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal([]byte(msg), &m) == nil && m.Method == "" && string(m.ID) == fmt.Sprint(id) {
			return msgs
		}
	}
}

// TestWire_SSECancelSendsNothing: on the legacy /sse transport, a call the
// client cancels (notifications/cancelled) gets no response, as on the
// streamable endpoints and as server-everything does over its own SSE
// transport; the session goes on, and an erroring call is answered as on
// /mcp. For streamable-HTTP, SSE and stdio upstreams.
func TestWire_SSECancelSendsNothing(t *testing.T) {
	p, _, waiting, started := wireProxy(t)

	for _, server := range []string{"up", "sse", "io"} {
		t.Run(server, func(t *testing.T) {
			c := openSSEWire(t, p.URL, `{}`)
			callTool := func(id int, tool, args string) {
				c.post(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"call_tool","arguments":{"name":"%s:%s","args":%s}}}`, id, server, tool, args))
			}

			callTool(7, "rpc_error", `{}`)
			msgs := c.until(t, 7)
			last := msgs[len(msgs)-1]
			if want, ok := isRPCToolError([]string{last}, server); !ok {
				t.Errorf("error call: %s\nwant a tool error %q", last, want)
			}

			waiting.Add(1)
			callTool(8, "sleep", `{"ms":30000}`)
			if server == "io" {
				time.Sleep(300 * time.Millisecond)
			} else {
				select {
				case <-started:
				case <-time.After(10 * time.Second):
					t.Fatal("the call never reached its upstream")
				}
			}
			waiting.Add(-1)
			c.post(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8,"reason":"wire test"}}`)
			// The call has ended once its response went by the stream (left
			// out or not); a ping after that is answered after it.
			p.srv.mu.Lock()
			ss := p.srv.sse[c.sid]
			p.srv.mu.Unlock()
			if ss == nil {
				t.Fatalf("session %q is not known to the proxy", c.sid)
			}
			waitFor(t, 15*time.Second, func() bool {
				ss.mu.Lock()
				defer ss.mu.Unlock()
				_, inFlight := ss.calls["n8"]
				return !inFlight
			}, "the cancelled call did not end")
			c.post(t, `{"jsonrpc":"2.0","id":9,"method":"ping"}`)
			for _, msg := range c.until(t, 9) {
				if strings.Contains(msg, `"id":8`) {
					t.Errorf("the cancelled call was answered: %s", msg)
				}
			}
		})
	}
}

// The calls an SSE session follows end with their responses, whatever the
// client's ids look like, and with the SDK's refusal of a request that
// gets no response; none stays behind.
func TestSSE_CallsEnd(t *testing.T) {
	p := newProxy(t, proxyOptions{})
	c := openSSEWire(t, p.URL, `{}`)
	p.srv.mu.Lock()
	ss := p.srv.sse[c.sid]
	p.srv.mu.Unlock()
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":100,"method":"no/such/method","params":{}}`,
		`{"jsonrpc":"2.0","id":101,"method":"tools/call"}`,
	} {
		resp, err := http.Post(c.endpoint, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			t.Fatalf("POST %s: accepted; the test wants a request the SDK refuses", body)
		}
	}
	c.post(t, `{"jsonrpc":"2.0","id":5.0,"method":"ping"}`)
	c.post(t, `{"jsonrpc":"2.0","id":"\u0061b","method":"ping"}`)
	c.post(t, `{"jsonrpc":"2.0","id":6,"method":"ping"}`)
	c.until(t, 6)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.calls) != 0 {
		t.Errorf("calls left in the session: %v", ss.calls)
	}
}

// responseKey reads the head of a response only: a result of many
// megabytes costs next to nothing.
func TestResponseKey(t *testing.T) {
	for raw, want := range map[string]string{
		`{"jsonrpc":"2.0","id":5,"result":{}}`:       "n5",
		`{"jsonrpc":"2.0","id":5.0,"result":{}}`:     "n5",
		`{"id":"a","jsonrpc":"2.0","error":{}}`:      "sa",
		`{"jsonrpc":"2.0","id":"\u0061","result":1}`: "sa",
		`{"jsonrpc":"2.0","method":"ping","id":1}`:   "",
		`{"result":{},"jsonrpc":"2.0","id":1}`:       "",
		`{"jsonrpc":"2.0","id":null,"error":{}}`:     "",
		`not json`:                                   "",
	} {
		if got, _ := responseKey([]byte(raw)); got != want {
			t.Errorf("%s: key %q, want %q", raw, got, want)
		}
	}
	big := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` + strings.Repeat("x", 8<<20) + `"}]}}`)
	var ms1, ms2 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	key, _ := responseKey(big)
	runtime.ReadMemStats(&ms2)
	if key != "n7" || ms2.TotalAlloc-ms1.TotalAlloc > 64<<10 {
		t.Errorf("an 8 MiB response: key %q, %d bytes allocated", key, ms2.TotalAlloc-ms1.TotalAlloc)
	}
}
