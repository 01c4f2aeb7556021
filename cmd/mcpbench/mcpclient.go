package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpHTTP is the HTTP client of every MCP client session mcpbench opens: it
// keeps enough idle connections for 64 concurrent clients, so that the
// measurements do not include new TCP connections.
var mcpHTTP = &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}

func newClient() *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "mcpbench", Version: "0.0.0"}, nil)
}

// samplingOptions make a client that declares sampling (and answers with
// an error, should it be asked).
var samplingOptions = &mcp.ClientOptions{
	CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		return nil, errors.New("mcpbench has no model")
	},
}

// connectHTTP opens an MCP session over streamable HTTP.
func connectHTTP(ctx context.Context, url string) (*mcp.ClientSession, error) {
	return connectHTTPWith(ctx, url, nil)
}

// connectHTTPWith is connectHTTP for a client with opts.
func connectHTTPWith(ctx context.Context, url string, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "mcpbench", Version: "0.0.0"}, opts)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: mcpHTTP, MaxRetries: -1}, nil)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	return cs, nil
}

// stdioEnv is the environment of a stdio test upstream in the given mode,
// as config entries and for exec.
func stdioEnv(mode string, extra map[string]string) map[string]string {
	_, env := testupstream.Command(mode, extra)
	return env
}

// stdioEntry is a config entry for a stdio test upstream: this binary in
// the given mode.
func stdioEntry(name, mode string, extra map[string]string) (map[string]any, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return map[string]any{"name": name, "command": exe, "env": stdioEnv(mode, extra)}, nil
}

// connectStdio starts this binary as a stdio test upstream in mode ok, the
// same command mcpproxy runs for a stdio entry, and opens a session on it.
// Closing the session ends the process.
func connectStdio(ctx context.Context, extra map[string]string) (*mcp.ClientSession, error) {
	cmd, err := childCommand(testupstream.ModeOK, extra)
	if err != nil {
		return nil, err
	}
	cs, err := newClient().Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, nil)
	if err != nil {
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		return nil, fmt.Errorf("start stdio upstream: %w", err)
	}
	return cs, nil
}

// startHTTPChild starts this binary as a streamable-HTTP test upstream in
// a process of its own and returns its URL; stop ends the process.
func startHTTPChild(ctx context.Context) (url string, stop func() error, err error) {
	cmd, err := childCommand(testupstream.ModeHTTP, nil)
	if err != nil {
		return "", nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start HTTP upstream: %w", err)
	}
	stop = func() error {
		stdin.Close()
		t := time.AfterFunc(5*time.Second, func() { cmd.Process.Kill() })
		defer t.Stop()
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("HTTP upstream (pid %d): %w", cmd.Process.Pid, err)
		}
		return nil
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	select {
	case url = <-lines:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	if !strings.HasPrefix(url, "http://") {
		stop()
		return "", nil, fmt.Errorf("HTTP upstream (pid %d) did not say its URL", cmd.Process.Pid)
	}
	return url, stop, nil
}

// childCommand returns this binary as a test upstream in mode, dying with
// mcpbench, its stderr discarded.
func childCommand(mode string, extra map[string]string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = os.Environ()
	for k, v := range stdioEnv(mode, extra) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = io.Discard
	cmd.SysProcAttr = dieWithParent()
	return cmd, nil
}

// closeAll closes sessions, ignoring nils.
func closeAll(sessions []*mcp.ClientSession) {
	for _, s := range sessions {
		if s != nil {
			s.Close()
		}
	}
}

// echoCall calls tool on cs with args and checks that the result is the text
// want.
func echoCall(ctx context.Context, cs *mcp.ClientSession, tool string, args map[string]any, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return fmt.Errorf("call %s: %w", tool, err)
	}
	text := testupstream.Text(res)
	if res.IsError {
		return fmt.Errorf("call %s: tool error: %s", tool, text)
	}
	if text != want {
		return fmt.Errorf("call %s: got %q, want %q", tool, text, want)
	}
	return nil
}
