package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// newTestIndex returns an index closed at the end of the test, holding the
// given servers' tools.
func newTestIndex(tb testing.TB, servers map[string][]mcpproxy.Tool) *Index {
	tb.Helper()
	x, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := x.Close(); err != nil {
			tb.Error(err)
		}
	})
	for _, name := range sortedKeys(servers) {
		if err := x.SetServer(name, servers[name]); err != nil {
			tb.Fatal(err)
		}
	}
	return x
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func ids(hits []Hit) []string {
	out := make([]string, len(hits))
	for i := range hits {
		out[i] = hits[i].ID()
	}
	return out
}

func searchT(tb testing.TB, x *Index, q string, limit int) []Hit {
	tb.Helper()
	hits, err := x.Search(context.Background(), q, limit)
	if err != nil {
		tb.Fatalf("Search(%q): %v", q, err)
	}
	return hits
}

func TestIndex_Relevance(t *testing.T) {
	x := newTestIndex(t, fixtureServers)
	tests := relevanceCases
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.query, " ", "_"), func(t *testing.T) {
			hits := searchT(t, x, tt.query, 5)
			if len(hits) == 0 || hits[0].ID() != tt.top {
				t.Errorf("Search(%q) = %v, want %s first", tt.query, describe(hits), tt.top)
			}
		})
	}

	t.Run("ServerNameLiftsItsTools", func(t *testing.T) {
		// "issues" alone also matches Slack and memory words; naming the
		// server must put GitHub's tools first.
		hits := searchT(t, x, "github issues", 5)
		for _, h := range hits {
			if h.Server != "github" {
				t.Errorf("Search(github issues) = %v, want only github tools in the top 5", describe(hits))
				break
			}
		}
		hits = searchT(t, x, "slack users", 3)
		if len(hits) == 0 || hits[0].ID() != "slack:get_users" {
			t.Errorf("Search(slack users) = %v, want slack:get_users first", describe(hits))
		}
	})
}

var relevanceCases = []struct {
	query string
	top   string // the expected first hit
}{
	{"read a file", "filesystem:read_file"},
	{"open a new issue on github", "github:create_issue"},
	{"send slack message", "slack:send_message"},
	{"weather forecast for tomorrow", "weather:get_forecast"},
	{"pull request", "github:create_pull_request"},
	{"echo back text", "everything:echo"},
	{"long running", "everything:longRunningOperation"},
	// Inflections and identifiers.
	{"reading files", "filesystem:read_file"},
	{"createIssue", "github:create_issue"},
	{"create_pull_request", "github:create_pull_request"},
	{"list files in a directory", "filesystem:list_directory"},
	{"merge a PR pull request", "github:merge_pull_request"},
	{"add two numbers", "everything:add"},
	{"weather alerts", "weather:get_alerts"},
	{"search the knowledge graph", "memory:search_nodes"},
	{"rename a file", "filesystem:move_file"},
	{"list slack channels", "slack:list_channels"},
	{"environment variables", "everything:printEnv"},
	{"get file contents from github repo", "github:get_file_contents"},
	{"write content to a file", "filesystem:write_file"},
	{"edit a text file", "filesystem:edit_file"},
	{"create a directory", "filesystem:create_directory"},
	{"reply in a slack thread", "slack:reply_to_thread"},
	{"add emoji reaction", "slack:add_reaction"},
	{"list commits on a branch", "github:list_commits"},
	{"create a new branch", "github:create_branch"},
	{"search code", "github:search_code"},
	{"find files matching a pattern", "filesystem:search_files"},
	{"delete entities from knowledge graph", "memory:delete_entities"},
	{"generate text with an LLM", "everything:sampleLLM"},
	{"comment on an issue", "github:add_issue_comment"},
	{"tree view of directories", "filesystem:directory_tree"},
	{"recent channel messages", "slack:get_channel_history"},
	{"file metadata size permissions", "filesystem:get_file_info"},
	{"merge pull request", "github:merge_pull_request"},
	{"state alerts", "weather:get_alerts"},
}

func describe(hits []Hit) string {
	var b strings.Builder
	for i, h := range hits {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s(%.3f)", h.ID(), h.Score)
	}
	return "[" + b.String() + "]"
}

func TestIndex_SetServer(t *testing.T) {
	ctx := context.Background()
	t.Run("Replaces", func(t *testing.T) {
		x := newTestIndex(t, nil)
		must(t, x.SetServer("a", []mcpproxy.Tool{tool("alpha_tool", "frobnicate widgets"), tool("beta_tool", "frobnicate gadgets")}))
		must(t, x.SetServer("b", []mcpproxy.Tool{tool("gamma_tool", "frobnicate gizmos")}))
		if got := x.Len(); got != 3 {
			t.Fatalf("Len = %d, want 3", got)
		}
		must(t, x.SetServer("a", []mcpproxy.Tool{tool("delta_tool", "frobnicate doohickeys")}))
		if got := x.Len(); got != 2 {
			t.Errorf("Len = %d, want 2", got)
		}
		got := ids(searchT(t, x, "frobnicate", 10))
		slices.Sort(got)
		if want := []string{"a:delta_tool", "b:gamma_tool"}; !slices.Equal(got, want) {
			t.Errorf("hits = %v, want %v", got, want)
		}
		if hits := searchT(t, x, "widgets", 10); len(hits) != 0 {
			t.Errorf("old tool still found: %v", describe(hits))
		}
	})
	t.Run("UpdatesToolInPlace", func(t *testing.T) {
		x := newTestIndex(t, nil)
		must(t, x.SetServer("a", []mcpproxy.Tool{tool("t", "old words")}))
		must(t, x.SetServer("a", []mcpproxy.Tool{tool("t", "new words")}))
		if hits := searchT(t, x, "old", 10); len(hits) != 0 {
			t.Errorf("old description still found: %v", describe(hits))
		}
		hits := searchT(t, x, "new", 10)
		if len(hits) != 1 || hits[0].Tool.Description != "new words" {
			t.Errorf("hits = %v, want a:t with its new description", hits)
		}
	})
	t.Run("IdenticalIsNoop", func(t *testing.T) {
		x := newTestIndex(t, nil)
		tools := fixtureServers["github"]
		must(t, x.SetServer("github", tools))
		before := x.snap.Load()
		// Same tools in another order, and a copy: still identical.
		again := slices.Clone(tools)
		slices.Reverse(again)
		must(t, x.SetServer("github", again))
		if x.snap.Load() != before {
			t.Error("identical SetServer published a new snapshot")
		}
		// A change outside the searched fields is not identical: hits must
		// return the new Tool.
		again[0].Annotations = []byte(`{"readOnlyHint":true}`)
		must(t, x.SetServer("github", again))
		if x.snap.Load() == before {
			t.Error("SetServer with changed annotations was ignored")
		}
	})
	t.Run("DuplicateNamesKeepLast", func(t *testing.T) {
		x := newTestIndex(t, nil)
		must(t, x.SetServer("a", []mcpproxy.Tool{tool("t", "first"), tool("t", "second")}))
		if x.Len() != 1 {
			t.Fatalf("Len = %d, want 1", x.Len())
		}
		if hits := searchT(t, x, "second", 1); len(hits) != 1 || hits[0].Tool.Description != "second" {
			t.Errorf("hits = %v, want the last definition", hits)
		}
	})
	t.Run("EmptyRemoves", func(t *testing.T) {
		x := newTestIndex(t, fixtureServers)
		n := x.Len()
		must(t, x.SetServer("weather", nil))
		if got, want := x.Len(), n-len(fixtureServers["weather"]); got != want {
			t.Errorf("Len = %d, want %d", got, want)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		x := newTestIndex(t, nil)
		for _, tc := range []struct {
			server string
			tools  []mcpproxy.Tool
		}{
			{"", []mcpproxy.Tool{tool("t", "")}},
			{"a:b", []mcpproxy.Tool{tool("t", "")}},
			{"a", []mcpproxy.Tool{tool("", "no name")}},
		} {
			if err := x.SetServer(tc.server, tc.tools); mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
				t.Errorf("SetServer(%q, %v) = %v, want an invalid error", tc.server, tc.tools, err)
			}
		}
		if x.Len() != 0 {
			t.Errorf("Len = %d after invalid input, want 0", x.Len())
		}
	})
	t.Run("BadSchemaStillIndexed", func(t *testing.T) {
		x := newTestIndex(t, nil)
		must(t, x.SetServer("a", []mcpproxy.Tool{{Name: "odd", Description: "strange schema", InputSchema: []byte(`[1,2`)}}))
		if hits := searchT(t, x, "strange", 1); len(hits) != 1 {
			t.Errorf("hits = %v, want a:odd", hits)
		}
	})
	_ = ctx
}

func TestIndex_RemoveServer(t *testing.T) {
	x := newTestIndex(t, fixtureServers)
	n := x.Len()
	must(t, x.RemoveServer("github"))
	if got, want := x.Len(), n-len(fixtureServers["github"]); got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
	for _, h := range searchT(t, x, "github issue pull request repository", 50) {
		if h.Server == "github" {
			t.Errorf("removed server's tool found: %s", h.ID())
		}
	}
	must(t, x.RemoveServer("github")) // again: nothing to do
	must(t, x.RemoveServer("never-added"))
	if err := x.RemoveServer(""); mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
		t.Errorf("RemoveServer(\"\") = %v, want an invalid error", err)
	}
}

func TestIndex_Search(t *testing.T) {
	x := newTestIndex(t, fixtureServers)
	t.Run("EmptyQuery", func(t *testing.T) {
		for _, q := range []string{"", "   ", "\t\n"} {
			_, err := x.Search(context.Background(), q, 5)
			var e *mcpproxy.Error
			if !errors.As(err, &e) || e.Code != mcpproxy.EINVALID || e.Message != "query: must not be empty" {
				t.Errorf("Search(%q) error = %#v, want invalid \"query: must not be empty\"", q, err)
			}
		}
	})
	t.Run("OnlyStopWords", func(t *testing.T) {
		if hits := searchT(t, x, "the a of", 5); len(hits) != 0 {
			t.Errorf("hits = %v, want none", describe(hits))
		}
	})
	t.Run("Limit", func(t *testing.T) {
		if hits := searchT(t, x, "file", 3); len(hits) != 3 {
			t.Errorf("limit 3: got %d hits", len(hits))
		}
		if hits := searchT(t, x, "file directory repository issue message", 0); len(hits) != DefaultLimit {
			t.Errorf("limit 0: got %d hits, want %d", len(hits), DefaultLimit)
		}
		if hits := searchT(t, x, "file", 1_000_000); len(hits) == 0 || len(hits) > x.Len() {
			t.Errorf("huge limit: got %d hits", len(hits))
		}
	})
	t.Run("BestFirst", func(t *testing.T) {
		hits := searchT(t, x, "file directory", 20)
		for i := 1; i < len(hits); i++ {
			if hits[i].Score > hits[i-1].Score {
				t.Fatalf("not sorted by score: %v", describe(hits))
			}
		}
	})
	t.Run("ReturnsTool", func(t *testing.T) {
		hits := searchT(t, x, "get_forecast", 1)
		want := fixtureServers["weather"][1]
		if len(hits) != 1 || hits[0].Server != "weather" || hits[0].Tool.Name != want.Name ||
			string(hits[0].Tool.InputSchema) != string(want.InputSchema) {
			t.Errorf("hits = %+v, want weather's %s with its schema", hits, want.Name)
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := x.Search(ctx, "read a file", 5); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("Empty index", func(t *testing.T) {
		empty := newTestIndex(t, nil)
		if hits := searchT(t, empty, "anything", 5); len(hits) != 0 {
			t.Errorf("hits = %v", hits)
		}
	})
}

func TestIndex_Close(t *testing.T) {
	x, err := New()
	must(t, err)
	must(t, x.SetServer("weather", fixtureServers["weather"]))
	must(t, x.Close())
	must(t, x.Close())
	if _, err := x.Search(context.Background(), "weather", 5); mcpproxy.ErrorCode(err) != mcpproxy.EUNAVAILABLE {
		t.Errorf("Search after Close = %v, want unavailable", err)
	}
	if err := x.SetServer("weather", nil); mcpproxy.ErrorCode(err) != mcpproxy.EUNAVAILABLE {
		t.Errorf("SetServer after Close = %v, want unavailable", err)
	}
}

// TestIndex_Concurrent searches while another goroutine keeps re-indexing a
// server; run with -race.
func TestIndex_Concurrent(t *testing.T) {
	x := newTestIndex(t, fixtureServers)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	queries := []string{"read a file", "send slack message", "github issue", "weather forecast"}
	for i := range 4 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				hits, err := x.Search(ctx, queries[(i+n)%len(queries)], 5)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				if len(hits) == 0 {
					errs <- fmt.Errorf("no hits for %q", queries[(i+n)%len(queries)])
					return
				}
			}
		})
	}
	var writeErr error
	for i := range 100 {
		// Alternate between two tool lists so every call re-indexes.
		tools := slices.Clone(fixtureServers["slack"])
		if i%2 == 1 {
			tools = tools[:len(tools)-1]
		}
		if writeErr = x.SetServer("slack", tools); writeErr != nil {
			break
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	if writeErr != nil {
		t.Error(writeErr)
	}
	for err := range errs {
		t.Error(err)
	}
	if got, want := x.Len(), x.snap.Load().n; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
}

func TestSplitWords(t *testing.T) {
	tests := map[string][]string{
		"create_issue":         {"create", "issue"},
		"createIssue":          {"create", "Issue"},
		"create-issue":         {"create", "issue"},
		"longRunningOperation": {"long", "Running", "Operation"},
		"HTTPServer":           {"HTTP", "Server"},
		"sampleLLM":            {"sample", "LLM"},
		"get2fa":               {"get", "2", "fa"},
		"echo":                 {"echo"},
		"__x__":                {"x"},
		"":                     nil,
		"héllo_wörld":          {"héllo", "wörld"},
	}
	for in, want := range tests {
		if got := splitWords(in); !slices.Equal(got, want) {
			t.Errorf("splitWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParamsText(t *testing.T) {
	s := schemaJSON(
		p("maxTokens", "number", "Maximum tokens"),
		param{name: "files", desc: "Files to push", nested: []param{p("path", "string", "File path")}},
	)
	names, descs := paramsText(s)
	if want := "files path max Tokens"; names != want {
		t.Errorf("names = %q, want %q", names, want)
	}
	for _, want := range []string{"Maximum tokens", "File path"} {
		if !strings.Contains(descs, want) {
			t.Errorf("descs = %q, want it to contain %q", descs, want)
		}
	}
	if names, descs := paramsText([]byte(`not json`)); names != "" || descs != "" {
		t.Errorf("paramsText(invalid) = %q, %q; want empty", names, descs)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
