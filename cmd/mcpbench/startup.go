package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

// result is one size's measurements.
type result struct {
	Kind             string // "streamable-http" or "stdio"
	N, Answering     int
	Readyz, AllReady time.Duration
	// From the daemon's listening (its daemon.json) to /readyz 200.
	ReadyzAfterListen time.Duration
	// While upstreams connect and are indexed, then on the settled daemon.
	Servers, Status, Hz                      latencies
	SettledServers, SettledStatus, SettledHz latencies
	// Just after every answering upstream is ready, then at rest (after
	// restDelay without state changes, when the daemon has given back
	// what startup took).
	RSSKiB, AnonKiB         int64
	RestRSSKiB, RestAnonKiB int64
	// Private memory at rest of the daemon and of its keeper (0: none).
	RestPrivateKiB, KeeperPrivateKiB int64
	// From the daemon's own /metrics once settled.
	HeapInuse, StackInuse, Goroutines float64
	Exit                              time.Duration
	ToolsIndexed                      int
	ServersBodyBytes                  int
	StartupPollErrors                 int
	ReadyzBeforeAllReady              bool
}

type latencies []time.Duration

func (l latencies) q(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func run(ctx context.Context, bin, upAddr, kind string, n, tools int) (res result, err error) {
	res.N, res.Kind = n, kind
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	var servers []map[string]any
	for i := range n {
		hang := i%3 == 2
		name := fmt.Sprintf("ok%04d", i)
		if hang {
			name = fmt.Sprintf("hang%04d", i)
		} else {
			res.Answering++
		}
		switch {
		case kind == "stdio":
			mode := testupstream.ModeOK
			if hang {
				mode = testupstream.ModeHang
			}
			s := map[string]any{"name": name, "command": self,
				"env": map[string]string{testupstream.EnvMode: mode, testupstream.EnvTools: strconv.Itoa(tools)}}
			if hang {
				s["connect_timeout"] = "1h"
			}
			servers = append(servers, s)
		case hang:
			servers = append(servers, map[string]any{"name": name, "protocol": "streamable-http",
				"url": fmt.Sprintf("http://%s/hang/%d", upAddr, i), "connect_timeout": "1h"})
		default:
			servers = append(servers, map[string]any{"name": name, "protocol": "streamable-http",
				"url": fmt.Sprintf("http://%s/ok/%d", upAddr, i)})
		}
	}
	d, err := startDaemon(ctx, bin, servers, nil)
	if err != nil {
		return res, err
	}
	defer func() {
		if _, serr := d.stop(); err == nil {
			err = serr
		}
	}()
	start := d.Started

	// Startup: /readyz, then every answering upstream ready. The same
	// loop measures the list endpoints against /healthz while upstreams
	// connect and their tools are indexed.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if time.Now().After(deadline) {
			return res, errors.New("no /readyz 200 within 5 minutes")
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if code, _, _, err := d.get("/readyz"); err == nil && code == 200 {
			res.Readyz = time.Since(start)
			res.ReadyzAfterListen = time.Since(d.Listening)
			break
		}
		time.Sleep(time.Millisecond)
	}
	for {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("not all %d answering upstreams ready within 5 minutes", res.Answering)
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		code, body, dur, err := d.get("/api/v1/servers")
		if err != nil || code != 200 {
			res.StartupPollErrors++
			continue
		}
		res.Servers = append(res.Servers, dur)
		res.ServersBodyBytes = len(body)
		if _, _, dur, err := d.get("/api/v1/status"); err == nil {
			res.Status = append(res.Status, dur)
		}
		if _, _, dur, err := d.get("/healthz"); err == nil {
			res.Hz = append(res.Hz, dur)
		}
		if ready := countReady(body); ready >= res.Answering {
			res.AllReady = time.Since(start)
			break
		}
	}
	// Settle, then keep measuring the list endpoints on a ready daemon.
	res.RSSKiB = procStatusKiB(d.Pid(), "VmRSS:")
	res.AnonKiB = procStatusKiB(d.Pid(), "RssAnon:")
	for range 300 {
		if _, _, dur, err := d.get("/api/v1/servers"); err == nil {
			res.SettledServers = append(res.SettledServers, dur)
		}
		if _, _, dur, err := d.get("/api/v1/status"); err == nil {
			res.SettledStatus = append(res.SettledStatus, dur)
		}
		if _, _, dur, err := d.get("/healthz"); err == nil {
			res.SettledHz = append(res.SettledHz, dur)
		}
	}
	if _, body, _, err := d.get("/api/v1/status"); err == nil {
		var st struct {
			Data struct {
				TotalTools int `json:"total_tools"`
			} `json:"data"`
		}
		json.Unmarshal(body, &st)
		res.ToolsIndexed = st.Data.TotalTools
	}
	time.Sleep(restDelay)
	res.RestRSSKiB = procStatusKiB(d.Pid(), "VmRSS:")
	res.RestAnonKiB = procStatusKiB(d.Pid(), "RssAnon:")
	res.RestPrivateKiB = privateKiB(d.Pid())
	if k := keeperPid(d.Pid()); k != 0 {
		res.KeeperPrivateKiB = privateKiB(k)
	}
	if m, err := d.metrics(); err == nil {
		res.HeapInuse, res.StackInuse, res.Goroutines = m["go_memstats_heap_inuse_bytes"], m["go_memstats_stack_inuse_bytes"], m["go_goroutines"]
	}
	res.Exit, err = d.stop()
	return res, err
}

// restDelay is how long the startup scenario leaves the settled daemon
// alone before it reads its memory at rest: more than the 3 s of quiet
// after which the daemon returns memory to the system.
const restDelay = 5 * time.Second

func countReady(body []byte) int {
	var list struct {
		Data []struct {
			State string `json:"state"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &list) != nil {
		return 0
	}
	n := 0
	for _, s := range list.Data {
		if s.State == "ready" {
			n++
		}
	}
	return n
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

func render(rs []result, tools int) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Upstreams: two thirds answer (%d tools each), one third hang forever. Streamable HTTP: served by mcpbench in its own process. stdio: each a process of its own, this binary re-executed as testupstream `ok` (a go-sdk server) or `hang` (reads stdin, never answers), all under the daemon's one keeper.\n\n", tools)
	b.WriteString("| upstreams | kind | /readyz 200 after exec | after listening | all answering ready | tools indexed | RSS when all ready | RSS at rest | private at rest: daemon | keeper | Go heap in use | stacks | goroutines | exit after SIGTERM |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		keeper := "—"
		if r.KeeperPrivateKiB > 0 {
			keeper = fmt.Sprintf("%.1f MiB", float64(r.KeeperPrivateKiB)/1024)
		}
		fmt.Fprintf(&b, "| %d | %s | %s ms | %s ms | %s ms | %d | %.1f MiB | %.1f MiB | %.1f MiB | %s | %.1f MiB | %.1f MiB | %.0f | %s ms |\n",
			r.N, r.Kind, ms(r.Readyz), ms(r.ReadyzAfterListen), ms(r.AllReady), r.ToolsIndexed,
			float64(r.RSSKiB)/1024, float64(r.RestRSSKiB)/1024, float64(r.RestPrivateKiB)/1024, keeper,
			r.HeapInuse/(1<<20), r.StackInuse/(1<<20), r.Goroutines, ms(r.Exit))
	}
	fmt.Fprintf(&b, "\nRSS counts the binary's own pages too (file-backed, shared, about 20 MiB); \"private\" is Private_Clean + Private_Dirty of the process's smaps_rollup, what it costs the machine. \"At rest\" is %s after the last upstream became ready, with no state change since (the daemon returns memory taken in a burst after 3 s of quiet); the Go heap, stacks and goroutines are read then. \"After listening\" counts from the daemon's first HTTP answer (mcpbench chose its port and polls /readyz from the start).\n", restDelay)
	for _, kind := range []string{"streamable-http", "stdio"} {
		var of []result
		for _, r := range rs {
			if r.Kind == kind {
				of = append(of, r)
			}
		}
		if len(of) >= 2 {
			a, z := of[0], of[len(of)-1]
			per := float64(z.RestPrivateKiB+z.KeeperPrivateKiB-a.RestPrivateKiB-a.KeeperPrivateKiB) / float64(z.N-a.N)
			fmt.Fprintf(&b, "Private memory growth at rest, %s: %.1f KiB per upstream (daemon and keeper, from %d to %d upstreams).\n", kind, per, a.N, z.N)
		}
	}
	b.WriteString("\nLatency of the list endpoints, baseline `GET /healthz` in the same loop: first while upstreams connect and their tools are indexed (\"startup\", from /readyz 200 to all ready; the CPUs are busy connecting), then 300 rounds on the settled daemon:\n\n")
	b.WriteString("| upstreams | kind | phase | endpoint | samples | p50 | p99 | max | p50 ratio to /healthz | p99 ratio |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		for _, ph := range []struct {
			name                string
			servers, status, hz latencies
		}{{"startup", r.Servers, r.Status, r.Hz}, {"settled", r.SettledServers, r.SettledStatus, r.SettledHz}} {
			for _, e := range []struct {
				name string
				l    latencies
			}{{"GET /api/v1/servers", ph.servers}, {"GET /api/v1/status", ph.status}, {"GET /healthz", ph.hz}} {
				fmt.Fprintf(&b, "| %d | %s | %s | %s | %d | %s ms | %s ms | %s ms | %.2f | %.2f |\n", r.N, r.Kind, ph.name, e.name, len(e.l),
					ms(e.l.q(0.5)), ms(e.l.q(0.99)), ms(e.l.q(1)),
					float64(e.l.q(0.5))/float64(max(1, ph.hz.q(0.5))), float64(e.l.q(0.99))/float64(max(1, ph.hz.q(0.99))))
			}
		}
	}
	return b.String()
}
