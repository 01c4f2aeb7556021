package testupstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Options configures the server built by NewServer.
type Options struct {
	// Name is the server implementation name; default "testupstream".
	Name string
	// Tools is the number of extra generated tools "tool_0".."tool_{n-1}",
	// each echoing its arguments back as JSON.
	Tools int
	// Latency is added to every tool call; the wait ends early if the
	// call's context is cancelled.
	Latency time.Duration
	// Hostile adds tools whose descriptions hide attacks on the model
	// (add_numbers, daily_quote, fetch_report; see hostile.go).
	Hostile bool
	// RugPullAfter, if > 0, changes echo's description (to
	// RugPulledDescription) after that many tool calls, with list_changed.
	RugPullAfter int
	// Annotated adds tools with read-only, additive, destructive and no
	// annotations, and one with an output schema (see annotated.go).
	Annotated bool
	// AskClient adds tools that ask the calling client something during
	// the call (ask_sampling, ask_elicit, ask_roots; see ask.go).
	AskClient bool
	// ProtocolVersions, if set, narrows the MCP versions the server speaks
	// (the SDK's ServerOptions.SupportedProtocolVersions).
	ProtocolVersions []string
	// BeforeCall, if set, runs before every tool call (in process only);
	// an error fails the call. Tests use it as a barrier.
	BeforeCall func(ctx context.Context) error
	// QuietCancel makes a request the client cancelled get no response, as
	// the MCP specification says and server-everything does, where the
	// transport lets the server hold it back: over streamable HTTP the
	// request's stream ends without it. (The SDK answers a cancelled request
	// like any other; over stdio it still does.)
	QuietCancel bool
	// RPCError adds the tool rpc_error, which answers every call with the
	// JSON-RPC error RPCError (code, message and data).
	RPCError bool
}

// RPCError is the JSON-RPC error the rpc_error tool answers with.
var RPCError = &jsonrpc.Error{Code: -32042, Message: "rpc_error: the upstream refuses this call", Data: json.RawMessage(`{"why":"scripted","n":1}`)}

// Version is reported as the server implementation version.
const Version = "0.0.0-test"

// NewServer returns an MCP server with these tools:
//
//	echo        {"message": string} → text equal to message
//	add         {"a": number, "b": number} → text of the sum
//	sleep       {"ms": number} → "slept" after ms milliseconds (honours cancel)
//	fail        {} → a tool error result with text "boom"
//	add_tool    {"name": string} → adds an echoing tool; sessions get list_changed
//	remove_tool {"name": string} → removes a tool; sessions get list_changed
//	tool_N      any object → the arguments as compact JSON text
//
// The server advertises only the tools capability, with listChanged.
func NewServer(opts Options) *mcp.Server {
	return newServer(opts, nil)
}

// newServer is NewServer whose request handlers are also cancelled when stop
// is done. The SDK closes a session only after its in-flight handlers have
// returned, so a server that must close promptly needs this.
func newServer(opts Options, stop context.Context) *mcp.Server {
	name := opts.Name
	if name == "" {
		name = "testupstream"
	}
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: Version}, &mcp.ServerOptions{
		Capabilities:              &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
		SupportedProtocolVersions: opts.ProtocolVersions,
	})
	if opts.Latency > 0 {
		s.AddReceivingMiddleware(latencyMiddleware(opts.Latency))
	}
	if opts.BeforeCall != nil {
		before := opts.BeforeCall
		s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
			return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				if method == "tools/call" {
					if err := before(ctx); err != nil {
						return nil, err
					}
				}
				return next(ctx, method, req)
			}
		})
	}
	if stop != nil {
		s.AddReceivingMiddleware(stopMiddleware(stop)) // also ends the latency wait
	}
	if opts.QuietCancel {
		s.AddReceivingMiddleware(quietCancel) // outermost: sees every request end
	}

	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns the message unchanged."}, echo)
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Returns the sum of a and b."}, add)
	mcp.AddTool(s, &mcp.Tool{Name: "sleep", Description: "Sleeps for ms milliseconds, then returns \"slept\"."}, sleep)
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always returns a tool error with the text \"boom\"."}, fail)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "add_tool",
		Description: "Adds a tool with the given name that echoes its arguments.",
	}, func(_ context.Context, _ *mcp.CallToolRequest, in nameInput) (*mcp.CallToolResult, any, error) {
		if in.Name == "" {
			return nil, nil, errors.New("name is required")
		}
		addEchoArgsTool(s, in.Name, "Echoes its arguments as JSON (added at run time).")
		return textResult("added " + in.Name), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{
		Name:        "remove_tool",
		Description: "Removes the tool with the given name.",
	}, func(_ context.Context, _ *mcp.CallToolRequest, in nameInput) (*mcp.CallToolResult, any, error) {
		if in.Name == "" {
			return nil, nil, errors.New("name is required")
		}
		s.RemoveTools(in.Name)
		return textResult("removed " + in.Name), nil, nil
	})
	for i := range opts.Tools {
		addEchoArgsTool(s, "tool_"+strconv.Itoa(i), fmt.Sprintf("Generated tool %d: echoes its arguments as JSON.", i))
	}
	if opts.Hostile {
		addHostileTools(s)
	}
	if opts.AskClient {
		addAskTools(s)
	}
	if opts.Annotated {
		addAnnotatedTools(s)
	}
	if opts.RPCError {
		s.AddTool(&mcp.Tool{Name: "rpc_error", Description: "Always answers with a JSON-RPC error.", InputSchema: json.RawMessage(`{"type":"object"}`)},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) { return nil, RPCError })
	}
	if opts.RugPullAfter > 0 {
		s.AddReceivingMiddleware(rugPull(s, opts.RugPullAfter))
	}
	return s
}

type echoInput struct {
	Message string `json:"message" jsonschema:"the text to return"`
}

type addInput struct {
	A float64 `json:"a" jsonschema:"first addend"`
	B float64 `json:"b" jsonschema:"second addend"`
}

type sleepInput struct {
	Ms float64 `json:"ms" jsonschema:"how long to sleep, in milliseconds"`
}

type nameInput struct {
	Name string `json:"name" jsonschema:"the tool name"`
}

func echo(_ context.Context, _ *mcp.CallToolRequest, in echoInput) (*mcp.CallToolResult, any, error) {
	return textResult(in.Message), nil, nil
}

func add(_ context.Context, _ *mcp.CallToolRequest, in addInput) (*mcp.CallToolResult, any, error) {
	return textResult(strconv.FormatFloat(in.A+in.B, 'f', -1, 64)), nil, nil
}

func sleep(ctx context.Context, _ *mcp.CallToolRequest, in sleepInput) (*mcp.CallToolResult, any, error) {
	if err := sleepCtx(ctx, time.Duration(in.Ms*float64(time.Millisecond))); err != nil {
		return nil, nil, err
	}
	return textResult("slept"), nil, nil
}

func fail(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
	r := textResult("boom")
	r.IsError = true
	return r, nil, nil
}

// addEchoArgsTool adds (or replaces) a tool that accepts any object and
// returns it as compact JSON text.
func addEchoArgsTool(s *mcp.Server, name, description string) {
	s.AddTool(&mcp.Tool{
		Name:        name,
		Description: description,
		InputSchema: json.RawMessage(`{"type":"object"}`),
	}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		text := "{}"
		if raw := req.Params.Arguments; len(raw) > 0 && string(raw) != "null" {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return nil, fmt.Errorf("arguments: %w", err)
			}
			text = buf.String()
		}
		return textResult(text), nil
	})
}

// Text joins the text contents of a tool result, for tests and benchmarks
// that check what a call answered.
func Text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

// Call calls a tool through cs, within 20 s, and fails the test on a
// protocol error; a tool error result is returned, not failed on.
func Call(tb testing.TB, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		tb.Fatalf("call %s %v: %v", name, args, err)
	}
	return res
}

// CallText calls a tool through cs, within 10 s, and returns its text; a
// tool error is returned as an error holding that text.
func CallText(tb testing.TB, cs *mcp.ClientSession, tool string, args any) (string, error) {
	tb.Helper()
	if cs == nil {
		tb.Fatal("no session published")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", err
	}
	if res.IsError {
		return Text(res), fmt.Errorf("tool error: %s", Text(res))
	}
	return Text(res), nil
}

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// latencyMiddleware delays every tools/call by d, or until its context ends.
func latencyMiddleware(d time.Duration) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/call" {
				if err := sleepCtx(ctx, d); err != nil {
					return nil, err
				}
			}
			return next(ctx, method, req)
		}
	}
}

// quietCancel holds back the response to a request whose client cancelled
// it, by ending the request's stream without it (streamable HTTP only).
func quietCancel(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if ctx.Err() != nil {
			if extra := req.GetExtra(); extra != nil && extra.CloseSSEStream != nil {
				extra.CloseSSEStream(mcp.CloseSSEStreamArgs{})
			}
		}
		return res, err
	}
}

// stopMiddleware cancels every request's context when stop is done.
func stopMiddleware(stop context.Context) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			defer context.AfterFunc(stop, cancel)()
			return next(ctx, method, req)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
