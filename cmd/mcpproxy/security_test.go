//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// reviewedTool is one entry of GET /api/v1/servers/{name}/tools.
type reviewedTool struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Fingerprint string `json:"fingerprint"`
	Approval    string `json:"approval"`
	Approved    *struct {
		Description string `json:"description"`
	} `json:"approved"`
	ApprovedAt *time.Time `json:"approved_at"`
	Diff       string     `json:"diff"`
}

func (p *proxy) reviewed(tb testing.TB, server, tool string) reviewedTool {
	tb.Helper()
	var tools []reviewedTool
	p.data(tb, "GET", "/api/v1/servers/"+server+"/tools", &tools)
	for _, t := range tools {
		if t.Name == tool {
			return t
		}
	}
	return reviewedTool{}
}

// waitApproval waits until GET …/tools shows the tool with approval want.
func (p *proxy) waitApproval(tb testing.TB, server, tool, want string) reviewedTool {
	tb.Helper()
	var got reviewedTool
	eventually(tb, 30*time.Second, func() error {
		got = p.reviewed(tb, server, tool)
		if got.Approval != want {
			return fmt.Errorf("%s:%s approval %q, want %q", server, tool, got.Approval, want)
		}
		return nil
	})
	return got
}

// postJSON sends an authenticated POST with a JSON body and returns the
// status and body.
func (p *proxy) postJSON(tb testing.TB, path, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest("POST", p.Base+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-API-Key", p.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mcpClient connects to the daemon's /mcp (no key: it listens on loopback)
// and closes the session at cleanup.
func (p *proxy) mcpClient(tb testing.TB) *mcp.ClientSession {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: p.Base + "/mcp", MaxRetries: -1}, nil)
	if err != nil {
		tb.Fatalf("connect %s/mcp: %v", p.Base, err)
	}
	tb.Cleanup(func() { cs.Close() })
	return cs
}

// callTool calls the built-in call_tool and returns its text and whether
// it is a tool error.
func callTool(tb testing.TB, cs *mcp.ClientSession, id string, args map[string]any) (string, bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "call_tool", Arguments: map[string]any{"name": id, "args": args}})
	if err != nil {
		tb.Fatalf("call_tool %s: %v", id, err)
	}
	return textOf(res), res.IsError
}

func wantCall(tb testing.TB, cs *mcp.ClientSession, id string, args map[string]any, want string) {
	tb.Helper()
	if got, isErr := callTool(tb, cs, id, args); isErr || got != want {
		tb.Fatalf("call_tool %s = %q (error %v), want %q", id, got, isErr, want)
	}
}

// TestServe_RugPull runs the whole approval flow on the real daemon: a
// stdio upstream changes a tool's description after two calls; the daemon
// withholds the tool, announces it on /events and shows a diff; a person
// approves it over REST; the approval survives a restart of the daemon.
func TestServe_RugPull(t *testing.T) {
	rug := stdio("rug", testupstream.ModeOK, testupstream.EnvRugPull+"=2")
	p := startProxy(t, configJSON(t, []map[string]any{rug}))
	p.waitState(t, "rug", 30*time.Second, "ready")
	original := p.waitApproval(t, "rug", "echo", "approved")
	if original.ApprovedAt == nil {
		t.Errorf("echo trusted on first use has no approved_at: %+v", original)
	}
	ev := p.subscribe(t)
	cs := p.mcpClient(t)

	wantCall(t, cs, "rug:echo", map[string]any{"message": "one"}, "one")
	wantCall(t, cs, "rug:echo", map[string]any{"message": "two"}, "two")

	changed := p.waitApproval(t, "rug", "echo", "changed")
	if changed.Description != testupstream.RugPulledDescription || changed.Approved == nil || changed.Approved.Description != original.Description {
		t.Errorf("changed echo under review: %+v", changed)
	}
	for _, want := range []string{"-   " + original.Description, "+   " + testupstream.RugPulledDescription} {
		if !strings.Contains(changed.Diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, changed.Diff)
		}
	}
	got := ev.waitFor(t, 30*time.Second, "tool.changed for rug:echo", func(e event) bool {
		return e.Type == "tool.changed" && e.Server == "rug"
	})
	var data struct {
		Tool   string `json:"tool"`
		Change string `json:"change"`
	}
	if err := json.Unmarshal(got.Data, &data); err != nil || data.Tool != "echo" || data.Change != "changed" {
		t.Errorf("tool.changed data %s (%v)", got.Data, err)
	}
	eventually(t, 30*time.Second, func() error {
		if text, isErr := callTool(t, cs, "rug:echo", map[string]any{"message": "x"}); !isErr || !strings.Contains(text, "changed") {
			return fmt.Errorf("call_tool rug:echo = %q (error %v), want refused as changed", text, isErr)
		}
		return nil
	})
	var waiting []struct {
		Server string `json:"server"`
	}
	p.data(t, "GET", "/api/v1/quarantine", &waiting)
	if len(waiting) != 1 || waiting[0].Server != "rug" {
		t.Errorf("GET /api/v1/quarantine = %+v, want rug", waiting)
	}

	if code, body := p.postJSON(t, "/api/v1/servers/rug/tools/approve", `{"tools":[{"name":"echo","fingerprint":"`+p.reviewed(t, "rug", "echo").Fingerprint+`"}]}`); code != 200 || !strings.Contains(body, `"approved":["echo"]`) {
		t.Fatalf("approve: %d %s", code, body)
	}
	p.waitApproval(t, "rug", "echo", "approved")
	eventually(t, 30*time.Second, func() error {
		if text, isErr := callTool(t, cs, "rug:echo", map[string]any{"message": "three"}); isErr || text != "three" {
			return fmt.Errorf("call_tool rug:echo = %q (error %v) after approval", text, isErr)
		}
		return nil
	})
	if code, body := p.postJSON(t, "/api/v1/servers/rug/tools/approve", `{"tools":"echo"}`); code != 400 || !strings.Contains(body, "body.tools") {
		t.Errorf("approve with a bad body: %d %s", code, body)
	}

	t.Run("Restart", func(t *testing.T) {
		// Stop the daemon by its pid, as a service manager would, and start
		// it again on the same config and data dir.
		p.track(t)
		if err := syscall.Kill(p.PID(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.waitExit(t, 15*time.Second); code != 0 {
			t.Fatalf("daemon exited with %d", code)
		}
		p2 := launch(t, p.Dir, []string{"serve", "-c", p.ConfigPath, "-l", "127.0.0.1:0"})
		p2.ConfigPath, p2.DataDir, p2.Key = p.ConfigPath, p.DataDir, p.Key
		p2.waitStarted(t)
		p2.waitState(t, "rug", 30*time.Second, "ready")

		// The new child starts with echo's original description, which
		// is no longer the approved one: the person's approval of the new
		// definition was kept, and nothing was trusted again on first use.
		after := p2.waitApproval(t, "rug", "echo", "changed")
		if after.Approved == nil || after.Approved.Description != testupstream.RugPulledDescription || after.Description != original.Description {
			t.Errorf("echo after restart: %+v, want the approved definition to be the rug-pulled one", after)
		}
		if add := p2.reviewed(t, "rug", "add"); add.Approval != "approved" {
			t.Errorf("add after restart: %q, want approved (pin kept)", add.Approval)
		}
		// Two calls later the child pulls the rug again and echo is back
		// to the definition the person approved.
		cs2 := p2.mcpClient(t)
		wantCall(t, cs2, "rug:add", map[string]any{"a": 1, "b": 2}, "3")
		wantCall(t, cs2, "rug:add", map[string]any{"a": 2, "b": 2}, "4")
		p2.waitApproval(t, "rug", "echo", "approved")
		eventually(t, 30*time.Second, func() error {
			if text, isErr := callTool(t, cs2, "rug:echo", map[string]any{"message": "kept"}); isErr || text != "kept" {
				return fmt.Errorf("call_tool rug:echo = %q (error %v) after restart", text, isErr)
			}
			return nil
		})
		var w []json.RawMessage
		p2.data(t, "GET", "/api/v1/quarantine", &w)
		if len(w) != 0 {
			t.Errorf("waiting after restart: %s", w)
		}
	})
}
