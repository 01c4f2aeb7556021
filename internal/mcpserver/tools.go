package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/index"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
	"github.com/mcpproxy/mcpproxy/internal/readiness"
	"github.com/mcpproxy/mcpproxy/internal/secret"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/token"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const maxSearchLimit = 100

// retrieveToolsTool is retrieve_tools as registered; policyMiddleware gives
// it the description of the configured tool_response_mode.
var retrieveToolsTool = &mcp.Tool{
	Name:        "retrieve_tools",
	Description: retrieveToolsDescription(config.ResponseFull),
	InputSchema: json.RawMessage(`{"type":"object","properties":{
			"query":{"type":"string","description":"What you want to do, in a few words, e.g. \"read a file\" or \"create github issue\""},
			"limit":{"type":"integer","minimum":1,"maximum":100,"description":"Maximum number of tools to return (default from the proxy config)"}},
			"required":["query"]}`),
	Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
}

func (s *Server) addBuiltinTools() {
	s.smart.AddTool(retrieveToolsTool, s.retrieveTools)
	s.smart.AddTool(&mcp.Tool{
		Name: "call_tool",
		Description: "Call a tool of an upstream MCP server by its id (\"server:tool\", as returned by retrieve_tools). " +
			"Pass the tool's arguments as the object args (or as a JSON string in args_json).",
		InputSchema: json.RawMessage(`{"type":"object","properties":{
			"name":{"type":"string","description":"Tool id: server:tool"},
			"args":{"type":"object","description":"Arguments matching the tool's input schema"},
			"args_json":{"type":"string","description":"Arguments as a JSON object string, if you cannot pass an object"}},
			"required":["name"]}`),
	}, s.callToolBuiltin)
	s.smart.AddTool(&mcp.Tool{
		Name: "upstream_servers",
		Description: "List and manage the upstream MCP servers behind this proxy. operation: list | add | remove | enable | disable | restart | update. " +
			"add and update take the fields of a config entry (" + strings.Join(config.AgentFields, ", ") + "). " +
			"Servers added here are quarantined until a person approves them.",
		InputSchema: upstreamServersSchema,
	}, s.upstreamServers)
	s.smart.AddTool(&mcp.Tool{
		Name: "quarantine_security",
		Description: "See which upstream servers and tools wait for a person's approval, and why: operation list shows every quarantined server " +
			"and every new or changed tool; operation inspect (with name) shows one server's tools with their approval state, " +
			"suspicious-content warnings and, for changed tools, a diff from the approved definition. Read-only: only a person can approve, " +
			"in the mcpproxy UI, CLI or REST API.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{
			"operation":{"type":"string","enum":["list","inspect"]},
			"name":{"type":"string","description":"Server name (inspect)"}},
			"required":["operation"]}`),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, s.quarantineSecurity)
}

func (s *Server) quarantineSecurity(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Operation string `json:"operation"`
		Name      string `json:"name"`
	}
	if err := decodeArgs(req.Params.Arguments, &in); err != nil {
		return errorResult("%v", err), nil
	}
	snap := s.b.View().Load()
	tok := callerToken(ctx)
	switch in.Operation {
	case "list":
		list := pinning.WaitingList(snap, s.opts.Pins, "")
		if tok != nil {
			list = slices.DeleteFunc(list, func(w pinning.Waiting) bool { return !tok.AllowsServer(w.Server) })
		}
		res := map[string]any{"waiting": list, "total": len(list)}
		if len(list) == 0 {
			res["message"] = "Nothing waits for approval."
		} else {
			res["message"] = "A person must approve these in the mcpproxy UI, CLI (mcpproxy quarantine approve) or REST API before they can be used."
		}
		return jsonResult(res), nil
	case "inspect":
		if in.Name == "" {
			return errorResult("argument name: required for operation inspect"), nil
		}
		if tok != nil && !tok.AllowsServer(in.Name) {
			return errorResult("%s", mcpproxy.ErrorMessage(scopeError(tok, in.Name))), nil
		}
		if snap.Get(in.Name) == nil {
			return errorResult("unknown server %q%s", in.Name, closestHint(in.Name, snap.Names, "")), nil
		}
		return jsonResult(pinning.WaitingList(snap, s.opts.Pins, in.Name)[0]), nil
	case "":
		return errorResult("argument operation: required (list or inspect)"), nil
	}
	return errorResult("argument operation: unknown %q; want list or inspect", in.Operation), nil
}

// errorResult is a tool result that tells the model what went wrong and
// what to do; MCP tool errors are results, not protocol errors.
func errorResult(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

func jsonResult(v any) *mcp.CallToolResult {
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return errorResult("encoding result: %v", err)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.TrimSuffix(buf.String(), "\n")}}}
}

// decodeArgs unmarshals tool arguments, naming the argument that is wrong.
func decodeArgs(raw json.RawMessage, dst any) error {
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("argument %s: want %s, got %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("arguments: %v", err)
	}
	return nil
}

// FoundTool is one retrieve_tools result (and REST search hit).
type FoundTool = apiv1.FoundTool

// Search runs a tool search as retrieve_tools does; limit <= 0 uses the
// configured default.
func (s *Server) Search(ctx context.Context, query string, limit int) ([]FoundTool, error) {
	return s.search(ctx, query, limit, nil)
}

// search is Search over the tools tok allows (all when tok is nil).
func (s *Server) search(ctx context.Context, query string, limit int, tok *token.Token) ([]FoundTool, error) {
	hits, err := s.searchHits(ctx, query, limit, tok)
	if err != nil {
		return nil, err
	}
	return foundTools(hits), nil
}

// searchHits is search's hits as the index returns them.
func (s *Server) searchHits(ctx context.Context, query string, limit int, tok *token.Token) ([]index.Hit, error) {
	if limit <= 0 {
		limit = s.b.Config().ToolsLimit
	}
	if limit > maxSearchLimit {
		return nil, mcpproxy.Errorf(mcpproxy.EINVALID, "limit: at most %d, got %d", maxSearchLimit, limit)
	}
	var keep func(string, *mcpproxy.Tool) bool
	if tok != nil {
		keep = func(server string, t *mcpproxy.Tool) bool { return tok.AllowsTool(server, t.Annotations) }
	}
	return s.opts.Index.SearchKeep(ctx, query, limit, keep)
}

func foundTools(hits []index.Hit) []FoundTool {
	out := make([]FoundTool, 0, len(hits))
	for _, h := range hits {
		out = append(out, FoundTool{
			ID: h.Server + ":" + h.Tool.Name, Server: h.Server, Name: h.Tool.Name,
			Description: h.Tool.Description, InputSchema: h.Tool.InputSchema,
			Annotations: h.Tool.Annotations, Score: h.Score, CallWith: effectOf(h.Tool.Annotations).callWith(),
		})
	}
	return out
}

func (s *Server) retrieveTools(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Query string `json:"query"`
		Limit int    `json:"limit"`
	}
	if err := decodeArgs(req.Params.Arguments, &in); err != nil {
		return errorResult("%v", err), nil
	}
	if in.Limit < 0 {
		return errorResult("argument limit: must be between 1 and %d, got %d", maxSearchLimit, in.Limit), nil
	}
	hits, err := s.searchHits(ctx, in.Query, in.Limit, callerToken(ctx))
	if err != nil {
		return errorResult("%s", mcpproxy.ErrorMessage(err)), nil
	}
	text, err := retrieveAnswer(hits, s.b.Config().ToolResponseMode == config.ResponseCompact)
	if err != nil {
		return errorResult("encoding result: %v", err), nil
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
}

// retrieveAnswer is the text of retrieve_tools' answer for hits.
func retrieveAnswer(hits []index.Hit, compact bool) (string, error) {
	msg := `Call one with its call_with variant: {"name": "<id>", "args": {...}, "intent": {"reason": "..."}}`
	if compact {
		msg = `Call describe_tool with the ids you mean to use (up to 5) for their input schemas, then call each with its call_with variant: {"name": "<id>", "args": {...}, "intent": {"reason": "..."}}`
	}
	if len(hits) == 0 {
		msg = "No tools matched. Try other words, or upstream_servers list to see which servers are connected."
	}
	size := 256
	for i := range hits {
		t := &hits[i].Tool
		size += 160 + 2*len(hits[i].Server) + 2*len(t.Name) + len(t.Description) + len(t.Annotations)
		if !compact {
			size += len(t.InputSchema)
		}
	}
	if b, ok := appendAnswer(make([]byte, 0, size), hits, compact, msg); ok {
		return string(b), nil
	}
	found := foundTools(hits)
	var tools any = found
	if compact {
		c := make([]CompactTool, len(found))
		for i, f := range found {
			c[i] = CompactTool{ID: f.ID, Description: firstSentence(f.Description), Score: f.Score, Annotations: f.Annotations, CallWith: f.CallWith}
		}
		tools = c
	}
	b, err := answerJSON(tools, len(found), msg)
	return string(b), err
}

func (s *Server) callToolBuiltin(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return s.callToolAs(ctx, req, ""), nil
}

// callToolAs answers call_tool (variant "") and its variants.
func (s *Server) callToolAs(ctx context.Context, req *mcp.CallToolRequest, variant string) *mcp.CallToolResult {
	var in struct {
		Name     string          `json:"name"`
		Args     json.RawMessage `json:"args"`
		ArgsJSON string          `json:"args_json"`
		Intent   json.RawMessage `json:"intent"`
	}
	if err := decodeArgs(req.Params.Arguments, &in); err != nil {
		return errorResult("%v", err)
	}
	server, tool, ok := splitID(in.Name, ":")
	if !ok {
		return errorResult("argument name: want a tool id \"server:tool\" as returned by retrieve_tools, got %q", in.Name)
	}
	var intent *callIntent
	if variant != "" {
		var err error
		if intent, err = decodeIntent(in.Intent, variant); err != nil {
			return errorResult("%v", err)
		}
	}
	args := in.Args
	if in.ArgsJSON != "" {
		if len(args) > 0 && string(args) != "null" {
			return errorResult("arguments: pass either args or args_json, not both")
		}
		args = json.RawMessage(in.ArgsJSON)
	}
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(args, &obj); err != nil {
		return errorResult("argument args: want a JSON object with the tool's arguments (%v)", err)
	}
	res, _ := s.call(ctx, req, server, tool, args, ":", intent)
	return res
}

// call forwards one tool call to its upstream through the session the actor
// published. It waits only on that upstream. The result, or on /mcp/all
// (sep directSep) the error, is the answer to the client's request (see
// callFailed). intent is what the agent declared (call variants), or nil.
func (s *Server) call(ctx context.Context, req *mcp.CallToolRequest, server, tool string, args json.RawMessage, sep string, intent *callIntent) (*mcp.CallToolResult, error) {
	start := time.Now()
	mode := s.sensitiveMode()
	argKinds := scanArgs(args)
	res, status, resKinds, err := s.doCall(ctx, req, server, tool, args, sep, intent, mode, argKinds)
	var sess mcp.Session
	if req != nil {
		sess = req.Session
	}
	s.recordCall(callRecord{
		endpoint: endpointFor(sep), client: clientOf(ctx, sess), server: server, tool: tool,
		args: args, start: start, res: res, status: status, err: err, sensitive: sensitiveRecord(mode, argKinds, resKinds), intent: intent,
	})
	return res, err
}

// doCall is call without the activity record; it returns the result or
// error, the record's status and the kinds of sensitive data found in the
// result. mode is the sensitive_data setting and argKinds what was found in
// args.
func (s *Server) doCall(ctx context.Context, req *mcp.CallToolRequest, server, tool string, args json.RawMessage, sep string, intent *callIntent, mode string, argKinds []secret.Kind) (*mcp.CallToolResult, string, []secret.Kind, error) {
	snap := s.b.View().Load()
	tok := callerToken(ctx)
	// A token's scope is checked first, so that a server it may not use
	// reads the same whether it exists or not.
	err := allowCall(tok, server, nil, tool)
	var srv *stateview.Server
	if err == nil {
		srv, err = serverReady(snap, server)
	}
	if err == nil {
		err = toolUsable(srv, tool, sep)
	}
	if err == nil {
		err = allowCall(tok, server, srv, tool)
	}
	if err == nil {
		// Whichever way the call came in (in front of the SDK or through
		// it), this is where its declared intent is checked.
		err = checkIntent(s.b.Config(), intent, sep == ":", srv, tool, sep)
	}
	if err != nil {
		return errorResult("%s", mcpproxy.ErrorMessage(err)), refusalStatus(err), nil, nil
	}
	if len(argKinds) > 0 && mode == config.SensitiveBlock {
		return refuseArgs(server, sep, tool, argKinds), activity.StatusBlocked, nil, nil
	}
	timeout := s.callTimeout(server)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	params := &mcp.CallToolParams{Name: tool, Arguments: args}
	if req != nil && req.Params != nil {
		if tok := req.Params.GetProgressToken(); tok != nil && s.opts.Progress != nil && req.Session != nil {
			// Progress flows back on the caller's own request context; a
			// background context would find the stream already closed.
			upTok, release := s.opts.Progress.Register(tok, func(_ context.Context, p *mcp.ProgressNotificationParams) {
				notifyProgress(ctx, req.Session, p)
			})
			defer release()
			params.Meta = mcp.Meta{}
			for k, v := range req.Params.Meta {
				params.Meta[k] = v
			}
			params.Meta["progressToken"] = upTok
		}
	}
	if req != nil {
		var end func()
		cctx, end = s.asCaller(cctx, server, req.Session)
		defer end()
	}
	start := time.Now()
	res, err := srv.Caller.CallTool(cctx, params)
	if s.opts.Store != nil {
		s.opts.Store.RecordCall(server+":"+tool, time.Since(start), err != nil || res.IsError)
	}
	if err != nil {
		res, status, err := callFailed(cctx, err, server, sep, tool, timeout, sep == directSep)
		return res, status, nil, err
	}
	s.log.Debug("tool call", "server", server, "tool", tool, "duration", time.Since(start), "is_error", res.IsError)
	status := activity.StatusOK
	if res.IsError {
		status = activity.StatusToolError
	}
	// Before the result is truncated and cached, so that read_cache serves
	// what the mode lets through.
	res, resKinds := guardResult(mode, res, server, sep, tool)
	if len(resKinds) > 0 && mode == config.SensitiveBlock {
		status = activity.StatusBlocked
	}
	structured := false
	if sep == directSep {
		t := findTool(srv, tool)
		structured = t != nil && len(outputSchema(t.OutputSchema)) > 0
	}
	return s.limitResult(server+":"+tool, res, structured), status, resKinds, nil
}

// callFailed is the answer to a tool call that brought back no result
// (err), by why it failed, and the activity record's status. ctx is the
// call's context, with its timeout.
//
// forward is true on the endpoints that forward tools/call as it is
// (/mcp/all and the pass-through): an upstream's JSON-RPC error reaches the
// client unchanged (code, message and data), as the error of its own
// request, and any other failure is a JSON-RPC error too. On /mcp the call
// is the proxy's own call_tool, and both are a tool error that says the
// same. A call the client cancelled gets no response at all (holdBack; the
// result here is for the record), and one past its timeout or ended by the
// daemon's shutdown a tool error of the proxy's, on every endpoint.
func callFailed(ctx context.Context, err error, server, sep, tool string, timeout time.Duration, forward bool) (*mcp.CallToolResult, string, error) {
	switch {
	case cancelledByClient(ctx):
		return errorResult("call to %s%s%s cancelled by the client", server, sep, tool), activity.StatusCancelled, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return errorResult("call to %s%s%s timed out after %s; the server may be hung — try again, or restart it with upstream_servers", server, sep, tool, timeout), activity.StatusTimeout, nil
	case ctx.Err() != nil:
		return errorResult("call to %s%s%s ended: %v", server, sep, tool, context.Cause(ctx)), activity.StatusCancelled, nil
	}
	var werr *jsonrpc.Error
	if errors.As(err, &werr) {
		if forward {
			return nil, activity.StatusError, werr
		}
		return errorResult("upstream %q returned an error for %s: %s (JSON-RPC error %d)", server, tool, werr.Message, werr.Code), activity.StatusError, nil
	}
	msg := fmt.Sprintf("upstream %q returned an error for %s: %v", server, tool, err)
	if forward {
		return nil, activity.StatusError, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: msg}
	}
	return errorResult("%s", msg), activity.StatusError, nil
}

// toolUsable says why a tool of a ready server cannot be called, or nil.
func toolUsable(srv *stateview.Server, tool, sep string) error {
	for i := range srv.Tools {
		t := &srv.Tools[i]
		if t.Name != tool {
			continue
		}
		switch t.Approval {
		case mcpproxy.ApprovalApproved:
			return nil
		case mcpproxy.ApprovalBlocked:
			return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "tool %s%s%s is blocked by a person; it cannot be called", srv.Name, sep, tool)
		case mcpproxy.ApprovalChanged:
			return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "tool %s%s%s changed since it was approved and is blocked until a person approves the new definition (in the mcpproxy UI, CLI or REST API)", srv.Name, sep, tool)
		default:
			return mcpproxy.Errorf(mcpproxy.EFORBIDDEN, "tool %s%s%s is new and waits for a person's approval (in the mcpproxy UI, CLI or REST API)", srv.Name, sep, tool)
		}
	}
	names := make([]string, 0, len(srv.Tools))
	for i := range srv.Tools {
		if srv.Tools[i].Usable() {
			names = append(names, srv.Tools[i].Name)
		}
	}
	return mcpproxy.Errorf(mcpproxy.ENOTFOUND, "unknown tool %q on server %q%s; use retrieve_tools to search", tool, srv.Name, closestHint(tool, names, srv.Name+sep))
}

// callTimeout is the server's call_timeout, or the global call_tool_timeout.
func (s *Server) callTimeout(server string) time.Duration {
	cfg := s.b.Config()
	if spec, ok := cfg.Server(server); ok && spec.CallTimeout > 0 {
		return spec.CallTimeout.D()
	}
	return cfg.CallToolTimeout.D()
}

// closestHint suggests up to three candidates close to want, each shown
// with prefix.
func closestHint(want string, candidates []string, prefix string) string {
	best := readiness.Closest(want, candidates, 3)
	if len(best) == 0 {
		return ""
	}
	names := make([]string, len(best))
	for i, b := range best {
		names[i] = quote(prefix + b)
	}
	return "; did you mean " + strings.Join(names, ", ") + "?"
}

// serverOps are upstream_servers' operations.
var serverOps = []string{"list", "add", "remove", "enable", "disable", "restart", "update"}

// upstreamServersSchema is upstream_servers' input schema: the operation,
// and the fields of a server entry an agent may set (config.AgentFields),
// as the schema of mcpproxy.ServerSpec describes them.
var upstreamServersSchema = func() *jsonschema.Schema {
	spec, err := jsonschema.For[mcpproxy.ServerSpec](nil)
	if err != nil {
		panic(err) // a fixed type: a test sees it
	}
	s := &jsonschema.Schema{Type: "object", Required: []string{"operation"}, Properties: map[string]*jsonschema.Schema{
		"operation": {Type: "string", Enum: anys(serverOps)},
	}, PropertyOrder: []string{"operation"}}
	for _, f := range config.AgentFields {
		s.Properties[f] = spec.Properties[f]
		s.PropertyOrder = append(s.PropertyOrder, f)
	}
	s.Properties["name"].Description = "Server name (all operations but list)"
	s.Properties["protocol"].Enum = anys(mcpproxy.Protocols)
	return s
}()

func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// agentInput reads upstream_servers' arguments as a server entry of the
// fields an agent may set (config.AgentFields); other keys are ignored and
// named. An empty string counts as absent: models fill optional arguments
// with "".
func agentInput(raw json.RawMessage) (*config.ServerInput, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("arguments: %v", err)
	}
	for k, v := range obj {
		if string(v) == `""` {
			delete(obj, k)
		}
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("arguments: %v", err)
	}
	return config.DecodeServerInput(data, config.InputOptions{
		Field: "arguments", Allowed: config.AgentFields, Lenient: true, Extra: []string{"operation"},
	})
}

// overlay returns cur with the connection fields the agent passed. A new
// command makes it a stdio server (its URL and headers go); a new URL makes
// it an HTTP server (its command, args, env and working_dir go).
//
// The result is the agent's definition, which runs only once a person
// approves it, and it must not take secrets along that the agent did not
// write: env and header entries it keeps from cur that carry a secret (a
// ${env:…} placeholder, or a literal that looks like one) are dropped and
// named in removed. A kept url or args that carry one cannot be split off,
// so such an update is refused.
func overlay(cur mcpproxy.ServerSpec, in *config.ServerInput) (next mcpproxy.ServerSpec, removed []string, err error) {
	next = cur
	switch {
	case in.Has("command") && !in.Has("url"):
		next.URL, next.Headers = "", nil
		if !in.Has("protocol") {
			next.Protocol = ""
		}
	case in.Has("url") && !in.Has("command"):
		next.Command, next.Args, next.Env, next.WorkingDir = "", nil, nil, ""
		if !in.Has("protocol") {
			next.Protocol = ""
		}
	}
	in.Apply(&next)
	if next.SameConnection(&cur) {
		return next, nil, nil
	}
	if !in.Has("url") && next.URL != "" && pinning.CarriesSecret("url", next.URL) {
		return cur, nil, fmt.Errorf("its url carries a secret, which an agent cannot take to a changed server; pass a url without it (a person can add it back)")
	}
	if !in.Has("args") {
		for i, arg := range next.Args {
			if pinning.CarriesSecret("", arg) {
				return cur, nil, fmt.Errorf("args[%d] carries a secret, which an agent cannot take to a changed server; pass args without it (a person can add it back)", i)
			}
		}
	}
	strip := func(field string, m map[string]string, passed bool) map[string]string {
		if passed || len(m) == 0 {
			return m
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			if pinning.CarriesSecret(k, v) {
				removed = append(removed, field+"."+k)
				continue
			}
			out[k] = v
		}
		return out
	}
	next.Env = strip("env", next.Env, in.Has("env"))
	next.Headers = strip("headers", next.Headers, in.Has("headers"))
	// An OAuth client's secret goes to the token endpoint of whatever
	// authorization server the URL names: it does not move with it.
	if next.OAuth != nil && next.OAuth.ClientSecret != "" && next.URL != cur.URL {
		o := *next.OAuth
		o.ClientSecret = ""
		next.OAuth = &o
		removed = append(removed, "oauth.client_secret")
	}
	slices.Sort(removed)
	return next, removed, nil
}

func (s *Server) upstreamServers(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	start := time.Now()
	res, err := s.manageServers(ctx, req)
	var in struct {
		Operation string `json:"operation"`
		Name      string `json:"name"`
	}
	_ = json.Unmarshal(req.Params.Arguments, &in)
	if err == nil && in.Operation != "list" && in.Operation != "" {
		s.recordManagement(ctx, req, in.Operation, in.Name, req.Params.Arguments, start, res)
	}
	return res, err
}

func (s *Server) manageServers(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Operation string `json:"operation"`
		Name      string `json:"name"`
	}
	if err := decodeArgs(req.Params.Arguments, &in); err != nil {
		return errorResult("%v", err), nil
	}
	cfg := s.b.Config()
	// An unknown operation is not a policy matter; the switch below says
	// what the operations are.
	if err := cfg.Allow(in.Operation); mcpproxy.ErrorCode(err) == mcpproxy.EFORBIDDEN {
		msg := mcpproxy.ErrorMessage(err)
		if cfg.ReadOnly && !cfg.DisableManagement {
			msg += ": only operation list is allowed"
		}
		return errorResult("%s", msg), nil
	}
	tok := callerToken(ctx)
	if tok != nil {
		if !tok.Manage {
			return errorResult("agent token %q may not use upstream_servers; a person can create a token with --manage", tok.Name), nil
		}
		if tok.ReadOnly && in.Operation != "list" && in.Operation != "" {
			return errorResult("agent token %q is read-only: only operation list is allowed", tok.Name), nil
		}
	}
	needName := func() *mcp.CallToolResult {
		if in.Name == "" {
			return errorResult("argument name: required for operation %s", in.Operation)
		}
		if tok != nil && !tok.AllowsServer(in.Name) {
			return errorResult("%s", mcpproxy.ErrorMessage(scopeError(tok, in.Name)))
		}
		return nil
	}
	switch in.Operation {
	case "list":
		snap := s.b.View().Load()
		list := make([]json.RawMessage, 0, len(snap.Names))
		for _, n := range snap.Names {
			if tok == nil || tok.AllowsServer(n) {
				list = append(list, snap.Get(n).SummaryJSON())
			}
		}
		return jsonResult(map[string]any{"servers": list, "total": len(list)}), nil
	case "enable", "disable":
		if r := needName(); r != nil {
			return r, nil
		}
		if err := s.b.SetEnabled(ctx, in.Name, in.Operation == "enable"); err != nil {
			return errorResult("%s %s: %s", in.Operation, in.Name, mcpproxy.ErrorMessage(err)), nil
		}
		return jsonResult(map[string]any{"server": in.Name, "enabled": in.Operation == "enable"}), nil
	case "restart":
		if r := needName(); r != nil {
			return r, nil
		}
		if err := s.b.Restart(in.Name); err != nil {
			return errorResult("restart %s: %s", in.Name, mcpproxy.ErrorMessage(err)), nil
		}
		return jsonResult(map[string]any{"server": in.Name, "restarting": true}), nil
	case "remove":
		if r := needName(); r != nil {
			return r, nil
		}
		if err := s.b.Edit(ctx, func(d *config.Document) error { return d.RemoveServer(in.Name) }); err != nil {
			return errorResult("remove %s: %s", in.Name, mcpproxy.ErrorMessage(err)), nil
		}
		return jsonResult(map[string]any{"server": in.Name, "removed": true}), nil
	case "add", "update":
		if r := needName(); r != nil {
			return r, nil
		}
		entry, err := agentInput(req.Params.Arguments)
		if err != nil {
			return errorResult("%s", mcpproxy.ErrorMessage(mcpproxy.Flatten(err))), nil
		}
		spec := mcpproxy.ServerSpec{Enabled: true}
		entry.Apply(&spec)
		var removed []string
		if in.Operation == "update" {
			// Fields the agent leaves out keep their values (timeouts
			// included, which the tool's arguments do not carry).
			cur, ok := cfg.Server(in.Name)
			if !ok {
				return errorResult("update %s: server %q not found; use operation add", in.Name, in.Name), nil
			}
			if slices.Equal(entry.Set(), []string{"name"}) {
				return errorResult("update %s: pass at least one field to change (%s)", in.Name, strings.Join(config.AgentFields[1:], ", ")), nil
			}
			var refuse error
			spec, removed, refuse = overlay(*cur, entry)
			if refuse != nil {
				return errorResult("update %s: %v", in.Name, refuse), nil
			}
		}
		if err := config.ValidateServer(&spec, "arguments"); err != nil {
			return errorResult("%s", mcpproxy.ErrorMessage(mcpproxy.Flatten(err))), nil
		}
		var changed bool
		if in.Operation == "add" {
			// A server an agent adds waits for a person's approval.
			spec.Quarantined = true
			err = s.b.Edit(ctx, func(d *config.Document) error { return d.AddServer(spec) })
		} else {
			// A server whose connection an agent changes waits for a
			// person's approval too, or update would run any command.
			err = s.b.Edit(ctx, func(d *config.Document) error {
				before := d.Bytes()
				if err := d.UpdateServer(spec); err != nil {
					return err
				}
				if slices.Contains(removed, "oauth.client_secret") {
					if err := d.SetServerField(spec.Name, "oauth", spec.OAuth); err != nil {
						return err
					}
				}
				if bytes.Equal(before, d.Bytes()) {
					return nil
				}
				changed = true
				return d.SetServerField(spec.Name, "quarantined", true)
			})
		}
		if err != nil {
			return errorResult("%s %s: %s", in.Operation, in.Name, mcpproxy.ErrorMessage(err)), nil
		}
		res := map[string]any{"server": in.Name, "updated": changed}
		if changed {
			res["quarantined"] = true
			res["message"] = "Updated and quarantined: the server is stopped until a person approves the changed server."
			if len(removed) > 0 {
				res["removed_secrets"] = removed
				res["message"] = res["message"].(string) + " Secrets of the approved server were not carried over to the changed one (" +
					strings.Join(removed, ", ") + "); a person can add them back."
			}
		}
		if in.Operation == "add" {
			res = map[string]any{"server": in.Name, "added": true, "quarantined": true,
				"message": "Added and quarantined: it is not started until a person approves it in the mcpproxy UI, CLI or REST API."}
		}
		if len(entry.Ignored) > 0 {
			res["ignored"] = entry.Ignored
			msg, _ := res["message"].(string)
			res["message"] = strings.TrimSpace(msg + " Ignored arguments (unknown, or not an agent's to set): " + strings.Join(entry.Ignored, ", ") + ".")
		}
		return jsonResult(res), nil
	case "":
		return errorResult("argument operation: required (%s)", strings.Join(serverOps, ", ")), nil
	}
	return errorResult("argument operation: unknown %q; want one of %s", in.Operation, strings.Join(serverOps, ", ")), nil
}
