package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// envProgressChild makes the test binary serve progressServer on stdio.
const envProgressChild = "MCPPROXY_TEST_PROGRESS_CHILD"

// The stdio progress upstream is this test binary, re-executed. It is
// checked in init because TestMain only knows testupstream's modes, and
// progress needs a tool none of them has.
func init() {
	if os.Getenv(envProgressChild) == "" {
		return
	}
	pace := func(ctx context.Context, _ int) {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	err := progressServer(pace).Run(context.Background(), &mcp.StdioTransport{})
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "progress upstream: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// progressServer is an upstream with one tool, work. Given a progress
// token, work sends three progress notifications ("step 1" to "step 3" of
// 3), calling pace after each if its argument paced is true, and then
// returns "worked (token T)", T being the token it got.
func progressServer(pace func(ctx context.Context, step int)) *mcp.Server {
	up := mcp.NewServer(&mcp.Implementation{Name: "custom"}, nil)
	up.AddTool(&mcp.Tool{Name: "work", InputSchema: json.RawMessage(`{"type":"object","properties":{"paced":{"type":"boolean"}}}`)},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var in struct{ Paced bool }
			json.Unmarshal(req.Params.Arguments, &in)
			tok := req.Params.GetProgressToken()
			if tok != nil {
				for i := 1; i <= 3; i++ {
					err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: tok, Progress: float64(i), Total: 3, Message: fmt.Sprint("step ", i)})
					if err != nil {
						return nil, err
					}
					if in.Paced {
						pace(ctx, i)
					}
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("worked (token %v)", tok)}}}, nil
		})
	return up
}

// stdioProgressUpstream returns the config entry of a stdio upstream
// serving progressServer, pacing its steps by sleeping.
func stdioProgressUpstream(name string) map[string]any {
	path, err := os.Executable()
	if err != nil {
		path = os.Args[0]
	}
	env := map[string]string{envProgressChild: "1"}
	// A race-enabled child would otherwise sleep 1s at exit.
	if gorace := os.Getenv("GORACE"); !strings.Contains(gorace, "atexit_sleep_ms") {
		env["GORACE"] = strings.TrimSpace(gorace + " atexit_sleep_ms=0")
	}
	return map[string]any{"name": name, "command": path, "env": env}
}

// customSSEUpstream serves s over the SDK's SSE transport (2024-11-05) on
// 127.0.0.1, and closes it (sessions first) at cleanup.
func customSSEUpstream(tb testing.TB, s *mcp.Server) string {
	tb.Helper()
	return serveUpstream(tb, s, mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return s }, nil))
}
