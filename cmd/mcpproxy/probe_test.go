//go:build linux

package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/oauth/oauthtest"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// probeJSON is the part of `upstream probe -o json` the tests read.
type probeJSON struct {
	Protocol mcpproxy.Protocol   `json:"protocol"`
	Server   *mcp.Implementation `json:"server"`
	Logins   int                 `json:"logins"`
	Tools    []mcpproxy.Tool     `json:"tools"`
	Calls    []struct {
		Tool   string `json:"tool"`
		Error  string `json:"error"`
		Result struct {
			IsError bool `json:"isError"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
	} `json:"calls"`
}

func decodeProbe(tb testing.TB, r cliResult) probeJSON {
	tb.Helper()
	var p probeJSON
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		tb.Fatalf("stdout is not the probe's JSON: %v\n%s", err, r)
	}
	return p
}

func TestProbe_OAuth(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{Scopes: []string{"mcp.read"}})
	dir := t.TempDir()
	// noSecrets checks that nothing the authorization server issued (client
	// secrets, codes, tokens) was printed.
	noSecrets := func(t *testing.T, r cliResult) {
		t.Helper()
		for _, s := range as.Secrets() {
			if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
				t.Errorf("output shows credential %q: %s", s, r)
			}
		}
	}

	t.Run("NeedsAuthWithoutFollow", func(t *testing.T) {
		r := runCLI(t, dir, nil, "upstream", "probe", as.URL())
		if r.code != 1 {
			t.Fatalf("want exit 1: %s", r)
		}
		if !strings.Contains(r.stderr, "needs login") || !strings.Contains(r.stderr, "mcpproxy auth login") {
			t.Errorf("stderr does not say how to log in: %s", r)
		}
		if r.stdout != "" {
			t.Errorf("printed a result: %s", r)
		}
		if n := as.Clients(); n != 0 {
			t.Errorf("%d clients registered without --auth follow", n)
		}
	})

	t.Run("FollowListsTools", func(t *testing.T) {
		r := runCLI(t, dir, nil, "upstream", "probe", as.URL(), "--auth", "follow", "-o", "json")
		if r.code != 0 {
			t.Fatalf("want exit 0: %s", r)
		}
		p := decodeProbe(t, r)
		if p.Logins != 1 || p.Protocol != mcpproxy.ProtocolStreamableHTTP {
			t.Errorf("logins %d, protocol %q; want 1, streamable-http", p.Logins, p.Protocol)
		}
		if p.Server == nil || p.Server.Name != "oauth-protected" {
			t.Errorf("server info %+v", p.Server)
		}
		if len(p.Tools) != 1 || p.Tools[0].Name != "whoami" {
			t.Errorf("tools %+v; want whoami", p.Tools)
		}
		if len(p.Calls) != 0 || as.Calls() != 0 {
			t.Errorf("called a tool without --call: %+v", p.Calls)
		}
		noSecrets(t, r)
	})

	t.Run("FollowCall", func(t *testing.T) {
		before := as.Calls()
		r := runCLI(t, dir, nil, "upstream", "probe", as.URL(), "--auth", "follow", "--call", "whoami", "--args", "{}")
		if r.code != 0 {
			t.Fatalf("want exit 0: %s", r)
		}
		if !strings.Contains(r.stdout, "call whoami {}:\n  hello, authorized client") {
			t.Errorf("call result not printed: %s", r)
		}
		if as.Calls() != before+1 {
			t.Errorf("server served %d calls; want 1", as.Calls()-before)
		}
		noSecrets(t, r)
	})

	t.Run("FollowSSECallAll", func(t *testing.T) {
		before := as.Calls()
		r := runCLI(t, dir, nil, "upstream", "probe", as.SSEURL(), "--protocol", "sse", "--auth", "follow", "--call-all", "-o", "json")
		if r.code != 0 {
			t.Fatalf("want exit 0: %s", r)
		}
		p := decodeProbe(t, r)
		if p.Protocol != mcpproxy.ProtocolSSE || len(p.Calls) != 1 || p.Calls[0].Tool != "whoami" || p.Calls[0].Error != "" ||
			len(p.Calls[0].Result.Content) != 1 || p.Calls[0].Result.Content[0].Text != "hello, authorized client" {
			t.Errorf("protocol %q, calls %+v", p.Protocol, p.Calls)
		}
		if as.Calls() != before+1 {
			t.Errorf("server served %d calls; want 1", as.Calls()-before)
		}
	})

	t.Run("UnknownTool", func(t *testing.T) {
		r := runCLI(t, dir, nil, "upstream", "probe", as.URL(), "--auth", "follow", "--call", "nope")
		if r.code != 1 || !strings.Contains(r.stderr, `--call: the server has no tool "nope"`) {
			t.Errorf("want exit 1 naming --call: %s", r)
		}
	})
}

func TestProbe_UsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ftp://x/mcp"}, "URL: want an http:// or https:// URL"},
		{[]string{"http://127.0.0.1:1/mcp", "--protocol", "stdio"}, "--protocol: want streamable-http, sse or auto"},
		{[]string{"http://127.0.0.1:1/mcp", "--header", "novalue"}, "--header: want NAME=VALUE"},
		{[]string{"http://127.0.0.1:1/mcp", "--auth", "browser"}, "--auth: want none or follow"},
		{[]string{"http://127.0.0.1:1/mcp", "--call", "x", "--args", "[1]"}, "--args: want a JSON object"},
		{[]string{"http://127.0.0.1:1/mcp", "--args", "{}"}, "--args: needs --call"},
		{[]string{"http://127.0.0.1:1/mcp", "--call", "x", "--call-all"}, "--call and --call-all"},
		{[]string{"http://127.0.0.1:1/mcp", "--client-secret", "s"}, "--client-secret: needs --client-id"},
	} {
		r := runCLI(t, dir, nil, append([]string{"upstream", "probe"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("want exit 2 with %q: %s", tc.want, r)
		}
	}
}

func TestProbe_ArgumentsFromSchema(t *testing.T) {
	for _, tc := range []struct {
		name, schema string
		want         map[string]any
	}{
		{"Empty", `{"type":"object"}`, map[string]any{}},
		{"RequiredZeroValues", `{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"integer"},"s":{"type":"string"},"f":{"type":"boolean"},"opt":{"type":"string"}},"required":["a","b","s","f"]}`,
			map[string]any{"a": 0, "b": 0, "s": "", "f": false}},
		{"DefaultsAndEnum", `{"type":"object","properties":{"d":{"type":"string","default":"x"},"e":{"enum":["p","q"]}},"required":["e"]}`,
			map[string]any{"d": "x", "e": "p"}},
		{"TypeList", `{"properties":{"n":{"type":["integer","null"]}},"required":["n"]}`, map[string]any{"n": 0}},
		{"NotJSON", `nope`, map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := argumentsFromSchema(json.RawMessage(tc.schema)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v; want %#v", got, tc.want)
			}
		})
	}
}

func TestProbe_SchemaDefaults(t *testing.T) {
	got := schemaDefaults(json.RawMessage(`{"type":"object","properties":{"name":{"type":"string","default":"John Doe"},"age":{"type":"integer","default":30},"ok":{"type":"boolean","default":true},"none":{"type":"string"}}}`))
	want := map[string]any{"name": "John Doe", "age": float64(30), "ok": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v; want %#v", got, want)
	}
}

func TestProbe_ConformanceContext(t *testing.T) {
	t.Setenv(conformanceContextEnv, `{"name":"auth/pre-registration","client_id":"ctx-id","client_secret":"ctx-secret"}`)
	got, err := unattendedOAuth(&mcpproxy.OAuthSpec{Scopes: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientID != "ctx-id" || got.ClientSecret != "ctx-secret" || !reflect.DeepEqual(got.Scopes, []string{"a"}) {
		t.Errorf("from the context: %+v", got)
	}
	// Flags win over the context.
	got, err = unattendedOAuth(&mcpproxy.OAuthSpec{ClientID: "flag-id"})
	if err != nil || got.ClientID != "flag-id" || got.ClientSecret != "" {
		t.Errorf("flags: %+v, %v", got, err)
	}
	t.Setenv(conformanceContextEnv, `[`)
	if _, err := unattendedOAuth(nil); err == nil || !strings.Contains(err.Error(), conformanceContextEnv) {
		t.Errorf("bad context: %v; want an error naming %s", err, conformanceContextEnv)
	}
}
