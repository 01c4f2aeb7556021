package scan

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// isInvisible reports whether r renders as nothing (or reorders the text
// around it) yet can carry meaning for a model: format characters, the
// supplementary variation selectors that can smuggle bytes, and the few
// letters that render blank.
func isInvisible(r rune) bool {
	switch {
	case r < 0xAD:
		return false
	case r >= 0x200B && r <= 0x200F, // zero-width space, joiners, LRM, RLM
		r >= 0x202A && r <= 0x202E,                         // bidi embeddings and overrides
		r >= 0x2060 && r <= 0x2064,                         // word joiner, invisible operators
		r >= 0x2066 && r <= 0x2069,                         // bidi isolates
		r == 0xFEFF,                                        // zero-width no-break space
		r >= 0xE0000 && r <= 0xE007F,                       // tag characters
		r >= 0xE0100 && r <= 0xE01EF,                       // variation selectors supplement
		r == 0x115F, r == 0x1160, r == 0x3164, r == 0xFFA0, // Hangul fillers
		r == 0x2800: // braille pattern blank
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

var invisibleNames = map[rune]string{
	0x00AD: "soft hyphen",
	0x061C: "arabic letter mark",
	0x180E: "mongolian vowel separator",
	0x200B: "zero width space",
	0x200C: "zero width non-joiner",
	0x200D: "zero width joiner",
	0x200E: "left-to-right mark",
	0x200F: "right-to-left mark",
	0x202A: "left-to-right embedding",
	0x202B: "right-to-left embedding",
	0x202C: "pop directional formatting",
	0x202D: "left-to-right override",
	0x202E: "right-to-left override",
	0x2060: "word joiner",
	0x2061: "function application",
	0x2062: "invisible times",
	0x2063: "invisible separator",
	0x2064: "invisible plus",
	0x2066: "left-to-right isolate",
	0x2067: "right-to-left isolate",
	0x2068: "first strong isolate",
	0x2069: "pop directional isolate",
	0xFEFF: "zero width no-break space",
	0x115F: "hangul choseong filler",
	0x1160: "hangul jungseong filler",
	0x3164: "hangul filler",
	0xFFA0: "halfwidth hangul filler",
	0x2800: "braille pattern blank",
}

// maxCodePoints caps the distinct code points listed for one string.
const maxCodePoints = 6

// invisible reports the invisible characters of s: each distinct code point
// with its count, in order of first appearance, and the ASCII text that tag
// characters spell, since that is usually a hidden instruction.
func (sc *scanner) invisible(s string) {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) {
		return
	}
	type seen struct {
		r rune
		n int
	}
	var (
		list    []seen
		tags    int
		tagText strings.Builder
	)
	for _, r := range s[i:] {
		if !isInvisible(r) {
			continue
		}
		if r >= 0xE0000 && r <= 0xE007F {
			tags++
			if r >= 0xE0020 && r <= 0xE007E && tagText.Len() <= maxExcerpt {
				tagText.WriteByte(byte(r - 0xE0000))
			}
			continue
		}
		found := false
		for k := range list {
			if list[k].r == r {
				list[k].n++
				found = true
				break
			}
		}
		if !found {
			list = append(list, seen{r, 1})
		}
	}
	if len(list) == 0 && tags == 0 {
		return
	}
	var b strings.Builder
	for k, e := range list {
		if k == maxCodePoints {
			b.WriteString(", and ")
			b.WriteString(strconv.Itoa(len(list) - maxCodePoints))
			b.WriteString(" other code points")
			break
		}
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(codePoint(e.r))
		if name, ok := invisibleNames[e.r]; ok {
			b.WriteString(" (" + name + ")")
		}
		b.WriteString(" ×")
		b.WriteString(strconv.Itoa(e.n))
	}
	if tags > 0 {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("U+E0000..U+E007F (tag characters) ×")
		b.WriteString(strconv.Itoa(tags))
		if tagText.Len() > 0 {
			b.WriteString(" spelling ")
			b.WriteString(excerpt(tagText.String()))
		}
	}
	sc.add(kInvisible, b.String())
}
