package mcpserver

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Answers written in front of the SDK go straight to the response writer.
// json.Marshal of a result builds its whole encoding in a buffer grown by
// doubling and then copies it out, and the SDK encodes a result three times
// over (the result, the JSON-RPC message, the event); for a text of many
// megabytes each of those is a copy of it. json.Marshal also scans the
// whole escaped text once more, byte by byte, to compact what the result's
// MarshalJSON returned. Here a text of a few kilobytes or more (a
// retrieve_tools answer is tens) is escaped piece by piece into the writer
// instead, and the rest of the result, small, is encoded by json.Marshal as
// before, so the bytes are the same.

// bigText is the length from which a text is streamed rather than encoded
// with the rest of its result.
const bigText = 4 << 10

// writeCallResponse writes the JSON-RPC response of a tools/call with the
// given id (JSON): res, or err as the SDK encodes a handler's error.
func writeCallResponse(w io.Writer, id json.RawMessage, res *mcp.CallToolResult, err error) error {
	var enc *encodedResult
	if err == nil {
		if enc, err = encodeResult(res); err != nil {
			err = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "encode the result: " + err.Error()}
		}
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	if err != nil {
		var rid jsonrpc.ID
		var v any
		if json.Unmarshal(id, &v) == nil {
			rid, _ = jsonrpc.MakeID(v)
		}
		b, merr := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: rid, Error: err})
		if merr != nil {
			return merr
		}
		bw.Write(b)
		return bw.Flush()
	}
	bw.WriteString(`{"jsonrpc":"2.0","id":`)
	bw.Write(id)
	bw.WriteString(`,"result":`)
	enc.writeTo(bw)
	bw.WriteByte('}')
	return bw.Flush() // a bufio.Writer keeps its first error
}

// encodedResult is a result as json.Marshal encodes it, with its large
// texts still to be escaped: skeleton holds the rest of the encoding, with
// each such text replaced by a placeholder no upstream can guess, and
// texts[k] goes where the placeholder at[k] (of length cut[k]) is.
type encodedResult struct {
	skeleton []byte
	texts    []string
	at, cut  []int
}

// encodeResult encodes res, all but its large texts.
func encodeResult(res *mcp.CallToolResult) (*encodedResult, error) {
	var big []int
	for i, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok && len(t.Text) >= bigText {
			big = append(big, i)
		}
	}
	whole := func() (*encodedResult, error) {
		b, err := json.Marshal(res)
		return &encodedResult{skeleton: b}, err
	}
	if len(big) == 0 {
		return whole()
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	prefix := "mcpproxy-text-" + hex.EncodeToString(nonce[:]) + "-"
	skel := *res
	skel.Content = append([]mcp.Content(nil), res.Content...)
	for _, i := range big {
		t := *skel.Content[i].(*mcp.TextContent)
		t.Text = prefix + strconv.Itoa(i)
		skel.Content[i] = &t
	}
	b, err := json.Marshal(&skel)
	if err != nil {
		return nil, err
	}
	e := &encodedResult{skeleton: b}
	for _, i := range big {
		ph := []byte(`"` + prefix + strconv.Itoa(i) + `"`)
		at := bytes.Index(b, ph)
		if at < 0 || bytes.Count(b, ph) != 1 || len(e.at) > 0 && at < e.at[len(e.at)-1] {
			return whole()
		}
		e.texts = append(e.texts, res.Content[i].(*mcp.TextContent).Text)
		e.at, e.cut = append(e.at, at), append(e.cut, len(ph))
	}
	return e, nil
}

// writeTo writes the encoding to w.
func (e *encodedResult) writeTo(w *bufio.Writer) {
	from := 0
	for k, text := range e.texts {
		w.Write(e.skeleton[from:e.at[k]])
		writeJSONString(w, text)
		from = e.at[k] + e.cut[k]
	}
	w.Write(e.skeleton[from:])
}

// writeJSONString writes s as a JSON string, exactly as json.Marshal
// encodes it: HTML characters and U+2028, U+2029 escaped, a byte that is
// not UTF-8 written as \ufffd. A text of many megabytes is escaped piece
// by piece, never whole in memory twice.
func writeJSONString(w *bufio.Writer, s string) {
	w.WriteByte('"')
	buf := make([]byte, 0, 2*escapePiece)
	for len(s) > 0 {
		end := min(len(s), escapePiece)
		// Cut before the start of a character, so that the pieces escape
		// as the whole would. If none of the last bytes starts one, no
		// character spans the cut (a byte that is not UTF-8 stands alone
		// either way).
		for c := end; c < len(s) && c > end-utf8.UTFMax; c-- {
			if utf8.RuneStart(s[c]) {
				end = c
				break
			}
		}
		buf = appendJSONStringBody(buf[:0], s[:end], &htmlEscape)
		w.Write(buf)
		s = s[end:]
	}
	w.WriteByte('"')
}

// escapePiece is the size of the pieces writeJSONString escapes a text in.
const escapePiece = 32 << 10
