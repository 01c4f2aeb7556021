//go:build linux

package main

// End-to-end tests of the CLI: every command runs as a subprocess of the
// real binary against a real daemon started by startProxy, and what it
// changes is checked over REST and in the config file.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// cliResult is what one CLI run printed and its exit status.
type cliResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("mcpproxy %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// runCLI runs the binary with args in dir, which is also its HOME, with
// env added to the test's environment. A run that does not finish within
// a minute is killed and fails the test.
func runCLI(tb testing.TB, dir string, env []string, args ...string) cliResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, proxyBin, args...)
	cmd.Env = proxyEnv(dir, env)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		tb.Fatalf("did not finish within a minute: %s", r)
	}
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		tb.Fatalf("mcpproxy %v: %v", args, err)
	}
	if strings.Contains(r.stderr, "WARNING: DATA RACE") {
		tb.Errorf("data race: %s", r)
	}
	return r
}

// cli runs a CLI command against p, finding it through p's config file.
func (p *proxy) cli(tb testing.TB, args ...string) cliResult {
	tb.Helper()
	return runCLI(tb, p.Dir, nil, append([]string{"-c", p.ConfigPath}, args...)...)
}

// ok runs a command that must succeed and returns its stdout.
func (p *proxy) ok(tb testing.TB, args ...string) string {
	tb.Helper()
	r := p.cli(tb, args...)
	if r.code != 0 {
		tb.Fatalf("want exit 0: %s", r)
	}
	return r.stdout
}

// okJSON runs a command with -o json that must succeed and decodes its
// output into v.
func (p *proxy) okJSON(tb testing.TB, v any, args ...string) {
	tb.Helper()
	out := p.ok(tb, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		tb.Fatalf("mcpproxy %v -o json: %v\n%s", args, err, out)
	}
}

// wantExit checks a run's exit status and that stderr holds want.
func wantExit(tb testing.TB, r cliResult, code int, want string) {
	tb.Helper()
	if r.code != code || !strings.Contains(r.stderr, want) {
		tb.Errorf("want exit %d with %q on stderr: %s", code, want, r)
	}
}

// hasRow reports whether a table line has these cells in order, separated
// by column padding.
func hasRow(out string, cells ...string) bool {
	var quoted []string
	for _, c := range cells {
		quoted = append(quoted, regexp.QuoteMeta(c))
	}
	return regexp.MustCompile(`(?m)^` + strings.Join(quoted, ` {2,}`) + `( |$)`).MatchString(out)
}

// TestCLI_Commands runs every command that talks to the daemon against one
// daemon with a ready server and a quarantined one.
func TestCLI_Commands(t *testing.T) {
	quar := stdio("quar", testupstream.ModeOK)
	quar["quarantined"] = true
	p := startProxy(t, configJSON(t, []map[string]any{stdio("echo", testupstream.ModeOK), quar}))
	p.waitState(t, "echo", 30*time.Second, "ready")
	p.waitState(t, "quar", 30*time.Second, "quarantined")

	t.Run("DaemonFile", func(t *testing.T) {
		path := filepath.Join(p.DataDir, "daemon.json")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("daemon.json mode %v, want 0600", fi.Mode().Perm())
		}
		var d struct {
			URL string `json:"url"`
			PID int    `json:"pid"`
		}
		data, _ := os.ReadFile(path)
		if err := json.Unmarshal(data, &d); err != nil || d.URL != p.Base || d.PID != p.PID() {
			t.Errorf("daemon.json = %s, want url %s and pid %d", data, p.Base, p.PID())
		}
	})

	t.Run("Status", func(t *testing.T) {
		// The config has no listen, so this finds the daemon (on a port
		// chosen at start) through daemon.json only.
		out := p.ok(t, "status")
		for _, want := range [][]string{
			{"daemon:", p.Base + " (mcpproxy dev)"},
			{"config:", p.ConfigPath},
			{"servers:", "2 (1 ready, 1 quarantined)"},
			{"quarantined:", "1 server"},
		} {
			if !hasRow(out, want...) {
				t.Errorf("status lacks the row %q:\n%s", want, out)
			}
		}
		var got, rest apiv1.Status
		p.okJSON(t, &got, "status")
		p.data(t, "GET", "/api/v1/status", &rest)
		if got.Servers != 2 || got.ConfigPath != rest.ConfigPath || got.Listen != rest.Listen || got.Quarantined != 1 || got.Version != rest.Version {
			t.Errorf("status -o json = %+v\nREST = %+v", got, rest)
		}
	})

	t.Run("URLAndKeyFlags", func(t *testing.T) {
		// With both flags the config is not read at all.
		var st apiv1.Status
		r := runCLI(t, p.Dir, nil, "-c", filepath.Join(p.Dir, "absent.json"), "--url", p.Base, "--api-key", p.Key, "status", "-o", "json")
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Servers != 2 {
			t.Errorf("status with --url and --api-key: %s", r)
		}
		r = p.cli(t, "--url", strings.TrimPrefix(p.Base, "http://"), "--api-key", "wrong", "servers", "list")
		wantExit(t, r, 1, "missing or wrong API key")
		wantExit(t, r, 1, "(the CLI reached "+p.Base+" with the key from --api-key;")
	})

	t.Run("ServersList", func(t *testing.T) {
		out := p.ok(t, "servers", "list")
		if !hasRow(out, "NAME", "STATE", "QUARANTINED", "PROTOCOL", "TOOLS", "LAST ERROR") ||
			!hasRow(out, "echo", "ready", "no", "stdio", "6", "-") ||
			!hasRow(out, "quar", "quarantined", "yes", "stdio", "0") {
			t.Errorf("servers list:\n%s", out)
		}
		var list []serverStatus
		p.okJSON(t, &list, "servers", "list")
		rest := p.servers(t)
		if len(list) != len(rest) {
			t.Fatalf("servers list -o json has %d servers, REST %d", len(list), len(rest))
		}
		for _, s := range list {
			r := rest[s.Name]
			if s.Protocol != r.Protocol || s.Enabled != r.Enabled || s.ToolCount != r.ToolCount {
				t.Errorf("servers list -o json %+v, REST %+v", s, r)
			}
		}
		if out := p.ok(t, "servers", "list", "--state", "disabled"); out != "No server is disabled.\n" {
			t.Errorf("servers list --state disabled: %q", out)
		}
		wantExit(t, p.cli(t, "servers", "list", "--state", "sleepy"), 2, `--state: want one of ready, connecting, needs_auth, error, quarantined, disabled, stopping, got "sleepy"`)
	})

	t.Run("ServersGet", func(t *testing.T) {
		out := p.ok(t, "servers", "get", "echo")
		if !hasRow(out, "state:", "ready") || !hasRow(out, "echo", "approved", "Returns the message unchanged.") {
			t.Errorf("servers get echo:\n%s", out)
		}
		var s struct {
			Name  string `json:"name"`
			Tools []tool `json:"tools"`
		}
		p.okJSON(t, &s, "servers", "get", "echo")
		if s.Name != "echo" || len(s.Tools) != 6 {
			t.Errorf("servers get echo -o json: %+v", s)
		}
		wantExit(t, p.cli(t, "servers", "get", "nope"), 1, `server "nope" not found`)
	})

	t.Run("AddEnableDisableRemove", func(t *testing.T) {
		path, env := testupstream.Command(testupstream.ModeOK, map[string]string{testupstream.EnvMaxLifetime: "2m", envServer: "added"})
		args := []string{"servers", "add", "added", "--command", path}
		for k, v := range env {
			args = append(args, "--env", k+"="+v)
		}
		if out := p.ok(t, args...); out != "added server \"added\"\n" {
			t.Errorf("servers add: %q", out)
		}
		p.waitState(t, "added", 30*time.Second, "ready")
		wantExit(t, p.cli(t, args...), 1, `server "added" already exists`)

		if out := p.ok(t, "servers", "disable", "added"); out != "disabled server \"added\"\n" {
			t.Errorf("servers disable: %q", out)
		}
		if s := p.waitState(t, "added", 10*time.Second, "disabled"); s.Enabled {
			t.Errorf("after disable: %+v", s)
		}
		var en apiv1.Enabled
		p.okJSON(t, &en, "servers", "enable", "added")
		if en != (apiv1.Enabled{Server: "added", Enabled: true}) {
			t.Errorf("servers enable -o json: %+v", en)
		}
		p.waitState(t, "added", 30*time.Second, "ready")
		if out := p.ok(t, "servers", "restart", "added"); out != "restarting server \"added\"\n" {
			t.Errorf("servers restart: %q", out)
		}
		if out := p.ok(t, "servers", "remove", "added"); out != "removed server \"added\"\n" {
			t.Errorf("servers remove: %q", out)
		}
		eventually(t, 10*time.Second, func() error {
			if _, ok := p.servers(t)["added"]; ok {
				return fmt.Errorf("removed server still listed")
			}
			return nil
		})

		// --url here is the new server's URL; the daemon is still found
		// through the config.
		var spec struct {
			Name     string `json:"name"`
			URL      string `json:"url"`
			Protocol string `json:"protocol"`
			Enabled  bool   `json:"enabled"`
		}
		p.okJSON(t, &spec, "servers", "add", "web", "--url", "http://127.0.0.1:9/mcp", "--protocol", "sse", "--header", "Authorization=Bearer ${env:WEB_TOKEN}", "--disabled")
		if spec.Name != "web" || spec.URL != "http://127.0.0.1:9/mcp" || spec.Protocol != "sse" || spec.Enabled {
			t.Errorf("servers add --url -o json: %+v", spec)
		}
		p.waitState(t, "web", 10*time.Second, "disabled")
		p.ok(t, "servers", "rm", "web")

		// What a person may set and an agent may not.
		var full mcpproxy.ServerSpec
		p.okJSON(t, &full, "servers", "add", "trusted", "--url", "http://127.0.0.1:9/mcp", "--quarantined", "--auto-approve-tool-changes",
			"--client-id", "abc", "--client-secret", "${env:CLIENT_SECRET}", "--scope", "read", "--scope", "write", "--redirect-port", "8765")
		want := mcpproxy.ServerSpec{Name: "trusted", URL: "http://127.0.0.1:9/mcp", Enabled: true, Quarantined: true, AutoApproveToolChanges: true,
			OAuth: &mcpproxy.OAuthSpec{ClientID: "abc", ClientSecret: "${env:CLIENT_SECRET}", Scopes: []string{"read", "write"}, RedirectPort: 8765}}
		if !full.Equal(&want) {
			t.Errorf("servers add with a person's fields -o json: %+v\nwant %+v", full, want)
		}
		p.waitState(t, "trusted", 10*time.Second, "quarantined")
		p.ok(t, "servers", "rm", "trusted")
	})

	t.Run("UsageErrors", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"servers", "add", "x"}, "servers add: give --command (stdio) or --url (HTTP)"},
			{[]string{"servers", "add", "x", "--command", "c", "--url", "http://h"}, "not both"},
			{[]string{"servers", "add", "x", "y", "--command", "c"}, "put the command's arguments after --"},
			{[]string{"servers", "add", "x", "--command", "c", "--env", "NOEQUALS"}, `--env: want KEY=VALUE, got "NOEQUALS"`},
			{[]string{"servers", "add", "x", "--command", "c", "--protocol", "ftp"}, `--protocol: want one of stdio, streamable-http, http, sse, auto, got "ftp"`},
			{[]string{"servers", "add", "x", "--command", "c", "--client-id", "a"}, "are for --url servers"},
			{[]string{"servers", "add", "x", "--url", "http://h", "--client-secret", "s"}, "--client-secret: needs --client-id"},
			{[]string{"servers", "bogus"}, `unknown command "bogus" for "mcpproxy servers"`},
			{[]string{"srvers", "list"}, `unknown command "srvers" for "mcpproxy"; did you mean servers?`},
			{[]string{"status", "extra"}, "mcpproxy status: unknown command \"extra\""},
			{[]string{"servers", "get"}, "accepts 1 arg(s), received 0"},
			{[]string{"status", "--bogus"}, "unknown flag: --bogus"},
			{[]string{"status", "-o", "yaml"}, `-o/--output: want table or json, got "yaml"`},
			{[]string{"tools", "call", "nocolon"}, `tools call: want SERVER:TOOL, got "nocolon"`},
			{[]string{"tools", "call", "echo:echo", "--args", "[1]"}, "--args: want a JSON object"},
			{[]string{"quarantine", "block", "echo"}, "give --tool TOOL (repeatable) or --all"},
			{[]string{"servers", "logs", "echo", "-n", "x"}, `invalid argument "x" for "-n, --lines"`},
			{[]string{"import"}, "give --from"},
		} {
			wantExit(t, p.cli(t, tc.args...), 2, tc.want)
		}
		if r := p.cli(t, "servers"); r.code != 0 || !strings.Contains(r.stdout, "Available Commands:") {
			t.Errorf("servers without a subcommand should print its help: %s", r)
		}
	})

	t.Run("Logs", func(t *testing.T) {
		out := p.ok(t, "servers", "logs", "echo")
		if !strings.Contains(out, "testupstream ready pid=") {
			t.Errorf("servers logs echo:\n%s", out)
		}
		var l apiv1.Logs
		p.okJSON(t, &l, "servers", "logs", "echo", "-n", "1")
		if l.Server != "echo" || len(l.Lines) != 1 || !strings.HasSuffix(l.File, "server-echo.log") {
			t.Errorf("servers logs -n 1 -o json: %+v", l)
		}
	})

	t.Run("LogsFollow", func(t *testing.T) {
		f := p.follow(t, "servers", "logs", "echo", "-f")
		first := f.waitLine(t, "testupstream ready pid=")
		p.ok(t, "servers", "restart", "echo")
		// Wait for the restarted child's line: a pid other than the first.
		second := f.waitLine(t, "testupstream ready pid=", first)
		code, out := f.stop(t)
		if code != 0 {
			t.Errorf("logs -f exited %d after SIGINT, want 0", code)
		}
		if strings.Count(out, first+"\n") != 1 || strings.Count(out, second+"\n") != 1 {
			t.Errorf("logs -f printed a line twice or not at all (%q, %q):\n%s", first, second, out)
		}
		p.waitState(t, "echo", 30*time.Second, "ready")
	})

	t.Run("ToolsSearch", func(t *testing.T) {
		// The index follows a server's tools asynchronously (echo was
		// just restarted).
		var out string
		eventually(t, 10*time.Second, func() error {
			out = p.ok(t, "tools", "search", "returns", "the", "message")
			// echo has no annotations, so only call_tool_destructive reaches it.
			if !hasRow(out, "TOOL", "SCORE", "CALL WITH", "DESCRIPTION") || !regexp.MustCompile(`(?m)^echo:echo +[0-9.]+ +call_tool_destructive +Returns the message unchanged\.$`).MatchString(out) {
				return fmt.Errorf("tools search:\n%s", out)
			}
			return nil
		})
		if strings.Contains(out, "quar:") {
			t.Errorf("tools search lists a quarantined server's tools:\n%s", out)
		}
		var found []apiv1.FoundTool
		p.okJSON(t, &found, "tools", "search", "message", "--limit", "1")
		if len(found) != 1 || found[0].ID != "echo:echo" || found[0].Score <= 0 || found[0].CallWith != "call_tool_destructive" {
			t.Errorf("tools search -o json: %+v", found)
		}
	})

	t.Run("ToolsList", func(t *testing.T) {
		out := p.ok(t, "tools", "list")
		// quar is quarantined, so not started: its tools are unknown.
		if !hasRow(out, "echo:echo", "approved", "-", "Returns the message unchanged.") || strings.Contains(out, "quar:") {
			t.Errorf("tools list:\n%s", out)
		}
		var tools []struct {
			Server   string `json:"server"`
			Name     string `json:"name"`
			Approval string `json:"approval"`
		}
		p.okJSON(t, &tools, "tools", "list", "--server", "echo")
		if len(tools) != 6 || tools[0].Server != "echo" || tools[0].Approval != "approved" {
			t.Errorf("tools list --server echo -o json: %+v", tools)
		}
	})

	t.Run("ToolsCall", func(t *testing.T) {
		if out := p.ok(t, "tools", "call", "echo:echo", "--args", `{"message":"hello cli"}`); out != "hello cli\n" {
			t.Errorf("tools call echo:echo: %q", out)
		}
		var res mcp.CallToolResult
		p.okJSON(t, &res, "tools", "call", "echo:add", "--args", `{"a":2,"b":3}`)
		if len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "5" || res.IsError {
			t.Errorf("tools call echo:add -o json: %+v", res)
		}
		r := p.cli(t, "tools", "call", "echo:fail")
		wantExit(t, r, 1, "echo:fail: boom")
		if r.stdout != "" {
			t.Errorf("a failed tool printed %q on stdout", r.stdout)
		}
		wantExit(t, p.cli(t, "tools", "call", "echo:nope"), 1, `unknown tool "nope" on server "echo"`)
		wantExit(t, p.cli(t, "tools", "call", "nope:echo"), 1, `unknown server "nope"`)
		wantExit(t, p.cli(t, "tools", "call", "quar:echo"), 1, "quarantined")
	})

	t.Run("Activity", func(t *testing.T) {
		// Records reach the log within its flush interval.
		var page apiv1.ActivityPage
		eventually(t, 10*time.Second, func() error {
			p.okJSON(t, &page, "activity", "list", "--server", "echo", "--kind", "tool_call")
			for _, want := range []string{"echo", "fail"} {
				if !slices.ContainsFunc(page.Records, func(r apiv1.ActivityRecord) bool { return r.Tool == want }) {
					return fmt.Errorf("no record of the call of %s: %+v", want, page.Records)
				}
			}
			return nil
		})
		var call apiv1.ActivityRecord
		for _, r := range page.Records {
			if r.Tool == "fail" && r.Status != "tool_error" {
				t.Errorf("record of echo:fail has status %s, want tool_error", r.Status)
			}
			var args struct {
				Message string `json:"message"`
			}
			if r.Tool == "echo" && json.Unmarshal(r.Arguments, &args) == nil && args.Message == "hello cli" {
				call = r
			}
		}
		if call.ID == "" || call.Client.Name != "mcpproxy-cli" || call.Endpoint != "/mcp/server/echo" || call.Status != "ok" {
			t.Fatalf("record of the echo call: %+v\nrecords: %+v", call, page.Records)
		}
		out := p.ok(t, "activity", "list", "--tool", "echo", "--status", "ok", "--since", "1h", "--limit", "50")
		if !hasRow(out, call.ID) || !strings.Contains(out, "mcpproxy-cli") {
			t.Errorf("activity list lacks %s:\n%s", call.ID, out)
		}
		out = p.ok(t, "activity", "show", call.ID)
		if !hasRow(out, "tool:", "echo") || !hasRow(out, "client:", "mcpproxy-cli dev") || !strings.Contains(out, `"message": "hello cli"`) {
			t.Errorf("activity show:\n%s", out)
		}
		var one apiv1.ActivityRecord
		p.okJSON(t, &one, "activity", "show", call.ID)
		if one.ID != call.ID || one.Tool != "echo" {
			t.Errorf("activity show -o json: %+v", one)
		}
		var mgmt apiv1.ActivityPage
		p.okJSON(t, &mgmt, "activity", "list", "--kind", "management", "--server", "added")
		if !slices.ContainsFunc(mgmt.Records, func(r apiv1.ActivityRecord) bool { return r.Action == "add" && r.Status == "ok" }) {
			t.Errorf("the CLI's servers add is not in the activity log: %+v", mgmt.Records)
		}
		wantExit(t, p.cli(t, "activity", "show", "ffff"), 1, `activity record "ffff" not found`)
		wantExit(t, p.cli(t, "activity", "list", "--status", "meh"), 2, "--status: want one of ok, tool_error, error, blocked, timeout, cancelled")
		wantExit(t, p.cli(t, "activity", "list", "--since", "yesterday"), 2, `--since: want a duration like 1h or 30m, or an RFC 3339 time`)
		if r := p.cli(t, "activity", "list", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--kind", "tool_call"); r.code != 0 || !hasRow(r.stdout, call.ID) {
			t.Errorf("activity list --since RFC3339: %s", r)
		}

		// A call carrying a secret is marked by kind in list and show,
		// and --sensitive finds only it.
		const awsKey = "AKIAIOSFODNN7EXAMPLE"
		p.ok(t, "tools", "call", "echo:echo", "--args", `{"message":"key `+awsKey+`"}`)
		var sens apiv1.ActivityPage
		eventually(t, 10*time.Second, func() error {
			p.okJSON(t, &sens, "activity", "list", "--sensitive")
			if len(sens.Records) != 1 {
				return fmt.Errorf("activity list --sensitive: %d records, want 1", len(sens.Records))
			}
			return nil
		})
		rec := sens.Records[0]
		if s := rec.Sensitive; s == nil || !slices.Equal(s.Arguments, []string{"aws_access_key"}) ||
			!slices.Equal(s.Result, []string{"aws_access_key"}) || s.Action != "flag" {
			t.Errorf("record of the call with a key: %+v", rec.Sensitive)
		}
		if out := p.ok(t, "activity", "list", "--sensitive"); !strings.Contains(out, "SENSITIVE") || !hasRow(out, rec.ID) || !strings.Contains(out, "aws_access_key") {
			t.Errorf("activity list --sensitive:\n%s", out)
		}
		out = p.ok(t, "activity", "show", rec.ID)
		if !hasRow(out, "sensitive in arguments:", "aws_access_key") || !hasRow(out, "sensitive data:", "flagged") || strings.Contains(out, awsKey) {
			t.Errorf("activity show of the call with a key:\n%s", out)
		}
	})

	t.Run("QuarantineApproveServer", func(t *testing.T) {
		out := p.ok(t, "quarantine", "list")
		if !hasRow(out, "SERVER", "QUARANTINED", "STATE", "TOOL", "APPROVAL", "WARNINGS") || !hasRow(out, "quar", "yes", "quarantined") ||
			!strings.Contains(out, "fingerprint:") || !hasRow(out, "approved:", "never (a new server)") {
			t.Errorf("quarantine list:\n%s", out)
		}
		var waiting []apiv1.Waiting
		p.okJSON(t, &waiting, "quarantine", "list")
		if len(waiting) != 1 || waiting[0].Server != "quar" || !waiting[0].Quarantined || len(waiting[0].Tools) != 0 || waiting[0].Review == nil {
			t.Fatalf("quarantine list -o json: %+v", waiting)
		}
		fp := waiting[0].Review.Fingerprint
		var d apiv1.ServerDetail
		p.okJSON(t, &d, "servers", "get", "quar")
		if d.Review == nil || d.Review.Fingerprint != fp || d.Review.Spec.Command == "" {
			t.Errorf("servers get quar -o json: review %+v", d.Review)
		}
		if out := p.ok(t, "servers", "get", "quar"); !strings.Contains(out, fp) || !strings.Contains(out, "command:") {
			t.Errorf("servers get quar does not show the spec and its fingerprint:\n%s", out)
		}
		// An approval of a spec other than the current one is refused.
		wantExit(t, p.cli(t, "quarantine", "approve", "quar", "--fingerprint", strings.Repeat("0", 64)), 1, "changed since it was reviewed")
		if st := p.servers(t)["quar"]; st.State != "quarantined" {
			t.Fatalf("a refused approval released quar: %+v", st)
		}
		if out := p.ok(t, "quarantine", "approve", "quar", "--fingerprint", fp); !strings.Contains(out, `approved server "quar" (fingerprint `+fp+`)`) {
			t.Errorf("quarantine approve quar: %q", out)
		}
		var st struct {
			Quarantined bool `json:"quarantined"`
		}
		p.data(t, "GET", "/api/v1/servers/quar", &st)
		if st.Quarantined {
			t.Errorf("quar is still quarantined after approve")
		}
		for _, s := range readConfig(t, p.ConfigPath)["mcpServers"].([]any) {
			if e := s.(map[string]any); e["name"] == "quar" && e["quarantined"] == true {
				t.Errorf("config still quarantines quar: %v", e)
			}
		}
		eventually(t, 10*time.Second, func() error {
			if r := p.cli(t, "tools", "call", "quar:echo", "--args", `{"message":"free"}`); r.code != 0 || r.stdout != "free\n" {
				return fmt.Errorf("%s", r)
			}
			return nil
		})
		if out := p.ok(t, "quarantine", "list"); out != "Nothing waits for approval.\n" {
			t.Errorf("quarantine list after approval:\n%s", out)
		}
	})

	t.Run("QuarantineTools", func(t *testing.T) {
		// Block one tool and approve it again.
		if out := p.ok(t, "quarantine", "block", "echo", "--tool", "add"); out != "blocked 1 tool of server \"echo\": add\n" {
			t.Errorf("quarantine block: %q", out)
		}
		wantExit(t, p.cli(t, "tools", "call", "echo:add", "--args", `{"a":1,"b":1}`), 1, "echo:add:")
		var d apiv1.ToolsApproved
		p.okJSON(t, &d, "quarantine", "approve", "echo", "--tool", "add")
		if d.Server != "echo" || !slices.Equal(d.Approved, []string{"add"}) {
			t.Errorf("quarantine approve --tool -o json: %+v", d)
		}
		if out := p.ok(t, "tools", "call", "echo:add", "--args", `{"a":1,"b":1}`); out != "2\n" {
			t.Errorf("echo:add after approval: %q", out)
		}

		// A tool that appears on an approved server waits; approve
		// without --tool approves it (and leaves the blocked one alone).
		p.ok(t, "quarantine", "block", "echo", "--tool", "sleep")
		p.ok(t, "tools", "call", "echo:add_tool", "--args", `{"name":"extra"}`)
		eventually(t, 10*time.Second, func() error {
			if out := p.ok(t, "quarantine", "list"); !hasRow(out, "echo", "no", "ready", "extra", "pending") {
				return fmt.Errorf("quarantine list:\n%s", out)
			}
			return nil
		})
		if out := p.ok(t, "quarantine", "approve", "echo"); !strings.HasPrefix(out, "approving echo:extra (fingerprint ") || !strings.HasSuffix(out, "approved 1 tool of server \"echo\": extra\n") {
			t.Errorf("quarantine approve echo: %q", out)
		}
		approval := map[string]string{}
		var tools []struct {
			Name     string `json:"name"`
			Approval string `json:"approval"`
		}
		p.data(t, "GET", "/api/v1/servers/echo/tools", &tools)
		for _, tl := range tools {
			approval[tl.Name] = tl.Approval
		}
		if approval["extra"] != "approved" || approval["sleep"] != "blocked" {
			t.Errorf("approvals after quarantine approve echo: %v", approval)
		}
		if out := p.ok(t, "quarantine", "approve", "echo"); out != "nothing of server \"echo\" waits for approval\n" {
			t.Errorf("second quarantine approve echo: %q", out)
		}
		wantExit(t, p.cli(t, "quarantine", "block", "echo", "--tool", "x", "--all"), 2, "not both")
		wantExit(t, p.cli(t, "quarantine", "approve", "echo", "--tool", "add@"+strings.Repeat("0", 64)), 1, "changed since reviewed")
	})
}

// follower is a running "logs -f".
type follower struct {
	cmd    *exec.Cmd
	out    lockedBuffer
	lines  chan string
	exited chan struct{}
}

// follow starts a long-running CLI command against p; it is killed at
// cleanup if the test has not stopped it.
func (p *proxy) follow(tb testing.TB, args ...string) *follower {
	tb.Helper()
	f := &follower{lines: make(chan string, 1024), exited: make(chan struct{})}
	f.cmd = exec.Command(proxyBin, append([]string{"-c", p.ConfigPath}, args...)...)
	f.cmd.Env = proxyEnv(p.Dir, nil)
	f.cmd.Dir = p.Dir
	var stderr lockedBuffer
	f.cmd.Stderr = &stderr
	r, err := f.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			f.out.Write([]byte(sc.Text() + "\n"))
			f.lines <- sc.Text()
		}
		close(f.lines)
		f.cmd.Wait()
		close(f.exited)
	}()
	tb.Cleanup(func() {
		f.cmd.Process.Kill()
		<-f.exited
		if strings.Contains(stderr.String(), "WARNING: DATA RACE") {
			tb.Errorf("data race in mcpproxy %v:\n%s", args, stderr.String())
		}
	})
	return f
}

// waitLine returns the first line that contains substr and is none of not.
func (f *follower) waitLine(tb testing.TB, substr string, not ...string) string {
	tb.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-f.lines:
			if !ok {
				tb.Fatalf("exited before printing %q:\n%s", substr, f.out.String())
			}
			if strings.Contains(line, substr) && !slices.Contains(not, line) {
				return line
			}
		case <-timeout:
			tb.Fatalf("no line with %q within 30s:\n%s", substr, f.out.String())
		}
	}
}

// stop interrupts the command and returns its exit status and output.
func (f *follower) stop(tb testing.TB) (int, string) {
	tb.Helper()
	f.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-f.exited:
	case <-time.After(10 * time.Second):
		tb.Fatalf("still running 10s after SIGINT")
	}
	return f.cmd.ProcessState.ExitCode(), f.out.String()
}

// TestCLI_NoDaemon: with nothing listening, commands fail with exit 1 and
// say how to start the daemon; a daemon.json left by a dead daemon is
// ignored; a daemon that stops removes its daemon.json.
func TestCLI_NoDaemon(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	dataDir := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "mcp_config.json")
	if err := os.WriteFile(cfg, []byte(`{"listen": "`+addr+`", "data_dir": "`+dataDir+`", "api_key": "k"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "mcpproxy: no mcpproxy daemon is running at http://" + addr + " (start it with: mcpproxy serve)\n"
	for _, args := range [][]string{{"status"}, {"servers", "list"}, {"tools", "call", "a:b"}, {"activity", "list", "-o", "json"}} {
		r := runCLI(t, dir, nil, append([]string{"-c", cfg}, args...)...)
		if r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("want exit 1 and stderr %q: %s", want, r)
		}
	}

	t.Run("StaleDaemonFile", func(t *testing.T) {
		dead := exec.Command("true")
		if err := dead.Run(); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(dataDir, 0o700)
		stale := fmt.Sprintf(`{"url": "http://127.0.0.1:1", "pid": %d}`, dead.Process.Pid)
		if err := os.WriteFile(filepath.Join(dataDir, "daemon.json"), []byte(stale), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := runCLI(t, dir, nil, "-c", cfg, "status"); r.code != 1 || r.stderr != want {
			t.Errorf("a daemon.json of a dead pid was used; want %q: %s", want, r)
		}
	})

	t.Run("RemovedAtShutdown", func(t *testing.T) {
		p := startProxy(t, `{"mcpServers": []}`)
		path := filepath.Join(p.DataDir, "daemon.json")
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
		p.ok(t, "status")
		p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.waitExit(t, 10*time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM", code)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("daemon.json still there after a clean shutdown: %v", err)
		}
		// An explicit --url is not second-guessed.
		wantExit(t, p.cli(t, "--url", "http://"+addr, "status"), 1, "no mcpproxy daemon is running at http://"+addr)
	})
}

// importDir returns a temp dir laid out as a home directory and workspace
// with each client's sample config in its usual place, and the env that
// makes the CLI look there.
func importDir(tb testing.TB) (string, []string) {
	tb.Helper()
	dir := tb.TempDir()
	for src, dst := range map[string]string{
		"claude_desktop_config.json": ".config/Claude/claude_desktop_config.json",
		"cursor_mcp.json":            ".cursor/mcp.json",
		"vscode_mcp.json":            ".vscode/mcp.json",
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "import", src))
		if err != nil {
			tb.Fatal(err)
		}
		dst = filepath.Join(dir, dst)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dir, []string{"XDG_CONFIG_HOME=" + filepath.Join(dir, ".config")}
}

// serverNames returns the names of the servers in a config file, in order.
func serverNames(tb testing.TB, path string) []string {
	tb.Helper()
	var names []string
	servers, _ := readConfig(tb, path)["mcpServers"].([]any)
	for _, s := range servers {
		names = append(names, s.(map[string]any)["name"].(string))
	}
	return names
}

func TestCLI_ImportToFile(t *testing.T) {
	dir, env := importDir(t)
	cfg := filepath.Join(dir, "mcp_config.json")
	orig := `{
  "listen": "` + freeAddr(t) + `",
  "data_dir": "` + filepath.Join(dir, "data") + `",
  "x_keep": {"b": 1, "a": 2},
  "mcpServers": []
}
`
	if err := os.WriteFile(cfg, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	imp := func(args ...string) cliResult {
		return runCLI(t, dir, env, append([]string{"-c", cfg, "import"}, args...)...)
	}

	t.Run("DryRun", func(t *testing.T) {
		r := imp("--from", "claude-desktop", "--dry-run")
		wantExit(t, r, 1, "import: 1 server could not be imported")
		for _, row := range [][]string{
			{"NAME", "ACTION", "DETAIL"},
			{"filesystem", "would add", "stdio: npx -y @modelcontextprotocol/server-filesystem"},
			{"memory", "would add", "stdio: npx -y @modelcontextprotocol/server-memory"},
			{"sqlite", "invalid", "mcpServers.sqlite.args: want array of strings, got string"},
		} {
			if !hasRow(r.stdout, row...) {
				t.Errorf("dry run lacks the row %q:\n%s", row, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "reading "+filepath.Join(dir, ".config/Claude/claude_desktop_config.json")+"\n") ||
			!strings.Contains(r.stdout, "dry run, nothing changed: would add 2 to the config file "+cfg+" (no daemon is running), skip 0, 1 invalid\n") {
			t.Errorf("dry run output:\n%s", r.stdout)
		}
		if now, _ := os.ReadFile(cfg); string(now) != orig {
			t.Errorf("a dry run changed the config file:\n%s", now)
		}
	})

	t.Run("ClaudeDesktop", func(t *testing.T) {
		r := imp("--from", "claude-desktop")
		wantExit(t, r, 1, "import: 1 server could not be imported")
		if !hasRow(r.stdout, "filesystem", "added") || !hasRow(r.stdout, "sqlite", "invalid") ||
			!strings.Contains(r.stdout, "2 added to the config file "+cfg+" (no daemon is running), 0 skipped, 1 failed\n") {
			t.Errorf("import:\n%s", r.stdout)
		}
		if got := serverNames(t, cfg); !slices.Equal(got, []string{"filesystem", "memory"}) {
			t.Errorf("servers in the file: %v", got)
		}
		data, _ := os.ReadFile(cfg)
		if !bytes.Contains(data, []byte("\"x_keep\": {\n    \"b\": 1,\n    \"a\": 2\n  }")) {
			t.Errorf("the edit lost the order or content of an unknown key:\n%s", data)
		}
	})

	t.Run("CursorSkipsExisting", func(t *testing.T) {
		var rep importReport
		r := imp("--from", "cursor", "-o", "json")
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil {
			t.Fatalf("import --from cursor: %s", r)
		}
		actions := map[string]string{}
		for _, res := range rep.Results {
			actions[res.Name] = res.Action
		}
		want := map[string]string{"memory": "skipped (exists)", "figma": "added", "postgres": "added"}
		if fmt.Sprint(actions) != fmt.Sprint(want) || rep.DryRun || len(rep.Sources) != 1 {
			t.Errorf("report %+v, want actions %v", rep, want)
		}
		if got := serverNames(t, cfg); !slices.Equal(got, []string{"filesystem", "memory", "figma", "postgres"}) {
			t.Errorf("servers in the file: %v", got)
		}
	})

	t.Run("CreatesConfig", func(t *testing.T) {
		fresh := filepath.Join(dir, "fresh", "mcp_config.json")
		// A relative FILE is read from the working directory.
		r := runCLI(t, dir, env, "-c", fresh, "import", "--from", filepath.Join(".cursor", "mcp.json"))
		if r.code != 0 || !strings.Contains(r.stdout, "(created; no daemon is running)") {
			t.Errorf("import into a new config: %s", r)
		}
		if got := serverNames(t, fresh); !slices.Equal(got, []string{"memory", "figma", "postgres"}) {
			t.Errorf("servers in the new file: %v", got)
		}
		if key, _ := readConfig(t, fresh)["api_key"].(string); len(key) != 64 {
			t.Errorf("the new config has no generated api_key: %q", key)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		empty := t.TempDir()
		wantExit(t, runCLI(t, empty, []string{"XDG_CONFIG_HOME=" + filepath.Join(empty, ".config")}, "-c", cfg, "import", "--from", "vscode"),
			1, "import: no VS Code MCP config found (looked for "+filepath.Join(empty, ".vscode", "mcp.json"))
		wantExit(t, imp("--from", "nope.json"), 1, "nope.json: no such file or directory")
		other := filepath.Join(dir, "settings.json")
		if err := os.WriteFile(other, []byte(`{"editor.fontSize": 14}`), 0o600); err != nil {
			t.Fatal(err)
		}
		wantExit(t, imp("--from", other), 1, `no "mcpServers" or "servers" key: not an MCP client config`)
	})
}

func TestCLI_ImportToDaemon(t *testing.T) {
	dir, env := importDir(t)
	// The samples run npx, uvx and docker: with an empty PATH the daemon
	// finds none of them, so the test starts nothing from the network.
	p := startProxy(t, configJSON(t, []map[string]any{stdio("memory", testupstream.ModeOK)}), "PATH="+t.TempDir())
	imp := func(args ...string) cliResult {
		return runCLI(t, dir, env, append([]string{"-c", p.ConfigPath, "import"}, args...)...)
	}
	restNames := func() []string {
		var names []string
		for name := range p.servers(t) {
			names = append(names, name)
		}
		sort.Strings(names)
		return names
	}

	t.Run("DryRun", func(t *testing.T) {
		r := imp("--from", filepath.Join(dir, ".cursor", "mcp.json"), "--dry-run")
		if r.code != 0 || !hasRow(r.stdout, "memory", "skipped (exists)", "mcpproxy has a server with this name") ||
			!hasRow(r.stdout, "figma", "would add", "url: http://127.0.0.1:3845/sse") ||
			!strings.Contains(r.stdout, "dry run, nothing changed: would add 2 to the daemon at "+p.Base+", skip 1, 0 invalid\n") {
			t.Errorf("dry run against the daemon: %s", r)
		}
		if got := restNames(); !slices.Equal(got, []string{"memory"}) {
			t.Errorf("a dry run changed the daemon's servers: %v", got)
		}
	})

	t.Run("VSCode", func(t *testing.T) {
		r := imp("--from", "vscode")
		wantExit(t, r, 1, "import: 1 server could not be imported")
		for _, row := range [][]string{
			{"github", "added", "stdio: docker run -i --rm -e GITHUB_PERSONAL_ACCESS_TOKEN"},
			{"fetch", "added", "stdio: uvx mcp-server-fetch"},
			{"playwright", "added", "http: http://localhost:8931/mcp"},
			{"docs", "invalid", "servers.docs.url: required for protocol sse"},
		} {
			if !hasRow(r.stdout, row...) {
				t.Errorf("import lacks the row %q:\n%s", row, r.stdout)
			}
		}
		for _, want := range []string{
			"warning: github: servers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN: ${input:github-token} is a VS Code input variable",
			"warning: fetch: servers.fetch.envFile: unknown field, ignored",
			"3 added to the daemon at " + p.Base + ", 0 skipped, 1 failed",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("import output lacks %q:\n%s", want, r.stdout)
			}
		}
		if got := restNames(); !slices.Equal(got, []string{"fetch", "github", "memory", "playwright"}) {
			t.Errorf("servers after the import: %v", got)
		}
		var gh struct {
			Protocol string `json:"protocol"`
			Enabled  bool   `json:"enabled"`
		}
		p.data(t, "GET", "/api/v1/servers/github", &gh)
		if gh.Protocol != "stdio" || !gh.Enabled {
			t.Errorf("imported github: %+v", gh)
		}
		for _, s := range readConfig(t, p.ConfigPath)["mcpServers"].([]any) {
			if e := s.(map[string]any); e["name"] == "github" {
				if env, _ := e["env"].(map[string]any); env["GITHUB_PERSONAL_ACCESS_TOKEN"] != "${input:github-token}" {
					t.Errorf("github entry in the daemon's config: %v", e)
				}
			}
		}
	})

	t.Run("AgainSkipsAll", func(t *testing.T) {
		r := imp("--from", "vscode")
		for _, name := range []string{"github", "fetch", "playwright"} {
			if !hasRow(r.stdout, name, "skipped (exists)") {
				t.Errorf("second import did not skip %s:\n%s", name, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "0 added to the daemon at "+p.Base+", 3 skipped, 1 failed") {
			t.Errorf("second import:\n%s", r.stdout)
		}
	})

	t.Run("ClaudeAndCursorDuplicates", func(t *testing.T) {
		// Two sources in one run: cursor has memory too, which exists.
		r := imp("--from", "claude-desktop")
		if !hasRow(r.stdout, "memory", "skipped (exists)") || !hasRow(r.stdout, "filesystem", "added") {
			t.Errorf("import --from claude-desktop:\n%s", r.stdout)
		}
		var rep importReport
		r = imp("--from", "cursor", "-o", "json")
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.Target != "daemon at "+p.Base {
			t.Fatalf("import --from cursor -o json: %s", r)
		}
		if got := restNames(); !slices.Equal(got, []string{"fetch", "figma", "filesystem", "github", "memory", "playwright", "postgres"}) {
			t.Errorf("servers after all imports: %v", got)
		}
	})
}

// TestCLI_FindsTheDaemon: the CLI reaches a daemon started with -d through
// --data-dir, keeps working while the config file is broken mid-edit (when
// `status` is needed most), says which URL and key a 401 came from, and
// `version` needs no daemon.
func TestCLI_FindsTheDaemon(t *testing.T) {
	p := startProxy(t, `{"mcpServers": []}`)

	// A config file that names neither the daemon's port nor its data dir:
	// only --data-dir leads to the daemon.json, and --api-key to the key.
	other := filepath.Join(t.TempDir(), "other.json")
	if err := os.WriteFile(other, []byte(`{"listen": "`+freeAddr(t)+`", "api_key": "wrong-key-0123456789"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, p.Dir, nil, "-c", other, "status")
	wantExit(t, r, 1, "no mcpproxy daemon is running")
	r = runCLI(t, p.Dir, nil, "-c", other, "--data-dir", p.DataDir, "status")
	wantExit(t, r, 1, "the CLI reached "+p.Base+" with the key from "+other)
	if !strings.Contains(r.stderr, "--data-dir") {
		t.Errorf("a 401 does not point at --data-dir: %s", r)
	}
	r = runCLI(t, p.Dir, nil, "-c", other, "--data-dir", p.DataDir, "--api-key", p.Key, "status")
	if r.code != 0 || !strings.Contains(r.stdout, p.Base) {
		t.Errorf("status through --data-dir: %s", r)
	}

	// The daemon's own file, broken by a hand edit in progress.
	good, err := os.ReadFile(p.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(good), `"mcpServers": []`, `"mcpServers": [ {"name": half`, 1)
	if broken == string(good) {
		t.Fatalf("the config has no empty mcpServers to break:\n%s", good)
	}
	if err := os.WriteFile(p.ConfigPath, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	r = p.cli(t, "status")
	if r.code != 0 || !strings.Contains(r.stdout, p.Base) || !strings.Contains(r.stderr, "does not parse") {
		t.Errorf("status with a broken config: %s", r)
	}
	eventually(t, 10*time.Second, func() error {
		if r := p.cli(t, "status"); !strings.Contains(r.stdout, "config error:") {
			return fmt.Errorf("status does not show the rejected edit: %s", r)
		}
		return nil
	})

	r = runCLI(t, p.Dir, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "mcpproxy ") || !strings.Contains(r.stdout, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("version: %s", r)
	}

	// The address a person types leads to the UI.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(p.Base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET / = %d Location %q, want 302 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestCLI_Connect: connect writes mcpproxy's entry into each client's own
// file, keeps what else the file holds (VS Code's comments included), backs
// the old file up, gives strict JSON to clients that read strict JSON, is
// idempotent, and --remove takes the entry out again.
func TestCLI_Connect(t *testing.T) {
	dir := t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + filepath.Join(dir, ".config")}
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "mcp_config.json")
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write(cfg, `{"listen": "`+addr+`"}`)
	url := "http://" + addr + "/mcp"
	connect := func(args ...string) cliResult {
		return runCLI(t, dir, env, append([]string{"-c", cfg, "connect"}, args...)...)
	}

	vscode := filepath.Join(dir, ".config", "Code", "User", "mcp.json")
	const vscodeFile = "// mine\n{\n  \"servers\": {\n    // git\n    \"git\": {\"command\": \"uvx\", \"args\": [\"mcp-server-git\"]},\n  },\n}\n"
	write(vscode, vscodeFile)
	claude := filepath.Join(dir, ".config", "Claude", "claude_desktop_config.json")
	write(claude, `{"mcpServers": {"fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem"]}}, "theme": "dark"}`)
	codex := filepath.Join(dir, ".codex", "config.toml")
	const codexFile = "model = \"o3\"\n\n[mcp_servers.other]\ncommand = \"x\"\n"
	write(codex, codexFile)

	if r := connect("vscode", "--header", "Authorization: Bearer mcpp_test"); r.code != 0 || !strings.Contains(r.stdout, "Restart VS Code") {
		t.Fatalf("connect vscode: %s", r)
	}
	got := read(vscode)
	for _, want := range []string{"// mine", "// git", `"git": {"command": "uvx"`, `"mcpproxy":`, `"url":"` + url + `"`, `"Authorization":"Bearer mcpp_test"`} {
		if !strings.Contains(got, want) {
			t.Errorf("VS Code file lacks %q:\n%s", want, got)
		}
	}
	if _, servers, err := config.ParseClientServers([]byte(got)); err != nil || len(servers) != 2 || servers[1].Spec.URL != url {
		t.Errorf("VS Code file as a client config: %v %+v", err, servers)
	}
	if b := read(vscode + ".before-mcpproxy"); b != vscodeFile {
		t.Errorf("backup %q, want the file as it was", b)
	}
	if r := connect("vscode", "--header", "Authorization: Bearer mcpp_test"); r.code != 0 || !strings.Contains(r.stdout, "Already there") || read(vscode) != got {
		t.Errorf("a second connect changed something: %s", r)
	}

	if r := connect("claude-desktop"); r.code != 0 {
		t.Fatalf("connect claude-desktop: %s", r)
	}
	var desktop struct {
		MCPServers map[string]struct {
			Command string   `json:"command"`
			Args    []string `json:"args"`
		} `json:"mcpServers"`
		Theme string `json:"theme"`
	}
	if err := json.Unmarshal([]byte(read(claude)), &desktop); err != nil {
		t.Fatalf("Claude Desktop's file is not strict JSON: %v\n%s", err, read(claude))
	}
	e := desktop.MCPServers["mcpproxy"]
	if desktop.Theme != "dark" || len(desktop.MCPServers) != 2 || e.Command != "npx" || !slices.Equal(e.Args, []string{"-y", "mcp-remote", url}) {
		t.Errorf("Claude Desktop's file: %+v", desktop)
	}

	if r := connect("codex"); r.code != 0 {
		t.Fatalf("connect codex: %s", r)
	}
	if got := read(codex); !strings.HasPrefix(got, codexFile) || !strings.Contains(got, "[mcp_servers.mcpproxy]\ncommand = \"npx\"\nargs = [\"-y\", \"mcp-remote\", \""+url+"\"]\n") {
		t.Errorf("codex file:\n%s", got)
	}
	if r := connect("codex", "--remove"); r.code != 0 || !strings.Contains(r.stdout, "Removed") {
		t.Fatalf("connect codex --remove: %s", r)
	}
	if got := read(codex); got != codexFile {
		t.Errorf("codex file after --remove:\n%q\nwant\n%q", got, codexFile)
	}
	if r := connect("vscode", "--remove", "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "Would have removed") || read(vscode) != got {
		t.Errorf("--dry-run: %s", r)
	}

	wantExit(t, connect("cursor"), 1, "Cursor does not look installed")
	wantExit(t, connect("zed"), 2, `unknown client "zed"`)
	wantExit(t, connect("vscode", "--header", "novalue"), 2, "--header")
}

// TestCLI_ImportCodexAndClaudeCode: import reads Codex's TOML config and
// Claude Code's ~/.claude.json as it reads the other clients': each entry
// validated, Codex's cwd as working_dir, placeholders kept as written.
func TestCLI_ImportCodexAndClaudeCode(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mcp_config.json")
	if err := os.WriteFile(cfg, []byte(`{"listen": "`+freeAddr(t)+`", "mcpServers": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		".codex/config.toml": "model = \"o3\"\n\n[mcp_servers.git]\ncommand = \"uvx\"\nargs = [\"mcp-server-git\"]\ncwd = \"/srv\"\n\n" +
			"[mcp_servers.git.env]\nGIT_TOKEN = \"${env:GIT_TOKEN}\"\n\n[mcp_servers.nothing]\nargs = [\"x\"]\n",
		".claude.json": `{"numStartups": 3, "mcpServers": {"ctx7": {"type": "http", "url": "https://mcp.context7.com/mcp"}}}`,
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(path), 0o700)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, dir, nil, "-c", cfg, "import", "--from", "codex")
	wantExit(t, r, 1, "1 server could not be imported")
	if !hasRow(r.stdout, "git", "added") || !hasRow(r.stdout, "nothing", "invalid") {
		t.Errorf("import --from codex:\n%s", r)
	}
	if r := runCLI(t, dir, nil, "-c", cfg, "import", "--from", "claude-code"); r.code != 0 || !hasRow(r.stdout, "ctx7", "added") {
		t.Errorf("import --from claude-code: %s", r)
	}
	got, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	git, ok := got.Server("git")
	if !ok || git.Command != "uvx" || git.WorkingDir != "/srv" || git.Env["GIT_TOKEN"] != "${env:GIT_TOKEN}" {
		t.Errorf("git as imported: %+v", git)
	}
	if ctx7, ok := got.Server("ctx7"); !ok || ctx7.URL != "https://mcp.context7.com/mcp" || string(ctx7.Protocol) != "http" {
		t.Errorf("ctx7 as imported: %+v", ctx7)
	}
}
