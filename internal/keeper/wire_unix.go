//go:build unix

package keeper

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"syscall"
)

// The daemon sends the keeper requests, each a 4-byte big-endian length
// and that many bytes of JSON; a spawn's three pipe ends travel with it as
// SCM_RIGHTS. The keeper answers with JSON lines.

type request struct {
	Op   string   `json:"op"` // opSpawn, opSignal or opKill
	ID   uint64   `json:"id"`
	Path string   `json:"path,omitempty"`
	Args []string `json:"args,omitempty"`
	Env  []string `json:"env,omitempty"`
	Dir  string   `json:"dir,omitempty"`
	Sig  int      `json:"sig,omitempty"`
}

const (
	opSpawn  = "spawn"  // start a server; three fds attached
	opSignal = "signal" // send Sig to the server's group
	opKill   = "kill"   // kill the server's group and everything below it
)

// reply is the keeper's answer to a spawn (Pid or Err), or the news that a
// server ended (Exited, with Code and Signal as ExitError has them).
type reply struct {
	ID     uint64 `json:"id"`
	Pid    int    `json:"pid,omitempty"`
	Err    string `json:"err,omitempty"`
	Exited bool   `json:"exited,omitempty"`
	Code   int    `json:"code,omitempty"`
	Signal int    `json:"signal,omitempty"`
}

// maxFrame bounds one request (a command with its environment).
const maxFrame = 16 << 20

// writeRequest sends r with files attached, whole.
func writeRequest(c *net.UnixConn, r *request, files ...*os.File) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if len(body) > maxFrame {
		return fmt.Errorf("keeper: request of %d bytes is too large", len(body))
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	frame = append(frame, body...)
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	n, _, err := c.WriteMsgUnix(frame, oob, nil)
	if err != nil {
		return err
	}
	// A stream socket may take part of the frame; the fds went with it.
	if n < len(frame) {
		_, err = c.Write(frame[n:])
	}
	return err
}

// requestReader reads requests and the fds that came with them.
type requestReader struct {
	c    *net.UnixConn
	buf  []byte
	oob  []byte
	data []byte
	fds  []int // received, not yet taken by a request
}

func newRequestReader(c *net.UnixConn) *requestReader {
	return &requestReader{c: c, buf: make([]byte, 64<<10), oob: make([]byte, syscall.CmsgSpace(64*4))}
}

// next returns the next request, or an error when the connection ends or
// carries something that is not a request.
func (r *requestReader) next() (*request, error) {
	for {
		if len(r.data) >= 4 {
			n := binary.BigEndian.Uint32(r.data)
			if n > maxFrame {
				return nil, fmt.Errorf("keeper: request of %d bytes is too large", n)
			}
			if len(r.data) >= 4+int(n) {
				var req request
				err := json.Unmarshal(r.data[4:4+n], &req)
				r.data = r.data[4+n:]
				if err != nil {
					return nil, fmt.Errorf("keeper: bad request: %w", err)
				}
				return &req, nil
			}
		}
		n, oobn, _, _, err := r.c.ReadMsgUnix(r.buf, r.oob)
		if oobn > 0 {
			msgs, _ := syscall.ParseSocketControlMessage(r.oob[:oobn])
			for i := range msgs {
				fds, _ := syscall.ParseUnixRights(&msgs[i])
				for _, fd := range fds {
					syscall.CloseOnExec(fd)
				}
				r.fds = append(r.fds, fds...)
			}
		}
		r.data = append(r.data, r.buf[:n]...)
		if err != nil {
			return nil, err
		}
	}
}

// take returns the first n fds received and not yet taken.
func (r *requestReader) take(n int) ([]int, bool) {
	if len(r.fds) < n {
		return nil, false
	}
	fds := r.fds[:n:n]
	r.fds = r.fds[n:]
	return fds, true
}
