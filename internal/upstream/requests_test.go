package upstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// answeringPeer is a downstream client that answers every request.
type answeringPeer struct{}

func (answeringPeer) CreateMessage(context.Context, *mcp.CreateMessageWithToolsParams) (*mcp.CreateMessageWithToolsResult, error) {
	return &mcp.CreateMessageWithToolsResult{Model: "m", Role: "assistant", Content: []mcp.Content{&mcp.TextContent{Text: "sampled"}}}, nil
}
func (answeringPeer) Elicit(context.Context, *mcp.ElicitParams) (*mcp.ElicitResult, error) {
	return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"answer": "yes"}}, nil
}
func (answeringPeer) ListRoots(context.Context, *mcp.ListRootsParams) (*mcp.ListRootsResult, error) {
	return &mcp.ListRootsResult{Roots: []*mcp.Root{{URI: "file:///r"}}}, nil
}
func (answeringPeer) Notify(context.Context, string, mcp.Params) {}

// TestActor_UpstreamRequestsSameOnBothPaths: what an upstream asks its
// client during a call is answered the same whether the call goes through
// the SDK's session or beside it (leanHTTP, lineConn): both use one table.
func TestActor_UpstreamRequestsSameOnBothPaths(t *testing.T) {
	http := testupstream.StartStreamable(t, testupstream.Options{AskClient: true})
	for _, tc := range []struct {
		name string
		spec mcpproxy.ServerSpec
	}{
		{"streamable-http", mcpproxy.ServerSpec{Protocol: mcpproxy.ProtocolStreamableHTTP, URL: http.URL}},
		{"stdio", stdioSpec(testupstream.ModeOK, map[string]string{testupstream.EnvAskClient: "1"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := relay.NewHub()
			h := startActor(t, tc.spec, func(o *upstream.Options) { o.Hub = hub })
			srv := h.waitState(t, 10*time.Second, mcpproxy.StateReady)
			if srv.Caller == stateview.ToolCaller(srv.Session) {
				t.Fatal("the upstream has no call path beside its session: nothing to compare")
			}
			peer := answeringPeer{}
			ask := func(caller stateview.ToolCaller, tool string) string {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ctx = relay.WithCaller(ctx, peer)
				end := hub.BeginCall(ctx, "up", peer)
				defer end()
				res, err := caller.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"question": "q"}})
				if err != nil {
					return "error: " + err.Error()
				}
				return testupstream.Text(res)
			}
			for _, tool := range []string{"ask_sampling", "ask_elicit", "ask_roots"} {
				beside, session := ask(srv.Caller, tool), ask(srv.Session, tool)
				if beside != session {
					t.Errorf("%s: beside the session %q, through it %q", tool, beside, session)
				}
				want := map[string]string{"ask_sampling": "sampled", "ask_elicit": "accept:yes"}[tool]
				if want != "" && beside != want {
					t.Errorf("%s = %q, want %q", tool, beside, want)
				}
			}
		})
	}
}
