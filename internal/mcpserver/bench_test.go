package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkCallTool_Echo compares one echo call made directly to an
// in-process streamable upstream with the same call through the proxy:
// Upstream is the baseline, Smart is /mcp call_tool, Direct is /mcp/all.
// The difference is the latency the proxy adds.
func BenchmarkCallTool_Echo(b *testing.B) {
	up := testupstream.StartStreamable(b, testupstream.Options{})
	p := newProxy(b, proxyOptions{Servers: []map[string]any{
		{"name": "alpha", "url": up.URL, "protocol": "streamable-http"},
	}})
	p.waitCatalog(b, "alpha")
	args := map[string]any{"message": "hello"}

	run := func(b *testing.B, cs *mcp.ClientSession, params *mcp.CallToolParams, want string) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			res, err := cs.CallTool(ctx, params)
			if err != nil {
				b.Fatal(err)
			}
			if res.IsError || textOf(res) != want {
				b.Fatalf("result %q", textOf(res))
			}
		}
	}
	b.Run("Upstream", func(b *testing.B) {
		c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: up.URL}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		run(b, cs, &mcp.CallToolParams{Name: "echo", Arguments: args}, "hello")
	})
	b.Run("Smart", func(b *testing.B) {
		cs := p.connect(b, "/mcp", clientOptions{})
		run(b, cs, &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": "alpha:echo", "args": args}}, "hello")
	})
	b.Run("Direct", func(b *testing.B) {
		cs := p.connect(b, "/mcp/all", clientOptions{})
		run(b, cs, &mcp.CallToolParams{Name: "alpha__echo", Arguments: args}, "hello")
	})
	b.Run("SSE", func(b *testing.B) {
		cs := p.connect(b, "/sse", clientOptions{sse: true})
		run(b, cs, &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": "alpha:echo", "args": args}}, "hello")
	})
}

// BenchmarkRetrieveTools measures retrieve_tools through an MCP client with
// 1,000 and 10,000 tools in the index. The tools are published in the state
// view as one ready server, so they reach the index the way real ones do:
// through the catalog. One server makes one bleve segment, which is the
// steady state the index compacts many servers into; with one server per 50
// tools the benchmark would measure how far the background compaction has
// got instead (searches are an order of magnitude slower before it).
func BenchmarkRetrieveTools(b *testing.B) {
	queries := []string{"create github issue", "read a file", "send slack message",
		"list calendar events", "delete database row", "search customer invoices"}
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("tools=%d", n), func(b *testing.B) {
			p := newProxy(b, proxyOptions{})
			for name, tools := range syntheticTools(n, n) {
				p.view.Put(&stateview.Server{
					ServerStatus: mcpproxy.ServerStatus{Name: name, Enabled: true, State: mcpproxy.StateReady, Tools: tools, ToolCount: len(tools)},
					Generation:   1 << 40,
				})
			}
			deadline := time.Now().Add(60 * time.Second)
			for p.idx.Len() != n || len(p.srv.cat.set.Load().tools) != n {
				if time.Now().After(deadline) {
					b.Fatalf("index has %d of %d tools", p.idx.Len(), n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			cs := p.connect(b, "/mcp", clientOptions{})
			var r searchResult
			if err := json.Unmarshal([]byte(textOf(mustCall(b, cs, "retrieve_tools", map[string]any{"query": "create issue"}))), &r); err != nil || len(r.Tools) == 0 {
				b.Fatalf("no results: %v", err)
			}

			// MCP is the whole round trip of a client's retrieve_tools call.
			b.Run("MCP", func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "retrieve_tools",
						Arguments: map[string]any{"query": queries[i%len(queries)], "limit": 15}})
					if err != nil {
						b.Fatal(err)
					}
					if res.IsError {
						b.Fatal(textOf(res))
					}
					i++
				}
			})
			// Search is the server's share: the search behind retrieve_tools.
			b.Run("Search", func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := p.srv.Search(ctx, queries[i%len(queries)], 15); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}

func mustCall(tb testing.TB, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	tb.Helper()
	res := call(tb, cs, name, args)
	if res.IsError {
		tb.Fatalf("%s: %s", name, textOf(res))
	}
	return res
}

// syntheticTools returns n varied tools, perServer per server, with
// verb_noun names, sentences of descriptions and a few described parameters.
func syntheticTools(n, perServer int) map[string][]mcpproxy.Tool {
	verbs := strings.Fields(`get list create update delete search find read write send fetch add remove
		move copy rename upload download sync export import run start stop restart deploy build merge
		close open archive restore share invite assign schedule cancel approve reject publish`)
	nouns := strings.Fields(`file directory issue pull_request repository branch commit comment message
		channel thread user team project task ticket event calendar meeting invoice payment customer
		order product subscription account workspace document page database table row column query
		record report dashboard metric alert log trace incident deployment container image cluster
		node pod service secret bucket object queue topic email contact lead deal note folder tag
		label milestone release pipeline job workflow webhook token certificate domain spreadsheet`)
	words := strings.Fields(`the a of to in for with from by on and or all new existing specified given
		current recent latest optional required default maximum number name id type status details
		information content data results page limit offset cursor filter sort order date time range
		format json text url path owner organization member permission role access public private`)
	r := rand.New(rand.NewPCG(7, uint64(n)))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	out := map[string][]mcpproxy.Tool{}
	for i := range n {
		server := fmt.Sprintf("srv%03d", i/perServer)
		verb, noun := pick(verbs), pick(nouns)
		desc := []string{strings.ToUpper(verb[:1]) + verb[1:], "a", strings.ReplaceAll(noun, "_", " ")}
		for range 12 + r.IntN(12) {
			desc = append(desc, pick(words))
		}
		props := map[string]any{}
		for range 2 + r.IntN(3) {
			props[pick(nouns)+"_"+pick([]string{"id", "name", "limit", "query"})] = map[string]any{
				"type": "string", "description": pick(words) + " " + pick(words) + " " + pick(nouns)}
		}
		schema, _ := json.Marshal(map[string]any{"type": "object", "properties": props})
		out[server] = append(out[server], mcpproxy.Tool{
			Name:        fmt.Sprintf("%s_%s_%d", verb, noun, i),
			Description: strings.Join(desc, " ") + ".",
			InputSchema: schema,
			// Approved, as an approved server's tools are: others are not
			// searched.
			Approval: mcpproxy.ApprovalApproved,
		})
	}
	return out
}
