package upstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/keeper"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/relay"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// inheritedEnv is the part of mcpproxy's own environment a stdio server gets;
// everything else comes from the server's configured env. Secrets in
// mcpproxy's environment are not passed on.
var inheritedEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE",
	"TMPDIR", "TZ", "TERM", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
	"XDG_RUNTIME_DIR", "SYSTEMROOT", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR",
}

// Grace periods for stopping a child: after stdin is closed, then after
// SIGTERM; and, once it is dead, for reading what it wrote to stderr.
const (
	stdinGrace  = 250 * time.Millisecond
	termGrace   = 2 * time.Second
	stderrGrace = 500 * time.Millisecond
	// hurryGrace replaces longer grace periods once the stop is hurried
	// (the daemon is exiting; see Actor.Shutdown).
	hurryGrace = 500 * time.Millisecond
)

func childEnv(extra map[string]string) []string {
	env := make([]string, 0, len(inheritedEnv)+len(extra))
	add := func(k, v string) {
		if _, override := extra[k]; !override {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			add(k, v)
		}
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && networkEnv(k) {
			add(k, v)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// networkEnv reports whether an environment variable says how to reach the
// network or a package registry, which package runners (npx, uvx, pip)
// need behind a corporate proxy: the proxy variables in either case, and
// npm's, pip's and uv's settings, except credentials.
func networkEnv(k string) bool {
	switch strings.ToUpper(k) {
	case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY":
		return true
	}
	lower := strings.ToLower(k)
	if !strings.HasPrefix(lower, "npm_config_") && !strings.HasPrefix(lower, "pip_") && !strings.HasPrefix(lower, "uv_") {
		return false
	}
	for _, cred := range []string{"auth", "token", "password", "secret", "key"} {
		if strings.Contains(lower, cred) {
			return false
		}
	}
	return true
}

// lookPath resolves command against the PATH the child will see.
func lookPath(command string, env []string) (string, error) {
	if strings.Contains(command, "/") {
		return command, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, command)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", command)
}

// process is a started stdio server: its own process group, its pipes, and
// the goroutines that wait for it and copy its stderr.
type process struct {
	proc   keeper.Proc
	stdin  *os.File
	stdout *os.File
	stderr *os.File
	logs   *LogBuffer

	exited     <-chan struct{} // closed when the process has been waited for
	stderrDone chan struct{}   // closed when the stderr copier has returned

	stopOnce sync.Once
	hurry    <-chan struct{} // closed when stop must be quick; may be nil
}

// pid returns the server's process id.
func (p *process) pid() int { return p.proc.Pid() }

// exitError describes how the process ended, with its last stderr line, or
// nil while it runs.
func (p *process) exitError() error {
	select {
	case <-p.exited:
	default:
		return nil
	}
	msg := "process exited"
	if err := p.proc.Err(); err != nil {
		msg = "process exited: " + err.Error()
	}
	if last := p.logs.Telling(); last != "" {
		msg += "; stderr: " + last
	}
	if dir := brokenNpxCache(p.logs.Tail(60)); dir != "" {
		// First, so that the short error keeps it.
		msg = "npx's cache of this package is broken (a module is missing): delete " + dir + " and restart the server; " + msg
	}
	return errors.New(msg)
}

// npxCacheDir matches the directory npx installs one package set into:
// ~/.npm/_npx/HASH, or %LocalAppData%\npm-cache\_npx\HASH.
var npxCacheDir = regexp.MustCompile(`(?:[A-Za-z]:)?[^\s'"():]*[/\\]_npx[/\\][0-9a-f]+`)

// brokenNpxCache returns the npx cache directory a failed start names when
// its stderr says a module is missing there, the mark of an install that
// was interrupted (npx does not repair it; every start fails the same way
// until the directory is deleted), or "".
func brokenNpxCache(stderr []string) string {
	missing := false
	for _, line := range stderr {
		if strings.Contains(line, "MODULE_NOT_FOUND") || strings.Contains(line, "Cannot find module") ||
			strings.Contains(line, "ERR_MODULE_NOT_FOUND") {
			missing = true
			break
		}
	}
	if !missing {
		return ""
	}
	for _, line := range stderr {
		if dir := npxCacheDir.FindString(line); dir != "" {
			return dir
		}
	}
	return ""
}

// exitedWithin waits up to d for the process to end by itself. If it did,
// it finishes stopping it (so that its stderr is read to the end) and
// describes how it ended; if it still runs, or p is nil, it returns nil.
func (p *process) exitedWithin(d time.Duration) error {
	if p == nil {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		return nil
	}
	p.stop()
	return p.exitError()
}

// stop ends the process: close stdin, SIGTERM to the group, SIGKILL to the
// group after a grace period. It returns once the process has been reaped
// and its stderr drained, in bounded time.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		p.stdin.Close()
		wait := func(d time.Duration) bool {
			hurry := p.hurry
			select {
			case <-hurry:
				d = min(d, hurryGrace)
				hurry = nil
			default:
			}
			t := time.NewTimer(d)
			defer t.Stop()
			for {
				select {
				case <-p.exited:
					return true
				case <-t.C:
					return false
				case <-hurry:
					hurry = nil
					if d > hurryGrace {
						t.Reset(hurryGrace)
					}
				}
			}
		}
		if !wait(stdinGrace) {
			p.proc.Terminate()
			if !wait(termGrace) {
				p.proc.Kill()
				wait(termGrace)
			}
		}
		// Once the leader is gone, the spawner has ended what it left in
		// its group.
		p.stdout.Close()
		// Let the copier read the group's last words up to EOF: the last
		// stderr line usually says why the process died. Closing stderr
		// first could drop it. Close it only if something that escaped the
		// group still holds it open.
		t := time.NewTimer(stderrGrace)
		select {
		case <-p.stderrDone:
		case <-t.C:
		}
		t.Stop()
		p.stderr.Close()
		<-p.stderrDone
	})
}

// startProcess starts spec's command through spawn (see Options.Spawner),
// in its own process group.
func startProcess(spec *mcpproxy.ServerSpec, logs *LogBuffer, spawn keeper.Spawner) (*process, error) {
	env := childEnv(spec.Env)
	path, err := lookPath(spec.Command, env)
	if err != nil {
		return nil, err
	}
	if spec.WorkingDir != "" {
		if st, err := os.Stat(spec.WorkingDir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("working_dir %q: not a directory", spec.WorkingDir)
		}
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	if spawn == nil {
		spawn = keeper.Direct{}
	}
	proc, err := spawn.Spawn(keeper.Cmd{Path: path, Args: spec.Args, Env: env, Dir: spec.WorkingDir,
		Stdin: inR, Stdout: outW, Stderr: errW})
	// The child has its own copies now; ours must go so EOFs propagate.
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &process{proc: proc, stdin: inW, stdout: outR, stderr: errR, logs: logs,
		exited: proc.Done(), stderrDone: make(chan struct{})}
	go func() {
		defer close(p.stderrDone)
		copyLines(errR, logs)
	}()
	return p, nil
}

// stdioTransport is an mcp.Transport over a child process it starts.
type stdioTransport struct {
	spec     *mcpproxy.ServerSpec
	logs     *LogBuffer
	progress *relay.ProgressRouter // may be nil
	proc     *process              // set by Connect
	conn     *lineConn             // set by Connect
	hurry    <-chan struct{}       // see process.hurry
	spawn    keeper.Spawner        // see Options.Spawner
	spool    string                // see Options.SpoolDir
}

func (t *stdioTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	p, err := startProcess(t.spec, t.logs, t.spawn)
	if err != nil {
		return nil, err
	}
	p.hurry = t.hurry
	t.proc = p
	t.conn = newLineConn(tapProgress(ctx, p.stdout, deliverRead(t.progress), false), stdinCloser{p}, MaxMessageBytes, t.spool)
	return t.conn, nil
}

// MaxMessageBytes bounds one message from a stdio upstream. The SDK's
// default (16 MiB) would turn a large tool result into a broken session;
// results this large are truncated for the client and kept whole for
// read_cache instead.
const MaxMessageBytes = 128 << 20

// stdinCloser makes closing the connection stop the process.
// Writes are serialized by lineConn; the pipe is non-blocking (os.Pipe), so
// a deadline or closing it ends a write blocked on a child that does not
// read.
type stdinCloser struct{ p *process }

func (s stdinCloser) Write(b []byte) (int, error)        { return s.p.stdin.Write(b) }
func (s stdinCloser) SetWriteDeadline(t time.Time) error { return s.p.stdin.SetWriteDeadline(t) }

// CloseWrite closes the child's stdin only; stop still ends the child.
func (s stdinCloser) CloseWrite() error { return s.p.stdin.Close() }

func (s stdinCloser) Close() error {
	s.p.stop()
	return nil
}
