package mcpserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/token"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A plain tools/call of a pass-through session answered in front of the
// SDK puts the same JSON-RPC message on the wire as the SDK does, and
// leaves the same activity record: under each sensitive_data mode, for
// results passed on, redacted and withheld, refusals (unknown tool, an
// agent token's scope, arguments with a secret), a tool error and a large
// result.
func TestFastPath_PassThroughSameAsSDK(t *testing.T) {
	bigPath, bigEnv := testupstream.Command(testupstream.ModeBigResult, map[string]string{testupstream.EnvBigBytes: "300000"})
	// A large text with everything json.Marshal escapes, and a secret.
	var sb strings.Builder
	for i := 0; sb.Len() < 200_000; i++ {
		fmt.Fprintf(&sb, "%d <a href=\"x\">&amp;</a>\t\\ é € 𝄞 \u2028\u2029 \x01\x7f\n", i)
	}
	sb.WriteString(testGitHubToken)
	bigMessage := sb.String()
	for _, mode := range []string{"flag", "redact", "block"} {
		t.Run(mode, func(t *testing.T) {
			url, _ := sensitiveUpstream(t)
			p := newProxy(t, proxyOptions{Activity: true, Tokens: true, Top: map[string]any{"sensitive_data": mode},
				Servers: []map[string]any{{"name": "up", "url": url, "protocol": "streamable-http"},
					{"name": "big", "command": bigPath, "env": bigEnv}}})
			p.waitCatalog(t, "up", "big")
			readOnly := p.newToken(t, token.Spec{Name: "reader", Servers: []string{"up"}, ReadOnly: true})
			served := &p.srv.fastPass.served

			session := func(path string, hdr http.Header) http.Header {
				cs := p.connect(t, path, clientOptions{protocol: fastProtocol, header: hdr})
				waitFast(t, p.srv.fastPass, cs)
				h := http.Header{"Mcp-Session-Id": {cs.ID()}, "Mcp-Protocol-Version": {fastProtocol}}
				for k, v := range hdr {
					h[k] = v
				}
				return h
			}
			up, big, reader := session("/mcp/server/up", nil), session("/mcp/server/big", nil), session("/mcp/server/up", bearer(readOnly))

			for i, tc := range []struct {
				name string
				hdr  http.Header
				path string
				tool string
				args any
			}{
				{"Echo", up, "up", "echo", map[string]any{"message": "hi <there> & \u2028"}},
				{"SecretInArgs", up, "up", "echo", map[string]any{"message": "use " + testGitHubToken}},
				{"SecretInResult", up, "up", "leak", map[string]any{}},
				{"LargeWithSecret", up, "up", "echo", map[string]any{"message": bigMessage}},
				{"UnknownTool", up, "up", "nope", map[string]any{}},
				{"TokenScope", reader, "up", "echo", map[string]any{"message": "read-only"}},
				{"ToolError", big, "big", "fail", map[string]any{}},
				{"Large", big, "big", "big", map[string]any{}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					args, _ := json.Marshal(tc.args)
					body := `{"jsonrpc":"2.0","id":` + strconv.Itoa(100+i) + `,"method":"tools/call","params":{"name":"` + tc.tool + `","arguments":` + string(args) + `}}`
					before := served.Load()
					code, fast := rawPost(t, p.URL+"/mcp/server/"+tc.path, "", tc.hdr, body)
					fastRec := lastRecord(t, p.act)
					if code != http.StatusOK || served.Load() != before+1 {
						t.Fatalf("fast path: %d, served %d → %d: %.300s", code, before, served.Load(), fast)
					}
					p.srv.fastPass.off.Store(true)
					code, sdk := rawPost(t, p.URL+"/mcp/server/"+tc.path, "", tc.hdr, body)
					p.srv.fastPass.off.Store(false)
					sdkRec := lastRecord(t, p.act)
					if code != http.StatusOK {
						t.Fatalf("SDK: %d %.300s", code, sdk)
					}
					if sdk = sseData(t, sdk); fast != sdk {
						t.Errorf("wire answers differ:\n fast %.600s\n  sdk %.600s", fast, sdk)
					}
					if fastRec.ID == sdkRec.ID {
						t.Fatalf("one activity record for both calls: %+v", fastRec)
					}
					fastRec.ID, fastRec.Time, fastRec.DurationMS = "", sdkRec.Time, 0
					sdkRec.ID, sdkRec.DurationMS = "", 0
					fr, _ := json.Marshal(fastRec)
					sr, _ := json.Marshal(sdkRec)
					if string(fr) != string(sr) {
						t.Errorf("activity records differ:\n fast %.600s\n  sdk %.600s", fr, sr)
					}
				})
			}
		})
	}
}

// lastRecord is the newest activity record.
func lastRecord(tb testing.TB, l *activity.Log) activity.Record {
	tb.Helper()
	recs := allRecords(tb, l, activity.Filter{}, 1)
	if len(recs) == 0 {
		tb.Fatal("no activity record")
	}
	return recs[0]
}

// sseData returns the data of the one message event in an SSE body.
func sseData(tb testing.TB, body string) string {
	tb.Helper()
	var data []string
	for line := range strings.SplitSeq(body, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			data = append(data, d)
		}
	}
	if len(data) != 1 {
		tb.Fatalf("want one event in %.300q", body)
	}
	return data[0]
}

// A result written in front of the SDK is the bytes json.Marshal makes of
// it, its large texts escaped piece by piece or not.
func TestEncodeResult_AsMarshal(t *testing.T) {
	big := strings.Repeat("plain text, ", bigText/8)
	odd := big + "<>&\"\\\x00\x1f\x7f é€𝄞 \u2028\u2029 \xff\xfe\xed\xa0\x80 \xe2\x82"
	for _, tc := range []struct {
		name string
		res  *mcp.CallToolResult
	}{
		{"Small", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "small <b>"}}}},
		{"Empty", &mcp.CallToolResult{}},
		{"Big", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: big}}}},
		{"Odd", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: odd}}}},
		{"Mixed", &mcp.CallToolResult{IsError: true, Meta: mcp.Meta{"k": "v"}, StructuredContent: map[string]any{"a": 1},
			Content: []mcp.Content{
				&mcp.TextContent{Text: "first"},
				&mcp.TextContent{Text: odd, Meta: mcp.Meta{"m": 1}, Annotations: &mcp.Annotations{Priority: 0.5}},
				&mcp.ImageContent{Data: []byte("png"), MIMEType: "image/png"},
				&mcp.TextContent{Text: big + "2"},
			}}},
		{"PlaceholderLookalike", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: big}, &mcp.TextContent{Text: "mcpproxy-text-"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.res)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			if err := writeCallResponse(&got, json.RawMessage(`7`), tc.res, nil); err != nil {
				t.Fatal(err)
			}
			if w := `{"jsonrpc":"2.0","id":7,"result":` + string(want) + `}`; got.String() != w {
				t.Errorf("got  %.400q…\nwant %.400q…", got.String(), w)
			}
		})
	}
}

func FuzzWriteJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<>&", "\u2028\u2029", "\xff", "é€𝄞", "\x00\x1f\x7f\"\\", "\xed\xa0\x80", "\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		var got strings.Builder
		enc := &encodedResult{skeleton: []byte(`[` + `"x"` + `]`), texts: []string{s}, at: []int{1}, cut: []int{3}}
		if err := writeEncoded(&got, enc); err != nil {
			t.Fatal(err)
		}
		if w := "[" + string(want) + "]"; got.String() != w {
			t.Errorf("%q: got %q, want %q", s, got.String(), w)
		}
	})
}

// A text longer than a piece escapes as json.Marshal escapes it whole,
// whatever character or stray byte the cut between pieces falls in.
func TestWriteJSONString_Pieces(t *testing.T) {
	for _, filler := range []string{"𝄞", "é", "€", "<&>", "\u2028", "\xf0\x9f", "\xff\xfe", "\x80\x80\x80\x80\x80", "\xf0\x9f\x98\x80\x80"} {
		for k := range 8 {
			s := strings.Repeat("a", escapePiece-k) + strings.Repeat(filler, 3) + strings.Repeat("b", escapePiece) + filler
			want, _ := json.Marshal(s)
			var got strings.Builder
			enc := &encodedResult{skeleton: []byte(`["x"]`), texts: []string{s}, at: []int{1}, cut: []int{3}}
			if err := writeEncoded(&got, enc); err != nil {
				t.Fatal(err)
			}
			if w := "[" + string(want) + "]"; got.String() != w {
				t.Errorf("filler %q, cut %d before it: the encodings differ", filler, k)
			}
		}
	}
}

func writeEncoded(w io.Writer, e *encodedResult) error {
	bw := bufio.NewWriter(w)
	e.writeTo(bw)
	return bw.Flush()
}
