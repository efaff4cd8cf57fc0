package jsonenc_test

import (
	"encoding/json"
	"testing"

	"github.com/tokex/tokex/internal/jsonenc"
)

func TestString(t *testing.T) {
	for _, s := range []string{
		"", "plain", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "urn:ietf:params:oauth:token-type:access_token",
		`quote " and \ backslash`, "tab\tnewline\n\x00\x1f", "<script>&</script>", "héllo ☃ 😀",
		"\u2028\u2029", "invalid \xff\xfe utf-8", "cut mid-rune \xe2\x98",
	} {
		got := jsonenc.String(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("String(%q) = %s: not a JSON string: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s) // encoding/json's reading of s (U+FFFD for invalid UTF-8)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("String(%q) reads back as %q, encoding/json's as %q", s, back, wantBack)
		}
	}
}

func TestMember(t *testing.T) {
	b := []byte{'{'}
	b = jsonenc.Member(b, "a")
	b = jsonenc.Int(b, -42)
	b = jsonenc.Member(b, "b")
	b = jsonenc.String(b, "x")
	b = append(b, '}')
	if string(b) != `{"a":-42,"b":"x"}` {
		t.Errorf("got %s", b)
	}
}

func TestCompact(t *testing.T) {
	jws := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_"
	if got, want := string(jsonenc.Compact(nil, jws)), string(jsonenc.String(nil, jws)); got != want {
		t.Errorf("Compact = %s, String = %s", got, want)
	}
}
