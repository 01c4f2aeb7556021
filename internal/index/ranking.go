package index

// ranking selects how tools are turned into documents and how queries are
// scored. The daemon uses defaultRanking; baselineRanking is BM25 as it was
// before the evaluation set (eval_test.go) existed, kept so that every run
// of the evaluation measures a change against it.
type ranking struct {
	// Boosts of the fields that add to the score of a term found in
	// fieldText: a term in the tool's name says more than the same term in
	// its description, and naming a server ("github issues") lifts that
	// server's tools.
	nameBoost, serverBoost, paramsBoost float64
	// synonyms adds to a query the synonyms of its terms (synonymGroups),
	// each scored synonymBoost times a term of the query.
	synonyms     bool
	synonymBoost float64
	// synonymsPerTerm bounds the synonyms of one term, taken in the order
	// of synonymGroups: each costs a search as much as a query term.
	synonymsPerTerm int
	// termCoverage counts the coverage factor per query term instead of
	// per clause (see coverage in scorer.go), crediting a term covered by
	// a synonym only with synonymCover and one found only in parameter
	// descriptions with paramsCover.
	termCoverage bool
	// termMax scores a query term by the best of itself and its synonyms
	// in a tool instead of by their sum.
	termMax                   bool
	synonymCover, paramsCover float64
	// idfOnce weights a term by its idf once, as BM25 does, where bleve
	// multiplies its query weight by the idf too (so by its square);
	// exactAvg divides field lengths by their mean where bleve rounds the
	// mean up to an integer. Both only for the index's own scorer.
	idfOnce, exactAvg bool
	// bleve searches with a bleve query (queryOf) instead of the index's
	// own scorer (scorer.go): the baseline, BM25 as it was.
	bleve bool
}

var (
	baselineRanking = ranking{nameBoost: 2, serverBoost: 1, paramsBoost: 0.5, bleve: true}
	defaultRanking  = ranking{nameBoost: 2, serverBoost: 0.5, paramsBoost: 0.25, synonyms: true, synonymBoost: 0.5, synonymsPerTerm: 4,
		termCoverage: true, synonymCover: 1, paramsCover: 0.3, idfOnce: true, exactAvg: true}
)
