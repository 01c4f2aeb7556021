package scan

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	minBase64Run = 40
	minHexRun    = 32
)

// Character classes of the base64 alphabets (standard and URL-safe).
const (
	cNone = iota
	cUpper
	cLower
	cDigit
	cSlash // '/'
	cWord  // '-' and '_'
	cOther // '+' and '='
)

var b64Class = func() (t [256]uint8) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = cUpper
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLower
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	t['/'] = cSlash
	t['-'], t['_'] = cWord, cWord
	t['+'], t['='] = cOther, cOther
	return t
}()

// blobs reports long runs of base64 or hex characters in s.
func (sc *scanner) blobs(s string) {
	for i := 0; i < len(s); {
		if b64Class[s[i]] == cNone {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && b64Class[s[j]] != cNone {
			j++
		}
		if j-i >= minHexRun {
			if item := blobItem(s[i:j]); item != "" {
				sc.add(kEncodedBlob, item)
			}
		}
		i = j
	}
}

// blobItem describes run if it looks like encoded data, else returns "".
func blobItem(run string) string {
	h := run
	if len(h) > 2 && h[0] == '0' && (h[1] == 'x' || h[1] == 'X') {
		h = h[2:]
	}
	if len(h) >= minHexRun && isHex(h) {
		return describeBlob("hex", run, decodeHex(h))
	}
	if len(run) >= minBase64Run && looksRandomBase64(run) {
		return describeBlob("base64", run, decodeBase64(run))
	}
	return ""
}

// isHex reports whether s is all hex digits with at least one digit and one
// letter: a run of one class is padding or a word, not data.
func isHex(s string) bool {
	digit, letter := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digit = true
		case 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F':
			letter = true
		default:
			return false
		}
	}
	return digit && letter
}

// looksRandomBase64 reports whether run mixes upper case, lower case and
// digits the way encoded bytes do. Identifiers (getUserProfileById2024),
// paths (/Users/me/Projects/App2) and kebab or snake names mix them too,
// but change class far less often and have many more separators.
func looksRandomBase64(run string) bool {
	var count [cOther + 1]int
	changes, pairs := 0, 0
	prev := uint8(cNone)
	for i := 0; i < len(run); i++ {
		c := b64Class[run[i]]
		count[c]++
		if c >= cUpper && c <= cDigit {
			if prev != cNone {
				pairs++
				if c != prev {
					changes++
				}
			}
			prev = c
		} else {
			prev = cNone
		}
	}
	n := len(run)
	if count[cUpper] == 0 || count[cLower] == 0 || count[cDigit] == 0 {
		return false
	}
	if count[cSlash]*10 > n || count[cWord]*10 > n {
		return false
	}
	// Random base64 changes class about 60% of the time, camelCase words
	// about 20%.
	return changes*10 >= pairs*4
}

func describeBlob(kind, run, decoded string) string {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteString(", ")
	b.WriteString(strconv.Itoa(len(run)))
	b.WriteString(" characters: ")
	const show = 24
	if len(run) > show {
		b.WriteString(excerpt(run[:show] + "…"))
	} else {
		b.WriteString(excerpt(run))
	}
	if decoded != "" {
		b.WriteString(" decoding to ")
		b.WriteString(excerpt(decoded))
	}
	return b.String()
}

func decodeHex(h string) string {
	if len(h)%2 == 1 {
		h = h[:len(h)-1]
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return ""
	}
	return readable(b)
}

func decodeBase64(run string) string {
	s := strings.TrimRight(run, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		if strings.ContainsAny(s, "+/") {
			return ""
		}
		enc = base64.RawURLEncoding
	}
	if len(s)%4 == 1 {
		s = s[:len(s)-1]
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return ""
	}
	return readable(b)
}

// readable returns b as a string if it is text a person could read (so the
// warning can show what the blob says), else "".
func readable(b []byte) string {
	if len(b) == 0 || !utf8.Valid(b) {
		return ""
	}
	s := string(b)
	total, ok := 0, 0
	for _, r := range s {
		total++
		if unicode.IsPrint(r) || r == '\n' || r == '\t' {
			ok++
		}
	}
	if ok*10 < total*9 {
		return ""
	}
	return s
}
