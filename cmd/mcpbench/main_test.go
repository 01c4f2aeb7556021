package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestPromSum(t *testing.T) {
	body := []byte(`# HELP mcpproxy_index_updates_total Index updates.
# TYPE mcpproxy_index_updates_total counter
mcpproxy_index_updates_total{op="remove"} 3
mcpproxy_index_updates_total{op="set"} 7
mcpproxy_index_updates_total_other 100
mcpproxy_tools_indexed 2000
`)
	if got := promSum(body, "mcpproxy_index_updates_total"); got != 10 {
		t.Errorf("labelled sum = %v, want 10", got)
	}
	if got := promSum(body, "mcpproxy_tools_indexed"); got != 2000 {
		t.Errorf("unlabelled = %v, want 2000", got)
	}
	if got := promValues(body)["mcpproxy_tools_indexed"]; got != 2000 {
		t.Errorf("promValues = %v, want 2000", got)
	}
}

func TestCatalogTools(t *testing.T) {
	a, b := catalogTools(7, 200), catalogTools(7, 200)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("catalogTools is not deterministic")
	}
	seen := map[string]bool{}
	for _, tool := range a {
		if seen[tool.Name] {
			t.Fatalf("duplicate tool name %q", tool.Name)
		}
		seen[tool.Name] = true
		if tool.Description == "" || len(tool.Schema) == 0 {
			t.Fatalf("tool %q has no description or schema", tool.Name)
		}
	}
	if len(a) != 200 {
		t.Fatalf("got %d tools, want 200", len(a))
	}
}

func TestLatenciesQuantile(t *testing.T) {
	var l latencies
	for i := 100; i >= 1; i-- {
		l = append(l, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}} {
		if got := l.q(c.p); got != c.want {
			t.Errorf("q(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := (latencies{}).q(0.5); got != 0 {
		t.Errorf("empty q = %v, want 0", got)
	}
}

func TestReplaceSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	os.WriteFile(path, []byte("# B\n\nbefore\n"+beginMarker+"\nold\n"+endMarker+"\nafter\n"), 0o644)
	if err := replaceSection(path, "new\n", beginMarker, endMarker, "H"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "# B\n\nbefore\n" + beginMarker + "\nnew\n" + endMarker + "\nafter\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A second section of its own is appended under its heading, and then
	// replaced in place, leaving the first alone.
	for _, r := range []string{"big1\n", "big2\n"} {
		if err := replaceSection(path, r, bigBeginMarker, bigEndMarker, "Big"); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = os.ReadFile(path)
	if want := "# B\n\nbefore\n" + beginMarker + "\nnew\n" + endMarker + "\nafter\n\n## Big\n\n" + bigBeginMarker + "\nbig2\n" + bigEndMarker + "\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	os.WriteFile(path, []byte(endMarker+beginMarker), 0o644)
	if err := replaceSection(path, "x", beginMarker, endMarker, "H"); err == nil {
		t.Error("unbalanced markers: want an error")
	}
}

func TestIntList(t *testing.T) {
	got, err := intList("1000, 10000,50000", 200)
	if err != nil || !reflect.DeepEqual(got, []int{1000, 10000, 50000}) {
		t.Errorf("intList = %v, %v", got, err)
	}
	if _, err := intList("100", 200); err == nil {
		t.Error("below the least: want an error")
	}
}
