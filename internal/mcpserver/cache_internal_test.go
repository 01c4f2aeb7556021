package mcpserver

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// charOffset agrees with a walk over the string's characters, for ASCII,
// multi-byte text and bytes that are not UTF-8.
func TestCharOffset(t *testing.T) {
	for _, text := range []string{"", "plain ascii", "ünïcödé — 日本語", "a\xffb\xc3(c", strings.Repeat("é", 50)} {
		chars := utf8.RuneCountInString(text)
		var offsets []int
		for i := range text {
			offsets = append(offsets, i)
		}
		offsets = append(offsets, len(text))
		for n := 0; n <= chars+2; n++ {
			want := len(text)
			if n < len(offsets) {
				want = offsets[n]
			}
			if got := charOffset(text, chars, n); got != want {
				t.Errorf("charOffset(%q, %d, %d) = %d, want %d", text, chars, n, got, want)
			}
		}
	}
}

// The error text an activity record keeps is bounded, cut on a character
// boundary, whatever the size of the tool's error result.
func TestFirstText_Bounded(t *testing.T) {
	for _, text := range []string{"short error", strings.Repeat("x", 10<<20), "a" + strings.Repeat("é", maxRecordedError)} {
		res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
		got := firstText(res)
		if len(text) <= maxRecordedError {
			if got != text {
				t.Errorf("firstText(%q) = %q", text, got)
			}
			continue
		}
		if len(got) > maxRecordedError+len("…") || !utf8.ValidString(got) || !strings.HasPrefix(text, strings.TrimSuffix(got, "…")) {
			t.Errorf("firstText of %d bytes = %d bytes, valid UTF-8 %v", len(text), len(got), utf8.ValidString(got))
		}
	}
}

// charRange, which reads a cached result's file, agrees with charOffset,
// which walks a string.
func TestCharRange(t *testing.T) {
	for _, text := range []string{"", "plain ascii", "ünïcödé — 日本語", "a\xffb\xc3(c", strings.Repeat("é", 70000)} {
		chars := utf8.RuneCountInString(text)
		for _, r := range [][2]int{{0, 0}, {0, 1}, {1, 3}, {2, chars}, {chars / 2, chars}, {chars, chars}, {0, chars}} {
			if r[0] > chars || r[1] > chars || r[0] > r[1] {
				continue
			}
			from, to, err := charRange(strings.NewReader(text), int64(len(text)), chars, r[0], r[1])
			wantFrom := charOffset(text, chars, r[0])
			wantTo := wantFrom + charOffset(text[wantFrom:], chars-r[0], r[1]-r[0])
			if err != nil || from != int64(wantFrom) || to != int64(wantTo) {
				t.Errorf("charRange(%.20q, %v) = %d, %d, %v; want %d, %d", text, r, from, to, err, wantFrom, wantTo)
			}
		}
	}
}
