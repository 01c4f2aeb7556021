package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/sse"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// leanHTTP calls tools on a streamable-HTTP upstream with requests of
// mcpproxy's own, posted within the SDK session's MCP session (same session
// id, protocol version, HTTP client, headers and OAuth token), and reads the
// answer itself. The SDK would decode the answer three times, each with a
// fresh 32 KiB buffer, and hand it between two goroutines; on a proxied call
// that was more than mcpproxy's own work.
//
// Whatever else the upstream sends on the call's stream is handled as the
// SDK session's handlers would handle it: progress by the transport's tap,
// its requests (sampling, elicitation, roots, ping) and notifications by
// traffic.
type leanHTTP struct {
	client  *http.Client
	url     string
	session *mcp.ClientSession
	traffic *traffic
	spool   string // see Options.SpoolDir
	next    atomic.Uint64
}

// traffic answers what an upstream sends on its own during a call: the
// requests (with the result or error to send back) and notifications of
// the MCP client mcpproxy is to the upstream.
type traffic struct {
	request func(ctx context.Context, method string, params json.RawMessage) (any, error)
	notify  func(ctx context.Context, method string, params json.RawMessage)
}

// cancelNoticeTimeout bounds the notice of a cancelled call.
const cancelNoticeTimeout = 2 * time.Second

func (l *leanHTTP) CallTool(ctx context.Context, params *mcp.CallToolParams) (*mcp.CallToolResult, error) {
	id, body, err := encodeCall(&l.next, params)
	if err != nil {
		return nil, err
	}
	res, err := l.call(ctx, id, body)
	if err != nil && ctx.Err() != nil {
		// As the SDK does, tell the upstream that nobody waits any more.
		l.cancelRequest(ctx, id)
		return nil, ctx.Err()
	}
	return res, err
}

func (l *leanHTTP) call(ctx context.Context, id string, body []byte) (*mcp.CallToolResult, error) {
	resp, err := l.post(ctx, body)
	if err != nil {
		return nil, err
	}
	defer finish(resp.Body)
	if err := l.checkStatus(ctx, resp); err != nil {
		return nil, err
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		data, err := readBody(resp, MaxMessageBytes, l.spool)
		if err != nil {
			return nil, fmt.Errorf("tools/call: read the upstream's response: %w", err)
		}
		if len(data) > MaxMessageBytes {
			return nil, fmt.Errorf("tools/call: the upstream's response exceeds %d bytes", MaxMessageBytes)
		}
		var env leanEnvelope
		if err := json.Unmarshal(data, &env); err != nil {
			return nil, fmt.Errorf("tools/call: the upstream's response is not a JSON-RPC message: %w", err)
		}
		if !env.answers(id) {
			return nil, fmt.Errorf("tools/call: the upstream answered another request (id %s)", env.ID)
		}
		return callResult(data)
	case "text/event-stream":
		return l.readStream(ctx, id, resp.Body)
	}
	return nil, fmt.Errorf("tools/call: the upstream answered with content type %q", resp.Header.Get("Content-Type"))
}

// readBody reads a response body of at most limit bytes (and one more, to
// tell that it is longer), into a buffer of its announced length when it
// has one, so that a large body is not copied over and over as it grows;
// without one, in pieces, through a file in spool once it is large (see
// Options.SpoolDir).
func readBody(resp *http.Response, limit int64, spool string) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit+1)
	n := resp.ContentLength
	if n <= 0 || n > limit {
		return sse.ReadAll(r, spool, SpoolAfter)
	}
	buf := make([]byte, n+1) // one more: a body longer than announced shows
	k, err := io.ReadFull(r, buf)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return buf[:k], nil
	case err != nil:
		return nil, err
	}
	rest, err := io.ReadAll(r)
	return append(buf, rest...), err
}

// finish closes a response body after reading what is left of it, so that
// its connection can serve the next request: closed before its end, the
// connection is dropped, and the next call pays for a new one. An event
// stream ends right after the response; one that does not end within
// drainWait is closed as it is.
func finish(body io.ReadCloser) {
	t := time.AfterFunc(drainWait, func() { body.Close() })
	io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	t.Stop()
	body.Close()
}

// drainWait bounds how long finish waits for the end of a response.
const drainWait = 100 * time.Millisecond

// post sends one JSON-RPC message in the session.
func (l *leanHTTP) post(ctx context.Context, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid := l.session.ID(); sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	if init := l.session.InitializeResult(); init != nil && init.ProtocolVersion != "" {
		req.Header.Set("Mcp-Protocol-Version", init.ProtocolVersion)
	}
	return l.client.Do(req)
}

// checkStatus turns an HTTP failure into an error. A session the upstream
// no longer knows is also made known to the SDK session, whose next
// request fails the same way and ends it, so that the actor reconnects.
func (l *leanHTTP) checkStatus(ctx context.Context, resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	err := fmt.Errorf("upstream answered HTTP %d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), bytes.TrimSpace(msg))
	if resp.StatusCode == http.StatusNotFound && l.session.ID() != "" {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelNoticeTimeout)
		l.session.Ping(pctx, nil)
		cancel()
		return fmt.Errorf("the upstream no longer knows the session (it may have restarted); mcpproxy reconnects: %w", err)
	}
	return err
}

// readStream reads the server-sent events of a call's response until the
// response itself, answering the upstream's own requests on the way.
func (l *leanHTTP) readStream(ctx context.Context, id string, body io.Reader) (*mcp.CallToolResult, error) {
	events := sse.NewReader(body, 16<<10)
	if l.spool != "" {
		events.Spool(l.spool, SpoolAfter)
	}
	for {
		data, err := events.Event(MaxMessageBytes)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the stream ended before the response")
			}
			return nil, fmt.Errorf("tools/call: %w", err)
		}
		if len(bytes.TrimSpace(data)) == 0 {
			continue // a priming event
		}
		var env leanEnvelope
		if err := json.Unmarshal(data, &env); err != nil {
			return nil, fmt.Errorf("tools/call: the upstream sent an event that is not a JSON-RPC message: %w", err)
		}
		switch {
		case env.Method != "" && env.hasID():
			if err := l.answer(ctx, &env); err != nil {
				return nil, err
			}
		case env.Method != "":
			if l.traffic != nil {
				l.traffic.notify(ctx, env.Method, env.Params)
			}
		case env.answers(id):
			return callResult(data)
		}
	}
}

// answer handles one request of the upstream's and posts the response.
func (l *leanHTTP) answer(ctx context.Context, req *leanEnvelope) error {
	var result any
	err := error(&jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "method not found: " + req.Method})
	if l.traffic != nil {
		result, err = l.traffic.request(ctx, req.Method, req.Params)
	}
	out := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result,omitempty"`
		Error   *jsonrpc.Error  `json:"error,omitempty"`
	}{JSONRPC: "2.0", ID: req.ID}
	if err != nil {
		var werr *jsonrpc.Error
		if !errors.As(err, &werr) {
			werr = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
		}
		out.Error = werr
	} else {
		out.Result = result
	}
	body, err := json.Marshal(&out)
	if err != nil {
		return fmt.Errorf("tools/call: encode the answer to the upstream's %s: %w", req.Method, err)
	}
	resp, err := l.post(ctx, body)
	if err != nil {
		return fmt.Errorf("tools/call: send the answer to the upstream's %s: %w", req.Method, err)
	}
	defer finish(resp.Body)
	return l.checkStatus(ctx, resp)
}

// cancelRequest posts notifications/cancelled for one of mcpproxy's own
// requests, best effort and in bounded time.
func (l *leanHTTP) cancelRequest(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelNoticeTimeout)
	defer cancel()
	resp, err := l.post(ctx, cancelNotice(id, "the client cancelled the call"))
	if err != nil {
		return
	}
	finish(resp.Body)
}
