package main

// What every CLI command that talks to the daemon shares: finding the
// daemon, the output format, and telling usage errors (exit 2) from
// failures (exit 1).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/mcpproxy/mcpproxy/internal/client"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/spf13/cobra"
)

// app holds the root command's persistent flags and what the command that
// runs learned about the daemon.
type app struct {
	configPath string // -c, "" for the default
	url        string // --url
	apiKey     string // --api-key
	dataDir    string // --data-dir: where a running daemon's daemon.json is
	output     string // -o: table or json
	stderr     io.Writer

	// started is set once a command's own code runs: an error before that
	// is cobra's (unknown command or flag, wrong number of arguments).
	started bool
	// keySource says where the API key came from, and reached the daemon's
	// URL, for the hint on 401.
	keySource, reached string
}

// usageError is an error in how a command was invoked: exit status 2.
func usageError(format string, args ...any) error {
	return &exitError{2, fmt.Errorf(format, args...)}
}

func (a *app) json() bool { return a.output == "json" }

// daemonTarget is where a command finds the daemon and what it knows
// from the config file.
type daemonTarget struct {
	url, key   string
	configPath string
	// explicit is set when --url named the daemon: no other is tried.
	explicit bool
}

// target finds the daemon: --url, else the daemon.json a running daemon
// wrote in the data directory (--data-dir, else the config's), else the
// config's listen address; the API key is --api-key, else MCPPROXY_API_KEY,
// else the config's api_key. The config file is read leniently (only
// listen, api_key and data_dir), and when it does not parse at all (a hand
// edit in progress) those keys are picked out of it as text, with a
// warning: a broken file is when `status` is needed most.
// A config file named with -c must exist unless allowMissing.
func (a *app) target(allowMissing bool) (daemonTarget, error) {
	t := daemonTarget{configPath: a.configPath}
	if t.configPath == "" {
		t.configPath = filepath.Join(defaultHome(), "mcp_config.json")
	}
	if abs, err := filepath.Abs(t.configPath); err == nil {
		t.configPath = abs
	}
	cfg := config.Default()
	keySource := ""
	if a.url == "" || a.apiKey == "" {
		data, err := os.ReadFile(t.configPath)
		switch {
		case err == nil:
			if err := readDaemonKeys(data, cfg); err != nil {
				scanDaemonKeys(data, cfg)
				if a.stderr != nil {
					fmt.Fprintf(a.stderr, "warning: %s does not parse (%v); read listen, api_key and data_dir from it as text\n", t.configPath, err)
				}
			}
			if cfg.APIKey != "" {
				keySource = fmt.Sprintf("%s (\"api_key\")", t.configPath)
			}
		case errors.Is(err, os.ErrNotExist) && (a.configPath == "" || allowMissing):
			// No config yet: the defaults are what a daemon would use.
		default:
			return t, fmt.Errorf("read config: %w", err)
		}
	}
	overrides := config.EnvOverrides(os.Getenv, defaultHome())
	if overrides.APIKey != "" {
		keySource = "environment variable MCPPROXY_API_KEY"
	}
	overrides.Apply(cfg)
	if a.dataDir != "" {
		cfg.DataDir = a.dataDir
	}
	t.url, t.key = localURL(cfg.Listen), cfg.APIKey
	if d, ok := readDaemonFile(filepath.Join(cfg.DataDir, daemonFileName)); ok && processAlive(d.PID) {
		t.url = d.URL
	}
	if a.url != "" {
		u, err := normalizeURL(a.url)
		if err != nil {
			return t, err
		}
		t.url, t.explicit = u, true
	}
	if a.apiKey != "" {
		t.key, keySource = a.apiKey, "--api-key"
	}
	a.keySource, a.reached = keySource, t.url
	return t, nil
}

// scanDaemonKeys picks listen, api_key and data_dir out of a config file
// that does not parse: the first string value of each at the top level of
// the outermost object, up to where the file breaks.
func scanDaemonKeys(data []byte, cfg *config.Config) {
	dst := map[string]*string{"listen": &cfg.Listen, "api_key": &cfg.APIKey, "data_dir": &cfg.DataDir}
	seen := map[string]bool{}
	depth := 0
	var key string // the last top-level string, while it may be a key
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			depth++
			key = ""
		case '}', ']':
			depth--
			key = ""
		case ':':
			// key stays set: the next string is its value.
		case '"':
			end := stringEnd(data, i)
			if end < 0 {
				return
			}
			var str string
			if json.Unmarshal(data[i:end+1], &str) != nil {
				return
			}
			if depth == 1 {
				if p, ok := dst[key]; ok && key != "" && !seen[key] && precededByColon(data[:i]) {
					*p, seen[key] = str, true
					key = ""
				} else {
					key = str
				}
			}
			i = end
		case ',':
			key = ""
		}
	}
}

// stringEnd returns the index of the quote closing the JSON string that
// starts at data[start], or -1.
func stringEnd(data []byte, start int) int {
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i
		case '\n':
			return -1
		}
	}
	return -1
}

// precededByColon reports whether the last non-space byte of b is ':'.
func precededByColon(b []byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return b[i] == ':'
	}
	return false
}

// readDaemonKeys reads listen, api_key and data_dir from a config file.
func readDaemonKeys(data []byte, cfg *config.Config) error {
	doc, err := config.ParseDocument(data)
	if err != nil {
		return err
	}
	for key, dst := range map[string]*string{"listen": &cfg.Listen, "api_key": &cfg.APIKey, "data_dir": &cfg.DataDir} {
		raw, ok := doc.Top(key)
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("%s: want string", key)
		}
	}
	return nil
}

// normalizeURL accepts http(s)://host:port or host:port.
func normalizeURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageError("--url: want http://HOST:PORT, got %q", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// client returns a client of the daemon the command should talk to.
func (a *app) client() (*client.Client, error) {
	t, err := a.target(false)
	if err != nil {
		return nil, err
	}
	return a.clientFor(t), nil
}

func (a *app) clientFor(t daemonTarget) *client.Client {
	c := client.New(t.url, t.key)
	c.UserAgent = "mcpproxy-cli/" + version
	return c
}

// explain adds what the user can do about an error from the daemon.
func (a *app) explain(err error) error {
	var e *mcpproxy.Error
	if errors.As(err, &e) && e.Code == mcpproxy.EUNAUTHORIZED {
		src := a.keySource
		if src == "" {
			src = "nowhere: no api_key in the config, no MCPPROXY_API_KEY, no --api-key"
		}
		return fmt.Errorf("%w (the CLI reached %s with the key from %s; a daemon started with another data dir is found with --data-dir)", err, a.reached, src)
	}
	return err
}

// --- output ----------------------------------------------------------------

// printJSON writes v as indented JSON.
// show runs a command that reads one answer from the daemon and prints
// it: as JSON with -o json, else with text.
func show[T any](a *app, cmd *cobra.Command, fetch func(context.Context, *client.Client) (T, error), text func(io.Writer, T) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	v, err := fetch(cmd.Context(), c)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if a.json() {
		return printJSON(w, v)
	}
	return text(w, v)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printCompactJSON writes v as JSON on one line.
func printCompactJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes aligned columns; call flush when done.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = cell(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// cell makes s fit in one table cell: one line, no tabs, "-" for empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\r", " ", "\n", " ").Replace(s)
}

// truncate shortens s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// --- argument checks ----------------------------------------------------------

// args wraps a positional-argument check so that its error is a usage
// error naming the expected arguments.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError("%s: %v (usage: %s)", cmd.CommandPath(), err, cmd.UseLine())
		}
		return nil
	}
}

// group makes cmd a command that only holds subcommands: without arguments
// it prints its help, and an unknown subcommand is a usage error.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = func(cmd *cobra.Command, a []string) error {
		if len(a) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", a[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(a[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usageError("%s (see %s --help)", msg, cmd.CommandPath())
	}
	cmd.RunE = func(cmd *cobra.Command, a []string) error { return cmd.Help() }
	return cmd
}

// keyValues parses repeated K=V flag values.
func keyValues(flag string, vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(vals))
	for _, kv := range vals {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError("%s: want KEY=VALUE, got %q", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}
