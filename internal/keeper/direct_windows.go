package keeper

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// osProc holds the server's Job Object (0 if it could not be made).
type osProc struct{ job windows.Handle }

// New returns the spawner for this system: on Windows, Direct with a Job
// Object per server; argv is not used.
func New([]string) Spawner { return Direct{} }

// directAttr: a group of its own.
func directAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// contain puts the server in a Job Object of its own that kills every
// process in it when its last handle closes: on Kill, after the server
// exits, and when the daemon dies (the system closes its handles). A child
// the server starts in the moment before it joins is not in the job.
func (o *osProc) contain(pid int) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		windows.CloseHandle(job)
		return
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		windows.CloseHandle(job)
		return
	}
	o.job = job
}

// terminateGroup has no polite form for a console-less child: closing its
// stdin, which stop does first, is the request to stop.
func (p *directProc) terminateGroup() {}

// killGroup ends the server and every process in its job (or, if it has
// none, its process tree).
func (p *directProc) killGroup() {
	if p.os.job != 0 {
		windows.TerminateJobObject(p.os.job, 1)
		return
	}
	exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(p.cmd.Process.Pid)).Run()
}

// killLeftovers ends what the server left in its job after it exited.
// Without a job there is nothing safe to do: the server's pid may name
// another process by now.
func (p *directProc) killLeftovers() {
	if p.os.job != 0 {
		windows.TerminateJobObject(p.os.job, 1)
	}
}

func (o *osProc) release() {
	if o.job != 0 {
		windows.CloseHandle(o.job)
	}
}

func statusError(ee *exec.ExitError) error { return &ExitError{Code: ee.ExitCode()} }

// Run refuses: no keeper runs on Windows.
func Run() int {
	os.Stderr.WriteString("mcpproxy keeper: not used on Windows\n")
	return 2
}
