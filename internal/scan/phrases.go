package scan

import (
	"regexp"
	"slices"
	"strings"
)

// rule is one phrase pattern, matched against the normalized text (lower
// case, straight quotes; see prepare). Regular expressions are the slow
// part of a scan, so a rule runs only when the text contains one of its
// gate keywords (found for all rules in one pass, see keywordSet), and then
// only over a short window at each occurrence of one of its anchors: Go's
// backtracker clears state in proportion to the input it is given, so
// matching a whole description costs far more than a few windows.
type rule struct {
	gate    []string       // keywords; the rule runs if the text contains one
	anchors []string       // where a match starts (anchored) or what it contains (lookback)
	re      *regexp.Regexp // group 1, if any, is the excerpt
	// lookback rules match anywhere in a window that starts up to
	// maxLookback bytes before the anchor, at a space if there is one;
	// the others match at the anchor, which must start a word.
	lookback bool
	mask     uint64 // the bits of gate in keys
}

// lookbackRule returns a rule whose matches contain one of keys, and may
// start before it: "~/.ssh" for ".ssh".
func lookbackRule(keys []string, re string) rule {
	return rule{gate: keys, anchors: keys, re: regexp.MustCompile(re), lookback: true}
}

// anchoredRule returns a rule whose matches start at a word that starts
// with one of anchors, when the text contains one of gate (anchors if
// nil).
func anchoredRule(gate, anchors []string, re string) rule {
	if gate == nil {
		gate = anchors
	}
	return rule{gate: gate, anchors: anchors, re: regexp.MustCompile(`^(?:` + re + `)`)}
}

const (
	// maxMatches caps the matches of one rule in one string, which is
	// plenty to fill a Detail and keeps a hostile string from costing
	// more.
	maxMatches = 16
	// window bounds the text a rule reads after its anchor: longer than
	// any phrase the rules describe.
	window = 160
	// maxLookback bounds the text a lookback rule reads before its anchor.
	maxLookback = 64
)

// find calls add with the start and end in norm of each match's excerpt,
// trying the anchors' occurrences left to right and resuming after each
// match, as FindAll does.
func (r *rule) find(norm string, add func(start, end int)) {
	for i, n := 0, 0; n < maxMatches; {
		pos, a := -1, ""
		for _, cand := range r.anchors {
			if k := strings.Index(norm[i:], cand); k >= 0 && (pos < 0 || i+k < pos) {
				pos, a = i+k, cand
			}
		}
		if pos < 0 {
			return
		}
		i = pos + 1
		from := pos
		if r.lookback {
			from = max(0, pos-maxLookback)
			if k := strings.LastIndexAny(norm[from:pos], " \n\t"); k >= 0 {
				from += k
			}
		} else if pos > 0 && isWordByte(norm[pos-1]) && isWordByte(a[0]) {
			continue
		}
		m := r.re.FindStringSubmatchIndex(norm[from:min(len(norm), pos+window)])
		if m == nil {
			continue
		}
		start, end := m[0], m[1]
		if len(m) >= 4 && m[2] >= 0 {
			start, end = m[2], m[3]
		}
		add(from+start, from+end)
		n++
		i = max(i, from+m[1])
	}
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// Pieces of the patterns.
const (
	ws = `\s+`
	// negation starts a phrase at one of negationAnchors.
	negation = `(?:do(?:\s+not|n'?t)|never|must(?:\s+not|n'?t)|should(?:\s+not|n'?t))`
)

var negationAnchors = []string{"do", "never", "must", "should"}

// instructionRules find text addressed to the model that an honest tool has
// no reason to contain. Each pattern wants a whole phrase: "override" or
// "you must" alone is ordinary documentation.
var instructionRules = []rule{
	anchoredRule(nil, []string{"ignore", "forget"},
		`(?:ignore|forget)`+ws+`(?:(?:all|any|the|of|your|my|these|those)`+ws+`)*`+
			`(?:(?:previous|prior|above|earlier|preceding|former|other|existing|original|system)`+ws+`)+`+
			`(?:instructions?|prompts?|rules|directions|directives|guidelines|messages|context|commands)\b`),
	anchoredRule(nil, []string{"disregard"},
		`disregard`+ws+`(?:(?:all|any|the|your|of|previous|prior|above|earlier|other|existing|system)`+ws+`)*`+
			`(?:instructions?|prompts?|rules|directions|directives|guidelines|safety)\b`),
	anchoredRule(nil, []string{"overrid"},
		`overrid(?:e|es|ing)`+ws+`(?:(?:all|any|the|your|previous|prior|existing|other|model'?s?|assistant'?s?)`+ws+`)*`+
			`(?:instructions?|directives|guidelines|safety|system`+ws+`prompts?|tool`+ws+`descriptions?)\b`),
	anchoredRule(nil, []string{"<"},
		`<\s*/?\s*(?:important|system|system[-_ ]?(?:prompt|message|reminder|instructions?)|instructions?|secret|hidden|critical|admin|assistant)\s*>`),
	anchoredRule(nil, []string{"[", "<|"},
		`\[/?(?:system|inst|important)\]|<\|(?:im_start|im_end|system|endoftext)\|>`),
	anchoredRule([]string{"user", "human", "anyone"}, negationAnchors,
		negation+ws+`(?:(?:ever|actually|explicitly|need`+ws+`to|have`+ws+`to)`+ws+`)?`+
			`(?:tell|inform|mention|notify|alert|reveal|disclose|let)\b[^.!?]{0,60}?\b(?:users?|humans?|anyone)\b`),
	anchoredRule([]string{"mention", "reveal", "disclose"}, negationAnchors,
		negation+ws+`(?:mention|reveal|disclose)`+ws+`(?:that|this|it|anything|these|them)\b`),
	anchoredRule([]string{"from the user", "from user"}, []string{"hide", "conceal", "keep", "withhold"},
		`(?:hide|conceal|keep|withhold)`+ws+`(?:this|it|that|these|them|the`+ws+`fact)\b[^.!?]{0,30}?\bfrom`+ws+`(?:the`+ws+`)?users?\b`),
	anchoredRule(nil, []string{"before"},
		`before`+ws+`(?:using|calling|invoking|running|executing|you`+ws+`use|you`+ws+`call)`+ws+
			`(?:this|the|any)`+ws+`(?:\w+`+ws+`)?tools?\b[^.!?]{0,40}?\b(?:read|open|cat|access|send|include)\b`),
	anchoredRule(nil, []string{"you"},
		`you`+ws+`(?:must|have`+ws+`to|are`+ws+`required`+ws+`to|shall)`+ws+
			`(?:always|never|absolutely|secretly|silently)\b`),
	anchoredRule([]string{"important"}, []string{"this", "very", "extremely", "critically", "vitally", "super"},
		`this`+ws+`is`+ws+`(?:(?:very|extremely|really|critically|super|vitally|absolutely|most|highly)`+ws+`)+important\b`+
			`|(?:very|extremely|critically|vitally|super)`+ws+`important\s*[:!]`),
	anchoredRule(nil, []string{"keep"},
		`keep`+ws+`(?:this|it|that|these|them|everything)`+ws+`(?:(?:a|strictly|completely|totally|absolutely)`+ws+`)?`+
			`(?:secret|hidden|confidential|between`+ws+`(?:us|you`+ws+`and`+ws+`me))\b`),
	anchoredRule([]string{"system prompt", "instructions"},
		[]string{"your", "reveal", "print", "output", "repeat", "show", "ignore", "leak", "dump", "disclose", "include"},
		`(?:your|reveal|print|output|repeat|show|ignore|leak|dump|disclose|include)`+ws+`(?:(?:the|your|full|entire|complete|hidden)`+ws+`)*`+
			`(?:system`+ws+`prompt|system`+ws+`instructions|hidden`+ws+`instructions|initial`+ws+`instructions)\b`),
	anchoredRule([]string{"precedence", "priority"}, []string{"take", "has", "have", "given"},
		`(?:takes?|has|have|given)`+ws+`(?:(?:absolute|highest|top|full)`+ws+`)?(?:precedence|priority)`+ws+`over`+ws+
			`(?:(?:all|any|every)`+ws+`)?(?:other`+ws+`)?(?:tools?|instructions|functions)\b`),
}

// secretPathRules find credential files and directories and key material:
// there is no ordinary reason for a tool definition to name them.
var secretPathRules = []rule{
	lookbackRule([]string{".ssh"},
		`(?:^|[^a-z0-9_.-])((?:~|\$home|\$\{home\}|%userprofile%)?/?\.ssh(?:/[a-z0-9_.-]*)?)(?:[^a-z0-9_-]|$)`),
	lookbackRule([]string{"id_"}, `\b(id_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?)\b`),
	lookbackRule([]string{".env"},
		"(?:^|[\\s'\"`(/=:,~])(\\.env(?:\\.[a-z0-9_-]+)?)(?:[^a-z0-9_-]|$)"),
	lookbackRule([]string{".aws/"}, `(\.aws/(?:credentials|config))\b`),
	lookbackRule([]string{".npmrc", ".netrc", ".pypirc", ".pgpass", ".git-credentials", ".gnupg", ".docker/", ".kube/"},
		`(?:^|[^a-z0-9_.-])((?:~/)?\.(?:npmrc|netrc|pypirc|pgpass|git-credentials|gnupg|docker/config\.json|kube/config))\b`),
	lookbackRule([]string{"/etc/"}, `(/etc/(?:passwd|shadow|gshadow|sudoers))\b`),
	lookbackRule([]string{".json"},
		`(?:^|[^a-z0-9_.~/-])((?:~?/)?(?:[a-z0-9_.-]+/)*(?:(?:credentials|client_secrets?|service[-_]account(?:[-_]key)?|`+
			`claude_desktop_config|[a-z0-9_-]*mcp[a-z0-9_-]*)\.json|\.claude\.json))\b`),
	lookbackRule([]string{"-----begin"}, `(-----begin [a-z ]*private key-----)`),
}

// keys holds the gate keywords of every rule; prepared.keys is what its
// find returns for the text.
var (
	keys           keywordSet
	secretWordMask uint64
	httpMask       uint64
)

func init() {
	for _, rules := range [][]rule{instructionRules, secretPathRules} {
		for i := range rules {
			rules[i].mask = keys.mask(rules[i].gate...)
		}
	}
	secretWordMask = keys.mask(secretWordGate...) | keys.midWordMask(secretWordGateMidWord...)
	httpMask = keys.midWordMask("http")
}

func (sc *scanner) instructions(t *prepared) {
	sc.spans = sc.spans[:0]
	sc.matchRules(instructionRules, t)
	sc.emitSpans(kInstruction, t)
}

func (sc *scanner) secrets(t *prepared, isKey bool) {
	sc.spans = sc.spans[:0]
	sc.matchRules(secretPathRules, t)
	if !isKey && t.keys&secretWordMask != 0 {
		sc.secretWords(t.norm)
	}
	sc.emitSpans(kSecretRef, t)
}

func (sc *scanner) matchRules(rules []rule, t *prepared) {
	for i := range rules {
		if r := &rules[i]; t.keys&r.mask != 0 {
			r.find(t.norm, sc.addSpan)
		}
	}
}

// addSpan records norm[start:end] as a match unless it overlaps one
// recorded before: "id_rsa" says nothing that "~/.ssh/id_rsa" has not.
func (sc *scanner) addSpan(start, end int) {
	for _, s := range sc.spans {
		if start < s[1] && s[0] < end {
			return
		}
	}
	sc.spans = append(sc.spans, [2]int{start, end})
}

// emitSpans adds the excerpts of the recorded matches in text order.
func (sc *scanner) emitSpans(kind int, t *prepared) {
	slices.SortFunc(sc.spans, func(a, b [2]int) int { return a[0] - b[0] })
	for _, s := range sc.spans {
		sc.add(kind, excerpt(t.span(s[0], s[1])))
	}
}
