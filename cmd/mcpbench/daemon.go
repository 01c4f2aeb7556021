package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const apiKey = "mcpbench-api-key-0123456789"

// daemon is one `mcpproxy serve` started by mcpbench on a generated config
// in its own temporary directory. It listens on 127.0.0.1:0 and says where
// in the daemon.json of its data directory.
type daemon struct {
	Base      string    // http://127.0.0.1:PORT
	Started   time.Time // just before exec
	Listening time.Time // when it first answered an HTTP request

	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	client *http.Client
}

// startDaemon writes a config with servers (config entries) and extra
// top-level keys, starts bin on it, and waits until it answers over HTTP.
// The caller must call stop.
func startDaemon(ctx context.Context, bin string, servers []map[string]any, extra map[string]any) (*daemon, error) {
	dir, err := os.MkdirTemp("", "mcpbench-")
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	// A port chosen here, so that the daemon's first answer, not its
	// daemon.json (written once it is ready), says when it listens.
	addr, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg := map[string]any{"listen": addr, "api_key": apiKey, "data_dir": dataDir, "mcpServers": servers}
	for k, v := range extra {
		cfg[k] = v
	}
	body, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, body, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "-c", cfgPath, "--log-level", "error")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	// If mcpbench dies without stopping it, the daemon dies too (and its
	// children with it).
	cmd.SysProcAttr = dieWithParent()
	d := &daemon{dir: dir, cmd: cmd, exited: make(chan struct{}), client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
	d.Started = time.Now()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { cmd.Wait(); close(d.exited) }()
	d.Base = "http://" + addr
	deadline := time.Now().Add(time.Minute)
	probe := &http.Client{Timeout: time.Second}
	for {
		// Any answer (a 503 from /readyz too) means it listens.
		if resp, err := probe.Get(d.Base + "/readyz"); err == nil {
			resp.Body.Close()
			d.Listening = time.Now()
			return d, nil
		}
		select {
		case <-d.exited:
			d.stop()
			return nil, fmt.Errorf("mcpproxy exited at startup: %v", cmd.ProcessState)
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Microsecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, errors.New("mcpproxy did not listen within a minute")
		}
	}
}

// freePort returns a loopback address with a port free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Pid is the daemon's process id.
func (d *daemon) Pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM, waits up to 30 s, then kills the process; it
// returns the time the daemon took to exit after SIGTERM, and an error if
// it had to be killed. It removes the temporary directory. Calling it
// again does nothing.
func (d *daemon) stop() (time.Duration, error) {
	if d.dir == "" {
		return 0, nil
	}
	defer func() { os.RemoveAll(d.dir); d.dir = "" }()
	select {
	case <-d.exited:
		return 0, nil
	default:
	}
	t := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return time.Since(t), nil
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		return time.Since(t), errors.New("mcpproxy did not exit within 30 s of SIGTERM; killed")
	}
}

// Alive reports whether the daemon process is still running.
func (d *daemon) Alive() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// do sends one API request and reads the whole answer.
func (d *daemon) do(method, path string, body []byte) (int, []byte, time.Duration, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, d.Base+path, r)
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("X-API-Key", apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	t := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, b, time.Since(t), err
}

func (d *daemon) get(path string) (int, []byte, time.Duration, error) {
	return d.do("GET", path, nil)
}

// metrics returns the unlabelled samples of the daemon's /metrics.
func (d *daemon) metrics() (map[string]float64, error) {
	code, body, _, err := d.get("/metrics")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", code)
	}
	return promValues(body), nil
}

// serverStates returns each configured server's state.
func (d *daemon) serverStates() (map[string]string, error) {
	code, body, _, err := d.get("/api/v1/servers")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("GET /api/v1/servers: HTTP %d", code)
	}
	var list struct {
		Data []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("GET /api/v1/servers: %w", err)
	}
	out := make(map[string]string, len(list.Data))
	for _, s := range list.Data {
		out[s.Name] = s.State
	}
	return out, nil
}

// waitIndexed waits until the named servers are ready and the index holds
// at least tools tools.
func (d *daemon) waitIndexed(ctx context.Context, names []string, tools int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		states, err := d.serverStates()
		if err == nil {
			notReady := 0
			for _, n := range names {
				if states[n] != "ready" {
					notReady++
				}
			}
			m, merr := d.metrics()
			switch {
			case merr != nil:
				err = merr
			case notReady == 0 && int(m["mcpproxy_tools_indexed"]) >= tools:
				return nil
			default:
				last = fmt.Sprintf("%d of %d servers not ready, %.0f of %d tools indexed", notReady, len(names), m["mcpproxy_tools_indexed"], tools)
			}
		}
		if err != nil {
			last = err.Error()
		}
		if !d.Alive() {
			return fmt.Errorf("mcpproxy exited: %v", d.cmd.ProcessState)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v: %s", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// storeBytes is the size of the daemon's store file, 0 if there is none.
func (d *daemon) storeBytes() int64 {
	fi, err := os.Stat(filepath.Join(d.dir, "data", "mcpproxy.db"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// rssKiB is the daemon's own resident memory (children excluded).
func (d *daemon) rssKiB() int64 { return procStatusKiB(d.Pid(), "VmRSS:") }

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

// privateKiB is a process's private memory (Private_Clean + Private_Dirty
// of its smaps_rollup): what it costs the machine, shared pages aside.
func privateKiB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	var sum int64
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "Private_Clean:") || strings.HasPrefix(line, "Private_Dirty:") {
			if f := strings.Fields(line); len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				sum += n
			}
		}
	}
	return sum
}

// keeperPid finds the daemon's keeper process among its children, or 0.
func keeperPid(daemon int) int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", daemon))
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", daemon, t.Name()))
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(string(cmdline), "__keeper") {
				return pid
			}
		}
	}
	return 0
}

// cpuTicks is the CPU time the process has used, user and system, in clock
// ticks (1/100 s on Linux).
func cpuTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

// waitQuiet waits until the daemon used less than 10 % of a CPU over half a
// second (background work such as index merges done), or limit passed; it
// returns how long it waited.
func (d *daemon) waitQuiet(ctx context.Context, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit && ctx.Err() == nil {
		t0 := cpuTicks(d.Pid())
		time.Sleep(500 * time.Millisecond)
		if cpuTicks(d.Pid())-t0 <= 5 {
			break
		}
	}
	return time.Since(start)
}
