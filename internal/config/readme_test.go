package config

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/golden"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// TestREADME_ConfigReference holds README.md's configuration reference to
// the types: the top-level table names exactly Config's keys, the per-server
// table exactly ServerSpec's, and the oauth row each of OAuthSpec's keys.
func TestREADME_ConfigReference(t *testing.T) {
	section := golden.Section(t, "../../README.md", "## Configuration")
	top, perServer, ok := strings.Cut(section, "Per server:")
	if !ok {
		t.Fatal("README.md ## Configuration: no \"Per server:\" table")
	}
	check := func(table string, typ reflect.Type) {
		t.Helper()
		documented := tableKeys(table)
		want := jsonKeys(typ)
		for _, k := range want {
			if !slices.Contains(documented, k) {
				t.Errorf("README.md: %s key %q has no row", typ.Name(), k)
			}
		}
		for _, k := range documented {
			if !slices.Contains(want, k) {
				t.Errorf("README.md: a row names %q, which %s does not have", k, typ.Name())
			}
		}
	}
	check(top, reflect.TypeFor[Config]())
	check(perServer, reflect.TypeFor[mcpproxy.ServerSpec]())

	var oauthRow string
	for line := range strings.Lines(perServer) {
		if strings.HasPrefix(line, "| `oauth` |") {
			oauthRow = line
		}
	}
	for _, k := range jsonKeys(reflect.TypeFor[mcpproxy.OAuthSpec]()) {
		if !strings.Contains(oauthRow, "`"+k+"`") {
			t.Errorf("README.md: the oauth row does not name %q", k)
		}
	}
}

// tableKeys returns the backquoted names in the first column of a Markdown
// table's rows.
func tableKeys(table string) []string {
	name := regexp.MustCompile("`([^`]+)`")
	var keys []string
	for line := range strings.Lines(table) {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			keys = append(keys, m[1])
		}
	}
	return keys
}

// jsonKeys returns the JSON keys of a struct type's fields.
func jsonKeys(typ reflect.Type) []string {
	var keys []string
	for f := range typ.Fields() {
		k, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}
