package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// encodeCall encodes a tools/call request of mcpproxy's own, numbered from
// next, and returns its id.
func encodeCall(next *atomic.Uint64, params *mcp.CallToolParams) (id string, body []byte, err error) {
	if params.Arguments == nil {
		params.Arguments = map[string]any{} // as the SDK sends it
	}
	id = leanPrefix + strconv.FormatUint(next.Add(1), 10)
	body, err = json.Marshal(&leanRequest{JSONRPC: "2.0", ID: id, Method: "tools/call", Params: params})
	if err != nil {
		return "", nil, fmt.Errorf("encode tools/call: %w", err)
	}
	return id, body, nil
}

// cancelNotice encodes the notifications/cancelled of one of mcpproxy's own
// requests.
func cancelNotice(id, reason string) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/cancelled",
		"params": map[string]any{"requestId": id, "reason": reason}})
	return b
}

// leanResult is a tools/call result as decoded without the SDK: what nearly
// every tool returns, text content and perhaps structured content.
type leanResult struct {
	Meta              mcp.Meta        `json:"_meta,omitempty"`
	Content           []leanContent   `json:"content"`
	StructuredContent any             `json:"structuredContent,omitempty"`
	IsError           bool            `json:"isError,omitempty"`
	InputRequests     json.RawMessage `json:"inputRequests,omitempty"`
	RequestState      string          `json:"requestState,omitempty"`
	ResultType        string          `json:"resultType,omitempty"`
}

type leanContent struct {
	Type        string           `json:"type"`
	Text        leanText         `json:"text"`
	Meta        mcp.Meta         `json:"_meta,omitempty"`
	Annotations *mcp.Annotations `json:"annotations,omitempty"`
}

// decodeCallResult decodes a tools/call result. Text content, the common
// case, is decoded here with encoding/json; anything else (images,
// resources, a result asking for more input) by the SDK, which knows every
// content type. Both ignore fields they do not know, so the outcome is the
// same either way.
func decodeCallResult(raw json.RawMessage) (*mcp.CallToolResult, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("tools/call: the upstream's response has no result")
	}
	var w leanResult
	if err := json.Unmarshal(raw, &w); err == nil && w.simple() {
		return w.callToolResult(nil), nil
	}
	var res mcp.CallToolResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("tools/call: decode the upstream's result: %w", err)
	}
	return &res, nil
}

// callToolResult converts a simple result. msg, if not nil, is the whole
// message w was decoded from, the caller's to give: when its texts are
// most of it its large texts are decoded in place in msg, and share its
// memory instead of being copies of it.
func (w *leanResult) callToolResult(msg []byte) *mcp.CallToolResult {
	inPlace := false
	if len(msg) >= inPlaceMin {
		texts := 0
		for i := range w.Content {
			texts += len(w.Content[i].Text)
		}
		inPlace = 2*texts >= len(msg)
	}
	res := &mcp.CallToolResult{Meta: w.Meta, StructuredContent: w.StructuredContent, IsError: w.IsError,
		Content: make([]mcp.Content, len(w.Content))}
	for i := range w.Content {
		c := &w.Content[i]
		// A small text is copied even so: sharing, it would keep the
		// whole message alive for as long as anything holds it.
		res.Content[i] = &mcp.TextContent{Text: c.Text.decode(inPlace && len(c.Text) >= inPlaceMin), Meta: c.Meta, Annotations: c.Annotations}
	}
	return res
}

// inPlaceMin is the least size of a message whose texts are decoded in
// place: below it, a copy costs little, and a text does not keep a message
// alive.
const inPlaceMin = 64 << 10

// simple reports whether w holds only what leanResult decodes completely.
func (w *leanResult) simple() bool {
	if len(w.InputRequests) > 0 && string(w.InputRequests) != "null" || w.RequestState != "" ||
		w.ResultType != "" && w.ResultType != "complete" {
		return false
	}
	for i := range w.Content {
		if w.Content[i].Type != "text" {
			return false
		}
	}
	return true
}

// leanText is a JSON string as it stands in the message (quotes and
// escapes), decoded by decode once the whole result is known to be simple:
// until then the message is left as it was, so that the SDK can decode it
// instead. It shares the message's memory, which must not change until
// decode. (UnmarshalJSON keeps the slice it is given, which encoding/json
// documents as not allowed: json.Unmarshal of a []byte gives slices of
// its input, which is what this relies on; it must not be used with a
// json.Decoder, whose buffer is reused.)
type leanText []byte

func (t *leanText) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil // as encoding/json leaves a string
	}
	if data[0] != '"' {
		var s string
		return json.Unmarshal(data, &s) // the error encoding/json gives
	}
	*t = data
	return nil
}

// decode returns the text. encoding/json decodes a string with escapes (a
// text of many lines has one on each) into a buffer first and then copies
// that into the string: twice the text's size for a text of many
// megabytes. Here the size is counted first and the text written once:
// into a string of its exact size or, inPlace, over t itself (a decoded
// string is never longer than its JSON), the string then sharing t's
// memory. What this does not decode itself (\u escapes of surrogates,
// bytes that are not UTF-8) it leaves to encoding/json, so the outcome is
// the same.
func (t leanText) decode(inPlace bool) string {
	if t == nil {
		return ""
	}
	n, ok := unquotedLen(t)
	if !ok {
		var s string
		json.Unmarshal(t, &s) // valid JSON: the message was decoded
		return s
	}
	if n == 0 {
		return ""
	}
	q := t[1 : len(t)-1]
	if inPlace && n == len(q) { // nothing escaped
		return unsafe.String(&q[0], n)
	}
	if !inPlace {
		var b strings.Builder
		b.Grow(n)
		unescapeTo(&b, q)
		return b.String()
	}
	w := inPlaceWriter{buf: t}
	unescapeTo(&w, q)
	return unsafe.String(&t[0], n)
}

// unescapeTo writes the JSON string q (without its quotes), valid as
// unquotedLen checks, unescaped.
func unescapeTo(b interface {
	Write([]byte) (int, error)
	WriteByte(byte) error
	WriteRune(rune) (int, error)
}, q []byte) {
	for len(q) > 0 {
		i := bytes.IndexByte(q, '\\')
		if i < 0 {
			b.Write(q)
			return
		}
		b.Write(q[:i])
		if q[i+1] == 'u' {
			r, _ := hex4(q[i+2 : i+6])
			b.WriteRune(r)
			q = q[i+6:]
			continue
		}
		b.WriteByte(unescape[q[i+1]])
		q = q[i+2:]
	}
}

// inPlaceWriter writes over buf from its start. Unescaping a JSON string
// over itself never writes past what it has read, so what is written has
// always been read already.
type inPlaceWriter struct {
	buf []byte
	n   int
}

func (w *inPlaceWriter) Write(p []byte) (int, error) {
	w.n += copy(w.buf[w.n:], p)
	return len(p), nil
}

func (w *inPlaceWriter) WriteByte(c byte) error {
	w.buf[w.n] = c
	w.n++
	return nil
}

func (w *inPlaceWriter) WriteRune(r rune) (int, error) {
	k := utf8.EncodeRune(w.buf[w.n:], r)
	w.n += k
	return k, nil
}

// unescape maps the letter of a one-letter escape to its byte.
var unescape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// unquotedLen returns the length of the JSON string data once decoded;
// false if it is not a string, or has anything but valid UTF-8, one-letter
// escapes and \u escapes of characters that are not surrogates.
func unquotedLen(data []byte) (int, bool) {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return 0, false
	}
	q := data[1 : len(data)-1]
	n := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\\':
			if i+1 >= len(q) {
				return 0, false
			}
			if q[i+1] != 'u' {
				if unescape[q[i+1]] == 0 {
					return 0, false
				}
				n++
				i += 2
				continue
			}
			if i+6 > len(q) {
				return 0, false
			}
			r, ok := hex4(q[i+2 : i+6])
			if !ok || utf16.IsSurrogate(r) {
				return 0, false
			}
			n += utf8.RuneLen(r)
			i += 6
		case c == '"' || c < 0x20:
			return 0, false
		case c < utf8.RuneSelf:
			n++
			i++
		default:
			r, size := utf8.DecodeRune(q[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false
			}
			n += size
			i += size
		}
	}
	return n, true
}

// hex4 decodes the four hex digits of a \u escape.
func hex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
