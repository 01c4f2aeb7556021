package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// toolsPerCatalogServer is how many tools each catalog server lists; the
// numbers of tools searched are multiples of it.
const toolsPerCatalogServer = 200

type searchResult struct {
	tools, servers int
	indexed        time.Duration // from exec to every tool indexed
	settled        time.Duration // then until the daemon's CPU use fell below 10 %
	rssKiB         int64
	search, ping   latencies // interleaved, nothing re-indexed
	quiet, reindex latencies // alternating phases
	cycles         latencies // one tool removed and added back, both re-indexed
	indexUpdates   float64   // during the re-index phases
}

// runSearch measures retrieve_tools over /mcp with growing numbers of
// tools indexed, then while one server is restarted over and over.
func runSearch(ctx context.Context, o options, up *upstreams) (string, error) {
	var rs []searchResult
	for _, n := range o.toolCounts {
		logf("search: %d tools…", n)
		r, err := searchSize(ctx, o, up, n)
		if err != nil {
			return "", fmt.Errorf("%d tools: %w", n, err)
		}
		rs = append(rs, r)
	}
	return renderSearch(rs, o), nil
}

func searchSize(ctx context.Context, o options, up *upstreams, tools int) (res searchResult, err error) {
	res.tools, res.servers = tools, (tools+toolsPerCatalogServer-1)/toolsPerCatalogServer
	var servers []map[string]any
	var names []string
	for i := range res.servers {
		name := fmt.Sprintf("%s_%03d", products[i%len(products)], i)
		names = append(names, name)
		servers = append(servers, map[string]any{"name": name, "protocol": "streamable-http",
			"url": up.URL(fmt.Sprintf("/catalog/%d/%d", i, toolsPerCatalogServer))})
	}
	d, err := startDaemon(ctx, o.bin, servers, nil)
	if err != nil {
		return res, err
	}
	defer func() {
		if _, serr := d.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	if err := d.waitIndexed(ctx, names, tools, 15*time.Minute); err != nil {
		return res, err
	}
	res.indexed = time.Since(d.Started)
	res.settled = d.waitQuiet(ctx, time.Minute)
	cs, err := connectHTTP(ctx, d.Base+"/mcp")
	if err != nil {
		return res, err
	}
	defer cs.Close()

	retrieve := func(i int) error { return retrieveTools(ctx, cs, searchQueries[i%len(searchQueries)]) }
	ping := func(int) error { return cs.Ping(ctx, nil) }
	for i := range 100 {
		if err := errors.Join(retrieve(i), ping(i)); err != nil {
			return res, err
		}
	}
	for i := range o.searches {
		ops := []struct {
			f   func(int) error
			lat *latencies
		}{{retrieve, &res.search}, {ping, &res.ping}}
		for k := range ops {
			op := ops[(i+k)%2]
			t := time.Now()
			if err := op.f(i); err != nil {
				return res, err
			}
			*op.lat = append(*op.lat, time.Since(t))
		}
	}
	res.rssKiB = d.rssKiB()

	// Alternate phases: searches while nothing happens, and searches while
	// a goroutine restarts one server over and over, so that it leaves the
	// index and is indexed again. A re-index phase ends only after the
	// server is back, so no quiet phase overlaps a re-index.
	srv := up.catalogAt(0, toolsPerCatalogServer)
	moved := catalogTools(0, toolsPerCatalogServer)[0]
	const phases = 10
	per := max(1, o.searches/(phases/2))
	before, err := d.metricSum("mcpproxy_index_updates_total")
	if err != nil {
		return res, err
	}
	for p := range phases {
		if p%2 == 0 {
			for i := range per {
				t := time.Now()
				if err := retrieve(i); err != nil {
					return res, err
				}
				res.quiet = append(res.quiet, time.Since(t))
			}
			continue
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var cycleErr error
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				t := time.Now()
				if err := d.reindexOnce(ctx, srv, moved, tools); err != nil {
					cycleErr = err
					return
				}
				res.cycles = append(res.cycles, time.Since(t))
			}
		})
		for i := range per {
			t := time.Now()
			if err := retrieve(i); err != nil {
				close(stop)
				wg.Wait()
				return res, err
			}
			res.reindex = append(res.reindex, time.Since(t))
		}
		close(stop)
		wg.Wait()
		if cycleErr != nil {
			return res, fmt.Errorf("re-index %s: %w", names[0], cycleErr)
		}
	}
	after, err := d.metricSum("mcpproxy_index_updates_total")
	if err != nil {
		return res, err
	}
	res.indexUpdates = after - before
	return res, nil
}

// retrieveTools calls retrieve_tools and checks that it found something.
func retrieveTools(ctx context.Context, cs *mcp.ClientSession, query string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "retrieve_tools", Arguments: map[string]any{"query": query, "limit": 15}})
	if err != nil {
		return fmt.Errorf("retrieve_tools %q: %w", query, err)
	}
	text := testupstream.Text(res)
	if res.IsError {
		return fmt.Errorf("retrieve_tools %q: tool error: %s", query, text)
	}
	if !strings.Contains(text, `"id"`) {
		return fmt.Errorf("retrieve_tools %q: no tools found: %.200s", query, text)
	}
	return nil
}

// reindexOnce removes one tool from a catalog server and adds it back,
// waiting each time until the daemon's index holds the new number of
// tools: two re-indexes of that server, each triggered by the upstream's
// tools/list_changed as for a real server whose tools change.
func (d *daemon) reindexOnce(ctx context.Context, srv *mcp.Server, t catalogTool, tools int) error {
	srv.RemoveTools(t.Name)
	if err := d.waitToolsIndexed(ctx, tools-1); err != nil {
		return fmt.Errorf("remove %s: %w", t.Name, err)
	}
	addCatalogTool(srv, t)
	if err := d.waitToolsIndexed(ctx, tools); err != nil {
		return fmt.Errorf("add %s back: %w", t.Name, err)
	}
	return nil
}

// waitToolsIndexed polls /metrics until the index holds exactly n tools.
func (d *daemon) waitToolsIndexed(ctx context.Context, n int) error {
	start := time.Now()
	for {
		m, err := d.metrics()
		if err != nil {
			return err
		}
		got := int(m["mcpproxy_tools_indexed"])
		if got == n {
			return nil
		}
		if time.Since(start) > time.Minute {
			return fmt.Errorf("index holds %d tools, not %d, after a minute", got, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// metricSum is the sum of every series of one metric in /metrics.
func (d *daemon) metricSum(name string) (float64, error) {
	code, body, _, err := d.get("/metrics")
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("GET /metrics: HTTP %d", code)
	}
	return promSum(body, name), nil
}

// promSum adds up the samples of every series of name, labelled or not.
func promSum(body []byte, name string) float64 {
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) >= 1 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

func renderSearch(rs []searchResult, o options) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "`retrieve_tools` (limit 15) through `/mcp`, over streamable-HTTP catalog servers of %d tools each, "+
		"served by mcpbench: verb_noun tools of 40 products with a sentence or more of description and 2–4 described parameters. "+
		"%d queries such as %q in turn, one at a time on one session. Baseline: an MCP `ping` on the same session, interleaved "+
		"(the cost of the round trip alone). %d searches and pings per size after 100 warm-up pairs.\n\n",
		toolsPerCatalogServer, len(searchQueries), searchQueries[0], o.searches)
	b.WriteString("| tools indexed | servers | indexed after | settled after | RSS | retrieve_tools p50 | p99 | max | ping p50 | p99 | max | p50 ratio to ping | p99 ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %d | %d | %.1f s | %.1f s | %.1f MiB | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms | %s | %s |\n", r.tools, r.servers,
			r.indexed.Seconds(), r.settled.Seconds(), float64(r.rssKiB)/1024,
			ms(r.search.q(0.5)), ms(r.search.q(0.99)), ms(r.search.q(1)),
			ms(r.ping.q(0.5)), ms(r.ping.q(0.99)), ms(r.ping.q(1)),
			ratio(r.search.q(0.5), r.ping.q(0.5)), ratio(r.search.q(0.99), r.ping.q(0.99)))
	}
	fmt.Fprintf(&b, "\nWhile one server (%d tools) is re-indexed: ten alternating phases of searches, five while a goroutine changes "+
		"that server's tool list over and over (mcpbench removes one of its tools, the upstream sends `tools/list_changed`, the daemon "+
		"re-lists and re-indexes the server; mcpbench polls `/metrics` every 2 ms until the index has one tool less, then adds the tool "+
		"back and waits again: one cycle, two re-indexes), five while nothing happens (the baseline). "+
		"A re-index phase ends only once the tool is back. Measurements start after the daemon's CPU use has settled below 10 %%.\n\n", toolsPerCatalogServer)
	b.WriteString("| tools indexed | phase | searches | p50 | p99 | max | p50 ratio to quiet | p99 ratio | cycles | index updates | cycle p50 |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %d | quiet (baseline) | %d | %s ms | %s ms | %s ms | 1.00 | 1.00 | | | |\n", r.tools, len(r.quiet),
			ms(r.quiet.q(0.5)), ms(r.quiet.q(0.99)), ms(r.quiet.q(1)))
		fmt.Fprintf(&b, "| %d | re-indexing | %d | %s ms | %s ms | %s ms | %s | %s | %d | %.0f | %s ms |\n", r.tools, len(r.reindex),
			ms(r.reindex.q(0.5)), ms(r.reindex.q(0.99)), ms(r.reindex.q(1)),
			ratio(r.reindex.q(0.5), r.quiet.q(0.5)), ratio(r.reindex.q(0.99), r.quiet.q(0.99)),
			len(r.cycles), r.indexUpdates, ms(r.cycles.q(0.5)))
	}
	return b.String()
}
