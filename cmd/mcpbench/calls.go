package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// callPath is one way to make the same echo call.
type callPath struct {
	name string
	call func(ctx context.Context, msg string) error
	lat  latencies
}

// phaseResult is what one throughput phase measured.
type phaseResult struct {
	calls   int
	elapsed time.Duration
	lat     latencies
}

func (p phaseResult) add(q phaseResult) phaseResult {
	return phaseResult{calls: p.calls + q.calls, elapsed: p.elapsed + q.elapsed, lat: append(p.lat, q.lat...)}
}

func (p phaseResult) rate() float64 { return float64(p.calls) / max(p.elapsed.Seconds(), 1e-9) }

type tputRow struct {
	upstream       string
	clients        int
	direct, viaMCP phaseResult
}

type callsUpstream struct {
	label string // as printed
	name  string // server name in the daemon's config
	paths []*callPath
	tput  []tputRow
}

var tputClients = []int{1, 16, 64}

// runCalls measures an echo call through the daemon's three MCP endpoints
// against the same call made directly to the same upstream, for a stdio
// and a streamable-HTTP upstream, and the calls per second each way.
func runCalls(ctx context.Context, o options, up *upstreams) (_ string, err error) {
	stdio, err := stdioEntry("stdio", "ok", nil)
	if err != nil {
		return "", err
	}
	// An HTTP upstream in a process of its own, as real ones are, besides
	// the one mcpbench serves itself: a direct call to the latter never
	// leaves mcpbench's process, which flatters the baseline.
	procURL, stopProc, err := startHTTPChild(ctx)
	if err != nil {
		return "", err
	}
	defer func() {
		if serr := stopProc(); err == nil && serr != nil {
			err = serr
		}
	}()
	servers := []map[string]any{stdio,
		{"name": "http", "protocol": "streamable-http", "url": up.URL("/ok/calls")},
		{"name": "httpproc", "protocol": "streamable-http", "url": procURL}}
	d, err := startDaemon(ctx, o.bin, servers, nil)
	if err != nil {
		return "", err
	}
	defer func() {
		if _, serr := d.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	if err := d.waitIndexed(ctx, []string{"stdio", "http", "httpproc"}, 0, time.Minute); err != nil {
		return "", err
	}
	maxClients := tputClients[len(tputClients)-1]
	var sessions []*mcp.ClientSession
	defer func() { closeAll(sessions) }()
	open := func(connect func() (*mcp.ClientSession, error)) (*mcp.ClientSession, error) {
		cs, err := connect()
		if err == nil {
			sessions = append(sessions, cs)
		}
		return cs, err
	}
	httpTo := func(url string) func() (*mcp.ClientSession, error) {
		return func() (*mcp.ClientSession, error) { return connectHTTP(ctx, url) }
	}
	// One session per concurrent client through /mcp; the first also
	// makes the interleaved single calls.
	viaMCP := make([]*mcp.ClientSession, maxClients)
	for i := range viaMCP {
		if viaMCP[i], err = open(httpTo(d.Base + "/mcp")); err != nil {
			return "", err
		}
	}
	all, err := open(httpTo(d.Base + "/mcp/all"))
	if err != nil {
		return "", err
	}

	var ups []*callsUpstream
	for _, u := range []struct{ label, name, url string }{
		{"stdio", "stdio", ""},
		{"streamable HTTP, own process", "httpproc", procURL},
		{"streamable HTTP, in mcpbench", "http", up.URL("/ok/direct")},
	} {
		one, err := open(httpTo(d.Base + "/mcp/server/" + u.name))
		if err != nil {
			return "", err
		}
		// Direct sessions: a stdio server has exactly one, on the
		// process mcpbench starts itself; an HTTP server gets one per
		// concurrent client, as the proxy does.
		var direct []*mcp.ClientSession
		if u.name == "stdio" {
			cs, err := open(func() (*mcp.ClientSession, error) { return connectStdio(ctx, nil) })
			if err != nil {
				return "", err
			}
			direct = []*mcp.ClientSession{cs}
		} else {
			for range maxClients {
				cs, err := open(httpTo(u.url))
				if err != nil {
					return "", err
				}
				direct = append(direct, cs)
			}
		}
		cu := &callsUpstream{label: u.label, name: u.name}
		echoArgs := func(msg string) map[string]any { return map[string]any{"message": msg} }
		directCall := func(w int) func(ctx context.Context, msg string) error {
			cs := direct[w%len(direct)]
			return func(ctx context.Context, msg string) error { return echoCall(ctx, cs, "echo", echoArgs(msg), msg) }
		}
		proxyCall := func(w int) func(ctx context.Context, msg string) error {
			cs := viaMCP[w]
			return func(ctx context.Context, msg string) error {
				return echoCall(ctx, cs, "call_tool", map[string]any{"name": u.name + ":echo", "args": echoArgs(msg)}, msg)
			}
		}
		cu.paths = []*callPath{
			{name: "direct (baseline)", call: directCall(0)},
			{name: "`/mcp` `call_tool` " + u.name + ":echo", call: proxyCall(0)},
			{name: "`/mcp/all` " + u.name + "__echo", call: func(ctx context.Context, msg string) error {
				return echoCall(ctx, all, u.name+"__echo", echoArgs(msg), msg)
			}},
			{name: "`/mcp/server/" + u.name + "` echo", call: func(ctx context.Context, msg string) error {
				return echoCall(ctx, one, "echo", echoArgs(msg), msg)
			}},
		}
		logf("calls: %s upstream, %d calls per path…", u.label, o.calls)
		if err := measureInterleaved(ctx, cu.paths, 200, o.calls); err != nil {
			return "", fmt.Errorf("%s: %w", u.label, err)
		}
		for _, c := range tputClients {
			logf("calls: %s upstream, throughput with %d clients…", u.label, c)
			row := tputRow{upstream: u.label, clients: c}
			// Two rounds each way, alternating, so both see the same load.
			for range 2 {
				p, err := phase(ctx, o.tputDuration, c, directCall)
				if err != nil {
					return "", fmt.Errorf("%s, %d clients, direct: %w", u.label, c, err)
				}
				row.direct = row.direct.add(p)
				if p, err = phase(ctx, o.tputDuration, c, proxyCall); err != nil {
					return "", fmt.Errorf("%s, %d clients, via /mcp: %w", u.label, c, err)
				}
				row.viaMCP = row.viaMCP.add(p)
			}
			cu.tput = append(cu.tput, row)
		}
		ups = append(ups, cu)
	}
	return renderCalls(ups, o), nil
}

// measureInterleaved warms every path up, then makes n calls on each,
// rotating which path goes first so that none always follows another.
func measureInterleaved(ctx context.Context, paths []*callPath, warmup, n int) error {
	for i := range warmup {
		for _, p := range paths {
			if err := p.call(ctx, "warmup-"+strconv.Itoa(i)); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
	}
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		msg := "bench-" + strconv.Itoa(i)
		for k := range paths {
			p := paths[(i+k)%len(paths)]
			t := time.Now()
			if err := p.call(ctx, msg); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			p.lat = append(p.lat, time.Since(t))
		}
	}
	return nil
}

// phase runs workers concurrent callers, each making calls back to back
// for dur; any failed call fails the phase.
func phase(ctx context.Context, dur time.Duration, workers int, caller func(w int) func(context.Context, string) error) (phaseResult, error) {
	var (
		wg   sync.WaitGroup
		lats = make([]latencies, workers)
		errs = make([]error, workers)
	)
	start := time.Now()
	deadline := start.Add(dur)
	for w := range workers {
		call := caller(w)
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				msg := "w" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				t := time.Now()
				if err := call(ctx, msg); err != nil {
					errs[w] = err
					return
				}
				lats[w] = append(lats[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	res := phaseResult{elapsed: time.Since(start)}
	for _, l := range lats {
		res.calls += len(l)
		res.lat = append(res.lat, l...)
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	return res, ctx.Err()
}

func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + " µs"
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "—"
	}
	return strconv.FormatFloat(float64(a)/float64(b), 'f', 2, 64)
}

func renderCalls(ups []*callsUpstream, o options) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "One `echo` call at a time, from go-sdk clients over streamable HTTP on loopback. Each round makes the call once on every path, "+
		"the first path rotating; %d measured rounds after 200 warm-up rounds. Direct (the baseline): for stdio, mcpbench starts the same "+
		"command mcpproxy runs (this binary as testupstream `ok`) with `mcp.CommandTransport`; for streamable HTTP, the same upstream "+
		"as the daemon's: one in a process of its own (this binary as testupstream `http`), as real HTTP upstreams are, and one served by mcpbench "+
		"itself, whose direct calls never leave mcpbench's process (a flattering baseline: through the proxy a call crosses two processes more, "+
		"not one). \"Added\" is the path's p50 minus the direct p50; ratios are to the direct call in the same run.\n\n", o.calls)
	b.WriteString("| upstream | path | p50 | p99 | max | added p50 | p50 ratio | p99 ratio |\n|---|---|---|---|---|---|---|---|\n")
	for _, u := range ups {
		base := u.paths[0].lat
		for i, p := range u.paths {
			added := "—"
			if i > 0 {
				added = us(p.lat.q(0.5) - base.q(0.5))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", u.label, p.name, us(p.lat.q(0.5)), us(p.lat.q(0.99)), us(p.lat.q(1)),
				added, ratio(p.lat.q(0.5), base.q(0.5)), ratio(p.lat.q(0.99), base.q(0.99)))
		}
	}
	fmt.Fprintf(&b, "\nThroughput: N concurrent clients making echo calls back to back, for two phases of %v each way, alternating "+
		"direct and through the proxy. Through the proxy each client has its own `/mcp` session (`call_tool`); directly, a stdio server "+
		"has one session, shared by the N clients, and a streamable-HTTP server gives each client its own. Client, proxy and upstream share the CPUs.\n\n", o.tputDuration)
	b.WriteString("| upstream | clients | direct calls/s | via /mcp calls/s | ratio | direct p50 / p99 / max | via /mcp p50 / p99 / max |\n|---|---|---|---|---|---|---|\n")
	for _, u := range ups {
		for _, r := range u.tput {
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.2f | %s / %s / %s ms | %s / %s / %s ms |\n", r.upstream, r.clients, r.direct.rate(), r.viaMCP.rate(),
				r.viaMCP.rate()/max(r.direct.rate(), 1e-9),
				ms(r.direct.lat.q(0.5)), ms(r.direct.lat.q(0.99)), ms(r.direct.lat.q(1)),
				ms(r.viaMCP.lat.q(0.5)), ms(r.viaMCP.lat.q(0.99)), ms(r.viaMCP.lat.q(1)))
		}
	}
	return b.String()
}
