package mcpserver

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sseSession is a legacy SSE session as the proxy keeps it: the identity
// that opened it (see bindSSE), and its client's calls in flight, so that
// the response to one the client cancelled is not sent.
//
// The MCP specification asks the receiver of notifications/cancelled not
// to answer the request, on every transport, and the TypeScript SDK's
// servers (server-everything over its SSE transport) send nothing. On
// streamable HTTP each request has a stream of its own, and holdBack ends
// it without the response. On the legacy transport every message shares
// the session's one stream, and the SDK writes the response whatever
// became of the request (on a context without its cancellation); so the
// proxy follows the calls: it reads each message the client posts (a
// request with an id; a notifications/cancelled naming one in flight) and
// leaves out of the stream the response to a cancelled one. A
// cancellation that arrives after the response was written changes
// nothing, as the specification allows.
//
// The methods are safe for concurrent use: the client's POSTs arrive
// concurrently with the stream's writes.
type sseSession struct {
	owner string // the identity that opened the session; immutable

	mu    sync.Mutex
	calls map[string]bool // guarded by mu: id of each request in flight → cancelled by the client
}

func newSSESession(owner string) *sseSession {
	return &sseSession{owner: owner, calls: map[string]bool{}}
}

// sseMessage is what the proxy reads of a message a client posts to an
// SSE session.
type sseMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		RequestID json.RawMessage `json:"requestId"`
	} `json:"params"`
}

// callKey is a JSON-RPC id as the key of calls: the id as the SDK reads
// it, so that a request's id and its response's match however the client
// wrote it (5.0 is answered as 5, "\u0061" as "a"). False for an id that
// is neither a string nor a number.
func callKey(id json.RawMessage) (string, bool) {
	var v any
	if json.Unmarshal(id, &v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return "s" + v, true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<63 {
			return "n" + strconv.FormatInt(int64(v), 10), true
		}
		return "n" + strconv.FormatFloat(v, 'g', -1, 64), true
	}
	return "", false
}

// posted notes a message the client posted: a request starts a call, a
// notifications/cancelled marks the call it names, if in flight. It
// returns the key of the call a request starts, to be forgotten if the
// SDK refuses the request (then no response ever comes). A body that is
// not one JSON-RPC message is the SDK's to refuse.
func (ss *sseSession) posted(body []byte) (started string) {
	var m sseMessage
	if json.Unmarshal(body, &m) != nil || m.Method == "" {
		return ""
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if key, ok := callKey(m.ID); ok {
		ss.calls[key] = false
		return key
	}
	if m.Method == "notifications/cancelled" {
		if key, ok := callKey(m.Params.RequestID); ok {
			if _, inFlight := ss.calls[key]; inFlight {
				ss.calls[key] = true
			}
		}
	}
	return ""
}

// forget ends a call whose request the SDK refused.
func (ss *sseSession) forget(key string) {
	ss.mu.Lock()
	delete(ss.calls, key)
	ss.mu.Unlock()
}

// drop reports whether event, as the SDK writes it to the session's stream
// (one "message" event per Write), is the response to a call its client
// cancelled; a response ends its call either way.
func (ss *sseSession) drop(event []byte) bool {
	data, ok := bytes.CutPrefix(event, []byte("event: message\ndata: "))
	if !ok {
		return false
	}
	ss.mu.Lock()
	idle := len(ss.calls) == 0
	ss.mu.Unlock()
	if idle {
		return false
	}
	key, ok := responseKey(data)
	if !ok {
		return false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	cancelled, ok := ss.calls[key]
	if ok {
		delete(ss.calls, key)
	}
	return cancelled
}

// responseKey returns the call key of the response data, read from the
// head of the message only: the SDK writes "jsonrpc" and "id" before the
// result, which may be many megabytes. False for a request or a
// notification, or a message whose id does not come before its result.
func responseKey(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	for range 3 {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch t {
		case "id":
			var id json.RawMessage
			if dec.Decode(&id) != nil {
				return "", false
			}
			return callKey(id)
		case "jsonrpc":
			if _, err := dec.Token(); err != nil {
				return "", false
			}
		default: // method (not a response), result or error before the id
			return "", false
		}
	}
	return "", false
}

// readPosted returns the body of a client's POST to an SSE session, and
// puts it back for the SDK's handler. A body over the SDK's own limit is
// not read (nil); the SDK refuses it.
func readPosted(r *http.Request) []byte {
	data, err := io.ReadAll(io.LimitReader(r.Body, mcp.DefaultMaxRequestBodyBytes+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
	if err != nil || len(data) > mcp.DefaultMaxRequestBodyBytes {
		return nil
	}
	return data
}
