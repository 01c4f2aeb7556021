//go:build linux

package main

// End-to-end harness: the tests in this package build the real mcpproxy
// binary once, run it as a separate process on loopback with a config in a
// temporary directory, and talk to it only through what a user has: its
// stdout, its exit code, the config file, REST, /events and /proc. The stdio
// upstreams are this test binary re-executed in a testupstream mode.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/keeper"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

// proxyBin is the mcpproxy binary built by TestMain.
var proxyBin string

func TestMain(m *testing.M) {
	testupstream.RunIfChild()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mcpproxy-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	proxyBin = filepath.Join(dir, "mcpproxy")
	args := []string{"build", "-o", proxyBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	// go test runs in the package directory, so "." is ./cmd/mcpproxy.
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/mcpproxy:", err)
		return 1
	}
	return m.Run()
}

// testKey is the api_key startProxy puts in every config.
const testKey = "e2e-test-key-6f1d2c"

// --- configs -----------------------------------------------------------------

// envServer is set in each stdio testupstream's environment to its server
// name, so that a test can find the child of a server that has not reported
// a pid (one still connecting).
const envServer = "E2E_SERVER"

// stdio returns a config entry for a stdio testupstream in the given mode.
// env entries are "KEY=VALUE". A stray child gives up on its own after two
// minutes even if a test fails to kill it.
func stdio(name, mode string, env ...string) map[string]any {
	extra := map[string]string{testupstream.EnvMaxLifetime: "2m", envServer: name}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		extra[k] = v
	}
	path, e := testupstream.Command(mode, extra)
	return map[string]any{"name": name, "command": path, "env": e}
}

// configJSON returns a config file body with the given servers and extra
// top-level keys ("key", value, …).
func configJSON(tb testing.TB, servers []map[string]any, top ...any) string {
	tb.Helper()
	if servers == nil {
		servers = []map[string]any{}
	}
	m := map[string]any{"mcpServers": servers}
	for i := 0; i+1 < len(top); i += 2 {
		m[top[i].(string)] = top[i+1]
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// writeFileLikeEditor replaces path the way editors save: write a temporary
// file next to it, then rename it over the original.
func writeFileLikeEditor(tb testing.TB, path string, data []byte) {
	tb.Helper()
	tmp := path + ".edit~"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// readConfig returns the config file decoded into generic JSON.
func readConfig(tb testing.TB, path string) map[string]any {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		tb.Fatalf("config file %s is not JSON: %v\n%s", path, err, data)
	}
	return m
}

// --- the daemon process --------------------------------------------------------

// proxy is one running mcpproxy process.
type proxy struct {
	Dir        string // HOME of the process and the test's temp dir
	ConfigPath string
	DataDir    string
	Key        string
	Base       string // http://127.0.0.1:PORT once started

	cmd     *exec.Cmd
	stdout  lockedBuffer
	stderr  lockedBuffer
	listenC chan string
	exited  chan struct{}
	client  *http.Client

	mu     sync.Mutex
	known  []proc // processes to check for orphans after exit; guarded by mu
	killed bool   // kill -9 on purpose: the test checks orphans; guarded by mu
}

// lockedBuffer is an io.Writer safe for the exec copier and test readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proxyEnv is the test's environment without anything that would change
// mcpproxy's behaviour, with HOME pointing at dir, plus extra.
func proxyEnv(dir string, extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MCPPROXY_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "GORACE=") {
			continue
		}
		env = append(env, kv)
	}
	// A race-enabled binary sleeps 1s at exit unless told otherwise; a
	// detected race still makes it exit with status 66.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	return append(append(env, "HOME="+dir, "GORACE="+gorace), extra...)
}

// launch starts the binary with args and registers a cleanup that stops it
// (SIGTERM, then SIGKILL), waits for it and checks that it left no child
// processes behind and reported no data race.
func launch(tb testing.TB, dir string, args []string, extraEnv ...string) *proxy {
	tb.Helper()
	p := &proxy{
		Dir:     dir,
		listenC: make(chan string, 1),
		exited:  make(chan struct{}),
		client:  &http.Client{Timeout: 10 * time.Second},
	}
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	p.cmd = exec.Command(proxyBin, args...)
	p.cmd.Env = proxyEnv(dir, extraEnv)
	p.cmd.Dir = dir
	p.cmd.Stdout = w
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		tb.Fatalf("start mcpproxy: %v", err)
	}
	w.Close()
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			p.stdout.Write([]byte(line + "\n"))
			if addr, ok := strings.CutPrefix(line, "  listen:    http://"); ok {
				select {
				case p.listenC <- addr:
				default:
				}
			}
		}
	}()
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() { p.cleanup(tb) })
	return p
}

// PID is the daemon's process id.
func (p *proxy) PID() int { return p.cmd.Process.Pid }

// waitStarted waits for the startup block and sets Base from its listen line.
func (p *proxy) waitStarted(tb testing.TB) {
	tb.Helper()
	select {
	case addr := <-p.listenC:
		p.Base = "http://" + addr
	case <-p.exited:
		tb.Fatalf("mcpproxy exited before printing its listen address (%s)\nstdout:\n%s\nstderr:\n%s",
			p.cmd.ProcessState, p.stdout.String(), p.stderr.String())
	case <-time.After(30 * time.Second):
		tb.Fatalf("mcpproxy printed no listen address within 30s\nstdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
	}
}

// waitExit waits up to d for the process to exit and returns its exit code.
func (p *proxy) waitExit(tb testing.TB, d time.Duration) int {
	tb.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		tb.Fatalf("mcpproxy still running after %v\nstderr:\n%s", d, tail(p.stderr.String(), 50))
		return -1
	}
}

func (p *proxy) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// track records the daemon's current descendants for the orphan check at
// cleanup and returns them.
func (p *proxy) track(tb testing.TB) []proc {
	tb.Helper()
	ds := descendants(p.PID())
	p.mu.Lock()
	for _, d := range ds {
		if !slices.Contains(p.known, d) {
			p.known = append(p.known, d)
		}
	}
	p.mu.Unlock()
	return ds
}

func (p *proxy) cleanup(tb testing.TB) {
	if p.running() {
		p.track(tb)
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			if code := p.cmd.ProcessState.ExitCode(); code != 0 {
				tb.Errorf("mcpproxy exited with status %d after SIGTERM, want 0", code)
			}
		case <-time.After(10 * time.Second):
			tb.Errorf("mcpproxy did not exit within 10s of SIGTERM; killing it")
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	p.mu.Lock()
	known, killed := p.known, p.killed
	p.mu.Unlock()
	wait := 5 * time.Second
	if killed {
		wait = 0 // the test has waited and reported; just clean up
	}
	survivors := waitDead(known, wait)
	if len(survivors) > 0 {
		if !killed {
			tb.Errorf("processes outlived mcpproxy by 5s: %s", describe(survivors))
		}
		for _, s := range survivors {
			syscall.Kill(s.PID, syscall.SIGKILL)
		}
	}
	stderr := p.stderr.String()
	if strings.Contains(stderr, "WARNING: DATA RACE") {
		tb.Errorf("mcpproxy reported a data race:\n%s", stderr)
	} else if tb.Failed() {
		tb.Logf("mcpproxy stderr (tail):\n%s", tail(stderr, 60))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startProxy writes cfgJSON (plus data_dir in the temp dir and api_key
// testKey, unless given) to a temp dir and runs `mcpproxy serve` on it on
// 127.0.0.1:0, with HOME set to the temp dir. It returns once the daemon has
// printed its startup block.
func startProxy(tb testing.TB, cfgJSON string, extraEnv ...string) *proxy {
	tb.Helper()
	dir := tb.TempDir()
	var m map[string]any
	if err := json.Unmarshal([]byte(cfgJSON), &m); err != nil {
		tb.Fatalf("startProxy: config is not JSON: %v", err)
	}
	if _, ok := m["data_dir"]; !ok {
		m["data_dir"] = filepath.Join(dir, "data")
	}
	if _, ok := m["api_key"]; !ok {
		m["api_key"] = testKey
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "mcp_config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	p := launch(tb, dir, []string{"serve", "-c", path, "-l", "127.0.0.1:0"}, extraEnv...)
	p.ConfigPath = path
	p.DataDir = m["data_dir"].(string)
	p.Key = m["api_key"].(string)
	p.waitStarted(tb)
	return p
}

// --- REST ----------------------------------------------------------------------

type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// serverStatus is the part of a server's REST status the tests look at.
type serverStatus struct {
	Name       string `json:"name"`
	Protocol   string `json:"protocol"`
	Enabled    bool   `json:"enabled"`
	State      string `json:"state"`
	LastError  string `json:"last_error"`
	RetryCount int    `json:"retry_count"`
	ToolCount  int    `json:"tool_count"`
	PID        int    `json:"pid"`
}

type tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// request sends a request with the given API key ("" for none) and returns
// the status and body.
func (p *proxy) request(tb testing.TB, method, path, key string) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, p.Base+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, body
}

// send sends an authenticated request with a JSON body and returns the
// status and response body.
func (p *proxy) send(tb testing.TB, method, path, body string) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, p.Base+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-API-Key", p.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// data sends an authenticated request, requires a 2xx success envelope and
// decodes its data into v (if not nil).
func (p *proxy) data(tb testing.TB, method, path string, v any) {
	tb.Helper()
	code, body := p.request(tb, method, path, p.Key)
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		tb.Fatalf("%s %s: %d, not an envelope: %v\n%s", method, path, code, err, body)
	}
	if code/100 != 2 || !env.Success {
		tb.Fatalf("%s %s: %d %s", method, path, code, body)
	}
	if v != nil {
		if err := json.Unmarshal(env.Data, v); err != nil {
			tb.Fatalf("%s %s: decode data: %v\n%s", method, path, err, body)
		}
	}
}

func (p *proxy) servers(tb testing.TB) map[string]serverStatus {
	tb.Helper()
	var list []serverStatus
	p.data(tb, "GET", "/api/v1/servers", &list)
	m := make(map[string]serverStatus, len(list))
	for _, s := range list {
		m[s.Name] = s
	}
	return m
}

func (p *proxy) tools(tb testing.TB, name string) []tool {
	tb.Helper()
	var tools []tool
	p.data(tb, "GET", "/api/v1/servers/"+name+"/tools", &tools)
	return tools
}

// waitState waits until the named server is in one of states and returns
// its status.
func (p *proxy) waitState(tb testing.TB, name string, d time.Duration, states ...string) serverStatus {
	tb.Helper()
	var got serverStatus
	eventually(tb, d, func() error {
		s, ok := p.servers(tb)[name]
		if !ok {
			return fmt.Errorf("server %q not listed", name)
		}
		got = s
		if !slices.Contains(states, s.State) {
			return fmt.Errorf("server %q is %s (last_error %q), want %v", name, s.State, s.LastError, states)
		}
		return nil
	})
	return got
}

// eventually calls fn every 25ms until it returns nil, failing the test with
// fn's last error after d.
func eventually(tb testing.TB, d time.Duration, fn func() error) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not within %v: %v", d, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// --- /events -------------------------------------------------------------------

// event is one server-sent event; the SSE data is the whole event object.
type event struct {
	Type   string          `json:"type"`
	Server string          `json:"server"`
	Data   json.RawMessage `json:"data"`
}

// state returns data.state of a server.state_changed event ("" if none).
func (e event) state() string {
	var d struct {
		State string `json:"state"`
	}
	json.Unmarshal(e.Data, &d)
	return d.State
}

type eventStream struct {
	c    chan event
	seen []string // types and servers of events skipped by waitFor, for failures
}

// subscribe opens /events; the stream is closed at test cleanup.
func (p *proxy) subscribe(tb testing.TB) *eventStream {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", p.Base+"/events", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-API-Key", p.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatalf("GET /events: %v", err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		cancel()
		tb.Fatalf("GET /events: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &eventStream{c: make(chan event, 4096)}
	done := make(chan struct{})
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		defer close(s.c)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var typ, data string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				data += line[len("data: "):]
			case line == "" && typ != "":
				ev := event{Type: typ}
				json.Unmarshal([]byte(data), &ev)
				ev.Type = typ
				typ, data = "", ""
				select {
				case s.c <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return s
}

// next returns the next event within d.
func (s *eventStream) next(tb testing.TB, d time.Duration) event {
	tb.Helper()
	select {
	case ev, ok := <-s.c:
		if !ok {
			tb.Fatalf("/events stream ended")
		}
		return ev
	case <-time.After(d):
		tb.Fatalf("no event within %v", d)
		return event{}
	}
}

// waitFor skips events until one matches, within d.
func (s *eventStream) waitFor(tb testing.TB, d time.Duration, what string, match func(event) bool) event {
	tb.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.c:
			if !ok {
				tb.Fatalf("/events stream ended while waiting for %s; saw %v", what, s.seen)
			}
			if match(ev) {
				return ev
			}
			s.seen = append(s.seen, fmt.Sprintf("%s(%s %s)", ev.Type, ev.Server, ev.state()))
		case <-timer.C:
			tb.Fatalf("no %s event within %v; saw %v", what, d, s.seen)
			return event{}
		}
	}
}

// --- processes -----------------------------------------------------------------

// proc identifies a process by pid and start time, so that a reused pid is
// never mistaken for a survivor.
type proc struct {
	PID   int
	Start uint64
}

// procStat reads /proc/PID/stat.
func procStat(pid int) (state byte, ppid int, start uint64, ok bool) {
	f := statFields(pid)
	if f == nil {
		return 0, 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	start, _ = strconv.ParseUint(f[19], 10, 64)
	return f[0][0], ppid, start, true
}

// statFields returns the fields of /proc/PID/stat after the command name,
// starting with the state (field 3), or nil.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	// pid (comm) state ppid pgrp … ; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return nil
	}
	return f
}

// procOf identifies a running process; ok is false if there is none.
func procOf(pid int) (proc, bool) {
	st, _, start, ok := procStat(pid)
	if !ok || st == 'Z' || st == 'X' {
		return proc{}, false
	}
	return proc{pid, start}, true
}

// alive reports whether the process still exists and is not a zombie.
func (p proc) alive() bool {
	st, _, start, ok := procStat(p.PID)
	return ok && start == p.Start && st != 'Z' && st != 'X'
}

func (p proc) String() string {
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/cmdline")
	env, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/environ")
	mode := ""
	for _, kv := range bytes.Split(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(testupstream.EnvMode+"=")); ok {
			mode = " mode=" + string(v)
		}
	}
	st, ppid, pgrp := "?", "?", "?"
	if f := statFields(p.PID); f != nil {
		st, ppid, pgrp = f[0], f[1], f[2]
	}
	exe, _, _ := strings.Cut(string(cmdline), "\x00")
	return fmt.Sprintf("pid %d (state %s, ppid %s, pgid %s%s, %s)", p.PID, st, ppid, pgrp, mode, filepath.Base(exe))
}

// descendants lists the live processes below root.
func descendants(root int) []proc {
	ents, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, _, ok := procStat(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []proc
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			if pr, ok := procOf(c); ok {
				out = append(out, pr)
			}
			queue = append(queue, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// childOf returns the process that serves the named stdio testupstream
// server: a child of the daemon's keeper.
func (p *proxy) childOf(name string) (proc, error) {
	var found []proc
	ds := descendants(p.PID())
	// Servers are the children of mcpproxy's keeper.
	keeperPid := 0
	for _, d := range ds {
		if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(d.PID) + "/cmdline"); strings.Contains(string(cmdline), "\x00"+keeper.Arg+"\x00") {
			keeperPid = d.PID
		}
	}
	for _, d := range ds {
		if _, ppid, _, _ := procStat(d.PID); ppid != keeperPid {
			continue
		}
		env, _ := os.ReadFile("/proc/" + strconv.Itoa(d.PID) + "/environ")
		if slices.Contains(strings.Split(string(env), "\x00"), envServer+"="+name) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return proc{}, fmt.Errorf("want one child process for server %q, found [%s]", name, describe(found))
	}
	return found[0], nil
}

// waitDead polls for up to d until every process is gone and returns the
// survivors.
func waitDead(ps []proc, d time.Duration) []proc {
	deadline := time.Now().Add(d)
	for {
		var alive []proc
		for _, p := range ps {
			if p.alive() {
				alive = append(alive, p)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describe(ps []proc) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// --- misc ----------------------------------------------------------------------

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	return testupstream.ReserveAddr(tb)
}

// listening reports whether something accepts connections on addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
