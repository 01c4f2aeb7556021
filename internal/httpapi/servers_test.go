package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/httpauth"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
)

// send sends an authenticated request with body and returns the status,
// the trimmed response body and the response headers.
func send(tb testing.TB, method, url, body string) (int, string, http.Header) {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-API-Key", testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
}

// errorOf decodes an error envelope.
func errorOf(tb testing.TB, body string) (code, message string) {
	tb.Helper()
	var env struct {
		Success bool               `json:"success"`
		Error   httpauth.ErrorBody `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil || env.Success {
		tb.Fatalf("not an error envelope: %s", body)
	}
	return env.Error.Code, env.Error.Message
}

// specOf decodes a success envelope holding a server entry.
func specOf(tb testing.TB, body string) mcpproxy.ServerSpec {
	tb.Helper()
	var env struct {
		Success bool                `json:"success"`
		Data    mcpproxy.ServerSpec `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil || !env.Success {
		tb.Fatalf("not a success envelope with a server: %s", body)
	}
	return env.Data
}

// fileServer returns the named server as the config file now holds it.
func fileServer(tb testing.TB, f *fakeBackend, name string) (mcpproxy.ServerSpec, bool) {
	tb.Helper()
	cfg, _, err := config.Parse([]byte(f.fileBytes()))
	if err != nil {
		tb.Fatalf("config file no longer parses: %v\n%s", err, f.fileBytes())
	}
	s, ok := cfg.Server(name)
	if !ok {
		return mcpproxy.ServerSpec{}, false
	}
	return *s, true
}

const fileWithA = `{
  "mcpServers": [
    {"name": "a", "command": "/bin/cat", "args": ["-u"], "env": {"A": "1"}, "call_timeout": "7s"},
    {"name": "q", "url": "http://127.0.0.1:9/mcp", "quarantined": true}
  ]
}
`

func TestAPI_AddServer(t *testing.T) {
	t.Run("Stdio", func(t *testing.T) {
		f, ts := newTestAPI(t)
		code, body, hdr := send(t, "POST", ts.URL+"/api/v1/servers",
			`{"name": "s", "command": "/bin/cat", "args": ["-u"], "env": {"A": "1"}, "working_dir": "/tmp"}`)
		want := `{"success":true,"data":{"name":"s","command":"/bin/cat","args":["-u"],"env":{"A":"1"},"working_dir":"/tmp","enabled":true,"quarantined":false}}`
		if code != 201 || body != want {
			t.Fatalf("got %d %s\nwant 201 %s", code, body, want)
		}
		if loc := hdr.Get("Location"); loc != "/api/v1/servers/s" {
			t.Errorf("Location = %q", loc)
		}
		got, ok := fileServer(t, f, "s")
		if !ok || !got.Equal(&mcpproxy.ServerSpec{Name: "s", Command: "/bin/cat", Args: []string{"-u"}, Env: map[string]string{"A": "1"}, WorkingDir: "/tmp", Enabled: true}) {
			t.Errorf("file holds %+v (found %v)\n%s", got, ok, f.fileBytes())
		}
		if !strings.Contains(f.fileBytes(), `"enabled": true`) || strings.Contains(f.fileBytes(), "quarantined") {
			t.Errorf("file does not say enabled: true, or mentions quarantine:\n%s", f.fileBytes())
		}
	})
	t.Run("HTTPWithTimeouts", func(t *testing.T) {
		f, ts := newTestAPI(t)
		code, body, _ := send(t, "POST", ts.URL+"/api/v1/servers",
			`{"name": "h", "protocol": "streamable-http", "url": "https://example.com/mcp", "headers": {"Authorization": "Bearer t"},
			  "enabled": false, "connect_timeout": "10s", "call_timeout": 90}`)
		if code != 201 {
			t.Fatalf("got %d %s", code, body)
		}
		want := mcpproxy.ServerSpec{Name: "h", Protocol: mcpproxy.ProtocolStreamableHTTP, URL: "https://example.com/mcp",
			Headers: map[string]string{"Authorization": "Bearer t"}, ConnectTimeout: mcpproxy.Duration(10e9), CallTimeout: mcpproxy.Duration(90e9)}
		if got := specOf(t, body); !got.Equal(&want) {
			t.Errorf("response %+v, want %+v", got, want)
		}
		if got, _ := fileServer(t, f, "h"); !got.Equal(&want) {
			t.Errorf("file %+v, want %+v", got, want)
		}
	})
	t.Run("QuarantineNewServers", func(t *testing.T) {
		f, ts := newTestAPI(t)
		f.setPolicy(func(c *config.Config) { c.QuarantineNewServers = true })
		code, body, _ := send(t, "POST", ts.URL+"/api/v1/servers", `{"name": "s", "command": "/bin/cat"}`)
		if code != 201 || !specOf(t, body).Quarantined {
			t.Fatalf("got %d %s, want 201 quarantined", code, body)
		}
		if got, _ := fileServer(t, f, "s"); !got.Quarantined || !strings.Contains(f.fileBytes(), `"quarantined": true`) {
			t.Errorf("file does not say quarantined: true:\n%s", f.fileBytes())
		}
	})
	// A person may set what an agent may not: quarantine, auto-approval,
	// the OAuth client.
	t.Run("PersonFields", func(t *testing.T) {
		f, ts := newTestAPI(t)
		code, body, _ := send(t, "POST", ts.URL+"/api/v1/servers",
			`{"name": "p", "url": "https://example.com/mcp", "quarantined": true, "auto_approve_tool_changes": true,
			  "oauth": {"client_id": "abc", "client_secret": "${env:SECRET}", "scopes": ["read"], "redirect_port": 8765}}`)
		want := mcpproxy.ServerSpec{Name: "p", URL: "https://example.com/mcp", Enabled: true, Quarantined: true, AutoApproveToolChanges: true,
			OAuth: &mcpproxy.OAuthSpec{ClientID: "abc", ClientSecret: "${env:SECRET}", Scopes: []string{"read"}, RedirectPort: 8765}}
		if code != 201 {
			t.Fatalf("got %d %s", code, body)
		}
		if got := specOf(t, body); !got.Equal(&want) {
			t.Errorf("response %+v, want %+v", got, want)
		}
		if got, _ := fileServer(t, f, "p"); !got.Equal(&want) {
			t.Errorf("file %+v, want %+v\n%s", got, want, f.fileBytes())
		}
	})
	t.Run("QuarantinedFalseKeepsPolicy", func(t *testing.T) {
		f, ts := newTestAPI(t)
		f.setPolicy(func(c *config.Config) { c.QuarantineNewServers = true })
		code, body, _ := send(t, "POST", ts.URL+"/api/v1/servers", `{"name": "s", "command": "/bin/cat", "quarantined": false}`)
		if code != 201 || !specOf(t, body).Quarantined {
			t.Fatalf("got %d %s, want 201 quarantined", code, body)
		}
	})
	t.Run("Duplicate", func(t *testing.T) {
		f, ts := newTestAPI(t)
		f.setFile(t, fileWithA)
		code, body, _ := send(t, "POST", ts.URL+"/api/v1/servers", `{"name": "a", "url": "http://127.0.0.1:1/mcp"}`)
		if c, msg := errorOf(t, body); code != 409 || c != mcpproxy.ECONFLICT || msg != `server "a" already exists` {
			t.Fatalf("got %d %s, want 409 naming the server", code, body)
		}
		if f.fileBytes() != fileWithA {
			t.Errorf("a refused add changed the file:\n%s", f.fileBytes())
		}
	})

	for _, tc := range []struct {
		name, body string
		want       []string // all in the message
	}{
		{"UnknownField", `{"name": "x", "comand": "y"}`, []string{`body: unknown field "comand"`, "known fields: name, protocol, command"}},
		{"UnknownFields", `{"name": "x", "zz": 1, "aa": 2}`, []string{`body: unknown fields "aa", "zz"`}},
		{"FieldsAreCaseSensitive", `{"Name": "x", "command": "y"}`, []string{`body: unknown field "Name"`}},
		{"TypeIsNotAField", `{"name": "x", "url": "http://h", "type": "sse"}`, []string{`body: unknown field "type"`}},
		{"UnknownFieldHint", `{"name": "x", "url": "http://h", "oauht": {}}`, []string{`body: unknown field "oauht" (did you mean oauth?)`}},
		{"OAuthUnknownField", `{"name": "x", "url": "http://h", "oauth": {"client": "a"}}`, []string{"body.oauth.client: unknown field"}},
		{"OAuthType", `{"name": "x", "url": "http://h", "oauth": []}`, []string{"body.oauth: want object, got array"}},
		{"OAuthStdio", `{"name": "x", "command": "y", "oauth": {}}`, []string{"body.oauth: only HTTP and SSE servers"}},
		{"AutoApproveType", `{"name": "x", "command": "y", "auto_approve_tool_changes": "yes"}`, []string{"body.auto_approve_tool_changes: want true or false, got string"}},
		{"NoName", `{"command": "x"}`, []string{"body.name: required"}},
		{"BadName", `{"name": "bad name!", "command": "x"}`, []string{`body.name: invalid name "bad name!"`}},
		{"NameDot", `{"name": ".", "command": "x"}`, []string{`body.name: invalid name "."`, `"." and ".." are path segments`}},
		{"NameDotDot", `{"name": "..", "command": "x"}`, []string{`body.name: invalid name ".."`, `"." and ".." are path segments`}},
		{"NoCommandOrURL", `{"name": "x"}`, []string{`body: needs "command" (stdio) or "url" (HTTP)`}},
		{"StdioNeedsCommand", `{"name": "x", "protocol": "stdio", "url": "http://h/mcp"}`, []string{"body.command: required for protocol stdio"}},
		{"BadURL", `{"name": "x", "url": "ftp://x"}`, []string{`body.url: invalid URL "ftp://x"`}},
		{"BadProtocol", `{"name": "x", "url": "http://h", "protocol": "pigeon"}`, []string{`body.protocol: unknown protocol "pigeon"`}},
		{"NegativeTimeout", `{"name": "x", "command": "y", "call_timeout": "-1s"}`, []string{"body.call_timeout: must not be negative"}},
		{"EveryProblem", `{"name": "bad name!", "url": "ftp://x"}`, []string{"body.name: invalid name", `body.url: invalid URL "ftp://x"`}},
		{"NameType", `{"name": 5, "command": "y"}`, []string{"body.name: want string, got number"}},
		{"ArgsType", `{"name": "x", "command": "y", "args": "-v"}`, []string{"body.args: want array of strings, got string"}},
		{"ArgsElemType", `{"name": "x", "command": "y", "args": ["-v", 1]}`, []string{"body.args[1]: want string, got number"}},
		{"ArgsElemNull", `{"name": "x", "command": "y", "args": [null]}`, []string{"body.args[0]: want string, got null"}},
		{"EnvType", `{"name": "x", "command": "y", "env": ["A=1"]}`, []string{"body.env: want object of strings, got array"}},
		{"EnvElemType", `{"name": "x", "command": "y", "env": {"A": 1}}`, []string{"body.env.A: want string, got number"}},
		{"HeaderElemType", `{"name": "x", "url": "http://h", "headers": {"X Y": true}}`, []string{`body.headers["X Y"]: want string, got boolean`}},
		{"EnabledType", `{"name": "x", "command": "y", "enabled": "yes"}`, []string{"body.enabled: want true or false, got string"}},
		{"TimeoutType", `{"name": "x", "command": "y", "connect_timeout": "soon"}`, []string{`body.connect_timeout: invalid duration "soon"`}},
		{"TimeoutKind", `{"name": "x", "command": "y", "connect_timeout": {}}`, []string{`body.connect_timeout: want a duration like "30s", got {}`}},
		{"EveryTypeProblem", `{"name": 1, "args": {}}`, []string{"body.name: want string", "body.args: want array of strings"}},
		{"Empty", ``, []string{"body: empty; want a JSON object"}},
		{"NotObject", `["name"]`, []string{"body: want a JSON object, got array"}},
		{"Null", `null`, []string{"body: want a JSON object, got null"}},
		{"BadJSON", `{"name": "x",`, []string{"body: invalid JSON"}},
		{"TrailingData", `{"name": "x", "command": "y"} {}`, []string{"body: invalid JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ts := newTestAPI(t)
			code, body, _ := send(t, "POST", ts.URL+"/api/v1/servers", tc.body)
			c, msg := errorOf(t, body)
			if code != 400 || c != mcpproxy.EINVALID {
				t.Fatalf("got %d %s, want 400 invalid", code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if f.fileBytes() != `{"mcpServers": []}` {
				t.Errorf("a refused add changed the file:\n%s", f.fileBytes())
			}
		})
	}

	t.Run("TooLarge", func(t *testing.T) {
		f, ts := newTestAPI(t)
		big := `{"name": "x", "command": "y", "args": ["` + strings.Repeat("a", maxBodyBytes) + `"]}`
		code, body, _ := send(t, "POST", ts.URL+"/api/v1/servers", big)
		if c, msg := errorOf(t, body); code != 413 || c != mcpproxy.ETOOLARGE || !strings.HasPrefix(msg, "body: larger than 1048576 bytes") {
			t.Fatalf("got %d %s, want 413 too_large", code, body)
		}
		if f.fileBytes() != `{"mcpServers": []}` {
			t.Errorf("file changed:\n%s", f.fileBytes())
		}
		// Just under the limit is read (and then judged on its content).
		fits := `{"name": "x", "command": "y", "args": ["` + strings.Repeat("a", maxBodyBytes-64) + `"]}`
		if code, body, _ := send(t, "POST", ts.URL+"/api/v1/servers", fits); code != 201 {
			t.Errorf("a body under 1 MiB: %d %.200s", code, body)
		}
	})
}

func TestAPI_UpdateServer(t *testing.T) {
	for _, tc := range []struct {
		name, server, body string
		want               mcpproxy.ServerSpec
	}{
		{"OnlyArgs", "a", `{"args": ["-v"]}`, mcpproxy.ServerSpec{Name: "a", Command: "/bin/cat", Args: []string{"-v"},
			Env: map[string]string{"A": "1"}, CallTimeout: mcpproxy.Duration(7e9), Enabled: true}},
		{"NullKeeps", "a", `{"command": null, "env": null, "call_timeout": null, "args": ["-x"]}`, mcpproxy.ServerSpec{Name: "a", Command: "/bin/cat",
			Args: []string{"-x"}, Env: map[string]string{"A": "1"}, CallTimeout: mcpproxy.Duration(7e9), Enabled: true}},
		{"Disable", "a", `{"enabled": false}`, mcpproxy.ServerSpec{Name: "a", Command: "/bin/cat", Args: []string{"-u"},
			Env: map[string]string{"A": "1"}, CallTimeout: mcpproxy.Duration(7e9)}},
		{"EmptyClears", "a", `{"url": "http://127.0.0.1:9/mcp", "command": "", "args": [], "env": {}, "call_timeout": 0}`,
			mcpproxy.ServerSpec{Name: "a", URL: "http://127.0.0.1:9/mcp", Enabled: true}},
		{"SameName", "a", `{"name": "a", "connect_timeout": "3s"}`, mcpproxy.ServerSpec{Name: "a", Command: "/bin/cat", Args: []string{"-u"},
			Env: map[string]string{"A": "1"}, CallTimeout: mcpproxy.Duration(7e9), ConnectTimeout: mcpproxy.Duration(3e9), Enabled: true}},
		// A person's change neither quarantines nor approves.
		{"QuarantineKept", "q", `{"url": "http://127.0.0.1:10/mcp"}`, mcpproxy.ServerSpec{Name: "q", URL: "http://127.0.0.1:10/mcp", Enabled: true, Quarantined: true}},
		{"Quarantine", "a", `{"quarantined": true}`, mcpproxy.ServerSpec{Name: "a", Command: "/bin/cat", Args: []string{"-u"},
			Env: map[string]string{"A": "1"}, CallTimeout: mcpproxy.Duration(7e9), Enabled: true, Quarantined: true}},
		{"StillQuarantined", "q", `{"quarantined": true}`, mcpproxy.ServerSpec{Name: "q", URL: "http://127.0.0.1:9/mcp", Enabled: true, Quarantined: true}},
		{"NotQuarantinedIsNoOp", "a", `{"quarantined": false, "args": ["-v"]}`, mcpproxy.ServerSpec{Name: "a", Command: "/bin/cat", Args: []string{"-v"},
			Env: map[string]string{"A": "1"}, CallTimeout: mcpproxy.Duration(7e9), Enabled: true}},
		{"AutoApproveAndOAuth", "q", `{"auto_approve_tool_changes": true, "oauth": {"client_id": "abc"}}`, mcpproxy.ServerSpec{Name: "q", URL: "http://127.0.0.1:9/mcp",
			Enabled: true, Quarantined: true, AutoApproveToolChanges: true, OAuth: &mcpproxy.OAuthSpec{ClientID: "abc"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ts := newTestAPI(t)
			f.setFile(t, fileWithA)
			code, body, _ := send(t, "PATCH", ts.URL+"/api/v1/servers/"+tc.server, tc.body)
			if code != 200 {
				t.Fatalf("got %d %s", code, body)
			}
			if got := specOf(t, body); !got.Equal(&tc.want) {
				t.Errorf("response %+v\nwant %+v", got, tc.want)
			}
			if got, _ := fileServer(t, f, tc.server); !got.Equal(&tc.want) {
				t.Errorf("file %+v\nwant %+v\n%s", got, tc.want, f.fileBytes())
			}
		})
	}

	for _, tc := range []struct {
		name, server, body string
		status             int
		want               []string
	}{
		{"NotFound", "zz", `{"command": "x"}`, 404, []string{`server "zz" not found`}},
		{"NoField", "a", `{}`, 400, []string{"body: no field to change; pass any of protocol, command"}},
		{"OnlyName", "a", `{"name": "a"}`, 400, []string{"body: no field to change"}},
		{"Rename", "a", `{"name": "b", "command": "x"}`, 400, []string{`body.name: "b" is not the server in the path ("a")`}},
		{"UnknownField", "a", `{"comand": "x"}`, 400, []string{`body: unknown field "comand"`}},
		{"BadURL", "a", `{"url": "htp:/x"}`, 400, []string{`body.url: invalid URL "htp:/x"`}},
		{"NothingLeft", "a", `{"command": ""}`, 400, []string{`body: needs "command" (stdio) or "url" (HTTP)`}},
		{"ProtocolNeedsURL", "a", `{"protocol": "sse"}`, 400, []string{"body.url: required for protocol sse"}},
		{"ArgsElemType", "a", `{"args": [true]}`, 400, []string{"body.args[0]: want string, got boolean"}},
		{"EnabledType", "a", `{"enabled": 1}`, 400, []string{"body.enabled: want true or false, got number"}},
		// Approval takes the fingerprint of the reviewed spec.
		{"Unquarantine", "q", `{"quarantined": false}`, 400, []string{"body.quarantined: false would approve the server unreviewed", "/api/v1/servers/q/unquarantine"}},
		{"NotObject", "a", `"x"`, 400, []string{"body: want a JSON object, got string"}},
		{"TooLarge", "a", `{"command": "` + strings.Repeat("x", maxBodyBytes) + `"}`, 413, []string{"body: larger than"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ts := newTestAPI(t)
			f.setFile(t, fileWithA)
			code, body, _ := send(t, "PATCH", ts.URL+"/api/v1/servers/"+tc.server, tc.body)
			if code != tc.status {
				t.Fatalf("got %d %s, want %d", code, body, tc.status)
			}
			_, msg := errorOf(t, body)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if f.fileBytes() != fileWithA {
				t.Errorf("a refused update changed the file:\n%s", f.fileBytes())
			}
		})
	}
}

func TestAPI_RemoveServer(t *testing.T) {
	f, ts := newTestAPI(t)
	f.setFile(t, fileWithA)
	code, body, _ := send(t, "DELETE", ts.URL+"/api/v1/servers/a", "")
	if want := `{"success":true,"data":{"removed":true,"server":"a"}}`; code != 200 || body != want {
		t.Fatalf("got %d %s\nwant 200 %s", code, body, want)
	}
	if _, ok := fileServer(t, f, "a"); ok {
		t.Errorf("a still in the file:\n%s", f.fileBytes())
	}
	if _, ok := fileServer(t, f, "q"); !ok {
		t.Errorf("removing a lost q:\n%s", f.fileBytes())
	}
	for _, name := range []string{"a", "zz"} {
		code, body, _ := send(t, "DELETE", ts.URL+"/api/v1/servers/"+name, "")
		if c, msg := errorOf(t, body); code != 404 || c != mcpproxy.ENOTFOUND || msg != `server "`+name+`" not found` {
			t.Errorf("DELETE %s: %d %s, want 404", name, code, body)
		}
	}
}

// TestAPI_Policy: the config's policy keys refuse the mutating endpoints
// with 403 naming the key, before anything is read or changed; reading
// stays open.
func TestAPI_Policy(t *testing.T) {
	type endpoint struct{ name, method, path, body string }
	var (
		add     = endpoint{"Add", "POST", "/api/v1/servers", `{"name": "new", "command": "/bin/cat"}`}
		update  = endpoint{"Update", "PATCH", "/api/v1/servers/a", `{"args": ["-v"]}`}
		remove  = endpoint{"Remove", "DELETE", "/api/v1/servers/a", ""}
		enable  = endpoint{"Enable", "POST", "/api/v1/servers/a/enable", ""}
		disable = endpoint{"Disable", "POST", "/api/v1/servers/a/disable", ""}
		restart = endpoint{"Restart", "POST", "/api/v1/servers/a/restart", ""}
		all     = []endpoint{add, update, remove, enable, disable, restart}
		reads   = []string{"/api/v1/status", "/api/v1/servers", "/api/v1/servers/a", "/api/v1/servers/a/tools", "/api/v1/servers/a/logs"}
	)
	for _, tc := range []struct {
		name    string
		policy  func(c *config.Config)
		want    string
		refused []endpoint
	}{
		{"ReadOnly", func(c *config.Config) { c.ReadOnly = true }, "this proxy is read-only (read_only in its config)", all},
		{"DisableManagement", func(c *config.Config) { c.DisableManagement = true }, "(disable_management)", all},
		{"NoAdd", func(c *config.Config) { c.AllowServerAdd = false }, "(allow_server_add: false)", []endpoint{add}},
		{"NoRemove", func(c *config.Config) { c.AllowServerRemove = false }, "(allow_server_remove: false)", []endpoint{remove}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ep := range all {
				t.Run(ep.name, func(t *testing.T) {
					f, ts := newTestAPI(t, srv("a", mcpproxy.StateReady))
					f.setFile(t, fileWithA)
					f.setPolicy(tc.policy)
					code, body, _ := send(t, ep.method, ts.URL+ep.path, ep.body)
					if !slices.Contains(tc.refused, ep) {
						if code/100 != 2 {
							t.Errorf("%s %s: %d %s, want it allowed", ep.method, ep.path, code, body)
						}
						return
					}
					if c, msg := errorOf(t, body); code != 403 || c != mcpproxy.EFORBIDDEN || !strings.Contains(msg, tc.want) {
						t.Errorf("%s %s: %d %s, want 403 naming %s", ep.method, ep.path, code, body, tc.want)
					}
					f.mu.Lock()
					commands := slices.Clone(f.commands)
					f.mu.Unlock()
					if len(commands) != 0 || f.fileBytes() != fileWithA {
						t.Errorf("refused request reached the backend: %v\n%s", commands, f.fileBytes())
					}
				})
			}
			_, ts := newTestAPI(t, srv("a", mcpproxy.StateReady))
			for _, p := range reads {
				if code, body := do(t, "GET", ts.URL+p, testKey); code != 200 {
					t.Errorf("GET %s: %d %s, want 200", p, code, body)
				}
			}
		})
	}
}

// FuzzServerBody: whatever bytes arrive as a server entry, the handlers
// answer with a client error or success, never a panic or a 5xx.
func FuzzServerBody(f *testing.F) {
	for _, s := range []string{
		`{"name": "s", "command": "/bin/cat", "args": ["-u"], "env": {"A": "1"}}`,
		`{"name": "h", "url": "https://example.com/mcp", "headers": {"X": "y"}, "protocol": "sse", "call_timeout": "5s", "connect_timeout": 3}`,
		`{"name": "a", "enabled": false}`,
		`{"comand": 1}`, `{"args": [1, null, {}]}`, `{"env": {"": null}}`, `{"connect_timeout": 1e308}`,
		`{"call_timeout": -9223372036854775808}`, `{"name": "\u0000\ud800"}`, `[]`, `null`, `"x"`, ``, `{`, `{}{}`,
	} {
		f.Add([]byte(s))
	}
	cfg := config.Default()
	cfg.APIKey = testKey
	b := &fakeBackend{view: stateview.New(), cfg: cfg}
	b.setFile(f, fileWithA)
	start := b.Config()
	api := New(Options{Backend: b})
	f.Fuzz(func(t *testing.T, data []byte) {
		b.mu.Lock()
		b.file, b.cfg, b.commands = []byte(fileWithA), start, nil
		b.mu.Unlock()
		for _, target := range []struct{ method, path string }{
			{"POST", "/api/v1/servers"},
			{"PATCH", "/api/v1/servers/a"},
		} {
			req := httptest.NewRequest(target.method, target.path, strings.NewReader(string(data)))
			req.Header.Set("X-API-Key", testKey)
			w := httptest.NewRecorder()
			api.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", target.method, target.path, data, w.Code, w.Body)
			}
			if w.Code/100 == 2 {
				if _, _, err := config.Parse([]byte(b.fileBytes())); err != nil {
					t.Fatalf("%s %s %q: accepted, and the file no longer parses: %v", target.method, target.path, data, err)
				}
			}
		}
	})
}
