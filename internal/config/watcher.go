package config

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher reports changes to one file's content. It watches the directory
// rather than the file because editors save by renaming a new file over the
// old one or by deleting and re-creating it, which ends a watch on the file
// itself.
type Watcher struct {
	path     string
	names    map[string]bool // the path and its symlink target; read-only
	debounce time.Duration
	onChange func(data []byte, err error)
	fsw      *fsnotify.Watcher
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once

	mu      sync.Mutex
	last    [sha256.Size]byte // guarded by mu; content delivered or Seen last
	hasLast bool              // guarded by mu
}

// NewWatcher starts watching path. After events for the file stop for
// debounce, it reads the file and calls onChange(data, nil) if the content
// differs from what was last delivered or passed to Seen. If the file cannot
// be read it tries again one debounce later (an editor may be between delete
// and create) and then calls onChange(nil, err).
//
// onChange runs on the watcher's goroutine, one call at a time, never after
// Close returns; it must not call Close. The directory must exist. The
// watcher does not read the file at start, since the caller may have loaded
// an older version: pass what was loaded to Seen.
func NewWatcher(path string, debounce time.Duration, onChange func(data []byte, err error)) (*Watcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch config %s: %w", path, err)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch config %s: %w", path, err)
	}
	// A symlinked config (as dotfile managers make) is edited where its
	// target lives, and WriteFileAtomic writes there too, so watch the
	// target's directory as well.
	names := map[string]bool{abs: true}
	if target, err := filepath.EvalSymlinks(abs); err == nil {
		if target, err = filepath.Abs(target); err == nil {
			names[target] = true
		}
	}
	for name := range names {
		if err := fsw.Add(filepath.Dir(name)); err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch config %s: %w", path, err)
		}
	}
	w := &Watcher{
		path:     abs,
		names:    names,
		debounce: debounce,
		onChange: onChange,
		fsw:      fsw,
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go w.run()
	return w, nil
}

// Seen records content the caller already has (what it loaded at startup,
// or what it just wrote), so that the file holding it is not reported.
func (w *Watcher) Seen(data []byte) {
	sum := sha256.Sum256(data)
	w.mu.Lock()
	w.last, w.hasLast = sum, true
	w.mu.Unlock()
}

// Close stops watching and waits for the goroutine, including a callback in
// progress.
func (w *Watcher) Close() error {
	w.once.Do(func() { close(w.quit) })
	<-w.done
	return nil
}

const contentOps = fsnotify.Create | fsnotify.Write | fsnotify.Remove | fsnotify.Rename

func (w *Watcher) run() {
	defer close(w.done)
	defer w.fsw.Close()
	timer := time.NewTimer(w.debounce)
	timer.Stop()
	var fire <-chan time.Time // nil while no read is pending
	arm := func() {
		timer.Reset(w.debounce)
		fire = timer.C
	}
	retrying := false
	for {
		select {
		case <-w.quit:
			timer.Stop()
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if w.names[filepath.Clean(ev.Name)] && ev.Op&contentOps != 0 {
				arm()
			}
		case _, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// Typically a queue overflow: events were lost, so the file may
			// have changed. Re-reading settles it either way.
			arm()
		case <-fire:
			fire = nil
			data, err := os.ReadFile(w.path)
			if err != nil {
				if !retrying {
					retrying = true
					arm()
					continue
				}
				retrying = false
				// Forget the last content: putting the same file back must be
				// delivered, or the error it clears would stay reported.
				w.mu.Lock()
				w.hasLast = false
				w.mu.Unlock()
				w.deliver(nil, fmt.Errorf("read config: %w", err))
				continue
			}
			retrying = false
			if w.fresh(data) {
				w.deliver(data, nil)
			}
		}
	}
}

// fresh records data as the last content and reports whether it differs
// from the previous one.
func (w *Watcher) fresh(data []byte) bool {
	sum := sha256.Sum256(data)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hasLast && sum == w.last {
		return false
	}
	w.last, w.hasLast = sum, true
	return true
}

func (w *Watcher) deliver(data []byte, err error) {
	select {
	case <-w.quit:
		return // Close has begun; it promises no more callbacks
	default:
	}
	w.onChange(data, err)
}
