package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Vocabulary of the synthetic tools: about 300 words.
var (
	benchVerbs = strings.Fields(`get list create update delete search find read write send fetch
		add remove move copy rename upload download sync export import run start stop restart
		deploy build test merge close open archive restore share invite assign schedule cancel
		approve reject publish`)
	benchNouns = strings.Fields(`file directory issue pull_request repository branch commit comment
		message channel thread user team project task ticket event calendar meeting invoice
		payment customer order product subscription account workspace document page database
		table row column query record report dashboard metric alert log trace span incident
		deployment container image cluster node pod service secret bucket object queue topic
		email contact lead deal note folder tag label milestone release build pipeline job
		workflow webhook token key certificate domain record_set forecast entity relation
		observation graph spreadsheet cell slide form response survey playlist track video`)
	benchWords = strings.Fields(`the a of to in for with from by on and or all new existing
		specified given current recent latest optional required default maximum minimum
		number name id identifier type status state details information content data list
		results page limit offset cursor pagination filter sort order ascending descending
		date time timestamp range start end duration format json text markdown html url path
		owner organization member permission role access public private visible hidden shared
		returns retrieves creates updates deletes searches matching pattern query keyword value
		values field fields property properties metadata summary description title body
		attachment attachments size count total first last next previous parent child nested
		recursive single multiple batch bulk each every any other additional custom external
		internal remote local source destination target reference link version history audit
		status code error warning success failure retry timeout webhook callback event
		notification priority severity category group collection set map array string boolean
		integer optional include exclude enable disable active inactive archived deleted
		draft published pending approved rejected completed failed running queued scheduled`)
)

// benchTools generates n varied tools, 50 per server: verb_noun names (some in
// camelCase), 15-30 word descriptions with Zipf-distributed filler words, and
// 2-4 described parameters.
func benchTools(n int) map[string][]mcpproxy.Tool {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	zipf := rand.NewZipf(r, 1.1, 4, uint64(len(benchWords)-1))
	filler := func(k int) []string {
		w := make([]string, k)
		for i := range w {
			w[i] = benchWords[zipf.Uint64()]
		}
		return w
	}
	servers := map[string][]mcpproxy.Tool{}
	for i := range n {
		server := fmt.Sprintf("srv%03d-%s", i/50, benchNouns[(i/50)%len(benchNouns)])
		verb, noun := benchVerbs[r.IntN(len(benchVerbs))], benchNouns[r.IntN(len(benchNouns))]
		name := fmt.Sprintf("%s_%s_%d", verb, noun, i)
		if i%4 == 0 {
			name = fmt.Sprintf("%s%s%d", verb, strings.ToUpper(noun[:1])+noun[1:], i)
		}
		desc := append([]string{strings.ToUpper(verb[:1]) + verb[1:], "a", strings.ReplaceAll(noun, "_", " ")},
			filler(12+r.IntN(16))...)
		desc = append(desc, benchNouns[r.IntN(len(benchNouns))])
		var params []param
		for j := range 2 + r.IntN(3) {
			pn := benchNouns[r.IntN(len(benchNouns))]
			params = append(params, p(fmt.Sprintf("%s_%d", pn, j), "string",
				strings.Join(append([]string{"The", pn}, filler(4+r.IntN(6))...), " ")))
		}
		servers[server] = append(servers[server], tool(name, strings.Join(desc, " ")+".", params...))
	}
	return servers
}

var benchQueries = []string{
	"create a new ticket",
	"list open pull requests",
	"send email to customer",
	"search log errors",
	"upload file to bucket",
	"weather forecast tomorrow",
	"get invoice details",
	"restart the deployment",
}

func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprintf("tools=%d", n), func(b *testing.B) {
			x := newTestIndex(b, benchTools(n))
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				hits, err := x.Search(ctx, benchQueries[i%len(benchQueries)], DefaultLimit)
				if err != nil {
					b.Fatal(err)
				}
				if len(hits) == 0 {
					b.Fatalf("no hits for %q", benchQueries[i%len(benchQueries)])
				}
				i++
			}
		})
	}
}

// BenchmarkSetServer re-indexes one server of 50 tools in an index of 10,000,
// alternating between two versions so that every call does the work.
func BenchmarkSetServer(b *testing.B) {
	servers := benchTools(10_000)
	x := newTestIndex(b, servers)
	name := sortedKeys(servers)[0]
	v1 := servers[name]
	v2 := slices.Clone(v1)
	for i := range v2 {
		v2[i].Description += " Changed."
	}
	versions := [2][]mcpproxy.Tool{v2, v1}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := x.SetServer(name, versions[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
