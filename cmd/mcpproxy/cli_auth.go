package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/client"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/spf13/cobra"
)

func (a *app) authCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "auth",
		Short:   "Log in to HTTP servers that require OAuth, show and forget logins",
		Example: "  mcpproxy auth login github\n  mcpproxy auth status\n  mcpproxy auth logout github",
	})
	cmd.AddCommand(a.authLoginCmd(), a.authStatusCmd(), a.authLogoutCmd())
	return cmd
}

// openBrowser opens u in the system browser, if there is a way to.
var openBrowser = func(u string) error {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	c := exec.Command(path, u)
	if err := c.Start(); err != nil {
		return err
	}
	go c.Wait() // reaped if it ends before the CLI does
	return nil
}

func (a *app) authLoginCmd() *cobra.Command {
	var (
		timeout   time.Duration
		noBrowser bool
	)
	cmd := &cobra.Command{
		Use:   "login NAME",
		Short: "Log in to a server with OAuth and wait until it is ready",
		Long: `Start the OAuth login of an HTTP server through the daemon, open the
authorization URL in the system browser (or print it), and wait until the
login completes and the server is ready. The daemon receives the
authorization server's redirect on a loopback listener and keeps the tokens.`,
		Example: "  mcpproxy auth login github\n  mcpproxy auth login github --no-browser --timeout 10m",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			name := argv[0]
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			started := time.Now().Add(-time.Second).UTC()
			ls, err := c.Login(ctx, name)
			if err != nil {
				return err
			}
			errw := cmd.ErrOrStderr()
			opened := false
			if !noBrowser {
				opened = openBrowser(ls.AuthorizationURL) == nil
			}
			if opened {
				fmt.Fprintf(errw, "Opened the browser to log in to %s. If it did not open, visit:\n  %s\n", name, ls.AuthorizationURL)
			} else {
				fmt.Fprintf(errw, "Open this URL in a browser to log in to %s:\n  %s\n", name, ls.AuthorizationURL)
			}
			fmt.Fprintln(errw, "Waiting for the login to complete…")
			st, srv, err := waitLoggedIn(ctx, c, name, started)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.json() {
				return printJSON(w, st)
			}
			switch {
			case srv.State == mcpproxy.StateReady:
				fmt.Fprintf(w, "Logged in to %s; it is ready (%s).\n", name, plural(srv.ToolCount, "tool"))
			default:
				fmt.Fprintf(w, "Logged in to %s (the server is %s).\n", name, srv.State)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the login to complete")
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "print the URL instead of opening a browser")
	return cmd
}

// waitLoggedIn polls until a login newer than since is stored and the
// server is ready (or not meant to connect), or the login failed.
func waitLoggedIn(ctx context.Context, c *client.Client, name string, since time.Time) (client.AuthStatus, mcpproxy.ServerStatus, error) {
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := c.AuthStatus(ctx, name)
		if err != nil {
			return st, mcpproxy.ServerStatus{}, waitErr(ctx, err)
		}
		if !st.LoginPending && !st.LoggedIn && st.LastError != "" {
			return st, mcpproxy.ServerStatus{}, fmt.Errorf("login to %s failed: %s", name, st.LastError)
		}
		if st.LoggedIn && st.ObtainedAt != nil && !st.ObtainedAt.Before(since) {
			d, err := c.Server(ctx, name)
			srv := d.ServerStatus
			if err != nil {
				return st, srv, waitErr(ctx, err)
			}
			if srv.State == mcpproxy.StateReady || !srv.Enabled {
				return st, srv, nil
			}
		}
		select {
		case <-ctx.Done():
			return st, mcpproxy.ServerStatus{}, fmt.Errorf("timed out waiting for the login to %s to complete", name)
		case <-t.C:
		}
	}
}

func waitErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timed out waiting for the login to complete")
	}
	return err
}

func (a *app) authStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "status [NAME]",
		Short:   "Show whether HTTP servers are logged in, token expiry, scopes and last refresh",
		Example: "  mcpproxy auth status\n  mcpproxy auth status github -o json",
		Args:    args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if len(argv) == 1 {
				return show(a, cmd, func(ctx context.Context, c *client.Client) (client.AuthStatus, error) {
					return c.AuthStatus(ctx, argv[0])
				}, func(w io.Writer, st client.AuthStatus) error { return authTable(w, []client.AuthStatus{st}) })
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]client.AuthStatus, error) {
				return c.AuthList(ctx)
			}, func(w io.Writer, list []client.AuthStatus) error {
				if len(list) == 0 {
					fmt.Fprintln(w, "No HTTP servers configured.")
					return nil
				}
				return authTable(w, list)
			})
		},
	}
}

func authTable(w io.Writer, list []client.AuthStatus) error {
	t := newTable(w, "SERVER", "LOGGED IN", "EXPIRES", "SCOPES", "LAST REFRESH", "LAST ERROR")
	for _, st := range list {
		logged := yesNo(st.LoggedIn)
		if st.LoginPending {
			logged += " (login pending)"
		}
		t.row(st.Server, logged, timeOrDash(st.ExpiresAt), strings.Join(st.Scopes, " "), timeOrDash(st.LastRefresh), truncate(st.LastError, 80))
	}
	return t.flush()
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

func (a *app) authLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "logout NAME",
		Short:   "Forget a server's OAuth tokens (it then needs a new login)",
		Example: "  mcpproxy auth logout github",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (apiv1.LoggedOut, error) {
				return c.Logout(ctx, argv[0])
			}, func(w io.Writer, r apiv1.LoggedOut) error {
				_, err := fmt.Fprintf(w, "Logged out of %s.\n", r.Server)
				return err
			})
		},
	}
}
