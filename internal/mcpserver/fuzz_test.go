package mcpserver

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// FuzzSplitID: splitting a tool id never panics, and what it accepts puts
// back together as the id, with neither half empty.
func FuzzSplitID(f *testing.F) {
	for _, id := range []string{
		"", ":", "__", "a:b", "a__b", "a:b:c", "a__b__c", ":b", "a:", "__b", "a__", "a_b", "a___b",
		"a:__b", "a__:b", "github:create_issue", "my_server__my_tool", "\x00:\xff", "é:ü", "a::b", "a____b",
	} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		for _, sep := range []string{":", directSep} {
			server, tool, ok := splitID(id, sep)
			if !ok {
				if server != "" || tool != "" {
					t.Errorf("splitID(%q, %q) = %q, %q, false: want empty halves when not ok", id, sep, server, tool)
				}
				continue
			}
			if server == "" || tool == "" {
				t.Errorf("splitID(%q, %q) = %q, %q, true: an empty half", id, sep, server, tool)
			}
			if server+sep+tool != id {
				t.Errorf("splitID(%q, %q) = %q, %q: does not join back", id, sep, server, tool)
			}
			if strings.Contains(server, sep) {
				t.Errorf("splitID(%q, %q) = %q, %q: the server holds the separator", id, sep, server, tool)
			}
		}
	})
}

// FuzzCallToolArgs: whatever bytes arrive as the arguments of call_tool or
// one of its variants, the handler answers with a result, never a panic or a protocol error; through
// a real (in-memory) session, any JSON object is answered with a result.
func FuzzCallToolArgs(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `7`, `{`, `{"name":`, `{"name":7}`, `{"name":null}`,
		`{"name":"up:echo"}`, `{"name":"up:echo","args":{"a":1}}`, `{"name":"up:echo","args":null}`,
		`{"name":"up:echo","args":[1]}`, `{"name":"up:echo","args":"x"}`, `{"name":"up:echo","args":{}}`,
		`{"name":"up:echo","args_json":"{\"a\":1}"}`, `{"name":"up:echo","args_json":"[1]"}`,
		`{"name":"up:echo","args_json":"nope"}`, `{"name":"up:echo","args_json":""}`,
		`{"name":"up:echo","args":{"a":1},"args_json":"{}"}`, `{"name":"up:echo","args_json":"{\"x\":\"\\ud800\"}"}`,
		`{"name":"up:echo","args":{"a":"\u0000"}}`, `{"name":"up:"}`, `{"name":":echo"}`, `{"name":"ghost:echo"}`,
		`{"name":"up:nope"}`, `{"name":"up:echo","args":{"deep":[[[[[[[[[[{}]]]]]]]]]]}}`, `{"name":"up:echo","extra":true}`,
		`{"name":"up:echo","args":{"n":1e999}}`, `{"name":"up:echo","args":{"a":"\xff"}}`, "{\"name\":\"up:echo\"}\x00",
		`{"name":"up:echo","intent":{"reason":"r"}}`, `{"name":"up:echo","intent":"r"}`, `{"name":"up:echo","intent":{"reason":7}}`,
		`{"name":"up:echo","intent":{}}`, `{"name":"up:echo","intent":null}`, `{"name":"up:echo","intent":{"reason":""}}`,
	} {
		f.Add([]byte(s))
	}
	up := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	up.AddTool(&mcp.Tool{Name: "echo", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
		})
	p := newProxy(f, proxyOptions{Servers: []map[string]any{
		{"name": "up", "url": customUpstream(f, up), "protocol": "streamable-http"},
	}})
	p.waitCatalog(f, "up")

	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	ct, st := mcp.NewInMemoryTransports()
	ss, err := p.srv.smart.Connect(ctx, st, nil)
	if err != nil {
		f.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "fuzz", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		cs.Close()
		ss.Wait()
	})

	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// call_tool and its variants read the same arguments, the
		// variants an intent too.
		name := []string{"call_tool", callRead, callWrite, callDestructive}[len(data)%4]
		variant := name
		if name == "call_tool" {
			variant = ""
		}
		res := p.srv.callToolAs(ctx, &mcp.CallToolRequest{
			Params: &mcp.CallToolParamsRaw{Name: name, Arguments: json.RawMessage(data)},
		}, variant)
		if res == nil {
			t.Fatalf("%s %q: no result", name, data)
		}

		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil || obj == nil {
			return
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: json.RawMessage(data)})
		if err != nil || res == nil {
			t.Fatalf("%s %q over a session: result %v, error %v; want a result", name, data, res, err)
		}
	})
}
