//go:build linux

package upstream

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/testupstream"
)

// A process that dies right after writing to stderr must not lose that
// line: it is what explains the failure in last_error. stop used to close
// the stderr pipe before the copier had drained it, losing the line about
// one time in a hundred.
func TestProcess_StopKeepsLastStderrLine(t *testing.T) {
	path, env := testupstream.Command(testupstream.ModeExit, nil)
	spec := &mcpproxy.ServerSpec{Command: path, Env: env}
	const runs = 100
	lost := 0
	for range runs {
		logs := NewLogBuffer("", 0)
		p, err := startProcess(spec, logs, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-p.exited
		p.stop()
		if e := p.exitError(); e == nil || !strings.Contains(e.Error(), "stderr: fatal: scripted exit") {
			lost++
			t.Logf("exit error: %v", e)
		}
	}
	if lost > 0 {
		t.Errorf("last stderr line lost in %d of %d runs", lost, runs)
	}
}

// A grandchild that left the process group (setsid) and keeps stderr open
// must not make stop wait for it.
func TestProcess_StopBoundedWithEscapedGrandchild(t *testing.T) {
	logs := NewLogBuffer("", 0)
	p, err := startProcess(&mcpproxy.ServerSpec{
		Command: "sh",
		Args:    []string{"-c", "setsid sleep 60 </dev/null >/dev/null & echo escaped=$! >&2; exec cat >/dev/null"},
	}, logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no pid line on stderr: %q", logs.Tail(0))
		}
		if v, ok := strings.CutPrefix(logs.Last(), "escaped="); ok {
			pid, _ = strconv.Atoi(v)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	// Wait until it has left the group (setsid makes it a group leader).
	for {
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d never left the process group", pid)
		}
		time.Sleep(time.Millisecond)
	}

	start := time.Now()
	p.stop()
	if d := time.Since(start); d > stdinGrace+termGrace+stderrGrace+2*time.Second {
		t.Errorf("stop took %v with an escaped grandchild holding stderr", d)
	}
	if !alive(pid) {
		t.Errorf("grandchild %d is gone: it did not escape the group, so this test proves nothing", pid)
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// A hurried stop (the daemon is exiting) kills a child that ignores stdin
// EOF and SIGTERM after hurryGrace, not the usual grace periods, even when
// the hurry comes while the stop is already waiting.
func TestProcess_HurriedStop(t *testing.T) {
	path, env := testupstream.Command(testupstream.ModeIgnoreTerm, map[string]string{testupstream.EnvMaxLifetime: "1m"})
	for _, early := range []bool{true, false} {
		logs := NewLogBuffer("", 0)
		p, err := startProcess(&mcpproxy.ServerSpec{Command: path, Env: env}, logs, nil)
		if err != nil {
			t.Fatal(err)
		}
		hurry := make(chan struct{})
		p.hurry = hurry
		if early {
			close(hurry)
		} else {
			time.AfterFunc(stdinGrace+100*time.Millisecond, func() { close(hurry) })
		}
		pid := p.pid()
		start := time.Now()
		p.stop()
		took := time.Since(start)
		t.Logf("hurried (early %v) stop of a child ignoring SIGTERM took %v", early, took)
		if took >= stdinGrace+termGrace {
			t.Errorf("early %v: stop took %v; a hurried stop must not wait out termGrace (%v)", early, took, termGrace)
		}
		if alive(pid) {
			t.Errorf("early %v: child %d survived the stop", early, pid)
		}
		logs.Close()
	}
}

// TestChildEnv_NetworkSettingsPass: behind a corporate proxy, npx and uvx
// need the proxy variables and the registry settings; credentials and the
// rest of mcpproxy's environment stay behind, and the server's own env wins.
func TestChildEnv_NetworkSettingsPass(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.corp:3128")
	t.Setenv("no_proxy", "localhost,.corp")
	t.Setenv("npm_config_registry", "https://npm.corp/")
	t.Setenv("PIP_INDEX_URL", "https://pypi.corp/simple")
	t.Setenv("npm_config__authToken", "npm-canary")
	t.Setenv("UV_INDEX_PASSWORD", "uv-canary")
	t.Setenv("MCPPROXY_TEST_SECRET", "secret-canary")
	t.Setenv("HTTP_PROXY", "http://ignored:1")

	env := strings.Join(childEnv(map[string]string{"HTTP_PROXY": "http://mine:2"}), "\n") + "\n"
	for _, want := range []string{
		"HTTPS_PROXY=http://proxy.corp:3128\n", "no_proxy=localhost,.corp\n",
		"npm_config_registry=https://npm.corp/\n", "PIP_INDEX_URL=https://pypi.corp/simple\n",
		"HTTP_PROXY=http://mine:2\n",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("child env lacks %q:\n%s", want, env)
		}
	}
	for _, canary := range []string{"npm-canary", "uv-canary", "secret-canary", "http://ignored:1"} {
		if strings.Contains(env, canary) {
			t.Errorf("child env has %q:\n%s", canary, env)
		}
	}
}

// TestBrokenNpxCache: the stderr of npx run from an interrupted install
// names the directory to delete; other failures name none.
func TestBrokenNpxCache(t *testing.T) {
	unix := []string{
		"node:internal/modules/cjs/loader:1228",
		"  throw err;",
		"Error: Cannot find module 'ajv'",
		"Require stack:",
		"- /home/ana/.npm/_npx/3b5e0a1f9c2d4e6f/node_modules/ajv-formats/dist/index.js",
		"  code: 'MODULE_NOT_FOUND',",
	}
	if got, want := brokenNpxCache(unix), "/home/ana/.npm/_npx/3b5e0a1f9c2d4e6f"; got != want {
		t.Errorf("unix: %q, want %q", got, want)
	}
	windows := []string{
		"Error: Cannot find module 'zod'",
		`- C:\Users\ana\AppData\Local\npm-cache\_npx\9f8e7d6c5b4a3921\node_modules\pkg\index.js`,
	}
	if got, want := brokenNpxCache(windows), `C:\Users\ana\AppData\Local\npm-cache\_npx\9f8e7d6c5b4a3921`; got != want {
		t.Errorf("windows: %q, want %q", got, want)
	}
	for _, other := range [][]string{
		{"Error: listen EADDRINUSE", "at /home/ana/.npm/_npx/3b5e0a1f9c2d4e6f/node_modules/x.js"},
		{"Error: Cannot find module '/srv/app/index.js'", "  code: 'MODULE_NOT_FOUND'"},
	} {
		if got := brokenNpxCache(other); got != "" {
			t.Errorf("%q: %q, want none", other, got)
		}
	}
}
