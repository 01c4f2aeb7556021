package index

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// The evaluation set (testdata/eval, testdata/servers): the tool lists of
// real MCP servers installed from npm and listed over stdio, and queries
// written from each server's package name and one-line purpose before any
// tool list was fetched, labelled afterwards with the tools that serve them.
//
// Each query is in the tuning part or the held-out part by a fixed hash of
// its text, and is easy or hard by how many of its words the expected tool's
// own text has: easy if the tool's name, title, description or parameters
// have every word of the query (after stemming and without stop words),
// hard if not. Ranking is tuned on the tuning part; the held-out part is
// scored only to keep or drop a change.

var (
	evalWrite   = flag.String("eval.write", "", "write the evaluation's markdown section into this file (docs/BENCHMARKS.md)")
	evalMisses  = flag.String("eval.misses", "", "print the misses of this part (tuning, held-out or all)")
	evalLatency = flag.Bool("eval.latency", false, "also measure search latency at 10,000 tools (tens of seconds; minutes under -race)")
)

// evalQuery is one labelled query of the evaluation set.
type evalQuery struct {
	server  string   // the server it was written for
	text    string   // the query
	want    []string // tool ids that serve it; empty if none does
	heldOut bool
	// hard: some word of the query (analyzed: stemmed, stop words out)
	// is not in the expected tool's own text; disjoint: none is.
	hard, disjoint bool
}

// serverFile is a stored tool list (see gen/listtools).
type serverFile struct {
	Server  string `json:"server"`
	Package string `json:"package"`
	Version string `json:"version"`
	// Instructions are the server's, from its initialize result.
	Instructions string `json:"instructions"`
	Tools        []struct {
		Name         string          `json:"name"`
		Title        string          `json:"title"`
		Description  string          `json:"description"`
		InputSchema  json.RawMessage `json:"inputSchema"`
		OutputSchema json.RawMessage `json:"outputSchema"`
		Annotations  json.RawMessage `json:"annotations"`
	} `json:"tools"`
}

// loadEvalServers reads testdata/servers/*.json.
func loadEvalServers(tb testing.TB) (map[string][]mcpproxy.Tool, []serverFile) {
	tb.Helper()
	paths, err := filepath.Glob("testdata/servers/*.json")
	if err != nil {
		tb.Fatal(err)
	}
	servers := map[string][]mcpproxy.Tool{}
	var files []serverFile
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		var f serverFile
		if err := json.Unmarshal(b, &f); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		if f.Server != strings.TrimSuffix(filepath.Base(path), ".json") {
			tb.Fatalf("%s: server %q, want the file's name", path, f.Server)
		}
		for _, t := range f.Tools {
			servers[f.Server] = append(servers[f.Server], mcpproxy.Tool{Name: t.Name, Title: t.Title, Description: t.Description,
				InputSchema: t.InputSchema, OutputSchema: t.OutputSchema, Annotations: t.Annotations})
		}
		files = append(files, f)
	}
	return servers, files
}

// readTSV returns the non-comment lines of a tab-separated file, split.
func readTSV(tb testing.TB, path string) [][]string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return rows
}

// loadEvalQueries joins queries.tsv with labels.tsv. Every query must have
// a label line (possibly with no tool), and every expected id a tool.
func loadEvalQueries(tb testing.TB, x *Index, servers map[string][]mcpproxy.Tool) (labelled []evalQuery, unlabelled int) {
	tb.Helper()
	labels := map[string][]string{}
	for i, row := range readTSV(tb, "testdata/eval/labels.tsv") {
		if len(row) < 2 {
			tb.Fatalf("labels.tsv row %d: want server, query[, ids]", i+1)
		}
		key := row[0] + "\t" + row[1]
		if _, dup := labels[key]; dup {
			tb.Fatalf("labels.tsv: query %q labelled twice", row[1])
		}
		var want []string
		if len(row) > 2 {
			want = strings.Fields(row[2])
		}
		labels[key] = want
	}
	tools := map[string]*mcpproxy.Tool{}
	for server, ts := range servers {
		for i := range ts {
			tools[docID(server, ts[i].Name)] = &ts[i]
		}
	}
	seen := map[string]bool{}
	for i, row := range readTSV(tb, "testdata/eval/queries.tsv") {
		if len(row) != 2 {
			tb.Fatalf("queries.tsv row %d: want server and query", i+1)
		}
		key := row[0] + "\t" + row[1]
		if seen[key] {
			tb.Fatalf("queries.tsv: query %q twice", row[1])
		}
		seen[key] = true
		want, ok := labels[key]
		if !ok {
			tb.Fatalf("queries.tsv: query %q (%s) has no line in labels.tsv", row[1], row[0])
		}
		if len(want) == 0 {
			unlabelled++ // its server did not list, or no tool serves it
			continue
		}
		q := evalQuery{server: row[0], text: row[1], want: want, heldOut: heldOut(row[1])}
		var words, found int
		qterms := evalTerms(x, q.text)
		for _, id := range want {
			t := tools[id]
			if t == nil {
				tb.Fatalf("labels.tsv: query %q: no tool %s", q.text, id)
			}
			// Easy or hard by the best-covered expected tool.
			tterms := evalTerms(x, toolText(t))
			n := 0
			for _, w := range qterms {
				if slices.Contains(tterms, w) {
					n++
				}
			}
			words, found = len(qterms), max(found, n)
		}
		q.hard = found < words
		q.disjoint = found == 0
		labelled = append(labelled, q)
	}
	if len(seen) != len(labels) {
		tb.Fatalf("labels.tsv has %d queries, queries.tsv %d", len(labels), len(seen))
	}
	return labelled, unlabelled
}

// heldOut puts a query in the held-out part by a fixed hash of its text.
func heldOut(q string) bool {
	h := fnv.New32a()
	h.Write([]byte(q))
	return h.Sum32()%2 == 1
}

// toolText is all of a tool's own text: name, title, description and the
// names and descriptions of its parameters.
func toolText(t *mcpproxy.Tool) string {
	names, descs := paramsText(t.InputSchema)
	return strings.Join([]string{identifierText(t.Name), t.Title, t.Description, names, descs}, "\n")
}

// evalTerms returns the distinct analyzed terms of text (lower case, no stop
// words, stemmed), with identifiers split into words.
func evalTerms(x *Index, text string) []string {
	var terms []string
	for _, tok := range x.analyzer.Analyze([]byte(expandQuery(text))) {
		if t := string(tok.Term); !slices.Contains(terms, t) {
			terms = append(terms, t)
		}
	}
	return terms
}

// evalScores are the scores of one ranking over a set of queries.
type evalScores struct {
	n        int
	at1, at5 int
	rr       float64 // sum of reciprocal ranks (0 past DefaultLimit)
	misses   []evalMiss
}

type evalMiss struct {
	q    evalQuery
	rank int
	top  []string
}

func (s *evalScores) add(q evalQuery, hits []Hit) {
	s.n++
	rank := slices.IndexFunc(hits, func(h Hit) bool { return slices.Contains(q.want, h.ID()) }) + 1
	if rank == 1 {
		s.at1++
	}
	if rank >= 1 && rank <= 5 {
		s.at5++
	}
	if rank >= 1 {
		s.rr += 1 / float64(rank)
	}
	if rank != 1 {
		s.misses = append(s.misses, evalMiss{q: q, rank: rank, top: ids(hits[:min(3, len(hits))])})
	}
}

func (s *evalScores) recall1() float64 { return ratio(s.at1, s.n) }
func (s *evalScores) recall5() float64 { return ratio(s.at5, s.n) }
func (s *evalScores) mrr() float64 {
	if s.n == 0 {
		return 0
	}
	return s.rr / float64(s.n)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// evalParts names the rows of the table: each part, whole and by kind.
var evalParts = []struct {
	name string
	in   func(q evalQuery) bool
}{
	{"tuning", func(q evalQuery) bool { return !q.heldOut }},
	{"tuning, easy", func(q evalQuery) bool { return !q.heldOut && !q.hard }},
	{"tuning, hard", func(q evalQuery) bool { return !q.heldOut && q.hard }},
	{"tuning, hard, no word shared", func(q evalQuery) bool { return !q.heldOut && q.disjoint }},
	{"held-out", func(q evalQuery) bool { return q.heldOut }},
	{"held-out, easy", func(q evalQuery) bool { return q.heldOut && !q.hard }},
	{"held-out, hard", func(q evalQuery) bool { return q.heldOut && q.hard }},
	{"held-out, hard, no word shared", func(q evalQuery) bool { return q.heldOut && q.disjoint }},
	{"all", func(q evalQuery) bool { return true }},
}

// evalRanking scores one ranking over the evaluation set, per part.
func evalRanking(tb testing.TB, x *Index, queries []evalQuery) []evalScores {
	tb.Helper()
	scores := make([]evalScores, len(evalParts))
	for _, q := range queries {
		hits := searchT(tb, x, q.text, DefaultLimit)
		for i, p := range evalParts {
			if p.in(q) {
				scores[i].add(q, hits)
			}
		}
	}
	return scores
}

// evalServerKnown scores x's ranking with each query's search restricted to
// the tools of the server the query was written for.
func evalServerKnown(tb testing.TB, x *Index, queries []evalQuery) []evalScores {
	tb.Helper()
	scores := make([]evalScores, len(evalParts))
	for _, q := range queries {
		hits, err := x.SearchKeep(context.Background(), q.text, DefaultLimit, func(server string, _ *mcpproxy.Tool) bool { return server == q.server })
		if err != nil {
			tb.Fatal(err)
		}
		for i, p := range evalParts {
			if p.in(q) {
				scores[i].add(q, hits)
			}
		}
	}
	return scores
}

// TestEval scores the ranking on the evaluation set against BM25 as it was
// before the evaluation set existed (baselineRanking), in the same run, and
// measures search latency at 10,000 tools. With -eval.write FILE it writes
// its section of docs/BENCHMARKS.md:
//
//	go test -count=1 -run TestEval -v ./internal/index/ -eval.latency -eval.write ../../docs/BENCHMARKS.md
//
// It fails only if the evaluation set is malformed or smaller than 30
// servers and 300 labelled queries: the scores are measured, not asserted
// (TestRelevance_Corpus keeps the regression floors).
func TestEval(t *testing.T) {
	servers, files := loadEvalServers(t)
	instr := evalInstructions(files)
	n := 0
	for _, ts := range servers {
		n += len(ts)
	}
	rankings := []struct {
		name string
		r    ranking
	}{{"BM25 (baseline)", baselineRanking}, {"current", defaultRanking}}
	var results [][]evalScores
	var queries []evalQuery
	var unlabelled int
	var bound []evalScores
	for i, rk := range rankings {
		x := newRankedIndex(t, rk.r, servers, instr)
		settle(t, x)
		if i == 0 {
			queries, unlabelled = loadEvalQueries(t, x, servers)
		}
		results = append(results, evalRanking(t, x, queries))
		if i == len(rankings)-1 {
			bound = evalServerKnown(t, x, queries)
		}
	}
	if len(files) < 30 || len(queries) < 300 {
		t.Errorf("evaluation set: %d servers, %d labelled queries; want >= 30 and >= 300", len(files), len(queries))
	}

	var md strings.Builder
	fmt.Fprintf(&md, "%d servers, %d tools, %d labelled queries (%d written for servers that did not list or that no tool serves are left out).\n\n",
		len(files), n, len(queries), unlabelled)
	fmt.Fprintf(&md, "| part | queries | ranking | recall@1 | recall@5 | MRR |\n|---|---|---|---|---|---|\n")
	for i, p := range evalParts {
		for j, rk := range rankings {
			s := &results[j][i]
			fmt.Fprintf(&md, "| %s | %d | %s | %.3f | %.3f | %.3f |\n", p.name, s.n, rk.name, s.recall1(), s.recall5(), s.mrr())
		}
	}
	fmt.Fprintf(&md, "\nThe current ranking with each query's search restricted to the server it was written for, as if the agent had named it or only that one of several servers doing the same thing were configured (a bound, not a ranking):\n\n")
	fmt.Fprintf(&md, "| part | queries | recall@1 | recall@5 | MRR |\n|---|---|---|---|---|\n")
	for i, p := range evalParts {
		if p.name == "tuning" || p.name == "held-out" || p.name == "all" {
			s := &bound[i]
			fmt.Fprintf(&md, "| %s, server known | %d | %.3f | %.3f | %.3f |\n", p.name, s.n, s.recall1(), s.recall5(), s.mrr())
		}
	}
	if *evalLatency {
		md.WriteString("\n")
		rs := make([]ranking, len(rankings))
		for i := range rankings {
			rs[i] = rankings[i].r
		}
		const rounds = 5
		p50, p99, tools := evalLatencyAt(t, rs, servers, instr, queries, 10000, rounds)
		for i, rk := range rankings {
			fmt.Fprintf(&md, "- %s: search p50 %s, p99 %s over %d tools (the evaluation's servers replicated under other names), %d queries × %d rounds\n",
				rk.name, fmtDur(p50[i]), fmtDur(p99[i]), tools, len(queries), rounds)
		}
		last := len(rankings) - 1
		fmt.Fprintf(&md, "- %s / %s: p50 %.2f, p99 %.2f\n", rankings[last].name, rankings[0].name,
			float64(p50[last])/float64(p50[0]), float64(p99[last])/float64(p99[0]))
	}
	t.Logf("\n%s", md.String())

	if *evalMisses != "" {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "rank\tkind\tquery\texpected\ttop 3")
		for i, p := range evalParts {
			if p.name != *evalMisses {
				continue
			}
			for _, m := range results[len(results)-1][i].misses {
				r := "-"
				if m.rank > 0 {
					r = fmt.Sprint(m.rank)
				}
				kind := "easy"
				if m.q.hard {
					kind = "hard"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r, kind, m.q.text, strings.Join(m.q.want, " "), strings.Join(m.top, ", "))
			}
		}
		tw.Flush()
		t.Logf("misses (%s):\n%s", *evalMisses, b.String())
	}
	if *evalWrite != "" {
		if err := writeSection(*evalWrite, "## Search relevance", md.String()); err != nil {
			t.Fatal(err)
		}
	}
}

// evalLatencyAt indexes copies of servers under other names until at least
// size tools, settles the index, and times every query under each ranking
// (the rankings search the same index: they differ in queries only), in
// rounds that alternate the rankings so that they share the machine's load.
func evalLatencyAt(tb testing.TB, rankings []ranking, servers map[string][]mcpproxy.Tool, instr map[string]string, queries []evalQuery, size, rounds int) (p50, p99 []time.Duration, tools int) {
	tb.Helper()
	all := replicate(servers, instr, size)
	for _, s := range all {
		tools += len(s.Tools)
	}
	x := newRankedIndex(tb, rankings[0], nil, nil)
	if err := x.Update(all); err != nil {
		tb.Fatal(err)
	}
	settle(tb, x)
	ctx := context.Background()
	ds := make([][]time.Duration, len(rankings))
	for round := range rounds + 1 {
		for i, r := range rankings {
			x.rank = r // no search runs concurrently
			for _, q := range queries {
				start := time.Now()
				if _, err := x.Search(ctx, q.text, DefaultLimit); err != nil {
					tb.Fatal(err)
				}
				if round > 0 { // the first round warms up
					ds[i] = append(ds[i], time.Since(start))
				}
			}
		}
	}
	for i := range rankings {
		slices.Sort(ds[i])
		p50 = append(p50, ds[i][len(ds[i])/2])
		p99 = append(p99, ds[i][len(ds[i])*99/100])
	}
	return p50, p99, tools
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

// replicate copies servers, with their instructions, under other names
// (NAME-0, NAME-1…) until they hold at least size tools.
func replicate(servers map[string][]mcpproxy.Tool, instr map[string]string, size int) map[string]Server {
	all := map[string]Server{}
	for n, copyN := 0, 0; n < size; copyN++ {
		for _, name := range sortedKeys(servers) {
			all[fmt.Sprintf("%s-%d", name, copyN)] = Server{Tools: servers[name], Instructions: instr[name]}
			n += len(servers[name])
		}
	}
	return all
}

// evalInstructions returns the stored servers' instructions by server.
func evalInstructions(files []serverFile) map[string]string {
	instr := map[string]string{}
	for _, f := range files {
		if f.Instructions != "" {
			instr[f.Server] = f.Instructions
		}
	}
	return instr
}

// newRankedIndex is newTestIndex with a ranking, and the servers'
// instructions from instr.
func newRankedIndex(tb testing.TB, r ranking, servers map[string][]mcpproxy.Tool, instr map[string]string) *Index {
	tb.Helper()
	x, err := newIndexRanked(defaultMergePolicy, nil, r)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := x.Close(); err != nil {
			tb.Error(err)
		}
	})
	for _, name := range sortedKeys(servers) {
		if err := x.Update(map[string]Server{name: {Tools: servers[name], Instructions: instr[name]}}); err != nil {
			tb.Fatal(err)
		}
	}
	return x
}

// writeSection replaces the section that starts with heading in the
// markdown file (up to the next heading of the same level), or appends it.
func writeSection(path, heading, body string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(b)
	section := heading + "\n\nWritten by `go test -count=1 -run TestEval -v ./internal/index/ -eval.latency -eval.write ../../docs/BENCHMARKS.md`.\n\n" + body
	start := strings.Index(doc, heading+"\n")
	if start < 0 {
		doc = strings.TrimRight(doc, "\n") + "\n\n" + section
	} else {
		end := len(doc)
		if i := strings.Index(doc[start+len(heading):], "\n## "); i >= 0 {
			end = start + len(heading) + i + 1
		}
		doc = doc[:start] + section + "\n" + doc[end:]
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

// BenchmarkSearch_Eval searches the evaluation's queries over its servers
// replicated to 10,000 tools, with the default ranking: the workload of
// TestEval's latency part, for profiling (-cpuprofile). The servers'
// instructions are indexed or not (instructions=on, off: two indexes),
// each measured twice, in turn.
func BenchmarkSearch_Eval(b *testing.B) {
	servers, files := loadEvalServers(b)
	instr := evalInstructions(files)
	x := newRankedIndex(b, defaultRanking, nil, nil)
	queries, _ := loadEvalQueries(b, x, servers)
	without := newRankedIndex(b, defaultRanking, nil, nil)
	if err := x.Update(replicate(servers, instr, 10000)); err != nil {
		b.Fatal(err)
	}
	if err := without.Update(replicate(servers, nil, 10000)); err != nil {
		b.Fatal(err)
	}
	settle(b, x)
	settle(b, without)
	ctx := context.Background()
	for _, run := range []string{"1", "2"} {
		for _, v := range []struct {
			name string
			x    *Index
		}{{"off", without}, {"on", x}} {
			b.Run("instructions="+v.name+"/run="+run, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, err := v.x.Search(ctx, queries[i%len(queries)].text, DefaultLimit); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
