package upstream

import (
	"encoding/json"
	"testing"
)

// leanText decodes a JSON string to what encoding/json makes of it, into
// a string of its own and in place.
func FuzzLeanText(f *testing.F) {
	for _, s := range []string{`""`, `"plain"`, `"a\nb\"c\\d\/e\bf\fg\rh\ti"`, `"\u00e9\u20AC\u0000"`, `"\ud834\udd1e"`, `"\ud800"`,
		`"é€𝄞"`, "\"\xff\xfe\"", `"\u12"`, `"\x"`, `null`, `"unterminated`, `"\u2028 <>&"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want string
		werr := json.Unmarshal(data, &want)
		var got struct {
			T leanText `json:"t"`
		}
		gerr := json.Unmarshal([]byte(`{"t":`+string(data)+`}`), &got)
		if (werr == nil) != (gerr == nil) && json.Valid(data) {
			t.Fatalf("%q: error %v, encoding/json %v", data, gerr, werr)
		}
		if werr != nil || gerr != nil {
			return
		}
		if s := got.T.decode(false); s != want {
			t.Errorf("%q: got %q, want %q", data, s, want)
		}
		if s := got.T.decode(true); s != want {
			t.Errorf("%q decoded in place: got %q, want %q", data, s, want)
		}
	})
}
