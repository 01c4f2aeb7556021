package pinning

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Diff shows what changed between an approved definition and the current
// one, line by line over their indented canonical JSON: lines only in old
// start with "- ", lines only in cur with "+ ", shared lines with "  ".
// Descriptions are split on their own newlines so that a changed sentence
// shows as one line.
func Diff(old, cur *mcpproxy.Tool) string {
	a, b := diffLines(old), diffLines(cur)
	var out strings.Builder
	for _, l := range lineDiff(a, b) {
		out.WriteString(l)
		out.WriteByte('\n')
	}
	return out.String()
}

func diffLines(t *mcpproxy.Tool) []string {
	var lines []string
	if t.Title != "" {
		lines = append(lines, "title: "+t.Title)
	}
	lines = append(lines, "description:")
	for _, l := range strings.Split(t.Description, "\n") {
		lines = append(lines, "  "+l)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"input_schema", t.InputSchema}, {"output_schema", t.OutputSchema}, {"annotations", t.Annotations}} {
		c := canonical(f.raw)
		if c == nil {
			continue
		}
		var buf bytes.Buffer
		if json.Indent(&buf, c, "", "  ") != nil {
			buf.Reset()
			buf.Write(c)
		}
		lines = append(lines, f.name+":")
		for _, l := range strings.Split(buf.String(), "\n") {
			lines = append(lines, "  "+l)
		}
	}
	return lines
}

// lineDiff is a longest-common-subsequence diff. Tool definitions are a few
// hundred lines at most; beyond maxDiffCells the whole of both sides is
// shown as removed and added rather than spending quadratic memory.
func lineDiff(a, b []string) []string {
	const maxDiffCells = 4 << 20
	if len(a)*len(b) > maxDiffCells {
		out := make([]string, 0, len(a)+len(b))
		for _, l := range a {
			out = append(out, "- "+l)
		}
		for _, l := range b {
			out = append(out, "+ "+l)
		}
		return out
	}
	// lcs[i][j] = length of the LCS of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, "  "+a[i])
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, "- "+a[i])
	}
	for ; j < len(b); j++ {
		out = append(out, "+ "+b[j])
	}
	return out
}
