package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/client"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// request is what a fake daemon saw.
type request struct {
	Method, Path, Query, Key, UserAgent, ContentType string
	Body                                             string
}

// daemon is an httptest server that answers each path with a canned
// status and body and records the requests.
type daemon struct {
	*httptest.Server
	mu   sync.Mutex
	seen []request // guarded by mu
}

type reply struct {
	status int
	body   string
}

func newDaemon(tb testing.TB, routes map[string]reply) *daemon {
	tb.Helper()
	d := &daemon{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.seen = append(d.seen, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-API-Key"),
			r.Header.Get("User-Agent"), r.Header.Get("Content-Type"), string(body)})
		d.mu.Unlock()
		rep, ok := routes[r.Method+" "+r.URL.Path]
		if !ok {
			rep = reply{404, `{"success":false,"error":{"code":"not_found","message":"no endpoint ` + r.Method + " " + r.URL.Path + `"}}`}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.body)
	}))
	tb.Cleanup(d.Close)
	return d
}

func (d *daemon) last(tb testing.TB) request {
	tb.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seen) == 0 {
		tb.Fatal("no request reached the daemon")
	}
	return d.seen[len(d.seen)-1]
}

func ok(data string) reply { return reply{200, `{"success":true,"data":` + data + `}`} }

func TestClient_DecodesEnvelope(t *testing.T) {
	ctx := context.Background()
	d := newDaemon(t, map[string]reply{
		"GET /api/v1/status":                   ok(`{"version":"1.2.3","servers":2,"counts":{"ready":1,"error":1},"total_tools":7,"quarantined":1,"pending_tools":3,"unknown_later":true}`),
		"GET /api/v1/servers":                  ok(`[{"name":"a","protocol":"stdio","enabled":true,"quarantined":false,"state":"ready","retry_count":0,"tool_count":2,"pending_tools":0,"blocked_tools":0}]`),
		"GET /api/v1/servers/a b":              ok(`{"name":"a b","state":"ready","tools":[{"name":"t","approval":"approved"}]}`),
		"GET /api/v1/servers/a/tools":          ok(`[{"name":"t","approval":"changed","warnings":[{"kind":"instructions","field":"description","detail":"x"}],"approved":{"name":"t"},"diff":"-a\n+b"}]`),
		"GET /api/v1/servers/a/logs":           ok(`{"server":"a","lines":["one","two"],"file":"/d/logs/server-a.log"}`),
		"POST /api/v1/servers":                 {201, `{"success":true,"data":{"name":"n","command":"c","enabled":false,"quarantined":false}}`},
		"PATCH /api/v1/servers/a":              ok(`{"name":"a","command":"c","enabled":true,"quarantined":false,"call_timeout":"9s"}`),
		"DELETE /api/v1/servers/a":             ok(`{"server":"a","removed":true}`),
		"POST /api/v1/servers/a/enable":        ok(`{"server":"a","enabled":true}`),
		"POST /api/v1/servers/a/disable":       ok(`{"server":"a","enabled":false}`),
		"POST /api/v1/servers/a/restart":       {202, `{"success":true,"data":{"server":"a","restarting":true}}`},
		"POST /api/v1/servers/a/quarantine":    ok(`{"server":"a","quarantined":true}`),
		"POST /api/v1/servers/a/unquarantine":  ok(`{"server":"a","quarantined":false}`),
		"POST /api/v1/servers/a/tools/approve": ok(`{"server":"a","approved":["t"]}`),
		"POST /api/v1/servers/a/tools/block":   ok(`{"server":"a","blocked":["t","u"]}`),
		"GET /api/v1/quarantine":               ok(`[{"server":"q","quarantined":true,"state":"ready","tools":[{"name":"t","approval":"pending"}]}]`),
		"GET /api/v1/activity":                 ok(`{"records":[{"id":"r1","kind":"tool_call","endpoint":"/mcp","client":{"name":"c"},"server":"a","tool":"t","arguments":{"x":1},"status":"ok","duration_ms":1.5,"result_size":3}],"next_cursor":"r1"}`),
		"GET /api/v1/activity/r1":              ok(`{"id":"r1","kind":"management","action":"enable","status":"ok"}`),
		"GET /api/v1/tools/search":             ok(`[{"id":"a:t","server":"a","name":"t","score":1.25}]`),
	})
	c := client.New(d.URL+"/", "key-1")

	t.Run("Status", func(t *testing.T) {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := apiv1.Status{Version: "1.2.3", Servers: 2, Counts: map[mcpproxy.ServerState]int{"ready": 1, "error": 1}, TotalTools: 7, Quarantined: 1, PendingTools: 3}
		if !reflect.DeepEqual(st, want) {
			t.Errorf("Status = %+v, want %+v", st, want)
		}
		r := d.last(t)
		if r.Key != "key-1" || r.UserAgent != "mcpproxy-cli" || r.Path != "/api/v1/status" {
			t.Errorf("request %+v, want X-API-Key key-1, User-Agent mcpproxy-cli, no double slash", r)
		}
	})
	t.Run("Servers", func(t *testing.T) {
		list, err := c.Servers(ctx, mcpproxy.StateReady)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Name != "a" || list[0].State != mcpproxy.StateReady || list[0].ToolCount != 2 {
			t.Errorf("Servers = %+v", list)
		}
		if q := d.last(t).Query; q != "state=ready" {
			t.Errorf("query %q, want state=ready", q)
		}
	})
	t.Run("ServerEscapesName", func(t *testing.T) {
		s, err := c.Server(ctx, "a b")
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != "a b" || len(s.Tools) != 1 || s.Tools[0].Approval != mcpproxy.ApprovalApproved {
			t.Errorf("Server = %+v", s)
		}
	})
	t.Run("ServerTools", func(t *testing.T) {
		tools, err := c.ServerTools(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if len(tools) != 1 || tools[0].Approval != mcpproxy.ApprovalChanged || tools[0].Approved == nil ||
			tools[0].Diff != "-a\n+b" || len(tools[0].Warnings) != 1 || tools[0].Warnings[0].Kind != "instructions" {
			t.Errorf("ServerTools = %+v", tools)
		}
	})
	t.Run("Logs", func(t *testing.T) {
		l, err := c.Logs(ctx, "a", 5)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(l, apiv1.Logs{Server: "a", Lines: []string{"one", "two"}, File: "/d/logs/server-a.log"}) {
			t.Errorf("Logs = %+v", l)
		}
		if q := d.last(t).Query; q != "tail=5" {
			t.Errorf("query %q, want tail=5", q)
		}
	})
	t.Run("AddServer", func(t *testing.T) {
		spec, err := c.AddServer(ctx, mcpproxy.ServerSpec{Name: "n", Command: "c", Args: []string{"-x"}})
		if err != nil {
			t.Fatal(err)
		}
		if spec.Name != "n" || spec.Enabled {
			t.Errorf("AddServer = %+v", spec)
		}
		r := d.last(t)
		if r.ContentType != "application/json" || r.Body != `{"name":"n","command":"c","args":["-x"],"enabled":false,"quarantined":false}` {
			t.Errorf("POST body %s (%s)", r.Body, r.ContentType)
		}
	})
	t.Run("UpdateServer", func(t *testing.T) {
		spec, err := c.UpdateServer(ctx, "a", map[string]any{"call_timeout": "9s"})
		if err != nil {
			t.Fatal(err)
		}
		if spec.CallTimeout.D().String() != "9s" {
			t.Errorf("UpdateServer = %+v", spec)
		}
		if r := d.last(t); r.Method != "PATCH" || r.Body != `{"call_timeout":"9s"}` {
			t.Errorf("request %+v", r)
		}
	})
	t.Run("Actions", func(t *testing.T) {
		if r, err := c.RemoveServer(ctx, "a"); err != nil || r != (apiv1.Removed{Server: "a", Removed: true}) {
			t.Errorf("RemoveServer = %+v, %v", r, err)
		}
		if r, err := c.SetEnabled(ctx, "a", true); err != nil || r != (apiv1.Enabled{Server: "a", Enabled: true}) {
			t.Errorf("SetEnabled(true) = %+v, %v", r, err)
		}
		if r, err := c.SetEnabled(ctx, "a", false); err != nil || r != (apiv1.Enabled{Server: "a"}) {
			t.Errorf("SetEnabled(false) = %+v, %v", r, err)
		}
		if r, err := c.Restart(ctx, "a"); err != nil || r != (apiv1.Restarted{Server: "a", Restarting: true}) {
			t.Errorf("Restart = %+v, %v", r, err)
		}
		if r, err := c.QuarantineServer(ctx, "a"); err != nil || r != (apiv1.Quarantined{Server: "a", Quarantined: true}) {
			t.Errorf("QuarantineServer = %+v, %v", r, err)
		}
		if r, err := c.Unquarantine(ctx, "a", "fp1"); err != nil || r != (apiv1.Quarantined{Server: "a"}) {
			t.Errorf("Unquarantine = %+v, %v", r, err)
		}
		if r := d.last(t); r.Body != `{"fingerprint":"fp1"}` {
			t.Errorf("unquarantine body %s", r.Body)
		}
	})
	t.Run("ToolDecisions", func(t *testing.T) {
		d1, err := c.ApproveTools(ctx, "a", []mcpproxy.ToolRef{{Name: "t", Fingerprint: "f"}})
		if err != nil || !reflect.DeepEqual(d1.Approved, []string{"t"}) {
			t.Errorf("ApproveTools = %+v, %v", d1, err)
		}
		if r := d.last(t); r.Body != `{"tools":[{"name":"t","fingerprint":"f"}]}` {
			t.Errorf("approve body %s", r.Body)
		}
		d2, err := c.BlockTools(ctx, "a", nil, true)
		if err != nil || !reflect.DeepEqual(d2.Blocked, []string{"t", "u"}) {
			t.Errorf("BlockTools = %+v, %v", d2, err)
		}
		if r := d.last(t); r.Body != `{"all":true}` {
			t.Errorf("block body %s", r.Body)
		}
	})
	t.Run("Quarantine", func(t *testing.T) {
		w, err := c.Quarantine(ctx)
		if err != nil || len(w) != 1 || !w[0].Quarantined || w[0].Tools[0].Approval != mcpproxy.ApprovalPending {
			t.Errorf("Quarantine = %+v, %v", w, err)
		}
	})
	t.Run("Activity", func(t *testing.T) {
		p, err := c.Activity(ctx, client.ActivityFilter{Server: "a", Status: "ok", Since: "1h", Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) != 1 || p.NextCursor != "r1" || string(p.Records[0].Arguments) != `{"x":1}` || p.Records[0].Client.Name != "c" {
			t.Errorf("Activity = %+v", p)
		}
		if q := d.last(t).Query; q != "limit=5&server=a&since=1h&status=ok" {
			t.Errorf("query %q", q)
		}
		r, err := c.ActivityRecord(ctx, "r1")
		if err != nil || r.Action != "enable" {
			t.Errorf("ActivityRecord = %+v, %v", r, err)
		}
	})
	t.Run("SearchTools", func(t *testing.T) {
		found, err := c.SearchTools(ctx, "read file", 3)
		if err != nil || len(found) != 1 || found[0].ID != "a:t" || found[0].Score != 1.25 {
			t.Errorf("SearchTools = %+v, %v", found, err)
		}
		if q := d.last(t).Query; q != "limit=3&q=read+file" {
			t.Errorf("query %q", q)
		}
	})
}

func TestClient_Errors(t *testing.T) {
	ctx := context.Background()
	d := newDaemon(t, map[string]reply{
		"GET /api/v1/status":         {401, `{"success":false,"error":{"code":"unauthorized","message":"missing or wrong API key"}}`},
		"POST /api/v1/servers":       {409, `{"success":false,"error":{"code":"conflict","message":"server \"x\" already exists"}}`},
		"GET /api/v1/quarantine":     {502, `<html>bad gateway</html>`},
		"GET /api/v1/tools/search":   {200, `{"success":false}`},
		"GET /api/v1/servers/x/logs": ok(`{"lines": "not a list"}`),
	})
	c := client.New(d.URL, "")

	tests := []struct {
		name     string
		call     func() error
		code     string // "" for a non-API error
		contains string
	}{
		{"Unauthorized", func() error { _, err := c.Status(ctx); return err }, mcpproxy.EUNAUTHORIZED, "missing or wrong API key"},
		{"Conflict", func() error { _, err := c.AddServer(ctx, mcpproxy.ServerSpec{Name: "x"}); return err }, mcpproxy.ECONFLICT, `server "x" already exists`},
		{"NotFound", func() error { _, err := c.Server(ctx, "nope"); return err }, mcpproxy.ENOTFOUND, "no endpoint GET /api/v1/servers/nope"},
		{"NotAnEnvelope", func() error { _, err := c.Quarantine(ctx); return err }, "", "unexpected response 502 Bad Gateway (is this an mcpproxy daemon?)"},
		{"FailureWithoutError", func() error { _, err := c.SearchTools(ctx, "x", 0); return err }, "", "unexpected response 200 OK"},
		{"BadData", func() error { _, err := c.Logs(ctx, "x", 0); return err }, "", "decode response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			var e *mcpproxy.Error
			isAPI := errors.As(err, &e)
			if tt.code != "" && (!isAPI || e.Code != tt.code) {
				t.Errorf("error %v (%T), want *mcpproxy.Error with code %s", err, err, tt.code)
			}
			if tt.code == "" && isAPI {
				t.Errorf("error %v is an API error with code %s, want a plain error", err, e.Code)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", err, tt.contains)
			}
		})
	}
	if r := d.last(t); r.Key != "" {
		t.Errorf("sent X-API-Key %q with an empty key", r.Key)
	}
}

// closedURL returns the URL of a loopback port that nothing listens on.
func closedURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestClient_NoDaemon(t *testing.T) {
	base := closedURL(t)
	c := client.New(base, "k")
	want := "no mcpproxy daemon is running at " + base + " (start it with: mcpproxy serve)"
	for name, call := range map[string]func() error{
		"REST": func() error { _, err := c.Status(context.Background()); return err },
		"MCP":  func() error { _, err := c.CallTool(context.Background(), "s", "t", nil, "test"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			var nd *client.NoDaemonError
			if !errors.As(err, &nd) || nd.URL != base {
				t.Fatalf("error %v (%T), want *NoDaemonError for %s", err, err, base)
			}
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

func TestClient_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := newDaemon(t, nil)
	if _, err := client.New(d.URL, "").Status(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Status with a cancelled context: %v, want context.Canceled", err)
	}
}

// mcpDaemon serves an MCP server at /mcp/server/up (checking the API key,
// as the daemon does off loopback) and refuses other servers with the
// daemon's error envelope.
func mcpDaemon(tb testing.TB, key string) (*httptest.Server, *clientNames) {
	tb.Helper()
	names := &clientNames{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(_ context.Context, req *mcp.CallToolRequest, in struct {
		Message string `json:"message"`
	}) (*mcp.CallToolResult, any, error) {
		names.add(req.Session.InitializeParams().ClientInfo.Name)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Message}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "fail"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "boom"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp/server/{name}", func(w http.ResponseWriter, r *http.Request) {
		refuse := func(status int, code, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]any{"success": false, "error": map[string]string{"code": code, "message": msg}})
		}
		switch {
		case r.Header.Get("X-API-Key") != key:
			refuse(401, "unauthorized", "this MCP endpoint needs the API key")
		case r.PathValue("name") == "quarantined":
			refuse(403, "forbidden", `server "quarantined" is quarantined`)
		case r.PathValue("name") != "up":
			refuse(404, "not_found", `unknown server "`+r.PathValue("name")+`"`)
		default:
			h.ServeHTTP(w, r)
		}
	})
	ts := httptest.NewServer(mux)
	tb.Cleanup(ts.Close)
	return ts, names
}

type clientNames struct {
	mu    sync.Mutex
	names []string // guarded by mu
}

func (c *clientNames) add(n string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names = append(c.names, n)
}

func (c *clientNames) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.names...)
}

func TestClient_CallTool(t *testing.T) {
	ctx := context.Background()
	ts, names := mcpDaemon(t, "secret")
	c := client.New(ts.URL, "secret")

	t.Run("Result", func(t *testing.T) {
		res, err := c.CallTool(ctx, "up", "echo", json.RawMessage(`{"message":"hello"}`), "1.0")
		if err != nil {
			t.Fatal(err)
		}
		if res.IsError || len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "hello" {
			t.Errorf("result %+v", res)
		}
		if got := names.get(); len(got) == 0 || got[len(got)-1] != client.ClientName {
			t.Errorf("client names seen by the server %v, want %s", got, client.ClientName)
		}
	})
	t.Run("ToolError", func(t *testing.T) {
		res, err := c.CallTool(ctx, "up", "fail", nil, "1.0")
		if err != nil {
			t.Fatal(err)
		}
		if !res.IsError {
			t.Errorf("result %+v, want IsError", res)
		}
	})
	for _, tt := range []struct {
		name, server, key, code, msg string
	}{
		{"UnknownServer", "nope", "secret", mcpproxy.ENOTFOUND, `unknown server "nope"`},
		{"Quarantined", "quarantined", "secret", mcpproxy.EFORBIDDEN, `server "quarantined" is quarantined`},
		{"WrongKey", "up", "wrong", mcpproxy.EUNAUTHORIZED, "this MCP endpoint needs the API key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.New(ts.URL, tt.key).CallTool(ctx, tt.server, "echo", nil, "1.0")
			var e *mcpproxy.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Message != tt.msg {
				t.Errorf("error %v (%T), want the daemon's %s error %q", err, err, tt.code, tt.msg)
			}
		})
	}
}

// TestAddServer_Body: the body of POST /api/v1/servers is the spec as a
// config entry, every field a person may set included.
func TestAddServer_Body(t *testing.T) {
	spec := mcpproxy.ServerSpec{
		Name: "s", Protocol: mcpproxy.ProtocolStreamableHTTP, URL: "https://h/mcp", Enabled: true, Quarantined: true,
		ConnectTimeout: mcpproxy.Duration(10e9), AutoApproveToolChanges: true,
		OAuth: &mcpproxy.OAuthSpec{ClientID: "id", Scopes: []string{"read"}},
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	in, err := config.DecodeServerInput(b, config.InputOptions{Field: "body", Allowed: config.PersonFields})
	if err != nil {
		t.Fatalf("the daemon's decoder refuses the client's body %s: %v", b, err)
	}
	var got mcpproxy.ServerSpec
	in.Apply(&got)
	if !got.Equal(&spec) {
		t.Errorf("decoded %+v\nwant    %+v", got, spec)
	}
}
