package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"testing"
)

type visited struct {
	path, s string
	key     bool
}

func walkAll(data, base string) []visited {
	var out []visited
	walkJSON(data, base, func(path []byte, s string, isKey bool) {
		out = append(out, visited{string(path), s, isKey})
	})
	return out
}

func TestWalkJSON(t *testing.T) {
	data := `{
		"type": "object",
		"properties": {
			"path": {"type": "string", "description": "File \"path\" \u00e9\ud83d\ude00"},
			"mode": {"enum": ["r", "w", ["x", {"deep": "y"}]], "default": 7},
			"a.b": {"title": "dotted"},
			"": {"title": "empty"},
			"ok_key-1": {}
		},
		"required": [],
		"examples": [{}, "last"]
	}`
	got := walkAll(data, "in")
	want := []visited{
		{"in.type", "type", true},
		{"in.type", "object", false},
		{"in.properties", "properties", true},
		{"in.properties.path", "path", true},
		{"in.properties.path.type", "type", true},
		{"in.properties.path.type", "string", false},
		{"in.properties.path.description", "description", true},
		{"in.properties.path.description", "File \"path\" é😀", false},
		{"in.properties.mode", "mode", true},
		{"in.properties.mode.enum", "enum", true},
		{"in.properties.mode.enum[0]", "r", false},
		{"in.properties.mode.enum[1]", "w", false},
		{"in.properties.mode.enum[2][0]", "x", false},
		{"in.properties.mode.enum[2][1].deep", "deep", true},
		{"in.properties.mode.enum[2][1].deep", "y", false},
		{"in.properties.mode.default", "default", true},
		{`in.properties["a.b"]`, "a.b", true},
		{`in.properties["a.b"].title`, "title", true},
		{`in.properties["a.b"].title`, "dotted", false},
		{`in.properties[""]`, "", true},
		{`in.properties[""].title`, "title", true},
		{`in.properties[""].title`, "empty", false},
		{"in.properties.ok_key-1", "ok_key-1", true},
		{"in.required", "required", true},
		{"in.examples", "examples", true},
		{"in.examples[1]", "last", false},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", fmtVisited(got), fmtVisited(want))
	}
}

func fmtVisited(vs []visited) string {
	var b bytes.Buffer
	for _, v := range vs {
		fmt.Fprintf(&b, "%s %q key=%v\n", v.path, v.s, v.key)
	}
	return b.String()
}

func TestWalkJSON_Scalars(t *testing.T) {
	if got := walkAll(`"top"`, "x"); !slices.Equal(got, []visited{{"x", "top", false}}) {
		t.Errorf("string document: %v", got)
	}
	if got := walkAll(`[1, true, null, -2.5e3]`, "x"); len(got) != 0 {
		t.Errorf("no strings: %v", got)
	}
}

func TestUnquote(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`plain`, "plain"},
		{`a\"b\\c\/d`, `a"b\c/d`},
		{`\b\f\n\r\t`, "\b\f\n\r\t"},
		{`\u200B`, "\u200b"},
		{`\udb40\udc41`, "\U000E0041"},
		{`\ud800`, "\uFFFD"},
		{`\ud800x`, "\uFFFDx"},
		{`\ud800\u0041`, "\uFFFDA"},
		{`\udc00\ud800`, "\uFFFD\uFFFD"},
		{"bad\xffbyte", "bad\uFFFDbyte"},
	}
	for _, tt := range tests {
		if got := unquote(tt.raw); got != tt.want {
			t.Errorf("unquote(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

// jsonStrings lists the string tokens of a valid document as encoding/json
// decodes them.
func jsonStrings(tb testing.TB, data []byte) []string {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatalf("Token: %v", err)
		}
		if s, ok := tok.(string); ok {
			out = append(out, s)
		}
	}
}

// FuzzWalkJSON checks the hand-written walk against encoding/json: the same
// strings in the same order for every valid document, and no panic on
// anything else.
func FuzzWalkJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `""`, `{"a":"b"}`, `{"a":{"b":["c",{"d":"e"}]},"f":[]}`,
		`{"\u00e9\ud83d\ude00":"\ud800\"\\\/\b\f\n\r\t"}`,
		`{"type":"object","properties":{"path":{"type":"string","description":"x"}},"required":["path"]}`,
		`[1,-2.5e+3,true,false,null,"s",{"k":[[[]]]}]`,
		"{\"a\":\"\xff\"}",
		`{"a": "b"`, `{"a" "b"}`, `"\`, `["a",]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []string
		walkJSON(string(data), "x", func(path []byte, s string, isKey bool) {
			got = append(got, s)
		})
		if !json.Valid(data) {
			return
		}
		if want := jsonStrings(t, data); !slices.Equal(got, want) {
			t.Errorf("walk %q:\n got  %q\n want %q", data, got, want)
		}
	})
}
