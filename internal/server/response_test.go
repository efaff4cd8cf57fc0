package server

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tokex/tokex/api"
)

// TestTokenResponseJSON holds tokenResponseJSON to what encoding/json writes:
// the same bytes for plain values (so a field added to api.TokenResponse and
// not here fails), the same JSON for values that need escapes.
func TestTokenResponseJSON(t *testing.T) {
	for _, tc := range []struct {
		r     api.TokenResponse
		exact bool
	}{
		{api.TokenResponse{AccessToken: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", IssuedTokenType: api.TokenTypeAccessToken, TokenType: "Bearer", ExpiresIn: 300, Scope: "orders.read"}, true},
		{api.TokenResponse{}, true},
		{api.TokenResponse{AccessToken: "a.b.c", IssuedTokenType: "a\"b", Scope: "<&>", TokenType: "\xff", ExpiresIn: -1}, false},
	} {
		got := tokenResponseJSON(&tc.r)
		want, err := json.Marshal(tc.r)
		if err != nil {
			t.Fatal(err)
		}
		if tc.exact && string(got) != string(want) {
			t.Errorf("tokenResponseJSON:\n  %s\nencoding/json:\n  %s", got, want)
		}
		var g, w map[string]any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("invalid JSON %s: %v", got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("reads back as %v, encoding/json's as %v", g, w)
		}
	}
}
