package mcpserver

import (
	"context"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// directCall routes a direct-mode call (server__tool) to its upstream. An
// error is for the JSON-RPC response (see callFailed).
func (s *Server) directCall(ctx context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if r.Params.Name == readCacheTool.Name && s.opts.Store != nil {
		return s.readCache(ctx, r)
	}
	rt, ok := s.cat.set.Load().routes[r.Params.Name]
	if !ok {
		server, tool, ok := splitID(r.Params.Name, directSep)
		if !ok {
			return errorResult("unknown tool %q: direct-mode tools are named server__tool; list them with tools/list", r.Params.Name), nil
		}
		rt = route{server, tool}
	}
	args := r.Params.Arguments
	if len(args) == 0 || string(args) == "null" {
		args = []byte("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(args, &obj); err != nil {
		return errorResult("arguments: want a JSON object matching the tool's input schema (%v)", err), nil
	}
	return s.call(ctx, r, rt.server, rt.tool, args, directSep, nil)
}

// directMiddleware answers tools/list and tools/call on /mcp/all from the
// catalog's current set (and read_cache, when there is a store), so the
// tool list is an atomic load and a change of one upstream does not
// re-register thousands of tools with the SDK.
func (s *Server) directMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "tools/list":
			set := s.cat.set.Load()
			tools := set.tools
			if tok := callerToken(ctx); tok != nil {
				tools = make([]*mcp.Tool, 0, len(set.tools))
				for _, t := range set.tools {
					if toolAllowed(tok, set.routes[t.Name].server, t) {
						tools = append(tools, t)
					}
				}
			}
			tools = hideBlocked(s.b.Config(), tools)
			if s.opts.Store != nil {
				// Where a truncated result says to read the rest.
				tools = append(append(make([]*mcp.Tool, 0, len(tools)+1), readCacheTool), tools...)
			}
			if tools == nil {
				tools = []*mcp.Tool{}
			}
			return &mcp.ListToolsResult{Tools: tools}, nil
		case "tools/call":
			r, ok := req.(*mcp.CallToolRequest)
			if !ok || r.Params == nil {
				break
			}
			return s.directCall(ctx, r)
		}
		return next(ctx, method, req)
	}
}
