package index

import (
	"slices"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2/analysis"
)

// synonymGroups are words that agents and tool authors use for the same
// thing, so that a query in a user's words ("remove the folder") also finds
// a tool described in its author's ("delete_directory"). Each line is a
// group whose words stand for one another; a word may be in several groups.
// They are general software and everyday vocabulary, not the words of any
// one server.
var synonymGroups = []string{
	// verbs
	"get fetch retrieve read obtain lookup view",
	"list show enumerate browse display",
	"create add new make insert generate",
	"delete remove erase drop destroy purge forget discard",
	"update edit change modify patch alter",
	"search find query lookup locate seek discover",
	"run execute exec invoke launch trigger",
	"start launch begin open",
	"send post deliver",
	"write save store put persist",
	"move rename relocate",
	"copy fork clone duplicate",
	"stop kill terminate cancel halt abort end",
	"sum add total plus",
	"click press tap",
	"type fill enter input",
	"select pick choose option dropdown",
	"hover mouse",
	"merge land combine",
	"approve review",
	"comment note reply annotate",
	"download save export",
	"upload attach attachment",
	"undo revert reset rollback",
	"close shut resolve",
	"remember memorize store",
	"ask prompt sample",
	"scrape extract crawl fetch",
	"describe explain detail details info information inspect",
	"count number many",
	"connect link associate association relation relationship",
	"look see view watch",
	// nouns
	"picture image photo screenshot snapshot capture",
	"folder directory dir",
	"file document doc",
	"link url address",
	"repository repo project",
	"web internet online website site",
	"page website webpage",
	"error issue exception bug problem crash failure",
	"user member people person account profile",
	"team users members",
	"javascript js script code",
	"reaction emoji react",
	"directions route drive driving travel",
	"distance far",
	"elevation altitude height high",
	"coordinates latitude longitude location position",
	"address place location",
	"nearby near around local",
	"sql query database",
	"table tables columns schema",
	"key value cache entry",
	"expire expiration ttl",
	"fact observation memory knowledge",
	"news article articles latest recent",
	"log logs output",
	"history log commits changelog",
	"docs documentation manual reference guide",
	"research investigate study",
	"spreadsheet sheet",
	"transcript captions subtitles",
	"invoice bill billing charge",
	"refund reimburse",
	"discount coupon promo",
	"balance money funds",
	"subscription plan",
	"customer client",
	"contact person lead",
	"company organization org",
	"pod container",
	"deploy release publish ship",
	"scale replicas",
	"tag label",
	"message messages chat",
	"email mail",
	"task todo",
	"record row entry",
	"field column property",
	"collection table",
	"cluster context",
	"status state",
	"workspace space",
	"process command shell terminal",
	"video youtube",
	"test tests",
	// quantities
	"small tiny little mini",
	"several multiple many batch bulk",
}

// synonymTable maps an analyzed term to the analyzed terms of the groups it
// is in, itself excluded, in group order.
type synonymTable map[string][]string

var (
	synonymsOnce sync.Once
	synonymsMap  synonymTable
)

// synonyms returns the table, analyzed with a (the same analyzer for every
// index: the en analyzer).
func synonyms(a analysis.Analyzer) synonymTable {
	synonymsOnce.Do(func() { synonymsMap = buildSynonyms(a, synonymGroups) })
	return synonymsMap
}

func buildSynonyms(a analysis.Analyzer, groups []string) synonymTable {
	t := synonymTable{}
	for _, g := range groups {
		var terms []string
		for _, w := range strings.Fields(g) {
			for _, tok := range a.Analyze([]byte(w)) {
				if s := string(tok.Term); !slices.Contains(terms, s) {
					terms = append(terms, s)
				}
			}
		}
		for _, term := range terms {
			for _, other := range terms {
				if other != term && !slices.Contains(t[term], other) {
					t[term] = append(t[term], other)
				}
			}
		}
	}
	return t
}
