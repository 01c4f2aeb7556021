package mcpserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/store"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const defaultReadCacheRecords = 50

// readCacheTool is read_cache on /mcp and on /mcp/all. Its name has no
// "__", so no upstream tool of /mcp/all (server__tool) can take it.
var readCacheTool = &mcp.Tool{
	Name: "read_cache",
	Description: "Read more of a tool result that mcpproxy truncated. Pass the key it gave you; " +
		"offset and limit count records when the result is a JSON array, characters otherwise.",
	InputSchema: json.RawMessage(`{"type":"object","properties":{
			"key":{"type":"string","description":"Cache key from the truncated result"},
			"offset":{"type":"integer","minimum":0,"description":"First record (JSON array) or character to return"},
			"limit":{"type":"integer","minimum":1,"description":"How many records or characters to return"}},
			"required":["key"]}`),
	Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
}

func (s *Server) addStoreTools() {
	s.smart.AddTool(readCacheTool, s.readCache)
	s.smart.AddTool(&mcp.Tool{
		Name:        "tools_stat",
		Description: "The most used upstream tools with call counts, error counts and mean duration.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{
			"top":{"type":"integer","minimum":1,"description":"How many tools to return (default 20)"}}}`),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, s.toolsStat)
}

// resultText joins the text parts of a result.
func resultText(res *mcp.CallToolResult) (string, int) {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n"), len(parts)
}

// charOffset returns the byte offset of character n in text, which has
// chars characters (as utf8.RuneCountInString counts them: a byte that is
// not UTF-8 is one character). When every character is one byte that is n
// itself, without reading text: paging through a result of many megabytes
// costs a slice, not a walk.
func charOffset(text string, chars, n int) int {
	if n >= chars {
		return len(text)
	}
	if chars == len(text) {
		return n
	}
	i := 0
	for n > 0 {
		_, w := utf8.DecodeRuneInString(text[i:])
		i += w
		n--
	}
	return i
}

// limitResult truncates a result whose text is longer than the configured
// tool_response_limit, keeping the whole text in the store for read_cache.
//
// structured is set when the client sees the tool's own output schema (on
// /mcp/all): the protocol wants a successful result of such a tool to
// carry structuredContent that matches the schema, which a cut result
// cannot, so a result cut there is sent as an error result whose text says
// so and how to read the whole.
func (s *Server) limitResult(id string, res *mcp.CallToolResult, structured bool) *mcp.CallToolResult {
	limit := s.b.Config().ToolResponseLimit
	if limit <= 0 || res == nil {
		return res
	}
	text, n := resultText(res)
	if n == 0 || len(text) <= limit { // bytes >= characters, so this is a cheap first test
		return res
	}
	total := utf8.RuneCountInString(text)
	if total <= limit {
		return res
	}
	full := text
	text = text[:charOffset(text, total, limit)]
	note := fmt.Sprintf("\n\n[mcpproxy: result truncated to %d of %d characters.", limit, total)
	if s.opts.Store != nil {
		key, err := s.opts.Store.PutResult(id, full, total)
		if err == nil {
			note += fmt.Sprintf(" The full result is cached for 2 hours: call read_cache with key %q (offset counts records if it is a JSON array, characters otherwise; continue at offset %d for text).]", key, limit)
		} else {
			note += " It could not be cached: " + err.Error() + "]"
		}
	} else {
		note += "]"
	}
	out := &mcp.CallToolResult{IsError: res.IsError, Meta: res.Meta}
	if structured && !res.IsError {
		out.IsError = true
		note += "\n[mcpproxy: the tool declares an output schema, which a truncated result cannot match, so this result is marked as an error; the call itself succeeded.]"
	}
	out.Content = append(out.Content, &mcp.TextContent{Text: text + note})
	for _, c := range res.Content {
		if _, ok := c.(*mcp.TextContent); !ok {
			out.Content = append(out.Content, c)
		}
	}
	return out
}

func (s *Server) readCache(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Key    string `json:"key"`
		Offset int    `json:"offset"`
		Limit  int    `json:"limit"`
	}
	if err := decodeArgs(req.Params.Arguments, &in); err != nil {
		return errorResult("%v", err), nil
	}
	if in.Key == "" {
		return errorResult("argument key: required (the key from a truncated call_tool result)"), nil
	}
	if in.Offset < 0 || in.Limit < 0 {
		return errorResult("arguments offset and limit: must not be negative"), nil
	}
	if s.opts.Store == nil {
		return errorResult("the result cache is not available"), nil
	}
	r, body, err := s.opts.Store.OpenResult(in.Key)
	if err != nil {
		return errorResult("%s", mcpproxy.ErrorMessage(err)), nil
	}
	defer body.Close()
	if tok := callerToken(ctx); tok != nil {
		server, _, _ := strings.Cut(r.Tool, ":")
		if !tok.AllowsServer(server) {
			return errorResult("%s", mcpproxy.ErrorMessage(scopeError(tok, server))), nil
		}
	}
	if startsArray(body) {
		// Records: the whole array is parsed, as before.
		var sb strings.Builder
		sb.Grow(int(r.Bytes))
		if _, err := io.Copy(&sb, io.NewSectionReader(body, 0, r.Bytes)); err != nil {
			return errorResult("reading cached result %q: %v", in.Key, err), nil
		}
		var records []json.RawMessage
		if json.Unmarshal([]byte(sb.String()), &records) == nil {
			limit := in.Limit
			if limit == 0 {
				limit = defaultReadCacheRecords
			}
			start := min(in.Offset, len(records))
			end := start + min(limit, len(records)-start) // no start+limit: it can overflow
			out := map[string]any{"key": in.Key, "tool": r.Tool, "total_records": len(records), "offset": start, "records": records[start:end]}
			if end < len(records) {
				out["next_offset"] = end
			}
			return jsonResult(out), nil
		}
	}
	// Text: only the page is read from the file.
	total := r.Chars
	limit := in.Limit
	if limit == 0 {
		limit = s.b.Config().ToolResponseLimit
		if limit <= 0 {
			limit = total
		}
	}
	start := min(in.Offset, total)
	end := start + min(limit, total-start)
	from, to, err := charRange(body, r.Bytes, total, start, end)
	if err != nil {
		return errorResult("reading cached result %q: %v", in.Key, err), nil
	}
	page := make([]byte, to-from)
	if _, err := body.ReadAt(page, from); err != nil && !(errors.Is(err, io.EOF) && len(page) == 0) {
		return errorResult("reading cached result %q: %v", in.Key, err), nil
	}
	out := map[string]any{"key": in.Key, "tool": r.Tool, "total_chars": total, "offset": start, "text": string(page)}
	if end < total {
		out["next_offset"] = end
	}
	return jsonResult(out), nil
}

// startsArray reports whether text, after white space, starts with '['.
func startsArray(text io.ReaderAt) bool {
	br := bufio.NewReaderSize(io.NewSectionReader(text, 0, 1<<62), 4096)
	for {
		c, _, err := br.ReadRune()
		if err != nil {
			return false
		}
		if !unicode.IsSpace(c) {
			return c == '['
		}
	}
}

// charRange returns the byte offsets of characters start and end in text,
// which has size bytes and chars characters (counted as charOffset counts
// them). When every character is one byte they are start and end;
// otherwise the text is read up to end, a buffer at a time.
func charRange(text io.ReaderAt, size int64, chars, start, end int) (from, to int64, err error) {
	if int64(chars) == size {
		return int64(start), int64(end), nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(text, 0, size), 64<<10)
	var pos int64
	from = -1
	for n := 0; ; n++ {
		if n == start {
			from = pos
		}
		if n == end {
			return from, pos, nil
		}
		_, w, err := br.ReadRune() // a byte that is not UTF-8 is one character of width 1, as in charOffset
		if err != nil {
			if errors.Is(err, io.EOF) { // fewer characters than counted
				if from < 0 {
					from = pos
				}
				return from, pos, nil
			}
			return 0, 0, err
		}
		pos += int64(w)
	}
}

func (s *Server) toolsStat(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Top int `json:"top"`
	}
	if err := decodeArgs(req.Params.Arguments, &in); err != nil {
		return errorResult("%v", err), nil
	}
	if in.Top <= 0 {
		in.Top = 20
	}
	if s.opts.Store == nil {
		return errorResult("tool statistics are not available"), nil
	}
	tok := callerToken(ctx)
	top := in.Top
	if tok != nil {
		top = 0 // all, then the token's own
	}
	stats, err := s.opts.Store.ToolStats(top)
	if err != nil {
		return errorResult("reading statistics: %v", err), nil
	}
	if tok != nil {
		stats = slices.DeleteFunc(stats, func(st store.ToolStat) bool {
			server, _, _ := strings.Cut(st.ID, ":")
			return !tok.AllowsServer(server)
		})
		stats = stats[:min(len(stats), in.Top)]
	}
	type row struct {
		ID     string  `json:"id"`
		Calls  int64   `json:"calls"`
		Errors int64   `json:"errors"`
		MeanMS float64 `json:"mean_ms"`
	}
	rows := make([]row, 0, len(stats))
	for _, st := range stats {
		rows = append(rows, row{st.ID, st.Calls, st.Errors, float64(int64(st.MeanMillis()*100)) / 100})
	}
	return jsonResult(map[string]any{"tools": rows}), nil
}
