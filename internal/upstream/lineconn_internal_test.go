package upstream

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// childPipes is a lineConn's view of a child that never reads its stdin:
// writes block until the pipe is closed. Closing it, as stopping a child
// does, also ends the child's stdout.
type childPipes struct {
	stdin  *io.PipeWriter
	stdout *io.PipeWriter
}

func (p childPipes) Write(b []byte) (int, error) { return p.stdin.Write(b) }
func (p childPipes) Close() error {
	p.stdin.Close()
	return p.stdout.Close()
}

// newStuckConn returns a lineConn on a child that never reads (and a
// writer of no deadline, unlike a real pipe), closed at cleanup.
func newStuckConn(tb testing.TB) *lineConn {
	tb.Helper()
	_, stdinW := io.Pipe() // nobody reads
	stdoutR, stdoutW := io.Pipe()
	c := newLineConn(stdoutR, childPipes{stdin: stdinW, stdout: stdoutW}, MaxMessageBytes, "")
	tb.Cleanup(func() { c.Close() })
	return c
}

func ping(tb testing.TB) jsonrpc.Message {
	tb.Helper()
	id, err := jsonrpc.MakeID(float64(1))
	if err != nil {
		tb.Fatal(err)
	}
	return &jsonrpc.Request{ID: id, Method: "ping"}
}

func TestLineConn_CloseDoesNotWaitForWrite(t *testing.T) {
	c := newStuckConn(t)
	wrote := make(chan error, 1)
	go func() { wrote <- c.Write(context.Background(), ping(t)) }()
	// A second writer waits for its turn behind the blocked one.
	queued := make(chan error, 1)
	go func() { queued <- c.Write(context.Background(), ping(t)) }()
	time.Sleep(50 * time.Millisecond) // let both block

	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a blocked write")
	}
	for name, ch := range map[string]chan error{"blocked": wrote, "queued": queued} {
		select {
		case err := <-ch:
			if err == nil {
				t.Errorf("%s write succeeded on a closed connection", name)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s write did not return after Close", name)
		}
	}
}

func TestLineConn_WriteHonoursContext(t *testing.T) {
	t.Run("Blocked", func(t *testing.T) {
		c := newStuckConn(t)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.Write(ctx, ping(t))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the context's deadline error", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("write returned %v after it started", d)
		}
		// The message may be cut off: the connection must be closed.
		if _, err := c.Read(context.Background()); !errors.Is(err, io.EOF) {
			t.Errorf("read after a cut-off write: %v, want EOF", err)
		}
	})
	t.Run("WaitingForTurn", func(t *testing.T) {
		c := newStuckConn(t)
		go c.Write(context.Background(), ping(t)) // blocks, holding the turn; ended by cleanup
		time.Sleep(50 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := c.Write(ctx, ping(t)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the context's deadline error", err)
		}
	})
	t.Run("AlreadyDone", func(t *testing.T) {
		c := newStuckConn(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := c.Write(ctx, ping(t)); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		select {
		case <-c.closed:
			t.Error("a write that never started closed the connection")
		default:
		}
	})
}
