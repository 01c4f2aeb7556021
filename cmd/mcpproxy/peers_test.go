//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// everythingBin returns the absolute path of the npm-installed
// mcp-server-everything, failing the test when the peers are not installed.
func everythingBin(tb testing.TB) string {
	tb.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "..", "test", "mcp-peers", "node_modules", ".bin", "mcp-server-everything"))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("npm test peers are not installed (%v): run `make peers` (or `cd test/mcp-peers && npm ci`)", err)
	}
	return bin
}

// startEverything runs `PORT=N mcp-server-everything <transport>` on a free
// port and returns its loopback address once it accepts connections. It
// binds every interface, so only its loopback address is used, and it is
// killed by pid (its own process group) at cleanup.
func startEverything(tb testing.TB, bin, transport string) string {
	tb.Helper()
	addr := freeAddr(tb)
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(bin, transport)
	cmd.Env = append(os.Environ(), "PORT="+port)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start mcp-server-everything %s: %v", transport, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	tb.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if tb.Failed() {
			tb.Logf("mcp-server-everything %s output:\n%s", transport, tail(out.String(), 30))
		}
	})
	eventually(tb, 20*time.Second, func() error {
		select {
		case <-exited:
			tb.Fatalf("mcp-server-everything %s exited: %s\n%s", transport, cmd.ProcessState, out.String())
		default:
		}
		if !listening(addr) {
			return fmt.Errorf("mcp-server-everything %s: nothing listens on %s yet", transport, addr)
		}
		return nil
	})
	return addr
}

// waitSettled waits until server-everything's entry name is ready with a
// settled tool list (it sends several tools/list_changed right after
// connecting): the listed tools match tool_count, there are at least 13,
// and the count has not changed for 500ms.
func waitSettled(tb testing.TB, p *proxy, name string) []tool {
	tb.Helper()
	var last, stableSince = -1, time.Now()
	var final []tool
	eventually(tb, 45*time.Second, func() error {
		st := p.servers(tb)[name]
		if st.State != "ready" {
			return fmt.Errorf("%s is %s (%s)", name, st.State, st.LastError)
		}
		tools := p.tools(tb, name)
		if len(tools) != st.ToolCount {
			return fmt.Errorf("%s: %d tools listed, tool_count %d", name, len(tools), st.ToolCount)
		}
		if len(tools) != last {
			last, stableSince = len(tools), time.Now()
		}
		if len(tools) < 13 {
			return fmt.Errorf("%s has %d tools, want at least 13", name, len(tools))
		}
		if time.Since(stableSince) < 500*time.Millisecond {
			return fmt.Errorf("%s: tool count %d not stable yet", name, len(tools))
		}
		final = tools
		return nil
	})
	return final
}

// TestServe_ServerEverything connects to the reference MCP server from npm
// over stdio, streamable HTTP and SSE. Right after connecting it sends
// several tools/list_changed notifications, so each server's tool list must
// settle to the final count.
func TestServe_ServerEverything(t *testing.T) {
	bin := everythingBin(t)
	httpAddr := startEverything(t, bin, "streamableHttp")
	sseAddr := startEverything(t, bin, "sse")
	servers := []map[string]any{
		{"name": "every-stdio", "command": bin},
		{"name": "every-http", "protocol": "streamable-http", "url": "http://" + httpAddr + "/mcp"},
		{"name": "every-sse", "protocol": "sse", "url": "http://" + sseAddr + "/sse"},
	}
	p := startProxy(t, configJSON(t, servers))

	for _, s := range servers {
		name := s["name"].(string)
		t.Run(name, func(t *testing.T) {
			final := waitSettled(t, p, name)
			var names []string
			for _, tl := range final {
				names = append(names, tl.Name)
			}
			if !strings.Contains(","+strings.Join(names, ",")+",", ",echo,") {
				t.Errorf("%s tools = %v, want echo among them", name, names)
			}
			t.Logf("%s: %d tools", name, len(final))
		})
	}
}
