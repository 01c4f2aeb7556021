package mcpserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sessionPeer is a downstream client session as the relay sees it while one
// of its calls is in flight: the upstream's requests during that call go to
// this session, and only for what its client declared at initialize: a
// client that did not declare sampling or elicitation is never asked for
// them.
//
// A question ends with EndCalls too (closing), whatever the upstream that
// asked it does: an upstream may leave its question open when the call
// that caused it is cancelled (server-everything does), and closing the
// client's session at shutdown would wait for the answer.
type sessionPeer struct {
	ss      *mcp.ServerSession
	closing context.Context
}

// clientCaps returns what the session's client declared, or nil.
func clientCaps(ss *mcp.ServerSession) *mcp.ClientCapabilities {
	if ss == nil {
		return nil
	}
	if p := ss.InitializeParams(); p != nil {
		return p.Capabilities
	}
	return nil
}

// errClientCannot is the error an upstream gets when the client whose call
// caused its request did not declare the capability. Its code is the one
// the go-sdk's client answers with when it has no handler for the request
// ("client does not support CreateMessage"), so that every path to the
// upstream sends the same: a plain error would go out with code 0 from the
// SDK's client session and -32603 from the lean HTTP path. (-32601, method
// not found, would lose the message: the SDK's connection replaces it.)
func errClientCannot(what string) error {
	return &jsonrpc.Error{Code: codeClientCannot, Message: fmt.Sprintf("mcpproxy: the client that made this call does not support %s", what)}
}

// codeClientCannot is the go-sdk's codeUnsupportedMethod (unexported).
const codeClientCannot = -31001

func (p sessionPeer) CreateMessage(ctx context.Context, params *mcp.CreateMessageWithToolsParams) (*mcp.CreateMessageWithToolsResult, error) {
	if c := clientCaps(p.ss); c == nil || c.Sampling == nil {
		return nil, errClientCannot("sampling")
	}
	ctx, done := endWith(ctx, p.closing)
	defer done()
	if cs := callStreamOf(ctx); cs != nil {
		if params == nil || params.Messages == nil { // as the SDK sends it: never "messages": null
			cp := mcp.CreateMessageWithToolsParams{}
			if params != nil {
				cp = *params
			}
			cp.Messages = []*mcp.SamplingMessageV2{}
			params = &cp
		}
		res := &mcp.CreateMessageWithToolsResult{}
		if err := cs.ask(ctx, "sampling/createMessage", params, res); err != nil {
			return nil, err
		}
		return res, nil
	}
	return p.ss.CreateMessageWithTools(ctx, params)
}

func (p sessionPeer) Elicit(ctx context.Context, params *mcp.ElicitParams) (*mcp.ElicitResult, error) {
	if c := clientCaps(p.ss); c == nil || c.Elicitation == nil {
		return nil, errClientCannot("elicitation")
	}
	ctx, done := endWith(ctx, p.closing)
	defer done()
	if cs := callStreamOf(ctx); cs != nil {
		// Passed on as the upstream sent it, with its mode filled in;
		// the upstream checks the answer against its own schema, as it
		// would without the proxy. What the client can do is checked as
		// the SDK checks it.
		if params == nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "mcpproxy: elicitation without params"}
		}
		mode := params.Mode
		if mode == "" && (params.URL != "" || params.ElicitationID != "") {
			mode = "url"
		}
		if ec := clientCaps(p.ss).Elicitation; mode == "url" && ec.URL == nil || mode != "url" && ec.Form == nil && ec.URL != nil {
			return nil, errClientCannot(cmp.Or(mode, "form") + " elicitation")
		}
		if params.Mode == "" {
			// As the SDK sends it: clients of 2025-11-25 and later
			// (the TypeScript SDK's) refuse a request without a mode.
			cp := *params
			cp.Mode = cmp.Or(mode, "form")
			params = &cp
		}
		res := &mcp.ElicitResult{}
		if err := cs.ask(ctx, "elicitation/create", params, res); err != nil {
			return nil, err
		}
		return res, nil
	}
	return p.ss.Elicit(ctx, params)
}

// ListRoots asks the client for its roots. The SDK cannot tell a client
// that declared "roots": {} from one that declared nothing, so the client
// is asked either way, and one that does not answer the method has none.
func (p sessionPeer) ListRoots(ctx context.Context, params *mcp.ListRootsParams) (*mcp.ListRootsResult, error) {
	ctx, done := endWith(ctx, p.closing)
	defer done()
	var res *mcp.ListRootsResult
	var err error
	if cs := callStreamOf(ctx); cs != nil {
		if params == nil {
			params = &mcp.ListRootsParams{}
		}
		res = &mcp.ListRootsResult{}
		if err = cs.ask(ctx, "roots/list", params, res); err != nil {
			res = nil
		}
	} else {
		res, err = p.ss.ListRoots(ctx, params)
	}
	var werr *jsonrpc.Error
	if errors.As(err, &werr) && werr.Code == jsonrpc.CodeMethodNotFound {
		return &mcp.ListRootsResult{Roots: []*mcp.Root{}}, nil
	}
	return res, err
}

// Notify drops notifications: on /mcp, /mcp/all and /sse a session gets
// the proxy's own, not an upstream's.
func (sessionPeer) Notify(context.Context, string, mcp.Params) {}

// asCaller binds the calling client's session to ctx for the relay (see
// relay.Hub) and records the call as in flight on server; call end when the
// upstream has answered.
func (s *Server) asCaller(ctx context.Context, server string, sess mcp.Session) (context.Context, func()) {
	ss, _ := sess.(*mcp.ServerSession)
	if ss == nil || s.opts.Hub == nil {
		return ctx, func() {}
	}
	return s.callerFor(ctx, server, sessionPeer{ss, s.closing})
}

func (s *Server) callerFor(ctx context.Context, server string, p relay.Peer) (context.Context, func()) {
	ctx = relay.WithCaller(ctx, p)
	return ctx, s.opts.Hub.BeginCall(ctx, server, p)
}
