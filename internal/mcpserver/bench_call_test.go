package mcpserver

// Benchmarks of what the proxy adds to a tool call, each against a baseline
// measured in the same run: the same echo call made straight to the same
// upstream. Run them without -race:
//
//	go test -run '^$' -bench 'CallTool_(AddedLatency|Throughput)' -benchtime 3000x ./internal/mcpserver/
//
// docs/BENCHMARKS.md has the numbers.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// benchHTTP is the HTTP client of the benchmarks' own MCP clients, with
// enough idle connections per host that 64 concurrent clients do not open
// a new connection per request (http.DefaultTransport keeps 2).
var benchHTTP = &http.Client{Transport: func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
	return t
}()}

// echoTarget is one upstream serving echo, configured in a proxy as
// "alpha", that a benchmark also reaches directly.
type echoTarget struct {
	p      *proxy
	direct func(testing.TB) *mcp.ClientSession // a new session straight to the upstream
}

// newEchoTarget starts an upstream of the given kind ("stdio": testupstream
// in mode ok, re-executing the test binary; "streamable": testupstream over
// streamable HTTP in this process) and a proxy in front of it, and waits
// until the proxy lists its tools.
func newEchoTarget(tb testing.TB, kind string) *echoTarget {
	tb.Helper()
	t := &echoTarget{}
	switch kind {
	case "stdio":
		t.p = newProxy(tb, proxyOptions{Servers: []map[string]any{stdio("alpha", testupstream.ModeOK)}})
		t.direct = func(tb testing.TB) *mcp.ClientSession {
			tb.Helper()
			path, env := testupstream.Command(testupstream.ModeOK, nil)
			cmd := exec.Command(path)
			cmd.Env = os.Environ()
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			return connectBench(tb, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second})
		}
	case "streamable":
		up := testupstream.StartStreamable(tb, testupstream.Options{})
		t.p = newProxy(tb, proxyOptions{Servers: []map[string]any{{"name": "alpha", "url": up.URL, "protocol": "streamable-http"}}})
		t.direct = func(tb testing.TB) *mcp.ClientSession {
			tb.Helper()
			return connectBench(tb, &mcp.StreamableClientTransport{Endpoint: up.URL, HTTPClient: benchHTTP, MaxRetries: -1})
		}
	default:
		tb.Fatalf("unknown upstream kind %q", kind)
	}
	t.p.waitCatalog(tb, "alpha")
	return t
}

// viaMCP returns a new client session on the proxy's /mcp endpoint.
func (t *echoTarget) viaMCP(tb testing.TB) *mcp.ClientSession {
	tb.Helper()
	return connectBench(tb, &mcp.StreamableClientTransport{Endpoint: t.p.URL + "/mcp", HTTPClient: benchHTTP, MaxRetries: -1})
}

// benchProtocol is the MCP version of every benchmark client, direct or
// through the proxy: the one the proxy itself asks upstreams for, so that
// both ways speak the same protocol.
const benchProtocol = "2025-11-25"

// connectBench connects an SDK client over tr and closes the session at
// cleanup.
func connectBench(tb testing.TB, tr mcp.Transport) *mcp.ClientSession {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	cs, err := c.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: benchProtocol})
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { cs.Close() })
	return cs
}

// An echoCall is one way of making the echo call: straight to the upstream
// (echo) or through the proxy's /mcp (call_tool alpha:echo).
type echoCall struct {
	name   string
	params *mcp.CallToolParams
}

var (
	directEcho = echoCall{"upstream", &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hello"}}}
	proxyEcho  = echoCall{"mcp", &mcp.CallToolParams{Name: "call_tool",
		Arguments: map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "hello"}}}}
)

// timeEcho makes the call on cs and returns how long it took.
func timeEcho(tb testing.TB, cs *mcp.ClientSession, c echoCall) time.Duration {
	start := time.Now()
	res, err := cs.CallTool(context.Background(), c.params)
	d := time.Since(start)
	if err != nil {
		tb.Fatalf("%s: %v", c.name, err)
	}
	if res.IsError || textOf(res) != "hello" {
		tb.Fatalf("%s: result %q (isError %v)", c.name, textOf(res), res.IsError)
	}
	return d
}

// BenchmarkCallTool_AddedLatency measures the latency the proxy adds to one
// tool call, for a stdio and a streamable-HTTP upstream. Each iteration
// makes one echo call straight to the upstream (the baseline: an SDK client
// on its own session to the same command or URL) and one through /mcp
// (call_tool), in alternating order, one call at a time, and records both.
// ns/op is the sum of the two; the percentiles are the metrics.
func BenchmarkCallTool_AddedLatency(b *testing.B) {
	for _, kind := range []string{"stdio", "streamable"} {
		b.Run("upstream="+kind, func(b *testing.B) {
			t := newEchoTarget(b, kind)
			direct, viaMCP := t.direct(b), t.viaMCP(b)
			for range 200 { // warm up connections and buffers
				timeEcho(b, direct, directEcho)
				timeEcho(b, viaMCP, proxyEcho)
			}
			var up, px []time.Duration
			i := 0
			for b.Loop() {
				if i%2 == 0 {
					up = append(up, timeEcho(b, direct, directEcho))
					px = append(px, timeEcho(b, viaMCP, proxyEcho))
				} else {
					px = append(px, timeEcho(b, viaMCP, proxyEcho))
					up = append(up, timeEcho(b, direct, directEcho))
				}
				i++
			}
			reportPair(b, "upstream", up, "mcp", px)
		})
	}
}

// reportPair reports the p50, p99 and max of a baseline and a measured set
// of latencies in microseconds, the p50 and p99 the measured set adds, and
// their ratios.
func reportPair(b *testing.B, baseName string, base []time.Duration, name string, got []time.Duration) {
	b.Helper()
	b50, b99, bmax := quantile(base, 0.50), quantile(base, 0.99), quantile(base, 1)
	g50, g99, gmax := quantile(got, 0.50), quantile(got, 0.99), quantile(got, 1)
	b.ReportMetric(micros(b50), baseName+"-p50-us")
	b.ReportMetric(micros(b99), baseName+"-p99-us")
	b.ReportMetric(micros(bmax), baseName+"-max-us")
	b.ReportMetric(micros(g50), name+"-p50-us")
	b.ReportMetric(micros(g99), name+"-p99-us")
	b.ReportMetric(micros(gmax), name+"-max-us")
	b.ReportMetric(micros(g50-b50), "added-p50-us")
	b.ReportMetric(micros(g99-b99), "added-p99-us")
	b.ReportMetric(float64(g50)/float64(b50), "p50-ratio")
	b.ReportMetric(float64(g99)/float64(b99), "p99-ratio")
}

// quantile returns the q-quantile (0 < q <= 1) of ds by the nearest-rank
// method; ds is sorted in place.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// BenchmarkCallTool_Throughput measures echo calls per second with 1, 16 and
// 64 concurrent clients, straight to the upstream and through /mcp. Through
// the proxy each client has its own /mcp session, and the proxy forwards
// every call over its one session to the upstream. The baseline is the
// upstream's ceiling: as many goroutines calling concurrently on one direct
// session (a stdio server has only one). Each sub-benchmark makes b.N calls
// each way, in four alternating rounds, so that both see the same machine
// load; ns/op covers both ways and means little.
func BenchmarkCallTool_Throughput(b *testing.B) {
	for _, kind := range []string{"stdio", "streamable"} {
		b.Run("upstream="+kind, func(b *testing.B) {
			t := newEchoTarget(b, kind)
			direct := t.direct(b)
			for _, clients := range []int{1, 16, 64} {
				b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
					directs := make([]*mcp.ClientSession, clients)
					proxied := make([]*mcp.ClientSession, clients)
					for i := range clients {
						directs[i] = direct
						proxied[i] = t.viaMCP(b)
						timeEcho(b, proxied[i], proxyEcho)
					}
					var up, px load
					b.ResetTimer()
					const rounds = 4
					for r := range rounds {
						n := b.N/rounds + btoi(r < b.N%rounds)
						up.run(b, directs, directEcho, n)
						px.run(b, proxied, proxyEcho, n)
					}
					b.StopTimer()
					b.ReportMetric(up.rate(), "upstream-calls/s")
					b.ReportMetric(px.rate(), "mcp-calls/s")
					b.ReportMetric(px.rate()/up.rate(), "throughput-ratio")
					b.ReportMetric(micros(quantile(up.took, 0.50)), "upstream-p50-us")
					b.ReportMetric(micros(quantile(up.took, 0.99)), "upstream-p99-us")
					b.ReportMetric(micros(quantile(px.took, 0.50)), "mcp-p50-us")
					b.ReportMetric(micros(quantile(px.took, 0.99)), "mcp-p99-us")
				})
			}
		})
	}
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// load accumulates the calls, wall time and per-call latencies of rounds
// of concurrent calls.
type load struct {
	calls   int
	elapsed time.Duration
	took    []time.Duration
}

// run makes n calls spread over one goroutine per session, as fast as they
// complete.
func (l *load) run(b *testing.B, sessions []*mcp.ClientSession, c echoCall, n int) {
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for _, cs := range sessions {
		wg.Go(func() {
			var took []time.Duration
			for next.Add(1) <= int64(n) {
				start := time.Now()
				res, err := cs.CallTool(context.Background(), c.params)
				took = append(took, time.Since(start))
				if err != nil || res.IsError || textOf(res) != "hello" {
					b.Errorf("%s: %v", c.name, err)
					return
				}
			}
			mu.Lock()
			l.took = append(l.took, took...)
			mu.Unlock()
		})
	}
	wg.Wait()
	l.elapsed += time.Since(start)
	l.calls += n
	if b.Failed() {
		b.FailNow()
	}
}

func (l *load) rate() float64 { return float64(l.calls) / l.elapsed.Seconds() }

// BenchmarkRetrieveTools_Latency measures the percentiles of retrieve_tools
// over MCP with 10,000 tools in the index, against the search behind it
// called in process (the baseline, interleaved with it). The tools are
// loaded as in BenchmarkRetrieveTools.
func BenchmarkRetrieveTools_Latency(b *testing.B) {
	const n = 10_000
	queries := []string{"create github issue", "read a file", "send slack message",
		"list calendar events", "delete database row", "search customer invoices"}
	p := newProxy(b, proxyOptions{})
	for name, tools := range syntheticTools(n, n) {
		p.view.Put(&stateview.Server{
			ServerStatus: mcpproxy.ServerStatus{Name: name, Enabled: true, State: mcpproxy.StateReady, Tools: tools, ToolCount: len(tools)},
			Generation:   1 << 40,
		})
	}
	waitFor(b, 60*time.Second, func() bool {
		return p.idx.Len() == n && len(p.srv.cat.set.Load().tools) == n
	}, "%d tools in the index", n)
	cs := connectBench(b, &mcp.StreamableClientTransport{Endpoint: p.URL + "/mcp", HTTPClient: benchHTTP, MaxRetries: -1})
	ctx := context.Background()
	retrieve := func(q string) time.Duration {
		start := time.Now()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "retrieve_tools",
			Arguments: map[string]any{"query": q, "limit": 15}})
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		var r searchResult
		if res.IsError || json.Unmarshal([]byte(textOf(res)), &r) != nil || len(r.Tools) == 0 {
			b.Fatalf("retrieve_tools %q: %s", q, textOf(res))
		}
		return d
	}
	search := func(q string) time.Duration {
		start := time.Now()
		hits, err := p.srv.Search(ctx, q, 15)
		d := time.Since(start)
		if err != nil || len(hits) == 0 {
			b.Fatalf("search %q: %d hits, %v", q, len(hits), err)
		}
		return d
	}
	for i := range 60 {
		retrieve(queries[i%len(queries)])
	}
	var mcpTook, searchTook []time.Duration
	i := 0
	for b.Loop() {
		q := queries[i%len(queries)]
		mcpTook = append(mcpTook, retrieve(q))
		searchTook = append(searchTook, search(q))
		i++
	}
	reportPair(b, "search", searchTook, "mcp", mcpTook)
}
