//go:build linux

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var matrixWrite = flag.String("matrix.write", "", "write the client matrix table to this Markdown file (docs/CLIENTS.md)")

// matrixChecks are the checks of test/mcp-peers/matrix.mjs, in table order.
var matrixChecks = []string{"list", "call", "structured", "progress", "cancel", "resources", "prompts", "sampling", "elicitation", "roots", "concurrent"}

// matrixExpected are the differences from the upstream's own column that
// are known and explained (docs/CLIENTS.md), by "upstream/endpoint/check"
// with "*" for any upstream or endpoint, or for one client only by
// "client:upstream/endpoint/check": the proxy's outcome must start
// with the given prefix. Anything else must equal the direct column.
var matrixExpected = map[string]string{
	// /mcp and /sse list the proxy's built-in tools; they and /mcp/all
	// serve no upstream's resources or prompts.
	"*//mcp/list": "ok: built-in tools", "*//mcp/resources": "n/a", "*//mcp/prompts": "n/a",
	"*//sse/list": "ok: built-in tools", "*//sse/resources": "n/a", "*//sse/prompts": "n/a",
	"*//mcp/all/resources": "n/a", "*//mcp/all/prompts": "n/a",
	// One upstream session serves every client, so the proxy does not
	// offer it roots (no client's roots are the server's), and
	// server-everything does not register get-roots-list.
	"*/*/roots": "n/a: tool not listed",
	// A stdio server's requests name no call: with calls of two clients
	// in flight the proxy cannot tell whose a request is and refuses it
	// rather than ask the wrong client. Either outcome is fine; another
	// client's answer is not.
	"stdio/*/concurrent": "",
	// The counts may differ (see the tool list check below).
	"*//mcp/server/{name}/list": "ok", "*//mcp/all/list": "ok",
	// mcp-go's SSE transport answers no server requests, against any SSE
	// server; its direct columns are over stdio and streamable HTTP.
	"mcp-go:*//sse/sampling": "n/a", "mcp-go:*//sse/elicitation": "n/a", "mcp-go:*//sse/roots": "n/a", "mcp-go:*//sse/concurrent": "n/a",
	// The inspector's CLI declares neither sampling nor elicitation, so
	// directly server-everything hides the tools that need them. The
	// proxy's own session of the upstream declares them for the clients
	// that have them, and lists those tools to every client of /mcp/all
	// and of a stdio upstream's pass-through (and call_tool reaches them);
	// a call of one by this client is refused, not answered: the upstream
	// gets the go-sdk client's error for a request it has no handler for,
	// with the same code from the SDK's path to a stdio upstream and the
	// proxy's own to an HTTP one.
	"inspector:stdio//mcp/server/{name}/sampling": matrixRefused, "inspector:stdio//mcp/server/{name}/elicitation": matrixRefused,
	"inspector:*//mcp/all/sampling": matrixRefused, "inspector:*//mcp/all/elicitation": matrixRefused,
	"inspector:*//mcp/sampling": matrixRefused, "inspector:*//mcp/elicitation": matrixRefused,
	"inspector:*//sse/sampling": matrixRefused, "inspector:*//sse/elicitation": matrixRefused,
}

// matrixRefused is how server-everything reports the proxy's refusal to
// ask a client what it did not declare.
const matrixRefused = "refused: MCP error -31001: mcpproxy: the client that made this call does not support"

// matrixAllowed reports whether got is an acceptable outcome for the check
// through the proxy, given the upstream's own outcome direct.
func matrixAllowed(client, upstream, endpoint, check, got, direct string) bool {
	if strings.HasPrefix(got, "fail") {
		return false
	}
	for _, key := range []string{client + ":" + upstream + "/" + endpoint + "/" + check, client + ":*/" + endpoint + "/" + check,
		upstream + "/" + endpoint + "/" + check, "*/" + endpoint + "/" + check, upstream + "/*/" + check, "*/*/" + check} {
		if prefix, ok := matrixExpected[key]; ok {
			return strings.HasPrefix(got, prefix)
		}
	}
	return got == direct
}

// nodeBin is the node the npm test peers installed, or node on PATH.
func nodeBin(tb testing.TB) string {
	tb.Helper()
	if bin, err := filepath.Abs(filepath.Join("..", "..", "test", "mcp-peers", "node_modules", ".bin", "node")); err == nil {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	bin, err := exec.LookPath("node")
	if err != nil {
		tb.Fatalf("node is not installed: run `make peers`")
	}
	return bin
}

// runMatrix runs matrix.mjs with args and extra environment entries, and
// returns its outcomes.
func runMatrix(tb testing.TB, env []string, args ...string) map[string]string {
	tb.Helper()
	dir, _ := filepath.Abs(filepath.Join("..", "..", "test", "mcp-peers"))
	cmd := exec.Command(nodeBin(tb), append([]string{"matrix.mjs"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	timer := time.AfterFunc(90*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("node matrix.mjs %v: %v\n%s", args, err, tail(stderr.String(), 20))
	}
	var res map[string]string
	if err := json.Unmarshal(out, &res); err != nil {
		tb.Fatalf("node matrix.mjs %v: %v\n%s", args, err, out)
	}
	return res
}

// matrixColumn is one client against one endpoint for one upstream.
type matrixColumn struct{ client, upstream, endpoint string }

// matrixUpstream is server-everything as one upstream of the matrix: the
// proxy's server name for it, and how to reach it directly.
type matrixUpstream struct {
	label, server string
	direct        matrixTarget
}

// startMatrix runs server-everything over streamable HTTP and a proxy with
// it and with server-everything over stdio, and returns both upstreams.
func startMatrix(t *testing.T) (*proxy, []matrixUpstream) {
	bin := everythingBin(t)
	httpAddr := startEverything(t, bin, "streamableHttp")
	servers := []map[string]any{
		{"name": "every-stdio", "command": bin},
		{"name": "every-http", "protocol": "streamable-http", "url": "http://" + httpAddr + "/mcp"},
	}
	p := startProxy(t, configJSON(t, servers))
	waitSettled(t, p, "every-stdio")
	waitSettled(t, p, "every-http")
	return p, []matrixUpstream{
		{"stdio", "every-stdio", matrixTarget{stdio: []string{bin}}},
		{"http", "every-http", matrixTarget{url: "http://" + httpAddr + "/mcp"}},
	}
}

// matrixRun is one endpoint of the proxy for one upstream, as a client
// reaches it: its URL and how server-everything's tools are named there
// (matrix.mjs's mode).
type matrixRun struct {
	endpoint, url, mode string
}

func matrixRuns(p *proxy, up matrixUpstream) []matrixRun {
	return []matrixRun{
		{"/mcp/server/{name}", p.Base + "/mcp/server/" + up.server, "direct"},
		{"/mcp/all", p.Base + "/mcp/all", "all"},
		{"/mcp", p.Base + "/mcp", "smart"},
	}
}

// TestClientMatrix_TypeScript: the TypeScript SDK's client, with sampling,
// elicitation and roots, on its own and through mcp-remote, against
// server-everything over stdio and over streamable HTTP, directly and
// through each of the proxy's endpoints. Each
// check through the proxy must come out as it does directly, or as a
// difference listed (and explained) in matrixExpected; a request answered
// by another client than the caller fails everywhere.
func TestClientMatrix_TypeScript(t *testing.T) {
	p, ups := startMatrix(t)
	remote, err := filepath.Abs(filepath.Join("..", "..", "test", "mcp-peers", "node_modules", ".bin", "mcp-remote"))
	if err != nil {
		t.Fatal(err)
	}
	remoteEnv := "MCP_REMOTE_CONFIG_DIR=" + t.TempDir()

	// The TypeScript client talks to each endpoint itself; through
	// mcp-remote (the stdio bridge Claude Desktop users run) it talks to
	// mcp-remote over stdio, which talks to the endpoint over streamable
	// HTTP.
	var cols []matrixColumn
	results := map[matrixColumn]map[string]string{}
	for _, up := range ups {
		runs := append([]matrixRun{{"direct", up.direct.url, "direct"}}, matrixRuns(p, up)...)
		for _, client := range []string{"typescript", "mcp-remote"} {
			for _, r := range runs {
				mode := []string{"--mode", r.mode, "--server", up.server}
				var args []string
				switch {
				case client == "mcp-remote" && (r.url == "" || r.endpoint == "/mcp/all"):
					// mcp-remote bridges to HTTP only; and on /mcp/all it
					// adds nothing the TypeScript column does not show.
					continue
				case r.url == "":
					args = append([]string{"--stdio"}, up.direct.stdio...)
				case client == "mcp-remote":
					args = append(mode, "--stdio", remote, r.url, "--transport", "http-only")
				default:
					args = append([]string{"--url", r.url}, mode...)
				}
				c := matrixColumn{client, up.label, r.endpoint}
				cols = append(cols, c)
				results[c] = runMatrix(t, []string{remoteEnv}, args...)
			}
		}
		c := matrixColumn{"typescript", up.label, "/sse"}
		cols = append(cols, c)
		results[c] = runMatrix(t, nil, "--url", p.Base+"/sse", "--sse", "--mode", "smart", "--server", up.server)
	}
	// The baseline is the same client directly, or the TypeScript client
	// where mcp-remote cannot reach the upstream (stdio).
	checkMatrix(t, cols, results, func(c matrixColumn) map[string]string {
		if direct, ok := results[matrixColumn{c.client, c.upstream, "direct"}]; ok {
			return direct
		}
		return results[matrixColumn{"typescript", c.upstream, "direct"}]
	})
	table := renderMatrix(cols, results)
	t.Logf("client matrix:\n%s", table)
	if *matrixWrite != "" {
		writeMatrix(t, *matrixWrite, "typescript", table)
	}
}

// TestClientMatrix_Go: the go-sdk's client and mcp-go's (with its default
// options), each declaring sampling, elicitation and roots, run the
// matrix's checks (runGoMatrix) against server-everything over stdio and
// over streamable HTTP, directly and through each of the proxy's
// endpoints; each column is compared with the same client directly.
func TestClientMatrix_Go(t *testing.T) {
	runClientMatrix(t, "go", []namedDial{{"go-sdk", dialGoSDK}, {"mcp-go", dialMCPGo}})
}

// TestClientMatrix_Inspector: the inspector's CLI runs the matrix's checks
// it can do (one request per run; see inspector_test.go) against the same
// upstreams and endpoints, each column compared with the CLI directly.
func TestClientMatrix_Inspector(t *testing.T) {
	runClientMatrix(t, "inspector", []namedDial{{"inspector", inspectorDial(t)}})
}

// namedDial is a client of the matrix driven by runGoMatrix.
type namedDial struct {
	name string
	dial matrixDial
}

// runClientMatrix runs each client's checks (runGoMatrix) against
// server-everything over stdio and over streamable HTTP, directly and
// through each of the proxy's endpoints, compares each column with the
// same client directly, and writes the table named table with
// -matrix.write.
func runClientMatrix(t *testing.T, table string, clients []namedDial) {
	p, ups := startMatrix(t)
	var cols []matrixColumn
	results := map[matrixColumn]map[string]string{}
	for _, up := range ups {
		for _, client := range clients {
			c := matrixColumn{client.name, up.label, "direct"}
			cols = append(cols, c)
			results[c] = runGoMatrix(client.dial, up.direct, "direct", up.server)
			for _, r := range matrixRuns(p, up) {
				c := matrixColumn{client.name, up.label, r.endpoint}
				cols = append(cols, c)
				results[c] = runGoMatrix(client.dial, matrixTarget{url: r.url}, r.mode, up.server)
			}
			c = matrixColumn{client.name, up.label, "/sse"}
			cols = append(cols, c)
			results[c] = runGoMatrix(client.dial, matrixTarget{url: p.Base + "/sse", sse: true}, "smart", up.server)
		}
	}
	checkMatrix(t, cols, results, func(c matrixColumn) map[string]string {
		return results[matrixColumn{c.client, c.upstream, "direct"}]
	})
	md := renderMatrix(cols, results)
	t.Logf("client matrix:\n%s", md)
	if *matrixWrite != "" {
		writeMatrix(t, *matrixWrite, table, md)
	}
}

// checkMatrix compares each column through the proxy with its baseline.
func checkMatrix(t *testing.T, cols []matrixColumn, results map[matrixColumn]map[string]string, baseline func(matrixColumn) map[string]string) {
	t.Helper()
	for _, c := range cols {
		if c.endpoint == "direct" {
			continue
		}
		direct, got := baseline(c), results[c]
		for _, check := range matrixChecks {
			if !matrixAllowed(c.client, c.upstream, c.endpoint, check, got[check], direct[check]) {
				t.Errorf("%s, %s upstream, %s: %s = %q; directly %q", c.client, c.upstream, c.endpoint, check, got[check], direct[check])
			}
		}
		if c.endpoint == "/mcp/server/{name}" || c.endpoint == "/mcp/all" {
			want := strings.Split(direct["tools"], ",")
			have := strings.Split(got["tools"], ",")
			missing := slices.DeleteFunc(slices.Clone(want), func(n string) bool { return slices.Contains(have, n) })
			extra := slices.DeleteFunc(slices.Clone(have), func(n string) bool { return slices.Contains(want, n) })
			// get-roots-list: the proxy's own session has no roots, so the
			// tool is not among those a person approved (see matrixExpected's
			// roots). trigger-url-elicitation: the shared session of a stdio
			// upstream offers URL elicitation for the clients that have it;
			// server-everything hides the tool from this client directly, and
			// so it does through an HTTP upstream's session of the client's own.
			// The same holds for sampling and elicitation for a client that
			// declares neither: the tool may show if calling it was refused.
			extraOK := []string{"trigger-url-elicitation"}
			if strings.HasPrefix(got["sampling"], "refused") {
				extraOK = append(extraOK, "trigger-sampling-request")
			}
			if strings.HasPrefix(got["elicitation"], "refused") {
				extraOK = append(extraOK, "trigger-elicitation-request")
			}
			unexplained := slices.DeleteFunc(slices.Clone(extra), func(n string) bool { return slices.Contains(extraOK, n) })
			if len(missing) > 0 && !slices.Equal(missing, []string{"get-roots-list"}) || len(unexplained) > 0 {
				t.Errorf("%s, %s upstream, %s: tools missing %v, extra %v, against the upstream's own list", c.client, c.upstream, c.endpoint, missing, extra)
			}
		}
	}
}

// renderMatrix is the Markdown table of the columns' outcomes.
func renderMatrix(cols []matrixColumn, results map[matrixColumn]map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| client | upstream | endpoint | %s |\n|---|---|---|%s\n", strings.Join(matrixChecks, " | "), strings.Repeat("---|", len(matrixChecks)))
	for _, c := range cols {
		fmt.Fprintf(&b, "| %s | %s | %s |", c.client, c.upstream, c.endpoint)
		for _, check := range matrixChecks {
			fmt.Fprintf(&b, " %s |", strings.ReplaceAll(results[c][check], "|", "\\|"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// writeMatrix replaces the table between the markers named name in path.
func writeMatrix(tb testing.TB, path, name, table string) {
	tb.Helper()
	begin, end := "<!-- matrix:"+name+":begin -->\n", "<!-- matrix:"+name+":end -->"
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		tb.Fatalf("%s: no %q … %q markers", path, strings.TrimSpace(begin), end)
	}
	s = s[:i+len(begin)] + table + s[j:]
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		tb.Fatal(err)
	}
}
