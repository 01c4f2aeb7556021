//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connectPath opens an MCP session on one of the daemon's endpoints and
// closes it at cleanup.
func (p *proxy) connectPath(tb testing.TB, path string) *mcp.ClientSession {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-contract", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: p.Base + path, MaxRetries: -1}, nil)
	if err != nil {
		tb.Fatalf("connect %s%s: %v", p.Base, path, err)
	}
	tb.Cleanup(func() { cs.Close() })
	return cs
}

// textOf joins a result's texts.
func textOf(res *mcp.CallToolResult) string { return testupstream.Text(res) }

var contractKeyRE = regexp.MustCompile(`read_cache with key "([0-9a-f]+)"`)

// The agent-facing call contract, end to end through the binary, against
// the annotated test upstream and server-everything's annotated tools:
// describe_tool, the intent-declared calls and their refusals, the intent
// in the activity log, and /mcp/all's output schemas and read_cache.
func TestContract_AgentTools(t *testing.T) {
	bin := everythingBin(t)
	notes := stdio("notes", testupstream.ModeOK, testupstream.EnvAnnotated+"=1")
	p := startProxy(t, configJSON(t, []map[string]any{notes, {"name": "every", "command": bin}}, "tool_response_limit", 40))
	p.waitState(t, "notes", 30*time.Second, "ready")
	waitSettled(t, p, "every")
	cs := p.connectPath(t, "/mcp")
	intent := map[string]any{"reason": "e2e contract test"}

	// describe_tool: schemas, output schema, and the variant that fits.
	res := testupstream.Call(t, cs, "describe_tool", map[string]any{"ids": []string{"every:get-structured-content", "every:toggle-simulated-logging", "notes:notes_touch"}})
	var described struct {
		Tools []struct {
			ID           string          `json:"id"`
			OutputSchema json.RawMessage `json:"output_schema"`
			InputSchema  json.RawMessage `json:"input_schema"`
			CallWith     string          `json:"call_with"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(textOf(res)), &described); err != nil || res.IsError || len(described.Tools) != 3 {
		t.Fatalf("describe_tool: %v: %s", err, textOf(res))
	}
	for i, want := range []string{"call_tool_read", "call_tool_write", "call_tool_destructive"} {
		if got := described.Tools[i]; got.CallWith != want {
			t.Errorf("%s: call_with %q, want %q", got.ID, got.CallWith, want)
		}
	}
	if d := described.Tools[0]; !strings.Contains(string(d.OutputSchema), "temperature") || !strings.Contains(string(d.InputSchema), "location") {
		t.Errorf("get-structured-content: input %s, output %s", d.InputSchema, d.OutputSchema)
	}
	res = testupstream.Call(t, cs, "describe_tool", map[string]any{"ids": []string{"every:get-summ"}})
	if !res.IsError || !strings.Contains(textOf(res), `"every:get-sum"`) {
		t.Errorf("describe_tool of a misspelt id: %s", textOf(res))
	}

	// Intent-declared calls against server-everything's annotations.
	res = testupstream.Call(t, cs, "call_tool_read", map[string]any{"name": "every:get-sum", "args": map[string]any{"a": 17, "b": 25}, "intent": intent})
	if res.IsError || !strings.Contains(textOf(res), "42") {
		t.Errorf("call_tool_read get-sum: %s", textOf(res))
	}
	res = testupstream.Call(t, cs, "call_tool_read", map[string]any{"name": "every:toggle-simulated-logging", "intent": intent})
	if txt := textOf(res); !res.IsError || !strings.Contains(txt, "use call_tool_write") || !strings.Contains(txt, `"destructiveHint":false`) {
		t.Errorf("call_tool_read of a tool that writes: isError %v: %s", res.IsError, txt)
	}
	res = testupstream.Call(t, cs, "call_tool_write", map[string]any{"name": "every:toggle-simulated-logging", "intent": intent})
	if res.IsError {
		t.Errorf("call_tool_write toggle-simulated-logging: %s", textOf(res))
	}
	// ... and against the test upstream's destructive and unannotated tools,
	// which a refused call never reaches.
	for _, tool := range []string{"notes_delete", "notes_touch"} {
		res = testupstream.Call(t, cs, "call_tool_write", map[string]any{"name": "notes:" + tool, "intent": intent})
		if !res.IsError || !strings.Contains(textOf(res), "use call_tool_destructive") {
			t.Errorf("call_tool_write %s: %s", tool, textOf(res))
		}
	}
	res = testupstream.Call(t, cs, "call_tool_read", map[string]any{"name": "notes:notes_list", "intent": intent})
	if !strings.Contains(textOf(res), `"writes":0`) {
		t.Errorf("refused calls reached the upstream: %s", textOf(res))
	}

	// The activity log holds the declared intent, and activity show shows it.
	var recID string
	eventually(t, 10*time.Second, func() error {
		var page apiv1.ActivityPage
		p.data(t, "GET", "/api/v1/activity?server=notes", &page)
		for _, r := range page.Records {
			if r.Tool == "notes_delete" && r.Intent != nil && r.Intent.Variant == "call_tool_write" && r.Intent.Reason == "e2e contract test" && r.Status == "blocked" {
				recID = r.ID
				return nil
			}
		}
		return fmt.Errorf("no blocked record of notes_delete with its intent among %d records", len(page.Records))
	})
	if out := p.ok(t, "activity", "show", recID); !hasRow(out, "intent:", "call_tool_write") || !hasRow(out, "reason:", "e2e contract test") {
		t.Errorf("activity show %s:\n%s", recID, out)
	}

	// /mcp/all keeps the output schema and structured results, and a
	// result over tool_response_limit is read back with its read_cache.
	all := p.connectPath(t, "/mcp/all")
	lt, err := all.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var schema, readCache bool
	for _, tl := range lt.Tools {
		if tl.Name == "every__get-structured-content" && tl.OutputSchema != nil {
			schema = true
		}
		readCache = readCache || tl.Name == "read_cache"
	}
	if !schema || !readCache {
		t.Errorf("/mcp/all: output schema of get-structured-content %v, read_cache listed %v", schema, readCache)
	}
	res = testupstream.Call(t, all, "every__get-structured-content", map[string]any{"location": "Chicago"})
	m := contractKeyRE.FindStringSubmatch(textOf(res))
	if !res.IsError || m == nil || res.StructuredContent != nil || !strings.Contains(textOf(res), "output schema") {
		t.Fatalf("a truncated structured result on /mcp/all: isError %v: %s", res.IsError, textOf(res))
	}
	res = testupstream.Call(t, all, "read_cache", map[string]any{"key": m[1], "limit": 1000})
	if res.IsError || !strings.Contains(textOf(res), "temperature") || !strings.Contains(textOf(res), "humidity") {
		t.Errorf("read_cache on /mcp/all: %s", textOf(res))
	}
}

// tools preflight says why a tool cannot be called, with exit statuses
// by class, and --wait waits out a server that is starting.
func TestContract_Preflight(t *testing.T) {
	quar := stdio("quar", testupstream.ModeOK)
	quar["quarantined"] = true
	late := stdio("late", testupstream.ModeOK, testupstream.EnvStartDelay+"=4s")
	off := stdio("off", testupstream.ModeOK)
	off["enabled"] = false
	p := startProxy(t, configJSON(t, []map[string]any{late, stdio("echo", testupstream.ModeOK), quar, off}))

	// Right after start "late" is still starting: transient, 75.
	r := p.cli(t, "tools", "preflight", "late:echo")
	wantExit(t, r, 75, "preflight: 1 of 1 tools not ready (transient)")
	if !hasRow(r.stdout, "late:echo", "starting", "transient") {
		t.Errorf("preflight of a starting server:\n%s", r)
	}
	start := time.Now()
	r = p.cli(t, "tools", "preflight", "late:echo", "--wait", "30s")
	if r.code != 0 || !hasRow(r.stdout, "late:echo", "ready", "ready") {
		t.Fatalf("preflight --wait: %s", r)
	}
	t.Logf("--wait waited %s", time.Since(start))

	p.waitState(t, "echo", 30*time.Second, "ready")
	if out := p.ok(t, "tools", "preflight", "echo:echo", "late:add"); !hasRow(out, "echo:echo", "ready", "ready") || !hasRow(out, "late:add", "ready") {
		t.Errorf("preflight of ready tools:\n%s", out)
	}
	wantExit(t, p.cli(t, "tools", "preflight", "echo:echo", "quar:echo"), 77, "(blocked)")
	r = p.cli(t, "tools", "preflight", "echo:ecko", "quar:echo")
	wantExit(t, r, 78, "2 of 2 tools not ready (misconfigured)")
	if !strings.Contains(r.stdout, "did you mean echo:echo") {
		t.Errorf("no closest id for echo:ecko:\n%s", r.stdout)
	}
	wantExit(t, p.cli(t, "tools", "preflight", "off:echo"), 78, "(misconfigured)")
	// A blocked tool ends --wait at once.
	start = time.Now()
	wantExit(t, p.cli(t, "tools", "preflight", "quar:echo", "--wait", "20s"), 77, "(blocked)")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("--wait on a blocked tool took %s", d)
	}
	var pf apiv1.Preflight
	r = p.cli(t, "tools", "preflight", "quar:echo", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &pf); err != nil || r.code != 77 || pf.Tools[0].Status != "quarantined" {
		t.Errorf("preflight -o json: %v: %s", err, r)
	}
	wantExit(t, p.cli(t, "tools", "preflight"), 2, "requires at least 1 arg")
}

// structuredCall runs test/mcp-peers/structured.mjs: the TypeScript SDK's
// client, which checks a result against the tool's output schema.
type structuredCall struct {
	Listed, OutputSchema, Threw, IsError, Structured bool
	Text, Error                                      string
}

func runStructured(tb testing.TB, url, tool, args string) structuredCall {
	tb.Helper()
	dir, _ := filepath.Abs(filepath.Join("..", "..", "test", "mcp-peers"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin(tb), "structured.mjs", url, tool, args)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("node structured.mjs %s %s: %v\n%s", url, tool, err, tail(stderr.String(), 20))
	}
	var r structuredCall
	if err := json.Unmarshal(out, &r); err != nil {
		tb.Fatalf("node structured.mjs: %v: %s", err, out)
	}
	return r
}

// A client that checks results against output schemas (the TypeScript
// SDK's) accepts what /mcp/all sends for a tool with one: the structured
// result under tool_response_limit, and the cut one over it, which is an
// error result since no part of it can match the schema.
func TestContract_DirectOutputSchemaTypeScript(t *testing.T) {
	bin := everythingBin(t)
	for _, tc := range []struct {
		name  string
		limit int
	}{{"Whole", 20000}, {"Truncated", 40}} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, configJSON(t, []map[string]any{{"name": "every", "command": bin}}, "tool_response_limit", tc.limit))
			waitSettled(t, p, "every")
			r := runStructured(t, p.Base+"/mcp/all", "every__get-structured-content", `{"location":"Chicago"}`)
			if !r.Listed || !r.OutputSchema || r.Threw {
				t.Fatalf("%+v", r)
			}
			switch tc.name {
			case "Whole":
				if r.IsError || !r.Structured || !strings.Contains(r.Text, "temperature") {
					t.Errorf("whole result: %+v", r)
				}
			case "Truncated":
				if !r.IsError || r.Structured || !contractKeyRE.MatchString(r.Text) {
					t.Errorf("truncated result: %+v", r)
				}
			}
		})
	}
}
