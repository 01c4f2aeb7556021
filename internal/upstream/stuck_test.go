package upstream_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bigArgument is larger than any pipe buffer (64 KiB on Linux by default,
// 1 MiB at most without privileges), so writing a call that carries it to
// a child that does not read blocks.
var bigArgument = strings.Repeat("x", 2<<20)

// callers are the two ways a tool call reaches a stdio upstream: mcpproxy's
// own requests beside the session, and the SDK's session.
var callers = []struct {
	name string
	get  func(*stateview.Server) stateview.ToolCaller
}{
	{"Lean", func(s *stateview.Server) stateview.ToolCaller { return s.Caller }},
	{"SDK", func(s *stateview.Server) stateview.ToolCaller { return s.Session }},
}

// blockedWriting reports whether some goroutine is blocked writing a
// message on a stdio upstream's pipe.
func blockedWriting() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "lineConn).writeLine") && strings.Contains(g, "waitWrite") {
			return true
		}
	}
	return false
}

// A child that stops reading its stdin must not make its actor
// unstoppable: closing the connection used to wait for the write blocked
// on the full pipe, for ever.
func TestActor_StopsWhileWriteBlocked(t *testing.T) {
	for _, caller := range callers {
		t.Run(caller.name, func(t *testing.T) {
			checkLeaks(t)
			h := startActor(t, stdioSpec(testupstream.ModeStopReading, nil), nil)
			srv := h.waitState(t, 20*time.Second, mcpproxy.StateReady)
			pid := srv.PID
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := caller.get(srv).CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": bigArgument}})
				done <- err
			}()
			waitFor(t, 10*time.Second, blockedWriting, "a write blocked on the pipe")

			took := h.stop(t, 5*time.Second)
			t.Logf("actor stopped in %v with a write blocked", took)
			if !processGone(pid) {
				t.Errorf("child %d survived its actor", pid)
			}
			select {
			case err := <-done:
				if err == nil {
					t.Error("the blocked call succeeded")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the blocked call did not return after the actor stopped")
			}
		})
	}
}

// A call whose context ends while its write is blocked returns promptly
// with the context's error, and the actor stays stoppable.
func TestActor_BlockedWriteHonoursContext(t *testing.T) {
	for _, caller := range callers {
		t.Run(caller.name, func(t *testing.T) {
			checkLeaks(t)
			h := startActor(t, stdioSpec(testupstream.ModeStopReading, nil), nil)
			srv := h.waitState(t, 20*time.Second, mcpproxy.StateReady)
			pid := srv.PID
			const timeout = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			_, err := caller.get(srv).CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": bigArgument}})
			took := time.Since(start)
			t.Logf("call returned after %v: %v", took, err)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want the context's deadline error", err)
			}
			if took > timeout+3*time.Second {
				t.Errorf("call returned %v after its context ended", took-timeout)
			}
			// A second call with a small argument must not wait behind a
			// write left running: there is none.
			ctx2, cancel2 := context.WithTimeout(context.Background(), timeout)
			defer cancel2()
			start = time.Now()
			_, err = caller.get(srv).CallTool(ctx2, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "small"}})
			if err == nil || time.Since(start) > timeout+3*time.Second {
				t.Errorf("second call: %v after %v", err, time.Since(start))
			}
			h.stop(t, 5*time.Second)
			if !processGone(pid) {
				t.Errorf("child %d survived its actor", pid)
			}
		})
	}
}
