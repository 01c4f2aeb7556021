//go:build unix

package testupstream_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestStdio_ExitOnCall(t *testing.T) {
	cmd := childCmd(testupstream.ModeExitOnCall, nil)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cs := connect(t, &mcp.CommandTransport{Command: cmd}, nil)
	if names := toolNames(t, cs); len(names) == 0 {
		t.Fatal("no tools listed before the call")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "x"}}); err == nil {
		t.Fatal("a call to a server that exits mid-call succeeded")
	}
	_ = cs.Close()
	if code := cmd.ProcessState.ExitCode(); code != 5 {
		t.Errorf("exit code = %d, want 5", code)
	}
	if !strings.Contains(stderr.String(), "exiting mid-call\n") {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestStdio_BigResult(t *testing.T) {
	cmd := childCmd(testupstream.ModeBigResult, map[string]string{testupstream.EnvBigBytes: "100000"})
	cs := connect(t, &mcp.CommandTransport{Command: cmd}, nil)
	got, isErr := call(t, cs, "big", map[string]any{})
	if isErr || got != testupstream.BigText(100000) {
		t.Errorf("big = %d characters (error %v), want BigText(100000)", len(got), isErr)
	}
}

func TestHTTP_ResetAndSlowLoris(t *testing.T) {
	for name, hs := range map[string]*testupstream.HTTPServer{
		"Reset":     testupstream.StartReset(t),
		"SlowLoris": testupstream.StartSlowLoris(t, 50*time.Millisecond),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
			tr := &mcp.StreamableClientTransport{Endpoint: hs.URL, MaxRetries: -1, HTTPClient: &http.Client{Timeout: 2 * time.Second}}
			if cs, err := c.Connect(ctx, tr, nil); err == nil {
				cs.Close()
				t.Fatal("connect succeeded")
			}
			if hs.Requests() == 0 {
				t.Error("no request reached the server")
			}
		})
	}
}
