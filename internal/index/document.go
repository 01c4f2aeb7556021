package index

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Indexed fields. A query term must occur in fieldText for a tool to match
// it; the other fields only add to the score of a tool that matches.
const (
	// fieldText is everything that says what a tool does: its server's
	// name, its own name (twice, weighting it as BM25F would), title,
	// description and parameter names (the index's own scorer counts the
	// description's first sentence twice: see leadSentence). Which query
	// terms it contains decides how much of the query a tool covers.
	fieldText = "text"
	// fieldName is the tool name, raw and split into words.
	fieldName = "name"
	// fieldServer is the server name, raw and split into words.
	fieldServer = "server"
	// fieldParams holds parameter descriptions. They describe arguments
	// rather than the tool and often list values ("open or closed"), so a
	// term found only there does not make a tool match.
	fieldParams = "params"
)

// indexedFields lists the fields in the order of fieldLens.
var indexedFields = [...]string{fieldText, fieldName, fieldServer, fieldParams}

// document is what bleve indexes for one tool. Nothing is stored: hits are
// resolved to the caller's mcpproxy.Tool through the snapshot.
type document struct {
	Text   string `json:"text"`
	Name   string `json:"name"`
	Server string `json:"server"`
	Params string `json:"params,omitempty"`
	// The index's own scorer keeps the parameter names apart from the rest
	// of the text (see scoreFields); bleve does not see these.
	core, paramNames string
	// instructions are the server's (Server.Instructions), in sfInstr.
	instructions string
}

// newDocument derives the searchable text of one tool.
func newDocument(server string, t *mcpproxy.Tool) *document {
	title := t.Title
	if title == "" {
		title = annotationTitle(t.Annotations)
	}
	name := identifierText(t.Name)
	srv := identifierText(server)
	paramNames, paramDescs := paramsText(t.InputSchema)
	core := strings.Join([]string{srv, name, name, title, t.Description}, "\n")
	return &document{
		// bleve's text, which the baseline ranking searches, is as it was.
		Text:       core + "\n" + paramNames,
		Name:       name,
		Server:     srv,
		Params:     paramDescs,
		core:       core + "\n" + leadSentence(t.Description),
		paramNames: paramNames,
	}
}

// scoreFields returns the document's text in the order of scoreFields.
func (d *document) scoreFields() [numScoreFields]string {
	return [...]string{d.core, d.Name, d.Server, d.Params, d.paramNames, d.instructions}
}

// identifierText returns an identifier followed by the words of its compound
// parts ("create_issue create issue", "longRunningOperation long Running
// Operation"), so that both the identifier and its words find it.
func identifierText(s string) string {
	if words := compoundWords(s); len(words) > 0 {
		return s + " " + strings.Join(words, " ")
	}
	return s
}

// compoundWords returns the words of the parts of s that the analyzer keeps
// as one token although they are several words: runs of letters, digits and
// '_' such as "create_issue" or "createIssue". Parts it splits anyway, at
// '-' or ' ', contribute nothing.
func compoundWords(s string) []string {
	var words []string
	for run := range strings.FieldsFuncSeq(s, func(r rune) bool { return !isWordRune(r) }) {
		if w := splitWords(run); len(w) > 1 {
			words = append(words, w...)
		}
	}
	return words
}

// splitWords splits an identifier into words at separators (anything that is
// not a letter or digit), at lower-to-upper case changes ("createIssue"), at
// the end of an upper-case run ("HTTPServer" → "HTTP Server") and between
// letters and digits ("get2fa" → "get 2 fa").
func splitWords(s string) []string {
	var words []string
	start := -1 // start of the current word, -1 between words
	var prev rune
	for i, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start, prev = i, r
			continue
		}
		boundary := false
		switch {
		case unicode.IsLower(prev) && unicode.IsUpper(r):
			boundary = true
		case unicode.IsDigit(prev) != unicode.IsDigit(r):
			boundary = true
		case unicode.IsUpper(prev) && unicode.IsUpper(r):
			// "HTTPServer": the last upper-case letter before a lower-case
			// one starts the next word.
			next, _ := utf8.DecodeRuneInString(s[i+utf8.RuneLen(r):])
			boundary = unicode.IsLower(next) && i > start
		}
		if boundary {
			words = append(words, s[start:i])
			start = i
		}
		prev = r
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words
}

// expandQuery appends the words of compound identifiers in the query, so
// that "createIssue" or "create_issue" also match tools by their words.
func expandQuery(q string) string {
	if words := compoundWords(q); len(words) > 0 {
		return q + " " + strings.Join(words, " ")
	}
	return q
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// schemaProp is the part of a JSON schema property that is worth searching.
type schemaProp struct {
	Description string                `json:"description"`
	Properties  map[string]schemaProp `json:"properties"`
	Items       *struct {
		Description string                `json:"description"`
		Properties  map[string]schemaProp `json:"properties"`
	} `json:"items"`
}

// paramsText returns the parameter names (as words) and the parameter
// descriptions of an input schema, including the properties of object and
// array-of-object parameters one level down. A schema that does not parse
// contributes nothing: the tool is still found by its name and description.
func paramsText(schema json.RawMessage) (names, descs string) {
	if len(schema) == 0 {
		return "", ""
	}
	var root struct {
		Properties map[string]schemaProp `json:"properties"`
	}
	if err := json.Unmarshal(schema, &root); err != nil {
		return "", ""
	}
	var nb, db strings.Builder
	add := func(name, desc string) {
		for _, w := range splitWords(name) {
			nb.WriteString(w)
			nb.WriteByte(' ')
		}
		if desc != "" {
			db.WriteString(desc)
			db.WriteString(" \n")
		}
	}
	// Sorted so that the text, and so the index, does not depend on map order.
	for _, name := range slices.Sorted(maps.Keys(root.Properties)) {
		p := root.Properties[name]
		add(name, p.Description)
		nested := p.Properties
		if p.Items != nil {
			add("", p.Items.Description)
			if nested == nil {
				nested = p.Items.Properties
			}
		}
		for _, sub := range slices.Sorted(maps.Keys(nested)) {
			add(sub, nested[sub].Description)
		}
	}
	return strings.TrimSpace(nb.String()), strings.TrimSpace(db.String())
}

// annotationTitle returns the title hint of MCP tool annotations, if any.
func annotationTitle(ann json.RawMessage) string {
	if len(ann) == 0 {
		return ""
	}
	var a struct {
		Title string `json:"title"`
	}
	if json.Unmarshal(ann, &a) != nil {
		return ""
	}
	return a.Title
}

// toolsHash fingerprints a server's tools, sorted by name, including the
// fields that are not searched (output schema, annotations): a change to any
// of them must replace the Tool values that hits return. The server's
// instructions are part of it too.
func toolsHash(tools []mcpproxy.Tool, instructions string) [sha256.Size]byte {
	h := sha256.New()
	var buf []byte
	put := func(s []byte) {
		buf = binary.AppendUvarint(buf[:0], uint64(len(s)))
		h.Write(buf)
		h.Write(s)
	}
	for i := range tools {
		t := &tools[i]
		put([]byte(t.Name))
		put([]byte(t.Title))
		put([]byte(t.Description))
		put(t.InputSchema)
		put(t.OutputSchema)
		put(t.Annotations)
	}
	if instructions != "" {
		// Only here, so that a server without instructions keeps the hash
		// an index on disk recorded before they were indexed.
		put(nil)
		put([]byte(instructions))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// leadSentence returns the first sentence of a description (up to its
// first line break). The index's own scorer has it twice in a tool's text
// (document.core): a description says what the tool does first, and what
// its arguments and results are after, where a query's words match tools
// that merely mention them. bleve's documents, which the baseline ranking
// searches, do not repeat it.
func leadSentence(d string) string {
	d = strings.TrimSpace(d)
	if i := strings.IndexAny(d, "\r\n"); i >= 0 {
		d = d[:i]
	}
	for i := 0; i < len(d); i++ {
		if (d[i] == '.' || d[i] == '!' || d[i] == '?') && (i+1 == len(d) || d[i+1] == ' ') {
			return d[:i+1]
		}
	}
	return d
}
