package scan

import "strings"

// keywordSet finds in one pass over a string which of a fixed set of
// literal keywords it contains. It is the gate in front of the regular
// expressions: a tool has dozens of short strings, and calling
// strings.Contains once per keyword per string would cost more than the
// rest of the scan.
//
// A keyword that starts with a letter is looked for only where a word
// starts, unless it is registered with midWord: "user" need not fire on
// "username", but "token" must fire on "accesstoken".
type keywordSet struct {
	byFirst [256][]keyword // keywords by first byte, looked for where a word starts
	inWord  [256][]keyword // keywords by first byte, looked for inside words
	bits    map[string]uint64
}

type keyword struct {
	s   string
	bit uint64
}

// mask registers words and returns the mask find reports when a string
// contains any of them at the start of a word.
func (k *keywordSet) mask(words ...string) uint64 { return k.register(false, words) }

// midWordMask is mask for words that count inside other words too.
func (k *keywordSet) midWordMask(words ...string) uint64 { return k.register(true, words) }

func (k *keywordSet) register(midWord bool, words []string) uint64 {
	if k.bits == nil {
		k.bits = make(map[string]uint64)
	}
	var m uint64
	for _, w := range words {
		bit, ok := k.bits[w]
		if !ok {
			if len(k.bits) == 64 {
				panic("scan: more than 64 keywords")
			}
			bit = 1 << len(k.bits)
			k.bits[w] = bit
			k.byFirst[w[0]] = append(k.byFirst[w[0]], keyword{w, bit})
			if midWord || !isAlnum(w[0]) {
				k.inWord[w[0]] = append(k.inWord[w[0]], keyword{w, bit})
			}
		}
		m |= bit
	}
	return m
}

// find returns the bits of the keywords s, a normalized (lower-case)
// string, contains.
func (k *keywordSet) find(s string) uint64 {
	var found uint64
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		table := &k.byFirst
		if inWord {
			table = &k.inWord
		}
		inWord = isAlnum(c)
		for _, w := range table[c] {
			if found&w.bit == 0 && strings.HasPrefix(s[i:], w.s) {
				found |= w.bit
			}
		}
	}
	return found
}
