//go:build linux

package main

// Benchmarks of the real binary over real HTTP on loopback. Run them without
// -race (TestMain then builds the daemon without -race too):
//
//	go test -run '^$' -bench Readyz -benchtime 30x ./cmd/mcpproxy/
//	go test -run '^$' -bench ServersList -benchtime 5000x ./cmd/mcpproxy/
//
// Each reports its percentiles as custom metrics; docs/BENCHMARKS.md has
// the numbers.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

// percentile returns the q-quantile (0 < q <= 1) of ds by the nearest-rank
// method; ds is sorted in place.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// writeBenchConfig writes a config with the given servers into dir and
// returns its path.
func writeBenchConfig(b *testing.B, dir string, servers []map[string]any) string {
	b.Helper()
	path := filepath.Join(dir, "mcp_config.json")
	data := configJSON(b, servers, "api_key", testKey, "data_dir", filepath.Join(dir, "data"))
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReadyz_200Servers measures the time from exec of the binary to the
// first 200 from /readyz, with 200 stdio servers configured: 100 that hang
// forever and 100 that work. Each iteration starts and stops one process.
func BenchmarkReadyz_200Servers(b *testing.B) {
	var servers []map[string]any
	for i := range 100 {
		h := stdio(fmt.Sprintf("hang-%03d", i), testupstream.ModeHang)
		h["connect_timeout"] = "1h"
		servers = append(servers, h, stdio(fmt.Sprintf("ok-%03d", i), testupstream.ModeOK))
	}
	benchReadyz(b, servers)
}

// BenchmarkReadyz_NoServers is the baseline: the same with no servers.
func BenchmarkReadyz_NoServers(b *testing.B) {
	benchReadyz(b, nil)
}

func benchReadyz(b *testing.B, servers []map[string]any) {
	if raceEnabled {
		b.Log("note: -race build; numbers are not representative")
	}
	dir := b.TempDir()
	path := writeBenchConfig(b, dir, servers)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	var samples []time.Duration
	for b.Loop() {
		b.StopTimer()
		addr := freeAddr(b)
		url := "http://" + addr + "/readyz"
		b.StartTimer()

		start := time.Now()
		p := launch(b, dir, []string{"serve", "-c", path, "-l", addr})
		for {
			resp, err := client.Get(url)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if !p.running() || time.Since(start) > 30*time.Second {
				b.Fatalf("no 200 from /readyz within %v (running %v, last error %v)\nstderr:\n%s",
					time.Since(start), p.running(), err, tail(p.stderr.String(), 30))
			}
			time.Sleep(200 * time.Microsecond)
		}
		samples = append(samples, time.Since(start))

		b.StopTimer()
		p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.waitExit(b, 10*time.Second); code != 0 {
			b.Fatalf("exit code %d", code)
		}
		b.StartTimer()
	}
	b.ReportMetric(ms(percentile(samples, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(samples, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(samples, 1)), "max-ms")
}

// BenchmarkServersList_1000 measures GET /api/v1/servers over HTTP against
// a running daemon with 1,000 servers: 300 stdio servers that hang while
// connecting, 400 whose command does not exist (they fail and retry with
// backoff, so the state view keeps changing), and 300 disabled. Each
// iteration also times GET /healthz on the same connection as the baseline.
func BenchmarkServersList_1000(b *testing.B) {
	if raceEnabled {
		b.Log("note: -race build; numbers are not representative")
	}
	var servers []map[string]any
	for i := range 1000 {
		name := fmt.Sprintf("server-%04d", i)
		var s map[string]any
		switch {
		case i%10 < 3:
			s = stdio(name, testupstream.ModeHang)
			s["connect_timeout"] = "1h"
		case i%10 < 7:
			s = map[string]any{"name": name, "command": "mcpproxy-bench-no-such-command"}
		default:
			s = stdio(name, testupstream.ModeOK)
			s["enabled"] = false
		}
		servers = append(servers, s)
	}
	p := startProxy(b, configJSON(b, servers))
	eventually(b, 120*time.Second, func() error {
		var status struct {
			Counts map[string]int `json:"counts"`
		}
		p.data(b, "GET", "/api/v1/status", &status)
		if c := status.Counts; c["connecting"] < 300 || c["disabled"] != 300 || c["error"]+c["connecting"] != 700 {
			return fmt.Errorf("counts %v", c)
		}
		// The stdio servers run under the daemon's one keeper.
		if n := len(descendants(p.PID())); n != 301 {
			return fmt.Errorf("%d descendant processes, want 301 (300 servers and the keeper)", n)
		}
		return nil
	})

	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (time.Duration, int) {
		req, _ := http.NewRequest("GET", p.Base+path, nil)
		req.Header.Set("X-API-Key", p.Key)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return d, int(n)
	}
	var list []json.RawMessage
	p.data(b, "GET", "/api/v1/servers", &list)
	if len(list) != 1000 {
		b.Fatalf("%d servers listed, want 1000", len(list))
	}
	for range 200 { // warm up connections and buffers
		get("/healthz")
		get("/api/v1/servers")
	}

	var health, list1000 []time.Duration
	size := 0
	for b.Loop() {
		d, _ := get("/healthz")
		health = append(health, d)
		d, size = get("/api/v1/servers")
		list1000 = append(list1000, d)
	}
	h50, h99 := percentile(health, 0.50), percentile(health, 0.99)
	s50, s99 := percentile(list1000, 0.50), percentile(list1000, 0.99)
	b.ReportMetric(us(s50), "servers-p50-us")
	b.ReportMetric(us(s99), "servers-p99-us")
	b.ReportMetric(us(h50), "healthz-p50-us")
	b.ReportMetric(us(h99), "healthz-p99-us")
	b.ReportMetric(float64(s50)/float64(h50), "p50-ratio")
	b.ReportMetric(float64(s99)/float64(h99), "p99-ratio")
	b.ReportMetric(float64(size), "body-bytes")
}
