package mcpserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
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

// sseMessage is what the proxy reads of a JSON-RPC message on an SSE
// session.
type sseMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		RequestID json.RawMessage `json:"requestId"`
	} `json:"params"`
}

// rawID is a JSON-RPC id as the key of calls.
func rawID(id json.RawMessage) string { return string(bytes.TrimSpace(id)) }

// posted notes a message the client posted: a request starts a call, a
// notifications/cancelled marks the call it names, if in flight. A body
// that is not one JSON-RPC message is the SDK's to refuse.
func (ss *sseSession) posted(body []byte) {
	var m sseMessage
	if json.Unmarshal(body, &m) != nil || m.Method == "" {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case len(m.ID) > 0 && rawID(m.ID) != "null":
		ss.calls[rawID(m.ID)] = false
	case m.Method == "notifications/cancelled" && len(m.Params.RequestID) > 0:
		if _, ok := ss.calls[rawID(m.Params.RequestID)]; ok {
			ss.calls[rawID(m.Params.RequestID)] = true
		}
	}
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
	defer ss.mu.Unlock()
	if len(ss.calls) == 0 {
		return false
	}
	var m sseMessage
	if json.Unmarshal(data, &m) != nil || m.Method != "" || len(m.ID) == 0 {
		return false
	}
	cancelled, ok := ss.calls[rawID(m.ID)]
	if ok {
		delete(ss.calls, rawID(m.ID))
	}
	return cancelled
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
