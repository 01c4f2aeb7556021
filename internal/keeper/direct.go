package keeper

import (
	"errors"
	"os/exec"
	"sync"
)

// Direct starts each server as a child of the calling process.
type Direct struct{}

// Spawn starts c in a process group of its own.
func (Direct) Spawn(c Cmd) (Proc, error) {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env, cmd.Dir = c.Env, c.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	cmd.SysProcAttr = directAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &directProc{cmd: cmd, done: make(chan struct{})}
	p.os.contain(cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = statusError(ee)
		}
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		// The group's id cannot be reused while any member lives.
		p.killLeftovers()
		p.os.release()
		close(p.done)
	}()
	return p, nil
}

// directProc is a server started by Direct.
type directProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	os   osProc // what the system adds (Windows: the server's Job Object)

	mu  sync.Mutex
	err error
}

func (p *directProc) Pid() int              { return p.cmd.Process.Pid }
func (p *directProc) Done() <-chan struct{} { return p.done }

func (p *directProc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *directProc) Terminate() {
	select {
	case <-p.done:
	default:
		p.terminateGroup()
	}
}

func (p *directProc) Kill() {
	select {
	case <-p.done:
	default:
		p.killGroup()
	}
}
