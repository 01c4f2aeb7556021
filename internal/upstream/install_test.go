package upstream_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
)

// TestActor_FirstStartOfAPackageRunner: a server run by npx that spends
// longer than connect_timeout installing before it speaks MCP comes up
// ready, on the install deadline; once it has been ready, a restart is held
// to connect_timeout again.
func TestActor_FirstStartOfAPackageRunner(t *testing.T) {
	checkLeaks(t)
	real, env := testupstream.Command(testupstream.ModeOK, map[string]string{testupstream.EnvMaxLifetime: "2m"})
	dir := t.TempDir()
	npx := filepath.Join(dir, "npx")
	// An "install" of 1.5 s, then the server.
	script := "#!/bin/sh\nsleep 1.5\nexec \"$MCPPROXY_TEST_REAL\" \"$@\"\n"
	if err := os.WriteFile(npx, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	env["MCPPROXY_TEST_REAL"] = real
	spec := mcpproxy.ServerSpec{Protocol: mcpproxy.ProtocolStdio, Command: npx, Args: []string{"-y", "some-mcp-server"}, Env: env}
	h := startActor(t, spec, func(o *upstream.Options) {
		o.ConnectTimeout = 500 * time.Millisecond
		o.InstallTimeout = 30 * time.Second
	})
	waitFor(t, 5*time.Second, func() bool {
		s := h.server()
		return s.State == mcpproxy.StateConnecting && s.Installing
	}, "the first start shown as installing (now %s)", lazyState{h})
	if s := h.waitState(t, 30*time.Second, mcpproxy.StateReady); s.Installing {
		t.Error("ready and still installing")
	}
	if n := h.server().RetryCount; n != 0 {
		t.Errorf("ready after %d failed attempts; the first start should get the install deadline", n)
	}

	h.actor.Restart()
	s := h.waitState(t, 10*time.Second, mcpproxy.StateError)
	if s.Installing {
		t.Error("a restart after the server was ready is shown as installing")
	}
	if !strings.Contains(s.LastError, "timed out after 500ms") {
		t.Errorf("restart of a server that was ready: last error %q, want the 500ms connect deadline", s.LastError)
	}
}

func TestPackageRunner(t *testing.T) {
	for cmd, want := range map[string]bool{
		"npx": true, "/usr/local/bin/npx": true, `C:\Program Files\nodejs\npx.cmd`: true, "uvx": true,
		"UVX.EXE": true, "docker": true, "pipx": true, "bunx": true,
		"node": false, "python3": false, "/opt/bin/my-server": false, "": false, "npx-helper": false,
	} {
		if got := upstream.PackageRunner(cmd); got != want {
			t.Errorf("PackageRunner(%q) = %v, want %v", cmd, got, want)
		}
	}
}
