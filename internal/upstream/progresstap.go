package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"io"

	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/mcpproxy/mcpproxy/internal/sse"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxTapLine bounds the part of a line the tap keeps while it waits for
// the line's end. Progress notifications are far smaller; a longer line,
// such as a large tool result, passes through without being looked at.
const maxTapLine = 64 << 10

var progressMethod = []byte(`"notifications/progress"`)

// progressTap passes an upstream's byte stream through unchanged and hands
// every progress notification in it to deliver as soon as it has been
// read: before the SDK can decode, and return to its caller, a result that
// follows the notification. The stream is newline-delimited JSON-RPC
// (stdio) or, with sse set, server-sent events whose data lines each hold
// one JSON-RPC message, as the MCP SDKs write them; an event whose data is
// split over several lines is left to the SDK's handler.
//
// A tap is used by one reader at a time, as the io.Reader contract implies.
type progressTap struct {
	r       io.Reader
	ctx     context.Context
	deliver func(context.Context, *mcp.ProgressNotificationParams)
	sse     bool

	line  []byte // the current line, while it is no longer than maxTapLine
	long  bool   // the current line outgrew maxTapLine and is not looked at
	other bool   // sse: the current event is not a "message" event
}

func newProgressTap(ctx context.Context, r io.Reader, deliver func(context.Context, *mcp.ProgressNotificationParams), sse bool) *progressTap {
	return &progressTap{r: r, ctx: ctx, deliver: deliver, sse: sse}
}

func (t *progressTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.scan(p[:n])
	return n, err
}

func (t *progressTap) scan(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			t.keep(b)
			return
		}
		if len(t.line) == 0 && !t.long && i <= maxTapLine {
			t.handle(b[:i]) // the whole line arrived in this read
		} else {
			t.keep(b[:i])
			if !t.long {
				t.handle(t.line)
			}
		}
		t.line = t.line[:0]
		t.long = false
		b = b[i+1:]
	}
}

// keep adds part of the current line to what is kept of it.
func (t *progressTap) keep(b []byte) {
	if t.long {
		return
	}
	if len(t.line)+len(b) > maxTapLine {
		t.long = true
		t.line = nil
		return
	}
	t.line = append(t.line, b...)
}

// handle looks at one complete line.
func (t *progressTap) handle(line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if t.sse {
		if len(line) == 0 { // end of event
			t.other = false
			return
		}
		switch field, value := sse.Field(line); string(field) {
		case "event":
			value = bytes.TrimSpace(value)
			t.other = len(value) > 0 && string(value) != "message"
			return
		case "data":
			if t.other {
				return
			}
			line = value
		default:
			return
		}
	}
	if !bytes.Contains(line, progressMethod) {
		return
	}
	for _, p := range decodeProgress(line) {
		t.deliver(t.ctx, p)
	}
}

// tapMessage is the part of a JSON-RPC message the tap needs.
type tapMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// decodeProgress returns the progress notifications in b, a JSON-RPC
// message or batch; nothing if b is not valid JSON-RPC.
func decodeProgress(b []byte) []*mcp.ProgressNotificationParams {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	var msgs []tapMessage
	if b[0] == '[' {
		if err := json.Unmarshal(b, &msgs); err != nil {
			return nil
		}
	} else {
		var m tapMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return nil
		}
		msgs = []tapMessage{m}
	}
	var out []*mcp.ProgressNotificationParams
	for _, m := range msgs {
		if m.JSONRPC != "2.0" || m.Method != "notifications/progress" || !(len(m.ID) == 0 || string(m.ID) == "null") {
			continue
		}
		var p mcp.ProgressNotificationParams
		if err := json.Unmarshal(m.Params, &p); err != nil {
			continue
		}
		out = append(out, &p)
	}
	return out
}

// tappedBody is a tapped stream that closes the stream underneath.
type tappedBody struct {
	*progressTap
	io.Closer
}

// tapProgress returns rc with a progress tap for deliver, or rc itself if
// deliver is nil.
func tapProgress(ctx context.Context, rc io.ReadCloser, deliver func(context.Context, *mcp.ProgressNotificationParams), sse bool) io.ReadCloser {
	if deliver == nil {
		return rc
	}
	return tappedBody{newProgressTap(ctx, rc, deliver, sse), rc}
}

// deliverRead is what router is handed progress as it is read through, or
// nil for a nil router.
func deliverRead(router *relay.ProgressRouter) func(context.Context, *mcp.ProgressNotificationParams) {
	if router == nil {
		return nil
	}
	return router.DeliverRead
}
