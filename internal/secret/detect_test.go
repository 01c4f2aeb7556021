package secret

import (
	"slices"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----"
	tests := []struct {
		name string
		in   string
		kind Kind
		span string // the text the span covers
	}{
		{"AWS", "aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE now", KindAWSAccessKey, "AKIAIOSFODNN7EXAMPLE"},
		{"AWSSession", "key=ASIAIOSFODNN7EXAMPLE;", KindAWSAccessKey, "ASIAIOSFODNN7EXAMPLE"},
		{"PEM", "key:\n" + pem + "\nthat was it", KindPrivateKey, pem},
		{"PEMInJSONString", `{"k":"-----BEGIN PRIVATE KEY-----\nMIIabc\n-----END PRIVATE KEY-----"}`, KindPrivateKey, `-----BEGIN PRIVATE KEY-----\nMIIabc\n-----END PRIVATE KEY-----`},
		{"PEMUnterminated", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA", KindPrivateKey, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA"},
		{"GitHub", "token: ghp_0123456789abcdefghijABCDEFGHIJ0123 (expires)", KindGitHubToken, "ghp_0123456789abcdefghijABCDEFGHIJ0123"},
		{"GitHubPAT", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", KindGitHubToken, "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"},
		{"Slack", "use xoxb-123456789012-1234567890123-abcdefghij.", KindSlackToken, "xoxb-123456789012-1234567890123-abcdefghij"},
		{"StripeLive", "STRIPE=sk_live_51HxYzAbCdEf", KindStripeKey, "sk_live_51HxYzAbCdEf"},
		{"StripeRestricted", "rk_test_abcdefghij12", KindStripeKey, "rk_test_abcdefghij12"},
		{"OpenAI", `"sk-proj-Abc123Def456Ghi789Jkl012"`, KindAPIKey, "sk-proj-Abc123Def456Ghi789Jkl012"},
		{"OpenAIProjectLetters", "k=sk-proj-abcdefghijklmnopqrstuv", KindAPIKey, "sk-proj-abcdefghijklmnopqrstuv"},
		{"Anthropic", "x-api-key: sk-ant-api03-abcDEF123456789012345678", KindAPIKey, "sk-ant-api03-abcDEF123456789012345678"},
		{"JWT", "id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl end", KindJWT, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"},
		{"Bearer", "Authorization: Bearer 4f9a2c0e-1b7d", KindAuthHeader, "4f9a2c0e-1b7d"},
		{"BearerWhole", "Bearer xyz", KindAuthHeader, "xyz"},
		{"Basic", "Authorization: Basic dXNlcjpwYXNz\r\n", KindAuthHeader, "dXNlcjpwYXNz"},
		{"BasicLower", "basic YWxhZGRpbjpvcGVuc2VzYW1l", KindAuthHeader, "YWxhZGRpbjpvcGVuc2VzYW1l"},
		{"URLPassword", "DATABASE_URL=postgres://app:s3cr3t-pw@db.internal:5432/app", KindURLPassword, "s3cr3t-pw"},
		{"URLPasswordHTTPS", "clone https://bob:hunter2@git.example.com/x.git", KindURLPassword, "hunter2"},
		{"Visa", "card 4111 1111 1111 1111 exp 12/29", KindCardNumber, "4111 1111 1111 1111"},
		{"VisaPlain", "4111111111111111", KindCardNumber, "4111111111111111"},
		{"Mastercard", "5555-5555-5555-4444", KindCardNumber, "5555-5555-5555-4444"},
		{"Amex", "amex:378282246310005.", KindCardNumber, "378282246310005"},
		{"EnvAssignment", "export API_KEY=Zx9fQ2mLp8Rt4vWk7Hs", KindSecretValue, "Zx9fQ2mLp8Rt4vWk7Hs"},
		{"JSONKey", `{"client_secret": "a8f3Kd92mZq0Lx7Pw4Rt"}`, KindSecretValue, "a8f3Kd92mZq0Lx7Pw4Rt"},
		{"EscapedJSONKey", `{\"passphrase\":\"q7W!x2Lp9#Zm4Rt8\"}`, KindSecretValue, "q7W!x2Lp9#Zm4Rt8"},
		{"QueryParam", "GET /v1?access_token=9fK2xLq8Zp3mW7rT&page=2", KindSecretValue, "9fK2xLq8Zp3mW7rT"},
		{"YAML", "password: Tr0ub4dor!3xyzQ\n", KindSecretValue, "Tr0ub4dor!3xyzQ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans := Find(tt.in)
			if len(spans) != 1 {
				t.Fatalf("Find(%q) = %v, want one %s span", tt.in, spans, tt.kind)
			}
			sp := spans[0]
			if sp.Kind != tt.kind || tt.in[sp.Start:sp.End] != tt.span {
				t.Fatalf("Find(%q) = %s %q, want %s %q", tt.in, sp.Kind, tt.in[sp.Start:sp.End], tt.kind, tt.span)
			}
			if !LooksSecretValue(tt.in) {
				t.Errorf("LooksSecretValue(%q) = false", tt.in)
			}
		})
	}
}

func TestFind_Negatives(t *testing.T) {
	for _, in := range []string{
		"", "hello world",
		`{"token_count": 12345, "max_tokens": 4096}`,
		`{"next_token": "eW91IGFyZSBub3QgYSBzZWNyZXQ9", "page_token": "Q2hBS0VnZ0lBUkFBR0FBZ0FBPT0K"}`,
		"max_tokens=4096 token_count=17",
		"nextToken=AAAAAgKdj3k9sl2mf8aZQ1", "page_token=CiAKGjBpNDd2Nmp2Zml2cXRtcGI0bmJ2ZXZ0cXAQAA",
		"order 4111111111111112 shipped", // 16 digits, fails Luhn
		"order number 1234567890123456",  // 16 digits, no issuer, fails Luhn
		"123e4567-e89b-12d3-a456-426614174000",
		"commit 3f786850e387550fdab836ed7e6dc881de23001b",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"1733572882123456789", // a timestamp in nanoseconds
		"3.14159265358979323846",
		"use Bearer authentication for the API", "Bearer token or API key", "Basic plan", "Basic dXNlcnBhc3M=",
		"ghp_short", "a ghp_ prefix", "sk-learn-tutorial-for-beginners-and-more", "ask_live_abcdefghijklmn",
		"AKIAIOSFODNN7EXAMPLEX", "BAKIAIOSFODNN7EXAMPLE", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi",
		"-----BEGIN CERTIFICATE-----", "-----BEGIN PUBLIC KEY-----",
		"https://api.github.com/repos/octo/hello/issues?per_page=100",
		"mailto:bob@example.com", "ssh git@github.com:octo/hello.git", "https://bob@example.com/",
		"postgres://app:${env:DB_PASSWORD}@db/app", "postgres://app:***@db/app",
		"password: hunter2", `{"password": "changeme"}`, "secret_name=prod-db-password",
		`{"api_key": "${env:OPENAI_API_KEY}"}`, "token: <your token here>",
	} {
		if spans := Find(in); spans != nil {
			t.Errorf("Find(%q) = %v (%q), want none", in, spans, in[spans[0].Start:spans[0].End])
		}
	}
}

func TestFind_Several(t *testing.T) {
	in := "a=AKIAIOSFODNN7EXAMPLE b=ghp_0123456789abcdefghijABCDEFGHIJ0123 card=4111111111111111 Bearer xoxb-123456789012-abcdefghij"
	spans := Find(in)
	want := []Kind{KindAWSAccessKey, KindGitHubToken, KindCardNumber, KindAuthHeader}
	var got []Kind
	for i, sp := range spans {
		got = append(got, sp.Kind)
		if i > 0 && sp.Start < spans[i-1].End {
			t.Errorf("spans overlap: %v", spans)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	if k := Kinds(spans); !slices.IsSorted(k) || len(k) != 4 {
		t.Errorf("Kinds = %v", k)
	}
	out := Replace(in, spans, Label)
	for _, sp := range spans {
		if strings.Contains(out, in[sp.Start:sp.End]) {
			t.Errorf("Replace left %q in %q", in[sp.Start:sp.End], out)
		}
	}
	if wantOut := "a=[redacted:aws_access_key] b=[redacted:github_token] card=[redacted:card_number] Bearer [redacted:auth_header]"; out != wantOut {
		t.Errorf("Replace = %q\nwant %q", out, wantOut)
	}
	if again := Find(out); again != nil {
		t.Errorf("Find on redacted text = %v", again)
	}
}

func TestLuhn(t *testing.T) {
	for s, want := range map[string]bool{
		"4111111111111111": true, "4111111111111112": false, "378282246310005": true,
		"6011111111111117": true, "79927398713": true, "79927398710": false,
	} {
		if got := luhn([]byte(s)); got != want {
			t.Errorf("luhn(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestMergeKinds(t *testing.T) {
	got := MergeKinds([]Kind{KindJWT}, []Kind{KindAPIKey, KindJWT})
	if !slices.Equal(got, []Kind{KindAPIKey, KindJWT}) {
		t.Fatalf("MergeKinds = %v", got)
	}
}

// BenchmarkFind measures the detector on text without secrets (the common
// case, where Find is pure cost) and with a few.
func BenchmarkFind(b *testing.B) {
	clean := strings.Repeat(`{"id": 12345, "name": "example-repository", "description": "A project that does things", "url": "https://github.com/octo/example"}, `, 8000)
	dirty := clean + `{"token": "ghp_0123456789abcdefghijABCDEFGHIJ0123"}`
	for _, c := range []struct {
		name string
		s    string
	}{{"Clean", clean}, {"Dirty", dirty}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.s)))
			b.ReportAllocs()
			for b.Loop() {
				Find(c.s)
			}
		})
	}
}
