// Package archtest holds the package diagram of docs/ARCHITECTURE.md as a
// test: every package has a layer, and a package imports only packages of
// lower layers. So the vocabulary imports nothing of ours, nothing below the
// supervisor knows it, and the surfaces (REST, MCP, metrics, UI, the CLI's
// client) do not import each other. Besides the layers, the surfaces reach
// upstreams only through the supervisor and the view: none imports the
// actor package (surfaceAvoids), and each outside dependency that one
// package wraps is imported by that package alone (owners).
package archtest

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/mcpproxy/mcpproxy/"

// layers is the diagram. A new package gets a line here, in the lowest
// layer above everything it imports.
var layers = map[string]int{
	// 0: the vocabulary every other package speaks.
	"internal/mcpproxy": 0,
	// 1: leaves — each knows only the vocabulary.
	"internal/secret":    1,
	"internal/config":    1,
	"internal/store":     1,
	"internal/index":     1,
	"internal/scan":      1,
	"internal/oauth":     1,
	"internal/stateview": 1,
	"internal/memtune":   1,
	"internal/httpauth":  1,
	"internal/relay":     1,
	"internal/apiv1":     1,
	"internal/golden":    1,
	"internal/sse":       1,
	"internal/keeper":    1,
	// 2: what the supervisor and the surfaces build on.
	"internal/token":           2,
	"internal/activity":        2,
	"internal/pinning":         2,
	"internal/upstream":        2,
	"internal/testupstream":    2,
	"internal/oauth/oauthtest": 2,
	"internal/readiness":       2,
	// 3: the single writer of desired state.
	"internal/supervisor": 3,
	// 4: the surfaces, which do not import each other.
	"internal/httpapi":   4,
	"internal/mcpserver": 4,
	"internal/metrics":   4,
	"internal/webui":     4,
	"internal/client":    4,
	// 5: the programs, which wire everything together.
	"cmd/mcpproxy": 5,
	"cmd/mcpbench": 5,
	// A generator of test data (the search evaluation's tool lists).
	"internal/index/gen/listtools": 5,
}

// owners are outside dependencies that one package of ours wraps for all
// the others: the store is the one package that knows bbolt (the others
// see an mcpproxy.Store), the index the one that knows bleve.
var owners = map[string]string{
	"go.etcd.io/bbolt":                "internal/store",
	"github.com/blevesearch/bleve/v2": "internal/index",
}

// surfaceAvoids are packages the surfaces must not import although they
// lie below them: the MCP endpoints reach an upstream through the relay and
// the published session, never through its actor.
var surfaceAvoids = []string{"internal/upstream"}

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestImportArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var bad []string
	seen := map[string]bool{}
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, module)
		if name == "internal/archtest" {
			continue
		}
		seen[name] = true
		from, ok := layers[name]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s has no layer: add it to the diagram (layers, here, and docs/ARCHITECTURE.md)", name))
			continue
		}
		for _, imp := range p.Imports {
			to, ours := strings.CutPrefix(imp, module)
			if !ours {
				for dep, owner := range owners {
					if (imp == dep || strings.HasPrefix(imp, dep+"/")) && name != owner {
						bad = append(bad, fmt.Sprintf("%s imports %s, which only %s may", name, imp, owner))
					}
				}
				continue
			}
			if l, ok := layers[to]; ok && l >= from {
				bad = append(bad, fmt.Sprintf("%s (layer %d) imports %s (layer %d)", name, from, to, l))
			}
			if from == 4 && slices.Contains(surfaceAvoids, to) {
				bad = append(bad, fmt.Sprintf("%s (a surface) imports %s", name, to))
			}
		}
	}
	for name := range layers {
		if !seen[name] {
			bad = append(bad, fmt.Sprintf("%s is in the diagram but not in the module", name))
		}
	}
	slices.Sort(bad)
	for _, b := range bad {
		t.Error(b)
	}
}
