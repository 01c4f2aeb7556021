package secret

import "testing"

func TestLooksSecretKey(t *testing.T) {
	secret := []string{
		"token", "Token", "TOKEN", "access_token", "accessToken", "AccessToken", "githubToken",
		"GITHUB_PERSONAL_ACCESS_TOKEN", "x-auth-token", "id_token", "refresh_token", "csrf_token",
		"api_key", "apiKey", "APIKey", "apikey", "APIKEY", "X-Api-Key", "x-goog-api-key", "OPENAI_API_KEY",
		"secret", "client_secret", "clientSecret", "webhookSecret", "secrets",
		"password", "db_password", "DB_PASSWORD", "passwordConfirmation", "password_hash", "new-password",
		"passwd", "passphrase", "authorization", "Authorization", "Proxy-Authorization",
		"cookie", "Cookie", "Set-Cookie", "session_cookie", "cookies",
		"private_key", "privateKey", "PRIVATE_KEY", "secret_key", "AWS_SECRET_ACCESS_KEY", "secret_key_base",
		"signing_key", "encryption_key", "credential", "credentials", "googleCredentials",
		"jwt", "access_tokens", "oauth2Token", "OAuth2Token", "token.value", "api key",
	}
	notSecret := []string{
		"", "name", "path", "description", "tokens_used", "max_tokens", "maxTokens", "total_tokens",
		"input_tokens", "tokens", "token_count", "tokenCount", "token_type", "token_id", "tokenAddress",
		"nextToken", "NextToken", "next_page_token", "pageToken", "continuation_token", "cursor_token",
		"idempotency_token", "secret_name", "secretName", "secretArn", "password_file", "passwordPolicy",
		"private_key_path", "privateKeyFile", "aws_access_key_id", "AWS_ACCESS_KEY_ID", "api_key_id",
		"public_key", "publicKey", "key", "keys", "primary_key", "sort_key", "keyboard", "tokenizer",
		"passthrough", "secretary", "author", "authority", "auth_type", "credential_id", "cookie_name",
		"sessionId", "session_id", "pwd", "keyword", "monkey", "turkey",
	}
	for _, k := range secret {
		if !LooksSecretKey(k) {
			t.Errorf("LooksSecretKey(%q) = false, want true", k)
		}
	}
	for _, k := range notSecret {
		if LooksSecretKey(k) {
			t.Errorf("LooksSecretKey(%q) = true, want false", k)
		}
	}
}

func TestSplitKey(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"githubToken", []string{"github", "token"}},
		{"APIKey", []string{"api", "key"}},
		{"X-Api-Key", []string{"x", "api", "key"}},
		{"db_password", []string{"db", "password"}},
		{"OAuth2Token", []string{"o", "auth2", "token"}},
		{"HTTPServer", []string{"http", "server"}},
		{"a.b c", []string{"a", "b", "c"}},
		{"__x__", []string{"x"}},
		{"", nil},
	}
	for _, tt := range tests {
		got := splitKey(nil, asciiLower(tt.in), tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("splitKey(%q) = %q, want %q", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("splitKey(%q) = %q, want %q", tt.in, got, tt.want)
				break
			}
		}
	}
}

func TestLooksSecretValue(t *testing.T) {
	secret := []string{
		"Bearer xyz",
		"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
		"bearer abcdefgh",
		"Authorization: Bearer 4f9a2c0e-1b7d",
		"Basic dXNlcjpwYXNz",
		"Authorization: basic YWxhZGRpbjpvcGVuc2VzYW1l",
		"ghp_0123456789abcdefghijABCDEFGHIJ0123",
		"token: gho_0123456789abcdefghijABCDEFGHIJ0123 (expires soon)",
		"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789",
		"sk-proj-Abc123Def456Ghi789Jkl012",
		"sk-ant-api03-abcDEF123456789012345678",
		"sk_live_51HxYzAbCdEf",
		"rk_test_abcdefghij12",
		"xoxb-123456789012-1234567890123-abcdefghijklmnop",
		"xoxp-1234567890-abcdef",
		"AKIAIOSFODNN7EXAMPLE",
		"key=ASIAIOSFODNN7EXAMPLE;",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
		"-----BEGIN PRIVATE KEY-----\nMIIE...",
		"-----BEGIN RSA PRIVATE KEY-----",
		"-----BEGIN OPENSSH PRIVATE KEY-----",
		"-----BEGIN PGP PRIVATE KEY BLOCK-----",
	}
	notSecret := []string{
		"", "short", "hello world", "Bearer", "Bearer ", "use Bearer authentication for the API",
		"Bearer token or API key", "the bearer of bad news", "Basic plan",
		"Basic authentication", "Basic dXNlcnBhc3M=", // "userpass": no colon
		"ghp_short", "ghp_0123456789abcdefghij", "a ghp_ prefix",
		"risk-assessment-framework-for-2024-planning", "task-management-system-v2-0123456789",
		"sk-learn-tutorial-for-beginners-and-more", "ask_live_abcdefghijklmn",
		"AKIAIOSFODNN7EXAMPLEX", "AKIA-not-a-key-at-all", "BAKIAIOSFODNN7EXAMPLE",
		"eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi", "eyJ.x.y",
		"-----BEGIN CERTIFICATE-----", "-----BEGIN PUBLIC KEY-----",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"123e4567-e89b-12d3-a456-426614174000",
		"https://api.github.com/repos/octo/hello/issues?per_page=100",
	}
	for _, v := range secret {
		if !LooksSecretValue(v) {
			t.Errorf("LooksSecretValue(%q) = false, want true", v)
		}
	}
	for _, v := range notSecret {
		if LooksSecretValue(v) {
			t.Errorf("LooksSecretValue(%q) = true, want false", v)
		}
	}
}
