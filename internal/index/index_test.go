package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// newTestIndex returns an index closed at the end of the test, holding the
// given servers' tools.
func newTestIndex(tb testing.TB, servers map[string][]mcpproxy.Tool) *Index {
	tb.Helper()
	return newTestIndexWith(tb, servers, defaultMergePolicy, nil)
}

// Merge policies for tests.
var (
	mergeAlways = mergePolicy{fanIn: 2, unit: 1 << 20}
	mergeNever  = mergePolicy{fanIn: 1 << 20, unit: 1 << 20}
)

// newTestIndexWith is newTestIndex with a merge policy and hook.
func newTestIndexWith(tb testing.TB, servers map[string][]mcpproxy.Tool, policy mergePolicy, merged func()) *Index {
	tb.Helper()
	x, err := newIndex(policy, merged)
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
	for _, tt := range relevanceCases {
		t.Run(strings.ReplaceAll(tt.query, " ", "_"), func(t *testing.T) {
			hits := searchT(t, x, tt.query, 5)
			if len(hits) == 0 || !slices.Contains(strings.Fields(tt.top), hits[0].ID()) {
				t.Errorf("Search(%q) = %v, want %s first", tt.query, describe(hits), tt.top)
			}
		})
	}

	t.Run("ServerNameLiftsItsTools", func(t *testing.T) {
		// Naming the server must put its tools first.
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

// relevanceCases are queries an agent might send, with the tool that must
// come first among fixtureServers (one of several, separated by spaces,
// where the query fits each as well).
var relevanceCases = []struct {
	query string
	top   string
}{
	{"read a file", "filesystem:read_file"},
	{"open a new issue on github", "github:create_issue"},
	{"send slack message", "slack:send_message"},
	{"weather forecast for tomorrow", "weather:get_forecast"},
	{"pull request", "github:create_pull_request github:list_pull_requests github:merge_pull_request"},
	{"echo back text", "everything:echo"},
	{"long running", "everything:longRunningOperation"},
	// Inflections and identifiers.
	{"reading files", "filesystem:read_file"},
	{"createIssue", "github:create_issue"},
	{"create_pull_request", "github:create_pull_request"},
	// More everyday phrasings.
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
	t.Run("ParamDescriptionsOnlyAddScore", func(t *testing.T) {
		// "closed" is only in parameter descriptions ("open or closed"):
		// they describe arguments, not what a tool does.
		if hits := searchT(t, x, "closed", 5); len(hits) != 0 {
			t.Errorf("hits = %v, want none", describe(hits))
		}
		// Parameter names do count.
		if hits := searchT(t, x, "latitude longitude", 5); len(hits) == 0 || hits[0].ID() != "weather:get_forecast" {
			t.Errorf("hits = %v, want weather:get_forecast first", describe(hits))
		}
	})
	t.Run("EmptyIndex", func(t *testing.T) {
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

// TestIndex_Concurrent searches while another goroutine keeps re-indexing
// servers and the merger keeps merging; run with -race.
func TestIndex_Concurrent(t *testing.T) {
	x := newTestIndexWith(t, fixtureServers, mergeAlways, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	queries := []string{"read a file", "send slack message", "open a new issue on github", "weather forecast"}
	want := []string{"filesystem:read_file", "slack:send_message", "github:create_issue", "weather:get_forecast"}
	for i := range 4 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				k := (i + n) % len(queries)
				hits, err := x.Search(ctx, queries[k], 5)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				// The servers being re-indexed are not the ones searched
				// for, so the answers must not change.
				if len(hits) == 0 || hits[0].ID() != want[k] {
					errs <- fmt.Errorf("Search(%q) = %s during updates, want %s first", queries[k], describe(hits), want[k])
					return
				}
			}
		})
	}
	var writeErr error
	for i := range 100 {
		// Alternate between versions and servers so that every call
		// re-indexes and merges keep being triggered.
		server := []string{"memory", "everything"}[i%2]
		tools := slices.Clone(fixtureServers[server])
		if i%4 >= 2 {
			tools = tools[:len(tools)-1]
		}
		if writeErr = x.SetServer(server, tools); writeErr != nil {
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
}

func TestIndex_Merge(t *testing.T) {
	t.Run("Triggered", func(t *testing.T) {
		merged := make(chan struct{}, 10)
		x := newTestIndexWith(t, nil, mergePolicy{fanIn: 3, unit: 1000}, func() { merged <- struct{}{} })
		for _, server := range []string{"github", "slack"} {
			must(t, x.SetServer(server, fixtureServers[server]))
		}
		if n := segmentCount(t, x); n != 2 {
			t.Fatalf("%d segments before the threshold, want 2", n)
		}
		must(t, x.SetServer("weather", fixtureServers["weather"]))
		select {
		case <-merged:
		case <-time.After(time.Minute):
			t.Fatal("no merge after passing the threshold")
		}
		if n := segmentCount(t, x); n != 1 {
			t.Errorf("%d segments after the merge, want 1", n)
		}
		ref := newTestIndexWith(t, nil, mergeNever, nil)
		for _, server := range []string{"github", "slack", "weather"} {
			must(t, ref.SetServer(server, fixtureServers[server]))
		}
		for _, q := range []string{"send slack message", "open a new issue on github", "weather alerts"} {
			if got, want := searchT(t, x, q, 5), searchT(t, ref, q, 5); !equalHits(got, want) {
				t.Errorf("Search(%q) after merge: %s, without: %s", q, describe(got), describe(want))
			}
		}
	})
	t.Run("FixesServersChangedDuringMerge", func(t *testing.T) {
		x := newTestIndexWith(t, fixtureServers, mergeNever, nil)
		changed := slices.Clone(fixtureServers["slack"])
		changed[0].Description = "Enumerate zorbling conduits"
		x.beforeFixup = func() {
			must(t, x.SetServer("slack", changed))
			must(t, x.RemoveServer("weather"))
			must(t, x.SetServer("extra", []mcpproxy.Tool{tool("frob", "Frobnicate the widget")}))
		}
		did, err := x.merge(true)
		must(t, err)
		if !did {
			t.Fatal("forced merge did nothing")
		}
		// The merged servers, slack indexed again, and extra.
		x.mu.Lock()
		groups := len(x.groups)
		x.mu.Unlock()
		if n := segmentCount(t, x); n != 3 || groups != 3 {
			t.Errorf("%d segments, %d groups; want 3", n, groups)
		}
		if hits := searchT(t, x, "zorbling", 5); len(hits) != 1 || hits[0].ID() != "slack:list_channels" {
			t.Errorf("changed tool: %s", describe(hits))
		}
		if hits := searchT(t, x, "public", 5); len(hits) != 0 {
			t.Errorf("old description still found: %s", describe(hits))
		}
		if hits := searchT(t, x, "frobnicate", 5); len(hits) != 1 || hits[0].ID() != "extra:frob" {
			t.Errorf("added tool: %s", describe(hits))
		}
		for _, h := range searchT(t, x, "weather forecast alerts", 50) {
			if h.Server == "weather" {
				t.Errorf("removed server's tool found: %s", h.ID())
			}
		}
		want := 1
		for name, tools := range fixtureServers {
			if name != "weather" {
				want += len(tools)
			}
		}
		if got := x.Len(); got != want {
			t.Errorf("Len = %d, want %d", got, want)
		}
	})
	t.Run("Tiered", func(t *testing.T) {
		// Many writes to many servers: the groups must match bleve's
		// segments, stay few, and every tool stay findable.
		policy := mergePolicy{fanIn: 3, unit: 4}
		x := newTestIndexWith(t, nil, policy, nil)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range 300 {
			server := fmt.Sprintf("s%02d", r.IntN(40))
			var tools []mcpproxy.Tool
			for j := range 1 + r.IntN(6) {
				tools = append(tools, tool(fmt.Sprintf("t%d", j), fmt.Sprintf("tok%s%dx%d", server, j, i)))
			}
			if r.IntN(10) == 0 {
				must(t, x.RemoveServer(server))
			} else {
				must(t, x.SetServer(server, tools))
			}
			for {
				did, err := x.merge(false)
				must(t, err)
				if !did {
					break
				}
			}
			x.mu.Lock()
			groups := len(x.groups)
			x.mu.Unlock()
			if n := segmentCount(t, x); n != groups {
				t.Fatalf("write %d: %d segments, %d groups", i, n, groups)
			}
			// Tiers of 4, 12, 36, 108 tools and up: at most 2 groups each,
			// and fewer than 250 tools in all.
			if groups > 2*5 {
				t.Fatalf("write %d: %d groups", i, groups)
			}
		}
		snap := x.snap.Load()
		for server, st := range snap.servers {
			for name, tl := range st.tools {
				hits := searchT(t, x, tl.Description, 2)
				if len(hits) != 1 || hits[0].ID() != docID(server, name) {
					t.Errorf("Search(%q) = %s, want %s", tl.Description, describe(hits), docID(server, name))
				}
			}
		}
	})
}

// TestIndex_ScoresIndependentOfHistory: scores must depend on what is
// indexed, not on the order servers arrived in or how bleve segmented them.
func TestIndex_ScoresIndependentOfHistory(t *testing.T) {
	a := newTestIndex(t, fixtureServers)

	b := newTestIndexWith(t, nil, mergeNever, nil)
	names := sortedKeys(fixtureServers)
	slices.Reverse(names)
	for _, name := range names {
		must(t, b.SetServer(name, fixtureServers[name]))
	}
	if _, err := b.merge(true); err != nil {
		t.Fatal(err)
	}
	changed := slices.Clone(fixtureServers["github"])
	changed[0].Description = "something else entirely"
	must(t, b.SetServer("github", changed))
	must(t, b.RemoveServer("weather"))
	must(t, b.SetServer("github", fixtureServers["github"]))
	must(t, b.SetServer("weather", fixtureServers["weather"]))

	for _, tt := range relevanceCases {
		ha, hb := searchT(t, a, tt.query, 10), searchT(t, b, tt.query, 10)
		if !equalHits(ha, hb) {
			t.Errorf("Search(%q):\n%s\nvs\n%s", tt.query, describe(ha), describe(hb))
		}
	}
}

func TestIndex_CloseWhileSearching(t *testing.T) {
	before := goroutines()
	x, err := newIndex(mergeAlways, nil)
	must(t, err)
	for _, name := range sortedKeys(fixtureServers) {
		must(t, x.SetServer(name, fixtureServers[name]))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				_, err := x.Search(context.Background(), "read a file", 5)
				if mcpproxy.ErrorCode(err) == mcpproxy.EUNAVAILABLE {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	must(t, x.Close())
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("search during Close: %v", err)
	}
	// The merger and bleve's goroutines are gone once Close returns. A
	// goroutine that has closed its done channel may still be returning
	// from its deferred call, so allow it a moment to finish.
	after := goroutines()
	for deadline := time.Now().Add(2 * time.Second); len(after) > len(before) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		after = goroutines()
	}
	if len(after) > len(before) {
		t.Errorf("%d goroutines before New, %d after Close:\n%s", len(before), len(after), strings.Join(after, "\n\n"))
	}
}

// goroutines returns the stacks of all goroutines but the fire-and-forget
// ones bleve starts when it releases an index snapshot, which take a lock,
// append to a slice and return.
func goroutines() []string {
	buf := make([]byte, 1<<20)
	var out []string
	for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "AddEligibleForRemoval") && !strings.Contains(g, "DecRef.gowrap") {
			out = append(out, g)
		}
	}
	return out
}

func equalHits(a, b []Hit) bool {
	return slices.EqualFunc(a, b, func(x, y Hit) bool {
		return x.ID() == y.ID() && math.Abs(x.Score-y.Score) < 1e-9*math.Max(1, math.Abs(x.Score))
	})
}

// segmentCount returns the number of segments of the bleve index.
func segmentCount(tb testing.TB, x *Index) int {
	tb.Helper()
	adv, err := x.bleve.Advanced()
	must(tb, err)
	r, err := adv.Reader()
	must(tb, err)
	defer r.Close()
	return len(r.(*scorch.IndexSnapshot).Segments())
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

// TestIndex_TiesAtTheCutIndependentOfHistory: when more tools tie than the
// limit takes, which of them are returned depends on their ids, not on the
// order they were indexed in.
func TestIndex_TiesAtTheCutIndependentOfHistory(t *testing.T) {
	servers := map[string][]mcpproxy.Tool{}
	for _, s := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
		servers[s] = []mcpproxy.Tool{{Name: "ping", Description: "Checks that the service answers."}}
	}
	a := newTestIndexWith(t, nil, mergeNever, nil)
	b := newTestIndexWith(t, nil, mergeNever, nil)
	names := sortedKeys(servers)
	for _, name := range names {
		must(t, a.SetServer(name, servers[name]))
	}
	slices.Reverse(names)
	for _, name := range names {
		must(t, b.SetServer(name, servers[name]))
	}
	for limit := 1; limit <= 3; limit++ {
		ha, hb := searchT(t, a, "ping", limit), searchT(t, b, "ping", limit)
		if !equalHits(ha, hb) || len(ha) != limit || ha[0].Server != "s1" {
			t.Errorf("limit %d:\n%s\nvs\n%s\nwant the same, s1 first", limit, describe(ha), describe(hb))
		}
	}
}

// TestIndex_SetServers: several servers in one call are one segment, found
// by search like servers set one by one; an empty list removes a server;
// a bad server or tool anywhere in the call changes nothing.
func TestIndex_SetServers(t *testing.T) {
	x := newTestIndexWith(t, nil, mergeNever, nil)
	must(t, x.SetServers(fixtureServers))
	want := 0
	for _, tools := range fixtureServers {
		want += len(tools)
	}
	if x.Len() != want || segmentCount(t, x) != 1 {
		t.Fatalf("after one SetServers of %d servers: Len %d (want %d), %d segments (want 1)", len(fixtureServers), x.Len(), want, segmentCount(t, x))
	}
	one := newTestIndexWith(t, fixtureServers, mergeNever, nil)
	for _, q := range []string{"github issue pull request", "read a file", "send a slack message"} {
		if got, exp := ids(searchT(t, x, q, 5)), ids(searchT(t, one, q, 5)); !slices.Equal(got, exp) {
			t.Errorf("%q: set together %v, set one by one %v", q, got, exp)
		}
	}
	before := x.Len()
	err := x.SetServers(map[string][]mcpproxy.Tool{"github": nil, "zzz": {{Name: ""}}})
	if mcpproxy.ErrorCode(err) != mcpproxy.EINVALID || x.Len() != before {
		t.Fatalf("bad tool: err %v, Len %d (want %d unchanged)", err, x.Len(), before)
	}
	must(t, x.SetServers(map[string][]mcpproxy.Tool{"github": nil}))
	if got, exp := x.Len(), before-len(fixtureServers["github"]); got != exp {
		t.Fatalf("after removing github: Len %d, want %d", got, exp)
	}
	for _, h := range searchT(t, x, "github issue pull request repository", 50) {
		if h.Server == "github" {
			t.Errorf("removed server's tool found: %s", h.ID())
		}
	}
}

// TestIndex_SearchKeep: a filtered search returns up to limit of the
// tools it keeps, even when every better match is filtered out.
func TestIndex_SearchKeep(t *testing.T) {
	servers := map[string][]mcpproxy.Tool{}
	for i := range 40 {
		// The "loud" servers rank first: the query's word three times.
		servers[fmt.Sprintf("loud%02d", i)] = []mcpproxy.Tool{tool("report", "report report report")}
	}
	servers["quiet"] = []mcpproxy.Tool{tool("summary", "a report"), tool("weather", "forecast")}
	x := newTestIndex(t, servers)
	if top := searchT(t, x, "report", 5); len(top) != 5 || top[0].Server == "quiet" {
		t.Fatalf("unfiltered = %v, want 5 loud hits first", ids(top))
	}
	hits, err := x.SearchKeep(context.Background(), "report", 5, func(server string, _ *mcpproxy.Tool) bool { return server == "quiet" })
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(hits); len(got) != 1 || got[0] != "quiet:summary" {
		t.Errorf("kept = %v, want quiet:summary", got)
	}
}

// A hit says whether its schema and annotations may be copied into an
// answer as they are: only when compacting them changes nothing. Both
// scorers say it.
func TestIndex_HitCompactJSON(t *testing.T) {
	tools := []mcpproxy.Tool{
		{Name: "compact_tool", Description: "widget compact", InputSchema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string","description":"x <y> & \"z\""}}}`),
			Annotations: json.RawMessage(`{"readOnlyHint":true}`)},
		{Name: "pretty_tool", Description: "widget pretty", InputSchema: json.RawMessage("{\n  \"type\": \"object\"\n}")},
		{Name: "pretty_annotations", Description: "widget annotated", InputSchema: json.RawMessage(`{"type":"object"}`), Annotations: json.RawMessage(`{ "readOnlyHint": true }`)},
		{Name: "invalid_tool", Description: "widget invalid", InputSchema: json.RawMessage(`{"type":`)},
		{Name: "bare_tool", Description: "widget bare"},
	}
	want := map[string]bool{"compact_tool": true, "pretty_tool": false, "pretty_annotations": false, "invalid_tool": false, "bare_tool": true}
	for _, r := range []struct {
		name string
		rank ranking
	}{{"Own", defaultRanking}, {"Bleve", baselineRanking}} {
		t.Run(r.name, func(t *testing.T) {
			x := newTestIndex(t, map[string][]mcpproxy.Tool{"s": tools})
			x.rank = r.rank
			hits, err := x.Search(context.Background(), "widget", 10)
			if err != nil || len(hits) != len(tools) {
				t.Fatalf("got %d hits, %v; want %d", len(hits), err, len(tools))
			}
			for _, h := range hits {
				if h.CompactJSON != want[h.Tool.Name] {
					t.Errorf("%s: CompactJSON %v, want %v", h.Tool.Name, h.CompactJSON, want[h.Tool.Name])
				}
			}
		})
	}
}

func TestLeadSentence(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Read a file. Then more.", "Read a file."},
		{"  Read a file!  Then", "Read a file!"},
		{"Is it? Yes", "Is it?"},
		{"Version 1.2 of the file. Next", "Version 1.2 of the file."},
		{"First line\nSecond line. More", "First line"},
		{"No end", "No end"},
	} {
		if got := leadSentence(tc.in); got != tc.want {
			t.Errorf("leadSentence(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
