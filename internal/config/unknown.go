package config

import (
	"strings"
)

// Unknown keys in mcpproxy's own config file are errors: a misspelt
// "enabeld": false would otherwise leave a server running that its owner
// meant to stop. The error says what was probably meant. Keys of other
// clients' files (import) are only warned about, since those files belong
// to other programs.

// isUserKey reports whether key is reserved for the file's owner: comments
// ("_comment", "//"), extensions ("x_…", "x-…") and "$schema" are kept and
// ignored.
func isUserKey(key string) bool {
	return key == "$schema" || strings.HasPrefix(key, "_") || strings.HasPrefix(key, "//") ||
		strings.HasPrefix(key, "x_") || strings.HasPrefix(key, "x-")
}

// foreignKeys maps keys of mcpproxy-go's config, the proxy people most often
// come from, to what they are called here.
var foreignKeys = map[string]string{
	"read_only_mode":     "mcpproxy-go's name for read_only: rename it",
	"init_timeout":       "mcpproxy-go's name; here the time to start and connect is connect_timeout",
	"quarantine_enabled": "mcpproxy-go's switch; here servers an agent adds are always quarantined, and quarantine_new_servers: true quarantines the ones you add too",
}

// unknownHint says what an unknown key probably meant: a known key it is a
// typo of, or the name it has here. "" when nothing is close.
func unknownHint(key string, known []string) string {
	if h, ok := foreignKeys[key]; ok {
		return h
	}
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	best, bestDist := "", 3
	for _, k := range known {
		if norm(k) == norm(key) {
			return "did you mean " + k + "?"
		}
		// At most 2 edits, and fewer than a third of the key: "enabeld" is
		// enabled, "url" is not "env".
		if d := EditDistance(key, k); d < bestDist && d*3 <= len(k) {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return "did you mean " + best + "?"
	}
	return ""
}

// EditDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes each
// count one. It ranks "did you mean" suggestions, for config keys here and
// for tool ids elsewhere.
func EditDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
