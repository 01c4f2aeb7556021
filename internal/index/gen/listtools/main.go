// Command listtools starts one MCP server over stdio, lists its tools and
// writes them, with the instructions of its initialize result, as JSON test
// data for the index's evaluation (internal/index/testdata/servers/NAME.json):
//
//	go run ./internal/index/gen/listtools -name github -package @modelcontextprotocol/server-github \
//	    -version 2025.4.8 -o internal/index/testdata/servers/github.json -- node path/to/dist/index.js
//
// Environment variables for the server (dummy keys) are passed with -env
// KEY=VALUE, repeatable. The server is stopped before the command returns.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serverFile is the shape of a stored tool list.
type serverFile struct {
	Server  string `json:"server"`
	Package string `json:"package"`
	Version string `json:"version"`
	// Instructions are the server's instructions from its initialize
	// result, if it gave any.
	Instructions string      `json:"instructions,omitempty"`
	Tools        []*mcp.Tool `json:"tools"`
}

type envFlags []string

func (e *envFlags) String() string     { return strings.Join(*e, ",") }
func (e *envFlags) Set(s string) error { *e = append(*e, s); return nil }

func main() {
	name := flag.String("name", "", "server name in the evaluation")
	pkg := flag.String("package", "", "npm package")
	version := flag.String("version", "", "npm package version")
	out := flag.String("o", "", "output file")
	timeout := flag.Duration("timeout", 60*time.Second, "time allowed to connect and list")
	var env envFlags
	flag.Var(&env, "env", "KEY=VALUE for the server's environment (repeatable)")
	flag.Parse()
	if *name == "" || *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: listtools -name N -package P -version V -o FILE [-env K=V]... -- command args...")
		os.Exit(2)
	}
	if err := run(*name, *pkg, *version, *out, *timeout, env, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "listtools %s: %v\n", *name, err)
		os.Exit(1)
	}
}

func run(name, pkg, version, out string, timeout time.Duration, env []string, argv []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "listtools", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	var tools []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return fmt.Errorf("list tools: %w", err)
		}
		tools = append(tools, t)
	}
	if len(tools) == 0 {
		return fmt.Errorf("no tools listed")
	}
	b, err := json.MarshalIndent(serverFile{Server: name, Package: pkg, Version: version, Instructions: cs.InitializeResult().Instructions, Tools: tools}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d tools\n", name, len(tools))
	return nil
}
