package index

// ranking selects how queries are scored. The daemon uses defaultRanking;
// baselineRanking is BM25 as it was before the evaluation set
// (eval_test.go) existed, kept so that every run of the evaluation measures
// a change against it.
type ranking struct {
	// Boosts of the fields that add to the score of a term found in a
	// tool's text: a term in the tool's name says more than the same term
	// in its description, and naming a server ("github issues") lifts that
	// server's tools. The text's boost is 1; paramNamesBoost is that of the
	// parameter names, which only the index's own scorer keeps apart.
	nameBoost, serverBoost, paramsBoost, paramNamesBoost float64
	// synonyms adds to a query the synonyms of its terms (synonymGroups),
	// each scored synonymBoost times a term of the query.
	synonyms     bool
	synonymBoost float64
	// synonymsPerTerm bounds the synonyms of one term, taken in the order
	// of synonymGroups: each costs a search as much as a query term.
	synonymsPerTerm int
	// How much of a query term a tool covers (see coverage in scorer.go)
	// if it has only a synonym of it in its text, and if it has the term
	// or a synonym only in its parameter names or only in their
	// descriptions. A term in its text covers it fully.
	synonymCover, paramNamesCover, paramsCover float64
	// instrBoost is the boost of the server's instructions (Server), a
	// field that only adds to the score of tools that match otherwise.
	instrBoost float64
	// bleve searches with a bleve query (queryOf) instead of the index's
	// own scorer (scorer.go): the baseline, BM25 as it was.
	bleve bool
}

var (
	baselineRanking = ranking{nameBoost: 2, serverBoost: 1, paramsBoost: 0.5, bleve: true}
	defaultRanking  = ranking{nameBoost: 2, serverBoost: 0.5, paramsBoost: 0.25, paramNamesBoost: 0.1,
		synonyms: true, synonymBoost: 0.5, synonymsPerTerm: 4,
		synonymCover: 1, paramNamesCover: 0.6, paramsCover: 0.3, instrBoost: 0.2}
)
