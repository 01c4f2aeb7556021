package upstream

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/sse"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// repeatReader returns its text over and over, in reads of at most chunk
// bytes, as a pipe or a response body would.
type repeatReader struct {
	text  []byte
	off   int
	chunk int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	p = p[:min(len(p), r.chunk)]
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.text[r.off:])
		n += c
		r.off = (r.off + c) % len(r.text)
	}
	return n, nil
}

type discardCloser struct{}

func (discardCloser) Write(p []byte) (int, error) { return len(p), nil }
func (discardCloser) Close() error                { return nil }

// benchMessage is a notification whose text is about size bytes.
func benchMessage(size int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":%q}}`, strings.Repeat("x", size))
}

var benchSizes = []struct {
	name string
	size int
}{{"200B", 200}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

// BenchmarkReadLines measures the stdio connection's reader: one message
// per line, read, dispatched and decoded.
func BenchmarkReadLines(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			msg := benchMessage(s.size) + "\n"
			c := newLineConn(&repeatReader{text: []byte(msg), chunk: 64 << 10}, discardCloser{}, MaxMessageBytes, "")
			defer c.Close()
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Read(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadEvents measures the streamable HTTP call's reader of
// server-sent events.
func BenchmarkReadEvents(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			ev := "event: message\ndata: " + benchMessage(s.size) + "\n\n"
			r := sse.NewReader(&repeatReader{text: []byte(ev), chunk: 32 << 10}, 16<<10)
			b.SetBytes(int64(len(ev)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Event(MaxMessageBytes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProgressTap measures what the progress tap adds to each read of
// a stream with no progress in it.
func BenchmarkProgressTap(b *testing.B) {
	deliver := func(context.Context, *mcp.ProgressNotificationParams) {}
	for _, sse := range []bool{false, true} {
		for _, s := range benchSizes {
			b.Run(fmt.Sprintf("sse=%v/%s", sse, s.name), func(b *testing.B) {
				text := benchMessage(s.size) + "\n"
				if sse {
					text = "event: message\ndata: " + benchMessage(s.size) + "\n\n"
				}
				t := newProgressTap(context.Background(), &repeatReader{text: []byte(text), chunk: 32 << 10}, deliver, sse)
				buf := make([]byte, 32<<10)
				b.SetBytes(int64(len(buf)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := t.Read(buf); err != nil && err != io.EOF {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
