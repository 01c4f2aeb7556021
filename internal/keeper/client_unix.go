//go:build unix

package keeper

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// New returns the spawner for this system: on Unix a Keeper that runs
// argv (the mcpproxy binary and Arg) as its keeper process.
func New(argv []string) Spawner { return &Keeper{argv: argv} }

// Keeper is the daemon's side of the keeper process. It starts the
// process with the first Spawn, and again if it died; Close ends it and,
// with it, every server it started.
type Keeper struct {
	argv []string

	mu     sync.Mutex
	cur    *link // nil before the first Spawn, after Close, or when dead
	closed bool
}

// link is one keeper process and the socket to it.
type link struct {
	conn *net.UnixConn
	cmd  *exec.Cmd
	wmu  sync.Mutex // serializes requests on conn

	mu    sync.Mutex
	next  uint64
	procs map[uint64]*keptProc // started or being started, not yet exited
	dead  bool

	done chan struct{} // closed when the reader has ended and the keeper is reaped
}

// errKeeperGone is how a server ends when its keeper died under it.
var errKeeperGone = errors.New("mcpproxy's keeper process exited")

// spawnTimeout bounds the wait for the keeper's answer to a spawn.
const spawnTimeout = 30 * time.Second

// Spawn has the keeper start c.
func (k *Keeper) Spawn(c Cmd) (Proc, error) {
	l, err := k.link()
	if err != nil {
		return nil, err
	}
	p := &keptProc{l: l, started: make(chan struct{}), done: make(chan struct{})}
	l.mu.Lock()
	if l.dead {
		l.mu.Unlock()
		return nil, errKeeperGone
	}
	l.next++
	p.id = l.next
	l.procs[p.id] = p
	l.mu.Unlock()

	req := &request{Op: opSpawn, ID: p.id, Path: c.Path, Args: c.Args, Env: c.Env, Dir: c.Dir}
	l.wmu.Lock()
	err = writeRequest(l.conn, req, c.Stdin, c.Stdout, c.Stderr)
	l.wmu.Unlock()
	if err != nil {
		l.forget(p.id)
		return nil, fmt.Errorf("keeper: %w", err)
	}
	t := time.NewTimer(spawnTimeout)
	defer t.Stop()
	select {
	case <-p.started:
	case <-l.done:
		return nil, errKeeperGone
	case <-t.C:
		// Whatever the keeper does later with this id goes nowhere.
		l.forget(p.id)
		return nil, fmt.Errorf("keeper: no answer to starting %s within %v", c.Path, spawnTimeout)
	}
	if p.startErr != nil {
		return nil, p.startErr
	}
	return p, nil
}

// link returns the live keeper, starting one if there is none.
func (k *Keeper) link() (*link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, errors.New("keeper: closed")
	}
	if k.cur != nil && !k.cur.gone() {
		return k.cur, nil
	}
	l, err := startLink(k.argv)
	if err != nil {
		return nil, err
	}
	k.cur = l
	return l, nil
}

// Close ends the keeper, which kills every server it started, and waits
// for it (a few seconds at most).
func (k *Keeper) Close() error {
	k.mu.Lock()
	l := k.cur
	k.closed = true
	k.mu.Unlock()
	if l == nil {
		return nil
	}
	l.conn.Close()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-l.done:
		return nil
	case <-t.C:
		l.cmd.Process.Kill()
		<-l.done
		return errors.New("keeper: did not exit within 5s of close; killed")
	}
}

// startLink starts a keeper process connected by a socket pair.
func startLink(argv []string) (*link, error) {
	if len(argv) == 0 {
		return nil, errors.New("keeper: no command")
	}
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("keeper: socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "keeper"), os.NewFile(uintptr(fds[1]), "keeper")
	defer theirs.Close()
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, fmt.Errorf("keeper: %w", err)
	}
	conn := fc.(*net.UnixConn)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{theirs} // fd 3
	cmd.Stderr = os.Stderr
	// A group of its own: a terminal's ^C goes to the daemon, which stops
	// the servers in order, not to the keeper.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("keeper: %w", err)
	}
	l := &link{conn: conn, cmd: cmd, procs: map[uint64]*keptProc{}, done: make(chan struct{})}
	go l.read()
	return l, nil
}

// read dispatches the keeper's answers until the socket ends, then ends
// every server it had (the keeper killed them), and reaps the keeper.
func (l *link) read() {
	defer close(l.done)
	sc := bufio.NewScanner(l.conn)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		var r reply
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		l.mu.Lock()
		p := l.procs[r.ID]
		if r.Exited || r.Err != "" {
			delete(l.procs, r.ID)
		}
		l.mu.Unlock()
		if p == nil {
			continue
		}
		switch {
		case r.Err != "":
			p.startErr = errors.New(r.Err)
			close(p.started)
		case r.Exited:
			var err error
			if r.Code != 0 || r.Signal != 0 {
				err = &ExitError{Code: r.Code, Signal: syscall.Signal(r.Signal)}
			}
			p.finish(err)
		default:
			p.pid = r.Pid
			close(p.started)
		}
	}
	l.conn.Close()
	l.mu.Lock()
	l.dead = true
	left := l.procs
	l.procs = nil
	l.mu.Unlock()
	for _, p := range left {
		select {
		case <-p.started:
			p.finish(errKeeperGone)
		default:
			// Spawn is waiting: it sees done.
		}
	}
	l.cmd.Wait()
}

// gone reports whether the keeper of l has died: its reader has seen the
// end of the socket (before the keeper is reaped and done is closed).
func (l *link) gone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dead
}

func (l *link) forget(id uint64) {
	l.mu.Lock()
	delete(l.procs, id)
	l.mu.Unlock()
}

// send makes a request without fds; a dead keeper has nothing to act on.
func (l *link) send(r *request) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	writeRequest(l.conn, r)
}

// keptProc is a server the keeper started.
type keptProc struct {
	l        *link
	id       uint64
	started  chan struct{} // closed when pid or startErr is set
	pid      int
	startErr error

	done    chan struct{}
	errOnce sync.Once
	err     error // set before done is closed
}

func (p *keptProc) finish(err error) {
	p.errOnce.Do(func() {
		p.err = err
		close(p.done)
	})
}

func (p *keptProc) Pid() int              { return p.pid }
func (p *keptProc) Done() <-chan struct{} { return p.done }

func (p *keptProc) Err() error {
	<-p.done
	return p.err
}

func (p *keptProc) Terminate() {
	select {
	case <-p.done:
	default:
		p.l.send(&request{Op: opSignal, ID: p.id, Sig: int(syscall.SIGTERM)})
	}
}

func (p *keptProc) Kill() {
	select {
	case <-p.done:
	default:
		p.l.send(&request{Op: opKill, ID: p.id})
	}
}
