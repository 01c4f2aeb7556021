package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// callStream is the answer to a tools/call answered in front of the SDK
// (see fastPath), while the call runs: what the upstream sends its client
// during the call (progress, and requests for sampling, elicitation or
// roots) goes out on it as server-sent events, before the result, as the
// SDK sends them on the stream of the request they relate to. An answer
// that carried nothing before its result stays a plain JSON body.
//
// The client answers a request sent here with a POST of its own, which
// the fast path hands to the call's session (fastSession.reply), never to
// the SDK: the ids of these requests are strings with the prefix askPrefix,
// and the SDK's own are numbers.
//
// Safe for concurrent use: the upstream's progress and requests come on
// other goroutines than the call's.
type callStream struct {
	w  http.ResponseWriter
	fs *fastSession

	mu     sync.Mutex
	events bool // guarded by mu; the answer is an event stream and its header is out
	over   bool // guarded by mu; nothing more is written (the result is, or the call ended)
}

type callStreamKey struct{}

// withCallStream returns ctx for a call answered on cs.
func withCallStream(ctx context.Context, cs *callStream) context.Context {
	return context.WithValue(ctx, callStreamKey{}, cs)
}

// callStreamOf returns the stream of the call that ctx serves, or nil when
// the call goes through the SDK.
func callStreamOf(ctx context.Context) *callStream {
	cs, _ := ctx.Value(callStreamKey{}).(*callStream)
	return cs
}

// errCallOver is what writing to a call's stream gives once the call has
// been answered.
var errCallOver = errors.New("mcpproxy: the call this relates to is over")

// errSessionGone is what a request sent on a call's stream gives when the
// client's session ends before it answered.
var errSessionGone = errors.New("mcpproxy: the client's session ended before it answered")

// askPrefix begins the id of every request sent on a call's stream.
const askPrefix = "mcpproxy-"

// send writes one JSON-RPC message as an event of the call's answer.
func (cs *callStream) send(msg []byte) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.over {
		return errCallOver
	}
	if !cs.events {
		cs.w.Header().Set("Content-Type", "text/event-stream")
		cs.w.WriteHeader(http.StatusOK)
		cs.events = true
	}
	buf := make([]byte, 0, len("event: message\ndata: \n\n")+len(msg))
	buf = append(buf, "event: message\ndata: "...)
	buf = append(append(buf, msg...), "\n\n"...)
	if _, err := cs.w.Write(buf); err != nil {
		return err
	}
	return http.NewResponseController(cs.w).Flush()
}

// finish ends what the stream carries before the result, and reports
// whether the answer became an event stream (the result is then written as
// its last event).
func (cs *callStream) finish() (events bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.over = true
	return cs.events
}

// notify sends a notification to the client on the call's stream.
func (cs *callStream) notify(method string, params any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	msg, err := jsonrpc.EncodeMessage(&jsonrpc.Request{Method: method, Params: raw})
	if err != nil {
		return err
	}
	return cs.send(msg)
}

// fastReply is a client's answer to a request sent on a call's stream.
type fastReply struct {
	result json.RawMessage
	err    *jsonrpc.Error
}

// ask sends the client a request on the call's stream and decodes its
// answer into result. An error the client answered with comes back as the
// *jsonrpc.Error it sent, so that the upstream gets the client's own code
// and message.
//
// It waits for the answer until ctx (the upstream's request) or the
// client's session ends, even when the call is over first, as the SDK does: a client's own session of
// an HTTP upstream sends a request on its client's latest call, which may
// not be the one that caused it, and an upstream may keep a question open
// after its call is cancelled. When ctx ends it tells the client that the
// request is cancelled, if the call's stream is still open (best effort,
// as the SDK does).
func (cs *callStream) ask(ctx context.Context, method string, params any, result any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("mcpproxy: encode %s: %w", method, err)
	}
	id := askPrefix + strconv.FormatUint(cs.fs.asks.Add(1), 10)
	rid, _ := jsonrpc.MakeID(id)
	msg, err := jsonrpc.EncodeMessage(&jsonrpc.Request{ID: rid, Method: method, Params: raw})
	if err != nil {
		return err
	}
	ch := make(chan fastReply, 1)
	cs.fs.mu.Lock()
	cs.fs.asked[id] = ch
	cs.fs.mu.Unlock()
	defer func() {
		cs.fs.mu.Lock()
		delete(cs.fs.asked, id)
		cs.fs.mu.Unlock()
	}()
	if err := cs.send(msg); err != nil {
		return err
	}
	select {
	case rep := <-ch:
		if rep.err != nil {
			return rep.err
		}
		if err := json.Unmarshal(rep.result, result); err != nil {
			return fmt.Errorf("mcpproxy: the client's answer to %s: %w", method, err)
		}
		return nil
	case <-ctx.Done():
		cs.notify("notifications/cancelled", map[string]any{"requestId": id, "reason": context.Cause(ctx).Error()})
		return ctx.Err()
	case <-cs.fs.gone:
		return errSessionGone
	}
}

// reply hands a client's answer to the request of a call's stream it
// answers, and reports whether the answer was one to such a request (the
// SDK never sent it, so it must not get it, even late).
func (fs *fastSession) reply(m *fastMessage) bool {
	var id string
	if json.Unmarshal(m.ID, &id) != nil || !strings.HasPrefix(id, askPrefix) {
		return false
	}
	rep := fastReply{result: m.Result}
	if len(m.Error) > 0 {
		rep.err = &jsonrpc.Error{}
		if json.Unmarshal(m.Error, rep.err) != nil {
			rep.err = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mcpproxy: the client answered with an error that is not a JSON-RPC error"}
		}
	}
	fs.mu.Lock()
	ch := fs.asked[id]
	fs.mu.Unlock()
	if ch != nil {
		select {
		case ch <- rep:
		default: // a second answer to the same request
		}
	}
	return true
}

// notifyProgress sends a call's progress to its client: on the call's own
// stream when it is answered in front of the SDK, through the SDK's
// session (on the stream of the request ctx serves) otherwise.
func notifyProgress(ctx context.Context, ss *mcp.ServerSession, p *mcp.ProgressNotificationParams) {
	if cs := callStreamOf(ctx); cs != nil {
		cs.notify("notifications/progress", p)
		return
	}
	ss.NotifyProgress(ctx, p)
}
