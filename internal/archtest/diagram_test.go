package archtest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDiagramMatchesLayers holds docs/ARCHITECTURE.md's package diagram to
// layers: each package drawn on a layer's line is in layers at that layer,
// and each package of layers is drawn. A line of the diagram is a layer's
// number, its packages (without internal/), then a comment.
func TestDiagramMatchesLayers(t *testing.T) {
	doc, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "Imports point down this diagram")
	if !ok {
		t.Fatal("docs/ARCHITECTURE.md: no package diagram (\"Imports point down this diagram\")")
	}
	_, rest, _ = strings.Cut(rest, "```\n")
	block, _, _ := strings.Cut(rest, "```")
	drawn := map[string]int{}
	for line := range strings.Lines(block) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		layer, err := strconv.Atoi(f[0])
		if err != nil {
			continue // an arrow or a comment's next line
		}
		// The packages run up to the last name layers knows; the comment
		// follows.
		var names []string
		for i, name := range f[1:] {
			if _, known := layers[pkgOf(name)]; known {
				names = f[1 : i+2]
			}
		}
		for _, name := range names {
			if _, known := layers[pkgOf(name)]; !known {
				t.Errorf("docs/ARCHITECTURE.md draws %s on layer %d; layers does not have it", name, layer)
			}
			drawn[pkgOf(name)] = layer
		}
	}
	for pkg, l := range layers {
		switch d, ok := drawn[pkg]; {
		case !ok:
			t.Errorf("%s (layer %d) is not in docs/ARCHITECTURE.md's diagram", pkg, l)
		case d != l:
			t.Errorf("docs/ARCHITECTURE.md draws %s on layer %d; layers has %d", pkg, d, l)
		}
	}
}

// pkgOf is the package a name of the diagram stands for.
func pkgOf(name string) string {
	if strings.HasPrefix(name, "cmd/") {
		return name
	}
	return "internal/" + name
}
