package mcpserver

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/token"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// seenCalls is a receiving middleware that remembers the tools/call
// requests it sees, by the session they came on.
type seenCalls struct {
	mu    sync.Mutex
	calls map[string][]string // guarded by mu; session id → the arguments' JSON
}

func (s *seenCalls) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && method == "tools/call" {
			s.mu.Lock()
			s.calls[req.GetSession().ID()] = append(s.calls[req.GetSession().ID()], string(p.Arguments))
			s.mu.Unlock()
		}
		return next(ctx, method, req)
	}
}

func (s *seenCalls) of(session string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[session]
}

// TestMiddleware_SeesEveryCall: every tools/call, on every endpoint,
// answered in front of the SDK (for a client with sampling or without) or
// by it, passes through a receiving middleware installed with
// Options.Middleware, leaves an activity record, is counted by the metrics,
// and is refused by an agent token's scope.
func TestMiddleware_SeesEveryCall(t *testing.T) {
	seen := &seenCalls{calls: map[string][]string{}}
	p := newProxy(t, proxyOptions{Activity: true, Metrics: true, Tokens: true, Middleware: []mcp.Middleware{seen.middleware},
		Servers: []map[string]any{streamable(t, "up", testupstream.Options{}, nil)}})
	p.waitCatalog(t, "up")
	// echo is not annotated read-only, so a read-only token may not call it.
	reader := p.newToken(t, token.Spec{Name: "reader", Servers: []string{"up"}, ReadOnly: true})
	counted := func(outcome string) float64 {
		return max(p.metricValue(t, "mcpproxy_tool_calls_total", "server=up", "tool=echo", "outcome="+outcome), 0)
	}

	for _, caps := range callPaths {
		for _, ep := range []struct {
			name, path, endpoint string
			fast                 *fastPath
			call                 func(marker string) (string, string)
		}{
			{"pass", "/mcp/server/up", "/mcp/server/up", p.srv.fastPass, func(m string) (string, string) {
				return "echo", `{"message":"` + m + `"}`
			}},
			{"all", "/mcp/all", "/mcp/all", p.srv.fastDirect, func(m string) (string, string) {
				return "up__echo", `{"message":"` + m + `"}`
			}},
			{"smart", "/mcp", "/mcp", p.srv.fastSmart, func(m string) (string, string) {
				return "call_tool", `{"name":"up:echo","args":{"message":"` + m + `"}}`
			}},
		} {
			for _, who := range []string{"anyone", "reader"} {
				t.Run(caps.name+"/"+ep.name+"/"+who, func(t *testing.T) {
					var c *wireClient
					wantStatus, wantOutcome := activity.StatusOK, "ok"
					if who == "reader" {
						c = openWireWith(t, p.URL+ep.path, caps.caps, bearer(reader))
						wantStatus, wantOutcome = activity.StatusBlocked, "blocked"
					} else {
						c = openWire(t, p.URL+ep.path, caps.caps)
					}
					sid := c.hdr.Get("Mcp-Session-Id")
					if caps.sdk {
						ep.fast.viaSDK(t)
					} else {
						waitFor(t, 5e9, func() bool {
							ep.fast.mu.Lock()
							defer ep.fast.mu.Unlock()
							return ep.fast.sessions[sid] != nil
						}, "the session is not served in front of the SDK")
					}
					served, before := ep.fast.served.Load(), counted(wantOutcome)

					marker := "mw-" + caps.name + "-" + ep.name + "-" + who
					name, args := ep.call(marker)
					ans := c.call(t, 5, name, args)
					if len(ans.Messages) != 1 {
						t.Fatalf("answer: %v", ans)
					}
					var res struct {
						Result *mcp.CallToolResult `json:"result"`
					}
					if err := json.Unmarshal([]byte(ans.Messages[0]), &res); err != nil || res.Result == nil {
						t.Fatalf("answer: %v (%v)", ans, err)
					}
					if got := textOf(res.Result); res.Result.IsError != (who == "reader") ||
						who == "reader" && !strings.Contains(got, "read-only") || who == "anyone" && got != marker {
						t.Errorf("result: isError %v, %q", res.Result.IsError, got)
					}

					if got := ep.fast.served.Load() - served; got != map[bool]uint64{false: 1, true: 0}[caps.sdk] {
						t.Errorf("%d calls answered in front of the SDK", got)
					}
					if got := seen.of(sid); len(got) != 1 || !strings.Contains(got[0], marker) {
						t.Errorf("the middleware saw %q on the session, want the one call", got)
					}
					rec := waitRecord(t, p.act, marker, func(r *activity.Record) bool { return argString(r, "message") == marker })
					if rec.Endpoint != ep.endpoint || rec.Server != "up" || rec.Tool != "echo" || rec.Status != wantStatus || rec.Client.SessionID != sid {
						t.Errorf("activity record %+v", rec)
					}
					if got := counted(wantOutcome) - before; got != 1 {
						t.Errorf("metrics counted %v calls with outcome %s, want 1", got, wantOutcome)
					}
				})
			}
		}
	}
}
