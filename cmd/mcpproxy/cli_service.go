package main

// mcpproxy service: run the daemon at login as a user service (a systemd
// user unit on Linux, a launchd agent on macOS), and remove or inspect it.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/config"
	"github.com/spf13/cobra"
)

// serviceName is the systemd unit's name; serviceLabel the launchd label.
const (
	serviceName  = "mcpproxy.service"
	serviceLabel = "io.mcpproxy.daemon"
)

// userService is the service of one platform: the file it writes and the
// commands that load, unload and query it.
type userService struct {
	path      string     // the unit or plist
	content   string     // what install writes there
	start     [][]string // commands after the file is written
	stop      [][]string // commands before the file is removed
	status    []string   // command that reports whether it runs
	manager   string     // systemctl or launchctl, for messages
	logsHint  string
	startHint string
}

// serveArgs are the arguments of the service's mcpproxy: serve, with the
// config file and data directory the command was given, made absolute.
func (a *app) serveArgs() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary's path: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return nil, fmt.Errorf("find this binary's path: %w", err)
	}
	args := []string{exe, "serve"}
	for _, f := range []struct{ flag, value string }{{"--config", a.configPath}, {"--data-dir", a.dataDir}} {
		if f.value == "" {
			continue
		}
		abs, err := filepath.Abs(f.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.flag, err)
		}
		args = append(args, f.flag, abs)
	}
	return args, nil
}

// systemdQuote quotes an argument for a unit's ExecStart line.
func systemdQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\$%;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", "$$", "%", "%%")
	return `"` + r.Replace(s) + `"`
}

// xmlEscape escapes text for a plist string.
func xmlEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// serviceFor describes the user service of goos for a daemon run as args.
func serviceFor(goos, home string, args []string) (*userService, error) {
	switch goos {
	case "linux":
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = systemdQuote(a)
		}
		return &userService{
			path: filepath.Join(home, ".config", "systemd", "user", serviceName),
			content: `[Unit]
Description=mcpproxy: one MCP endpoint in front of many MCP servers
After=network-online.target

[Service]
ExecStart=` + strings.Join(quoted, " ") + `
Restart=on-failure
RestartSec=5
# serve exits on SIGTERM after ending calls in flight (under 2 s).
TimeoutStopSec=15

[Install]
WantedBy=default.target
`,
			start:     [][]string{{"systemctl", "--user", "daemon-reload"}, {"systemctl", "--user", "enable", "--now", serviceName}},
			stop:      [][]string{{"systemctl", "--user", "disable", "--now", serviceName}},
			status:    []string{"systemctl", "--user", "is-active", serviceName},
			manager:   "systemctl",
			logsHint:  "journalctl --user -u " + serviceName,
			startHint: "systemctl --user enable --now " + serviceName,
		}, nil
	case "darwin":
		var argXML strings.Builder
		for _, a := range args {
			fmt.Fprintf(&argXML, "\t\t<string>%s</string>\n", xmlEscape(a))
		}
		logs := filepath.Join(home, "Library", "Logs", "mcpproxy.log")
		path := filepath.Join(home, "Library", "LaunchAgents", serviceLabel+".plist")
		domain := "gui/" + strconv.Itoa(os.Getuid())
		return &userService{
			path: path,
			content: `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + serviceLabel + `</string>
	<key>ProgramArguments</key>
	<array>
` + argXML.String() + `	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>StandardOutPath</key>
	<string>` + xmlEscape(logs) + `</string>
	<key>StandardErrorPath</key>
	<string>` + xmlEscape(logs) + `</string>
</dict>
</plist>
`,
			start:     [][]string{{"launchctl", "bootstrap", domain, path}},
			stop:      [][]string{{"launchctl", "bootout", domain + "/" + serviceLabel}},
			status:    []string{"launchctl", "print", domain + "/" + serviceLabel},
			manager:   "launchctl",
			logsHint:  logs,
			startHint: "launchctl bootstrap " + domain + " " + path,
		}, nil
	}
	return nil, fmt.Errorf("service: not supported on %s: run `mcpproxy serve` from your login items or Task Scheduler (on Windows: schtasks /Create /SC ONLOGON /TN mcpproxy /TR \"mcpproxy serve\")", goos)
}

func (a *app) serviceCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "service",
		Short: "Run the daemon at login as a user service (systemd on Linux, launchd on macOS)",
		Long: `service installs mcpproxy as a user service that starts the daemon at login
and restarts it if it fails: a systemd user unit on Linux
(~/.config/systemd/user/` + serviceName + `), a launchd agent on macOS
(~/Library/LaunchAgents/` + serviceLabel + `.plist). The service runs this binary
with "serve", and the -c/--config and --data-dir given here.`,
	})
	var dryRun, noStart bool
	install := &cobra.Command{
		Use:     "install",
		Short:   "Write the user service and start it",
		Example: "  mcpproxy service install\n  mcpproxy service install --data-dir ~/work/mcpproxy --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			args, err := a.serveArgs()
			if err != nil {
				return err
			}
			svc, err := serviceFor(runtime.GOOS, userHome(), args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if dryRun {
				fmt.Fprintf(out, "would write %s:\n\n%s\n", svc.path, svc.content)
				if !noStart {
					for _, c := range svc.start {
						fmt.Fprintf(out, "would run: %s\n", strings.Join(c, " "))
					}
				}
				return nil
			}
			if err := os.MkdirAll(filepath.Dir(svc.path), 0o755); err != nil {
				return err
			}
			if err := config.WriteFileAtomic(svc.path, []byte(svc.content), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(out, "wrote %s\n", svc.path)
			if noStart {
				fmt.Fprintf(out, "start it with: %s\n", svc.startHint)
				return nil
			}
			if err := runAll(out, svc.start); err != nil {
				return fmt.Errorf("%w\nthe service file is written; start it with: %s", err, svc.startHint)
			}
			fmt.Fprintf(out, "started; logs: %s\n", svc.logsHint)
			return nil
		},
	}
	install.Flags().BoolVar(&dryRun, "dry-run", false, "print the service file and commands; change nothing")
	install.Flags().BoolVar(&noStart, "no-start", false, "write the service file only")

	uninstall := installedCommand("uninstall", "Stop the user service and remove it",
		func(cmd *cobra.Command, out io.Writer, svc *userService, installed bool) error {
			if !installed {
				fmt.Fprintf(out, "not installed (no %s)\n", svc.path)
				return nil
			}
			// Stopping fails when it does not run; removing the file is
			// what matters.
			if err := runAll(out, svc.stop); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
			}
			if err := os.Remove(svc.path); err != nil {
				return err
			}
			fmt.Fprintf(out, "removed %s\n", svc.path)
			return nil
		})

	status := installedCommand("status", "Say whether the user service is installed and running",
		func(_ *cobra.Command, out io.Writer, svc *userService, installed bool) error {
			if !installed {
				return fmt.Errorf("the service is not installed (no %s): install it with `mcpproxy service install`", svc.path)
			}
			fmt.Fprintf(out, "installed: %s\n", svc.path)
			res, err := exec.Command(svc.status[0], svc.status[1:]...).CombinedOutput()
			state := firstLine(strings.TrimSpace(string(res)))
			if err != nil {
				if state == "" {
					state = err.Error()
				}
				return fmt.Errorf("%s says it is not running: %s (start it with: %s; logs: %s)", svc.manager, state, svc.startHint, svc.logsHint)
			}
			if svc.manager == "launchctl" {
				state = "loaded"
			}
			fmt.Fprintf(out, "%s: %s\n", svc.manager, state)
			return nil
		})
	cmd.AddCommand(install, uninstall, status)
	return cmd
}

// installedCommand is a service subcommand that acts on the service
// installed: run gets this platform's user service and whether its file is
// there.
func installedCommand(use, short string, run func(cmd *cobra.Command, out io.Writer, svc *userService, installed bool) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, err := serviceFor(runtime.GOOS, userHome(), nil)
			if err != nil {
				return err
			}
			_, err = os.Stat(svc.path)
			return run(cmd, cmd.OutOrStdout(), svc, !errors.Is(err, os.ErrNotExist))
		},
	}
}

// runAll runs each command, printing it, and stops at the first failure.
func runAll(out io.Writer, cmds [][]string) error {
	for _, c := range cmds {
		fmt.Fprintf(out, "running: %s\n", strings.Join(c, " "))
		res, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, strings.TrimSpace(string(res)))
		}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
