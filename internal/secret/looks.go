package secret

import "strings"

// LooksSecretKey reports whether a JSON object key names a secret, so that
// its value should be hidden: token, access_token, api_key, apikey, secret,
// client_secret, password, passwd, passphrase, authorization, cookie,
// private_key, credential(s), jwt. Keys are split into words at '_', '-',
// '.', spaces and camelCase boundaries and compared case-insensitively, so
// "githubToken", "X-Api-Key", "DB_PASSWORD" and "Set-Cookie" all count.
//
// The secret word must be the last word of the key (the noun the key is
// about), optionally followed by a word such as "value", "hash" or
// "header". That keeps keys that merely mention a secret out:
// "tokens_used", "max_tokens", "token_count", "secret_name",
// "password_file", "private_key_path" and "aws_access_key_id" are not
// secrets. Plural "tokens" counts only as "access_tokens" and the like,
// since alone it usually counts model tokens, and pagination tokens
// ("nextToken", "page_token", "continuation_token") are not secrets.
func LooksSecretKey(key string) bool {
	var buf [16]string
	words := splitKey(buf[:0], asciiLower(key), key)
	n := len(words)
	for n > 1 && isTrailingWord(words[n-1]) {
		n--
	}
	if n == 0 {
		return false
	}
	head, prev := words[n-1], ""
	if n > 1 {
		prev = words[n-2]
	}
	switch head {
	case "token":
		return !isNonSecretTokenKind(prev)
	case "secret", "secrets", "password", "passwords", "passwd", "passphrase", "authorization",
		"cookie", "cookies", "credential", "credentials", "jwt", "bearer",
		"apikey", "apikeys", "apitoken", "accesstoken", "authtoken", "refreshtoken", "idtoken",
		"privatekey", "secretkey", "clientsecret":
		return true
	case "key", "keys":
		switch prev {
		case "api", "private", "secret", "access", "signing", "encryption", "master", "client", "auth", "session":
			return true
		}
	case "tokens":
		switch prev {
		case "access", "auth", "refresh", "bearer", "api", "id", "session", "oauth":
			return true
		}
	}
	return false
}

// isTrailingWord reports whether w may follow the secret word of a key
// without changing what the value is: "password_hash", "token_value".
func isTrailingWord(w string) bool {
	switch w {
	case "value", "val", "confirmation", "confirm", "plain", "plaintext", "raw", "b64", "base64",
		"hash", "hashed", "str", "string", "header", "enc", "encrypted", "base":
		return true
	}
	return false
}

// isNonSecretTokenKind reports whether "<w> token" names a token that
// grants nothing: a page cursor or a counter.
func isNonSecretTokenKind(w string) bool {
	switch w {
	case "next", "page", "pagination", "continuation", "cursor", "sync", "resume", "prev", "previous",
		"idempotency", "cancellation", "max", "total":
		return true
	}
	return false
}

// splitKey appends the words of key to dst: runs of letters and digits,
// split at camelCase boundaries ("githubToken", "APIKey", "OAuth2Token").
// lower is key with ASCII letters lowercased; the words are taken from it.
func splitKey(dst []string, lower, key string) []string {
	start := -1
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !isWordChar(c) {
			if start >= 0 {
				dst = append(dst, lower[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		p := key[i-1]
		if isUpper(c) && (isLower(p) || isDigit(p) || isUpper(p) && i+1 < len(key) && isLower(key[i+1])) {
			dst = append(dst, lower[start:i])
			start = i
		}
	}
	if start >= 0 {
		dst = append(dst, lower[start:])
	}
	return dst
}

func isWordChar(c byte) bool { return isLower(c) || isUpper(c) || isDigit(c) || c >= 0x80 }
func isLower(c byte) bool    { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool    { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool    { return '0' <= c && c <= '9' }

// asciiLower lowercases the ASCII letters of s, keeping every byte where it
// is; it allocates only if s has an upper-case ASCII letter.
func asciiLower(s string) string {
	i := 0
	for i < len(s) && !isUpper(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if isUpper(b[i]) {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

// LooksSecretValue reports whether a string holds a credential anywhere in
// it: whether Find finds anything (see Find and the Kind constants).
func LooksSecretValue(v string) bool {
	return len(v) >= 8 && len(Find(v)) > 0
}

func isLetterRune(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// run returns how many bytes at the start of s satisfy ok.
func run(s string, ok func(byte) bool) int {
	n := 0
	for n < len(s) && ok(s[n]) {
		n++
	}
	return n
}

// mixed reports whether s has both a letter and a digit.
func mixed(s string) bool {
	return strings.ContainsAny(s, "0123456789") &&
		strings.ContainsFunc(s, isLetterRune)
}

func isAlnum(c byte) bool         { return isLower(c) || isUpper(c) || isDigit(c) }
func isTokenChar(c byte) bool     { return isAlnum(c) || c == '_' }
func isDashTokenChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }
func isBase64URLChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }
func isCredChar(c byte) bool      { return isBase64URLChar(c) || strings.IndexByte(".~+/=", c) >= 0 }
