package mcpserver

import (
	"context"
	"encoding/json"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// callRecord is what the activity log learns about one tool call.
type callRecord struct {
	endpoint string
	client   activity.Client
	server   string
	tool     string
	args     json.RawMessage
	start    time.Time
	res      *mcp.CallToolResult
	status   string
	err      error // a protocol error, when there is no result
	// sensitive is what detection found in the arguments and result.
	sensitive *activity.Sensitive
	// intent is what the agent declared with a call variant, or nil.
	intent *callIntent
}

// recordCall hands a call to the activity log. It never waits: the log
// queues the record and writes it in the background.
func (s *Server) recordCall(c callRecord) {
	d := time.Since(c.start)
	if s.opts.Metrics != nil {
		s.opts.Metrics.ToolCall(c.server, c.tool, c.status, d)
	}
	if s.opts.Activity == nil {
		return
	}
	r := activity.Record{
		Time:       c.start.UTC(),
		Kind:       activity.KindToolCall,
		Endpoint:   c.endpoint,
		Client:     c.client,
		Server:     c.server,
		Tool:       c.tool,
		Status:     c.status,
		DurationMS: float64(d.Microseconds()) / 1000,
		Sensitive:  c.sensitive,
	}
	if c.intent != nil {
		r.Intent = &activity.Intent{Variant: c.intent.variant, Reason: c.intent.reason}
	}
	if len(c.args) > 0 {
		// Record takes ownership of Arguments; the caller's bytes are
		// still being sent upstream.
		r.Arguments = append(json.RawMessage(nil), c.args...)
	}
	if c.res != nil {
		r.ResultSize = resultSize(c.res)
		if c.res.IsError {
			r.Error = firstText(c.res)
		}
	}
	if c.err != nil {
		r.Error = mcpproxy.ErrorMessage(c.err)
	}
	s.opts.Activity.Record(r)
}

// recordManagement records an action an agent took through
// upstream_servers.
func (s *Server) recordManagement(ctx context.Context, req *mcp.CallToolRequest, action, server string, args json.RawMessage, start time.Time, res *mcp.CallToolResult) {
	if s.opts.Activity == nil {
		return
	}
	r := activity.Record{
		Time: start.UTC(), Kind: activity.KindManagement, Endpoint: "/mcp", Client: clientOf(ctx, req.Session),
		Server: server, Action: action, Status: activity.StatusOK,
		DurationMS: float64(time.Since(start).Microseconds()) / 1000,
	}
	if len(args) > 0 {
		r.Arguments = append(json.RawMessage(nil), args...)
	}
	if res.IsError {
		r.Status, r.Error = activity.StatusError, firstText(res)
	}
	s.opts.Activity.Record(r)
}

func endpointFor(sep string) string {
	if sep == directSep {
		return "/mcp/all"
	}
	return "/mcp"
}

// clientOf names the downstream client of a session: the agent token it
// came with, its session id and what it said about itself at initialize.
func clientOf(ctx context.Context, sess mcp.Session) activity.Client {
	var c activity.Client
	if tok := callerToken(ctx); tok != nil {
		c.Token = tok.Name
	}
	ss, ok := sess.(*mcp.ServerSession)
	if !ok || ss == nil {
		return c
	}
	c.SessionID = ss.ID()
	if p := ss.InitializeParams(); p != nil && p.ClientInfo != nil {
		c.Name, c.Version = p.ClientInfo.Name, p.ClientInfo.Version
	}
	return c
}

// refusalStatus is the record status of a call the proxy refused before
// reaching the upstream: blocked by quarantine or approval, else an error
// (unknown server or tool, not ready).
func refusalStatus(err error) string {
	if mcpproxy.ErrorCode(err) == mcpproxy.EFORBIDDEN {
		return activity.StatusBlocked
	}
	return activity.StatusError
}

// resultSize is the size in bytes of a result's content as the client
// receives it, without encoding it again for large text.
func resultSize(res *mcp.CallToolResult) int {
	n := 0
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			n += len(c.Text)
		case *mcp.ImageContent:
			n += len(c.Data)
		case *mcp.AudioContent:
			n += len(c.Data)
		default:
			if b, err := json.Marshal(c); err == nil {
				n += len(b)
			}
		}
	}
	if res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			n += len(b)
		}
	}
	return n
}

// maxRecordedError bounds the error text of an activity record: a tool
// error result passed through whole (on /mcp/server/{name}) may be as
// large as any result, and the record would keep all of it.
const maxRecordedError = 2048

// firstText returns the first text of a result, cut to maxRecordedError
// bytes on a character boundary.
func firstText(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			if len(t.Text) <= maxRecordedError {
				return t.Text
			}
			return mcpproxy.CutBytes(t.Text, maxRecordedError) + "…"
		}
	}
	return ""
}
