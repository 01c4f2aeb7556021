//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The Go columns of the client matrix: the go-sdk's client and mcp-go's
// (mark3labs/mcp-go, with its default options), each declaring sampling,
// elicitation and roots, run the checks of test/mcp-peers/matrix.mjs with
// the same outcomes, so that each column compares with the same client
// directly and with the TypeScript client's.

// matrixTarget is where a client connects: a streamable-HTTP URL (or a
// legacy SSE one, with sse), or a stdio command.
type matrixTarget struct {
	url   string
	sse   bool
	stdio []string
}

// matrixClient is one client library as the matrix drives it.
type matrixClient interface {
	list(ctx context.Context) ([]string, error)
	// call calls a tool; onProgress, if not nil, asks for progress and is
	// called for each notification.
	call(ctx context.Context, tool string, args map[string]any, onProgress func()) (text string, isError bool, err error)
	// structured calls a tool and returns its structuredContent as JSON.
	structured(ctx context.Context, tool string, args map[string]any) (sc json.RawMessage, isError bool, err error)
	// resources lists the resources and reads the first.
	resources(ctx context.Context) (listed, read int, err error)
	prompts(ctx context.Context) (int, error)
	// cannotAnswer says why the client cannot answer a server's requests
	// (sampling, elicitation, roots), or "" when it can.
	cannotAnswer() string
	close()
}

// matrixLimited is a client that cannot do some of the matrix's checks
// (the inspector's CLI: one request per run, no handlers of its own).
type matrixLimited interface {
	// cannot says why the client cannot do check at all, or "".
	cannot(check string) string
	// rootless reports whether the client declares roots but has none.
	rootless() bool
	// undeclared reports whether the client does not declare the
	// capability a check asks of it ("sampling", "elicitation"): a tool
	// that needs it must be hidden from the client or refused, never
	// answered.
	undeclared(check string) bool
}

// matrixDial opens a client named name whose model answers sampling with
// "answer from NAME" after delay.
type matrixDial func(ctx context.Context, t matrixTarget, name string, delay time.Duration) (matrixClient, error)

const matrixRoot = "file:///matrix-root"

// elicitAnswer is what the matrix's user answers to server-everything's
// elicitation form.
func elicitAnswer(name string) map[string]any {
	return map[string]any{"name": name, "check": true, "color": "red", "email": "a@example.com", "integer": 7, "number": 7, "petType": "cats"}
}

// ---- the go-sdk ----

type goSDKClient struct{ cs *mcp.ClientSession }

func dialGoSDK(ctx context.Context, t matrixTarget, name string, delay time.Duration) (matrixClient, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ClientOptions{
		CreateMessageHandler: func(ctx context.Context, _ *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			if err := sleepCtx(ctx, delay); err != nil {
				return nil, err
			}
			return &mcp.CreateMessageResult{Model: name, Role: "assistant", Content: &mcp.TextContent{Text: "answer from " + name}}, nil
		},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: elicitAnswer(name)}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			if fn, ok := goSDKProgress.fns.Load(fmt.Sprint(req.Params.ProgressToken)); ok {
				fn()
			}
		},
		// Roots with listChanged are the SDK's default capabilities.
	})
	c.AddRoots(&mcp.Root{URI: matrixRoot, Name: "matrix"})
	var tr mcp.Transport = &mcp.StreamableClientTransport{Endpoint: t.url, MaxRetries: -1}
	switch {
	case t.url == "":
		tr = &mcp.CommandTransport{Command: exec.Command(t.stdio[0], t.stdio[1:]...)}
	case t.sse:
		// The SSE transport keeps its stream on the context of Connect.
		ctx = context.WithoutCancel(ctx)
		tr = &mcp.SSEClientTransport{Endpoint: t.url}
	}
	cs, err := c.Connect(ctx, tr, nil)
	if err != nil {
		return nil, err
	}
	return &goSDKClient{cs}, nil
}

func (c *goSDKClient) list(ctx context.Context) ([]string, error) {
	res, err := c.cs.ListTools(ctx, nil)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

// goSDKProgress counts the progress notifications of the go-sdk client's
// calls, by token (the SDK client has one handler for them all).
var goSDKProgress = struct {
	next atomic.Int64
	fns  syncMap[string, func()]
}{}

func (c *goSDKClient) call(ctx context.Context, tool string, args map[string]any, onProgress func()) (string, bool, error) {
	params := &mcp.CallToolParams{Name: tool, Arguments: args}
	if onProgress != nil {
		tok := fmt.Sprintf("go-sdk-%d", goSDKProgress.next.Add(1))
		goSDKProgress.fns.Store(tok, onProgress)
		defer goSDKProgress.fns.Delete(tok)
		params.SetProgressToken(tok)
	}
	res, err := c.cs.CallTool(ctx, params)
	if err != nil {
		return "", false, err
	}
	var b strings.Builder
	for _, ct := range res.Content {
		if tc, ok := ct.(*mcp.TextContent); ok {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError, nil
}

func (c *goSDKClient) structured(ctx context.Context, tool string, args map[string]any) (json.RawMessage, bool, error) {
	res, err := c.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return nil, false, err
	}
	b, err := json.Marshal(res.StructuredContent)
	return b, res.IsError, err
}

func (c *goSDKClient) resources(ctx context.Context) (int, int, error) {
	list, err := c.cs.ListResources(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	if len(list.Resources) == 0 {
		return 0, 0, errors.New("no resources")
	}
	read, err := c.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: list.Resources[0].URI})
	if err != nil {
		return 0, 0, err
	}
	return len(list.Resources), len(read.Contents), nil
}

func (c *goSDKClient) prompts(ctx context.Context) (int, error) {
	res, err := c.cs.ListPrompts(ctx, nil)
	if err != nil {
		return 0, err
	}
	return len(res.Prompts), nil
}

func (c *goSDKClient) cannotAnswer() string { return "" }

func (c *goSDKClient) close() { c.cs.Close() }

// ---- mcp-go ----

type mcpGoClient struct {
	c        *mcpgoclient.Client
	sse      bool
	next     atomic.Int64
	progress syncMap[string, func()]
}

type mcpGoHandlers struct {
	name  string
	delay time.Duration
}

func (h mcpGoHandlers) CreateMessage(ctx context.Context, _ mcpgo.CreateMessageRequest) (*mcpgo.CreateMessageResult, error) {
	if err := sleepCtx(ctx, h.delay); err != nil {
		return nil, err
	}
	return &mcpgo.CreateMessageResult{Model: h.name, SamplingMessage: mcpgo.SamplingMessage{
		Role: mcpgo.RoleAssistant, Content: mcpgo.NewTextContent("answer from " + h.name)}}, nil
}

func (h mcpGoHandlers) Elicit(context.Context, mcpgo.ElicitationRequest) (*mcpgo.ElicitationResult, error) {
	return &mcpgo.ElicitationResult{ElicitationResponse: mcpgo.ElicitationResponse{
		Action: mcpgo.ElicitationResponseActionAccept, Content: elicitAnswer(h.name)}}, nil
}

func (h mcpGoHandlers) ListRoots(context.Context, mcpgo.ListRootsRequest) (*mcpgo.ListRootsResult, error) {
	return &mcpgo.ListRootsResult{Roots: []mcpgo.Root{{URI: matrixRoot, Name: "matrix"}}}, nil
}

func dialMCPGo(ctx context.Context, t matrixTarget, name string, delay time.Duration) (matrixClient, error) {
	h := mcpGoHandlers{name, delay}
	opts := []mcpgoclient.ClientOption{mcpgoclient.WithSamplingHandler(h), mcpgoclient.WithElicitationHandler(h), mcpgoclient.WithRootsHandler(h)}
	var tr mcpgotransport.Interface
	var err error
	switch {
	case t.url == "":
		tr = mcpgotransport.NewStdio(t.stdio[0], nil, t.stdio[1:]...)
	case t.sse:
		tr, err = mcpgotransport.NewSSE(t.url)
	default:
		tr, err = mcpgotransport.NewStreamableHTTP(t.url)
	}
	if err != nil {
		return nil, err
	}
	c := &mcpGoClient{c: mcpgoclient.NewClient(tr, opts...), sse: t.sse}
	// The SSE transport keeps its stream on the context of Start.
	if err := c.c.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	c.c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method != "notifications/progress" {
			return
		}
		if fn, ok := c.progress.Load(fmt.Sprint(n.Params.AdditionalFields["progressToken"])); ok {
			fn()
		}
	})
	req := mcpgo.InitializeRequest{}
	req.Params.ClientInfo = mcpgo.Implementation{Name: name, Version: "1"}
	if _, err := c.c.Initialize(ctx, req); err != nil {
		c.c.Close()
		return nil, err
	}
	return c, nil
}

func (c *mcpGoClient) list(ctx context.Context) ([]string, error) {
	res, err := c.c.ListTools(ctx, mcpgo.ListToolsRequest{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

func (c *mcpGoClient) call(ctx context.Context, tool string, args map[string]any, onProgress func()) (string, bool, error) {
	req := mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: tool, Arguments: args}}
	if onProgress != nil {
		tok := fmt.Sprintf("mcp-go-%d", c.next.Add(1))
		c.progress.Store(tok, onProgress)
		defer c.progress.Delete(tok)
		req.Params.Meta = &mcpgo.Meta{ProgressToken: tok}
	}
	res, err := c.c.CallTool(ctx, req)
	if err != nil {
		return "", false, err
	}
	var b strings.Builder
	for _, ct := range res.Content {
		if tc, ok := ct.(mcpgo.TextContent); ok {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError, nil
}

func (c *mcpGoClient) structured(ctx context.Context, tool string, args map[string]any) (json.RawMessage, bool, error) {
	res, err := c.c.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: tool, Arguments: args}})
	if err != nil {
		return nil, false, err
	}
	b, err := json.Marshal(res.StructuredContent)
	return b, res.IsError, err
}

func (c *mcpGoClient) resources(ctx context.Context) (int, int, error) {
	list, err := c.c.ListResources(ctx, mcpgo.ListResourcesRequest{})
	if err != nil {
		return 0, 0, err
	}
	if len(list.Resources) == 0 {
		return 0, 0, errors.New("no resources")
	}
	req := mcpgo.ReadResourceRequest{}
	req.Params.URI = list.Resources[0].URI
	read, err := c.c.ReadResource(ctx, req)
	if err != nil {
		return 0, 0, err
	}
	return len(list.Resources), len(read.Contents), nil
}

func (c *mcpGoClient) prompts(ctx context.Context) (int, error) {
	res, err := c.c.ListPrompts(ctx, mcpgo.ListPromptsRequest{})
	if err != nil {
		return 0, err
	}
	return len(res.Prompts), nil
}

// cannotAnswer: mcp-go's SSE transport hands the server's requests to no
// handler (it is not a transport.BidirectionalInterface), so a tool that
// asks the client something waits until it times out, against any SSE
// server.
func (c *mcpGoClient) cannotAnswer() string {
	if c.sse {
		return "mcp-go's SSE transport answers no server requests"
	}
	return ""
}

func (c *mcpGoClient) close() { c.c.Close() }

// ---- the checks ----

// runGoMatrix runs matrix.mjs's checks with a Go client against one target;
// mode and server say how server-everything's tools are named there (see
// matrix.mjs).
func runGoMatrix(dial matrixDial, t matrixTarget, mode, server string) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out := map[string]string{}
	main, err := dial(ctx, t, "matrix-a", 0)
	if err != nil {
		for _, check := range matrixChecks {
			out[check] = "fail: connect: " + shortError(err)
		}
		return out
	}
	defer main.close()

	call := func(c matrixClient, ctx context.Context, tool string, args map[string]any, onProgress func()) (string, bool, error) {
		switch mode {
		case "all":
			tool = server + "__" + tool
		case "smart":
			tool, args = "call_tool", map[string]any{"name": server + ":" + tool, "args": args}
		}
		return c.call(ctx, tool, args, onProgress)
	}
	// A client that cannot do a check at all (matrixLimited) gets it as
	// n/a with its reason, on every column alike.
	limits, _ := main.(matrixLimited)
	outcome := func(check string, fn func() string) string {
		if limits != nil {
			if why := limits.cannot(check); why != "" {
				return "n/a: " + why
			}
		}
		o := fn()
		if strings.HasPrefix(o, "fail: unknown tool") {
			return "n/a: tool not listed"
		}
		return o
	}
	failed := func(err error) string { return "fail: " + shortError(err) }

	var tools []string
	out["list"] = outcome("list", func() string {
		names, err := main.list(ctx)
		if err != nil {
			return failed(err)
		}
		tools = names
		if mode == "smart" {
			if slices.Contains(names, "call_tool") {
				return "ok: built-in tools"
			}
			return fmt.Sprintf("fail: %v", names)
		}
		prefix := map[bool]string{true: server + "__"}[mode == "all"]
		var mine []string
		for _, n := range names {
			if rest, ok := strings.CutPrefix(n, prefix); ok {
				mine = append(mine, rest)
			}
		}
		slices.Sort(mine)
		out["tools"] = strings.Join(mine, ",")
		return fmt.Sprintf("ok: %d tools", len(mine))
	})
	listed := func(tool string) bool {
		return mode == "smart" || slices.Contains(tools, map[bool]string{true: server + "__"}[mode == "all"]+tool)
	}
	// result turns a call's outcome into a check's.
	result := func(text string, isError bool, err error, ok func(string) string) string {
		switch {
		case err != nil:
			return failed(err)
		case isError:
			return "fail: " + shortError(errors.New(text))
		}
		return ok(text)
	}

	out["call"] = outcome("call", func() string {
		text, isErr, err := call(main, ctx, "echo", map[string]any{"message": "matrix"}, nil)
		return result(text, isErr, err, func(s string) string { return "ok: " + s })
	})
	// structured: get-structured-content declares an output schema; its
	// result must carry structuredContent, as matrix.mjs checks.
	out["structured"] = outcome("structured", func() string {
		tool, args := "get-structured-content", map[string]any{"location": "Chicago"}
		switch mode {
		case "all":
			tool = server + "__" + tool
		case "smart":
			tool, args = "call_tool", map[string]any{"name": server + ":" + tool, "args": args}
		}
		sc, isErr, err := main.structured(ctx, tool, args)
		switch {
		case err != nil:
			return failed(err)
		case isErr:
			return "fail: an error result"
		}
		var v struct {
			Temperature *float64 `json:"temperature"`
		}
		if json.Unmarshal(sc, &v) != nil || v.Temperature == nil {
			return "fail: no structured content"
		}
		return "ok: structured content"
	})
	out["progress"] = outcome("progress", func() string {
		var n atomic.Int32
		text, isErr, err := call(main, ctx, "trigger-long-running-operation", map[string]any{"duration": 1, "steps": 3}, func() { n.Add(1) })
		return result(text, isErr, err, func(string) string {
			if n.Load() >= 1 {
				return "ok: progress before the result"
			}
			return "fail: no progress notification"
		})
	})
	out["cancel"] = outcome("cancel", func() string {
		cctx, stop := context.WithTimeout(ctx, 300*time.Millisecond)
		defer stop()
		start := time.Now()
		_, _, err := call(main, cctx, "trigger-long-running-operation", map[string]any{"duration": 20, "steps": 20}, nil)
		switch d := time.Since(start); {
		case err == nil:
			return "fail: the call completed"
		case d >= 5*time.Second:
			return fmt.Sprintf("fail: cancelled after %d ms", d.Milliseconds())
		}
		return "ok: cancelled"
	})
	out["resources"] = outcome("resources", func() string {
		if mode != "direct" {
			return "n/a: built-in endpoint"
		}
		listed, read, err := main.resources(ctx)
		switch {
		case err != nil:
			return failed(err)
		case read == 0:
			return "fail: empty read"
		}
		return fmt.Sprintf("ok: %d listed, read", listed)
	})
	out["prompts"] = outcome("prompts", func() string {
		if mode != "direct" {
			return "n/a: built-in endpoint"
		}
		n, err := main.prompts(ctx)
		if err != nil {
			return failed(err)
		}
		return fmt.Sprintf("ok: %d prompts", n)
	})
	asks := []struct{ check, tool, want, ok string }{
		{"sampling", "trigger-sampling-request", "answer from matrix-a", "ok: answered by its caller"},
		{"elicitation", "trigger-elicitation-request", "Name: matrix-a", "ok: accepted by its caller"},
		{"roots", "get-roots-list", matrixRoot, "ok: the client's roots"},
	}
	if limits != nil && limits.rootless() {
		// server-everything says so when the client's roots are none.
		asks[2].want, asks[2].ok = "no roots are currently configured", "ok: the client's roots (none)"
	}
	for _, a := range asks {
		out[a.check] = outcome(a.check, func() string {
			if !listed(a.tool) {
				return "n/a: tool not listed"
			}
			if why := main.cannotAnswer(); why != "" {
				return "n/a: " + why
			}
			args := map[string]any{}
			if a.check == "sampling" {
				args["prompt"] = "hi"
			}
			text, isErr, err := call(main, ctx, a.tool, args, nil)
			if limits != nil && limits.undeclared(a.check) {
				switch {
				case err != nil:
					return "refused: " + shortError(err)
				case isErr:
					return "refused: " + shortError(errors.New(text))
				}
				return "fail: answered for a client without " + a.check + ": " + shortError(errors.New(text))
			}
			return result(text, isErr, err, func(s string) string {
				if strings.Contains(s, a.want) {
					return a.ok
				}
				return "fail: " + shortError(errors.New(s))
			})
		})
	}
	out["concurrent"] = outcome("concurrent", func() string {
		if !listed("trigger-sampling-request") {
			return "n/a: tool not listed"
		}
		if why := main.cannotAnswer(); why != "" {
			return "n/a: " + why
		}
		b, err := dial(ctx, t, "matrix-b", 300*time.Millisecond)
		if err != nil {
			return failed(err)
		}
		defer b.close()
		d, err := dial(ctx, t, "matrix-d", 300*time.Millisecond)
		if err != nil {
			return failed(err)
		}
		defer d.close()
		texts := make([]string, 2)
		done := make(chan struct{})
		for i, c := range []matrixClient{b, d} {
			go func() {
				defer func() { done <- struct{}{} }()
				texts[i], _, _ = call(c, ctx, "trigger-sampling-request", map[string]any{"prompt": "hi"}, nil)
			}()
		}
		<-done
		<-done
		own := 0
		for i, me := range []string{"matrix-b", "matrix-d"} {
			other := []string{"matrix-d", "matrix-b"}[i]
			switch {
			case strings.Contains(texts[i], "answer from "+me):
				own++
			case strings.Contains(texts[i], "answer from "+other):
				return "fail: answered by another client"
			}
		}
		if own == 2 {
			return "ok: 2/2 answered by their caller"
		}
		return fmt.Sprintf("refused: %d/2 refused, none answered by another client", 2-own)
	})
	return out
}

// shortError is an error's message as matrix.mjs shortens it.
func shortError(err error) string {
	s := firstLine(err.Error())
	if len(s) > 160 {
		s = s[:160]
	}
	return s
}

// syncMap is a sync.Map of K to V.
type syncMap[K comparable, V any] struct{ m sync.Map }

func (s *syncMap[K, V]) Store(k K, v V) { s.m.Store(k, v) }
func (s *syncMap[K, V]) Delete(k K)     { s.m.Delete(k) }

func (s *syncMap[K, V]) Load(k K) (V, bool) {
	v, ok := s.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}
