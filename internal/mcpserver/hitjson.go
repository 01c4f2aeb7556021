package mcpserver

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/mcpproxy/mcpproxy/internal/index"
)

// retrieve_tools answers with the JSON of {"message", "tools", "total"},
// which json.Encoder (without HTML escapes) made of a map of FoundTool or
// CompactTool values. Encoding it by reflection re-validated every hit's
// raw schema and annotations byte by byte on every search; appendAnswer
// writes the same bytes directly, copying the schema and annotations that
// the index found compact when it took the tool in (index.Hit.CompactJSON).
// A hit whose raw JSON the index could not vouch for, or whose score JSON
// cannot hold, makes it report false, and the answer is encoded as before
// (answerJSON), errors and all.

// answerJSON is the answer encoded by encoding/json.
func answerJSON(tools any, total int, message string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{"tools": tools, "total": total, "message": message}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// appendAnswer appends the answer for hits to dst, in full or compact
// form, as answerJSON encodes it, and reports whether it could.
func appendAnswer(dst []byte, hits []index.Hit, compact bool, message string) ([]byte, bool) {
	dst = append(dst, `{"message":`...)
	dst = appendJSONString(dst, message)
	dst = append(dst, `,"tools":[`...)
	for i := range hits {
		h := &hits[i]
		if !h.CompactJSON || math.IsNaN(h.Score) || math.IsInf(h.Score, 0) {
			return dst, false
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		callWith := effectOf(h.Tool.Annotations).callWith()
		// Field order and omitempty as in FoundTool and CompactTool.
		dst = append(dst, `{"id":`...)
		dst = appendJSONString(dst, h.Server+":"+h.Tool.Name)
		if compact {
			if d := firstSentence(h.Tool.Description); d != "" {
				dst = append(dst, `,"description":`...)
				dst = appendJSONString(dst, d)
			}
			dst = append(dst, `,"score":`...)
			dst = appendJSONFloat(dst, h.Score)
			if len(h.Tool.Annotations) > 0 {
				dst = append(dst, `,"annotations":`...)
				dst = append(dst, h.Tool.Annotations...)
			}
		} else {
			dst = append(dst, `,"server":`...)
			dst = appendJSONString(dst, h.Server)
			dst = append(dst, `,"name":`...)
			dst = appendJSONString(dst, h.Tool.Name)
			if h.Tool.Description != "" {
				dst = append(dst, `,"description":`...)
				dst = appendJSONString(dst, h.Tool.Description)
			}
			if len(h.Tool.InputSchema) > 0 {
				dst = append(dst, `,"input_schema":`...)
				dst = append(dst, h.Tool.InputSchema...)
			}
			if len(h.Tool.Annotations) > 0 {
				dst = append(dst, `,"annotations":`...)
				dst = append(dst, h.Tool.Annotations...)
			}
			dst = append(dst, `,"score":`...)
			dst = appendJSONFloat(dst, h.Score)
		}
		dst = append(dst, `,"call_with":`...)
		dst = appendJSONString(dst, callWith)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"total":`...)
	dst = strconv.AppendInt(dst, int64(len(hits)), 10)
	return append(dst, '}'), true
}

// appendJSONFloat appends f as encoding/json writes a float64: the
// shortest decimal, in exponent form (with at least one exponent digit)
// below 1e-6 and from 1e21. f is finite.
func appendJSONFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		if m := len(dst) - n; m >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

// jsonEscapes is how an encoding/json encoder writes each ASCII byte in a
// string, with or without its HTML escapes: nil when as itself. It is
// taken from the encoder, so the two agree.
func jsonEscapes(escapeHTML bool) (t [utf8.RuneSelf][]byte) {
	for b := range utf8.RuneSelf {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(escapeHTML)
		enc.Encode(string(rune(b)))
		enc2 := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
		if inner := enc2[1 : len(enc2)-1]; len(inner) != 1 || inner[0] != byte(b) {
			t[b] = bytes.Clone(inner)
		}
	}
	return t
}

var (
	htmlEscape  = jsonEscapes(true)  // as json.Marshal writes strings
	plainEscape = jsonEscapes(false) // as a json.Encoder with SetEscapeHTML(false)
)

// appendJSONString appends s as a JSON string, as a json.Encoder without
// HTML escapes writes it: U+2028 and U+2029 escaped, a byte that is not
// UTF-8 written as \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringBody(dst, s, &plainEscape)
	return append(dst, '"')
}

// appendJSONStringBody appends the characters of s as encoding/json writes
// them inside a string: each ASCII byte as escapes says, U+2028 and U+2029
// escaped, a byte that is not UTF-8 as \ufffd. It is the one JSON string
// escaper of the package.
func appendJSONStringBody(dst []byte, s string, escapes *[utf8.RuneSelf][]byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if escapes[b] == nil {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, escapes[b]...)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == utf8.RuneError && size == 1:
			esc = `\ufffd`
		case r == '\u2028':
			esc = `\u2028`
		case r == '\u2029':
			esc = `\u2029`
		default:
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, esc...)
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}
