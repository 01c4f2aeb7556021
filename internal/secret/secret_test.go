package secret

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// env returns a lookup over vars.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

var testEnv = env(map[string]string{
	"GITHUB_TOKEN": "ghp_abc123",
	"HOST":         "api.example.com",
	"PORT":         "8443",
	"EMPTY":        "",
	"_under":       "u",
	"A1":           "one",
})

func TestExpand(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		values []string
	}{
		{"NoPlaceholder", "plain text", "plain text", nil},
		{"Empty", "", "", nil},
		{"Whole", "${env:GITHUB_TOKEN}", "ghp_abc123", []string{"ghp_abc123"}},
		{"Embedded", "Bearer ${env:GITHUB_TOKEN}", "Bearer ghp_abc123", []string{"ghp_abc123"}},
		{"Multiple", "https://${env:HOST}:${env:PORT}/mcp", "https://api.example.com:8443/mcp", []string{"api.example.com", "8443"}},
		{"Adjacent", "${env:HOST}${env:PORT}", "api.example.com8443", []string{"api.example.com", "8443"}},
		{"Repeated", "${env:PORT}-${env:PORT}", "8443-8443", []string{"8443"}},
		{"EmptyValue", "x${env:EMPTY}y", "xy", []string{""}},
		{"UnderscoreAndDigits", "${env:_under}${env:A1}", "uone", []string{"u", "one"}},
		{"Escape", "$${env:GITHUB_TOKEN}", "${env:GITHUB_TOKEN}", nil},
		{"EscapeThenPlaceholder", "$${env:X} ${env:PORT}", "${env:X} 8443", []string{"8443"}},
		{"EscapeOther", "$${HOME}", "${HOME}", nil},
		{"TripleDollar", "$$${env:PORT}", "$${env:PORT}", nil},
		{"OtherBraces", "${HOME} and ${other:x}", "${HOME} and ${other:x}", nil},
		{"CaseSensitivePrefix", "${ENV:PORT} ${Env:PORT}", "${ENV:PORT} ${Env:PORT}", nil},
		{"Dollars", "$ $$ $PORT $5 a$", "$ $$ $PORT $5 a$", nil},
		{"DollarBraceAtEnd", "cost: $$", "cost: $$", nil},
		{"LoneDollarBrace", "${", "${", nil},
		{"ValueNotReexpanded", "${env:A}", "${env:PORT}", []string{"${env:PORT}"}},
		{"UnicodeAround", "é${env:PORT}ü", "é8443ü", []string{"8443"}},
	}
	lookup := func(name string) (string, bool) {
		if name == "A" {
			return "${env:PORT}", true
		}
		return testEnv(name)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, values, err := Expand(tt.in, lookup)
			if err != nil {
				t.Fatalf("Expand(%q): %v", tt.in, err)
			}
			if got != tt.want || !slices.Equal(values, tt.values) {
				t.Errorf("Expand(%q) = %q, %q; want %q, %q", tt.in, got, values, tt.want, tt.values)
			}
			if HasPlaceholder(tt.in) != (tt.values != nil) {
				t.Errorf("HasPlaceholder(%q) = %v", tt.in, HasPlaceholder(tt.in))
			}
		})
	}
}

func TestExpand_Errors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"Unset", "${env:MISSING}", "${env:MISSING} is not set"},
		{"UnsetEmbedded", "Bearer ${env:GITHUB_TOKN}", "${env:GITHUB_TOKN} is not set"},
		{"EmptyName", "${env:}", "${env:}: empty variable name"},
		{"DigitFirst", "${env:1ABC}", `${env:1ABC}: invalid variable name "1ABC"`},
		{"BadChar", "${env:MY-VAR}", `invalid variable name "MY-VAR" in ${env:...}: want letters, digits and _`},
		{"Space", "${env:MY VAR}", `invalid variable name "MY VAR" in ${env:...}: want letters, digits and _`},
		{"Unterminated", "token=${env:GITHUB_TOKEN", "${env:GITHUB_TOKEN is not terminated: missing }"},
		{"UnterminatedBadChar", "${env:GITHUB_TOKEN and more", "${env:GITHUB_TOKEN is not terminated: missing }"},
		{"UnterminatedEmpty", "${env:", "${env: is not terminated: missing }"},
		{"Nested", "${env:${env:PORT}}", `invalid variable name "${env:PORT" in ${env:...}: want letters, digits and _`},
		{"Several", "${env:A_MISSING} ${env:PORT} ${env:}",
			"${env:A_MISSING} is not set\n${env:}: empty variable name"},
		{"LongBadName", "${env:" + strings.Repeat("x", 50) + "-}",
			`invalid variable name "` + strings.Repeat("x", 40) + `..." in ${env:...}: want letters, digits and _`},
		{"CredentialAsName", "${env:ghp_0123456789abcdefghijABCDEFGHIJ012345}",
			"${env:***}: the name looks like a credential, not a variable name"},
		{"CredentialUnterminated", "${env:ghp_0123456789abcdefghijABCDEFGHIJ012345",
			"${env:*** is not terminated: missing }"},
		{"CredentialInBadName", "${env:Bearer ghp_0123456789abcdefghijABCDEFGHIJ012345}",
			`invalid variable name "***" in ${env:...}: want letters, digits and _`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, values, err := Expand(tt.in, testEnv)
			if err == nil {
				t.Fatalf("Expand(%q) = %q, want error", tt.in, got)
			}
			if got != "" || values != nil {
				t.Errorf("Expand(%q) returned %q, %q with the error", tt.in, got, values)
			}
			if err.Error() != tt.want {
				t.Errorf("Expand(%q) error:\n%s\nwant:\n%s", tt.in, err, tt.want)
			}
			if code := mcpproxy.ErrorCode(err); code != mcpproxy.EINVALID {
				t.Errorf("code = %q", code)
			}
			if !HasPlaceholder(tt.in) {
				t.Errorf("HasPlaceholder(%q) = false", tt.in)
			}
		})
	}
}

func TestExpand_NoAllocWithoutPlaceholder(t *testing.T) {
	s := strings.Repeat("no placeholders here $HOME ", 10)
	allocs := testing.AllocsPerRun(100, func() {
		if out, _, _ := Expand(s, testEnv); out != s {
			t.Fatal("changed")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestHasPlaceholder(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"${env:X}", true},
		{"a ${env:X} b", true},
		{"${env:", true},
		{"${env:}", true},
		{"$${env:X}", false},
		{"$${env:X} ${env:Y}", true},
		{"$$${env:X}", false},
		{"$$$${env:X}", false},
		{"${HOME}", false},
		{"$env:X", false},
		{"${ENV:X}", false},
	}
	for _, tt := range tests {
		if got := HasPlaceholder(tt.in); got != tt.want {
			t.Errorf("HasPlaceholder(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestExpandSpec(t *testing.T) {
	spec := mcpproxy.ServerSpec{
		Name:    "github",
		Command: "npx ${env:NOT_EXPANDED}",
		Args:    []string{"-y", "@modelcontextprotocol/server-github", "--token=${env:GITHUB_TOKEN}"},
		Env:     map[string]string{"GITHUB_PERSONAL_ACCESS_TOKEN": "${env:GITHUB_TOKEN}", "PLAIN": "x"},
		URL:     "https://${env:HOST}:${env:PORT}/mcp",
		Headers: map[string]string{"Authorization": "Bearer ${env:GITHUB_TOKEN}", "X-Escaped": "$${env:HOST}"},
		Enabled: true,
	}
	before := cloneSpec(spec)

	got, r, err := ExpandSpec(spec, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := before
	want.Args = []string{"-y", "@modelcontextprotocol/server-github", "--token=ghp_abc123"}
	want.Env = map[string]string{"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_abc123", "PLAIN": "x"}
	want.URL = "https://api.example.com:8443/mcp"
	want.Headers = map[string]string{"Authorization": "Bearer ghp_abc123", "X-Escaped": "${env:HOST}"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExpandSpec =\n%+v\nwant\n%+v", got, want)
	}
	if !reflect.DeepEqual(spec, before) {
		t.Errorf("ExpandSpec changed its argument:\n%+v\nwas\n%+v", spec, before)
	}
	if got := r.Redact("token ghp_abc123 on api.example.com:8443"); got != "token *** on ***:***" {
		t.Errorf("Redact = %q", got)
	}

	// The copy shares nothing with the argument.
	got.Args[0], got.Env["PLAIN"], got.Headers["X-Escaped"] = "changed", "changed", "changed"
	if !reflect.DeepEqual(spec, before) {
		t.Errorf("the result shares storage with the argument")
	}
}

func cloneSpec(s mcpproxy.ServerSpec) mcpproxy.ServerSpec {
	c := s
	c.Args = slices.Clone(s.Args)
	c.Env = make(map[string]string)
	for k, v := range s.Env {
		c.Env[k] = v
	}
	c.Headers = make(map[string]string)
	for k, v := range s.Headers {
		c.Headers[k] = v
	}
	return c
}

func TestExpandSpec_NilStaysNil(t *testing.T) {
	spec := mcpproxy.ServerSpec{Name: "x", Command: "run"}
	got, r, err := ExpandSpec(spec, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got.Args != nil || got.Env != nil || got.Headers != nil {
		t.Errorf("nil fields became non-nil: %+v", got)
	}
	if !r.Empty() {
		t.Errorf("redactor not empty")
	}
	if !got.Equal(&spec) {
		t.Errorf("ExpandSpec = %+v", got)
	}
}

func TestExpandSpec_Errors(t *testing.T) {
	spec := mcpproxy.ServerSpec{
		Name:    "github",
		Args:    []string{"ok", "${env:PORT}", "--token=${env:MISSING_ARG}"},
		Env:     map[string]string{"TOKEN": "${env:GITHUB_TOKN}", "A": "${env:}", "OK": "${env:PORT}"},
		URL:     "https://${env:HOST",
		Headers: map[string]string{"Authorization": "Bearer ${env:NO_SUCH}", "X-Ok": "v"},
	}
	before := cloneSpec(spec)
	got, r, err := ExpandSpec(spec, testEnv)
	if err == nil {
		t.Fatalf("ExpandSpec = %+v, want error", got)
	}
	want := strings.Join([]string{
		"env.A: ${env:}: empty variable name",
		"env.TOKEN: ${env:GITHUB_TOKN} is not set",
		"args[2]: ${env:MISSING_ARG} is not set",
		"headers.Authorization: ${env:NO_SUCH} is not set",
		"url: ${env:HOST is not terminated: missing }",
	}, "\n")
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 5 {
		t.Fatalf("want 5 joined errors, got %#v", err)
	}
	for _, e := range joined.Unwrap() {
		var me *mcpproxy.Error
		if !errors.As(e, &me) || me.Code != mcpproxy.EINVALID {
			t.Errorf("%v: not an EINVALID *mcpproxy.Error", e)
		}
	}
	if r != nil || !reflect.DeepEqual(got, mcpproxy.ServerSpec{}) {
		t.Errorf("on error: spec %+v, redactor %v", got, r)
	}
	if !reflect.DeepEqual(spec, before) {
		t.Errorf("ExpandSpec changed its argument")
	}
	if strings.Contains(err.Error(), "8443") {
		t.Errorf("error shows a value: %v", err)
	}
}
