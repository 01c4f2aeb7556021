package config

import (
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func TestParse_OAuth(t *testing.T) {
	t.Run("Valid", func(t *testing.T) {
		cfg, warnings, err := Parse([]byte(`{"mcpServers": [{"name": "a", "url": "https://h/mcp",
			"oauth": {"client_id": "cid", "client_secret": "${env:SECRET}", "scopes": ["read", "write"], "redirect_port": 8765}}]}`))
		if err != nil || len(warnings) != 0 {
			t.Fatalf("Parse: %v %v", err, warnings)
		}
		got := cfg.Servers[0].OAuth
		want := &mcpproxy.OAuthSpec{ClientID: "cid", ClientSecret: "${env:SECRET}", Scopes: []string{"read", "write"}, RedirectPort: 8765}
		if !got.Equal(want) {
			t.Fatalf("oauth = %+v, want %+v", got, want)
		}
		c := cfg.Clone()
		c.Servers[0].OAuth.Scopes[0] = "x"
		if cfg.Servers[0].OAuth.Scopes[0] != "read" {
			t.Fatal("Clone shares the scopes")
		}
	})
	t.Run("Empty", func(t *testing.T) {
		cfg, _, err := Parse([]byte(`{"mcpServers": [{"name": "a", "url": "https://h/mcp", "oauth": {}}]}`))
		if err != nil || cfg.Servers[0].OAuth == nil {
			t.Fatalf("Parse: %v, oauth %v", err, cfg.Servers[0].OAuth)
		}
	})
	t.Run("UnknownFieldFails", func(t *testing.T) {
		_, _, err := Parse([]byte(`{"mcpServers": [{"name": "a", "url": "https://h/mcp", "oauth": {"client": "x"}}]}`))
		if err == nil || !strings.Contains(err.Error(), "mcpServers[0].oauth.client: unknown field") {
			t.Fatalf("err %v, want mcpServers[0].oauth.client: unknown field", err)
		}
	})
	errs := []struct{ name, in, want string }{
		{"NotObject", `"oauth": "x"`, `mcpServers[0].oauth: want object`},
		{"ClientIDType", `"oauth": {"client_id": 5}`, `mcpServers[0].oauth.client_id: want string`},
		{"ScopesType", `"oauth": {"scopes": "read"}`, `mcpServers[0].oauth.scopes: want array of strings`},
		{"ScopeSpace", `"oauth": {"scopes": ["a b"]}`, `mcpServers[0].oauth.scopes[0]: invalid scope "a b": no spaces, quotes or backslashes`},
		{"ScopeEmpty", `"oauth": {"scopes": ["a", ""]}`, `mcpServers[0].oauth.scopes[1]: invalid scope ""`},
		{"PortType", `"oauth": {"redirect_port": "80"}`, `mcpServers[0].oauth.redirect_port: want integer`},
		{"PortRange", `"oauth": {"redirect_port": 70000}`, `mcpServers[0].oauth.redirect_port: must be between 1 and 65535 (or 0 for any free port), got 70000`},
		{"SecretWithoutID", `"oauth": {"client_secret": "s"}`, `mcpServers[0].oauth.client_secret: needs oauth.client_id`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(`{"mcpServers": [{"name": "a", "url": "https://h/mcp", ` + tt.in + `}]}`))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("Stdio", func(t *testing.T) {
		_, _, err := Parse([]byte(`{"mcpServers": [{"name": "a", "command": "x", "oauth": {}}]}`))
		if err == nil || !strings.Contains(err.Error(), "mcpServers[0].oauth: only HTTP and SSE servers log in with OAuth") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestDiff_OAuthIsAConnectionChange(t *testing.T) {
	a := &mcpproxy.ServerSpec{Name: "a", URL: "https://h", OAuth: &mcpproxy.OAuthSpec{ClientID: "x"}}
	b := *a
	b.OAuth = &mcpproxy.OAuthSpec{ClientID: "y"}
	if a.SameConnection(&b) {
		t.Fatal("a changed client_id is the same connection")
	}
	if m := (mcpproxy.ServerSpec{OAuth: &mcpproxy.OAuthSpec{ClientID: "x", ClientSecret: "lit"}}).Masked(); m.OAuth.ClientSecret != "***" {
		t.Fatalf("Masked kept %q", m.OAuth.ClientSecret)
	}
	if m := (mcpproxy.ServerSpec{OAuth: &mcpproxy.OAuthSpec{ClientID: "x", ClientSecret: "${env:S}"}}).Masked(); m.OAuth.ClientSecret != "${env:S}" {
		t.Fatalf("Masked changed a placeholder to %q", m.OAuth.ClientSecret)
	}
}
