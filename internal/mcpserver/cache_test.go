package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bigUpstream serves "big" (about 1 MB of text) and "records" (a JSON array
// of 5,000 objects).
func bigUpstream(t *testing.T, big, records string) string {
	up := mcp.NewServer(&mcp.Implementation{Name: "big"}, nil)
	for name, text := range map[string]string{"big": big, "records": records} {
		up.AddTool(&mcp.Tool{Name: name, InputSchema: json.RawMessage(`{"type":"object"}`)},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
			})
	}
	return customUpstream(t, up)
}

var cacheKeyRE = regexp.MustCompile(`read_cache with key "([0-9a-f]+)"`)

func TestCallTool_LargeResultThroughReadCache(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "line %d: ünïcödé text that goes on and on\n", i)
	}
	big := b.String()
	var recs []map[string]any
	for i := range 5000 {
		recs = append(recs, map[string]any{"id": i, "name": fmt.Sprintf("record %d", i)})
	}
	recJSON, _ := json.Marshal(recs)

	const limit = 20000
	p := newProxy(t, proxyOptions{
		Store: true,
		Top:   map[string]any{"tool_response_limit": limit},
		Servers: []map[string]any{
			{"name": "big", "url": bigUpstream(t, big, string(recJSON)), "protocol": "streamable-http"},
		},
	})
	p.waitCatalog(t, "big")
	cs := p.connect(t, "/mcp", clientOptions{})

	res := call(t, cs, "call_tool", map[string]any{"name": "big:big"})
	text := textOf(res)
	if res.IsError || !strings.HasPrefix(big, strings.SplitN(text, "\n\n[mcpproxy:", 2)[0]) {
		t.Fatalf("truncated result is not a prefix of the original (isError=%v): %.200q", res.IsError, text)
	}
	if n := len([]rune(strings.SplitN(text, "\n\n[mcpproxy:", 2)[0])); n != limit {
		t.Fatalf("kept %d characters, want %d", n, limit)
	}
	m := cacheKeyRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no cache key in %q", text[len(text)-400:])
	}
	key := m[1]

	// Page through the whole text by characters.
	var got strings.Builder
	offset := 0
	for pages := 0; ; pages++ {
		if pages > 200 {
			t.Fatal("read_cache never reached the end")
		}
		var page struct {
			Text       string `json:"text"`
			TotalChars int    `json:"total_chars"`
			NextOffset *int   `json:"next_offset"`
		}
		r := call(t, cs, "read_cache", map[string]any{"key": key, "offset": offset, "limit": 100000})
		if r.IsError {
			t.Fatalf("read_cache: %s", textOf(r))
		}
		if err := json.Unmarshal([]byte(textOf(r)), &page); err != nil {
			t.Fatal(err)
		}
		got.WriteString(page.Text)
		if page.NextOffset == nil {
			if page.TotalChars != len([]rune(big)) {
				t.Fatalf("total_chars %d, want %d", page.TotalChars, len([]rune(big)))
			}
			break
		}
		offset = *page.NextOffset
	}
	if got.String() != big {
		t.Fatalf("paged text differs from the original (%d vs %d bytes)", got.Len(), len(big))
	}

	// A JSON array is paged by records.
	res = call(t, cs, "call_tool", map[string]any{"name": "big:records"})
	m = cacheKeyRE.FindStringSubmatch(textOf(res))
	if m == nil {
		t.Fatalf("no cache key for records")
	}
	var page struct {
		Records      []map[string]any `json:"records"`
		TotalRecords int              `json:"total_records"`
		NextOffset   int              `json:"next_offset"`
	}
	r := call(t, cs, "read_cache", map[string]any{"key": m[1], "offset": 4990, "limit": 5})
	if err := json.Unmarshal([]byte(textOf(r)), &page); err != nil {
		t.Fatal(err)
	}
	if page.TotalRecords != 5000 || len(page.Records) != 5 || page.Records[0]["id"] != float64(4990) || page.NextOffset != 4995 {
		t.Fatalf("records page = %+v", page)
	}

	// A huge limit with an offset must not overflow into a bad slice (this
	// once took the daemon down).
	for _, k := range []string{key, m[1]} {
		r := call(t, cs, "read_cache", map[string]any{"key": k, "offset": 1, "limit": int64(1<<63 - 1)})
		if r.IsError {
			t.Fatalf("read_cache with a huge limit: %s", textOf(r))
		}
	}
	wantError(t, call(t, cs, "read_cache", map[string]any{"key": "nope"}), "no cached result")
	wantError(t, call(t, cs, "read_cache", map[string]any{}), "argument key")
}

func TestToolsStat(t *testing.T) {
	p := newProxy(t, proxyOptions{Store: true, Servers: []map[string]any{stdio("s", "ok")}})
	p.waitCatalog(t, "s")
	cs := p.connect(t, "/mcp", clientOptions{})
	for range 3 {
		wantOK(t, call(t, cs, "call_tool", map[string]any{"name": "s:echo", "args": map[string]any{"message": "x"}}), "x")
	}
	call(t, cs, "call_tool", map[string]any{"name": "s:fail"})
	var st struct {
		Tools []struct {
			ID     string `json:"id"`
			Calls  int    `json:"calls"`
			Errors int    `json:"errors"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(textOf(call(t, cs, "tools_stat", map[string]any{"top": 2}))), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Tools) != 2 || st.Tools[0].ID != "s:echo" || st.Tools[0].Calls != 3 || st.Tools[1].ID != "s:fail" || st.Tools[1].Errors != 1 {
		t.Fatalf("tools_stat = %+v", st)
	}
}
