package main

// `mcpproxy upstream probe`: one connection to one server through the
// daemon's own upstream connector, without a daemon.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/oauth"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

// conformanceContextEnv is where the MCP conformance suite passes a client
// scenario's extra inputs (JSON), such as pre-registered credentials.
const conformanceContextEnv = "MCP_CONFORMANCE_CONTEXT"

func (a *app) upstreamCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "upstream",
		Short: "Talk to an upstream server directly, without the daemon",
	})
	cmd.AddCommand(a.upstreamProbeCmd())
	return cmd
}

// probeFlags are the flags of `upstream probe`.
type probeFlags struct {
	protocol     string
	headers      []string
	clientID     string
	clientSecret string
	scopes       []string
	call         string
	args         string
	callAll      bool
	auth         string
	timeout      time.Duration
}

func (a *app) upstreamProbeCmd() *cobra.Command {
	var f probeFlags
	cmd := &cobra.Command{
		Use:   "probe URL",
		Short: "Connect to an HTTP MCP server as mcpproxy would, list its tools, optionally call one",
		Long: `Connect to the MCP server at URL the way the daemon connects to an upstream
(the same transports, headers and OAuth handling), print its server info and
tools, and optionally call a tool. Nothing is written to the config or the
data directory, and no daemon is needed. Use it to check a server before
adding it, or to see why one fails.

When the server asks for an OAuth login, the probe says so and exits 1; log
in through the daemon instead (add the server, then "mcpproxy auth login").

--auth follow is for tests and conformance runs only: the probe then logs in
by itself, following the authorization URL with an HTTP client instead of a
browser (which only completes against an authorization server that grants
without a person), keeps the token in memory, steps up to the scope a 403
insufficient_scope asks for (at most twice per request), and forgets
everything when it exits. Client credentials come from --client-id and
--client-secret, else from the conformance suite's ` + conformanceContextEnv + `
(client_id, client_secret).

The probe advertises elicitation and accepts every form with the schema's
default values.

Exit status: 0 connected (and the call, if any, returned a result, even an
error result), 1 failure (including a login being needed), 2 usage error.`,
		Example: `  mcpproxy upstream probe https://mcp.example.com/mcp
  mcpproxy upstream probe http://127.0.0.1:3000/sse --protocol sse
  mcpproxy upstream probe http://127.0.0.1:3000/mcp --header "X-API-Key=K" --call echo --args '{"message":"hi"}'
  mcpproxy upstream probe http://127.0.0.1:3000/mcp --auth follow --call-all -o json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			spec, callArgs, err := f.spec(argv[0])
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			res, err := probe(ctx, spec, f, callArgs)
			if res != nil {
				w := cmd.OutOrStdout()
				if a.json() {
					if perr := printJSON(w, res); perr != nil {
						return perr
					}
				} else if perr := res.print(w); perr != nil {
					return perr
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.protocol, "protocol", "auto", "transport: streamable-http, sse, or auto (streamable HTTP, then SSE)")
	fl.StringArrayVar(&f.headers, "header", nil, "a header NAME=VALUE sent with every request (repeatable)")
	fl.StringVar(&f.clientID, "client-id", "", "OAuth: a client registered by hand (default: dynamic registration)")
	fl.StringVar(&f.clientSecret, "client-secret", "", "OAuth: that client's secret")
	fl.StringArrayVar(&f.scopes, "scope", nil, "OAuth: a scope to ask for (repeatable; default: what the server asks for)")
	fl.StringVar(&f.call, "call", "", "call this tool after listing the tools")
	fl.StringVar(&f.args, "args", "", "the tool's arguments, a JSON object (default: made from its input schema)")
	fl.BoolVar(&f.callAll, "call-all", false, "call every listed tool, with arguments made from its input schema")
	fl.StringVar(&f.auth, "auth", "none", "OAuth: none (report that a login is needed), or follow (tests only: log in without a person)")
	fl.DurationVar(&f.timeout, "timeout", time.Minute, "give up after this long")
	return cmd
}

// spec checks the flags and makes the server spec they describe.
func (f *probeFlags) spec(rawURL string) (mcpproxy.ServerSpec, map[string]any, error) {
	spec := mcpproxy.ServerSpec{Name: "probe", URL: rawURL, Enabled: true}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return spec, nil, usageError("URL: want an http:// or https:// URL of an MCP endpoint, got %q", rawURL)
	}
	switch p := mcpproxy.Protocol(f.protocol); p {
	case mcpproxy.ProtocolAuto, mcpproxy.ProtocolStreamableHTTP, mcpproxy.ProtocolHTTP, mcpproxy.ProtocolSSE:
		spec.Protocol = p
	default:
		return spec, nil, usageError("--protocol: want streamable-http, sse or auto, got %q", f.protocol)
	}
	for _, h := range f.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return spec, nil, usageError("--header: want NAME=VALUE, got %q", h)
		}
		if spec.Headers == nil {
			spec.Headers = map[string]string{}
		}
		spec.Headers[strings.TrimSpace(k)] = v
	}
	switch f.auth {
	case "none", "follow":
	default:
		return spec, nil, usageError("--auth: want none or follow, got %q", f.auth)
	}
	if f.clientSecret != "" && f.clientID == "" {
		return spec, nil, usageError("--client-secret: needs --client-id")
	}
	if f.clientID != "" || len(f.scopes) > 0 {
		spec.OAuth = &mcpproxy.OAuthSpec{ClientID: f.clientID, ClientSecret: f.clientSecret, Scopes: f.scopes}
	}
	if f.call != "" && f.callAll {
		return spec, nil, usageError("--call and --call-all: give one of them")
	}
	if f.args != "" && f.call == "" {
		return spec, nil, usageError("--args: needs --call")
	}
	var callArgs map[string]any
	if f.args != "" {
		if err := json.Unmarshal([]byte(f.args), &callArgs); err != nil || callArgs == nil {
			return spec, nil, usageError("--args: want a JSON object, got %q", f.args)
		}
	}
	if f.timeout <= 0 {
		return spec, nil, usageError("--timeout: want a positive duration, got %s", f.timeout)
	}
	return spec, callArgs, nil
}

// probeResult is what a probe prints.
type probeResult struct {
	URL             string              `json:"url"`
	Protocol        mcpproxy.Protocol   `json:"protocol"`
	ProtocolVersion string              `json:"protocol_version,omitempty"`
	Server          *mcp.Implementation `json:"server,omitempty"`
	// Logins counts the unattended OAuth logins (--auth follow).
	Logins int             `json:"logins,omitempty"`
	Tools  []mcpproxy.Tool `json:"tools"`
	Calls  []probeCall     `json:"calls,omitempty"`
}

type probeCall struct {
	Tool      string              `json:"tool"`
	Arguments map[string]any      `json:"arguments"`
	Result    *mcp.CallToolResult `json:"result,omitempty"`
	Error     string              `json:"error,omitempty"`
}

// probe connects, lists and calls. It returns what it learned even when a
// call fails.
func probe(ctx context.Context, spec mcpproxy.ServerSpec, f probeFlags, callArgs map[string]any) (*probeResult, error) {
	var auth upstream.Authorizer = noLogin{}
	var unattended *oauth.Unattended
	if f.auth == "follow" {
		o, err := unattendedOAuth(spec.OAuth)
		if err != nil {
			return nil, err
		}
		unattended = oauth.NewUnattended(oauth.LoginConfig{
			ServerURL: spec.URL,
			Protocol:  spec.Transport(),
			Headers:   spec.Headers,
			OAuth:     o,
			Open:      oauth.Follow,
		})
		auth = unattended
	}
	c, err := upstream.Connect(ctx, spec, upstream.ConnectOptions{Auth: auth, Client: probeClient})
	if err != nil {
		return nil, probeError(err, f)
	}
	defer c.Close()
	init := c.Session().InitializeResult()
	res := &probeResult{URL: spec.URL, Protocol: c.Protocol(), Tools: c.Tools()}
	if init != nil {
		res.ProtocolVersion = init.ProtocolVersion
		res.Server = init.ServerInfo
	}
	if res.Tools == nil {
		res.Tools = []mcpproxy.Tool{}
	}
	if unattended != nil {
		// Counted again after the calls, which may step up.
		defer func() { res.Logins = unattended.Logins() }()
	}
	var calls []mcpproxy.Tool
	switch {
	case f.callAll:
		calls = res.Tools
	case f.call != "":
		i := slices.IndexFunc(res.Tools, func(t mcpproxy.Tool) bool { return t.Name == f.call })
		if i < 0 {
			return res, fmt.Errorf("--call: the server has no tool %q", f.call)
		}
		calls = res.Tools[i : i+1]
	}
	var failed error
	for _, t := range calls {
		pc := probeCall{Tool: t.Name, Arguments: callArgs}
		if pc.Arguments == nil {
			pc.Arguments = argumentsFromSchema(t.InputSchema)
		}
		r, err := c.Session().CallTool(ctx, &mcp.CallToolParams{Name: t.Name, Arguments: pc.Arguments})
		if aerr := c.Err(); err != nil && aerr != nil {
			err = aerr
		}
		if err != nil {
			pc.Error = err.Error()
			failed = errors.Join(failed, fmt.Errorf("call %s: %w", t.Name, probeError(err, f)))
		}
		pc.Result = r
		res.Calls = append(res.Calls, pc)
	}
	return res, failed
}

// probeError adds to a login being needed how to get one.
func probeError(err error, f probeFlags) error {
	var na *upstream.NeedsAuthError
	if !errors.As(err, &na) {
		return err
	}
	if f.auth == "follow" {
		return fmt.Errorf("needs login: %s (the unattended login did not satisfy the server)", na.Reason)
	}
	return fmt.Errorf("needs login: %s; add the server (mcpproxy servers add NAME --url URL) and log in with `mcpproxy auth login NAME`", na.Reason)
}

// noLogin has no tokens: a server that asks for one makes the probe
// report that a login is needed.
type noLogin struct{}

func (noLogin) AccessToken(*mcpproxy.ServerSpec) (string, time.Time) { return "", time.Time{} }
func (noLogin) Refresh(context.Context, *mcpproxy.ServerSpec, string) error {
	return mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "not logged in")
}

// unattendedOAuth is the client configuration of an unattended login: the
// flags', else the conformance suite's pre-registered client.
func unattendedOAuth(o *mcpproxy.OAuthSpec) (*mcpproxy.OAuthSpec, error) {
	raw := os.Getenv(conformanceContextEnv)
	if raw == "" || (o != nil && o.ClientID != "") {
		return o, nil
	}
	var cc struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(raw), &cc); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", conformanceContextEnv, err)
	}
	if cc.ClientID == "" {
		return o, nil
	}
	out := &mcpproxy.OAuthSpec{}
	if o != nil {
		*out = *o
	}
	out.ClientID, out.ClientSecret = cc.ClientID, cc.ClientSecret
	return out, nil
}

// probeClient is the probe's MCP client: it offers elicitation and accepts
// every form with the schema's defaults.
func probeClient() *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "mcpproxy-probe", Version: version}, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}}},
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			if req.Params.Mode == "url" {
				return &mcp.ElicitResult{Action: "decline"}, nil
			}
			raw, _ := json.Marshal(req.Params.RequestedSchema)
			return &mcp.ElicitResult{Action: "accept", Content: schemaDefaults(raw)}, nil
		},
	})
}

// schemaDefaults are the default values of an object schema's properties.
func schemaDefaults(schema json.RawMessage) map[string]any {
	var s struct {
		Properties map[string]struct {
			Default any `json:"default"`
		} `json:"properties"`
	}
	out := map[string]any{}
	if json.Unmarshal(schema, &s) != nil {
		return out
	}
	for name, p := range s.Properties {
		if p.Default != nil {
			out[name] = p.Default
		}
	}
	return out
}

// argumentsFromSchema makes arguments for a tool from its input schema:
// each property's default, and a zero value of its type for a required
// property without one.
func argumentsFromSchema(schema json.RawMessage) map[string]any {
	var s struct {
		Properties map[string]struct {
			Type    any   `json:"type"`
			Default any   `json:"default"`
			Enum    []any `json:"enum"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	out := map[string]any{}
	if json.Unmarshal(schema, &s) != nil {
		return out
	}
	for name, p := range s.Properties {
		switch {
		case p.Default != nil:
			out[name] = p.Default
		case !slices.Contains(s.Required, name):
		case len(p.Enum) > 0:
			out[name] = p.Enum[0]
		default:
			t, _ := p.Type.(string)
			if ts, ok := p.Type.([]any); ok && len(ts) > 0 {
				t, _ = ts[0].(string)
			}
			out[name] = zeroOf(t)
		}
	}
	return out
}

func zeroOf(jsonType string) any {
	switch jsonType {
	case "number", "integer":
		return 0
	case "boolean":
		return false
	case "array":
		return []any{}
	case "object":
		return map[string]any{}
	case "null":
		return nil
	}
	return ""
}

func (r *probeResult) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	name := "(no server info)"
	if r.Server != nil {
		name = strings.TrimSpace(r.Server.Name + " " + r.Server.Version)
	}
	fmt.Fprintf(tw, "server:\t%s\n", name)
	fmt.Fprintf(tw, "url:\t%s\n", r.URL)
	fmt.Fprintf(tw, "protocol:\t%s, MCP %s\n", r.Protocol, r.ProtocolVersion)
	if r.Logins > 0 {
		fmt.Fprintf(tw, "logins:\t%d (unattended)\n", r.Logins)
	}
	fmt.Fprintf(tw, "tools:\t%d\n", len(r.Tools))
	for _, t := range r.Tools {
		fmt.Fprintf(tw, "  %s\t%s\n", t.Name, oneLine(t.Description, 80))
	}
	for _, c := range r.Calls {
		args, _ := json.Marshal(c.Arguments)
		fmt.Fprintf(tw, "call %s %s:\n", c.Tool, args)
		if c.Error != "" {
			fmt.Fprintf(tw, "  error: %s\n", c.Error)
			continue
		}
		if c.Result.IsError {
			fmt.Fprintf(tw, "  (tool error)\n")
		}
		for _, content := range c.Result.Content {
			if t, ok := content.(*mcp.TextContent); ok {
				fmt.Fprintf(tw, "  %s\n", t.Text)
				continue
			}
			b, _ := json.Marshal(content)
			fmt.Fprintf(tw, "  %s\n", oneLine(string(b), 200))
		}
	}
	return tw.Flush()
}

// oneLine shortens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
