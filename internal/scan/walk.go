package scan

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// walkJSON calls visit for every object key and every string value of data,
// a valid JSON document, in document order. path is base followed by the
// dotted path of the value (for a key, the path of the value it names):
// input_schema.properties.path.description, enum[2], or
// properties["odd key"] for keys that are not plain names. path is reused
// between calls; visit must copy it to keep it.
//
// The walk reads the bytes directly instead of decoding into maps, which
// would cost an allocation per value and lose the document order. Strings
// are decoded as encoding/json decodes them. On invalid JSON the walk
// neither panics nor promises anything else; callers check json.Valid
// first.
func walkJSON(data, base string, visit func(path []byte, s string, isKey bool)) {
	type frame struct {
		pathLen int
		array   bool
		index   int
	}
	path := make([]byte, 0, 128)
	path = append(path, base...)
	var stack []frame
	expectKey := false
	for i := 0; i < len(data); {
		switch c := data[i]; c {
		case '{':
			stack = append(stack, frame{pathLen: len(path)})
			expectKey = true
			i++
		case '[':
			stack = append(stack, frame{pathLen: len(path), array: true})
			path = appendIndex(path, 0)
			expectKey = false
			i++
		case '}', ']':
			if len(stack) > 0 {
				path = path[:stack[len(stack)-1].pathLen]
				stack = stack[:len(stack)-1]
			}
			expectKey = false
			i++
		case ',':
			if len(stack) > 0 {
				top := &stack[len(stack)-1]
				path = path[:top.pathLen]
				if top.array {
					top.index++
					path = appendIndex(path, top.index)
				} else {
					expectKey = true
				}
			}
			i++
		case '"':
			s, end := readString(data, i)
			if expectKey && len(stack) > 0 {
				path = appendKey(path[:stack[len(stack)-1].pathLen], s)
				visit(path, s, true)
				expectKey = false
			} else {
				visit(path, s, false)
			}
			i = end
		default:
			i++
		}
	}
}

func appendIndex(path []byte, i int) []byte {
	path = append(path, '[')
	path = strconv.AppendInt(path, int64(i), 10)
	return append(path, ']')
}

// appendKey appends .key, or ["key"] when key is empty or has characters
// that would make the dotted path ambiguous or hide something.
func appendKey(path []byte, key string) []byte {
	plain := key != ""
	for i := 0; i < len(key) && plain; i++ {
		c := key[i]
		plain = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '$' || c == '@'
	}
	if plain {
		path = append(path, '.')
		return append(path, key...)
	}
	path = append(path, '[')
	path = strconv.AppendQuoteToASCII(path, key)
	return append(path, ']')
}

// readString returns the decoded JSON string starting at data[i] == '"'
// and the index just past its closing quote.
func readString(data string, i int) (string, int) {
	j := i + 1
	escaped := false
	for j < len(data) && data[j] != '"' {
		if data[j] == '\\' {
			escaped = true
			j++
		}
		j++
	}
	end := min(j+1, len(data))
	raw := data[i+1 : min(j, len(data))]
	if !escaped && utf8.ValidString(raw) {
		return raw, end
	}
	return unquote(raw), end
}

// unquote decodes the body of a JSON string the way encoding/json does:
// invalid UTF-8 bytes and unpaired surrogates become U+FFFD.
func unquote(raw string) string {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			r, size := utf8.DecodeRuneInString(raw[i:])
			b = utf8.AppendRune(b, r)
			i += size
			continue
		}
		if i+1 >= len(raw) {
			break
		}
		i += 2
		switch raw[i-1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(raw, i)
			if !ok {
				b = utf8.AppendRune(b, utf8.RuneError)
				continue
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(raw, i+2); ok && raw[i] == '\\' && raw[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
		default: // '"', '\\', '/'
			b = append(b, raw[i-1])
		}
	}
	return string(b)
}

// hex4 reads the four hex digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i < 0 || i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
