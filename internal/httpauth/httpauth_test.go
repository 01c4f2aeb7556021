package httpauth

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func TestCheckOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, host string
		origins    []string
		tls        bool
		ok         bool
	}{
		{"NoOrigin", "127.0.0.1:8080", nil, false, true},
		{"Same", "127.0.0.1:8080", []string{"http://127.0.0.1:8080"}, false, true},
		{"SameHTTPSBehindProxy", "proxy.example.com", []string{"https://proxy.example.com"}, false, true},
		{"SameHostCase", "MyHost.lan:8080", []string{"http://myhost.lan:8080"}, false, true},
		{"SameDefaultPort", "example.com", []string{"http://example.com"}, false, true},
		{"SameExplicitDefaultPort", "example.com:80", []string{"http://example.com"}, false, true},
		{"LocalhostAlias", "127.0.0.1:8080", []string{"http://localhost:8080"}, false, true},
		{"LoopbackAlias", "localhost:8080", []string{"http://127.0.0.1:8080"}, false, true},
		{"IPv6Alias", "localhost:8080", []string{"http://[::1]:8080"}, false, true},
		{"IPv6Same", "[::1]:8080", []string{"http://[::1]:8080"}, false, true},
		{"OtherSite", "127.0.0.1:8080", []string{"http://evil.example.com"}, false, false},
		{"OtherPort", "127.0.0.1:8080", []string{"http://127.0.0.1:3000"}, false, false},
		{"AliasOtherPort", "127.0.0.1:8080", []string{"http://localhost:3000"}, false, false},
		{"AliasNeedsHTTP", "127.0.0.1:8080", []string{"https://localhost:8080"}, false, false},
		{"Null", "127.0.0.1:8080", []string{"null"}, false, false},
		{"File", "127.0.0.1:8080", []string{"file://"}, false, false},
		{"Extension", "127.0.0.1:8080", []string{"chrome-extension://abcdef"}, false, false},
		{"NotAURL", "127.0.0.1:8080", []string{"%%%"}, false, false},
		{"WithUser", "127.0.0.1:8080", []string{"http://u@127.0.0.1:8080"}, false, false},
		{"SecondIsForeign", "127.0.0.1:8080", []string{"http://127.0.0.1:8080", "http://evil.example.com"}, false, false},
		{"Suffix", "example.com", []string{"http://example.com.evil.net"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/status", nil)
			r.Host = tc.host
			for _, o := range tc.origins {
				r.Header.Add("Origin", o)
			}
			err := CheckOrigin(r)
			switch {
			case tc.ok && err != nil:
				t.Errorf("refused: %v", err)
			case !tc.ok && err == nil:
				t.Errorf("allowed %v for Host %s", tc.origins, tc.host)
			case !tc.ok && (mcpproxy.ErrorCode(err) != mcpproxy.EFORBIDDEN || !strings.HasPrefix(err.Error(), "cross-origin request from ")):
				t.Errorf("err = %s %v", mcpproxy.ErrorCode(err), err)
			}
		})
	}
}
