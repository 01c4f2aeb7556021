package index

import (
	"flag"
	"fmt"
	"testing"
)

var (
	evalSweep        = flag.Bool("eval.sweep", false, "score the server instructions field at several settings on the tuning part")
	evalInstrHeldOut = flag.Bool("eval.instr-heldout", false, "with -eval.sweep: score the chosen setting on the held-out part (once)")
)

// TestEval_InstructionsSweep scores the default ranking with the servers'
// instructions as a field at several settings, on the tuning part only.
func TestEval_InstructionsSweep(t *testing.T) {
	if !*evalSweep {
		t.Skip("-eval.sweep not set")
	}
	servers, files := loadEvalServers(t)
	instr := map[string]string{}
	for _, f := range files {
		instr[f.Server] = f.Instructions
	}
	x, err := newIndexRanked(defaultMergePolicy, nil, defaultRanking)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	x.instructions = func(s string) string { return instr[s] }
	for _, name := range sortedKeys(servers) {
		if err := x.SetServer(name, servers[name]); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, x)
	queries, _ := loadEvalQueries(t, x, servers)
	var tuning []evalQuery
	for _, q := range queries {
		if !q.heldOut {
			tuning = append(tuning, q)
		}
	}
	run := func(name string, r ranking) {
		x.rank = r
		s := evalRanking(t, x, tuning)[0]
		fmt.Printf("%-24s r@1 %.3f r@5 %.3f mrr %.3f\n", name, s.recall1(), s.recall5(), s.mrr())
	}
	if *evalInstrHeldOut {
		var held []evalQuery
		for _, q := range queries {
			if q.heldOut {
				held = append(held, q)
			}
		}
		for _, r := range []ranking{defaultRanking, {}} {
			if r.nameBoost == 0 {
				r = defaultRanking
				r.instrBoost = 0.2
			}
			x.rank = r
			s := evalRanking(t, x, held)[4] // the held-out part
			fmt.Printf("held-out instrBoost=%.1f r@1 %.3f r@5 %.3f mrr %.3f\n", r.instrBoost, s.recall1(), s.recall5(), s.mrr())
		}
		return
	}
	for _, b := range []float64{0, 0.1, 0.5, 1, 2} {
		for _, c := range []float64{0, 0.3, 0.6} {
			r := defaultRanking
			r.instrBoost, r.instrCover = b, c
			run(fmt.Sprintf("boost=%.2f cover=%.1f", b, c), r)
		}
	}
}

func TestEval_InstructionsProbe(t *testing.T) {
	if !*evalSweep {
		t.Skip("-eval.sweep not set")
	}
	servers, files := loadEvalServers(t)
	instr := map[string]string{}
	for _, f := range files {
		instr[f.Server] = f.Instructions
	}
	r := defaultRanking
	r.instrBoost, r.instrCover = 0.5, 0.3
	x, _ := newIndexRanked(defaultMergePolicy, nil, r)
	defer x.Close()
	x.instructions = func(s string) string { return instr[s] }
	for _, name := range sortedKeys(servers) {
		x.SetServer(name, servers[name])
	}
	hits, _ := x.SearchExplained(t.Context(), "library documentation framework web search", 5)
	for _, h := range hits {
		fmt.Println(h.ID(), h.Why)
	}
	queries, _ := loadEvalQueries(t, x, servers)
	n := 0
	for _, q := range queries {
		if !q.heldOut && instr[q.server] != "" {
			n++
		}
	}
	fmt.Println("tuning queries of servers with instructions:", n)
}
