// Package supervisor is the single writer of desired state into running
// state. It applies config snapshots by diff (start actors for new enabled
// servers, stop removed or disabled ones, restart changed ones), takes
// commands (enable, disable, restart) and persists them through the config
// writer, and folds the result into the state view.
//
// Concurrency contract: every method returns without waiting on an upstream.
// The supervisor's mutex guards its table of actors and is held only for
// in-memory work and for starting goroutines; stopping an actor is a
// non-blocking request, and the waiting happens in a reaper goroutine that
// the supervisor owns and Close waits for.
package supervisor

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
	"github.com/mcpproxy/mcpproxy/internal/secret"
	"github.com/mcpproxy/mcpproxy/internal/stateview"
	"github.com/mcpproxy/mcpproxy/internal/upstream"
)

// Options configures a Supervisor.
type Options struct {
	View *stateview.View
	// Initial, if set, is what Config reports before the first Apply, less
	// its servers (they start at Apply): readers that come first, such as
	// the API's key check while the daemon starts, see the configured
	// settings instead of the defaults.
	Initial *config.Config
	// Writer persists commands to the config file; nil makes commands that
	// need it fail with an unavailable error.
	Writer *config.Writer
	// DataDir holds logs/server-<name>.log; "" keeps stderr logs in memory only.
	DataDir string
	// Overrides are applied to every config before use.
	Overrides config.Overrides
	Logger    *slog.Logger
	// Actor tunes the actors (tests shorten intervals). Spec, Generation,
	// View, Logs, Logger and Gate are filled in by the supervisor.
	Actor upstream.Options
	// Pins decides which tools are usable and remembers approvals; nil
	// treats every tool of an approved server as approved.
	Pins *pinning.Pins
	// Logins and Index, if not nil, forget a server once it is removed
	// and its actor has stopped, and at the first config those removed
	// while mcpproxy was not running (the index also those quarantined).
	Logins Forgetter
	Index  interface {
		Prune(keep func(server string) bool) error
	}
	// OnRemove, if not nil, runs once a removed server's actor has stopped
	// (unless the server is configured again by then), after Logins and
	// Index forgot it, on a goroutine the supervisor owns and Close waits
	// for; it may do I/O.
	OnRemove func(name string)
}

// Forgetter forgets what it keeps for a server (package oauth: logins).
type Forgetter interface {
	Forget(server string) error
	Prune(keep func(server string) bool) error
}

type entry struct {
	spec  mcpproxy.ServerSpec
	gen   uint64
	actor *upstream.Actor // nil unless the server is meant to be connected
	// lastActor is the most recently stopped actor, which may still be
	// shutting down.
	lastActor *upstream.Actor
	logs      *upstream.LogBuffer
}

// Supervisor runs one actor per enabled, approved server.
type Supervisor struct {
	opts    Options
	view    *stateview.View
	log     *slog.Logger
	cfg     atomic.Pointer[config.Config]
	version atomic.Uint64
	reapers sync.WaitGroup

	editSeq atomic.Uint64 // numbers command edits in the order the file is written
	secrets atomic.Pointer[secret.Redactor]

	// Lock order: mu, then the view's writer lock (View.Update, Put,
	// Remove, Batch), then the pins' lock (Pins.Stamp and RecordSpec,
	// called inside a view update or under mu). None of the three is
	// held across I/O, and nothing takes them in another order.
	pruned sync.Once // the first config's prune of Logins and Index

	mu       sync.Mutex
	entries  map[string]*entry // guarded by mu
	gen      uint64            // guarded by mu
	closed   bool              // guarded by mu
	lastEdit uint64            // guarded by mu: newest command edit applied
	hold     chan struct{}     // guarded by mu: set while apply registers servers
}

// New returns a supervisor with no servers. Call Apply with the first
// config, and Close when done.
func New(opts Options) *Supervisor {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.View == nil {
		opts.View = stateview.New()
	}
	if opts.Actor.Starts == nil {
		opts.Actor.Starts = upstream.NewStartLimit(StartsPerCPU*runtime.GOMAXPROCS(0), StartHold)
	}
	s := &Supervisor{
		opts:    opts,
		view:    opts.View,
		log:     opts.Logger,
		entries: map[string]*entry{},
	}
	// Readers may come before the first Apply: they see no servers, and
	// the initial settings (without them, an empty API key, which matches
	// nothing: a UI open across a restart took its key for refused), never
	// a nil config.
	initial := config.Default()
	if opts.Initial != nil {
		initial = opts.Initial.Clone()
		initial.Servers = nil
	}
	s.cfg.Store(initial)
	return s
}

// Connect attempts in flight are bounded (see upstream.StartLimit) to
// StartsPerCPU per CPU, each holding its slot for at most StartHold: enough
// to keep every CPU busy connecting, not so many that the API waits behind
// a thousand handshakes.
const (
	StartsPerCPU = 32
	StartHold    = 20 * time.Millisecond
)

// View returns the state view the supervisor publishes into.
func (s *Supervisor) View() *stateview.View { return s.view }

// Config returns the config currently applied (defaults with no servers
// before the first Apply; never nil). Treat it as read-only.
func (s *Supervisor) Config() *config.Config { return s.cfg.Load() }

// ConfigVersion counts applied configs.
func (s *Supervisor) ConfigVersion() uint64 { return s.version.Load() }

// Apply makes cfg the desired state and reconciles. It returns the changes
// it made. It never waits on an upstream.
func (s *Supervisor) Apply(cfg *config.Config) config.Changes { return s.apply(cfg, 0) }

// apply is Apply for a config produced by command edit number edit (0: not
// an edit). Edits reach here in any order; an edit older than one already
// applied is dropped, since the newer one was made on top of it.
func (s *Supervisor) apply(cfg *config.Config, edit uint64) config.Changes {
	changes := s.reconcile(cfg, edit)
	s.pruned.Do(func() { s.prune(s.Config()) })
	return changes
}

// prune forgets the logins and index entries of servers removed while
// mcpproxy was not running, and the index entries of quarantined ones,
// which will not come back. (Quarantine by quarantine_new_servers the
// catalog sees in the view.)
func (s *Supervisor) prune(cfg *config.Config) {
	if s.opts.Logins != nil {
		if err := s.opts.Logins.Prune(func(name string) bool { _, ok := cfg.Server(name); return ok }); err != nil {
			s.log.Error("oauth: prune removed servers", "error", err)
		}
	}
	if s.opts.Index != nil {
		keep := make(map[string]bool, len(cfg.Servers))
		for i := range cfg.Servers {
			keep[cfg.Servers[i].Name] = !cfg.Servers[i].Quarantined
		}
		if err := s.opts.Index.Prune(func(name string) bool { return keep[name] }); err != nil {
			s.log.Error("tool index: prune removed servers", "error", err)
		}
	}
}

// forget drops what Logins and Index keep for a removed server.
func (s *Supervisor) forget(name string) {
	if s.opts.Index != nil {
		// Live, the catalog removes it; dormant, it is pruned here.
		if err := s.opts.Index.Prune(func(server string) bool { return server != name }); err != nil {
			s.log.Error("tool index: remove a removed server", "server", name, "error", err)
		}
	}
	if s.opts.Logins != nil {
		if err := s.opts.Logins.Forget(name); err != nil {
			s.log.Error("oauth: forget a removed server", "server", name, "error", err)
		}
	}
	if s.opts.OnRemove != nil {
		s.opts.OnRemove(name)
	}
}

// reconcile is apply under the lock: it diffs cfg against the config in
// force, publishes it and starts, stops and updates actors.
func (s *Supervisor) reconcile(cfg *config.Config, edit uint64) config.Changes {
	if s.opts.Overrides != (config.Overrides{}) {
		cfg = cfg.Clone()
		s.opts.Overrides.Apply(cfg)
	}
	// Diff, publish and reconcile under one lock: two Applies racing (the
	// watcher and a command) must not leave the actors following one
	// config while Config reports the other.
	s.mu.Lock()
	defer s.mu.Unlock()
	if edit != 0 {
		if edit < s.lastEdit {
			return config.Changes{}
		}
		s.lastEdit = edit
	}
	old := s.cfg.Load()
	if old == nil {
		old = &config.Config{}
	}
	changes := config.Diff(old, cfg)
	s.cfg.Store(cfg)
	if cfg.ConnectTimeout != old.ConnectTimeout || cfg.InstallTimeout != old.InstallTimeout {
		// Running servers use the new defaults from their next connection
		// attempt.
		connect, install := s.timeouts(cfg)
		for _, e := range s.entries {
			if e.actor != nil {
				e.actor.SetTimeouts(connect, install)
			}
		}
	}
	s.secrets.Store(secretsOf(cfg))
	s.version.Add(1)
	s.view.SetConfigError("")
	if s.closed {
		return changes
	}
	for _, name := range changes.Removed {
		if e := s.entries[name]; e != nil {
			delete(s.entries, name)
			s.stopLocked(e, func() {
				s.view.Remove(name, e.gen)
				e.logs.Close()
				if _, back := s.Config().Server(name); !back {
					s.forget(name)
				}
			})
			s.view.Remove(name, 0)
		}
		// After the view entry is gone, so the stopping actor can no
		// longer stamp (and so re-pin) the removed server's tools.
		if s.opts.Pins != nil {
			s.opts.Pins.Forget(name)
		}
	}
	if s.opts.Pins != nil && s.version.Load() == 1 {
		// The first config: forget servers removed while we were not
		// running, so a new server under an old name starts unknown.
		names := make(map[string]bool, len(cfg.Servers))
		for i := range cfg.Servers {
			names[cfg.Servers[i].Name] = true
		}
		s.opts.Pins.Prune(func(name string) bool { return names[name] })
	}
	// Actors started below wait for this until every server is registered.
	hold := make(chan struct{})
	defer close(hold)
	s.hold = hold
	defer func() { s.hold = nil }()
	// One snapshot for the whole config, published before the actors go:
	// a thousand new servers are one rebuild of the view, not a thousand.
	defer s.view.Batch()()
	for i := range cfg.Servers {
		spec := cfg.Servers[i]
		if s.opts.Pins != nil {
			s.opts.Pins.SetAutoApprove(spec.Name, spec.AutoApproveToolChanges)
		}
		e := s.entries[spec.Name]
		if e == nil {
			e = &entry{spec: spec, logs: upstream.NewLogBuffer(s.logPath(spec.Name), 0)}
			s.entries[spec.Name] = e
			s.startLocked(e, cfg)
			continue
		}
		switch {
		case e.spec.Equal(&spec):
			// quarantine_new_servers may still have changed.
			s.reconsiderLocked(e, cfg, false)
		case e.actor != nil && spec.Enabled && !s.quarantined(&spec, cfg) && e.spec.SameConnection(&spec):
			// Quarantine and auto-approval change what is usable, not
			// the connection: keep it and re-stamp the tools.
			e.spec = spec
			s.refreshLocked(e, cfg, true)
		default:
			e.spec = spec
			s.startLocked(e, cfg)
		}
	}
	return changes
}

// quarantined reports whether a server's tools are withheld: the config
// says so, or quarantine_new_servers is on and no person has approved the
// server yet.
func (s *Supervisor) quarantined(spec *mcpproxy.ServerSpec, cfg *config.Config) bool {
	if spec.Quarantined {
		return true
	}
	return cfg != nil && cfg.QuarantineNewServers && s.opts.Pins != nil && !s.opts.Pins.Known(spec.Name)
}

// reconsiderLocked starts or stops e's actor when whether it should run
// changed (a quarantine decided by something other than e.spec, such as
// quarantine_new_servers and a person's approval), else refreshes it.
func (s *Supervisor) reconsiderLocked(e *entry, cfg *config.Config, force bool) {
	want := e.spec.Enabled && !s.quarantined(&e.spec, cfg)
	if want != (e.actor != nil) {
		s.startLocked(e, cfg)
		return
	}
	s.refreshLocked(e, cfg, force)
}

// refreshLocked publishes e's quarantine flag and re-stamps its tools'
// approval, without touching its connection. Unless force, it does nothing
// when the flag is unchanged, so that applying a config costs no snapshot
// per untouched server.
func (s *Supervisor) refreshLocked(e *entry, cfg *config.Config, force bool) {
	q := s.quarantined(&e.spec, cfg)
	name := e.spec.Name
	if cur := s.view.Load().Get(name); !force && (cur == nil || cur.Quarantined == q) {
		return
	}
	s.view.Update(name, e.gen, func(srv *stateview.Server) {
		srv.Quarantined = q
		if e.actor == nil {
			return
		}
		if s.opts.Pins != nil && srv.Tools != nil {
			stateview.SetTools(srv, s.opts.Pins.Stamp(name, q, srv.Tools))
		}
	})
}

// secretsOf collects the values the config's ${env:NAME} placeholders
// expand to now, so that they can be masked wherever they might show.
func secretsOf(cfg *config.Config) *secret.Redactor {
	var values []string
	// Field by field: one unset variable must not leave the values of the
	// server's other placeholders unknown (and so unmasked).
	add := func(s string) {
		if secret.HasPlaceholder(s) {
			if _, vals, err := secret.Expand(s, os.LookupEnv); err == nil {
				values = append(values, vals...)
			}
		}
	}
	for i := range cfg.Servers {
		spec := &cfg.Servers[i]
		if spec.Quarantined {
			// Not started, so never expanded: an agent must not get
			// a value read for it just by writing a placeholder.
			continue
		}
		for _, v := range spec.Env {
			add(v)
		}
		for _, a := range spec.Args {
			add(a)
		}
		for _, v := range spec.Headers {
			add(v)
		}
		add(spec.URL)
		if spec.OAuth != nil && spec.OAuth.ClientSecret != "" {
			if secret.HasPlaceholder(spec.OAuth.ClientSecret) {
				add(spec.OAuth.ClientSecret)
			} else {
				values = append(values, spec.OAuth.ClientSecret)
			}
		}
	}
	return secret.NewRedactor(values...)
}

// Redact masks every secret value the current config's placeholders expand
// to (for the activity log and other records that outlive a connection).
func (s *Supervisor) Redact(text string) string { return s.secrets.Load().Redact(text) }

// ApplyFile is the watcher's entry point: parse data and apply it, or record
// why it was rejected. An invalid config changes nothing that runs.
func (s *Supervisor) ApplyFile(data []byte, readErr error) {
	var (
		cfg      *config.Config
		warnings []string
		err      = readErr
	)
	if err == nil {
		cfg, warnings, err = config.Parse(data)
	}
	if err != nil {
		s.log.Error("config rejected; keeping the running config", "error", err)
		s.view.SetConfigError(err.Error())
		s.view.Bus.Publish(mcpproxy.NewEvent(mcpproxy.EventConfigError, "", map[string]string{"error": err.Error()}))
		return
	}
	for _, w := range warnings {
		s.log.Warn("config: " + w)
	}
	s.view.SetConfigWarnings(warnings)
	ch := s.Apply(cfg)
	if !ch.Empty() {
		s.log.Info("config reloaded", "added", ch.Added, "removed", ch.Removed, "changed", ch.Changed)
	}
	s.view.Bus.Publish(mcpproxy.NewEvent(mcpproxy.EventConfigReloaded, "", ch))
}

func (s *Supervisor) logPath(name string) string {
	if s.opts.DataDir == "" {
		return ""
	}
	return filepath.Join(s.opts.DataDir, "logs", "server-"+name+".log")
}

// startLocked stops e's current actor, if any, and installs what e.spec asks
// for: an actor, or a disabled or quarantined entry.
func (s *Supervisor) startLocked(e *entry, cfg *config.Config) {
	hadActor := e.actor != nil
	if hadActor {
		s.stopLocked(e, nil)
	}
	s.gen++
	e.gen = s.gen
	st := mcpproxy.ServerStatus{
		Name:        e.spec.Name,
		Protocol:    e.spec.Transport(),
		Enabled:     e.spec.Enabled,
		Quarantined: s.quarantined(&e.spec, cfg),
	}
	switch {
	case !e.spec.Enabled || st.Quarantined:
		// A quarantined server is not started at all: no process, no
		// connection, no DNS lookup, no ${env:…} expansion, until a
		// person approves exactly the spec they reviewed.
		st.State = mcpproxy.StateDisabled
		if st.Quarantined && e.spec.Enabled {
			st.State = mcpproxy.StateQuarantined
		}
		if !hadActor {
			s.view.Put(&stateview.Server{ServerStatus: st, Generation: e.gen})
			break
		}
		final := st.State
		st.State = mcpproxy.StateStopping
		// Publish the stopping entry before the reaper can run: an actor
		// that exits at once (one waiting to retry) would otherwise have
		// its final state applied to no entry of this generation, leaving
		// the server stopping for good.
		s.view.Put(&stateview.Server{ServerStatus: st, Generation: e.gen})
		gen := e.gen
		s.reapers.Add(1)
		old := e.lastActor
		go func() {
			defer s.reapers.Done()
			<-old.Done()
			s.view.Update(st.Name, gen, func(srv *stateview.Server) { srv.State = final })
		}()
	default:
		st.State = mcpproxy.StateConnecting
		s.view.Put(&stateview.Server{ServerStatus: st, Generation: e.gen})
		opts := s.opts.Actor
		opts.Spec = e.spec
		opts.Generation = e.gen
		opts.View = s.view
		opts.Logs = e.logs
		opts.Logger = s.log
		if s.opts.Pins != nil {
			opts.Gate = s.opts.Pins
			// What runs unquarantined is approved: a later change by an
			// agent is shown to the person as a diff from this.
			s.opts.Pins.RecordSpec(e.spec)
		}
		opts.ConnectTimeout, opts.InstallTimeout = s.timeouts(cfg)
		if s.hold != nil {
			opts.Hold = s.hold
		}
		e.actor = upstream.Start(opts)
	}
}

// timeouts are the connection deadlines actors get: the supervisor's own
// options (tests) over the config's.
func (s *Supervisor) timeouts(cfg *config.Config) (connect, install time.Duration) {
	connect, install = s.opts.Actor.ConnectTimeout, s.opts.Actor.InstallTimeout
	if connect <= 0 && cfg != nil {
		connect = cfg.ConnectTimeout.D()
	}
	if install <= 0 && cfg != nil {
		install = cfg.InstallTimeout.D()
	}
	return connect, install
}

// stopLocked asks e's actor to stop and has a reaper wait for it, then run
// after (if not nil).
func (s *Supervisor) stopLocked(e *entry, after func()) {
	a := e.actor
	e.actor = nil
	if a == nil {
		if after != nil {
			s.reapers.Add(1)
			prev := e.lastActor
			go func() {
				defer s.reapers.Done()
				if prev != nil {
					<-prev.Done()
				}
				after()
			}()
		}
		return
	}
	e.lastActor = a
	a.Stop()
	s.reapers.Add(1)
	go func() {
		defer s.reapers.Done()
		a.Wait()
		if after != nil {
			after()
		}
	}()
}

// Restart reconnects the named server now (or, if it is not running, does
// nothing and says why).
func (s *Supervisor) Restart(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[name]
	if e == nil {
		return mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	if e.actor == nil {
		if s.quarantined(&e.spec, s.cfg.Load()) {
			return mcpproxy.Errorf(mcpproxy.ECONFLICT, "server %q is quarantined: it does not run until a person approves it", name)
		}
		return mcpproxy.Errorf(mcpproxy.ECONFLICT, "server %q is disabled; enable it first", name)
	}
	e.actor.Restart()
	return nil
}

// SetEnabled persists enabled=v for the named server and applies it. It
// returns once the file is written; the state changes asynchronously.
func (s *Supervisor) SetEnabled(ctx context.Context, name string, v bool) error {
	return s.edit(ctx, name, func(d *config.Document) error { return d.SetServerField(name, "enabled", v) })
}

// SetQuarantined persists quarantined=v for the named server and applies
// it. Unquarantining is Unquarantine's job: it also approves the tools.
func (s *Supervisor) SetQuarantined(ctx context.Context, name string, v bool) error {
	return s.edit(ctx, name, func(d *config.Document) error { return d.SetServerField(name, "quarantined", v) })
}

// Edit runs fn on the config file, writes it atomically and applies the
// result.
func (s *Supervisor) Edit(ctx context.Context, fn func(d *config.Document) error) error {
	if s.opts.Writer == nil {
		return mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "config file is not writable in this mode")
	}
	var seq uint64
	cfg, err := s.opts.Writer.Edit(ctx, func(d *config.Document) error {
		// The writer runs one edit at a time, in the order it writes
		// the file.
		seq = s.editSeq.Add(1)
		return fn(d)
	})
	if err != nil {
		return err
	}
	s.apply(cfg, seq)
	return nil
}

func (s *Supervisor) edit(ctx context.Context, name string, fn func(d *config.Document) error) error {
	if _, ok := s.Config().Server(name); !ok {
		return mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	return s.Edit(ctx, fn)
}

// Logs returns up to n recent stderr lines of the named server.
func (s *Supervisor) Logs(name string, n int) ([]string, error) {
	s.mu.Lock()
	e := s.entries[name]
	s.mu.Unlock()
	if e == nil {
		return nil, mcpproxy.Errorf(mcpproxy.ENOTFOUND, "server %q not found", name)
	}
	return e.logs.Tail(n), nil
}

// Close stops every actor and waits for them, their child processes and
// the supervisor's own goroutines. Actors stop in parallel, so this is
// bounded by the slowest single stop, not their sum.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	// One snapshot for all the servers marked stopping, not one each.
	endBatch := s.view.Batch()
	for _, e := range s.entries {
		if e.actor != nil {
			s.view.Update(e.spec.Name, e.gen, func(srv *stateview.Server) {
				srv.State = mcpproxy.StateStopping
				srv.Session = nil
				srv.Caller = nil
				srv.Opener = nil
			})
		}
		if e.actor != nil {
			// Stopped by stopLocked; its child, if it lingers, is
			// killed soon: the daemon is exiting.
			e.actor.Shutdown()
		}
		logs := e.logs
		s.stopLocked(e, logs.Close)
	}
	endBatch()
	s.mu.Unlock()
	s.reapers.Wait()
	return nil
}
