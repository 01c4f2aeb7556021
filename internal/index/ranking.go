package index

// ranking selects how tools are turned into documents and how queries are
// scored. The daemon uses defaultRanking; baselineRanking is BM25 as it was
// before the evaluation set (eval_test.go) existed, kept so that every run
// of the evaluation measures a change against it.
type ranking struct {
	// synonyms adds to a query the synonyms of its terms (synonymGroups),
	// each scored synonymBoost times a term of the query.
	synonyms     bool
	synonymBoost float64
}

var (
	baselineRanking = ranking{}
	defaultRanking  = ranking{synonyms: true, synonymBoost: 0.3}
)
