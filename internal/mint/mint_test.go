package mint_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/mint"
)

// TestMintExtraClaims: mapped claims are added to the RFC 9068 claims, which
// stay as tokex set them; Preview shows the same claims without signing.
func TestMintExtraClaims(t *testing.T) {
	ks, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	var set atomic.Pointer[keys.Set]
	set.Store(ks)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := mint.New("https://sts.example.com", &set, func() time.Time { return now })
	tests := []struct {
		name  string
		extra map[string]any
		act   *mint.Act
	}{
		{name: "none"},
		{name: "mapped", extra: map[string]any{"tenant": "t1", "roles": []any{"a"}, "admin": true, "n": 2.5, "profile": map[string]any{"dept": "ops"}}},
		{name: "mapped and delegated", extra: map[string]any{"tenant": "t1"},
			act: &mint.Act{Sub: "svc-a", Iss: "https://idp.example.com", Act: &mint.Act{Sub: "svc-b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := mint.Input{Subject: "alice", ClientID: "orders", Audience: "https://inventory.example.com", Scopes: []string{"a", "b"}, Expiry: now.Add(time.Minute), Extra: tc.extra, Act: tc.act}
			tok, err := m.Mint(in)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok.Raw, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatalf("claims are not one JSON object: %v\n%s", err, payload)
			}
			want := map[string]any{"iss": "https://sts.example.com", "sub": "alice", "aud": "https://inventory.example.com",
				"client_id": "orders", "scope": "a b", "jti": tok.JTI,
				"exp": float64(now.Unix() + 60), "iat": float64(now.Unix()), "nbf": float64(now.Unix())}
			for k, v := range tc.extra {
				want[k] = v
			}
			if tc.act != nil {
				want["act"] = map[string]any{"sub": "svc-a", "iss": "https://idp.example.com", "act": map[string]any{"sub": "svc-b"}}
			}
			if len(got) != len(want) {
				t.Errorf("claims = %v, want %v", got, want)
			}
			for k, v := range want {
				if b, _ := json.Marshal(got[k]); string(b) != mustJSON(t, v) {
					t.Errorf("claim %s = %s, want %s", k, b, mustJSON(t, v))
				}
			}
			prev, err := m.Preview(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(prev) != len(want) || prev["jti"] != "<random>" || prev["sub"] != "alice" {
				t.Errorf("Preview = %v", prev)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
