package pinning

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/secret"
)

// A server's spec is pinned as its tools are: what a person approved is
// remembered with its fingerprint, an approval names the fingerprint the
// person saw, and a quarantined server shows what changed since the last
// approved spec.

// SpecFingerprint is the SHA-256 (hex) of what decides how a server runs and
// where it connects: transport, command, args, env, working_dir, url,
// headers and oauth, as written in the config (placeholders, not their
// values). Enabled, quarantine and timeouts do not count.
func SpecFingerprint(spec *mcpproxy.ServerSpec) string {
	b, _ := json.Marshal(connectionOf(spec))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// connection is the part of a spec the fingerprint covers, in a fixed
// order (encoding/json sorts map keys).
type connection struct {
	Transport  mcpproxy.Protocol   `json:"transport"`
	Command    string              `json:"command"`
	Args       []string            `json:"args"`
	Env        map[string]string   `json:"env"`
	WorkingDir string              `json:"working_dir"`
	URL        string              `json:"url"`
	Headers    map[string]string   `json:"headers"`
	OAuth      *mcpproxy.OAuthSpec `json:"oauth"`
}

func connectionOf(s *mcpproxy.ServerSpec) connection {
	c := connection{Transport: s.Transport(), Command: s.Command, Args: s.Args, Env: s.Env,
		WorkingDir: s.WorkingDir, URL: s.URL, Headers: s.Headers, OAuth: s.OAuth}
	if len(c.Args) == 0 {
		c.Args = nil
	}
	if len(c.Env) == 0 {
		c.Env = nil
	}
	if len(c.Headers) == 0 {
		c.Headers = nil
	}
	return c
}

// Masked is what a hidden literal secret shows as.
const Masked = "***"

// ViewSpec returns spec as shown for review.
func ViewSpec(spec *mcpproxy.ServerSpec) mcpproxy.SpecView {
	v := mcpproxy.SpecView{Protocol: spec.Transport(), Command: spec.Command, WorkingDir: spec.WorkingDir}
	for i, a := range spec.Args {
		v.Args = append(v.Args, showValue("", a))
		v.Secrets = appendRefs(v.Secrets, fmt.Sprintf("args[%d]", i), a)
	}
	v.Env = showMap(spec.Env)
	v.Headers = showMap(spec.Headers)
	for _, k := range sortedKeys(spec.Env) {
		v.Secrets = appendRefs(v.Secrets, "env."+k, spec.Env[k])
	}
	for _, k := range sortedKeys(spec.Headers) {
		v.Secrets = appendRefs(v.Secrets, "headers."+k, spec.Headers[k])
	}
	v.URL = showURL(spec.URL)
	v.Secrets = appendRefs(v.Secrets, "url", spec.URL)
	if spec.OAuth != nil {
		m := spec.Masked()
		o := *m.OAuth
		v.OAuth = &o
		v.Secrets = appendRefs(v.Secrets, "oauth.client_secret", spec.OAuth.ClientSecret)
	}
	return v
}

// CarriesSecret reports whether a spec value (of the env or header named
// key, or an arg or url with key "") holds a secret: a ${env:NAME}
// placeholder, or a literal that review would hide.
func CarriesSecret(key, val string) bool {
	if secret.HasPlaceholder(val) {
		return true
	}
	if key == "url" {
		return showURL(val) != val
	}
	return showValue(key, val) == Masked
}

func showValue(key, val string) string {
	if strings.HasPrefix(val, Masked) {
		return Masked // sealed by Seal
	}
	if secret.HasPlaceholder(val) {
		return val
	}
	if (key != "" && secret.LooksSecretKey(key) && val != "") || secret.LooksSecretValue(val) {
		return Masked
	}
	return val
}

func showMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		out[k] = showValue(k, val)
	}
	return out
}

// Seal returns spec with every literal value that review would hide
// replaced by "***" and a short hash of it, so that a spec can be kept in
// the store, and compared with a later one, without keeping secrets.
func Seal(spec mcpproxy.ServerSpec) mcpproxy.ServerSpec {
	seal := func(key, val string) string {
		if showValue(key, val) != Masked || strings.HasPrefix(val, Masked) {
			return val
		}
		sum := sha256.Sum256([]byte(val))
		return Masked + hex.EncodeToString(sum[:8])
	}
	sealMap := func(m map[string]string) map[string]string {
		if len(m) == 0 {
			return m
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[k] = seal(k, v)
		}
		return out
	}
	if len(spec.Args) > 0 {
		args := make([]string, len(spec.Args))
		for i, a := range spec.Args {
			args[i] = seal("", a)
		}
		spec.Args = args
	}
	spec.Env = sealMap(spec.Env)
	spec.Headers = sealMap(spec.Headers)
	if shown := showURL(spec.URL); shown != spec.URL {
		sum := sha256.Sum256([]byte(spec.URL))
		spec.URL = shown + "#" + Masked + hex.EncodeToString(sum[:8])
	}
	if spec.OAuth != nil && spec.OAuth.ClientSecret != "" && !secret.HasPlaceholder(spec.OAuth.ClientSecret) {
		o := *spec.OAuth
		o.ClientSecret = seal("client_secret", o.ClientSecret)
		spec.OAuth = &o
	}
	return spec
}

// showURL hides a password in the URL's user info and query values that
// look like secrets.
func showURL(raw string) string {
	if i := strings.Index(raw, "#"+Masked); i >= 0 {
		return raw[:i] // sealed by Seal
	}
	if raw == "" || secret.HasPlaceholder(raw) {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	changed := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Masked)
		changed = true
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vals := range q {
			for i, val := range vals {
				if s := showValue(k, val); s != val {
					vals[i] = s
					changed = true
				}
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return raw
	}
	return u.String()
}

func appendRefs(refs []mcpproxy.SecretRef, field, val string) []mcpproxy.SecretRef {
	for _, name := range PlaceholderNames(val) {
		refs = append(refs, mcpproxy.SecretRef{Field: field, Env: name})
	}
	return refs
}

// PlaceholderNames returns the NAMEs of the ${env:NAME} placeholders in s.
func PlaceholderNames(s string) []string {
	if !secret.HasPlaceholder(s) {
		return nil
	}
	var names []string
	_, _, _ = secret.Expand(s, func(name string) (string, bool) {
		names = append(names, name)
		return "", true
	})
	return names
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SpecDiff lists, field by field, how spec differs from approved.
func SpecDiff(approved, spec *mcpproxy.ServerSpec) []mcpproxy.FieldChange {
	var out []mcpproxy.FieldChange
	add := func(field, key, before, after string) {
		if before == after {
			return
		}
		b, a := showValue(key, before), showValue(key, after)
		if b == a && b != "" {
			a += " (changed)"
		}
		out = append(out, mcpproxy.FieldChange{Field: field, Before: b, After: a})
	}
	add("protocol", "", string(approved.Transport()), string(spec.Transport()))
	add("command", "", approved.Command, spec.Command)
	if !slices.Equal(approved.Args, spec.Args) {
		out = append(out, mcpproxy.FieldChange{Field: "args", Before: showArgs(approved.Args), After: showArgs(spec.Args)})
	}
	mapDiff := func(field string, a, b map[string]string) {
		keys := sortedKeys(a)
		for _, k := range sortedKeys(b) {
			if _, ok := a[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			add(field+"."+k, k, a[k], b[k])
		}
	}
	mapDiff("env", approved.Env, spec.Env)
	add("working_dir", "", approved.WorkingDir, spec.WorkingDir)
	if approved.URL != spec.URL {
		after := showURL(spec.URL)
		if after == showURL(approved.URL) {
			after += " (changed)"
		}
		out = append(out, mcpproxy.FieldChange{Field: "url", Before: showURL(approved.URL), After: after})
	}
	mapDiff("headers", approved.Headers, spec.Headers)
	if !approved.OAuth.Equal(spec.OAuth) {
		out = append(out, mcpproxy.FieldChange{Field: "oauth", Before: showOAuth(approved), After: showOAuth(spec)})
	}
	return out
}

func showArgs(args []string) string {
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = showValue("", a)
	}
	b, _ := json.Marshal(shown)
	return string(b)
}

func showOAuth(s *mcpproxy.ServerSpec) string {
	if s.OAuth == nil {
		return ""
	}
	b, _ := json.Marshal(s.Masked().OAuth)
	return string(b)
}

// SpecWarnings are findings in a spec a person should read before approving
// it: a shell or inline code, environment that changes what the process
// loads, secrets it would be given and where they would go.
func SpecWarnings(spec *mcpproxy.ServerSpec) []mcpproxy.Warning {
	var out []mcpproxy.Warning
	warn := func(kind, field, detail string) {
		out = append(out, mcpproxy.Warning{Kind: kind, Field: field, Detail: detail})
	}
	if spec.Command != "" {
		base := strings.ToLower(strings.TrimSuffix(filepath.Base(strings.ReplaceAll(spec.Command, `\`, "/")), ".exe"))
		switch base {
		case "sh", "bash", "zsh", "dash", "ksh", "fish", "cmd", "powershell", "pwsh":
			if slices.ContainsFunc(spec.Args, func(a string) bool {
				a = strings.ToLower(a)
				return a == "-c" || a == "/c" || a == "-command" || (strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "c"))
			}) {
				warn("shell", "command", fmt.Sprintf("runs a command line through %s: read every argument", base))
			}
		case "node", "python", "python3", "perl", "ruby", "deno", "bun":
			if slices.ContainsFunc(spec.Args, func(a string) bool {
				return a == "-e" || a == "--eval" || a == "-c" || a == "-p" || a == "--print" || a == "eval"
			}) {
				warn("inline_code", "args", fmt.Sprintf("runs code written in its arguments (%s)", base))
			}
		}
	}
	for _, k := range sortedKeys(spec.Env) {
		switch strings.ToUpper(k) {
		case "NODE_OPTIONS", "LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "DYLD_LIBRARY_PATH",
			"PYTHONPATH", "PYTHONSTARTUP", "BASH_ENV", "ENV", "PATH", "PERL5OPT", "RUBYOPT", "NODE_PATH":
			warn("loader_env", "env."+k, "changes what the process loads or runs")
		}
	}
	view := ViewSpec(spec)
	for _, ref := range view.Secrets {
		warn("secret", ref.Field, fmt.Sprintf("is given ${env:%s} from mcpproxy's environment", ref.Env))
	}
	if spec.URL != "" {
		if len(PlaceholderNames(spec.URL)) > 0 {
			warn("secret_in_url", "url", "puts a secret in the URL, where servers and proxies log it")
		}
		if u, err := url.Parse(spec.URL); err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			hasSecret := false
			for _, ref := range view.Secrets {
				if strings.HasPrefix(ref.Field, "headers.") || ref.Field == "url" {
					hasSecret = true
				}
			}
			if hasSecret {
				warn("plain_http", "url", fmt.Sprintf("sends secrets over plain HTTP to %s", u.Host))
			}
		}
	}
	return out
}

func loopbackHost(h string) bool {
	return h == "localhost" || h == "::1" || strings.HasPrefix(h, "127.")
}

// ReviewSpec returns the review of spec against the spec last approved
// (ok false: none was).
func ReviewSpec(spec *mcpproxy.ServerSpec, approved SpecRecord, ok bool) mcpproxy.ServerReview {
	r := mcpproxy.ServerReview{Spec: ViewSpec(spec), Fingerprint: SpecFingerprint(spec), Warnings: SpecWarnings(spec)}
	if ok {
		v := ViewSpec(&approved.Spec)
		r.Approved = &v
		at := approved.At
		r.ApprovedAt = &at
		sealed := Seal(*spec)
		r.Diff = SpecDiff(&approved.Spec, &sealed)
	}
	return r
}
