//go:build unix

package testupstream_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestMain(m *testing.M) {
	testupstream.RunIfChild()
	os.Exit(m.Run())
}

// connect opens a client session over t and closes it at cleanup.
//
// The SSE client transport ties its event stream to the context given to
// Connect, so that context must live as long as the session: the connect
// timeout cancels it only while Connect runs.
func connect(tb testing.TB, t mcp.Transport, opts *mcp.ClientOptions) *mcp.ClientSession {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	timeout := time.AfterFunc(10*time.Second, cancel)
	c := mcp.NewClient(&mcp.Implementation{Name: "testupstream-test", Version: "1"}, opts)
	cs, err := c.Connect(ctx, t, nil)
	timeout.Stop()
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { _ = cs.Close() })
	return cs
}

// connectInMemory connects a client to s over the SDK's in-memory transport.
func connectInMemory(tb testing.TB, s *mcp.Server, opts *mcp.ClientOptions) *mcp.ClientSession {
	tb.Helper()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.Connect(context.Background(), st, nil)
	if err != nil {
		tb.Fatalf("server connect: %v", err)
	}
	tb.Cleanup(func() { _ = ss.Close() })
	return connect(tb, ct, opts)
}

// call calls a tool and returns its text and error flag.
func call(tb testing.TB, cs *mcp.ClientSession, name string, args any) (string, bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		tb.Fatalf("call %s: %v", name, err)
	}
	var texts []string
	for _, c := range res.Content {
		tc, ok := c.(*mcp.TextContent)
		if !ok {
			tb.Fatalf("call %s: content %T, want text", name, c)
		}
		texts = append(texts, tc.Text)
	}
	return strings.Join(texts, ""), res.IsError
}

func toolNames(tb testing.TB, cs *mcp.ClientSession) []string {
	tb.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		tb.Fatalf("list tools: %v", err)
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return names
}

func TestNewServer_Tools(t *testing.T) {
	cs := connectInMemory(t, testupstream.NewServer(testupstream.Options{Name: "named", Tools: 3}), nil)

	if got := cs.InitializeResult().ServerInfo.Name; got != "named" {
		t.Errorf("server name = %q, want named", got)
	}
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if tool.Description == "" {
			t.Errorf("tool %s has no description", tool.Name)
		}
		var schema struct{ Type string }
		raw, _ := json.Marshal(tool.InputSchema)
		if err := json.Unmarshal(raw, &schema); err != nil || schema.Type != "object" {
			t.Errorf("tool %s input schema %s: want type object", tool.Name, raw)
		}
	}
	slices.Sort(names)
	want := []string{"add", "add_tool", "echo", "fail", "remove_tool", "sleep", "tool_0", "tool_1", "tool_2"}
	if !slices.Equal(names, want) {
		t.Errorf("tools = %v, want %v", names, want)
	}

	tests := []struct {
		name    string
		tool    string
		args    any
		want    string
		wantErr bool
	}{
		{"Echo", "echo", map[string]any{"message": "hello"}, "hello", false},
		{"Add", "add", map[string]any{"a": 2, "b": 3.5}, "5.5", false},
		{"Sleep", "sleep", map[string]any{"ms": 1}, "slept", false},
		{"Fail", "fail", map[string]any{}, "boom", true},
		{"GeneratedEchoesArgs", "tool_1", map[string]any{"x": 1, "y": "z"}, `{"x":1,"y":"z"}`, false},
		{"GeneratedNoArgs", "tool_0", nil, "{}", false},
		{"EchoMissingMessage", "echo", map[string]any{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, isErr := call(t, cs, tt.tool, tt.args)
			if isErr != tt.wantErr {
				t.Fatalf("isError = %v (text %q), want %v", isErr, got, tt.wantErr)
			}
			if !tt.wantErr || tt.want != "" {
				if got != tt.want {
					t.Errorf("text = %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestNewServer_SleepHonoursCancel(t *testing.T) {
	cs := connectInMemory(t, testupstream.NewServer(testupstream.Options{}), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 60_000}})
	if err == nil {
		t.Fatal("sleep 60s with a 50ms deadline succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancelled sleep returned after %v", d)
	}
}

func TestNewServer_Latency(t *testing.T) {
	const latency = 100 * time.Millisecond
	cs := connectInMemory(t, testupstream.NewServer(testupstream.Options{Latency: latency}), nil)
	start := time.Now()
	if got, _ := call(t, cs, "echo", map[string]any{"message": "x"}); got != "x" {
		t.Fatalf("echo = %q", got)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("call took %v, want at least %v", d, latency)
	}
}

func TestNewServer_AddToolNotifies(t *testing.T) {
	changed := make(chan struct{}, 10)
	cs := connectInMemory(t, testupstream.NewServer(testupstream.Options{}), &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			changed <- struct{}{}
		},
	})
	waitChanged := func() {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatal("no tools/list_changed notification")
		}
	}

	if got, isErr := call(t, cs, "add_tool", map[string]any{"name": "dyn"}); isErr {
		t.Fatalf("add_tool: %s", got)
	}
	waitChanged()
	if names := toolNames(t, cs); !slices.Contains(names, "dyn") {
		t.Fatalf("tools after add_tool = %v, want dyn", names)
	}
	if got, _ := call(t, cs, "dyn", map[string]any{"k": "v"}); got != `{"k":"v"}` {
		t.Errorf("dyn = %q", got)
	}

	if got, isErr := call(t, cs, "remove_tool", map[string]any{"name": "dyn"}); isErr {
		t.Fatalf("remove_tool: %s", got)
	}
	waitChanged()
	if names := toolNames(t, cs); slices.Contains(names, "dyn") {
		t.Fatalf("tools after remove_tool = %v, want no dyn", names)
	}
}

func TestHTTP_Serve(t *testing.T) {
	tests := []struct {
		name      string
		start     func(testing.TB, testupstream.Options) *testupstream.HTTPServer
		transport func(url string) mcp.Transport
		path      string
	}{
		{"Streamable", testupstream.StartStreamable, func(u string) mcp.Transport {
			return &mcp.StreamableClientTransport{Endpoint: u}
		}, "/mcp"},
		{"SSE", testupstream.StartSSE, func(u string) mcp.Transport {
			return &mcp.SSEClientTransport{Endpoint: u}
		}, "/sse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := tt.start(t, testupstream.Options{Tools: 2})
			if !strings.HasPrefix(hs.URL, "http://127.0.0.1:") || !strings.HasSuffix(hs.URL, tt.path) {
				t.Errorf("URL = %q", hs.URL)
			}
			changed := make(chan struct{}, 10)
			cs := connect(t, tt.transport(hs.URL), &mcp.ClientOptions{
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
					changed <- struct{}{}
				},
			})
			if names := toolNames(t, cs); len(names) != 8 {
				t.Errorf("tools = %v, want 8", names)
			}
			if got, _ := call(t, cs, "echo", map[string]any{"message": "over " + tt.name}); got != "over "+tt.name {
				t.Errorf("echo = %q", got)
			}
			call(t, cs, "add_tool", map[string]any{"name": "late"})
			select {
			case <-changed:
			case <-time.After(10 * time.Second):
				t.Fatal("no tools/list_changed notification")
			}
			if hs.Requests() == 0 {
				t.Error("Requests() = 0")
			}
			_ = cs.Close()
			hs.Close()
			hs.Close() // idempotent
		})
	}
}

func TestHTTP_Status(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusNotFound} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			hs := testupstream.StartStatus(t, code)
			resp, err := http.Post(hs.URL, "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != code {
				t.Errorf("status = %d, want %d", resp.StatusCode, code)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
			if cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL}, nil); err == nil {
				cs.Close()
				t.Fatal("connect succeeded")
			}
			if n := hs.Requests(); n < 2 {
				t.Errorf("Requests() = %d, want at least 2", n)
			}
		})
	}
}

func TestHTTP_HangingConnectTimesOut(t *testing.T) {
	hs := testupstream.StartHanging(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	// After the deadline the SDK may post notifications/cancelled, which
	// hangs too, and Connect waits for it up to 5s; the client timeout
	// bounds that wait.
	tr := &mcp.StreamableClientTransport{Endpoint: hs.URL, HTTPClient: &http.Client{Timeout: time.Second}}
	if cs, err := c.Connect(ctx, tr, nil); err == nil {
		cs.Close()
		t.Fatal("connect to a hanging server succeeded")
	}
}

func TestHTTP_HangingCloseReturnsPromptly(t *testing.T) {
	hs := testupstream.StartHanging(t)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Post(hs.URL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("got a response: %s", resp.Status)
		}
		errc <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for hs.Requests() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("request never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-errc:
		t.Fatalf("hanging request returned before Close: %v", err)
	case <-time.After(50 * time.Millisecond):
	}

	closed := make(chan struct{})
	go func() { hs.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on an in-flight request")
	}
	if err := <-errc; err == nil || strings.Contains(err.Error(), "got a response") {
		t.Errorf("in-flight request: %v, want a transport error", err)
	}
}

func TestHTTP_CloseWithToolCallInFlight(t *testing.T) {
	tests := []struct {
		name      string
		start     func(testing.TB, testupstream.Options) *testupstream.HTTPServer
		transport func(url string) mcp.Transport
	}{
		{"Streamable", testupstream.StartStreamable, func(u string) mcp.Transport {
			return &mcp.StreamableClientTransport{Endpoint: u}
		}},
		{"SSE", testupstream.StartSSE, func(u string) mcp.Transport {
			return &mcp.SSEClientTransport{Endpoint: u}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := tt.start(t, testupstream.Options{})
			cs := connect(t, tt.transport(hs.URL), nil)
			before := hs.Requests()
			errc := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{
					Name: "sleep", Arguments: map[string]any{"ms": 60_000},
				})
				errc <- err
			}()
			deadline := time.Now().Add(10 * time.Second)
			for hs.Requests() == before {
				if time.Now().After(deadline) {
					t.Fatal("tool call never arrived")
				}
				time.Sleep(5 * time.Millisecond)
			}

			closed := make(chan struct{})
			go func() { hs.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("Close waited for the 60s tool call")
			}
			select {
			case err := <-errc:
				if err == nil {
					t.Error("tool call succeeded after Close")
				}
			case <-time.After(10 * time.Second):
				t.Error("tool call still pending after Close")
			}
		})
	}
}

func TestHTTP_DownThenUp(t *testing.T) {
	addr := testupstream.ReserveAddr(t)
	url := "http://" + addr + "/mcp"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	if cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil); err == nil {
		cs.Close()
		t.Fatal("connect to a reserved, unused address succeeded")
	}

	hs := testupstream.StartStreamableAt(t, addr, testupstream.Options{})
	if hs.URL != url {
		t.Errorf("URL = %q, want %q", hs.URL, url)
	}
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if got, _ := call(t, cs, "echo", map[string]any{"message": "up"}); got != "up" {
		t.Errorf("echo = %q", got)
	}
}

// childCmd returns a command running this test binary in the given mode.
func childCmd(mode string, extra map[string]string) *exec.Cmd {
	if extra == nil {
		extra = map[string]string{}
	}
	if _, ok := extra[testupstream.EnvMaxLifetime]; !ok {
		extra[testupstream.EnvMaxLifetime] = "1m"
	}
	path, env := testupstream.Command(mode, extra)
	cmd := exec.Command(path)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func TestStdio_OK(t *testing.T) {
	cmd := childCmd(testupstream.ModeOK, map[string]string{
		testupstream.EnvTools: "2",
		testupstream.EnvName:  "stdio-up",
	})
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cs := connect(t, &mcp.CommandTransport{Command: cmd}, nil)
	if got := cs.InitializeResult().ServerInfo.Name; got != "stdio-up" {
		t.Errorf("server name = %q", got)
	}
	if got, _ := call(t, cs, "echo", map[string]any{"message": "piped"}); got != "piped" {
		t.Errorf("echo = %q", got)
	}
	if names := toolNames(t, cs); !slices.Contains(names, "tool_1") {
		t.Errorf("tools = %v, want tool_1", names)
	}
	if err := cs.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if want := fmt.Sprintf("testupstream ready pid=%d\n", cmd.ProcessState.Pid()); !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}

func TestStdio_ConnectFails(t *testing.T) {
	tests := []struct {
		mode       string
		timeout    time.Duration
		wantStderr string
		wantCode   int
	}{
		{testupstream.ModeExit, 10 * time.Second, "fatal: scripted exit", 3},
		{testupstream.ModeHang, 300 * time.Millisecond, "", 0},
		{testupstream.ModeGarbage, 10 * time.Second, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			cmd := childCmd(tt.mode, nil)
			var stderr syncBuffer
			cmd.Stderr = &stderr
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
			cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: time.Second}, nil)
			if err == nil {
				cs.Close()
				t.Fatal("connect succeeded")
			}
			if cmd.ProcessState == nil {
				// The transport did not reap the child; do it here.
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				return
			}
			if code := cmd.ProcessState.ExitCode(); code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestStdio_CrashAfter(t *testing.T) {
	cmd := childCmd(testupstream.ModeCrashAfter, map[string]string{testupstream.EnvCrashAfter: "300ms"})
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cs := connect(t, &mcp.CommandTransport{Command: cmd}, nil)
	if got, _ := call(t, cs, "echo", map[string]any{"message": "before"}); got != "before" {
		t.Errorf("echo = %q", got)
	}
	waited := make(chan error, 1)
	go func() { waited <- cs.Wait() }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("session still open after the scripted crash")
	}
	_ = cs.Close()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "crashing\n") {
		t.Errorf("stderr = %q, want crashing", stderr.String())
	}
}

func TestStdio_StderrFlood(t *testing.T) {
	cmd := childCmd(testupstream.ModeStderrFlood, nil)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cs := connect(t, &mcp.CommandTransport{Command: cmd}, nil)
	if got, _ := call(t, cs, "echo", map[string]any{"message": "loud"}); got != "loud" {
		t.Errorf("echo = %q", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for stderr.Len() < 64<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d bytes of stderr", stderr.Len())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cs.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// startRaw starts a child without an MCP client, in its own process group,
// and returns a channel of its stderr lines and one that yields Wait's error.
func startRaw(t *testing.T, mode string) (*exec.Cmd, io.WriteCloser, <-chan string, <-chan error) {
	t.Helper()
	cmd := childCmd(mode, nil)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	waited := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		<-scanned // Wait closes the pipe, so read it to the end first
		waited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	return cmd, stdin, lines, waited
}

func waitLine(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stderr closed before a line starting %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("no stderr line starting %q", prefix)
		}
	}
}

func TestStdio_IgnoreTerm(t *testing.T) {
	cmd, stdin, lines, waited := startRaw(t, testupstream.ModeIgnoreTerm)
	waitLine(t, lines, "testupstream ready")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, "testupstream: ignoring terminated")
	stdin.Close()
	select {
	case err := <-waited:
		t.Fatalf("exited after SIGTERM and stdin EOF: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-waited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("wait = %v, want killed by SIGKILL", err)
	}
}

func TestStdio_SpawnChild(t *testing.T) {
	cmd, _, lines, waited := startRaw(t, testupstream.ModeSpawnChild)
	line := waitLine(t, lines, "grandchild pid=")
	gpid, err := strconv.Atoi(strings.TrimPrefix(line, "grandchild pid="))
	if err != nil {
		t.Fatalf("bad line %q", line)
	}
	if processGone(gpid) {
		t.Fatalf("grandchild %d is not running", gpid)
	}
	if pgid, err := syscall.Getpgid(gpid); err != nil || pgid != cmd.Process.Pid {
		t.Errorf("grandchild pgid = %d, %v; want %d", pgid, err, cmd.Process.Pid)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-waited
	deadline := time.Now().Add(10 * time.Second)
	for !processGone(gpid) {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d survived the group kill", gpid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processGone reports whether pid no longer runs; a zombie counts as gone,
// since in a container nobody may reap the orphaned grandchild.
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}
