// Command mcpbench measures a real mcpproxy binary the way a user runs it:
// it generates configs of 10, 100 and 1,000 upstreams (two thirds of them
// real streamable-HTTP MCP servers it serves itself, one third hanging
// forever), starts `mcpproxy serve` on each, and measures over real HTTP
//
//   - startup: time to /readyz 200 and to every answering upstream ready;
//   - GET /api/v1/servers and /api/v1/status while upstreams connect and
//     their tools are indexed, against GET /healthz in the same run;
//   - mcpproxy's RSS (its children excluded) once settled, and the growth
//     per upstream;
//   - the exit time after SIGTERM.
//
// It prints a Markdown report and, with -write FILE, replaces the part of
// FILE between the mcpbench markers with it (docs/BENCHMARKS.md).
//
// Usage:
//
//	go build -o bin/mcpproxy ./cmd/mcpproxy && go run ./cmd/mcpbench -write docs/BENCHMARKS.md
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	beginMarker = "<!-- mcpbench:begin -->"
	endMarker   = "<!-- mcpbench:end -->"
)

func main() {
	bin := flag.String("mcpproxy", "bin/mcpproxy", "the mcpproxy binary to measure")
	sizesFlag := flag.String("sizes", "10,100,1000", "numbers of upstreams, comma separated")
	tools := flag.Int("tools", 20, "tools per answering upstream")
	write := flag.String("write", "", "replace the mcpbench section of this Markdown file with the report")
	flag.Parse()
	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 3 {
			fatalf("-sizes: want numbers of at least 3, got %q", s)
		}
		sizes = append(sizes, n)
	}
	if _, err := os.Stat(*bin); err != nil {
		fatalf("-mcpproxy: %v (build it with: go build -o bin/mcpproxy ./cmd/mcpproxy)", err)
	}
	up, err := startUpstreams(*tools)
	if err != nil {
		fatalf("upstreams: %v", err)
	}
	defer up.Close()

	var results []result
	for _, n := range sizes {
		fmt.Fprintf(os.Stderr, "mcpbench: %d upstreams…\n", n)
		r, err := run(*bin, up.Addr().String(), n, *tools)
		if err != nil {
			fatalf("%d upstreams: %v", n, err)
		}
		results = append(results, r)
	}
	report := render(results, *tools)
	fmt.Print(report)
	if *write != "" {
		if err := replaceSection(*write, report); err != nil {
			fatalf("-write: %v", err)
		}
		fmt.Fprintf(os.Stderr, "mcpbench: wrote %s\n", *write)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mcpbench: "+format+"\n", args...)
	os.Exit(1)
}

// upstreams serves every benchmark upstream from this process: /ok/N is a
// test MCP server with the given number of tools, /hang/N accepts requests
// and never answers them.
type upstreams struct {
	*http.Server
	ln net.Listener
}

func (u *upstreams) Addr() net.Addr { return u.ln.Addr() }

func (u *upstreams) Close() error { return u.Server.Close() }

func startUpstreams(tools int) (*upstreams, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := testupstream.NewServer(testupstream.Options{Name: "bench", Tools: tools})
	ok := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	mux.Handle("/ok/", ok)
	mux.HandleFunc("/hang/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return &upstreams{Server: hs, ln: ln}, nil
}

// result is one size's measurements.
type result struct {
	N, Answering        int
	Readyz, AllReady    time.Duration
	Servers, Status, Hz latencies
	RSSKiB, AnonKiB     int64
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

func run(bin, upAddr string, n, tools int) (result, error) {
	res := result{N: n}
	dir, err := os.MkdirTemp("", "mcpbench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return res, err
	}
	const key = "mcpbench-api-key-0123456789"
	var servers []map[string]any
	for i := range n {
		if i%3 == 2 {
			servers = append(servers, map[string]any{"name": fmt.Sprintf("hang%04d", i), "protocol": "streamable-http",
				"url": fmt.Sprintf("http://%s/hang/%d", upAddr, i), "connect_timeout": "1h"})
			continue
		}
		res.Answering++
		servers = append(servers, map[string]any{"name": fmt.Sprintf("ok%04d", i), "protocol": "streamable-http",
			"url": fmt.Sprintf("http://%s/ok/%d", upAddr, i)})
	}
	cfg, _ := json.MarshalIndent(map[string]any{
		"listen": fmt.Sprintf("127.0.0.1:%d", port), "api_key": key, "data_dir": filepath.Join(dir, "data"),
		"mcpServers": servers,
	}, "", "  ")
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return res, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(bin, "serve", "-c", cfgPath, "--log-level", "error")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, []byte, time.Duration, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("X-API-Key", key)
		t := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, body, time.Since(t), err
	}

	// Startup: /readyz, then every answering upstream ready. The same
	// loop measures the list endpoints against /healthz while upstreams
	// connect and their tools are indexed.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if time.Now().After(deadline) {
			return res, errors.New("no /readyz 200 within 5 minutes")
		}
		if code, _, _, err := get("/readyz"); err == nil && code == 200 {
			res.Readyz = time.Since(start)
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("not all %d answering upstreams ready within 5 minutes", res.Answering)
		}
		code, body, d, err := get("/api/v1/servers")
		if err != nil || code != 200 {
			res.StartupPollErrors++
			continue
		}
		res.Servers = append(res.Servers, d)
		res.ServersBodyBytes = len(body)
		if _, _, d, err := get("/api/v1/status"); err == nil {
			res.Status = append(res.Status, d)
		}
		if _, _, d, err := get("/healthz"); err == nil {
			res.Hz = append(res.Hz, d)
		}
		if ready := countReady(body); ready >= res.Answering {
			res.AllReady = time.Since(start)
			break
		}
	}
	// Settle, then keep measuring the list endpoints on a ready daemon.
	for range 300 {
		if _, _, d, err := get("/api/v1/servers"); err == nil {
			res.Servers = append(res.Servers, d)
		}
		if _, _, d, err := get("/api/v1/status"); err == nil {
			res.Status = append(res.Status, d)
		}
		if _, _, d, err := get("/healthz"); err == nil {
			res.Hz = append(res.Hz, d)
		}
	}
	if _, body, _, err := get("/api/v1/status"); err == nil {
		var st struct {
			Data struct {
				TotalTools int `json:"total_tools"`
			} `json:"data"`
		}
		json.Unmarshal(body, &st)
		res.ToolsIndexed = st.Data.TotalTools
	}
	runtime.GC()
	time.Sleep(time.Second)
	res.RSSKiB = procStatusKiB(cmd.Process.Pid, "VmRSS:")
	res.AnonKiB = procStatusKiB(cmd.Process.Pid, "RssAnon:")
	if _, body, _, err := get("/metrics"); err == nil {
		m := promValues(body)
		res.HeapInuse, res.StackInuse, res.Goroutines = m["go_memstats_heap_inuse_bytes"], m["go_memstats_stack_inuse_bytes"], m["go_goroutines"]
	}

	t := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		res.Exit = time.Since(t)
	case <-time.After(30 * time.Second):
		return res, errors.New("mcpproxy did not exit within 30 s of SIGTERM")
	}
	return res, nil
}

// promValues reads the unlabelled samples of a Prometheus text exposition.
func promValues(body []byte) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' || strings.Contains(line, "{") {
			continue
		}
		if f := strings.Fields(line); len(f) == 2 {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out
}

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

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// procStatusKiB reads one kB field (VmRSS:, RssAnon:) of a process's
// status: its own memory, not its children's.
func procStatusKiB(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

func render(rs []result, tools int) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Generated by `go run ./cmd/mcpbench -write docs/BENCHMARKS.md` on %s: %d CPUs, %s, %s/%s.\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "Upstreams: two thirds answer (streamable HTTP, %d tools each, served by mcpbench), one third hang forever.\n\n", tools)
	b.WriteString("| upstreams | /readyz 200 | all answering ready | tools indexed | RSS | of which anonymous | Go heap in use | stacks | goroutines | exit after SIGTERM |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %d | %s ms | %s ms | %d | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %.0f | %s ms |\n", r.N, ms(r.Readyz), ms(r.AllReady), r.ToolsIndexed,
			float64(r.RSSKiB)/1024, float64(r.AnonKiB)/1024, r.HeapInuse/(1<<20), r.StackInuse/(1<<20), r.Goroutines, ms(r.Exit))
	}
	b.WriteString("\nRSS counts the binary's own pages (file-backed, shared, about 17 MiB); \"anonymous\" is the memory mcpproxy allocated.\n")
	if len(rs) >= 2 {
		a, z := rs[0], rs[len(rs)-1]
		per := float64(z.RSSKiB-a.RSSKiB) / float64(z.N-a.N)
		fmt.Fprintf(&b, "RSS growth: %.1f KiB per upstream (from %d to %d upstreams).\n", per, a.N, z.N)
	}
	b.WriteString("\nLatency while upstreams connect and are indexed, then on the settled daemon; baseline `GET /healthz` in the same loop:\n\n")
	b.WriteString("| upstreams | endpoint | samples | p50 | p99 | max | p50 ratio to /healthz | p99 ratio |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		for _, e := range []struct {
			name string
			l    latencies
		}{{"GET /api/v1/servers", r.Servers}, {"GET /api/v1/status", r.Status}, {"GET /healthz", r.Hz}} {
			fmt.Fprintf(&b, "| %d | %s | %d | %s ms | %s ms | %s ms | %.2f | %.2f |\n", r.N, e.name, len(e.l),
				ms(e.l.q(0.5)), ms(e.l.q(0.99)), ms(e.l.q(1)),
				float64(e.l.q(0.5))/float64(max(1, r.Hz.q(0.5))), float64(e.l.q(0.99))/float64(max(1, r.Hz.q(0.99))))
		}
	}
	return b.String()
}

// replaceSection puts report between the markers in path, appending the
// markers at the end if the file has none.
func replaceSection(path, report string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(data)
	block := beginMarker + "\n" + report + endMarker
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	switch {
	case i >= 0 && j > i:
		s = s[:i] + block + s[j+len(endMarker):]
	case i < 0 && j < 0:
		s = strings.TrimRight(s, "\n") + "\n\n## mcpbench: the daemon as a user runs it\n\n" + block + "\n"
	default:
		return fmt.Errorf("%s: unbalanced mcpbench markers", path)
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
