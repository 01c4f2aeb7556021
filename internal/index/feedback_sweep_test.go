package index

import (
	"flag"
	"fmt"
	"testing"
)

var evalSweep = flag.Bool("eval.sweep", false, "score pseudo-relevance feedback settings on the tuning part")

// TestEval_FeedbackSweep scores the default ranking with pseudo-relevance
// feedback at several settings on the tuning part only.
func TestEval_FeedbackSweep(t *testing.T) {
	if !*evalSweep {
		t.Skip("-eval.sweep not set")
	}
	servers, _ := loadEvalServers(t)
	x := newRankedIndex(t, defaultRanking, servers)
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
		fmt.Printf("%-28s r@1 %.3f r@5 %.3f mrr %.3f\n", name, s.recall1(), s.recall5(), s.mrr())
	}
	run("off", defaultRanking)
	for _, k := range []int{3, 5} {
		for _, m := range []int{5, 10, 20} {
			for _, b := range []float64{0.05, 0.1, 0.2} {
				for _, v := range []struct {
					shared        int
					noSrv, byRank bool
					after         bool
				}{{1, false, false, false}, {1, false, false, true}, {1, true, false, true}, {2, true, false, true}} {
					r := defaultRanking
					r.feedbackDocs, r.feedbackTerms, r.feedbackBoost = k, m, b
					r.feedbackShared, r.feedbackNoServer, r.feedbackRank, r.feedbackAfterCov = v.shared, v.noSrv, v.byRank, v.after
					run(fmt.Sprintf("k=%d m=%d b=%.2f s=%d ns=%v rk=%v ac=%v", k, m, b, v.shared, v.noSrv, v.byRank, v.after), r)
				}
			}
		}
	}
}
