package mcpserver

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/secret"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Secrets the sensitive-data tests pass and get back.
const (
	testGitHubToken = "ghp_0123456789abcdefghijABCDEFGHIJ0123"
	testAWSKey      = "AKIAIOSFODNN7EXAMPLE"
	testCard        = "4111 1111 1111 1111"
)

// sensitiveUpstream serves "echo" (returns its message) and "leak"
// (returns an AWS key and a card number, in text and structured content),
// counting the calls that reach it.
func sensitiveUpstream(tb testing.TB) (string, *atomic.Int32) {
	tb.Helper()
	calls := new(atomic.Int32)
	s := mcp.NewServer(&mcp.Implementation{Name: "sensitive"}, nil)
	s.AddTool(&mcp.Tool{Name: "echo", Description: "Returns the message.", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			calls.Add(1)
			var in struct {
				Message string `json:"message"`
			}
			json.Unmarshal(req.Params.Arguments, &in)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Message}}}, nil
		})
	s.AddTool(&mcp.Tool{Name: "leak", Description: "Returns a key.", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			calls.Add(1)
			return &mcp.CallToolResult{
				Content:           []mcp.Content{&mcp.TextContent{Text: "key " + testAWSKey + ", card " + testCard + ", max_tokens=4096"}},
				StructuredContent: map[string]any{"key": testAWSKey, "note": "ok"},
			}, nil
		})
	return customUpstream(tb, s), calls
}

// TestSensitive_Modes calls tools whose arguments or results carry
// secrets on each MCP endpoint under each sensitive_data mode, and checks
// what reaches the client, what reaches the upstream, and what the
// activity record says.
func TestSensitive_Modes(t *testing.T) {
	for _, mode := range []string{"flag", "redact", "block"} {
		t.Run(mode, func(t *testing.T) {
			url, upCalls := sensitiveUpstream(t)
			p := newProxy(t, proxyOptions{Activity: true, Top: map[string]any{"sensitive_data": mode},
				Servers: []map[string]any{{"name": "up", "url": url, "protocol": "streamable-http"}}})
			p.waitCatalog(t, "up")
			p.waitRoute(t, "up__echo", true)
			for _, path := range []string{"/mcp", "/mcp/all", "/mcp/server/up"} {
				cs := p.connect(t, path, clientOptions{})
				invoke := func(tool string, args map[string]any) *mcp.CallToolResult {
					switch path {
					case "/mcp":
						return call(t, cs, "call_tool", map[string]any{"name": "up:" + tool, "args": args})
					case "/mcp/all":
						return call(t, cs, "up__"+tool, args)
					}
					return call(t, cs, tool, args)
				}
				record := func(marker string) activity.Record {
					return waitRecord(t, p.act, path+" "+marker, func(r *activity.Record) bool {
						return r.Endpoint == path && strings.Contains(string(r.Arguments), marker)
					})
				}

				// A secret in the arguments.
				before := upCalls.Load()
				msg := "use " + testGitHubToken + " for args-" + path
				res := invoke("echo", map[string]any{"message": msg})
				rec := record("args-" + path)
				switch mode {
				case "flag":
					wantOK(t, res, msg)
					wantSensitive(t, rec, mode, []string{"github_token"}, []string{"github_token"})
				case "redact":
					wantOK(t, res, "use [redacted:github_token] for args-"+path)
					wantSensitive(t, rec, mode, []string{"github_token"}, []string{"github_token"})
				case "block":
					text := wantError(t, res, "refused", "github_token", "sensitive_data")
					if strings.Contains(text, testGitHubToken) {
						t.Errorf("%s: refusal shows the secret: %s", path, text)
					}
					if n := upCalls.Load(); n != before {
						t.Errorf("%s: the upstream got %d calls of a refused call", path, n-before)
					}
					if rec.Status != activity.StatusBlocked {
						t.Errorf("%s: record status %q, want blocked", path, rec.Status)
					}
					wantSensitive(t, rec, mode, []string{"github_token"}, nil)
				}
				if strings.Contains(string(rec.Arguments), testGitHubToken) {
					t.Errorf("%s: record stores the secret: %s", path, rec.Arguments)
				}

				// A secret in the result.
				res = invoke("leak", map[string]any{"marker": "leak-" + path})
				rec = record("leak-" + path)
				wantKinds := []string{"aws_access_key", "card_number"}
				switch mode {
				case "flag":
					wantOK(t, res, "key "+testAWSKey+", card "+testCard+", max_tokens=4096")
					wantSensitive(t, rec, mode, nil, wantKinds)
				case "redact":
					wantOK(t, res, "key [redacted:aws_access_key], card [redacted:card_number], max_tokens=4096")
					if sc, _ := json.Marshal(res.StructuredContent); strings.Contains(string(sc), testAWSKey) ||
						!strings.Contains(string(sc), `"note":"ok"`) {
						t.Errorf("%s: structured content %s", path, sc)
					}
					wantSensitive(t, rec, mode, nil, wantKinds)
				case "block":
					text := wantError(t, res, "withheld", "aws_access_key", "card_number")
					if strings.Contains(text, testAWSKey) || res.StructuredContent != nil {
						t.Errorf("%s: withheld result shows data: %s %v", path, text, res.StructuredContent)
					}
					if rec.Status != activity.StatusBlocked {
						t.Errorf("%s: record status %q, want blocked", path, rec.Status)
					}
					wantSensitive(t, rec, mode, nil, wantKinds)
				}

				// Nothing sensitive: no mark, whatever the mode.
				res = invoke("echo", map[string]any{"message": "token_count=5 next_token=abc order 4111111111111112 clean-" + path})
				wantOK(t, res, "token_count=5 next_token=abc order 4111111111111112 clean-"+path)
				if rec = record("clean-" + path); rec.Sensitive != nil {
					t.Errorf("%s: clean call marked sensitive: %+v", path, rec.Sensitive)
				}
			}
			page, err := p.act.List(activity.Filter{Sensitive: true, Limit: activity.MaxLimit})
			if err != nil || len(page.Records) != 6 {
				t.Errorf("Filter{Sensitive} found %d records (%v), want 6", len(page.Records), err)
			}
		})
	}
}

func wantSensitive(tb testing.TB, rec activity.Record, mode string, args, result []string) {
	tb.Helper()
	if rec.Sensitive == nil {
		tb.Errorf("record %s of %s has no sensitive mark, want arguments %v result %v", rec.ID, rec.Endpoint, args, result)
		return
	}
	if s := rec.Sensitive; s.Action != mode || !slices.Equal(s.Arguments, args) || !slices.Equal(s.Result, result) {
		tb.Errorf("record of %s: sensitive %+v, want action %s arguments %v result %v", rec.Endpoint, *s, mode, args, result)
	}
}

// TestGuardResult_ScanLimit checks that detection reads at most maxScan
// bytes of a result, and that redaction never changes the result it was
// given.
func TestGuardResult_ScanLimit(t *testing.T) {
	far := strings.Repeat("x ", maxScan/2) + testAWSKey
	res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: far}}}
	if out, kinds := guardResult("block", res, "s", ":", "t"); out != res || kinds != nil {
		t.Errorf("a key past maxScan was found: %v", kinds)
	}
	near := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "k=" + testAWSKey}, &mcp.TextContent{Text: "plain"}}}
	out, kinds := guardResult("redact", near, "s", ":", "t")
	if !slices.Equal(kinds, []secret.Kind{secret.KindAWSAccessKey}) || textOf(out) != "k=[redacted:aws_access_key]plain" {
		t.Errorf("redact: %q %v", textOf(out), kinds)
	}
	if textOf(near) != "k="+testAWSKey+"plain" {
		t.Errorf("redact changed the upstream's result: %q", textOf(near))
	}
}

// BenchmarkSensitive_Guard measures what detection adds to one call on the
// caller's goroutine: scanning the arguments and the result (flag mode,
// nothing found, the common case), for an echo-sized call and for a result
// of tool_response_limit's default size.
//
//	go test -run '^$' -bench 'Sensitive_Guard' ./internal/mcpserver/
func BenchmarkSensitive_Guard(b *testing.B) {
	args := json.RawMessage(`{"message":"hello world"}`)
	var big strings.Builder
	for big.Len() < 20000 {
		big.WriteString(`{"id": 12345, "name": "example-repository", "url": "https://github.com/octo/example", "stars": 42}, `)
	}
	for _, c := range []struct {
		name string
		text string
	}{{"Echo", "hello world"}, {"Result20KB", big.String()}} {
		res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: c.text}}}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if scanArgs(args) != nil {
					b.Fatal("found something in clean arguments")
				}
				if _, kinds := guardResult("flag", res, "s", ":", "t"); kinds != nil {
					b.Fatal("found something in a clean result")
				}
			}
		})
	}
}
