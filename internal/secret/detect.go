package secret

import (
	"bytes"
	"encoding/base64"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Kind names a kind of sensitive data that Find recognizes. Kinds are
// shown to people (activity log, UI, tool errors) in place of the data.
type Kind string

// The kinds Find reports.
const (
	KindAWSAccessKey Kind = "aws_access_key" // AKIA… / ASIA… access key id
	KindPrivateKey   Kind = "private_key"    // a PEM "PRIVATE KEY" block
	KindGitHubToken  Kind = "github_token"   // ghp_, gho_, ghu_, ghs_, ghr_, github_pat_
	KindSlackToken   Kind = "slack_token"    // xoxb-, xoxp-, xoxa-, xoxs-, xoxr-
	KindStripeKey    Kind = "stripe_key"     // sk_live_, sk_test_, rk_live_, rk_test_
	KindAPIKey       Kind = "api_key"        // OpenAI / Anthropic style sk-…
	KindJWT          Kind = "jwt"            // header.payload.signature, header "eyJ…"
	KindAuthHeader   Kind = "auth_header"    // the credential of "Bearer …" or "Basic …"
	KindURLPassword  Kind = "url_password"   // the password of scheme://user:password@host
	KindCardNumber   Kind = "card_number"    // a payment card number that passes Luhn
	KindSecretValue  Kind = "secret_value"   // a random-looking value under a secret-named key
)

// Span is one stretch of sensitive data in a text: s[Start:End] is of Kind.
type Span struct {
	Start, End int
	Kind       Kind
}

// Find returns the sensitive stretches of s, in order and not
// overlapping; nil if there are none. It recognizes credentials by their
// shape (see the Kind constants) and, for KindSecretValue, values that look
// random written after a key that LooksSecretKey accepts: "API_KEY=…",
// "\"client_secret\": \"…\"", "?access_token=…". It does not guess from
// randomness alone: hashes, ids and nonces look random too.
//
// Find reads s once, left to right, and allocates only for what it finds;
// its cost is linear in len(s). Callers bound len(s) where the text can be
// large.
func Find(s string) []Span {
	var out []Span
	prevWord := false // s[i-1] is a word character
	for i := 0; i < len(s); {
		c := s[i]
		if prevWord && wordByte[c] {
			// Inside a word nothing starts, and ':' and '=' end words.
			for i++; i < len(s) && wordByte[s[i]]; i++ {
			}
			continue
		}
		if !interesting[c] {
			prevWord = wordByte[c]
			i++
			continue
		}
		sp, ok := Span{}, false
		switch {
		case c == ':' && strings.HasPrefix(s[i+1:], "//"):
			if sp, ok = urlPasswordAt(s, i); !ok {
				i += 3
				prevWord = false
				continue
			}
		case c == ':' || c == '=':
			sp, ok = assignmentAt(s, i)
		case !prevWord:
			sp, ok = matchAt(s, i)
		}
		if ok {
			out = append(out, sp)
			i = sp.End
			prevWord = i > 0 && wordByte[s[i-1]]
			continue
		}
		prevWord = wordByte[c]
		i++
	}
	return out
}

// wordByte marks the bytes isWordChar accepts; interesting those where
// Find has something to check: startByte and the separators ':' and '='.
var wordByte, interesting = func() (w, t [256]bool) {
	for c := range 256 {
		w[c] = isWordChar(byte(c))
		t[c] = startByte[c] || c == ':' || c == '='
	}
	return w, t
}()

// Kinds returns the distinct kinds of spans, sorted; nil if there are none.
func Kinds(spans []Span) []Kind {
	var out []Kind
	for _, sp := range spans {
		if !slices.Contains(out, sp.Kind) {
			out = append(out, sp.Kind)
		}
	}
	slices.Sort(out)
	return out
}

// MergeKinds returns the distinct kinds of a and b, sorted.
func MergeKinds(a, b []Kind) []Kind {
	if len(b) == 0 {
		return a
	}
	out := slices.Clone(a)
	for _, k := range b {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Replace returns s with each span (as Find returns them: in order, not
// overlapping) replaced by mask(kind).
func Replace(s string, spans []Span, mask func(Kind) string) string {
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.Start])
		b.WriteString(mask(sp.Kind))
		last = sp.End
	}
	b.WriteString(s[last:])
	return b.String()
}

// Label is the mask that names the kind: "[redacted:github_token]".
func Label(k Kind) string { return "[redacted:" + string(k) + "]" }

// startByte marks the bytes a shaped credential can begin with: the first
// letters of token prefixes and auth schemes, digits (card numbers) and '-'
// (PEM blocks).
var startByte = func() (t [256]bool) {
	for _, c := range []byte("gsrxAeBb-0123456789") {
		t[c] = true
	}
	return t
}()

// matchAt reports a shaped credential starting at s[i], where s[i] starts a
// word.
func matchAt(s string, i int) (Span, bool) {
	r := s[i:]
	switch c := s[i]; {
	case c == 'g':
		for _, p := range []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"} {
			if strings.HasPrefix(r, p) {
				if n := run(r[4:], isAlnum); n >= 30 {
					return Span{i, i + 4 + n, KindGitHubToken}, true
				}
				return Span{}, false
			}
		}
		if strings.HasPrefix(r, "github_pat_") {
			if n := run(r[11:], isTokenChar); n >= 22 {
				return Span{i, i + 11 + n, KindGitHubToken}, true
			}
		}
	case c == 's' || c == 'r':
		for _, p := range []string{"sk_live_", "sk_test_", "rk_live_", "rk_test_"} {
			if strings.HasPrefix(r, p) {
				if n := run(r[8:], isAlnum); n >= 10 {
					return Span{i, i + 8 + n, KindStripeKey}, true
				}
				return Span{}, false
			}
		}
		if strings.HasPrefix(r, "sk-") {
			// Without a digit, only a known key prefix tells a key from
			// a slug such as "sk-learn-tutorial-for-beginners".
			if n := run(r[3:], isDashTokenChar); n >= 20 && (mixed(r[3:3+n]) || hasKeyPrefix(r[3:3+n])) {
				return Span{i, i + 3 + n, KindAPIKey}, true
			}
		}
	case c == 'x':
		if len(r) > 5 && strings.HasPrefix(r, "xox") && strings.IndexByte("bpasr", r[3]) >= 0 && r[4] == '-' {
			if n := run(r[5:], func(c byte) bool { return isAlnum(c) || c == '-' }); n >= 10 {
				return Span{i, i + 5 + n, KindSlackToken}, true
			}
		}
	case c == 'A':
		if strings.HasPrefix(r, "AKIA") || strings.HasPrefix(r, "ASIA") {
			n := run(r[4:], func(c byte) bool { return isUpper(c) || isDigit(c) })
			if n == 16 && (len(r) == 20 || !isWordChar(r[20])) {
				return Span{i, i + 20, KindAWSAccessKey}, true
			}
		}
	case c == 'e':
		if strings.HasPrefix(r, "eyJ") {
			if n := jwtLen(r); n > 0 {
				return Span{i, i + n, KindJWT}, true
			}
		}
	case c == '-':
		if strings.HasPrefix(r, "-----BEGIN ") {
			if n := pemLen(r); n > 0 {
				return Span{i, i + n, KindPrivateKey}, true
			}
		}
	case isDigit(c):
		if i > 0 && (s[i-1] == '.' || s[i-1] == '-' || s[i-1] == '+') {
			return Span{}, false
		}
		if n := cardLen(r); n > 0 {
			return Span{i, i + n, KindCardNumber}, true
		}
		return Span{}, false
	}
	if c := s[i]; c == 'B' || c == 'b' {
		if sp, ok := authSchemeAt(s, i); ok {
			return sp, true
		}
	}
	return Span{}, false
}

// hasKeyPrefix reports whether what follows "sk-" starts as the keys of
// OpenAI (proj-, svcacct-, admin-) and Anthropic (ant-) do.
func hasKeyPrefix(r string) bool {
	for _, p := range []string{"proj-", "svcacct-", "admin-", "ant-"} {
		if strings.HasPrefix(r, p) && len(r) >= len(p)+16 {
			return true
		}
	}
	return false
}

// jwtLen returns the length of the JWT r starts with ("eyJ…"), or 0.
func jwtLen(r string) int {
	h := run(r, isBase64URLChar)
	if h < 10 || h >= len(r) || r[h] != '.' {
		return 0
	}
	p := run(r[h+1:], isBase64URLChar)
	if p < 4 || h+1+p >= len(r) || r[h+1+p] != '.' {
		return 0
	}
	sig := run(r[h+2+p:], isBase64URLChar)
	if sig < 4 {
		return 0
	}
	return h + 2 + p + sig
}

// pemLen returns the length of the PEM private key block r starts with
// ("-----BEGIN … PRIVATE KEY-----"), through its END line; a block without
// one runs to the end of r. 0 if r does not start a private key.
func pemLen(r string) int {
	rest := r[len("-----BEGIN "):]
	n := run(rest, func(c byte) bool { return isUpper(c) || isDigit(c) || c == ' ' })
	label := rest[:n]
	if !strings.HasSuffix(label, "PRIVATE KEY") && !strings.HasSuffix(label, "PRIVATE KEY BLOCK") ||
		!strings.HasPrefix(rest[n:], "-----") {
		return 0
	}
	body := len("-----BEGIN ") + n + 5
	end := strings.Index(r[body:], "-----END ")
	if end < 0 {
		return len(r)
	}
	end += body + len("-----END ")
	if k := strings.Index(r[end:], "-----"); k >= 0 && k <= 64 {
		return end + k + 5
	}
	return end
}

// authSchemeAt reports the credential of an Authorization value starting
// at s[i]: "Basic" (any case) with base64 of "user:password" after it, or
// "Bearer" with any credential after it when that is all s holds; inside
// other text a bearer credential must be 8 or more characters with a digit
// or a symbol, so that prose such as "use Bearer authentication" does not
// count. The span is the credential; the scheme word stays readable.
func authSchemeAt(s string, i int) (Span, bool) {
	for _, scheme := range []string{"bearer ", "basic "} {
		if len(s)-i < len(scheme) || !strings.EqualFold(s[i:i+len(scheme)], scheme) {
			continue
		}
		start := i + len(scheme)
		for start < len(s) && s[start] == ' ' {
			start++
		}
		cred := s[start:]
		n := run(cred, isCredChar)
		if n == 0 || n < len(cred) && isWordChar(cred[n]) {
			return Span{}, false
		}
		if scheme == "basic " {
			if isBasicCredential(cred[:n]) {
				return Span{start, start + n, KindAuthHeader}, true
			}
			return Span{}, false
		}
		whole := strings.TrimSpace(s[:i]) == "" && strings.TrimSpace(cred[n:]) == ""
		if whole || n >= 8 && strings.ContainsFunc(cred[:n], func(r rune) bool { return !isLetterRune(r) }) {
			return Span{start, start + n, KindAuthHeader}, true
		}
		return Span{}, false
	}
	return Span{}, false
}

// isBasicCredential reports whether s is base64 of "user:password".
func isBasicCredential(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return false
		}
	}
	return len(b) >= 3 && utf8.Valid(b) && bytes.IndexByte(b, ':') > 0
}

// urlPasswordAt reports the password of a URL whose "://" is at s[i]
// ("scheme://user:password@host"). A placeholder or an already masked
// password does not count.
func urlPasswordAt(s string, i int) (Span, bool) {
	n := 0
	for n < i && n <= 32 && (isAlnum(s[i-n-1]) || strings.IndexByte("+.-", s[i-n-1]) >= 0) {
		n++
	}
	if n == 0 || n > 32 {
		return Span{}, false
	}
	j := i + 3
	// userinfo ends at '@'; '/', '?', '#' or a space first means there is none.
	k := j
	for k < len(s) && k-j < 512 && strings.IndexByte("@/?# \t\r\n\"'<>\\", s[k]) < 0 {
		k++
	}
	if k >= len(s) || s[k] != '@' {
		return Span{}, false
	}
	colon := strings.IndexByte(s[j:k], ':')
	if colon <= 0 || j+colon+1 == k {
		return Span{}, false
	}
	pw := s[j+colon+1 : k]
	if strings.Contains(pw, "${") || strings.HasPrefix(pw, "***") || strings.HasPrefix(pw, "[redacted") || strings.Trim(pw, "*") == "" {
		return Span{}, false
	}
	return Span{j + colon + 1, k, KindURLPassword}, true
}

// cardLen returns the length of the payment card number r starts with, or
// 0: 13 to 19 digits, in groups separated by single spaces or dashes (one
// separator throughout), with a known issuer prefix, passing the Luhn check,
// and not followed by more digits.
func cardLen(r string) int {
	var digits [19]byte
	nd, end := 0, 0
	var sep byte
	for k := 0; k < len(r); k++ {
		c := r[k]
		switch {
		case isDigit(c):
			if nd == len(digits) {
				return 0
			}
			digits[nd] = c
			nd++
			end = k + 1
		case (c == ' ' || c == '-') && k > 0 && isDigit(r[k-1]) && k+1 < len(r) && isDigit(r[k+1]) && (sep == 0 || sep == c):
			sep = c
		default:
			k = len(r)
		}
	}
	if nd < 13 || end < len(r) && (isWordChar(r[end]) || r[end] == '.' && end+1 < len(r) && isDigit(r[end+1])) {
		return 0
	}
	d := digits[:nd]
	if !cardIssuer(d) || !luhn(d) {
		return 0
	}
	return end
}

// cardIssuer reports whether d starts with the prefix of a card network
// that issues numbers of its length: Visa, Mastercard, American Express,
// Discover, JCB, Diners Club, UnionPay.
func cardIssuer(d []byte) bool {
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	p4 := p2*100 + int(d[2]-'0')*10 + int(d[3]-'0')
	switch n := len(d); {
	case d[0] == '4':
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return n == 16
	case p2 == 34 || p2 == 37:
		return n == 15
	case p4 == 6011, p2 == 65, p4/10 >= 644 && p4/10 <= 649:
		return n >= 16
	case p4 >= 3528 && p4 <= 3589:
		return n >= 16
	case p2 == 36 || p2 == 38 || p4/10 >= 300 && p4/10 <= 305:
		return n >= 14
	case p2 == 62:
		return n >= 16
	}
	return false
}

// luhn reports whether the digits d pass the Luhn check.
func luhn(d []byte) bool {
	sum := 0
	for k := range d {
		v := int(d[len(d)-1-k] - '0')
		if k%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// assignmentAt reports a random-looking value assigned to a secret-named
// key at the separator s[i] (':' or '='): KEY=value, key: value,
// "key": "value", ?key=value. A value that is itself a shaped credential is
// left to matchAt, which names its kind.
func assignmentAt(s string, i int) (Span, bool) {
	// The key: a run of key characters before the separator, perhaps quoted.
	k := i
	for k > 0 && s[k-1] == ' ' && i-k < 4 {
		k--
	}
	quote := byte(0)
	if k > 0 && (s[k-1] == '"' || s[k-1] == '\'') {
		quote = s[k-1]
		k--
		if k > 0 && s[k-1] == '\\' { // JSON inside a JSON string: \"key\"
			k--
		}
	}
	ke := k
	for k > 0 && ke-k < 64 && (isAlnum(s[k-1]) || strings.IndexByte("_-.", s[k-1]) >= 0) {
		k--
	}
	if k == ke || quote != 0 && (k == 0 || s[k-1] != quote && !(k > 1 && s[k-1] == '\\' && s[k-2] == quote)) {
		return Span{}, false
	}
	if !LooksSecretKey(s[k:ke]) {
		return Span{}, false
	}
	// The value.
	v := i + 1
	for v < len(s) && (s[v] == ' ' || s[v] == '\t') && v-i < 8 {
		v++
	}
	if v+1 < len(s) && s[v] == '\\' && (s[v+1] == '"' || s[v+1] == '\'') {
		v++
	}
	var end int
	if v < len(s) && (s[v] == '"' || s[v] == '\'') {
		q := s[v]
		v++
		end = v
		for end < len(s) && s[end] != q && s[end] != '\\' && s[end] != '\n' && end-v < 4096 {
			end++
		}
	} else {
		end = v
		for end < len(s) && strings.IndexByte(" \t\r\n,;&\"'}])>", s[end]) < 0 && end-v < 4096 {
			end++
		}
	}
	val := s[v:end]
	if strings.HasPrefix(strings.ToLower(val), "bearer") || strings.HasPrefix(strings.ToLower(val), "basic") {
		return Span{}, false
	}
	if v < len(s) && startByte[s[v]] {
		if _, ok := matchAt(s, v); ok {
			return Span{}, false
		}
	}
	if !looksRandom(val) {
		return Span{}, false
	}
	return Span{v, end, KindSecretValue}, true
}

// looksRandom reports whether v looks like a generated secret rather than
// a word, a number, a placeholder or a mask: 12 or more characters without
// spaces, of at least two character classes, with a Shannon entropy of at
// least 3 bits per character.
func looksRandom(v string) bool {
	if len(v) < 12 || strings.Contains(v, "${") || strings.HasPrefix(v, "***") || strings.HasPrefix(v, "[redacted") ||
		strings.HasPrefix(v, "<") || strings.HasPrefix(v, "$") {
		return false
	}
	var classes [4]bool
	var counts [256]int
	for k := 0; k < len(v); k++ {
		c := v[k]
		switch {
		case c <= ' ':
			return false
		case isLower(c):
			classes[0] = true
		case isUpper(c):
			classes[1] = true
		case isDigit(c):
			classes[2] = true
		default:
			classes[3] = true
		}
		counts[c]++
	}
	nc := 0
	for _, ok := range classes {
		if ok {
			nc++
		}
	}
	if nc < 2 {
		return false
	}
	h, n := 0.0, float64(len(v))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h >= 3
}
