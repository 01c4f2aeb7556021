package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Writer serializes edits of one configuration file. Its goroutine is the
// only code in the process that writes the file, so a read-modify-write in
// Edit never races another.
type Writer struct {
	path    string
	onWrite func(data []byte)
	reqs    chan editReq
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	merged  atomic.Int64 // edits applied again to a file changed under them
}

type editReq struct {
	ctx   context.Context
	fn    func(d *Document) error
	reply chan editResult
}

type editResult struct {
	cfg *Config
	err error
}

// WriterOption configures a Writer.
type WriterOption func(*Writer)

// WithOnWrite registers fn to be called with the new content after each
// write, on the writer's goroutine and before Edit returns. Pass a Watcher's
// Seen so that the watcher does not report the proxy's own writes back to it.
func WithOnWrite(fn func(data []byte)) WriterOption {
	return func(w *Writer) { w.onWrite = fn }
}

// NewWriter starts the goroutine that owns writes to path. Close stops it.
func NewWriter(path string, opts ...WriterOption) *Writer {
	w := &Writer{
		path: path,
		reqs: make(chan editReq),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	for _, o := range opts {
		o(w)
	}
	go w.run()
	return w
}

func (w *Writer) run() {
	defer close(w.done)
	for {
		select {
		case <-w.quit:
			return
		case r := <-w.reqs:
			var res editResult
			if err := r.ctx.Err(); err != nil {
				res.err = err
			} else {
				res.cfg, res.err = w.edit(r.fn)
			}
			r.reply <- res // buffered: never blocks
		}
	}
}

// Edit reads the current file, lets fn change it as a Document, and, if the
// result parses and validates, writes it atomically and returns the new
// config. If fn fails or the result is invalid, the file is left untouched
// and the error returned. If fn changed nothing the file is not rewritten.
//
// fn runs on the writer's goroutine and must not call Edit. ctx bounds only
// the wait to start: once an edit has begun, Edit reports its outcome.
func (w *Writer) Edit(ctx context.Context, fn func(d *Document) error) (*Config, error) {
	r := editReq{ctx: ctx, fn: fn, reply: make(chan editResult, 1)}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-w.quit:
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "config writer closed")
	}
	res := <-r.reply
	return res.cfg, res.err
}

// maxEditAttempts bounds how often one edit is applied again to a file
// that keeps changing under it.
const maxEditAttempts = 8

// settleDelays are the pauses before reading again a file that does not
// parse: a hand edit being written in place is complete a moment later.
var settleDelays = []time.Duration{10 * time.Millisecond, 30 * time.Millisecond, 90 * time.Millisecond}

// edit applies fn to the file. The file is the person's as much as
// mcpproxy's: a save made by hand between the read and the replacement is
// never overwritten. replace detects it, and fn is applied again to what
// the file holds now (fn edits a Document, so this merges the two), a
// bounded number of times.
func (w *Writer) edit(fn func(d *Document) error) (*Config, error) {
	data, err := os.ReadFile(w.path)
	if err != nil {
		return nil, fmt.Errorf("edit config: %w", err)
	}
	changed := false // the file changed under this edit
	for attempt := 1; ; attempt++ {
		doc, err := ParseDocument(data)
		if err != nil {
			var moved bool
			if data, doc, moved = w.settle(data); doc == nil {
				if changed || moved {
					return nil, mcpproxy.Errorf(mcpproxy.ECONFLICT,
						"the config file changed while saving and does not parse: %v; your change was not saved", err)
				}
				// Not the request's fault: the file on disk is broken, or
				// still being written by hand.
				return nil, mcpproxy.Errorf(mcpproxy.ECONFLICT,
					"the config file %s does not parse: %v; fix it (or let its save finish) and retry; your change was not saved", w.path, err)
			}
		}
		before := doc.Bytes()
		if err := fn(doc); err != nil {
			return nil, err
		}
		after := doc.Bytes()
		cfg, _, err := Parse(after)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(before, after) {
			return cfg, nil
		}
		current, err := replaceIfUnchanged(w.path, data, after)
		if err != nil {
			return nil, fmt.Errorf("edit config: %w", err)
		}
		if current == nil {
			if w.onWrite != nil {
				w.onWrite(after)
			}
			return cfg, nil
		}
		w.merged.Add(1)
		changed = true
		data = current
		if attempt == maxEditAttempts {
			return nil, mcpproxy.Errorf(mcpproxy.ECONFLICT,
				"the config file kept changing while saving (%d attempts); your change was not saved", attempt)
		}
	}
}

// settle reads the file again after short pauses until it parses; it
// returns the last content read, and its document, or nil if it never
// parsed, and whether the content changed meanwhile (someone is writing it).
func (w *Writer) settle(data []byte) (last []byte, doc *Document, changed bool) {
	for _, d := range settleDelays {
		time.Sleep(d)
		fresh, err := os.ReadFile(w.path)
		if err != nil {
			return data, nil, changed
		}
		changed = changed || !bytes.Equal(fresh, data)
		data = fresh
		if doc, err := ParseDocument(data); err == nil {
			return data, doc, changed
		}
	}
	return data, nil, changed
}

// Merged reports how many times an edit found the file changed by someone
// else since it read it, and applied itself again to the new content.
func (w *Writer) Merged() int64 { return w.merged.Load() }

// Close stops the writer's goroutine and waits for it; an edit in progress
// finishes first. Edits after Close fail with EUNAVAILABLE.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.quit) })
	<-w.done
	return nil
}

// WriteFileAtomic replaces path with data so that readers see either the old
// or the new content, never a mix, and the new content survives a crash: it
// writes a temporary file in the same directory, syncs it, renames it over
// path and syncs the directory. If path is a symlink its target is replaced,
// so that a symlinked dotfile stays a symlink.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	path, dir, tmp, err := writeTempFile(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		// The rename happened; only its durability is in doubt.
		return fmt.Errorf("write %s: sync dir: %w", path, err)
	}
	return nil
}

// writeTempFile writes data to a synced temporary file beside path (resolved
// through symlinks), with the mode of the file at path (0600 if none),
// and returns the resolved path, its directory and the temporary file.
func writeTempFile(path string, data []byte, perm os.FileMode) (target, dir, tmp string, err error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", "", "", fmt.Errorf("write %s: %w", path, err)
	}
	tmp = f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return "", "", "", fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return "", "", "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return "", "", "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", "", "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, dir, tmp, nil
}

// inPlaceGrace is how long after replacing the file replaceIfUnchanged
// looks again at the content it replaced, for a save written in place into
// it (see there).
const inPlaceGrace = 15 * time.Millisecond

// afterSwap, if set (by tests), runs right after replaceIfUnchanged's
// first look at what it replaced.
var afterSwap func()

// replaceIfUnchanged replaces path with data, atomically as
// WriteFileAtomic does, if path still holds old. If it does not (someone
// saved the file since old was read) it leaves the file as it is and
// returns what it holds now.
//
// Where the system can exchange two names atomically (Linux), the check is
// exact: the new file is swapped in and what it replaced is compared with
// old, at once and again inPlaceGrace later; a save that came in between is
// swapped back in, so nothing is lost (but a save written in place by a
// program that opened the file before the swap and wrote more than
// inPlaceGrace later). Elsewhere the content is compared right before the
// rename, which leaves only the instant between the two open.
func replaceIfUnchanged(path string, old, data []byte) (current []byte, err error) {
	perm := fs.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	path, dir, tmp, err := writeTempFile(path, data, perm)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp) // after a swap, it holds the content replaced
	if cur, err := os.ReadFile(path); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	} else if !bytes.Equal(cur, old) {
		return cur, nil
	}
	swapped, err := exchange(tmp, path)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if swapped {
		replaced, err := os.ReadFile(tmp)
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		if !bytes.Equal(replaced, old) {
			// A save landed between the check and the swap: put it back.
			return restore(path, tmp, data)
		}
		// A save written in place (truncate, write) by a program that
		// opened the file just before the swap lands in the file replaced,
		// now at tmp, a moment later: look again once it has had the time.
		if afterSwap != nil {
			afterSwap()
		}
		time.Sleep(inPlaceGrace)
		if again, err := os.ReadFile(tmp); err == nil && !bytes.Equal(again, old) {
			return restore(path, tmp, data)
		}
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("write %s: sync dir: %w", path, err)
	}
	return nil, nil
}

// restore swaps back a save (now at tmp) that an exchange replaced with
// ours (now at path), and returns what the file holds then. A save may have
// reached path meanwhile too, by a rename over ours or by writing ours in
// place; it is the newer one, so it comes back to path instead.
func restore(path, tmp string, ours []byte) ([]byte, error) {
	if _, err := exchange(tmp, path); err != nil {
		return nil, fmt.Errorf("write %s: restore a concurrent save: %w", path, err)
	}
	out, err := os.ReadFile(tmp) // what path held just before
	if err != nil {
		return nil, fmt.Errorf("write %s: restore a concurrent save: %w", path, err)
	}
	if !bytes.Equal(out, ours) {
		if _, err := exchange(tmp, path); err != nil {
			return nil, fmt.Errorf("write %s: restore a concurrent save: %w", path, err)
		}
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return cur, nil
}

// syncDir makes a rename in dir durable. Windows cannot open directories for
// syncing and orders renames itself.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CreateDefault writes a default configuration to path if no file exists
// there, creating its directory (0700) and the file (0600) because the file
// holds the API key. It reports whether it created the file; an existing
// file is never touched, even one created concurrently.
func CreateDefault(path string, apiKey string) (created bool, err error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("create config: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("create config: %w", err)
	}
	data := defaultFile(apiKey)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("create config: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("create config: %w", err)
	}
	// A hard link publishes complete content and, unlike rename, fails if
	// the file appeared meanwhile.
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return false, nil
	} else if err != nil {
		// Some file systems have no hard links; exclusive create still
		// never clobbers a file, at the cost of atomicity.
		if created, err := createExclusive(path, data); err != nil || !created {
			return false, err
		}
	}
	if err := syncDir(dir); err != nil {
		return true, fmt.Errorf("create config: sync dir: %w", err)
	}
	return true, nil
}

func createExclusive(path string, data []byte) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create config: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return false, fmt.Errorf("create config: %w", err)
	}
	return true, nil
}

// defaultFile is the file CreateDefault writes: every setting spelled out,
// so that users see what they can change.
func defaultFile(apiKey string) []byte {
	c := Default()
	root := &node{kind: objectNode}
	root.set("listen", stringNode(c.Listen))
	if apiKey != "" {
		root.set("api_key", stringNode(apiKey))
	}
	root.set("tools_limit", &node{raw: fmt.Appendf(nil, "%d", c.ToolsLimit)})
	root.set("tool_response_limit", &node{raw: fmt.Appendf(nil, "%d", c.ToolResponseLimit)})
	root.set("call_tool_timeout", stringNode(formatDuration(c.CallToolTimeout.D())))
	root.set("connect_timeout", stringNode(formatDuration(c.ConnectTimeout.D())))
	root.set("mcpServers", &node{kind: arrayNode})
	return (&Document{root: root}).Bytes()
}
