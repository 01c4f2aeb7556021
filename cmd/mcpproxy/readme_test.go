package main

import (
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/golden"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestREADME_CLITable holds README.md's CLI section to the commands: every
// command has a row (serve its synopsis), and the row names each of the
// command's own flags, by its long name or its shorthand.
func TestREADME_CLITable(t *testing.T) {
	section := golden.Section(t, "../../README.md", "## CLI")
	var walk func(cmd *cobra.Command)
	checked := 0
	walk = func(cmd *cobra.Command) {
		if cmd.HasSubCommands() {
			for _, c := range cmd.Commands() {
				walk(c)
			}
			return
		}
		path := strings.TrimPrefix(cmd.CommandPath(), "mcpproxy ")
		var rows []string
		for line := range strings.Lines(section) {
			if strings.Contains(line, "`"+path+" ") || strings.Contains(line, "`"+path+"`") || strings.HasPrefix(line, "mcpproxy "+path+" ") {
				rows = append(rows, line)
			}
		}
		if len(rows) == 0 {
			t.Errorf("README.md's CLI section has no row for %q", path)
			return
		}
		checked++
		row := strings.Join(rows, "\n")
		cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			if strings.Contains(row, "--"+f.Name) {
				return
			}
			if f.Shorthand != "" {
				for _, after := range []string{" ", "`", "]"} {
					if strings.Contains(row, "-"+f.Shorthand+after) {
						return
					}
				}
			}
			t.Errorf("README.md's row for %q does not name its flag --%s", path, f.Name)
		})
	}
	walk((&app{}).rootCmd())
	if checked < 20 {
		t.Errorf("checked %d commands; the walk is broken", checked)
	}
}
