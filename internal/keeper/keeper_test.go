//go:build unix

package keeper

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envFakeDaemon makes the test binary a daemon that starts servers through
// a keeper, prints their pids and waits to be killed.
const envFakeDaemon = "KEEPER_TEST_FAKE_DAEMON"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Arg {
		os.Exit(Run())
	}
	if n := os.Getenv(envFakeDaemon); n != "" {
		os.Exit(fakeDaemon(n))
	}
	os.Exit(m.Run())
}

func selfArgv(t testing.TB) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, Arg}
}

// running is a server started for a test, with the ends of its pipes.
type running struct {
	Proc
	stdin  *os.File
	stdout *bufio.Reader
}

func spawn(t testing.TB, s Spawner, script string) *running {
	t.Helper()
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	p, err := s.Spawn(Cmd{Path: "/bin/sh", Args: []string{"-c", script}, Env: os.Environ(), Stdin: inR, Stdout: outW, Stderr: devnull})
	inR.Close()
	outW.Close()
	devnull.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		inW.Close()
		outR.Close()
		p.Kill()
	})
	return &running{Proc: p, stdin: inW, stdout: bufio.NewReader(outR)}
}

// readPid reads a line "NAME=PID" from the server.
func (r *running) readPid(t testing.TB, name string) int {
	t.Helper()
	line, err := r.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("reading %s's pid: %v", name, err)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(line), name+"=")
	pid, err := strconv.Atoi(v)
	if !ok || err != nil {
		t.Fatalf("want %s=PID, got %q", name, line)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

func waitDead(t testing.TB, d time.Duration, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still alive after %v", pid, d)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func waitDone(t testing.TB, p Proc) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("server not reported ended within 10s")
	}
}

func newKeeper(t testing.TB) *Keeper {
	k := New(selfArgv(t)).(*Keeper)
	t.Cleanup(func() { k.Close() })
	return k
}

// Both spawners report the pid, pass the pipes and say how the server ended.
func TestSpawn_PipesAndExitStatus(t *testing.T) {
	for name, s := range map[string]Spawner{"keeper": newKeeper(t), "direct": Direct{}} {
		t.Run(name, func(t *testing.T) {
			r := spawn(t, s, `echo me=$$; read line; echo "got $line"; exit 3`)
			if pid := r.readPid(t, "me"); pid != r.Pid() {
				t.Errorf("Pid() = %d, the server says %d", r.Pid(), pid)
			}
			fmt.Fprintln(r.stdin, "hello")
			if line, _ := r.stdout.ReadString('\n'); line != "got hello\n" {
				t.Errorf("server answered %q", line)
			}
			waitDone(t, r)
			var ee *ExitError
			if err := r.Err(); !errors.As(err, &ee) || ee.Code != 3 || err.Error() != "exit status 3" {
				t.Errorf("Err() = %v, want exit status 3", err)
			}
			if _, err := r.stdout.ReadString('\n'); err != io.EOF {
				t.Errorf("stdout after exit: %v, want EOF", err)
			}
		})
	}
}

func TestSpawn_SignalledAndMissing(t *testing.T) {
	for name, s := range map[string]Spawner{"keeper": newKeeper(t), "direct": Direct{}} {
		t.Run(name, func(t *testing.T) {
			r := spawn(t, s, `exec sleep 60`)
			r.Terminate()
			waitDone(t, r)
			if err := r.Err(); err == nil || err.Error() != "signal: terminated" {
				t.Errorf("Err() = %v, want signal: terminated", err)
			}
			_, err := s.Spawn(Cmd{Path: "/nonexistent/server", Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
			if err == nil || !strings.Contains(err.Error(), "/nonexistent/server") || !strings.Contains(err.Error(), "no such file") {
				t.Errorf("spawning a missing command: %v", err)
			}
		})
	}
}

// Kill ends the server and what it started, also what left its group.
func TestKeeper_KillEndsTree(t *testing.T) {
	r := spawn(t, newKeeper(t), `setsid sleep 60 & echo escaped=$!; sleep 60 & echo child=$!; exec cat`)
	escaped, child := r.readPid(t, "escaped"), r.readPid(t, "child")
	waitLeftGroup(t, escaped)
	r.Kill()
	waitDone(t, r)
	waitDead(t, 5*time.Second, r.Pid(), escaped, child)
}

// A server that exits by itself (stdin closed) takes along what it left
// behind, including what left its group: it was reparented to the keeper.
func TestKeeper_OrphansOfEndedServerKilled(t *testing.T) {
	k := newKeeper(t)
	other := spawn(t, k, `setsid sleep 60 & echo escaped=$!; exec cat`)
	otherEscaped := other.readPid(t, "escaped")
	r := spawn(t, k, `setsid sleep 60 & echo escaped=$!; exec cat`)
	escaped := r.readPid(t, "escaped")
	waitLeftGroup(t, escaped)
	r.stdin.Close()
	waitDone(t, r)
	if err := r.Err(); err != nil {
		t.Errorf("cat exited with %v", err)
	}
	waitDead(t, 5*time.Second, escaped)
	if !alive(otherEscaped) || !alive(other.Pid()) {
		t.Error("another server's descendants were killed")
	}
}

// Close ends the keeper and every server with it.
func TestKeeper_CloseEndsEverything(t *testing.T) {
	k := New(selfArgv(t)).(*Keeper)
	var pids []int
	var procs []Proc
	for range 3 {
		r := spawn(t, k, `setsid sleep 60 & echo escaped=$!; exec sleep 60`)
		pids = append(pids, r.Pid(), r.readPid(t, "escaped"))
		procs = append(procs, r)
	}
	keeperPid := k.cur.cmd.Process.Pid
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	waitDead(t, 5*time.Second, append(pids, keeperPid)...)
	for _, p := range procs {
		waitDone(t, p)
	}
	if _, err := k.Spawn(Cmd{Path: "/bin/true"}); err == nil {
		t.Error("Spawn after Close succeeded")
	}
}

// If the keeper dies, its servers are reported ended (the kernel killed
// them with it) and the next Spawn starts a new keeper.
func TestKeeper_DiesAndComesBack(t *testing.T) {
	k := newKeeper(t)
	r := spawn(t, k, `exec sleep 60`)
	syscall.Kill(k.cur.cmd.Process.Pid, syscall.SIGKILL)
	waitDone(t, r)
	if err := r.Err(); !errors.Is(err, errKeeperGone) {
		t.Errorf("Err() = %v, want %v", err, errKeeperGone)
	}
	waitDead(t, 5*time.Second, r.Pid())
	r2 := spawn(t, k, `echo me=$$; exec cat`)
	if r2.readPid(t, "me") != r2.Pid() {
		t.Error("second keeper reports a wrong pid")
	}
}

// kill -9 of the daemon: the keeper kills every server and everything they
// started, also what left the servers' groups.
func TestKeeper_DaemonKilled(t *testing.T) {
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envFakeDaemon+"=5")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "ready" {
		pid, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("fake daemon said %q", sc.Text())
		}
		pids = append(pids, pid)
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	}
	// keeper, and per server: the server, its child and its escaped child.
	if len(pids) != 1+5*3 {
		t.Fatalf("fake daemon reported %d pids, want 16", len(pids))
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("%d is not running before the kill", pid)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitDead(t, 5*time.Second, pids...)
}

// fakeDaemon starts n servers through a keeper, prints the keeper's pid
// and each server's, its child's and its escaped child's, then "ready",
// and waits to be killed.
func fakeDaemon(n string) int {
	count, _ := strconv.Atoi(n)
	exe, _ := os.Executable()
	k := New([]string{exe, Arg}).(*Keeper)
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	for i := range count {
		outR, outW, _ := os.Pipe()
		p, err := k.Spawn(Cmd{Path: "/bin/sh", Args: []string{"-c", `sleep 60 & echo $!; setsid sleep 60 & echo $!; exec sleep 60`},
			Env: os.Environ(), Stdin: devnull, Stdout: outW, Stderr: devnull})
		outW.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if i == 0 {
			fmt.Println(k.cur.cmd.Process.Pid)
		}
		fmt.Println(p.Pid())
		sc := bufio.NewScanner(outR)
		for range 2 {
			sc.Scan()
			fmt.Println(sc.Text())
		}
	}
	// Let the escaped children finish leaving their groups.
	time.Sleep(200 * time.Millisecond)
	fmt.Println("ready")
	select {}
}

// waitLeftGroup waits until pid leads a group of its own (setsid ran).
func waitLeftGroup(t testing.TB, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d never left its group", pid)
		}
		time.Sleep(time.Millisecond)
	}
}
