package index

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// indexKinds are the kinds of index the relevance table and the benchmarks
// run against: in memory (New) and on disk (Open).
var indexKinds = []string{"mem", "disk"}

// newKindIndex returns an index of the kind, closed at the end of the test,
// holding servers added one by one.
func newKindIndex(tb testing.TB, kind string, servers map[string][]mcpproxy.Tool) *Index {
	tb.Helper()
	if kind == "mem" {
		return newTestIndex(tb, servers)
	}
	x := openTestIndex(tb, filepath.Join(tb.TempDir(), "index"))
	for _, name := range sortedKeys(servers) {
		must(tb, x.SetServer(name, servers[name]))
	}
	return x
}

// openTestIndex opens the index in dir; it is closed at the end of the test
// unless the test closes it.
func openTestIndex(tb testing.TB, dir string) *Index {
	tb.Helper()
	x, err := Open(dir, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := x.Close(); err != nil {
			tb.Error(err)
		}
	})
	return x
}

// settle merges the segments of x as its merger would, or, on disk, waits
// for bleve to: until the number of segments has not changed for a second.
func settle(tb testing.TB, x *Index) {
	tb.Helper()
	if x.selfMerge {
		mergeAll(tb, x)
		return
	}
	n, since := segmentCount(tb, x), time.Now()
	for deadline := time.Now().Add(time.Minute); time.Since(since) < time.Second; {
		if time.Now().After(deadline) {
			tb.Fatalf("segments still changing after a minute (%d)", n)
		}
		time.Sleep(50 * time.Millisecond)
		if m := segmentCount(tb, x); m != n {
			n, since = m, time.Now()
		}
	}
}

func TestOpen_Reopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	github, weather := fixtureServers["github"], fixtureServers["weather"]
	x := openTestIndex(t, dir)
	must(t, x.SetServers(map[string][]mcpproxy.Tool{"github": github, "weather": weather}))
	if hits := searchT(t, x, "weather forecast", 5); len(hits) == 0 {
		t.Fatal("no hits before Close")
	}
	must(t, x.Close())

	x = openTestIndex(t, dir)
	if n := x.Len(); n != 0 {
		t.Errorf("Len = %d after Open, want 0 (no server set yet)", n)
	}
	if hits := searchT(t, x, "weather forecast", 5); len(hits) != 0 {
		t.Errorf("hits before any server is set: %v", describe(hits))
	}
	if h := x.snap.Load().hidden; h != len(github)+len(weather) {
		t.Errorf("%d dormant documents, want %d", h, len(github)+len(weather))
	}

	t.Run("SameToolsNotReindexed", func(t *testing.T) {
		reversed := slices.Clone(weather)
		slices.Reverse(reversed)
		must(t, x.SetServer("weather", reversed))
		if n := x.indexed.Load(); n != 0 {
			t.Errorf("%d documents indexed, want 0", n)
		}
		hits := searchT(t, x, "weather forecast", 5)
		if len(hits) == 0 || hits[0].ID() != "weather:get_forecast" {
			t.Errorf("hits = %v, want weather:get_forecast first", describe(hits))
		}
		for _, h := range searchT(t, x, "issue pull request repository", 20) {
			if h.Server == "github" {
				t.Errorf("hit %s of a server not set since Open", h.ID())
			}
		}
		if x.Len() != len(weather) {
			t.Errorf("Len = %d, want %d", x.Len(), len(weather))
		}
	})
	t.Run("ChangedToolsReindexed", func(t *testing.T) {
		changed := []mcpproxy.Tool{github[0], tool("frobnicate_widgets", "Frobnicate the widgets of a repository.")}
		must(t, x.SetServer("github", changed))
		if n := x.indexed.Load(); n != uint64(len(changed)) {
			t.Errorf("%d documents indexed, want %d", n, len(changed))
		}
		if hits := searchT(t, x, "frobnicate", 5); len(hits) != 1 || hits[0].ID() != "github:frobnicate_widgets" {
			t.Errorf("hits = %v, want github:frobnicate_widgets", describe(hits))
		}
		if hits := searchT(t, x, "merge pull request", 5); slices.Contains(ids(hits), "github:merge_pull_request") {
			t.Errorf("a tool the server no longer has is found: %v", describe(hits))
		}
		if h := x.snap.Load().hidden; h != 0 {
			t.Errorf("%d dormant documents, want 0", h)
		}
	})
	must(t, x.Close())

	// What the second run indexed is what the third finds.
	x = openTestIndex(t, dir)
	must(t, x.SetServer("github", []mcpproxy.Tool{github[0], tool("frobnicate_widgets", "Frobnicate the widgets of a repository.")}))
	if n := x.indexed.Load(); n != 0 {
		t.Errorf("%d documents indexed on the third open, want 0", n)
	}
	if hits := searchT(t, x, "frobnicate", 5); len(hits) != 1 {
		t.Errorf("hits = %v, want github:frobnicate_widgets", describe(hits))
	}
}

// TestIndex_Dormant checks that the tools of dormant servers are left out
// of results, limits and statistics, in memory (Hide) and on disk (Open).
func TestIndex_Dormant(t *testing.T) {
	// Ten servers with the same five matching tools; the dormant ones
	// sort first and would fill any limit.
	servers := map[string][]mcpproxy.Tool{}
	for i := range 10 {
		var tools []mcpproxy.Tool
		for j := range 5 {
			tools = append(tools, tool(fmt.Sprintf("frobnicate_%d", j), "Frobnicate widgets."))
		}
		servers[fmt.Sprintf("s%d", i)] = tools
	}
	live := map[string][]mcpproxy.Tool{"s8": servers["s8"], "s9": servers["s9"]}
	ref := newTestIndex(t, live)

	check := func(t *testing.T, x *Index) {
		t.Helper()
		if x.Len() != 10 {
			t.Errorf("Len = %d, want 10", x.Len())
		}
		for _, limit := range []int{1, 5, 10, 15} {
			hits := searchT(t, x, "frobnicate widgets", limit)
			if want := min(limit, 10); len(hits) != want {
				t.Errorf("limit %d: %d hits, want %d", limit, len(hits), want)
			}
			for _, h := range hits {
				if h.Server != "s8" && h.Server != "s9" {
					t.Errorf("limit %d: hit %s of a dormant server", limit, h.ID())
				}
			}
			// Same statistics as an index of the live servers alone.
			// (bleve's document frequencies still count the dormant
			// documents: the scores differ, their order does not.)
			if want := searchT(t, ref, "frobnicate widgets", limit); !slices.Equal(ids(hits), ids(want)) {
				t.Errorf("limit %d: hits %v, want %v", limit, ids(hits), ids(want))
			}
		}
		if got, want := x.snap.Load().lens, ref.snap.Load().lens; got != want {
			t.Errorf("field lengths %v, want %v", got, want)
		}
	}
	t.Run("Hide", func(t *testing.T) {
		x := newTestIndex(t, servers)
		var hide []string
		for i := range 8 {
			hide = append(hide, fmt.Sprintf("s%d", i))
		}
		must(t, x.Hide(hide...))
		check(t, x)
		// Back with the same tools: live again, nothing indexed.
		before := x.indexed.Load()
		must(t, x.SetServer("s0", servers["s0"]))
		if x.indexed.Load() != before {
			t.Error("a hidden server set with its tools was re-indexed")
		}
		if x.Len() != 15 {
			t.Errorf("Len = %d, want 15", x.Len())
		}
		// Removal deletes a dormant server too.
		must(t, x.RemoveServer("s1"))
		if _, ok := x.known["s1"]; ok || x.snap.Load().hidden != 30 {
			t.Errorf("s1 still known after RemoveServer (%d dormant documents)", x.snap.Load().hidden)
		}
	})
	t.Run("Open", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "index")
		x := openTestIndex(t, dir)
		must(t, x.SetServers(servers))
		must(t, x.Close())
		x = openTestIndex(t, dir)
		must(t, x.SetServers(live))
		check(t, x)
	})
}

func TestIndex_Prune(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	x := openTestIndex(t, dir)
	must(t, x.SetServers(fixtureServers))
	must(t, x.Close())

	x = openTestIndex(t, dir)
	must(t, x.SetServer("weather", fixtureServers["weather"]))
	keep := map[string]bool{"github": true, "slack": true}
	// weather is live: pruning is for dormant servers, its writer removes it.
	must(t, x.Prune(func(s string) bool { return keep[s] }))
	if got := slices.Sorted(maps.Keys(x.known)); !slices.Equal(got, []string{"github", "slack", "weather"}) {
		t.Errorf("known after Prune = %v", got)
	}
	must(t, x.Close())

	x = openTestIndex(t, dir)
	if got := slices.Sorted(maps.Keys(x.known)); !slices.Equal(got, []string{"github", "slack", "weather"}) {
		t.Errorf("known after reopen = %v", got)
	}
	// A pruned server set again is indexed from scratch and found.
	must(t, x.SetServer("filesystem", fixtureServers["filesystem"]))
	if n := x.indexed.Load(); n != uint64(len(fixtureServers["filesystem"])) {
		t.Errorf("%d documents indexed, want %d", n, len(fixtureServers["filesystem"]))
	}
	if hits := searchT(t, x, "read_file", 1); len(hits) != 1 || hits[0].ID() != "filesystem:read_file" {
		t.Errorf("hits = %v", describe(hits))
	}
}

func TestOpen_Unusable(t *testing.T) {
	t.Run("Garbage", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "index")
		x := openTestIndex(t, dir)
		must(t, x.SetServers(fixtureServers))
		must(t, x.Close())
		entries, err := os.ReadDir(dir)
		must(t, err)
		for _, e := range entries {
			if !e.IsDir() {
				must(t, os.WriteFile(filepath.Join(dir, e.Name()), []byte("garbage"), 0o600))
			}
		}
		var logs bytes.Buffer
		x, err = Open(dir, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatalf("Open(garbage) = %v, want an empty index", err)
		}
		defer x.Close()
		if len(x.known) != 0 {
			t.Errorf("known = %v, want none", slices.Collect(maps.Keys(x.known)))
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), dir) {
			t.Errorf("no warning naming %s logged:\n%s", dir, logs.String())
		}
		must(t, x.SetServer("weather", fixtureServers["weather"]))
		if hits := searchT(t, x, "weather forecast", 1); len(hits) != 1 {
			t.Errorf("hits = %v after rebuild", describe(hits))
		}
	})
	t.Run("NotADirectory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "index")
		must(t, os.WriteFile(dir, []byte("garbage"), 0o600))
		x := openTestIndex(t, dir)
		must(t, x.SetServer("weather", fixtureServers["weather"]))
	})
	t.Run("OtherVersion", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "index")
		x := openTestIndex(t, dir)
		must(t, x.SetServers(fixtureServers))
		must(t, x.Close())
		// Write another version; a safe batch is on disk when it returns.
		bi, err := bleve.OpenUsing(dir, map[string]any{"unsafe_batch": false})
		must(t, err)
		must(t, bi.SetInternal(versionKey, []byte("0 old")))
		must(t, bi.Close())
		var logs bytes.Buffer
		x, err = Open(dir, slog.New(slog.NewTextHandler(&logs, nil)))
		must(t, err)
		defer x.Close()
		if len(x.known) != 0 || !strings.Contains(logs.String(), "level=WARN") {
			t.Errorf("an index of another version was kept (known %d); log:\n%s", len(x.known), logs.String())
		}
	})
	t.Run("Unwritable", func(t *testing.T) {
		// A file where the data dir should be: unwritable, even for root.
		file := filepath.Join(t.TempDir(), "data")
		must(t, os.WriteFile(file, nil, 0o600))
		dir := filepath.Join(file, "index")
		x, err := Open(dir, nil)
		if err == nil {
			x.Close()
			t.Fatal("Open in an unwritable directory succeeded")
		}
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("error %q does not name %s", err, dir)
		}
	})
}
