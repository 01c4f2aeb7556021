package scan

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// prepared is one string made ready for phrase matching.
type prepared struct {
	orig string
	// norm is orig with ASCII lowercased, invisible characters dropped (so
	// that "ig\u200bnore" still reads "ignore"), Unicode spaces turned
	// into ' ', typographic quotes into ASCII ones and fullwidth ASCII
	// into ASCII.
	norm string
	// offs maps each byte of norm to the byte of orig it came from; nil
	// when the two align byte for byte.
	offs []int32
	// keys has the bits of the keywords norm contains (see keywordSet).
	keys uint64
}

// prepare builds the prepared form of s. ASCII text that is already lower
// case is used as is; other ASCII text costs one copy.
func prepare(s string) prepared {
	upper, ascii := false, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if ascii {
		if !upper {
			return prepared{orig: s, norm: s}
		}
		b := []byte(s)
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return prepared{orig: s, norm: string(b)}
	}

	b := make([]byte, 0, len(s))
	offs := make([]int32, 0, len(s)+1)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r < utf8.RuneSelf:
			c := byte(r)
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
			offs = append(offs, int32(i))
		case isInvisible(r):
		case r == '\u2018' || r == '\u2019' || r == '\u201B' || r == '\u2032':
			b = append(b, '\'')
			offs = append(offs, int32(i))
		case r == '\u201C' || r == '\u201D' || r == '\u201E' || r == '\u2033':
			b = append(b, '"')
			offs = append(offs, int32(i))
		case unicode.IsSpace(r):
			b = append(b, ' ')
			offs = append(offs, int32(i))
		case r >= '\uFF01' && r <= '\uFF5E': // fullwidth ASCII
			c := byte(r - 0xFEE0)
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
			offs = append(offs, int32(i))
		default:
			for k := range size {
				b = append(b, s[i+k])
				offs = append(offs, int32(i+k))
			}
		}
		i += size
	}
	offs = append(offs, int32(len(s)))
	return prepared{orig: s, norm: string(b), offs: offs}
}

// span returns the part of orig that norm[start:end] came from.
func (p *prepared) span(start, end int) string {
	if p.offs == nil {
		return p.orig[start:end]
	}
	if end <= start {
		return ""
	}
	from := int(p.offs[start])
	to := int(p.offs[end-1]) + 1
	for to < len(p.orig) && !utf8.RuneStart(p.orig[to]) {
		to++
	}
	return p.orig[from:to]
}

// maxExcerpt caps the runes of one excerpt.
const maxExcerpt = 60

// excerpt quotes s for a Detail: whitespace runs become one space,
// invisible and control characters are written as [U+200B], bytes that are
// not UTF-8 as [\xff], and text past maxExcerpt runes is cut with "…".
// The result is always valid UTF-8 with nothing hidden in it.
func excerpt(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	n, space := 0, false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && n > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= maxExcerpt {
			b.WriteString("…")
			break
		}
		n++
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`[\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i-1]), 16))
			b.WriteByte(']')
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case isInvisible(r) || !unicode.IsPrint(r):
			b.WriteByte('[')
			b.WriteString(codePoint(r))
			b.WriteByte(']')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// codePoint formats r as U+XXXX.
func codePoint(r rune) string {
	h := strings.ToUpper(strconv.FormatInt(int64(r), 16))
	for len(h) < 4 {
		h = "0" + h
	}
	return "U+" + h
}
