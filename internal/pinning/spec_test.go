package pinning

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func TestSpecFingerprint(t *testing.T) {
	base := mcpproxy.ServerSpec{Name: "gh", URL: "https://api.example.com/mcp", Headers: map[string]string{"Authorization": "Bearer ${env:T}"}, Enabled: true}
	fp := SpecFingerprint(&base)
	same := base
	same.Enabled, same.Quarantined, same.CallTimeout = false, true, mcpproxy.Duration(7e9)
	same.Headers = map[string]string{"Authorization": "Bearer ${env:T}"}
	if SpecFingerprint(&same) != fp {
		t.Error("enabled, quarantine or a timeout changed the fingerprint")
	}
	for name, mut := range map[string]func(s *mcpproxy.ServerSpec){
		"url":      func(s *mcpproxy.ServerSpec) { s.URL = "https://evil.example/mcp" },
		"header":   func(s *mcpproxy.ServerSpec) { s.Headers = map[string]string{"Authorization": "Bearer ${env:OTHER}"} },
		"protocol": func(s *mcpproxy.ServerSpec) { s.Protocol = mcpproxy.ProtocolSSE },
		"env":      func(s *mcpproxy.ServerSpec) { s.Env = map[string]string{"A": "1"} },
		"oauth":    func(s *mcpproxy.ServerSpec) { s.OAuth = &mcpproxy.OAuthSpec{ClientID: "x"} },
	} {
		s := base
		mut(&s)
		if SpecFingerprint(&s) == fp {
			t.Errorf("changing %s kept the fingerprint", name)
		}
	}
	// nil and empty maps are the same spec.
	a := mcpproxy.ServerSpec{Command: "x", Env: map[string]string{}}
	b := mcpproxy.ServerSpec{Command: "x"}
	if SpecFingerprint(&a) != SpecFingerprint(&b) {
		t.Error("an empty env and no env fingerprint differently")
	}
}

func TestViewSpec_HidesLiteralSecretsKeepsPlaceholders(t *testing.T) {
	spec := mcpproxy.ServerSpec{
		Command: "npx", Args: []string{"-y", "server", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "--token=${env:TOK}"},
		Env:     map[string]string{"GITHUB_TOKEN": "literal-value", "LEVEL": "debug", "REF": "${env:GH}"},
		URL:     "https://user:pass@h.example/mcp?api_key=abc123&page=2",
		Headers: map[string]string{"Authorization": "Bearer sk_live_abcdefghijklmnop1234", "Accept": "json"},
	}
	v := ViewSpec(&spec)
	b, _ := json.Marshal(v)
	for _, leak := range []string{"ghp_abcdefghijklmnop", "literal-value", "pass@", "abc123", "sk_live_"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("review shows %q: %s", leak, b)
		}
	}
	if v.Env["REF"] != "${env:GH}" || v.Env["LEVEL"] != "debug" || v.Headers["Accept"] != "json" || v.Args[3] != "--token=${env:TOK}" {
		t.Errorf("review hides what is not secret: %s", b)
	}
	var refs []string
	for _, r := range v.Secrets {
		refs = append(refs, r.Field+"="+r.Env)
	}
	if !slices.Equal(refs, []string{"args[3]=TOK", "env.REF=GH"}) {
		t.Errorf("secrets %v", refs)
	}
}

func TestSeal_DiffWithoutKeepingSecrets(t *testing.T) {
	approved := mcpproxy.ServerSpec{URL: "https://h.example/mcp", Headers: map[string]string{"Authorization": "Bearer sk_live_abcdefghijklmnop1234", "X": "1"}}
	sealed := Seal(approved)
	b, _ := json.Marshal(sealed)
	if strings.Contains(string(b), "sk_live_abcdefghijklmnop1234") {
		t.Fatalf("sealed spec keeps the secret: %s", b)
	}
	// Same secret: no diff. Another secret: "changed", values hidden.
	now := Seal(approved)
	if d := SpecDiff(&sealed, &now); len(d) != 0 {
		t.Errorf("unchanged spec diff %+v", d)
	}
	changed := approved
	changed.Headers = map[string]string{"Authorization": "Bearer sk_live_zzzzzzzzzzzzzzzz9999", "X": "1"}
	cs := Seal(changed)
	d := SpecDiff(&sealed, &cs)
	if len(d) != 1 || d[0].Field != "headers.Authorization" || d[0].Before != Masked || d[0].After != Masked+" (changed)" {
		t.Errorf("diff of a changed secret %+v", d)
	}
	// A moved URL and a dropped placeholder show field by field.
	a := mcpproxy.ServerSpec{URL: "https://h.example/mcp", Headers: map[string]string{"Authorization": "Bearer ${env:T}"}}
	n := mcpproxy.ServerSpec{URL: "http://evil.example/steal"}
	d = SpecDiff(&a, &n)
	want := []mcpproxy.FieldChange{
		{Field: "url", Before: "https://h.example/mcp", After: "http://evil.example/steal"},
		{Field: "headers.Authorization", Before: "Bearer ${env:T}"},
	}
	if !slices.Equal(d, want) {
		t.Errorf("diff %+v, want %+v", d, want)
	}
}

func TestSpecWarnings(t *testing.T) {
	kinds := func(s mcpproxy.ServerSpec) []string {
		var out []string
		for _, w := range SpecWarnings(&s) {
			out = append(out, w.Kind+"@"+w.Field)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		spec mcpproxy.ServerSpec
		want []string
	}{
		{"Shell", mcpproxy.ServerSpec{Command: "/bin/sh", Args: []string{"-c", "curl x | sh"}}, []string{"shell@command"}},
		{"BashLC", mcpproxy.ServerSpec{Command: "bash", Args: []string{"-lc", "x"}}, []string{"shell@command"}},
		{"NodeEval", mcpproxy.ServerSpec{Command: "node", Args: []string{"-e", "require('x')"}}, []string{"inline_code@args"}},
		{"NodeOptions", mcpproxy.ServerSpec{Command: "npx", Env: map[string]string{"NODE_OPTIONS": "--require /tmp/x.js"}}, []string{"loader_env@env.NODE_OPTIONS"}},
		{"SecretOverHTTP", mcpproxy.ServerSpec{URL: "http://evil.example/mcp", Headers: map[string]string{"A": "${env:T}"}},
			[]string{"secret@headers.A", "plain_http@url"}},
		{"SecretInURL", mcpproxy.ServerSpec{URL: "https://h.example/mcp?k=${env:T}"}, []string{"secret@url", "secret_in_url@url"}},
		{"LoopbackHTTP", mcpproxy.ServerSpec{URL: "http://127.0.0.1:9/mcp", Headers: map[string]string{"A": "${env:T}"}}, []string{"secret@headers.A"}},
		{"Plain", mcpproxy.ServerSpec{Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-everything"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kinds(tc.spec); !slices.Equal(got, tc.want) {
				t.Errorf("warnings %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCarriesSecret(t *testing.T) {
	for _, tc := range []struct {
		key, val string
		want     bool
	}{
		{"Authorization", "Bearer ${env:T}", true},
		{"GITHUB_TOKEN", "abc", true},
		{"X", "sk_live_abcdefghijklmnop1234", true},
		{"LEVEL", "debug", false},
		{"url", "https://h/mcp?api_key=abc", true},
		{"url", "https://h/mcp?page=2", false},
		{"", "--verbose", false},
	} {
		if got := CarriesSecret(tc.key, tc.val); got != tc.want {
			t.Errorf("CarriesSecret(%q, %q) = %v, want %v", tc.key, tc.val, got, tc.want)
		}
	}
}
