package mcpproxy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestShortError(t *testing.T) {
	node := "connect x: process exited: exit status 1; stderr: node:internal/modules/cjs/loader:1228\n" +
		"  throw err;\n  ^\n\nError: Cannot find module 'ajv'\nRequire stack:\n    at Module._resolveFilename (node:x:1)\nNode.js v20.20.2"
	for _, tc := range []struct{ name, in, want string }{
		{"OneLine", "connect x: dial tcp: refused", "connect x: dial tcp: refused"},
		{"LeadingBlank", "\n\n  first line\nsecond", "first line"},
		{"NodeStack", node, "connect x: process exited: exit status 1; stderr: node:internal/modules/cjs/loader:1228: Error: Cannot find module 'ajv'"},
		{"FirstLineSays", "connect x: error: refused\nmore\nError: other", "connect x: error: refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ShortError(tc.in); got != tc.want {
				t.Errorf("ShortError = %q, want %q", got, tc.want)
			}
		})
	}
	html := "initialize: 500 Internal Server Error: <html>" + strings.Repeat("<p>noise é</p>", 300000)
	got := ShortError(html)
	if n := utf8.RuneCountInString(got); n != MaxShortError+1 || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
		t.Errorf("a 4 MB error became %d runes (valid %v)", n, utf8.ValidString(got))
	}
}
