//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The inspector's CLI (@modelcontextprotocol/inspector 2.12.0, `--cli`) as
// client of the matrix. Each request is one run of the CLI: it connects
// (declaring roots, with none configured, and neither sampling nor
// elicitation), sends the one request, prints the result as JSON and
// exits. So it shows no notifications and cannot cancel, and a check that
// needs either, or two clients' models, is n/a for it on every column.
// Its sampling and elicitation checks see that a tool that needs what it
// does not declare is hidden from it, or refused.

// inspectorClient runs the inspector's CLI against one target per request.
type inspectorClient struct {
	node, cli, home string
	target          matrixTarget
}

// inspectorDial returns the matrix's dial for the inspector's CLI; its
// runs keep their state (~/.mcp-inspector) in a temporary HOME.
func inspectorDial(tb testing.TB) matrixDial {
	tb.Helper()
	cli, err := filepath.Abs(filepath.Join("..", "..", "test", "mcp-peers", "node_modules", ".bin", "mcp-inspector"))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(cli); err != nil {
		tb.Fatalf("the inspector is not installed (%v): run `make peers`", err)
	}
	node, home := nodeBin(tb), tb.TempDir()
	return func(_ context.Context, t matrixTarget, _ string, _ time.Duration) (matrixClient, error) {
		return &inspectorClient{node: node, cli: cli, home: home, target: t}, nil
	}
}

// inspectorError is the CLI's error envelope on stderr.
type inspectorError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// run runs the CLI with args against the target and decodes the result it
// prints into v. A tool's error result is decoded too (the CLI exits 5 with
// it on stdout); any other failure is the CLI's error. A tool the CLI did
// not find on the server (it lists them first) is an "unknown tool" error,
// as the matrix names it for every client.
func (c *inspectorClient) run(ctx context.Context, v any, args ...string) error {
	argv := append([]string{c.cli, "--cli", "--format", "json", "-q"}, args...)
	switch {
	case c.target.url == "":
		argv = append(append(argv, "--"), c.target.stdio...)
	case c.target.sse:
		argv = append(argv, "--transport", "sse", c.target.url)
	default:
		argv = append(argv, "--transport", "http", c.target.url)
	}
	cmd := exec.CommandContext(ctx, c.node, argv...)
	cmd.Env = append(os.Environ(), "HOME="+c.home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Its own process group, so that a stdio upstream it started goes
	// with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	var out struct {
		Result json.RawMessage `json:"result"`
	}
	if json.Unmarshal(stdout.Bytes(), &out) == nil && len(out.Result) > 0 {
		return json.Unmarshal(out.Result, v)
	}
	var env inspectorError
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if json.Unmarshal([]byte(lines[len(lines)-1]), &env) == nil && env.Error.Message != "" {
		if env.Error.Code == "tool_not_found" {
			return fmt.Errorf("unknown tool: %s", env.Error.Message)
		}
		return errors.New(env.Error.Message)
	}
	if err == nil {
		err = errors.New("no result")
	}
	return fmt.Errorf("inspector %v: %w: %s", args, err, tail(stderr.String(), 5))
}

func (c *inspectorClient) list(ctx context.Context) ([]string, error) {
	var res struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := c.run(ctx, &res, "--method", "tools/list"); err != nil {
		return nil, err
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

// inspectorResult is a tool's result as the CLI prints it.
type inspectorResult struct {
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent"`
	IsError           bool            `json:"isError"`
}

func (c *inspectorClient) callTool(ctx context.Context, tool string, args map[string]any) (*inspectorResult, error) {
	js, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	var res inspectorResult
	if err := c.run(ctx, &res, "--method", "tools/call", "--tool-name", tool, "--tool-args-json", string(js)); err != nil {
		return nil, err
	}
	return &res, nil
}

// call calls a tool; the CLI shows no progress, so onProgress is never
// called (the progress check is n/a for it).
func (c *inspectorClient) call(ctx context.Context, tool string, args map[string]any, _ func()) (string, bool, error) {
	res, err := c.callTool(ctx, tool, args)
	if err != nil {
		return "", false, err
	}
	var texts []string
	for _, ct := range res.Content {
		if ct.Type == "text" {
			texts = append(texts, ct.Text)
		}
	}
	return strings.Join(texts, "\n"), res.IsError, nil
}

func (c *inspectorClient) structured(ctx context.Context, tool string, args map[string]any) (json.RawMessage, bool, error) {
	res, err := c.callTool(ctx, tool, args)
	if err != nil {
		return nil, false, err
	}
	return res.StructuredContent, res.IsError, nil
}

func (c *inspectorClient) resources(ctx context.Context) (int, int, error) {
	var list struct {
		Resources []struct {
			URI string `json:"uri"`
		} `json:"resources"`
	}
	if err := c.run(ctx, &list, "--method", "resources/list"); err != nil {
		return 0, 0, err
	}
	if len(list.Resources) == 0 {
		return 0, 0, errors.New("no resources")
	}
	var read struct {
		Contents []json.RawMessage `json:"contents"`
	}
	if err := c.run(ctx, &read, "--method", "resources/read", "--uri", list.Resources[0].URI); err != nil {
		return 0, 0, err
	}
	return len(list.Resources), len(read.Contents), nil
}

func (c *inspectorClient) prompts(ctx context.Context) (int, error) {
	var res struct {
		Prompts []json.RawMessage `json:"prompts"`
	}
	if err := c.run(ctx, &res, "--method", "prompts/list"); err != nil {
		return 0, err
	}
	return len(res.Prompts), nil
}

// cannotAnswer: the CLI answers the server's roots requests (with no
// roots); it declares neither sampling nor elicitation (see cannot).
func (c *inspectorClient) cannotAnswer() string { return "" }

func (c *inspectorClient) cannot(check string) string {
	switch check {
	case "progress":
		return "the inspector CLI shows no notifications"
	case "cancel":
		return "the inspector CLI cannot cancel a call"
	case "concurrent":
		return "the inspector CLI declares no sampling"
	}
	return ""
}

// undeclared: the CLI declares neither sampling nor elicitation, so a tool
// that needs them is hidden from it or refused.
func (c *inspectorClient) undeclared(check string) bool {
	return check == "sampling" || check == "elicitation"
}

func (c *inspectorClient) rootless() bool { return true }

func (c *inspectorClient) close() {}
