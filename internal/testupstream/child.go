package testupstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// EnvMode names the environment variable that makes a test binary act as a
// stdio upstream; its value is the mode.
const EnvMode = "MCPPROXY_TESTUPSTREAM"

// Environment variables read by the stdio modes.
const (
	EnvTools      = "TESTUPSTREAM_TOOLS"       // Options.Tools, an integer
	EnvLatency    = "TESTUPSTREAM_LATENCY"     // Options.Latency, a time.Duration string
	EnvName       = "TESTUPSTREAM_NAME"        // Options.Name
	EnvCrashAfter = "TESTUPSTREAM_CRASH_AFTER" // crash-after delay, default 2s
	EnvHostile    = "TESTUPSTREAM_HOSTILE"     // Options.Hostile when "1"
	EnvRugPull    = "TESTUPSTREAM_RUG_PULL"    // Options.RugPullAfter, an integer
	EnvAskClient  = "TESTUPSTREAM_ASK_CLIENT"  // Options.AskClient when "1"
	EnvAnnotated  = "TESTUPSTREAM_ANNOTATED"   // Options.Annotated when "1"
	// EnvStartDelay (a time.Duration string) makes mode ok read nothing
	// for that long before it serves: a server that takes its time to start.
	EnvStartDelay = "TESTUPSTREAM_START_DELAY"
	EnvRPCError   = "TESTUPSTREAM_RPC_ERROR" // Options.RPCError when "1"
	// EnvFloodInterval is the pause between stderr bursts in stderr-flood
	// mode, default 1ms; 0 writes without pause.
	EnvFloodInterval = "TESTUPSTREAM_FLOOD_INTERVAL"
	// EnvMaxLifetime bounds how long the modes that ignore stdin EOF
	// (ignore-term, hang-forever-child, stop-reading) stay alive when nobody kills them,
	// so that a failing test cannot leave them running for ever.
	// Default 5m.
	EnvMaxLifetime = "TESTUPSTREAM_MAX_LIFETIME"
)

// Stdio modes, the values of EnvMode.
const (
	ModeOK               = "ok"                 // serve NewServer until stdin closes
	ModeHang             = "hang"               // never answer; exit at stdin EOF
	ModeExit             = "exit"               // print a fatal line, exit 3 at once
	ModeCrashAfter       = "crash-after"        // serve, then exit 2 after EnvCrashAfter
	ModeStderrFlood      = "stderr-flood"       // serve while writing stderr continuously
	ModeGarbage          = "garbage"            // answer with non-JSON lines only
	ModeIgnoreTerm       = "ignore-term"        // serve; survive SIGTERM, SIGINT and stdin EOF
	ModeSpawnChild       = "spawn-child"        // serve; start a grandchild that sleeps until killed
	ModeSpawnEscaped     = "spawn-escaped"      // as spawn-child, but the grandchild leaves the group (setsid)
	ModeHangForeverChild = "hang-forever-child" // the grandchild: sleep until killed
)

// RunIfChild must be called at the start of TestMain in every test package
// that uses Command. If EnvMode is set it runs that mode on stdin and stdout
// and exits the process; otherwise it returns at once.
//
// It runs before flag parsing and touches nothing from package testing.
func RunIfChild() {
	mode, ok := os.LookupEnv(EnvMode)
	if !ok {
		return
	}
	os.Exit(runChild(mode))
}

// Command returns the path of the running test binary and the environment
// entries that make it a stdio upstream in the given mode, ready for a
// server config (command = path, env = env). extraEnv entries, such as
// EnvTools or EnvLatency, are added and win over the entries Command sets.
// The env holds only these entries; the caller adds them to its own
// environment (the child needs no other variable).
func Command(mode string, extraEnv map[string]string) (path string, env map[string]string) {
	path, err := os.Executable()
	if err != nil {
		path = os.Args[0]
	}
	env = map[string]string{EnvMode: mode}
	// A race-enabled binary sleeps 1s at exit by default, which would make
	// every scripted exit look slow.
	if gorace := os.Getenv("GORACE"); !strings.Contains(gorace, "atexit_sleep_ms") {
		env["GORACE"] = strings.TrimSpace(gorace + " atexit_sleep_ms=0")
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	return path, env
}

// runChild runs one mode and returns the process exit status.
func runChild(mode string) int {
	// A grandchild must not inherit the mode by accident.
	os.Unsetenv(EnvMode)
	opts, err := optionsFromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testupstream: %v\n", err)
		return 2
	}
	switch mode {
	case ModeOK:
		delay, err := durationEnv(EnvStartDelay, 0)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testupstream: %v\n", err)
			return 2
		}
		time.Sleep(delay)
		return serveStdio(context.Background(), opts)
	case ModeHang:
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0
	case ModeExit:
		fmt.Fprintln(os.Stderr, "fatal: scripted exit")
		return 3
	case ModeCrashAfter:
		return crashAfter(opts)
	case ModeStderrFlood:
		return stderrFlood(opts)
	case ModeGarbage:
		return garbage()
	case ModeIgnoreTerm:
		return ignoreTerm(opts)
	case ModeSpawnChild:
		return spawnChild(opts, false)
	case ModeSpawnEscaped:
		return spawnChild(opts, true)
	case ModeHangForeverChild:
		return hangForever()
	case ModeExitOnCall:
		return exitOnCall(opts)
	case ModeBigResult:
		return bigResult(opts)
	case ModeStopReading:
		return stopReading()
	case ModeHTTP:
		return serveHTTPChild(opts)
	default:
		fmt.Fprintf(os.Stderr, "testupstream: unknown mode %q\n", mode)
		return 2
	}
}

func optionsFromEnv() (Options, error) {
	opts := Options{Name: os.Getenv(EnvName)}
	if v := os.Getenv(EnvTools); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return opts, fmt.Errorf("%s=%q: want a non-negative integer", EnvTools, v)
		}
		opts.Tools = n
	}
	d, err := durationEnv(EnvLatency, 0)
	if err != nil {
		return opts, err
	}
	opts.Latency = d
	opts.Hostile = os.Getenv(EnvHostile) == "1"
	opts.AskClient = os.Getenv(EnvAskClient) == "1"
	opts.Annotated = os.Getenv(EnvAnnotated) == "1"
	opts.RPCError = os.Getenv(EnvRPCError) == "1"
	if v := os.Getenv(EnvRugPull); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return opts, fmt.Errorf("%s=%q: want a non-negative integer", EnvRugPull, v)
		}
		opts.RugPullAfter = n
	}
	return opts, nil
}

func durationEnv(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", name, v, err)
	}
	return d, nil
}

// serveStdio serves NewServer(opts) on stdin/stdout until stdin closes or
// ctx ends, announcing itself on stderr first.
func serveStdio(ctx context.Context, opts Options) int {
	fmt.Fprintf(os.Stderr, "testupstream ready pid=%d\n", os.Getpid())
	err := NewServer(opts).Run(ctx, &mcp.StdioTransport{})
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "testupstream: serve: %v\n", err)
		return 1
	}
	return 0
}

func crashAfter(opts Options) int {
	after, err := durationEnv(EnvCrashAfter, 2*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testupstream: %v\n", err)
		return 2
	}
	time.AfterFunc(after, func() {
		fmt.Fprintln(os.Stderr, "crashing")
		os.Exit(2)
	})
	return serveStdio(context.Background(), opts)
}

// stderrFlood serves like ok while writing bursts of numbered lines to
// stderr, one burst per EnvFloodInterval (default 1ms, about 6 MB/s; 0 means
// no pause), so a parent that stops draining stderr soon blocks this child's
// writes, and a parent that logs every line sees a lot of them.
func stderrFlood(opts Options) int {
	interval, err := durationEnv(EnvFloodInterval, time.Millisecond)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testupstream: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	go flood(ctx, interval)
	code := serveStdio(ctx, opts)
	// The flood goroutine may be blocked in a write that the parent never
	// drains; exiting the process ends it.
	cancel()
	return code
}

func flood(ctx context.Context, interval time.Duration) {
	const linesPerBurst = 64
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	var burst []byte
	for n := 0; ; {
		burst = burst[:0]
		for range linesPerBurst {
			burst = fmt.Appendf(burst, "testupstream flood line %010d ..........................................................\n", n)
			n++
		}
		if _, err := os.Stderr.Write(burst); err != nil {
			return
		}
		if tick == nil {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		select {
		case <-tick:
		case <-ctx.Done():
			return
		}
	}
}

// garbage answers every input line, and starts, with lines that are not
// JSON, until stdin closes.
func garbage() int {
	const junk = "this is not JSON }{ \x01\x02 <html>\n"
	if _, err := io.WriteString(os.Stdout, junk+junk); err != nil {
		return 1
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := os.Stdin.Read(buf)
		for range countNewlines(buf[:n]) {
			if _, werr := io.WriteString(os.Stdout, junk); werr != nil {
				return 1
			}
		}
		if err != nil {
			return 0
		}
	}
}

func countNewlines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// ignoreTerm serves like ok, but neither SIGTERM, SIGINT nor stdin EOF ends
// it: only SIGKILL (or EnvMaxLifetime) does.
func ignoreTerm(opts Options) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go serveStdio(context.Background(), opts)
	return waitUntilKilled(sigs)
}

// spawnChild serves like ok after starting a grandchild in the same process
// group, or, with escape, in a session and group of its own. The grandchild holds this child's stderr open, as wrappers such as
// npx do, so a parent that waits for stderr EOF waits for the grandchild too.
func spawnChild(opts Options, escape bool) int {
	path, err := os.Executable()
	if err != nil {
		path = os.Args[0]
	}
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), EnvMode+"="+ModeHangForeverChild)
	cmd.Stderr = os.Stderr
	if escape {
		cmd.SysProcAttr = newSession()
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testupstream: start grandchild: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "grandchild pid=%d\n", cmd.Process.Pid)
	go func() { _ = cmd.Wait() }() // reap it if it dies while this process lives
	return serveStdio(context.Background(), opts)
}

// hangForever sleeps until killed, ignoring stdin; the default SIGTERM
// action still applies.
func hangForever() int {
	return waitUntilKilled(nil)
}

// waitUntilKilled blocks until the process is killed, reporting ignored
// signals on stderr. It gives up after EnvMaxLifetime.
func waitUntilKilled(sigs <-chan os.Signal) int {
	limit, err := durationEnv(EnvMaxLifetime, 5*time.Minute)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testupstream: %v\n", err)
		return 2
	}
	deadline := time.NewTimer(limit)
	for {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "testupstream: ignoring %v\n", sig)
		case <-deadline.C:
			fmt.Fprintf(os.Stderr, "testupstream: not killed within %v, exiting\n", limit)
			return 4
		}
	}
}
