// Package pinning pins tool definitions against rug pulls. Each tool has a
// fingerprint (SHA-256 over its canonical definition); approving a tool
// stores that fingerprint with the definition, and a tool whose current
// fingerprint differs from its pin, or that has no pin, is not usable until
// a person approves it.
//
// Trust on first use: the first tools an approved (non-quarantined) server
// shows, when it has no pins yet, are approved at once — the person approved
// the server, or added it themselves. Tools that appear or change after that
// wait, unless the server has auto_approve_tool_changes.
//
// Concurrency contract: Pins is safe for concurrent use. Stamp works on
// memory only (a mutex around maps, never held across I/O), so the state
// view may call it under its own lock. Writes to the store go through one
// goroutine in the order they were made; a person's approval waits for its
// write, trust-on-first-use pins are written behind. Close stops the
// goroutine after the queued writes.
package pinning

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Buckets of the store.
const (
	bucketPins    = "tool_pins"        // server NUL tool → Pin
	bucketServers = "approved_servers" // server → serverRecord
	bucketSpecs   = "approved_specs"   // server → SpecRecord
)

// Pin states stored for a tool.
const (
	StateApproved = "approved"
	StateBlocked  = "blocked"
)

// Pin is what a person decided about one tool, with the definition they
// saw when they decided.
type Pin struct {
	State       string        `json:"state"`
	Fingerprint string        `json:"fingerprint"`
	Tool        mcpproxy.Tool `json:"tool"`
	At          time.Time     `json:"at"`
	// Auto records that no person looked: trust on first use, or
	// auto_approve_tool_changes.
	Auto bool `json:"auto,omitempty"`
}

type serverRecord struct {
	ApprovedAt time.Time `json:"approved_at"`
	// FirstUse: a person approved the server before it listed any tools,
	// so the first tools it lists are approved as if listed at approval.
	FirstUse bool `json:"first_use,omitempty"`
}

// SpecRecord is the spec of a server as it last ran approved: approved by
// a person, or written by one in the config file or through the REST API.
// Literal secrets in it are sealed (see Seal); placeholders are kept.
type SpecRecord struct {
	Spec        mcpproxy.ServerSpec `json:"spec"`
	Fingerprint string              `json:"fingerprint"`
	At          time.Time           `json:"at"`
}

// Options configures Pins.
type Options struct {
	// Publish receives tool.changed events; it must not block.
	Publish func(mcpproxy.Event)
	// Scan returns suspicious-content warnings for a tool; nil scans nothing.
	Scan   func(t *mcpproxy.Tool, serverURL string) []mcpproxy.Warning
	Logger *slog.Logger
}

// Pins holds every tool pin in memory, backed by the store.
type Pins struct {
	db   mcpproxy.Store
	opts Options
	log  *slog.Logger

	// mu is the last lock of supervisor.mu → View.mu → Pins.mu: it is
	// taken under both, so nothing is called with it held but memory work
	// and a non-blocking kick of the writer.
	mu       sync.Mutex
	pins     map[string]map[string]Pin // guarded by mu: server → tool → pin
	known    map[string]serverRecord   // guarded by mu: servers a person approved, or trusted on first use
	specs    map[string]SpecRecord     // guarded by mu: the spec each server last ran approved with
	auto     map[string]bool           // guarded by mu: servers with auto_approve_tool_changes
	notified map[string]string         // guarded by mu: server\x00tool → fingerprint already announced
	closed   bool                      // guarded by mu

	queue []op // guarded by mu: writes not yet taken by the writer
	kick  chan struct{}
	done  chan struct{}
}

type op struct {
	fn   func(tx mcpproxy.StoreTx) error
	done chan error // nil for write-behind
}

// Open loads every pin from db and starts the writer goroutine.
func Open(db mcpproxy.Store, opts Options) (*Pins, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Pins{
		db: db, opts: opts, log: opts.Logger,
		pins: map[string]map[string]Pin{}, known: map[string]serverRecord{}, specs: map[string]SpecRecord{},
		auto: map[string]bool{}, notified: map[string]string{},
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	err := db.View(func(tx mcpproxy.StoreTx) error {
		tx.Scan(bucketSpecs, nil, false, func(k, v []byte) bool {
			var rec SpecRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				p.log.Warn("pinning: unreadable approved spec ignored", "server", string(k), "error", err)
				return true
			}
			p.specs[string(k)] = rec
			return true
		})
		tx.Scan(bucketPins, nil, false, func(k, v []byte) bool {
			server, tool, ok := bytes.Cut(k, []byte{0})
			if !ok {
				return true
			}
			var pin Pin
			if err := json.Unmarshal(v, &pin); err != nil {
				p.log.Warn("pinning: unreadable pin ignored", "key", string(k), "error", err)
				return true
			}
			p.serverPins(string(server))[string(tool)] = pin
			return true
		})
		tx.Scan(bucketServers, nil, false, func(k, v []byte) bool {
			var rec serverRecord
			_ = json.Unmarshal(v, &rec)
			p.known[string(k)] = rec
			return true
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pinning: load: %w", err)
	}
	go p.writer()
	return p, nil
}

// serverPins returns the pin map of server, creating it. Callers hold mu
// (or own p exclusively, as Open does).
func (p *Pins) serverPins(server string) map[string]Pin {
	m := p.pins[server]
	if m == nil {
		m = map[string]Pin{}
		p.pins[server] = m
	}
	return m
}

func (p *Pins) writer() {
	defer close(p.done)
	for {
		<-p.kick
		p.mu.Lock()
		batch := p.queue
		p.queue = nil
		closed := p.closed
		p.mu.Unlock()
		if len(batch) > 0 {
			// One transaction (one fsync) per batch: hundreds of servers
			// trusted on first use at start cost one write, not hundreds.
			err := p.db.Update(func(tx mcpproxy.StoreTx) error {
				for _, o := range batch {
					if err := o.fn(tx); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				p.log.Error("pinning: write failed", "error", err)
			}
			for _, o := range batch {
				if o.done != nil {
					o.done <- err
				}
			}
		}
		if closed {
			return
		}
	}
}

// enqueueLocked queues a write for the writer goroutine. Callers hold mu,
// which keeps the queue in the order of the in-memory changes. It never
// blocks. With wait, the returned channel receives the write's result.
func (p *Pins) enqueueLocked(fn func(tx mcpproxy.StoreTx) error, wait bool) chan error {
	done := make(chan error, 1)
	if p.closed {
		done <- mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "shutting down")
		return done
	}
	o := op{fn: fn}
	if wait {
		o.done = done
	}
	p.queue = append(p.queue, o)
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return done
}

// Close writes what is queued and stops the writer. Further changes are
// kept in memory only.
func (p *Pins) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	<-p.done
	return nil
}

func pinKey(server, tool string) []byte {
	k := make([]byte, 0, len(server)+1+len(tool))
	k = append(k, server...)
	k = append(k, 0)
	return append(k, tool...)
}

func putPins(server string, pins []Pin) func(tx mcpproxy.StoreTx) error {
	return func(tx mcpproxy.StoreTx) error {
		for _, pin := range pins {
			v, err := json.Marshal(pin)
			if err != nil {
				return err
			}
			if err := tx.Put(bucketPins, pinKey(server, pin.Tool.Name), v); err != nil {
				return err
			}
		}
		return nil
	}
}

func putKnown(server string, rec serverRecord) func(tx mcpproxy.StoreTx) error {
	return func(tx mcpproxy.StoreTx) error {
		v, _ := json.Marshal(rec)
		return tx.Put(bucketServers, []byte(server), v)
	}
}

// definition is what a fingerprint covers.
type definition struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`
}

// Definition returns a copy of t without the proxy's own fields
// (fingerprint, approval, warnings).
func Definition(t *mcpproxy.Tool) mcpproxy.Tool {
	return mcpproxy.Tool{
		Name: t.Name, Title: t.Title, Description: t.Description,
		InputSchema: t.InputSchema, OutputSchema: t.OutputSchema, Annotations: t.Annotations,
	}
}

// Fingerprint is the hex SHA-256 of the tool's canonical JSON: name,
// title, description, input and output schema and annotations, with object
// keys sorted and insignificant whitespace removed, so that an upstream
// re-encoding the same definition keeps its fingerprint.
func Fingerprint(t *mcpproxy.Tool) string {
	d := definition{
		Name: t.Name, Title: t.Title, Description: t.Description,
		InputSchema:  canonical(t.InputSchema),
		OutputSchema: canonical(t.OutputSchema),
		Annotations:  canonical(t.Annotations),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		// Every field is a string or canonical JSON, so this cannot
		// happen; never let it collapse fingerprints into one.
		buf.Reset()
		fmt.Fprintf(&buf, "%q\x00%q\x00%q\x00%q\x00%q\x00%q", d.Name, d.Title, d.Description, d.InputSchema, d.OutputSchema, d.Annotations)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

// canonical re-encodes raw JSON with sorted keys and no extra whitespace.
// Null or empty becomes absent. Anything that is not exactly one JSON value
// (invalid, or followed by more data) is kept as a JSON string of its bytes,
// so it still counts, byte for byte, toward the fingerprint.
func canonical(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the JSON value")
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err != nil || enc.Encode(v) != nil {
		buf.Reset()
		_ = enc.Encode(string(raw)) // a string always encodes
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

// Prepare returns a copy of tools with each tool's fingerprint and
// suspicious-content warnings filled in. It takes no lock; call it before
// publishing, outside the state view's lock.
func (p *Pins) Prepare(server, serverURL string, tools []mcpproxy.Tool) []mcpproxy.Tool {
	out := make([]mcpproxy.Tool, len(tools))
	for i := range tools {
		t := Definition(&tools[i])
		t.Fingerprint = Fingerprint(&t)
		if p.opts.Scan != nil {
			t.Warnings = p.opts.Scan(&t, serverURL)
		}
		out[i] = t
	}
	return out
}

// SetAutoApprove records a server's auto_approve_tool_changes.
func (p *Pins) SetAutoApprove(server string, v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v {
		p.auto[server] = true
	} else {
		delete(p.auto, server)
	}
}

// Known reports whether a person approved the server, or it was trusted on
// first use. quarantine_new_servers quarantines servers that are not.
func (p *Pins) Known(server string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.known[server]
	return ok
}

// Pin returns the pin of one tool.
func (p *Pins) Pin(server, tool string) (Pin, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pin, ok := p.pins[server][tool]
	return pin, ok
}

// Stamp returns a copy of tools (prepared by Prepare) with each tool's
// approval set from the pins. On a server that is not quarantined it also
// approves what trust on first use and auto_approve_tool_changes allow, and
// announces tools that now wait for a person. It works on memory only and
// never blocks, so it may run under the state view's lock.
func (p *Pins) Stamp(server string, quarantined bool, tools []mcpproxy.Tool) []mcpproxy.Tool {
	out := make([]mcpproxy.Tool, len(tools))
	copy(out, tools)
	now := time.Now().UTC()
	p.mu.Lock()
	defer p.mu.Unlock()
	sp := p.pins[server]
	// Trust on first use covers the first listing only: a server that
	// listed nothing at first and adds tools later (start harmless, add the
	// payload afterwards) gets them reviewed.
	rec, isKnown := p.known[server]
	firstUse := !quarantined && (!isKnown || rec.FirstUse)
	auto := p.auto[server]
	var writes []Pin
	for i := range out {
		t := &out[i]
		if t.Fingerprint == "" {
			t.Fingerprint = Fingerprint(t)
		}
		pin, pinned := sp[t.Name]
		switch {
		case pinned && pin.State == StateBlocked:
			t.Approval = mcpproxy.ApprovalBlocked
		case pinned && pin.Fingerprint == t.Fingerprint:
			t.Approval = mcpproxy.ApprovalApproved
			// A later change back to an announced definition is news again.
			delete(p.notified, server+"\x00"+t.Name)
		case quarantined && pinned:
			t.Approval = mcpproxy.ApprovalChanged
		case quarantined:
			t.Approval = mcpproxy.ApprovalPending
		case firstUse || auto:
			t.Approval = mcpproxy.ApprovalApproved
			np := Pin{State: StateApproved, Fingerprint: t.Fingerprint, Tool: Definition(t), At: now, Auto: true}
			writes = append(writes, np)
			if pinned {
				p.log.Warn("tool definition changed; approved by auto_approve_tool_changes", "server", server, "tool", t.Name)
			}
		case pinned:
			t.Approval = mcpproxy.ApprovalChanged
			p.announceLocked(server, t, pin.Fingerprint)
		default:
			t.Approval = mcpproxy.ApprovalPending
			p.announceLocked(server, t, "")
		}
	}
	if len(writes) > 0 {
		sp = p.serverPins(server)
		for _, w := range writes {
			sp[w.Tool.Name] = w
		}
		p.enqueueLocked(putPins(server, writes), false)
	}
	if !quarantined && (!isKnown || (rec.FirstUse && len(out) > 0)) {
		nr := serverRecord{ApprovedAt: now}
		if isKnown {
			nr.ApprovedAt = rec.ApprovedAt
		}
		p.known[server] = nr
		p.enqueueLocked(putKnown(server, nr), false)
	}
	return out
}

// announceLocked publishes tool.changed once per new fingerprint.
func (p *Pins) announceLocked(server string, t *mcpproxy.Tool, approvedFP string) {
	key := server + "\x00" + t.Name
	if p.notified[key] == t.Fingerprint {
		return
	}
	p.notified[key] = t.Fingerprint
	kind := "added"
	if approvedFP != "" {
		kind = "changed"
	}
	p.log.Warn("tool waits for approval", "server", server, "tool", t.Name, "reason", kind)
	if p.opts.Publish != nil {
		p.opts.Publish(mcpproxy.NewEvent(mcpproxy.EventToolChanged, server, map[string]any{
			"tool": t.Name, "change": kind, "approval": t.Approval,
			"fingerprint": t.Fingerprint, "approved_fingerprint": approvedFP,
			"warnings": len(t.Warnings),
		}))
	}
}

// Approve pins the given definitions (as currently listed) as approved and
// waits until that is written.
func (p *Pins) Approve(server string, tools []mcpproxy.Tool) error {
	return p.decide(server, tools, StateApproved, false, false)
}

// Block pins the given tools as blocked: not usable whatever their
// definition, until approved.
func (p *Pins) Block(server string, tools []mcpproxy.Tool) error {
	return p.decide(server, tools, StateBlocked, false, false)
}

// ApproveServer records that a person approved the server and approves
// the tools it lists now, except those a person blocked.
func (p *Pins) ApproveServer(server string, tools []mcpproxy.Tool) error {
	return p.decide(server, tools, StateApproved, true, false)
}

// ApproveUnlisted records that a person approved a server whose tools are
// not known yet (it is not connected): the first tools it lists are
// approved as if they had been listed at approval time.
func (p *Pins) ApproveUnlisted(server string) error {
	return p.decide(server, nil, StateApproved, true, true)
}

// Prune forgets every server that keep rejects: servers removed from the
// config while mcpproxy was not running.
func (p *Pins) Prune(keep func(server string) bool) {
	p.mu.Lock()
	var gone []string
	for name := range p.pins {
		if !keep(name) {
			gone = append(gone, name)
		}
	}
	for name := range p.known {
		if _, dup := p.pins[name]; !dup && !keep(name) {
			gone = append(gone, name)
		}
	}
	for name := range p.specs {
		_, dup1 := p.pins[name]
		_, dup2 := p.known[name]
		if !dup1 && !dup2 && !keep(name) {
			gone = append(gone, name)
		}
	}
	p.mu.Unlock()
	for _, name := range gone {
		p.Forget(name)
	}
}

func (p *Pins) decide(server string, tools []mcpproxy.Tool, state string, wholeServer, unlisted bool) error {
	now := time.Now().UTC()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "shutting down")
	}
	sp := p.serverPins(server)
	writes := make([]Pin, 0, len(tools))
	for i := range tools {
		t := &tools[i]
		if wholeServer {
			if cur, ok := sp[t.Name]; ok && cur.State == StateBlocked {
				continue
			}
		}
		fp := t.Fingerprint
		if fp == "" {
			fp = Fingerprint(t)
		}
		writes = append(writes, Pin{State: state, Fingerprint: fp, Tool: Definition(t), At: now})
	}
	rec := serverRecord{ApprovedAt: now, FirstUse: wholeServer && unlisted}
	fns := []func(tx mcpproxy.StoreTx) error{putPins(server, writes)}
	if wholeServer {
		fns = append(fns, putKnown(server, rec))
	}
	done := p.enqueueLocked(func(tx mcpproxy.StoreTx) error {
		for _, fn := range fns {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return nil
	}, true)
	// Memory changes with the queue, under the same lock, so a later
	// stamp sees the decision even before it is on disk.
	for _, w := range writes {
		sp[w.Tool.Name] = w
		delete(p.notified, server+"\x00"+w.Tool.Name)
	}
	if wholeServer {
		p.known[server] = rec
	}
	p.mu.Unlock()
	if err := <-done; err != nil {
		return fmt.Errorf("pinning: save: %w", err)
	}
	return nil
}

// Forget drops every pin of a removed server, so that a server added later
// under the same name starts over.
func (p *Pins) Forget(server string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pins, server)
	delete(p.known, server)
	delete(p.specs, server)
	delete(p.auto, server)
	for k := range p.notified {
		if s, _, _ := bytes.Cut([]byte(k), []byte{0}); string(s) == server {
			delete(p.notified, k)
		}
	}
	p.enqueueLocked(func(tx mcpproxy.StoreTx) error {
		prefix := pinKey(server, "")
		var keys [][]byte
		tx.Scan(bucketPins, prefix, false, func(k, _ []byte) bool {
			if !bytes.HasPrefix(k, prefix) {
				return false
			}
			keys = append(keys, append([]byte(nil), k...))
			return true
		})
		for _, k := range keys {
			if err := tx.Delete(bucketPins, k); err != nil {
				return err
			}
		}
		if err := tx.Delete(bucketSpecs, []byte(server)); err != nil {
			return err
		}
		return tx.Delete(bucketServers, []byte(server))
	}, false)
}

// RecordSpec remembers spec as the server's approved spec: the supervisor
// calls it when it starts a server that is not quarantined. It works on
// memory and writes behind, so it may run under the supervisor's lock.
func (p *Pins) RecordSpec(spec mcpproxy.ServerSpec) {
	fp := SpecFingerprint(&spec)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if cur, ok := p.specs[spec.Name]; ok && cur.Fingerprint == fp {
		return
	}
	rec := SpecRecord{Spec: Seal(spec), Fingerprint: fp, At: time.Now().UTC()}
	rec.Spec.Enabled, rec.Spec.Quarantined = true, false
	p.specs[spec.Name] = rec
	// Encoded by the writer, not here: a thousand servers starting
	// together record a thousand specs inside the supervisor's Apply.
	p.enqueueLocked(func(tx mcpproxy.StoreTx) error {
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Put(bucketSpecs, []byte(spec.Name), b)
	}, false)
}

// ApprovedSpec returns the spec the server last ran approved with.
func (p *Pins) ApprovedSpec(server string) (SpecRecord, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, ok := p.specs[server]
	return rec, ok
}

// HasPins reports whether any tool of the server was ever approved or
// blocked.
func (p *Pins) HasPins(server string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pins[server]) > 0
}
