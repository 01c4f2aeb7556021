package httpapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/golden"
)

// TestREADME_EndpointTable holds README.md's table of HTTP endpoints to the
// routes registered (here, and the daemon's own in cmd/mcpproxy/serve.go):
// every route with a method has its row, and every row names a route.
func TestREADME_EndpointTable(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../cmd/mcpproxy/serve.go")
	routes := map[string]bool{} // "GET /path", or "/path" for any method
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			pattern, _ := strconv.Unquote(lit.Value)
			routes[strings.TrimSuffix(pattern, "{$}")] = true
			return true
		})
	}
	if !routes["GET /api/v1/status"] {
		t.Fatalf("found no route GET /api/v1/status in %v: the scan is broken", files)
	}

	section := golden.Section(t, "../../README.md", "## HTTP endpoints")
	code := regexp.MustCompile("`([^`]+)`")
	documented := map[string]bool{}
	for line := range strings.Lines(section) {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| `") || len(cells) < 3 {
			continue
		}
		// `POST /a/b/enable`, `/disable` is POST /a/b/enable and POST /a/b/disable.
		var method, path string
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			item := m[1]
			if before, after, ok := strings.Cut(item, " "); ok {
				method, path = before, after
			} else {
				path = path[:strings.LastIndex(path, "/")] + item
			}
			path, _, _ = strings.Cut(path, "?")
			path, _, _ = strings.Cut(path, "[")
			route := method + " " + path
			documented[route] = true
			if !routes[route] && !routes[path] {
				t.Errorf("README.md's endpoint table has %s, which no handler serves", route)
			}
		}
	}
	for _, route := range slices.Sorted(maps.Keys(routes)) {
		if strings.Contains(route, " ") && !documented[route] {
			t.Errorf("%s is served but has no row in README.md's endpoint table", route)
		}
	}
}
