package index

// ranking selects how tools are turned into documents and how queries are
// scored. The daemon uses defaultRanking; baselineRanking is BM25 as it was
// before the evaluation set (eval_test.go) existed, kept so that every run
// of the evaluation measures a change against it.
type ranking struct {
}

var (
	baselineRanking = ranking{}
	defaultRanking  = ranking{}
)
