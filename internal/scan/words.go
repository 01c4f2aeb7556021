package scan

import "strings"

// Generic credential words (password, API key, access token, …) count as a
// secret reference only with a verb that moves data near them ("read the
// user's API keys and include them"), because the poisoning pattern asks the
// model to fetch a secret and hand it over, while honest tools mention
// passwords and API keys all the time. A denial right before the word
// ("without credentials", "no password") cancels it.
//
// This works on words rather than with a regular expression: the gate
// keywords (secretWordGate) are common, and one pass over the words is
// cheaper than two expressions over the whole text.

// secretWordGate are the keywords that make secretWords worth running;
// the second list counts inside words too (accesstoken, privatekey).
var (
	secretWordGate        = []string{"pass", "api", "phrase", "credential", "cookie"}
	secretWordGateMidWord = []string{"key", "token", "secret"}
)

// verbReach is how many words away from a secret word a verb may be.
const verbReach = 10

// span is one word of the normalized text.
type span struct {
	start, end int
	joined     bool // separated from the previous word only by ' ', '_' or '-'
	brk        bool // a line or a sentence ends between the previous word and this one
}

// splitWords splits norm into runs of letters and digits.
func splitWords(dst []span, norm string) []span {
	dst = dst[:0]
	prevEnd := 0
	for i := 0; i < len(norm); {
		if !isAlnum(norm[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(norm) && isAlnum(norm[j]) {
			j++
		}
		gap := norm[prevEnd:i]
		dst = append(dst, span{
			start:  i,
			end:    j,
			joined: len(dst) > 0 && strings.Trim(gap, " _-") == "",
			brk: strings.IndexByte(gap, '\n') >= 0 || strings.Contains(gap, ". ") ||
				strings.Contains(gap, "! ") || strings.Contains(gap, "? "),
		})
		prevEnd = j
		i = j
	}
	return dst
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

// secretWords records the secret words of norm that have a verb near them.
func (sc *scanner) secretWords(norm string) {
	sc.words = splitWords(sc.words, norm)
	ws := sc.words
	found := 0
	for i := 0; i < len(ws) && found < maxMatches; i++ {
		first := norm[ws[i].start:ws[i].end]
		last := i
		if !isSecretWord(first) {
			if i+1 >= len(ws) || !ws[i+1].joined || !isSecretPair(first, norm[ws[i+1].start:ws[i+1].end]) {
				continue
			}
			last = i + 1
		}
		if i > 0 && !ws[i].brk && isDenial(norm[ws[i-1].start:ws[i-1].end]) {
			i = last
			continue
		}
		if v, ok := verbNear(norm, ws, i, last); ok {
			if v < i {
				sc.addSpan(ws[v].start, ws[last].end)
			} else {
				sc.addSpan(ws[i].start, ws[v].end)
			}
			found++
		}
		i = last
	}
}

// verbNear returns the index of the data-moving verb nearest to the words
// first..last, within verbReach words and the same sentence.
func verbNear(norm string, ws []span, first, last int) (int, bool) {
	for d := 1; d <= verbReach; d++ {
		if j := first - d; j >= 0 && !crosses(ws, j+1, first) && isMoveVerb(norm[ws[j].start:ws[j].end]) {
			return j, true
		}
		if j := last + d; j < len(ws) && !crosses(ws, last+1, j) && isMoveVerb(norm[ws[j].start:ws[j].end]) {
			return j, true
		}
	}
	return 0, false
}

// crosses reports whether a sentence ends before any of the words from..to.
func crosses(ws []span, from, to int) bool {
	for k := from; k <= to; k++ {
		if ws[k].brk {
			return true
		}
	}
	return false
}

func isSecretWord(w string) bool {
	switch w {
	case "password", "passwords", "passwd", "passphrase", "passphrases",
		"apikey", "apikeys", "apitoken", "apitokens", "accesstoken", "accesstokens",
		"authtoken", "authtokens", "privatekey", "privatekeys", "secretkey", "secretkeys",
		"clientsecret", "clientsecrets", "credential", "credentials":
		return true
	}
	return false
}

// isSecretPair reports whether the two words, written next to each other,
// name a credential: "api key", "access_token", "seed-phrase".
func isSecretPair(a, b string) bool {
	switch a {
	case "api":
		return b == "key" || b == "keys" || b == "token" || b == "tokens"
	case "access", "auth", "authentication", "bearer", "refresh":
		return b == "token" || b == "tokens"
	case "session":
		return b == "token" || b == "tokens" || b == "cookie" || b == "cookies"
	case "secret", "private":
		return b == "key" || b == "keys"
	case "client":
		return b == "secret" || b == "secrets"
	case "seed", "recovery", "mnemonic":
		return b == "phrase" || b == "phrases"
	}
	return false
}

func isDenial(w string) bool {
	return w == "without" || w == "no" || w == "not" || w == "never"
}

func isMoveVerb(w string) bool {
	switch w {
	case "read", "reads", "reading", "send", "sends", "sending", "include", "includes", "including",
		"pass", "passes", "passing", "share", "sharing", "reveal", "revealing", "leak", "leaking",
		"exfiltrate", "exfiltrating", "upload", "uploading", "forward", "forwarding",
		"attach", "attaching", "append", "appending", "paste", "pasting", "dump", "dumping",
		"disclose", "disclosing", "extract", "extracting", "collect", "collecting",
		"copy", "copying", "steal", "stealing", "harvest", "harvesting", "print", "printing",
		"transmit", "transmitting":
		return true
	}
	return false
}
