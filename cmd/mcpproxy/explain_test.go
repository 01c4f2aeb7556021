//go:build linux

package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/index"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func TestExplainSearch(t *testing.T) {
	idx, err := index.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	schema := json.RawMessage(`{"type":"object","properties":{"path":{"type":"string","description":"where"}}}`)
	if err := idx.SetServer("fs", []mcpproxy.Tool{
		{Name: "create_directory", Description: "Create a new directory", InputSchema: schema},
		{Name: "read_file", Description: "Read a file", InputSchema: schema},
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := explainSearch(ctx, idx, "make a folder", 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].ID != "fs:create_directory" || got[0].Why == nil {
		t.Fatalf("explainSearch(make a folder) = %+v; want fs:create_directory first, explained", got)
	}
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"why":{`, `"synonym_of":"folder"`, `"fields":{`, `"coverage":`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("explained hit %s lacks %s", b, want)
		}
	}
	if _, err := explainSearch(ctx, idx, "read", 101, 5); mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
		t.Errorf("limit 101: err = %v, want invalid", err)
	}
}
