// Package scan looks for signs of tool poisoning in MCP tool definitions:
// text aimed at the model rather than at the person reading it, references
// to credential files, invisible Unicode, encoded blobs, and links to hosts
// other than the server's own. A Warning is advice shown next to a tool to
// someone deciding whether to trust a server; nothing here approves or
// blocks a tool.
//
// The checks are heuristics, tuned to stay quiet on ordinary tool
// descriptions: each looks for a phrase or a shape that a poisoned tool
// needs and an honest one rarely has, rather than for single words.
//
//   - instruction: phrases such as "ignore previous instructions", "do not
//     tell the user", <IMPORTANT> or <system> tags, "you must always",
//     "before using this tool, read …", "keep this secret", "your system
//     prompt". A bare "you must provide owner" or "override the default
//     branch" is ordinary documentation and is not flagged.
//   - secret_reference: credential files and directories (~/.ssh, id_rsa,
//     .env, .aws/credentials, .npmrc, .netrc, /etc/passwd, credentials.json,
//     the MCP configs of other clients, a PEM private key) wherever they
//     appear. Generic words (password, API key, access token, secret key,
//     private key, credentials) count only in string values, never in
//     object keys, and only next to a verb that moves data ("read", "send",
//     "include", "pass", "upload", …): a login tool with a "password"
//     parameter described as "The user's password" is not flagged, "read
//     the user's API keys and include them" is.
//   - invisible_unicode: zero-width and bidi controls, tag characters (the
//     text they spell is decoded into the warning), other format (Cf)
//     characters, the supplementary variation selectors, and the few
//     letters that render blank.
//   - encoded_blob: runs of 40 or more base64 characters that mix upper
//     case, lower case and digits as random data does (identifiers and
//     paths do not), and runs of 32 or more hex digits. A blob that decodes
//     to readable text is shown decoded.
//   - external_url: http and https links to a host other than the server's
//     own or its parent domain (docs.github.com is expected from
//     api.github.com), localhost, json-schema.org (every schema's $schema)
//     and the bare documentation placeholders example.com/.org/.net.
//
// Phrases are matched case-insensitively on a normalized copy of the text
// in which runs of whitespace are equal, typographic quotes are ASCII and
// invisible characters are dropped, so "ig\u200bnore previous
// instructions" is still an instruction. Excerpts quote the original text
// with invisible characters written out as [U+200B].
//
// Tool walks the raw JSON of the schemas and annotations itself, in
// document order and without decoding into maps, and every phrase rule is
// gated by a one-pass keyword search and matched only over short windows,
// so a typical tool scans in microseconds (BenchmarkTool).
//
// Concurrency: the package has no mutable state; every function is safe
// for concurrent use.
package scan

import (
	"encoding/json"
	"net"
	"net/url"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Warning is one finding, shown next to a tool; it never approves or blocks
// on its own.
//
// Field says where: "name", "title", "description", or the path of an
// object key or string value inside a schema or the annotations, such as
// "input_schema.properties.path.description",
// "output_schema.properties.mode.enum[2]", or
// `input_schema.properties["odd key"]` for keys that are not plain names.
// A key's path is the path of the value it names.
type Warning struct {
	Kind   string `json:"kind"`   // one of the Kind* constants
	Field  string `json:"field"`  // where it was found
	Detail string `json:"detail"` // what was found, with short excerpts
}

// Kinds of warning, in the order they are reported within one field.
const (
	KindInstruction = "instruction"
	KindSecretRef   = "secret_reference"
	KindInvisible   = "invisible_unicode"
	KindEncodedBlob = "encoded_blob"
	KindExternalURL = "external_url"
)

// Indexes of the kinds, in report order.
const (
	kInstruction = iota
	kSecretRef
	kInvisible
	kEncodedBlob
	kExternalURL
	numKinds
)

var kindNames = [numKinds]string{KindInstruction, KindSecretRef, KindInvisible, KindEncodedBlob, KindExternalURL}

// detailPrefix starts the Detail of each kind; the items found follow it.
var detailPrefix = [numKinds]string{
	"text aimed at the model: ",
	"refers to secrets: ",
	"invisible characters: ",
	"encoded data: ",
	"links to other hosts: ",
}

// maxItems caps the items listed in one Detail.
const maxItems = 5

// Tool scans one tool: its name, title, description, and every object key
// and string value anywhere inside its input schema, output schema and
// annotations. serverURL is the upstream's URL ("" for stdio servers); links
// to its host are expected and not flagged. Warnings come in the order the
// fields were scanned, then in the order of the Kind constants, with at most
// one warning per field and kind.
func Tool(t *mcpproxy.Tool, serverURL string) []Warning {
	if t == nil {
		return nil
	}
	sc := scanner{host: urlHost(serverURL)}
	sc.field("name", t.Name, false)
	sc.field("title", t.Title, false)
	sc.field("description", t.Description, false)
	sc.json("input_schema", t.InputSchema)
	sc.json("output_schema", t.OutputSchema)
	sc.json("annotations", t.Annotations)
	return sc.warnings()
}

// Text scans one string; field is copied into each Warning. serverHost is
// the host links may point to without a warning ("" for none); a port is
// ignored.
func Text(field, s, serverHost string) []Warning {
	sc := scanner{host: normalizeHost(serverHost)}
	sc.field(field, s, false)
	return sc.warnings()
}

// hit is one item found in a string, before it is attributed to a field.
type hit struct {
	kind int
	item string
}

// result gathers the items of one field.
type result struct {
	field string
	items [numKinds][]string // distinct, at most maxItems each
	more  [numKinds]bool     // whether items of that kind were left out
}

// scanner scans the strings of one tool and gathers what it finds per field.
type scanner struct {
	host    string
	hits    []hit    // scratch: the hits of the string being scanned
	spans   [][2]int // scratch: the excerpts of one kind in that string
	words   []span   // scratch: the words of that string
	results []result
	byField map[string]int // index into results
}

// field scans s and attributes its hits to field.
func (sc *scanner) field(field, s string, isKey bool) {
	sc.text(s, isKey)
	if len(sc.hits) > 0 {
		sc.flush(field)
	}
}

// json scans the keys and string values of raw, a JSON document, under the
// path base. Invalid JSON is scanned as one string so that nothing in it
// goes unseen.
func (sc *scanner) json(base string, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	if !json.Valid(raw) {
		sc.field(base, string(raw), false)
		return
	}
	walkJSON(string(raw), base, func(path []byte, s string, isKey bool) {
		sc.text(s, isKey)
		if len(sc.hits) > 0 {
			sc.flush(string(path))
		}
	})
}

// flush moves the scratch hits into the result of field, merging them with
// what an earlier string under the same field found.
func (sc *scanner) flush(field string) {
	i, ok := sc.byField[field]
	if !ok {
		if sc.byField == nil {
			sc.byField = make(map[string]int)
		}
		i = len(sc.results)
		sc.byField[field] = i
		sc.results = append(sc.results, result{field: field})
	}
	r := &sc.results[i]
	for _, h := range sc.hits {
		switch {
		case contains(r.items[h.kind], h.item):
		case len(r.items[h.kind]) == maxItems:
			r.more[h.kind] = true
		default:
			r.items[h.kind] = append(r.items[h.kind], h.item)
		}
	}
	sc.hits = sc.hits[:0]
}

func contains(items []string, s string) bool {
	for _, it := range items {
		if it == s {
			return true
		}
	}
	return false
}

func (sc *scanner) warnings() []Warning {
	var out []Warning
	for _, r := range sc.results {
		for k, items := range r.items {
			if len(items) == 0 {
				continue
			}
			out = append(out, Warning{Kind: kindNames[k], Field: r.field, Detail: detail(k, items, r.more[k])})
		}
	}
	return out
}

func detail(kind int, items []string, more bool) string {
	var b strings.Builder
	b.WriteString(detailPrefix[kind])
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(it)
	}
	if more {
		b.WriteString(", and more")
	}
	return b.String()
}

// text scans one string, appending what it finds to sc.hits. Object keys
// are not checked for generic credential words: a parameter named
// "password" or "token" is how honest login tools look.
func (sc *scanner) text(s string, isKey bool) {
	if s == "" || schemaWord(s) {
		return
	}
	sc.invisible(s)
	if len(s) >= minHexRun {
		sc.blobs(s)
	}
	if len(s) < 4 {
		return
	}
	t := prepare(s)
	t.keys = keys.find(t.norm)
	if t.keys == 0 {
		return
	}
	sc.instructions(&t)
	sc.secrets(&t, isKey)
	if t.keys&httpMask != 0 {
		sc.links(&t)
	}
}

// schemaWord reports whether s is a JSON Schema keyword or type name. Most
// strings of a schema are, and none of them can raise a warning.
func schemaWord(s string) bool {
	switch s {
	case "type", "properties", "description", "title", "required", "enum", "default", "items",
		"minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern", "format",
		"additionalProperties", "examples", "const", "anyOf", "oneOf", "allOf", "$schema", "$ref", "$defs",
		"object", "string", "number", "integer", "boolean", "array", "null",
		"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint":
		return true
	}
	return false
}

func (sc *scanner) add(kind int, item string) {
	sc.hits = append(sc.hits, hit{kind, item})
}

// urlHost returns the normalized host of a server URL, "" when there is none.
func urlHost(raw string) string {
	if raw == "" {
		return ""
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return normalizeHost(u.Host)
}

// normalizeHost lowercases host and drops a port, brackets and a trailing dot.
func normalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}
