package mcpproxy

import "unicode/utf8"

// CutBytes returns at most n bytes of s, without splitting a UTF-8
// sequence: the cut moves back to the start of the character it would
// split.
func CutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
