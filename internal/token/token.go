// Package token keeps agent tokens: named secrets an MCP client presents
// (Authorization: Bearer mcpp_…) to be known by name and limited to some
// servers, to read-only tools, and with or without server management. A
// token's secret is shown once, when it is created; the store keeps only its
// SHA-256 (the secret is 256 random bits, so a plain hash is enough), in the
// "agent_tokens" bucket of the daemon's store.
//
// Concurrency contract: a Tokens is safe for concurrent use. Every token is
// held in memory behind a RWMutex, so Verify, on every MCP request, is a map
// lookup and never waits on the disk, except to persist a token's last-used
// time, at most once a minute per token and never with the mutex held.
// Create and Revoke write through a store transaction, then update memory.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Prefix starts every token secret, so that one is recognisable in a
// config file, a log or a secret scanner.
const Prefix = "mcpp_"

// AllServers in a token's server list allows every server.
const AllServers = "*"

const bucket = "agent_tokens"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Token is what is kept about a token; never its secret.
type Token struct {
	Name string `json:"name"`
	// Servers the token may see and call; AllServers allows all.
	Servers []string `json:"servers"`
	// ReadOnly limits the token to tools annotated readOnlyHint.
	ReadOnly bool `json:"read_only"`
	// Manage allows the upstream_servers tool (list, and with ReadOnly
	// off, add, update, remove, enable, disable, restart) on the token's
	// servers.
	Manage    bool      `json:"manage"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	// Hash is the hex SHA-256 of the secret.
	Hash string `json:"hash"`
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// AllowsServer reports whether the token may see and call the server.
func (t *Token) AllowsServer(name string) bool {
	return slices.Contains(t.Servers, AllServers) || slices.Contains(t.Servers, name)
}

// AllowsTool reports whether the token may see and call a tool of the
// server: the server is allowed and, for a read-only token, the tool is
// annotated readOnlyHint.
func (t *Token) AllowsTool(server string, annotations json.RawMessage) bool {
	if !t.AllowsServer(server) {
		return false
	}
	return !t.ReadOnly || ReadOnlyHint(annotations)
}

// ReadOnlyHint reports whether tool annotations (raw JSON, as kept in
// mcpproxy.Tool) declare readOnlyHint: true.
func ReadOnlyHint(annotations json.RawMessage) bool {
	if len(annotations) == 0 {
		return false
	}
	var a struct {
		ReadOnlyHint bool `json:"readOnlyHint"`
	}
	return json.Unmarshal(annotations, &a) == nil && a.ReadOnlyHint
}

// Info is a token as the REST API lists it; never its secret.
type Info = apiv1.Token

func (t *Token) info(now time.Time) Info {
	return Info{Name: t.Name, Servers: slices.Clone(t.Servers), ReadOnly: t.ReadOnly, Manage: t.Manage,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsed: t.LastUsed, Expired: t.Expired(now)}
}

// Spec is what Create makes a token from.
type Spec = apiv1.TokenSpec

// Created is the answer to Create: the token and its secret, which is
// never shown again.
type Created = apiv1.CreatedToken

// ParseExpires parses a token lifetime: Nd (days), or a Go duration such as
// 12h or 90m; "" and "never" mean no expiry (zero).
func ParseExpires(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "never" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 3650 {
			return 0, fmt.Errorf("want a number of days from 1 to 3650 (like 30d), got %q", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("want a lifetime like 30d, 12h or 90m, or never, got %q", s)
		}
	}
	if d < time.Minute {
		return 0, fmt.Errorf("want a lifetime of at least a minute, got %q", s)
	}
	return d, nil
}

// Tokens is the set of tokens, backed by a bucket of the store's file.
type Tokens struct {
	db  mcpproxy.Store
	now func() time.Time

	mu     sync.RWMutex
	byHash map[string]*Token    // guarded by mu; values are never mutated, only replaced
	saved  map[string]time.Time // guarded by mu: last-used time last persisted, by name
}

// Options tunes Open.
type Options struct {
	// Now is the clock that decides expiry; default time.Now.
	Now func() time.Time
}

// Open loads the tokens from db.
func Open(db mcpproxy.Store, opts Options) (*Tokens, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t := &Tokens{db: db, now: opts.Now, byHash: map[string]*Token{}, saved: map[string]time.Time{}}
	err := db.View(func(tx mcpproxy.StoreTx) (err error) {
		tx.Scan(bucket, nil, false, func(k, v []byte) bool {
			tok := new(Token)
			if err = json.Unmarshal(v, tok); err != nil {
				err = fmt.Errorf("token %q: %w", k, err)
				return false
			}
			t.byHash[tok.Hash] = tok
			t.saved[tok.Name] = tok.LastUsed
			return true
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return t, nil
}

// hashOf is the hex SHA-256 of a secret.
func hashOf(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Create makes a token and returns it with its secret. A bad spec, or a
// name already taken, changes nothing and names the field.
func (t *Tokens) Create(spec Spec) (Created, error) {
	if !nameRE.MatchString(spec.Name) || spec.Name == "." || spec.Name == ".." {
		return Created{}, mcpproxy.Errorf(mcpproxy.EINVALID, "name: want 1-64 letters, digits, '_', '.' or '-' (not . or ..), got %q", spec.Name)
	}
	servers := make([]string, 0, len(spec.Servers))
	for i, s := range spec.Servers {
		s = strings.TrimSpace(s)
		if s != AllServers && !nameRE.MatchString(s) {
			return Created{}, mcpproxy.Errorf(mcpproxy.EINVALID, "servers[%d]: want a server name or %q for all servers, got %q", i, AllServers, s)
		}
		if !slices.Contains(servers, s) {
			servers = append(servers, s)
		}
	}
	if len(servers) == 0 {
		return Created{}, mcpproxy.Errorf(mcpproxy.EINVALID, "servers: required: name the servers the token may use (or %q for all)", AllServers)
	}
	life, err := ParseExpires(spec.Expires)
	if err != nil {
		return Created{}, mcpproxy.Errorf(mcpproxy.EINVALID, "expires: %v", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Created{}, fmt.Errorf("token: random: %w", err)
	}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	now := t.now().UTC().Truncate(time.Second)
	tok := &Token{Name: spec.Name, Servers: servers, ReadOnly: spec.ReadOnly, Manage: spec.Manage,
		CreatedAt: now, Hash: hashOf(secret)}
	if life > 0 {
		tok.ExpiresAt = now.Add(life)
	}
	v, err := json.Marshal(tok)
	if err != nil {
		return Created{}, err
	}
	err = t.db.Update(func(tx mcpproxy.StoreTx) error {
		if tx.Get(bucket, []byte(spec.Name)) != nil {
			return mcpproxy.Errorf(mcpproxy.ECONFLICT, "name: a token named %q exists; revoke it first or pick another name", spec.Name)
		}
		return tx.Put(bucket, []byte(spec.Name), v)
	})
	if err != nil {
		return Created{}, err
	}
	t.mu.Lock()
	t.byHash[tok.Hash] = tok
	t.saved[tok.Name] = time.Time{}
	t.mu.Unlock()
	return Created{Token: tok.info(now), Secret: secret}, nil
}

// List returns every token, by name, expired ones included.
func (t *Tokens) List() []Info {
	now := t.now()
	t.mu.RLock()
	out := make([]Info, 0, len(t.byHash))
	for _, tok := range t.byHash {
		out = append(out, tok.info(now))
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Revoke deletes the named token; it stops working at once.
func (t *Tokens) Revoke(name string) error {
	err := t.db.Update(func(tx mcpproxy.StoreTx) error {
		if tx.Get(bucket, []byte(name)) == nil {
			return mcpproxy.Errorf(mcpproxy.ENOTFOUND, "token %q not found", name)
		}
		return tx.Delete(bucket, []byte(name))
	})
	if err != nil {
		return err
	}
	t.mu.Lock()
	for h, tok := range t.byHash {
		if tok.Name == name {
			delete(t.byHash, h)
		}
	}
	delete(t.saved, name)
	t.mu.Unlock()
	return nil
}

// LooksLike reports whether a credential is meant as an agent token.
func LooksLike(secret string) bool { return strings.HasPrefix(secret, Prefix) }

// persistEvery is how often a token's last-used time is written.
const persistEvery = time.Minute

// Verify returns the token whose secret this is. An unknown, revoked or
// expired token is an EUNAUTHORIZED error that says which.
func (t *Tokens) Verify(secret string) (*Token, error) {
	h := hashOf(secret)
	now := t.now().UTC()
	t.mu.Lock()
	tok := t.byHash[h]
	// Looking up by hash leaks nothing usable through timing: the hash of
	// a guessed secret says nothing about the hash of a real one.
	if tok == nil {
		t.mu.Unlock()
		return nil, mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "unknown or revoked agent token")
	}
	if tok.Expired(now) {
		t.mu.Unlock()
		return nil, mcpproxy.Errorf(mcpproxy.EUNAUTHORIZED, "agent token %q expired at %s", tok.Name, tok.ExpiresAt.Format(time.RFC3339))
	}
	cp := *tok
	cp.LastUsed = now.Truncate(time.Second)
	t.byHash[h] = &cp
	persist := now.Sub(t.saved[tok.Name]) >= persistEvery
	if persist {
		t.saved[tok.Name] = now
	}
	t.mu.Unlock()
	if persist {
		t.persist(&cp)
	}
	return &cp, nil
}

// persist writes a token's record (for its last-used time) unless it was
// revoked meanwhile. A failed write is not the caller's problem: the time
// is kept in memory and written with the next use.
func (t *Tokens) persist(tok *Token) {
	v, err := json.Marshal(tok)
	if err != nil {
		return
	}
	_ = t.db.Update(func(tx mcpproxy.StoreTx) error {
		cur := tx.Get(bucket, []byte(tok.Name))
		if cur == nil {
			return nil
		}
		var old Token
		if json.Unmarshal(cur, &old) != nil || old.Hash != tok.Hash {
			return nil
		}
		return tx.Put(bucket, []byte(tok.Name), v)
	})
}
