// Package golden compares wire formats (REST answers, MCP tools/list) with
// txtar files under a test's testdata, so that a change of what goes on the
// wire shows as a diff in review. Run the test with -update to rewrite the
// files from what the code now produces.
//
// Values that differ from run to run (times, durations, pids, loopback
// ports, activity ids) are normalized before comparing. Section reads a
// part of a Markdown document, for the tests that hold README's tables to
// the code. Only tests import it; it holds no state but the -update flag.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// File is one section of a golden archive: a name and its JSON.
type File struct {
	Name string
	JSON []byte
}

// Check compares files, normalized and indented, with the archive at path
// (testdata/NAME.txtar), or rewrites it under -update. comment heads the
// archive: what it holds and how to refresh it.
func Check(tb testing.TB, path, comment string, files ...File) {
	tb.Helper()
	got := &txtar.Archive{Comment: []byte(strings.TrimSpace(comment) + "\nRefresh with: go test -run '" + tb.Name() + "' -update\n")}
	for _, f := range files {
		got.Files = append(got.Files, txtar.File{Name: f.Name, Data: Normalize(tb, f.JSON)})
	}
	data := txtar.Format(got)
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := txtar.ParseFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	wantFiles := map[string][]byte{}
	for _, f := range want.Files {
		wantFiles[f.Name] = f.Data
	}
	for _, f := range got.Files {
		w, ok := wantFiles[f.Name]
		switch {
		case !ok:
			tb.Errorf("%s: %s is not in the golden file (run with -update if the change is meant)", path, f.Name)
		case !bytes.Equal(w, f.Data):
			tb.Errorf("%s: %s changed on the wire (run with -update if the change is meant):\n got:\n%s\nwant:\n%s", path, f.Name, f.Data, w)
		}
		delete(wantFiles, f.Name)
	}
	for name := range wantFiles {
		tb.Errorf("%s: %s is no longer produced (run with -update if the change is meant)", path, name)
	}
}

var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	// RFC 3339 times.
	{regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"`), `"TIME"`},
	// Durations, pids and search scores (ranking is measured by the index's
	// evaluation, not here).
	{regexp.MustCompile(`"(uptime_seconds|pid|duration_ms|score)":\s*[-0-9.e+]+`), `"$1":0`},
	{regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):\d+`), `$1:PORT`},
	// Activity ids and cursors (hex of a time and a sequence), sessions.
	{regexp.MustCompile(`"(id|next_cursor)":\s*"[0-9a-f]{16,}"`), `"$1":"ID"`},
	{regexp.MustCompile(`"session_id":\s*"[^"]*"`), `"session_id":"ID"`},
}

// Normalize replaces the volatile values in a JSON document and indents it
// by two spaces, keeping its key order (the order on the wire).
func Normalize(tb testing.TB, data []byte) []byte {
	tb.Helper()
	for _, v := range volatile {
		data = v.re.ReplaceAll(data, []byte(v.with))
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(data), "", "  "); err != nil {
		tb.Fatalf("not JSON: %v\n%s", err, data)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// Section returns the text under heading (a whole line, such as
// "## Configuration") in the Markdown file at path, up to the next
// heading of any level, for tests that hold a document's table to the
// code. A missing file or heading fails the test.
func Section(tb testing.TB, path, heading string) string {
	tb.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n"+heading+"\n")
	if !ok {
		tb.Fatalf("%s: no heading %q", path, heading)
	}
	section, _, _ = strings.Cut(section, "\n#")
	return section
}
