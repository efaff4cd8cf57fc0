package mint

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestClaimsJSON holds appendJSON to what encoding/json writes for claims:
// the same bytes for plain values, the same JSON for values that need escapes.
func TestClaimsJSON(t *testing.T) {
	chain := &Act{Sub: "svc-b", Iss: "https://idp.example", Act: &Act{Sub: "svc-a"}}
	for _, tc := range []struct {
		name  string
		c     claims
		exact bool
	}{
		{"plain", claims{Iss: "https://sts.example", Sub: "alice", Aud: "https://orders.example", Exp: 1763703600, Iat: 1763700000, Nbf: 1763700000, Jti: "abc_-123", ClientID: "demo-client", Scope: "orders.read orders.write"}, true},
		{"empty strings and zero times", claims{}, true},
		{"negative time", claims{Exp: -1}, true},
		{"act chain", claims{Sub: "alice", Act: chain}, true},
		{"act without iss", claims{Sub: "alice", Act: &Act{Sub: "svc"}}, true},
		{"cnf jkt", claims{Sub: "alice", Cnf: &Cnf{JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}, true},
		{"cnf x5t#S256", claims{Sub: "alice", Cnf: &Cnf{X5T: "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}, true},
		{"cnf both, with act", claims{Sub: "alice", Act: chain, Cnf: &Cnf{JKT: "a", X5T: "b"}}, true},
		{"escapes", claims{Sub: "a\"b\\c\n<x>&", Aud: "héllo ☃", Scope: "\u2028", ClientID: "bad \xff utf-8", Act: &Act{Sub: "\t"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.c.appendJSON(nil)
			want, err := json.Marshal(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if tc.exact && string(got) != string(want) {
				t.Fatalf("appendJSON:\n  %s\nencoding/json:\n  %s", got, want)
			}
			var g, w map[string]any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("appendJSON wrote invalid JSON %s: %v", got, err)
			}
			_ = json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("appendJSON reads back as %v, encoding/json's as %v", g, w)
			}
		})
	}
}
