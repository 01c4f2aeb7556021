package main

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mcpproxy/mcpproxy/internal/config"
)

// daemonFileName is written in the data directory by a running daemon so
// that CLI commands can find it even when listen names port 0 or was
// overridden on serve's command line.
const daemonFileName = "daemon.json"

// daemonInfo is the content of daemon.json.
type daemonInfo struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

// writeDaemonFile records this process as the daemon serving on listen (the
// address it actually listens on) and returns the file's path.
func writeDaemonFile(dataDir, listen string) (string, error) {
	b, err := json.Marshal(daemonInfo{URL: localURL(listen), PID: os.Getpid()})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dataDir, daemonFileName)
	return path, config.WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// removeDaemonFile removes the file at path if it still names this process.
func removeDaemonFile(path string) {
	if path == "" {
		return
	}
	if d, ok := readDaemonFile(path); ok && d.PID == os.Getpid() {
		os.Remove(path)
	}
}

// readDaemonFile reads a daemon.json.
func readDaemonFile(path string) (daemonInfo, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return daemonInfo{}, false
	}
	var d daemonInfo
	if json.Unmarshal(data, &d) != nil || d.URL == "" || d.PID <= 0 {
		return daemonInfo{}, false
	}
	return d, true
}

// processAlive reports whether a process with this pid exists. A stale
// daemon.json, left by a daemon that was killed, names a dead pid.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// localURL is the URL a local client uses to reach a daemon listening on
// addr: a wildcard host is reached over loopback.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
