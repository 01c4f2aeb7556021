package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/mcpproxy/mcpproxy/internal/client"
	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/spf13/cobra"
)

// Import actions, as the report shows them.
const (
	actionAdded     = "added"
	actionWouldAdd  = "would add"
	actionExists    = "skipped (exists)"
	actionDuplicate = "skipped (duplicate)"
	actionInvalid   = "invalid"
	actionFailed    = "failed"
)

// importResult is one server entry's fate.
type importResult struct {
	Name     string   `json:"name"`
	Source   string   `json:"source"`
	Field    string   `json:"field"`
	Action   string   `json:"action"`
	Detail   string   `json:"detail,omitempty"`
	Warnings []string `json:"warnings,omitempty"`

	spec mcpproxy.ServerSpec
}

// importReport is what import prints (-o json: as is).
type importReport struct {
	Sources []string       `json:"sources"`
	Target  string         `json:"target"`
	DryRun  bool           `json:"dry_run"`
	Results []importResult `json:"results"`
}

func (a *app) importCmd() *cobra.Command {
	var (
		from   string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "import --from claude-desktop|cursor|vscode|claude-code|codex|FILE",
		Short: "Import MCP servers from Claude Desktop, Cursor, VS Code or a config file",
		Long: `Read the MCP servers another client is configured with and add each one that
mcpproxy does not have yet: through the running daemon, or, when none runs,
by editing mcpproxy's config file (-c) directly.

Where each client's config is read from:
  claude-desktop  ` + claudeDesktopPath() + `
  cursor          .cursor/mcp.json in this directory, and ~/.cursor/mcp.json
  vscode          .vscode/mcp.json in this directory, and ` + vscodeUserPath() + `
  claude-code     .mcp.json in this directory, and ~/.claude.json
  codex           ~/.codex/config.toml
  FILE            any file with "mcpServers" (object or array) or VS Code's "servers"

A server whose name exists already is skipped; an entry that is not valid
is reported with the field at fault and skipped. VS Code ${input:…}
variables are imported as written, with a warning: set their values (or
${env:NAME}) in mcpproxy's config. Exits with status 1 when any entry could
not be imported.`,
		Example: "  mcpproxy import --from claude-desktop --dry-run\n  mcpproxy import --from vscode\n  mcpproxy import --from ./team-mcp.json -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usageError("import: give --from claude-desktop, cursor, vscode, claude-code, codex or a FILE")
			}
			sources, err := importSources(from)
			if err != nil {
				return err
			}
			rep := &importReport{Sources: sources, DryRun: dryRun, Results: []importResult{}}
			for _, path := range sources {
				results, err := readImport(path)
				if err != nil {
					return err
				}
				rep.Results = append(rep.Results, results...)
			}
			if err := a.runImport(cmd.Context(), rep); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.json() {
				if err := printJSON(w, rep); err != nil {
					return err
				}
			} else if err := printImport(w, rep); err != nil {
				return err
			}
			if n := rep.count(actionInvalid) + rep.count(actionFailed); n > 0 {
				return &exitError{1, fmt.Errorf("import: %s could not be imported", plural(n, "server"))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "claude-desktop, cursor, vscode, claude-code, codex, or the path of a config file (.toml: Codex's form)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only report what would be imported; change nothing")
	return cmd
}

func userConfigDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return d
	}
	return filepath.Join(defaultHome(), "..", ".config")
}

func claudeDesktopPath() string {
	return filepath.Join(userConfigDir(), "Claude", "claude_desktop_config.json")
}

func vscodeUserPath() string { return filepath.Join(userConfigDir(), "Code", "User", "mcp.json") }

// importSources returns the existing files to read for --from.
func importSources(from string) ([]string, error) {
	home, _ := os.UserHomeDir()
	var candidates []string
	client := ""
	switch from {
	case "claude-desktop":
		client, candidates = "Claude Desktop", []string{claudeDesktopPath()}
	case "cursor":
		client, candidates = "Cursor", []string{filepath.Join(".cursor", "mcp.json"), filepath.Join(home, ".cursor", "mcp.json")}
	case "vscode":
		client, candidates = "VS Code", []string{filepath.Join(".vscode", "mcp.json"), vscodeUserPath()}
	case "claude-code":
		client, candidates = "Claude Code", []string{".mcp.json", filepath.Join(home, ".claude.json")}
	case "codex":
		client, candidates = "Codex", []string{filepath.Join(home, ".codex", "config.toml")}
	default:
		abs, err := filepath.Abs(from)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		return []string{abs}, nil
	}
	var found []string
	for i, c := range candidates {
		abs, err := filepath.Abs(c)
		if err != nil {
			return nil, err
		}
		candidates[i] = abs
		if _, err := os.Stat(abs); err == nil && !slices.Contains(found, abs) {
			found = append(found, abs)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("import: no %s MCP config found (looked for %s)", client, strings.Join(candidates, ", "))
	}
	return found, nil
}

// readImport reads one client config into results with no action yet, or
// actionInvalid.
func readImport(path string) ([]importResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if strings.EqualFold(filepath.Ext(path), ".toml") {
		if data, err = codexServers(data); err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
	}
	_, servers, err := config.ParseClientServers(data)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	out := make([]importResult, 0, len(servers))
	for _, s := range servers {
		r := importResult{Name: s.Spec.Name, Source: path, Field: s.Field, Warnings: s.Warnings, spec: s.Spec}
		if s.Err != nil {
			r.Action, r.Detail = actionInvalid, problems(s.Err)
		}
		out = append(out, r)
	}
	return out, nil
}

// codexServers turns a Codex config (TOML, servers under [mcp_servers.NAME])
// into the JSON "mcpServers" form the other clients use, so that each entry
// is read and validated as theirs are. Codex's cwd is working_dir; its
// other keys pass as they are (unknown ones are reported as warnings).
func codexServers(data []byte) ([]byte, error) {
	var doc struct {
		Servers map[string]map[string]any `toml:"mcp_servers"`
	}
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, err
	}
	if doc.Servers == nil {
		return nil, errors.New("no [mcp_servers.NAME] tables")
	}
	for _, e := range doc.Servers {
		if cwd, ok := e["cwd"]; ok {
			e["working_dir"] = cwd
			delete(e, "cwd")
		}
	}
	return json.Marshal(map[string]any{"mcpServers": doc.Servers})
}

// problems lists the messages of joined errors on one line.
func problems(err error) string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var msgs []string
		for _, e := range j.Unwrap() {
			msgs = append(msgs, mcpproxy.ErrorMessage(e))
		}
		return strings.Join(msgs, "; ")
	}
	return mcpproxy.ErrorMessage(err)
}

// runImport decides and, unless a dry run, carries out each entry's action:
// through the daemon's REST API when one runs, else by editing the config
// file.
func (a *app) runImport(ctx context.Context, rep *importReport) error {
	t, err := a.target(true)
	if err != nil {
		return err
	}
	c := a.clientFor(t)
	var existing []string
	daemon := true
	list, err := c.Servers(ctx, "")
	var nd *client.NoDaemonError
	switch {
	case err == nil:
		for _, s := range list {
			existing = append(existing, s.Name)
		}
		rep.Target = "daemon at " + c.BaseURL()
	case errors.As(err, &nd) && !t.explicit:
		daemon = false
		rep.Target = "config file " + t.configPath + " (no daemon is running)"
		cfg, _, err := config.Load(t.configPath)
		switch {
		case err == nil:
			for _, s := range cfg.Servers {
				existing = append(existing, s.Name)
			}
		case errors.Is(err, os.ErrNotExist):
		default:
			return err
		}
	default:
		return err
	}

	seen := map[string]string{} // name → field of its first entry
	var todo []*importResult
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Action == actionInvalid {
			continue
		}
		switch first, dup := seen[r.Name]; {
		case dup:
			r.Action, r.Detail = actionDuplicate, "also "+first
			continue
		case slices.Contains(existing, r.Name):
			r.Action, r.Detail = actionExists, "mcpproxy has a server with this name"
		default:
			r.Action, r.Detail = actionWouldAdd, describeSpec(r.spec)
			todo = append(todo, r)
		}
		seen[r.Name] = r.Field
	}
	if rep.DryRun || len(todo) == 0 {
		return nil
	}
	if daemon {
		for _, r := range todo {
			_, err := c.AddServer(ctx, r.spec)
			switch {
			case err == nil:
				r.Action = actionAdded
			case mcpproxy.ErrorCode(err) == mcpproxy.ECONFLICT:
				r.Action, r.Detail = actionExists, mcpproxy.ErrorMessage(err)
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				r.Action, r.Detail = actionFailed, mcpproxy.ErrorMessage(err)
			}
		}
		return nil
	}
	return importToFile(ctx, t.configPath, todo, rep)
}

// importToFile adds the servers to the config file in one atomic edit that
// keeps the file's order and unknown fields, creating the file (as serve
// would) when there is none.
func importToFile(ctx context.Context, path string, todo []*importResult, rep *importReport) error {
	created, err := config.CreateDefault(path, generateKey())
	if err != nil {
		return err
	}
	if created {
		rep.Target = "config file " + path + " (created; no daemon is running)"
	}
	w := config.NewWriter(path)
	defer w.Close()
	_, err = w.Edit(ctx, func(d *config.Document) error {
		quarantine := false
		if raw, ok := d.Top("quarantine_new_servers"); ok && string(raw) == "true" {
			quarantine = true
		}
		for _, r := range todo {
			spec := r.spec
			spec.Quarantined = spec.Quarantined || quarantine
			if err := d.AddServer(spec); err != nil {
				if mcpproxy.ErrorCode(err) != mcpproxy.ECONFLICT {
					return err
				}
				r.Action, r.Detail = actionExists, mcpproxy.ErrorMessage(err)
				continue
			}
			r.Action = actionAdded
		}
		return nil
	})
	if err != nil {
		for _, r := range todo {
			r.Action, r.Detail = actionFailed, problems(err)
		}
	}
	return nil
}

// describeSpec says in a few words what a server runs or reaches.
func describeSpec(s mcpproxy.ServerSpec) string {
	if s.Command != "" {
		return truncate(strings.Join(append([]string{"stdio:", s.Command}, s.Args...), " "), 70)
	}
	p := string(s.Protocol)
	if p == "" || p == string(mcpproxy.ProtocolAuto) {
		p = "url"
	}
	return truncate(p+": "+s.URL, 70)
}

func (r *importReport) count(action string) int {
	n := 0
	for _, res := range r.Results {
		if res.Action == action {
			n++
		}
	}
	return n
}

func printImport(w io.Writer, rep *importReport) error {
	for _, s := range rep.Sources {
		fmt.Fprintf(w, "reading %s\n", s)
	}
	if len(rep.Results) == 0 {
		fmt.Fprintln(w, "No servers to import.")
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w, "NAME", "ACTION", "DETAIL")
	for _, r := range rep.Results {
		t.row(r.Name, r.Action, r.Detail)
	}
	if err := t.flush(); err != nil {
		return err
	}
	var warned bool
	for _, r := range rep.Results {
		for _, wn := range r.Warnings {
			if !warned {
				fmt.Fprintln(w)
				warned = true
			}
			fmt.Fprintf(w, "warning: %s: %s\n", r.Name, wn)
		}
	}
	skipped := rep.count(actionExists) + rep.count(actionDuplicate)
	bad := rep.count(actionInvalid) + rep.count(actionFailed)
	fmt.Fprintln(w)
	if rep.DryRun {
		fmt.Fprintf(w, "dry run, nothing changed: would add %d to the %s, skip %d, %d invalid\n",
			rep.count(actionWouldAdd), rep.Target, skipped, bad)
		return nil
	}
	fmt.Fprintf(w, "%d added to the %s, %d skipped, %d failed\n", rep.count(actionAdded), rep.Target, skipped, bad)
	return nil
}
