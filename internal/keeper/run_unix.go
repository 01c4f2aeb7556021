//go:build unix

package keeper

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// tagVar marks a server's environment with the keeper's id for it, so that
// a descendant reparented to the keeper can be traced to its server.
const tagVar = "MCPPROXY_KEEPER_TAG"

// Run is the keeper process: it serves the daemon on fd 3 until the daemon
// closes its end or dies, then kills everything it started and below, and
// returns the process's exit code.
func Run() int {
	f := os.NewFile(3, "daemon")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcpproxy keeper: no socket on fd 3:", err)
		return 2
	}
	conn, ok := fc.(*net.UnixConn)
	if !ok {
		fmt.Fprintln(os.Stderr, "mcpproxy keeper: fd 3 is not a Unix socket")
		return 2
	}
	// The daemon decides when servers stop; the keeper's end is the
	// socket's. Caught, not ignored: an ignored signal would stay ignored
	// in the servers.
	quiet := make(chan os.Signal, 1)
	signal.Notify(quiet, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	becomeSubreaper()
	k := &keeper{conn: conn, servers: map[int]*server{}, byID: map[uint64]*server{}, sweep: make(chan struct{}, 1)}
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-chld:
				k.reap()
			case <-stop:
				return
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-k.sweep:
				k.sweepOrphans()
			case <-stop:
				return
			}
		}
	})
	k.serve()
	close(stop)
	wg.Wait()
	signal.Stop(chld)
	k.killAll()
	return 0
}

type keeper struct {
	conn  *net.UnixConn
	wmu   sync.Mutex    // serializes replies
	sweep chan struct{} // asks for an orphan sweep

	// mu is held across starting a server and recording it, and across
	// reaping and forgetting one, so that a pid is never signalled after
	// it was reaped (when the system may give it to another process).
	mu      sync.Mutex
	servers map[int]*server // by pid, until reaped
	byID    map[uint64]*server
	tags    map[string]bool // tags of servers that ended
}

type server struct {
	id  uint64
	pid int
	tag string
}

// serve handles the daemon's requests until the socket ends.
func (k *keeper) serve() {
	rr := newRequestReader(k.conn)
	for {
		req, err := rr.next()
		if err != nil {
			return
		}
		switch req.Op {
		case opSpawn:
			fds, ok := rr.take(3)
			if !ok {
				k.answer(reply{ID: req.ID, Err: "keeper: spawn without its three fds"})
				continue
			}
			k.spawn(req, fds)
			for _, fd := range fds {
				syscall.Close(fd)
			}
		case opSignal:
			k.mu.Lock()
			if s := k.byID[req.ID]; s != nil {
				syscall.Kill(-s.pid, syscall.Signal(req.Sig))
			}
			k.mu.Unlock()
		case opKill:
			k.mu.Lock()
			if s := k.byID[req.ID]; s != nil {
				killTree(s.pid)
			}
			k.mu.Unlock()
		}
	}
}

func (k *keeper) spawn(req *request, fds []int) {
	tag := strconv.FormatUint(req.ID, 10)
	argv := append([]string{req.Path}, req.Args...)
	env := append(req.Env[:len(req.Env):len(req.Env)], tagVar+"="+tag)
	attr := &syscall.ProcAttr{Dir: req.Dir, Env: env, Files: []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])}, Sys: serverAttr()}
	k.mu.Lock()
	defer k.mu.Unlock()
	pid, err := syscall.ForkExec(req.Path, argv, attr)
	if err != nil {
		k.answer(reply{ID: req.ID, Err: "fork/exec " + req.Path + ": " + err.Error()})
		return
	}
	s := &server{id: req.ID, pid: pid, tag: tag}
	k.servers[pid] = s
	k.byID[req.ID] = s
	// Under mu, so that the news of its exit cannot overtake it.
	k.answer(reply{ID: req.ID, Pid: pid})
}

// reap collects every child that ended: a server's end is reported, and
// what it left in its group is killed; orphans are just collected.
func (k *keeper) reap() {
	k.mu.Lock()
	defer k.mu.Unlock()
	ended := false
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			break
		}
		s := k.servers[pid]
		if s == nil {
			continue // an orphan that was reparented here
		}
		delete(k.servers, pid)
		delete(k.byID, s.id)
		syscall.Kill(-pid, syscall.SIGKILL)
		if k.tags == nil {
			k.tags = map[string]bool{}
		}
		k.tags[s.tag] = true
		ended = true
		r := reply{ID: s.id, Exited: true}
		if err := exitError(ws); err != nil {
			e := err.(*ExitError)
			r.Code, r.Signal = e.Code, int(e.Signal)
		}
		k.answer(r)
	}
	if ended {
		select {
		case k.sweep <- struct{}{}:
		default:
		}
	}
}

// sweepOrphans kills the descendants of servers that ended which were
// reparented to the keeper, until a pass finds none (killing one hands
// its own children to the keeper).
func (k *keeper) sweepOrphans() {
	for range 50 {
		found := false
		for _, pid := range children(os.Getpid()) {
			k.mu.Lock()
			_, isServer := k.servers[pid]
			dead := !isServer && k.tags[tagOf(pid)]
			k.mu.Unlock()
			if dead {
				syscall.Kill(pid, syscall.SIGKILL)
				found = true
			}
		}
		if !found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killAll kills every server, everything below them and everything
// reparented to the keeper, until nothing is left, and reaps them.
func (k *keeper) killAll() {
	k.mu.Lock()
	for pid := range k.servers {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	k.mu.Unlock()
	self := os.Getpid()
	for range 100 {
		left := killBelow(self)
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (k *keeper) answer(r reply) {
	b, _ := json.Marshal(r)
	k.wmu.Lock()
	defer k.wmu.Unlock()
	k.conn.Write(append(b, '\n'))
}
