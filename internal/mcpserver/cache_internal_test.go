package mcpserver

import (
	"strings"
	"testing"
	"unicode/utf8"
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
