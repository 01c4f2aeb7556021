package main

// mcpproxy connect: write (or remove) mcpproxy's entry in an MCP client's
// own config file, so that connecting a client is one command.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/spf13/cobra"
	"github.com/tailscale/hujson"
)

// mcpClient is a client whose config connect knows how to edit.
type mcpClient struct {
	id, name string
	path     func() string
	// key is the JSON object that holds servers (JSON clients); "" for
	// codex, whose config is TOML.
	key string
	// jsonc: the client reads comments and trailing commas (VS Code), so
	// the file is kept as it is around the entry; the others read strict
	// JSON, and get it.
	jsonc bool
	// entry is the client's entry for an MCP endpoint at url.
	entry func(url string, headers []string) any
}

// urlEntry is the entry of a client that takes a URL (with headers).
func urlEntry(typ string) func(string, []string) any {
	return func(url string, headers []string) any {
		e := map[string]any{"url": url}
		if typ != "" {
			e["type"] = typ
		}
		if len(headers) > 0 {
			h := map[string]string{}
			for _, kv := range headers {
				k, v, _ := strings.Cut(kv, ":")
				h[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			e["headers"] = h
		}
		return e
	}
}

// bridgeArgs are npx's arguments to run mcp-remote, the stdio server that
// bridges a client that takes no URL to an HTTP endpoint.
func bridgeArgs(url string, headers []string) []string {
	args := []string{"-y", "mcp-remote", url}
	for _, h := range headers {
		args = append(args, "--header", h)
	}
	return args
}

var mcpClients = []mcpClient{
	{id: "claude-desktop", name: "Claude Desktop", path: claudeDesktopPath, key: "mcpServers",
		entry: func(url string, headers []string) any {
			return map[string]any{"command": "npx", "args": bridgeArgs(url, headers)}
		}},
	{id: "cursor", name: "Cursor", path: func() string { return filepath.Join(userHome(), ".cursor", "mcp.json") }, key: "mcpServers", entry: urlEntry("")},
	{id: "vscode", name: "VS Code", path: vscodeUserPath, key: "servers", jsonc: true, entry: urlEntry("http")},
	{id: "claude-code", name: "Claude Code", path: func() string { return filepath.Join(userHome(), ".claude.json") }, key: "mcpServers", entry: urlEntry("http")},
	{id: "codex", name: "Codex", path: func() string { return filepath.Join(userHome(), ".codex", "config.toml") }},
}

func userHome() string {
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "."
}

func clientIDs() string {
	ids := make([]string, len(mcpClients))
	for i, c := range mcpClients {
		ids[i] = c.id
	}
	return strings.Join(ids, "|")
}

// connectResult is what connect did, for -o json.
type connectResult struct {
	Client string `json:"client"`
	File   string `json:"file"`
	Action string `json:"action"` // added, updated, removed, unchanged, absent
	Name   string `json:"name"`
	URL    string `json:"url,omitempty"`
	Backup string `json:"backup,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
}

func (a *app) connectCmd() *cobra.Command {
	var (
		name, file string
		headers    []string
		remove     bool
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "connect " + clientIDs(),
		Short: "Add mcpproxy to an MCP client's config (or remove it)",
		Long: `connect writes mcpproxy's MCP endpoint into a client's own config file:

  claude-desktop  ` + claudeDesktopPath() + ` (through npx mcp-remote: it takes no URL)
  cursor          ~/.cursor/mcp.json
  vscode          ` + vscodeUserPath() + `
  claude-code     ~/.claude.json
  codex           ~/.codex/config.toml (through npx mcp-remote)

The endpoint is the daemon's /mcp, found as other commands find the daemon.
The file keeps everything else it holds, comments included; the previous
version is kept beside it as FILE.before-mcpproxy, and the new one is
written atomically. Restart the client to pick the change up.`,
		Example: "  mcpproxy connect claude-desktop\n  mcpproxy connect vscode --dry-run\n  mcpproxy connect cursor --remove",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c *mcpClient
			for i := range mcpClients {
				if mcpClients[i].id == args[0] {
					c = &mcpClients[i]
				}
			}
			if c == nil {
				return usageError("connect: unknown client %q: use %s", args[0], strings.ReplaceAll(clientIDs(), "|", ", "))
			}
			for _, h := range headers {
				if k, _, ok := strings.Cut(h, ":"); !ok || strings.TrimSpace(k) == "" {
					return usageError("--header: want \"Name: value\", got %q", h)
				}
			}
			if name == "" || strings.ContainsAny(name, "[]\"\n") {
				return usageError("--name: want a plain name, got %q", name)
			}
			res := connectResult{Client: c.id, File: file, Name: name, DryRun: dryRun}
			if res.File == "" {
				res.File = c.path()
			}
			if !remove {
				t, err := a.target(true)
				if err != nil {
					return err
				}
				res.URL = t.url + "/mcp"
			}
			if err := connectClient(c, &res, headers, remove); err != nil {
				return err
			}
			if a.json() {
				return printJSON(cmd.OutOrStdout(), res)
			}
			return printConnect(cmd.OutOrStdout(), c, res)
		},
	}
	cmd.Flags().StringVar(&name, "name", "mcpproxy", "the entry's name in the client's config")
	cmd.Flags().StringVar(&file, "file", "", "the client's config file (default: where the client keeps it)")
	cmd.Flags().StringArrayVar(&headers, "header", nil, `a header the client sends, "Name: value" (repeatable), e.g. "Authorization: Bearer mcpp_…" for an agent token`)
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the entry instead")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would change; write nothing")
	return cmd
}

// connectClient edits res.File for c and fills in res.Action and
// res.Backup.
func connectClient(c *mcpClient, res *connectResult, headers []string, remove bool) error {
	old, err := os.ReadFile(res.File)
	exists := err == nil
	switch {
	case errors.Is(err, os.ErrNotExist):
		if remove {
			res.Action = "absent"
			return nil
		}
		if _, err := os.Stat(filepath.Dir(res.File)); err != nil {
			return fmt.Errorf("%s does not look installed: %s does not exist (give its config file with --file)", c.name, filepath.Dir(res.File))
		}
	case err != nil:
		return err
	}
	var updated []byte
	if c.key == "" {
		updated, res.Action = editTOML(old, res.Name, res.URL, headers, remove)
	} else if updated, res.Action, err = editJSONC(old, c.key, res.Name, c.entry(res.URL, headers), remove, c.jsonc); err != nil {
		return fmt.Errorf("%s: %w", res.File, err)
	}
	if res.DryRun || res.Action == "unchanged" || res.Action == "absent" {
		return nil
	}
	perm := os.FileMode(0o600)
	if exists {
		if st, err := os.Stat(res.File); err == nil {
			perm = st.Mode().Perm()
		}
		res.Backup = res.File + ".before-mcpproxy"
		if err := config.WriteFileAtomic(res.Backup, old, perm); err != nil {
			return fmt.Errorf("back up %s: %w", res.File, err)
		}
	}
	return config.WriteFileAtomic(res.File, updated, perm)
}

// editJSONC sets (or removes) servers[name] = entry in a JSON file, keeping
// its other members in their order. A JSONC file (jsonc) also keeps its
// comments and layout; a strict JSON file is re-indented as strict JSON.
func editJSONC(data []byte, key, name string, entry any, remove, jsonc bool) ([]byte, string, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		data = []byte("{}")
	}
	// hujson works in place: parse a copy, so data stays what was read.
	v, err := hujson.Parse(bytes.Clone(data))
	if err != nil {
		return nil, "", err
	}
	if _, ok := v.Value.(*hujson.Object); !ok {
		return nil, "", errors.New("not a JSON object")
	}
	ptr := func(parts ...string) string {
		for i, p := range parts {
			parts[i] = strings.NewReplacer("~", "~0", "/", "~1").Replace(p)
		}
		return "/" + strings.Join(parts, "/")
	}
	servers := v.Find(ptr(key))
	if servers != nil {
		if _, ok := servers.Value.(*hujson.Object); !ok {
			return nil, "", fmt.Errorf("%q is not an object", key)
		}
	}
	current := (*hujson.Value)(nil)
	if servers != nil {
		current = v.Find(ptr(key, name))
	}
	var ops []map[string]any
	action := ""
	switch {
	case remove && current == nil:
		return data, "absent", nil
	case remove:
		ops, action = append(ops, map[string]any{"op": "remove", "path": ptr(key, name)}), "removed"
	default:
		want, err := json.Marshal(entry)
		if err != nil {
			return nil, "", err
		}
		if current != nil {
			std := current.Clone()
			std.Standardize()
			if jsonEqual(std.Pack(), want) {
				return data, "unchanged", nil
			}
		}
		if servers == nil {
			ops = append(ops, map[string]any{"op": "add", "path": ptr(key), "value": map[string]any{}})
		}
		action = "added"
		op := "add"
		if current != nil {
			action, op = "updated", "replace"
		}
		ops = append(ops, map[string]any{"op": op, "path": ptr(key, name), "value": json.RawMessage(want)})
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, "", err
	}
	if err := v.Patch(patch); err != nil {
		return nil, "", err
	}
	if jsonc {
		indentLast(v.Find(ptr(key)))
		return v.Pack(), action, nil
	}
	v.Standardize()
	var out bytes.Buffer
	if err := json.Indent(&out, v.Pack(), "", "  "); err != nil {
		return nil, "", err
	}
	out.WriteByte('\n')
	return out.Bytes(), action, nil
}

// indentLast puts the last member of obj (the one just added) on a line of
// its own, indented as the member before it.
func indentLast(obj *hujson.Value) {
	o, ok := obj.Value.(*hujson.Object)
	if !ok || len(o.Members) < 2 {
		return
	}
	prev := string(o.Members[len(o.Members)-2].Name.BeforeExtra)
	i := strings.LastIndexByte(prev, '\n')
	if i < 0 {
		return
	}
	o.Members[len(o.Members)-1].Name.BeforeExtra = hujson.Extra(prev[i:])
}

// jsonEqual compares two JSON documents by meaning.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// editTOML sets (or removes) the [mcp_servers.NAME] table of a Codex
// config: the table's lines are replaced as a whole; every other line stays
// as it is.
func editTOML(data []byte, name, url string, headers []string, remove bool) ([]byte, string) {
	header := "[mcp_servers." + name + "]"
	lines := strings.SplitAfter(string(data), "\n")
	var kept []string
	var had []string
	in := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			in = t == header || t == "[mcp_servers."+strconv.Quote(name)+"]"
		}
		if in {
			had = append(had, l)
		} else if l != "" {
			kept = append(kept, l)
		}
	}
	if remove {
		if had == nil {
			return data, "absent"
		}
		// The blank line add put before the table goes with it.
		out := strings.TrimRight(strings.Join(kept, ""), "\n")
		if out != "" {
			out += "\n"
		}
		return []byte(out), "removed"
	}
	quoted := make([]string, 0, 4)
	for _, a := range bridgeArgs(url, headers) {
		quoted = append(quoted, strconv.Quote(a))
	}
	table := header + "\ncommand = \"npx\"\nargs = [" + strings.Join(quoted, ", ") + "]\n"
	if strings.TrimSpace(strings.Join(had, "")) == strings.TrimSpace(table) {
		return data, "unchanged"
	}
	out := strings.Join(kept, "")
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	if out != "" {
		out += "\n"
	}
	action := "added"
	if had != nil {
		action = "updated"
	}
	return []byte(out + table), action
}

func printConnect(w io.Writer, c *mcpClient, r connectResult) error {
	verb := map[string]string{"added": "Added", "updated": "Updated", "removed": "Removed", "unchanged": "Already there:", "absent": "Not there:"}[r.Action]
	if r.DryRun && (r.Action == "added" || r.Action == "updated" || r.Action == "removed") {
		verb = "Would have " + strings.ToLower(verb[:1]) + verb[1:] + ":"
	}
	fmt.Fprintf(w, "%s %q in %s's config %s", verb, r.Name, c.name, r.File)
	if r.URL != "" && r.Action != "absent" {
		fmt.Fprintf(w, " → %s", r.URL)
	}
	fmt.Fprintln(w)
	if r.Backup != "" {
		fmt.Fprintf(w, "The previous file is at %s.\n", r.Backup)
	}
	if !r.DryRun && (r.Action == "added" || r.Action == "updated" || r.Action == "removed") {
		fmt.Fprintf(w, "Restart %s to pick it up.\n", c.name)
	}
	return nil
}
