//go:build linux

package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestServe_SIGTERMWithCallsInFlight: SIGTERM ends calls in flight on every
// path (the fast path, with a progressToken or not; the SDK's path, taken
// by a call of a sampling client at 2025-03-26 and by arguments over
// 1 MiB; the direct endpoint and the pass-through endpoint) and exits well within
// the call timeout, whatever the upstream does; a new serve on the same
// data dir starts right after.
func TestServe_SIGTERMWithCallsInFlight(t *testing.T) {
	cfg := configJSON(t, []map[string]any{
		stdio("slow", testupstream.ModeOK),
		stdio("stubborn", testupstream.ModeIgnoreTerm), // survives SIGTERM and stdin EOF
		stdio("deaf", testupstream.ModeStopReading),    // stops reading stdin after the handshake
	})
	p := startProxy(t, cfg)
	for _, name := range []string{"slow", "stubborn", "deaf"} {
		p.waitState(t, name, 30*time.Second, "ready")
	}
	p.track(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	connectAs := func(path string, opts *mcp.ClientOptions, protocol string) *mcp.ClientSession {
		c := mcp.NewClient(&mcp.Implementation{Name: "e2e-shutdown", Version: "1"}, opts)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: p.Base + path, MaxRetries: -1}, &mcp.ClientSessionOptions{ProtocolVersion: protocol})
		if err != nil {
			t.Fatalf("connect %s: %v", path, err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	connect := func(path string) *mcp.ClientSession { return connectAs(path, nil, "") }
	// A client that declared sampling at a version that may batch its
	// answers: its calls go through the SDK.
	sampling := &mcp.ClientOptions{CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		return nil, errors.New("no model")
	}}
	// Far longer than any bound below: only shutdown can end these calls.
	sleep := map[string]any{"ms": 10 * 60 * 1000}
	calls := []struct {
		name string
		cs   *mcp.ClientSession
		p    *mcp.CallToolParams
	}{
		{"smart", connect("/mcp"), &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": "slow:sleep", "args": sleep}}},
		{"smart+progressToken", connect("/mcp"), func() *mcp.CallToolParams {
			cp := &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": "slow:sleep", "args": sleep}}
			cp.SetProgressToken("shutdown-1")
			return cp
		}()},
		{"smart-sdk", connectAs("/mcp", sampling, "2025-03-26"), &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": "slow:sleep", "args": sleep}}},
		{"passthrough-sdk", connectAs("/mcp/server/slow", sampling, "2025-03-26"), &mcp.CallToolParams{Name: "sleep", Arguments: sleep}},
		{"direct", connect("/mcp/all"), &mcp.CallToolParams{Name: "slow__sleep", Arguments: sleep}},
		{"passthrough", connect("/mcp/server/slow"), &mcp.CallToolParams{Name: "sleep", Arguments: sleep}},
		{"passthrough-stubborn", connect("/mcp/server/stubborn"), &mcp.CallToolParams{Name: "sleep", Arguments: sleep}},
		// Larger than the pipe: the write to the child blocks.
		{"smart+progressToken-deaf", connect("/mcp"), func() *mcp.CallToolParams {
			cp := &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": "deaf:echo", "args": map[string]any{"message": strings.Repeat("x", 1<<20)}}}
			cp.SetProgressToken("shutdown-2")
			return cp
		}()},
		{"passthrough-deaf", connect("/mcp/server/deaf"), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": strings.Repeat("y", 1<<20)}}},
	}
	type ended struct {
		err error
		at  time.Time
	}
	results := make([]ended, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			res, err := c.cs.CallTool(ctx, c.p)
			if err == nil && !res.IsError {
				t.Errorf("%s: call succeeded: %+v", c.name, res.Content)
			}
			results[i] = ended{err, time.Now()}
		})
	}
	// Let the calls reach the upstream; each must still be running when
	// the signal arrives (checked below by when it ended).
	time.Sleep(3 * time.Second)

	sent := time.Now()
	if err := syscall.Kill(p.PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.waitExit(t, 60*time.Second)
	took := time.Since(sent)
	t.Logf("exited %v after SIGTERM with %d calls in flight", took.Round(time.Millisecond), len(calls))
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if took > 10*time.Second {
		t.Errorf("exit took %v after SIGTERM with calls in flight (call timeout 120s); want well under 10s", took)
	}
	wg.Wait()
	for i, c := range calls {
		if results[i].at.Before(sent) {
			t.Errorf("%s: ended before SIGTERM (%v), so it was not in flight", c.name, results[i].err)
		}
	}

	// The store's lock is free again: a new daemon starts on the same dir.
	again := launch(t, p.Dir, []string{"serve", "-c", p.ConfigPath, "-l", "127.0.0.1:0"})
	again.waitStarted(t)
	if _, err := filepath.Abs(again.Base); err != nil {
		t.Fatal(err)
	}
}
