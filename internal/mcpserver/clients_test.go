package mcpserver

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Other MCP client libraries against every endpoint, each compared with the
// same client talking to the upstream directly.

// TestClients_Discover: a client that opens with server/discover at
// 2026-07-28 gets the error that protocol defines for a version the server
// does not speak, naming those it does, on every streamable endpoint; it
// then falls back to initialize.
func TestClients_Discover(t *testing.T) {
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		streamable(t, "alpha", testupstream.Options{}, nil),
	}})
	p.waitCatalog(t, "alpha")
	const discover = `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{` +
		`"io.modelcontextprotocol/protocolVersion":"2026-07-28",` +
		`"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},` +
		`"io.modelcontextprotocol/clientCapabilities":{}}}}`
	hdr := map[string][]string{"Mcp-Protocol-Version": {"2026-07-28"}, "Mcp-Method": {"server/discover"}}
	for _, path := range []string{"/mcp", "/mcp/all", "/mcp/server/alpha"} {
		code, body := rawPost(t, p.URL+path, "", hdr, discover)
		if i := strings.Index(body, "{"); i >= 0 {
			body = body[i:] // an event stream's "data: " prefix
		}
		var msg struct {
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Code int `json:"code"`
				Data struct {
					Supported []string `json:"supported"`
					Requested string   `json:"requested"`
				} `json:"data"`
			} `json:"error"`
		}
		json.Unmarshal([]byte(strings.TrimSpace(body)), &msg)
		e := msg.Error
		if (code != 200 && code != 400) || e == nil || e.Code != -32022 || e.Data.Requested != "2026-07-28" ||
			!slices.Contains(e.Data.Supported, "2025-11-25") || slices.Contains(e.Data.Supported, "2026-07-28") {
			t.Errorf("%s: server/discover at 2026-07-28 answered %d %s; want the UnsupportedProtocolVersion error (-32022) naming 2025-11-25 and not 2026-07-28", path, code, body)
		}
	}
}

// mcpgoConnect opens mark3labs/mcp-go's client with its default options
// (it probes with server/discover at 2026-07-28 first) on url.
func mcpgoConnect(t *testing.T, url string, sse bool) (*mcpgoclient.Client, *mcpgo.InitializeResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var c *mcpgoclient.Client
	var err error
	if sse {
		if c, err = mcpgoclient.NewSSEMCPClient(url); err == nil {
			err = c.Start(context.Background())
		}
	} else {
		c, err = mcpgoclient.NewStreamableHttpClient(url)
	}
	if err != nil {
		t.Fatalf("mcp-go client for %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	init, err := c.Initialize(ctx, mcpgo.InitializeRequest{})
	if err != nil {
		t.Fatalf("mcp-go initialize %s: %v", url, err)
	}
	return c, init
}

func mcpgoTools(t *testing.T, c *mcpgoclient.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
	if err != nil {
		t.Fatalf("mcp-go tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func mcpgoCall(t *testing.T, c *mcpgoclient.Client, name string, args map[string]any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: name, Arguments: args}})
	if err != nil {
		t.Fatalf("mcp-go tools/call %s: %v", name, err)
	}
	var b strings.Builder
	for _, ct := range res.Content {
		if tc, ok := ct.(mcpgo.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if res.IsError {
		t.Fatalf("mcp-go tools/call %s: tool error %q", name, b.String())
	}
	return b.String()
}

// TestClients_MCPGo: mcp-go's client with its default options lists and
// calls tools on every endpoint, as it does on the upstream directly. The
// upstream serves only the handshake versions: mcp-go cannot use a go-sdk
// server that serves them all (it reads discover's success as the new
// protocol, which that server's sessions refuse).
func TestClients_MCPGo(t *testing.T) {
	up := testupstream.StartStreamable(t, testupstream.Options{Name: "alpha-impl", ProtocolVersions: protocolVersions})
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		{"name": "alpha", "url": up.URL, "protocol": "streamable-http"},
	}})
	p.waitCatalog(t, "alpha")

	direct, dinit := mcpgoConnect(t, up.URL, false)
	directTools := mcpgoTools(t, direct)
	directEcho := mcpgoCall(t, direct, "echo", map[string]any{"message": "hi"})

	pass, pinit := mcpgoConnect(t, p.URL+"/mcp/server/alpha", false)
	if pinit.ProtocolVersion != dinit.ProtocolVersion && pinit.ProtocolVersion != "2025-11-25" {
		t.Errorf("pass-through negotiated %q; directly %q", pinit.ProtocolVersion, dinit.ProtocolVersion)
	}
	if pinit.ServerInfo.Name != dinit.ServerInfo.Name {
		t.Errorf("pass-through server info %q, directly %q", pinit.ServerInfo.Name, dinit.ServerInfo.Name)
	}
	if got := mcpgoTools(t, pass); !slices.Equal(got, directTools) {
		t.Errorf("pass-through tools %v, directly %v", got, directTools)
	}
	if got := mcpgoCall(t, pass, "echo", map[string]any{"message": "hi"}); got != directEcho {
		t.Errorf("pass-through echo %q, directly %q", got, directEcho)
	}

	all, _ := mcpgoConnect(t, p.URL+"/mcp/all", false)
	var want []string
	for _, n := range directTools {
		want = append(want, "alpha__"+n)
	}
	if got := mcpgoTools(t, all); !slices.Equal(got, want) {
		t.Errorf("/mcp/all tools %v, want %v", got, want)
	}
	if got := mcpgoCall(t, all, "alpha__echo", map[string]any{"message": "hi"}); got != directEcho {
		t.Errorf("/mcp/all echo %q, directly %q", got, directEcho)
	}

	for _, tc := range []struct {
		path string
		sse  bool
	}{{"/mcp", false}, {"/sse", true}} {
		c, init := mcpgoConnect(t, p.URL+tc.path, tc.sse)
		if init.ProtocolVersion >= "2026-07-28" {
			t.Errorf("%s negotiated %q, which the proxy does not serve", tc.path, init.ProtocolVersion)
		}
		if got := mcpgoTools(t, c); !slices.Contains(got, "call_tool") || !slices.Contains(got, "retrieve_tools") {
			t.Errorf("%s tools %v, want the built-in tools", tc.path, got)
		}
		if got := mcpgoCall(t, c, "call_tool", map[string]any{"name": "alpha:echo", "args": map[string]any{"message": "hi"}}); got != directEcho {
			t.Errorf("%s call_tool echo %q, directly %q", tc.path, got, directEcho)
		}
	}
}

// TestPassthrough_MirrorsInitialize: the pass-through declares exactly the
// upstream's capabilities (no prompts or resources it lacks, subscribe as
// the upstream says), and answers or refuses requests as the upstream does,
// with the upstream's own error.
func TestPassthrough_MirrorsInitialize(t *testing.T) {
	// An upstream with resources but no subscriptions, no prompts.
	res := mcp.NewServer(&mcp.Implementation{Name: "res-impl", Version: "1"}, &mcp.ServerOptions{Instructions: "read me"})
	res.AddResource(&mcp.Resource{URI: "file:///a", Name: "a"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "file:///a", Text: "A"}}}, nil
	})
	resURL := customUpstream(t, res)
	tools := testupstream.StartStreamable(t, testupstream.Options{Name: "tools-impl"})
	p := newProxy(t, proxyOptions{Servers: []map[string]any{
		{"name": "tools", "url": tools.URL, "protocol": "streamable-http"},
		{"name": "res", "url": resURL, "protocol": "streamable-http"},
	}})
	p.waitState(t, "tools", "ready")
	p.waitState(t, "res", "ready")

	direct := func(url string) *mcp.ClientSession {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "direct", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	for _, tc := range []struct{ name, url string }{{"tools", tools.URL}, {"res", resURL}} {
		d := direct(tc.url)
		pass := p.connect(t, "/mcp/server/"+tc.name, clientOptions{})
		want, _ := json.Marshal(d.InitializeResult())
		got, _ := json.Marshal(pass.InitializeResult())
		if string(got) != string(want) {
			t.Errorf("%s: initialize through the pass-through\n%s\ndirectly\n%s", tc.name, got, want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		dres, derr := d.ListPrompts(ctx, nil)
		pres, perr := pass.ListPrompts(ctx, nil)
		cancel()
		dj, _ := json.Marshal(dres)
		pj, _ := json.Marshal(pres)
		if errCode(perr) != errCode(derr) || string(pj) != string(dj) {
			t.Errorf("%s: prompts/list through the pass-through: %s %v; directly: %s %v", tc.name, pj, perr, dj, derr)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		_, derr = d.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///missing"})
		_, perr = pass.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///missing"})
		cancel()
		if derr == nil || perr == nil || perr.Error() != derr.Error() {
			t.Errorf("%s: reading a missing resource through the pass-through: %v; directly: %v", tc.name, perr, derr)
		}
	}
}

// errCode returns the JSON-RPC error code in err's message ("… (code)"), as
// the SDK's client reports it, or "".
func errCode(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "-326"); i >= 0 {
		return msg[i : i+6]
	}
	return msg
}
