//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeSystemctl puts a systemctl on a PATH of its own that records its
// arguments, one call per line, in the returned file, prints "active" for
// is-active, and exits with status code for every call.
func fakeSystemctl(t *testing.T, code int) (pathEnv, calls string) {
	t.Helper()
	bin := t.TempDir()
	calls = filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho \"$*\" >> " + calls + "\n" +
		"case \"$*\" in *is-active*) if [ " + strconv.Itoa(code) + " = 0 ]; then echo active; else echo inactive; fi;; esac\n" +
		"exit " + strconv.Itoa(code) + "\n"
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), calls
}

func readCalls(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(data)), " ", "_"))
}

// TestCLI_ServiceSystemd: service install writes a systemd user unit that
// runs this binary's serve with the given config and data directory, and
// enables it; status asks systemd; uninstall disables and removes it.
func TestCLI_ServiceSystemd(t *testing.T) {
	dir := t.TempDir()
	pathEnv, calls := fakeSystemctl(t, 0)
	unit := filepath.Join(dir, ".config", "systemd", "user", "mcpproxy.service")

	r := runCLI(t, dir, []string{pathEnv}, "service", "install", "--dry-run", "--data-dir", "data")
	if r.code != 0 || !strings.Contains(r.stdout, "ExecStart=") || !strings.Contains(r.stdout, "would run: systemctl --user enable --now mcpproxy.service") {
		t.Fatalf("install --dry-run: %s", r)
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) || len(readCalls(t, calls)) != 0 {
		t.Fatalf("--dry-run wrote the unit or ran systemctl (%v, %v)", err, readCalls(t, calls))
	}

	r = runCLI(t, dir, []string{pathEnv}, "service", "install", "--data-dir", "data", "-c", "cfg.json")
	if r.code != 0 {
		t.Fatalf("install: %s", r)
	}
	content, err := os.ReadFile(unit)
	if err != nil {
		t.Fatalf("install wrote no unit: %v\n%s", err, r)
	}
	want := "ExecStart=" + proxyBin + " serve --config " + filepath.Join(dir, "cfg.json") + " --data-dir " + filepath.Join(dir, "data") + "\n"
	if !strings.Contains(string(content), want) || !strings.Contains(string(content), "WantedBy=default.target") {
		t.Errorf("unit:\n%s\nwant the line %q", content, want)
	}
	if got := readCalls(t, calls); strings.Join(got, " ") != "--user_daemon-reload --user_enable_--now_mcpproxy.service" {
		t.Errorf("systemctl calls %v", got)
	}

	if r = runCLI(t, dir, []string{pathEnv}, "service", "status"); r.code != 0 || !strings.Contains(r.stdout, "systemctl: active") {
		t.Errorf("status: %s", r)
	}
	stopped, _ := fakeSystemctl(t, 3)
	if r = runCLI(t, dir, []string{stopped}, "service", "status"); r.code != 1 || !strings.Contains(r.stderr, "not running: inactive") {
		t.Errorf("status of a stopped service: %s", r)
	}

	if r = runCLI(t, dir, []string{pathEnv}, "service", "uninstall"); r.code != 0 || !strings.Contains(r.stdout, "removed "+unit) {
		t.Errorf("uninstall: %s", r)
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Errorf("the unit is still there after uninstall: %v", err)
	}
	if got := readCalls(t, calls); len(got) == 0 || got[len(got)-1] != "--user_disable_--now_mcpproxy.service" {
		t.Errorf("systemctl calls %v: want the last to disable the service", got)
	}
	if r = runCLI(t, dir, []string{pathEnv}, "service", "status"); r.code != 1 || !strings.Contains(r.stderr, "not installed") {
		t.Errorf("status after uninstall: %s", r)
	}

	// systemd is not there (a container): the unit is written, and the
	// error says how to start it.
	failing, _ := fakeSystemctl(t, 1)
	if r = runCLI(t, dir, []string{failing}, "service", "install"); r.code != 1 || !strings.Contains(r.stderr, "start it with: systemctl --user enable --now mcpproxy.service") {
		t.Errorf("install without a working systemd: %s", r)
	}
	if _, err := os.Stat(unit); err != nil {
		t.Errorf("install without a working systemd wrote no unit: %v", err)
	}
}

// TestServiceFor: the launchd agent of macOS and the refusal elsewhere.
func TestServiceFor(t *testing.T) {
	svc, err := serviceFor("darwin", "/Users/a", []string{"/opt/mcp proxy/mcpproxy", "serve", "--data-dir", "/Users/a/x&y"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<string>io.mcpproxy.daemon</string>",
		"<string>/opt/mcp proxy/mcpproxy</string>\n\t\t<string>serve</string>",
		"<string>/Users/a/x&amp;y</string>",
		"<key>RunAtLoad</key>\n\t<true/>",
	} {
		if !strings.Contains(svc.content, want) {
			t.Errorf("plist lacks %q:\n%s", want, svc.content)
		}
	}
	if svc.path != "/Users/a/Library/LaunchAgents/io.mcpproxy.daemon.plist" || svc.start[0][0] != "launchctl" || svc.start[0][1] != "bootstrap" {
		t.Errorf("launchd service: %s, %v", svc.path, svc.start)
	}
	linux, _ := serviceFor("linux", "/home/a", []string{"/opt/mcp proxy/mcpproxy", "serve", "--data-dir", "/home/a/50%"})
	if !strings.Contains(linux.content, `ExecStart="/opt/mcp proxy/mcpproxy" serve --data-dir "/home/a/50%%"`) {
		t.Errorf("systemd quoting:\n%s", linux.content)
	}
	if _, err := serviceFor("windows", `C:\Users\a`, nil); err == nil || !strings.Contains(err.Error(), "schtasks") {
		t.Errorf("windows: %v", err)
	}
}
