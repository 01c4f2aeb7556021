package testupstream

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// addAskTools adds the tools of Options.AskClient. Each sends the calling
// client a request within the call, as a server that samples, elicits or
// reads roots does, and returns what the client answered:
//
//	ask_sampling {"question": string} → the text of the client's
//	    sampling/createMessage answer to a message holding question
//	ask_elicit   {"question": string} → the action of the client's
//	    elicitation/create answer, then ":" and its "answer" field
//	ask_sampling_open {"question": string} → as ask_sampling, but the
//	    question stays open when the call is cancelled (as
//	    server-everything's do), until the client answers or the session ends
//	ask_roots    {} → the client's roots' URIs, comma-separated
//	whoami       {} → "NAME sampling=B elicitation=B roots=B": the
//	    calling session's client name and declared capabilities
//
// A failed request fails the call with a tool error holding its message.
func addAskTools(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{Name: "ask_sampling", Description: "Asks the client's model the question and returns its answer."},
		askSampling(false))
	mcp.AddTool(s, &mcp.Tool{Name: "ask_sampling_open", Description: "Asks the client's model the question, and waits for the answer even when the call is cancelled."},
		askSampling(true))
	mcp.AddTool(s, &mcp.Tool{Name: "ask_elicit", Description: "Asks the client's user the question and returns the action and answer."},
		func(ctx context.Context, req *mcp.CallToolRequest, in askInput) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{
				Message: in.Question,
				RequestedSchema: map[string]any{
					"type":       "object",
					"properties": map[string]any{"answer": map[string]any{"type": "string"}},
				},
			})
			if err != nil {
				return askError(err), nil, nil
			}
			answer, _ := res.Content["answer"].(string)
			return textResult(res.Action + ":" + answer), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "Names the calling client and what it declared."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			name, caps := "", &mcp.ClientCapabilities{}
			if ip := req.Session.InitializeParams(); ip != nil {
				if ip.ClientInfo != nil {
					name = ip.ClientInfo.Name
				}
				if ip.Capabilities != nil {
					caps = ip.Capabilities
				}
			}
			return textResult(fmt.Sprintf("%s sampling=%t elicitation=%t roots=%t", name,
				caps.Sampling != nil, caps.Elicitation != nil, caps.Roots.ListChanged)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "ask_roots", Description: "Lists the client's roots."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.ListRoots(ctx, nil)
			if err != nil {
				return askError(err), nil, nil
			}
			uris := make([]string, len(res.Roots))
			for i, r := range res.Roots {
				uris[i] = r.URI
			}
			return textResult(strings.Join(uris, ",")), nil, nil
		})
}

// askSampling is ask_sampling's handler, or with open ask_sampling_open's,
// whose question outlives the call's cancellation.
func askSampling(open bool) mcp.ToolHandlerFor[askInput, any] {
	return func(ctx context.Context, req *mcp.CallToolRequest, in askInput) (*mcp.CallToolResult, any, error) {
		if open {
			ctx = context.WithoutCancel(ctx)
		}
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
			MaxTokens: 50,
			Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Question}}},
		})
		if err != nil {
			return askError(err), nil, nil
		}
		text, _ := res.Content.(*mcp.TextContent)
		if text == nil {
			return askError(errString("the client's answer holds no text")), nil, nil
		}
		return textResult(text.Text), nil, nil
	}
}

type askInput struct {
	Question string `json:"question" jsonschema:"what to ask"`
}

type errString string

func (e errString) Error() string { return string(e) }

func askError(err error) *mcp.CallToolResult {
	r := textResult("ask failed: " + err.Error())
	r.IsError = true
	return r
}
