package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The soak runs one daemon with
//
//   - healthy upstreams, stdio and streamable HTTP, that nobody restarts:
//     every call to them must succeed;
//   - flapping stdio upstreams that exit a few seconds after they connect
//     (testupstream crash-after) and are restarted through the REST API;
//   - catalog servers that give the searches something to find, two of
//     which are restarted through the REST API too (and so re-indexed);
//
// and drives it with soakWorkers clients, each on its own /mcp session
// (reopened every soakReopen operations), that in turn search, call a
// healthy upstream, call a flapping one, and read the REST API.
const (
	soakHealthyStdio = 3
	soakHealthyHTTP  = 3
	soakFlapping     = 3
	soakCatalog      = 10
	soakWorkers      = 8
	soakReopen       = 500
	soakCrashAfter   = "3s"
	soakRestartEvery = time.Second
	soakRate         = 200 // operations per second, all workers together
)

type soakSample struct {
	at         time.Duration
	label      string
	rssKiB     int64
	anonKiB    int64 // of which anonymous: memory the daemon allocated
	fileKiB    int64 // of which file-backed: the binary and the store's mmap
	storeBytes int64 // size of the store file
	goroutines float64
	heap       float64
	ops        int64
}

type soakCounter struct{ ok, failed atomic.Int64 }

type soakStats struct {
	healthy, flapping, search, rest, restart, connect soakCounter

	mu     sync.Mutex
	errors []string // guarded by mu: the first failures that must not happen
}

func (s *soakStats) fail(c *soakCounter, err error, mustNot bool) {
	c.failed.Add(1)
	if !mustNot {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errors) < 10 {
		s.errors = append(s.errors, err.Error())
	}
}

func (s *soakStats) total() int64 {
	var n int64
	for _, c := range []*soakCounter{&s.healthy, &s.flapping, &s.search, &s.rest} {
		n += c.ok.Load() + c.failed.Load()
	}
	return n
}

// runSoak runs the soak for o.soak. It returns the report also when calls
// that must not fail did, together with an error.
func runSoak(ctx context.Context, o options, up *upstreams) (report string, err error) {
	var servers []map[string]any
	var healthy, flapping, restarted, all []string
	for i := range soakHealthyStdio {
		name := fmt.Sprintf("stdio-ok-%d", i)
		e, err := stdioEntry(name, testupstream.ModeOK, nil)
		if err != nil {
			return "", err
		}
		servers, healthy = append(servers, e), append(healthy, name)
	}
	for i := range soakHealthyHTTP {
		name := fmt.Sprintf("http-ok-%d", i)
		servers = append(servers, map[string]any{"name": name, "protocol": "streamable-http", "url": up.URL("/ok/soak-" + strconv.Itoa(i))})
		healthy = append(healthy, name)
	}
	for i := range soakFlapping {
		name := fmt.Sprintf("flapping-%d", i)
		e, err := stdioEntry(name, testupstream.ModeCrashAfter, map[string]string{testupstream.EnvCrashAfter: soakCrashAfter})
		if err != nil {
			return "", err
		}
		servers, flapping = append(servers, e), append(flapping, name)
	}
	for i := range soakCatalog {
		name := fmt.Sprintf("%s_%03d", products[i%len(products)], i)
		servers = append(servers, map[string]any{"name": name, "protocol": "streamable-http",
			"url": up.URL(fmt.Sprintf("/catalog/%d/%d", i, toolsPerCatalogServer))})
		all = append(all, name)
		if i < 2 {
			restarted = append(restarted, name)
		}
	}
	all = append(all, healthy...)
	d, err := startDaemon(ctx, o.bin, servers, nil)
	if err != nil {
		return "", err
	}
	defer func() {
		if _, serr := d.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	if err := d.waitIndexed(ctx, append(all, flapping...), soakCatalog*toolsPerCatalogServer, 5*time.Minute); err != nil {
		return "", err
	}
	d.waitQuiet(ctx, time.Minute)

	var samples []soakSample
	start := time.Now()
	var stats soakStats
	sample := func(label string) error {
		m, err := d.metrics()
		if err != nil {
			return err
		}
		samples = append(samples, soakSample{at: time.Since(start), label: label, rssKiB: d.rssKiB(),
			anonKiB: procStatusKiB(d.Pid(), "RssAnon:"), fileKiB: procStatusKiB(d.Pid(), "RssFile:"), storeBytes: d.storeBytes(),
			goroutines: m["go_goroutines"], heap: m["go_memstats_heap_inuse_bytes"], ops: stats.total()})
		return nil
	}
	if err := sample("idle, before traffic"); err != nil {
		return "", err
	}
	logf("soak: %v of mixed traffic…", o.soak)

	tctx, stopTraffic := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range soakWorkers {
		wg.Go(func() { soakWorker(tctx, d, w, healthy, flapping, &stats) })
	}
	restartTargets := append(append([]string{}, flapping...), restarted...)
	wg.Go(func() {
		t := time.NewTicker(soakRestartEvery)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
			}
			name := restartTargets[i%len(restartTargets)]
			code, body, _, err := d.do("POST", "/api/v1/servers/"+name+"/restart", []byte("{}"))
			if err == nil && code/100 != 2 {
				err = fmt.Errorf("POST /api/v1/servers/%s/restart: HTTP %d: %.200s", name, code, body)
			}
			if err != nil {
				stats.fail(&stats.restart, err, true)
				continue
			}
			stats.restart.ok.Add(1)
		}
	})

	warm := min(30*time.Second, o.soak/10)
	every := max(time.Second, o.soak/10)
	next := warm
	var sampleErr error
	for sampleErr == nil && ctx.Err() == nil && d.Alive() {
		el := time.Since(start)
		if el >= o.soak {
			break
		}
		if el >= next {
			label := ""
			if next == warm {
				label = "start (after warm-up)"
			}
			sampleErr = sample(label)
			next += every
		}
		time.Sleep(100 * time.Millisecond)
	}
	if sampleErr == nil {
		sampleErr = sample("end of traffic")
	}
	stopTraffic()
	wg.Wait()
	if !d.Alive() {
		return "", errors.New("mcpproxy exited during the soak")
	}
	if err := errors.Join(sampleErr, ctx.Err()); err != nil {
		return "", err
	}
	if err := d.waitIndexed(ctx, all, soakCatalog*toolsPerCatalogServer, time.Minute); err != nil {
		return "", fmt.Errorf("after the soak: %w", err)
	}
	d.waitQuiet(ctx, time.Minute)
	if err := sample("after traffic, settled"); err != nil {
		return "", err
	}
	m, _ := d.metrics()
	body := []byte{}
	if _, b, _, err := d.get("/metrics"); err == nil {
		body = b
	}
	report = renderSoak(o, samples, &stats, promSum(body, "mcpproxy_upstream_reconnects_total"),
		promSum(body, "mcpproxy_upstream_connect_attempts_total"), m["mcpproxy_tools_indexed"])
	bad := stats.healthy.failed.Load() + stats.search.failed.Load() + stats.rest.failed.Load() + stats.restart.failed.Load() + stats.connect.failed.Load()
	if bad > 0 {
		return report, fmt.Errorf("%d operations that must not fail failed, first: %s", bad, strings.Join(stats.errors, "; "))
	}
	return report, nil
}

// soakWorker makes operations at its share of soakRate until ctx ends.
func soakWorker(ctx context.Context, d *daemon, w int, healthy, flapping []string, stats *soakStats) {
	var cs *mcp.ClientSession
	defer func() {
		if cs != nil {
			cs.Close()
		}
	}()
	t := time.NewTicker(time.Second * soakWorkers / soakRate)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if cs == nil || i%soakReopen == 0 {
			if cs != nil {
				cs.Close()
			}
			var err error
			if cs, err = connectHTTP(ctx, d.Base+"/mcp"); err != nil {
				if ctx.Err() == nil {
					stats.fail(&stats.connect, err, true)
				}
				cs = nil
				continue
			}
			stats.connect.ok.Add(1)
		}
		var (
			c       *soakCounter
			err     error
			mustNot = true
		)
		switch k := i + w; k % 4 {
		case 0:
			c, err = &stats.search, retrieveTools(ctx, cs, searchQueries[k%len(searchQueries)])
		case 1:
			name := healthy[k%len(healthy)]
			msg := fmt.Sprintf("soak-%d-%d", w, i)
			c, err = &stats.healthy, echoCall(ctx, cs, "call_tool", map[string]any{"name": name + ":echo", "args": map[string]any{"message": msg}}, msg)
		case 2:
			name := flapping[k%len(flapping)]
			msg := fmt.Sprintf("soak-%d-%d", w, i)
			c, err, mustNot = &stats.flapping, echoCall(ctx, cs, "call_tool", map[string]any{"name": name + ":echo", "args": map[string]any{"message": msg}}, msg), false
		case 3:
			path := []string{"/api/v1/servers", "/api/v1/status"}[k/4%2]
			code, _, _, rerr := d.get(path)
			if rerr == nil && code != 200 {
				rerr = fmt.Errorf("GET %s: HTTP %d", path, code)
			}
			c, err = &stats.rest, rerr
		}
		if ctx.Err() != nil {
			return // a call cut short by the end of the soak counts for nothing
		}
		if err != nil {
			stats.fail(c, err, mustNot)
			continue
		}
		c.ok.Add(1)
	}
}

func renderSoak(o options, samples []soakSample, s *soakStats, reconnects, attempts, indexed float64) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "`-soak %v`: one daemon with %d healthy upstreams (%d stdio, %d streamable HTTP) that nobody restarts, "+
		"%d stdio upstreams that exit %s after they connect (testupstream `crash-after`), and %d catalog servers (%d tools in all) "+
		"of which 2 are restarted too. Every %v one of the flapping or restarted servers is restarted through "+
		"`POST /api/v1/servers/{name}/restart`, in turn. %d clients, each on its own `/mcp` session (reopened every %d operations), "+
		"make %d operations per second in all, in turn: `retrieve_tools`, `call_tool` echo on a healthy upstream, `call_tool` echo "+
		"on a flapping one, `GET /api/v1/servers` or `/api/v1/status`. Memory and goroutines from the daemon's `/proc` status and `/metrics`.\n\n",
		o.soak, soakHealthyStdio+soakHealthyHTTP, soakHealthyStdio, soakHealthyHTTP, soakFlapping, soakCrashAfter, soakCatalog,
		soakCatalog*toolsPerCatalogServer, soakRestartEvery, soakWorkers, soakReopen, soakRate)
	b.WriteString("| operation | succeeded | failed | may fail? |\n|---|---|---|---|\n")
	for _, r := range []struct {
		name string
		c    *soakCounter
		may  string
	}{
		{"`call_tool` on a healthy upstream", &s.healthy, "**no**"},
		{"`retrieve_tools`", &s.search, "no"},
		{"REST reads", &s.rest, "no"},
		{"REST restarts", &s.restart, "no"},
		{"`/mcp` sessions opened", &s.connect, "no"},
		{"`call_tool` on a flapping upstream", &s.flapping, "yes: it may be down"},
	} {
		fmt.Fprintf(&b, "| %s | %d | %d | %s |\n", r.name, r.c.ok.Load(), r.c.failed.Load(), r.may)
	}
	fmt.Fprintf(&b, "\nThe daemon counted %.0f connection attempts and %.0f reconnects; %.0f tools indexed at the end.\n\n", attempts, reconnects, indexed)
	b.WriteString("| time | when | RSS | anonymous | file-backed | Go heap in use | goroutines | store file | operations so far |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, x := range samples {
		fmt.Fprintf(&b, "| %.0f s | %s | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %.0f | %.1f MiB | %d |\n", x.at.Seconds(), x.label, float64(x.rssKiB)/1024,
			float64(x.anonKiB)/1024, float64(x.fileKiB)/1024, x.heap/(1<<20), x.goroutines, float64(x.storeBytes)/(1<<20), x.ops)
	}
	var first, last *soakSample
	for i := range samples {
		switch samples[i].label {
		case "start (after warm-up)":
			first = &samples[i]
		case "end of traffic":
			last = &samples[i]
		}
	}
	var traffic []soakSample
	for _, x := range samples {
		if x.label != "idle, before traffic" && x.label != "after traffic, settled" {
			traffic = append(traffic, x)
		}
	}
	if len(traffic) > 0 {
		lo, hi := traffic[0], traffic[0]
		for _, x := range traffic {
			if x.rssKiB < lo.rssKiB {
				lo.rssKiB = x.rssKiB
			}
			if x.rssKiB > hi.rssKiB {
				hi.rssKiB = x.rssKiB
			}
			lo.goroutines, hi.goroutines = min(lo.goroutines, x.goroutines), max(hi.goroutines, x.goroutines)
		}
		fmt.Fprintf(&b, "\nDuring traffic, RSS ranged over %.1f–%.1f MiB and goroutines over %.0f–%.0f.", float64(lo.rssKiB)/1024, float64(hi.rssKiB)/1024, lo.goroutines, hi.goroutines)
	}
	if first != nil && last != nil {
		fmt.Fprintf(&b, " From the start (after warm-up) to the end of traffic: RSS %+.1f MiB (%s; anonymous %+.1f MiB, file-backed %+.1f MiB), goroutines %+.0f (%s).",
			float64(last.rssKiB-first.rssKiB)/1024, ratio(time.Duration(last.rssKiB), time.Duration(first.rssKiB)),
			float64(last.anonKiB-first.anonKiB)/1024, float64(last.fileKiB-first.fileKiB)/1024,
			last.goroutines-first.goroutines, ratio(time.Duration(last.goroutines), time.Duration(first.goroutines)))
	}
	b.WriteString("\n")
	return b.String()
}
