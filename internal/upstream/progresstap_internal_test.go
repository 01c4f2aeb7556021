package upstream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

// chunkReader returns b in reads of at most the given sizes, repeating the
// last size.
type chunkReader struct {
	b     []byte
	sizes []int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.b), r.sizes[0])
	if len(r.sizes) > 1 {
		r.sizes = r.sizes[1:]
	}
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

// tapRead reads in through a tap in reads of the given sizes, checks that
// it comes out unchanged and returns what the tap delivered, as
// "token progress message".
func tapRead(tb testing.TB, in string, sse bool, sizes ...int) []string {
	tb.Helper()
	var sink testupstream.ProgressSink
	tap := newProgressTap(context.Background(), &chunkReader{b: []byte(in), sizes: sizes}, sink.Fn, sse)
	out, err := io.ReadAll(tap)
	if err != nil {
		tb.Fatal(err)
	}
	if string(out) != in {
		tb.Fatalf("the tap changed the stream:\n got %q\nwant %q", out, in)
	}
	return sink.Steps()
}

func progressLine(token string, progress int, msg string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":%q,"progress":%d,"total":3,"message":%q}}`, token, progress, msg)
}

// tapToken is the token of the streams below, and the first token a new
// router hands out.
const tapToken = "mcpproxy-1"

// stdioStream is newline-delimited JSON-RPC with every case the tap must
// get right.
func stdioStream() string {
	return strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`,
		progressLine(tapToken, 1, "one"),
		progressLine("mcpproxy-2", 1, "another call's"),
		// Mentions the method but is another notification, a request and
		// a response.
		`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":{"method":"notifications/progress"}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"notifications/progress","params":{"progressToken":"` + tapToken + `","progress":9}}`,
		`{"jsonrpc":"2.0","id":3,"result":{"content":[],"structuredContent":{"method":"notifications/progress"}}}`,
		// Not JSON-RPC 2.0, and not JSON.
		`{"jsonrpc":"1.0","method":"notifications/progress","params":{"progressToken":"` + tapToken + `","progress":9}}`,
		`{"method":"notifications/progress" garbage`,
		// CRLF, surrounding space, an explicit null id.
		progressLine(tapToken, 2, "two") + "\r",
		`  {"jsonrpc":"2.0","id":null,"method":"notifications/progress","params":{"progressToken":"` + tapToken + `","progress":3,"message":"three"}}  `,
		// A batch: two notifications and a response.
		"[" + progressLine(tapToken, 4, "four") + `,{"jsonrpc":"2.0","id":4,"result":{}},` + progressLine(tapToken, 5, "five") + "]",
		"",
		progressLine(tapToken, 6, "six"),
	}, "\n") + "\n" + progressLine(tapToken, 7, "no newline, so not yet complete")
}

var wantStdio = []string{"mcpproxy-1 1 one", "mcpproxy-2 1 another call's", "mcpproxy-1 2 two", "mcpproxy-1 3 three",
	"mcpproxy-1 4 four", "mcpproxy-1 5 five", "mcpproxy-1 6 six"}

// sseStream is an SSE stream as the MCP SDKs write it, and variations.
func sseStream() string {
	return strings.Join([]string{
		"event: endpoint",
		"data: /message?sessionid=1",
		"",
		": a comment",
		"event: message",
		"id: 1",
		"data: " + progressLine(tapToken, 1, "one"),
		"",
		"data:" + progressLine(tapToken, 2, "two, no event name, no space"),
		"",
		"event: message\r",
		"data: " + progressLine(tapToken, 3, "three, CRLF") + "\r",
		"\r",
		// Not a message event: the SDK ignores it, so does the tap.
		"event: other",
		"data: " + progressLine(tapToken, 9, "other event"),
		"",
		// Split over two data lines: left to the SDK's handler.
		"event: message",
		`data: {"jsonrpc":"2.0","method":"notifications/progress",`,
		`data: "params":{"progressToken":"` + tapToken + `","progress":9}}`,
		"",
		"event: message",
		`data: {"jsonrpc":"2.0","id":2,"result":{"content":[]}}`,
		"",
		// Not a data line.
		progressLine(tapToken, 9, "bare"),
		"",
		"event: message",
		"data: [" + progressLine(tapToken, 4, "four") + "," + progressLine(tapToken, 5, "five") + "]",
		"",
	}, "\n") + "\n"
}

var wantSSE = []string{"mcpproxy-1 1 one", "mcpproxy-1 2 two, no event name, no space", "mcpproxy-1 3 three, CRLF",
	"mcpproxy-1 4 four", "mcpproxy-1 5 five"}

func TestProgressTap(t *testing.T) {
	for _, tt := range []struct {
		name string
		sse  bool
		in   string
		want []string
	}{
		{"Stdio", false, stdioStream(), wantStdio},
		{"SSE", true, sseStream(), wantSSE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Every fixed read size, which splits lines, "data:" prefixes
			// and CRLFs at every offset.
			for size := 1; size <= len(tt.in)+1; size++ {
				if got := tapRead(t, tt.in, tt.sse, size); !slices.Equal(got, tt.want) {
					t.Fatalf("reads of %d bytes: delivered %q, want %q", size, got, tt.want)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range 200 {
				sizes := make([]int, 64)
				for i := range sizes {
					sizes[i] = 1 + rng.IntN(80)
				}
				if got := tapRead(t, tt.in, tt.sse, sizes...); !slices.Equal(got, tt.want) {
					t.Fatalf("reads of %v bytes: delivered %q, want %q", sizes, got, tt.want)
				}
			}
		})
	}
}

// A line longer than the tap keeps passes through unchanged and is not
// decoded, however it is split; the tap picks up again at the next line.
func TestProgressTap_LongLine(t *testing.T) {
	for _, sse := range []bool{false, true} {
		prefix := ""
		if sse {
			prefix = "data: "
		}
		long := progressLine(tapToken, 1, strings.Repeat("x", maxTapLine))
		// Exactly maxTapLine bytes with its prefix: still looked at.
		fill := strings.Repeat("y", maxTapLine-len(prefix)-len(progressLine(tapToken, 2, "")))
		atBound := progressLine(tapToken, 2, fill)
		in := prefix + long + "\n" + prefix + atBound + "\n\n" + prefix + progressLine(tapToken, 3, "after") + "\n\n"
		want := []string{"mcpproxy-1 2 " + fill, "mcpproxy-1 3 after"}
		for _, sizes := range [][]int{{1 << 20}, {maxTapLine}, {maxTapLine + 1}, {4096}, {7}, {maxTapLine - 3, 5, 1}, {100, maxTapLine, 1}} {
			if got := tapRead(t, in, sse, sizes...); !slices.Equal(got, want) {
				short := make([]string, len(got))
				for i, g := range got {
					short[i] = g[:min(len(g), 20)]
				}
				t.Errorf("sse=%v reads of %v: delivered %q…, want only the line at the bound and the one after", sse, sizes, short)
			}
		}
	}
}

// tapProgress wires a tap to the router; the tapped stream's Close closes
// the stream underneath; without a router there is no tap.
func TestTapProgress(t *testing.T) {
	in := progressLine(tapToken, 1, "one") + "\n"
	rc := &closeRecorder{Reader: strings.NewReader(in)}
	if got := tapProgress(context.Background(), rc, nil, false); got != io.ReadCloser(rc) {
		t.Errorf("tapProgress without a router = %T, want the stream itself", got)
	}
	r := relay.NewProgressRouter()
	var sink testupstream.ProgressSink
	up, release := r.Register("down", sink.Fn)
	if up != tapToken {
		t.Fatalf("first upstream token = %q, want %q", up, tapToken)
	}
	got := tapProgress(context.Background(), rc, r.DeliverRead, false)
	if b, _ := io.ReadAll(got); string(b) != in {
		t.Errorf("read %q through the tap, want %q", b, in)
	}
	// Read, so no longer news when the SDK's handler hands it over.
	r.Deliver(context.Background(), testupstream.ProgressParams(up, 1, "one"))
	release()
	if got := sink.Steps(); !slices.Equal(got, []string{"down 1 one"}) {
		t.Errorf("the call got %q, want it once", got)
	}
	got.Close()
	if !rc.closed {
		t.Error("closing the tapped stream did not close the stream")
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error {
	c.closed = true
	return nil
}

func TestIsEventStream(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/event-stream":                true,
		"text/event-stream; charset=utf-8": true,
		"Text/Event-Stream":                true,
		"application/json":                 false,
		"":                                 false,
		"text/event-stream-ish":            false,
	} {
		if got := isEventStream(ct); got != want {
			t.Errorf("isEventStream(%q) = %v, want %v", ct, got, want)
		}
	}
}

// FuzzProgressTap: whatever the stream and however it is split, the tap
// passes it through unchanged and delivers the same notifications as when
// the stream is read at once.
func FuzzProgressTap(f *testing.F) {
	f.Add(stdioStream(), false, uint64(1))
	f.Add(sseStream(), true, uint64(2))
	f.Add("data: "+progressLine(tapToken, 1, "a")+"\r\n\r\n", true, uint64(3))
	f.Fuzz(func(t *testing.T, in string, sse bool, seed uint64) {
		whole := tapRead(t, in, sse, len(in)+1)
		rng := rand.New(rand.NewPCG(seed, seed))
		sizes := make([]int, 32)
		for i := range sizes {
			sizes[i] = 1 + rng.IntN(64)
		}
		if split := tapRead(t, in, sse, sizes...); !slices.Equal(split, whole) {
			t.Errorf("split reads delivered %q, one read %q", split, whole)
		}
	})
}

// A reader may return its last bytes together with io.EOF.
func TestProgressTap_DataWithEOF(t *testing.T) {
	var sink testupstream.ProgressSink
	in := progressLine(tapToken, 1, "one") + "\n"
	tap := newProgressTap(context.Background(), eofReader{bytes.NewReader([]byte(in))}, sink.Fn, false)
	buf := make([]byte, len(in)+10)
	n, err := tap.Read(buf)
	if n != len(in) || err != io.EOF {
		t.Fatalf("Read = %d, %v; want %d, EOF", n, err, len(in))
	}
	if got := sink.Steps(); !slices.Equal(got, []string{"mcpproxy-1 1 one"}) {
		t.Errorf("delivered %q", got)
	}
}

// eofReader returns io.EOF together with the last bytes.
type eofReader struct{ r *bytes.Reader }

func (e eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == nil && e.r.Len() == 0 {
		err = io.EOF
	}
	return n, err
}
