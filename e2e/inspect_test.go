package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokex/tokex/internal/testidp"
)

// TestInspectBinary: `tokex inspect` of the built binary reads a token from
// stdin, an argument or a file, prints text or JSON, exits 0 (would be
// accepted), 1 (refused) or 2 (not a token, usage), checks the signature with
// --verify against a real IdP's discovery and JWKS, and never prints the token.
func TestInspectBinary(t *testing.T) {
	p := testidp.New(t)
	good := p.Sign(p.Claims("alice", audInventory))
	foreign := p.Sign(p.Claims("alice", audInventory), testidp.Foreign())
	idToken := p.Sign(map[string]any{"iss": p.Issuer(), "sub": "alice", "aud": "web-app", "azp": "web-app", "nonce": "n-1", "exp": 4102444800})
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		stdin     string
		args      []string
		wantCode  int
		wantOut   []string
		wantErr   string
		wantJSON  map[string]any // top-level members of the --json output
		wantFetch bool           // the IdP's keys were fetched
	}{
		{name: "stdin, accepted", stdin: good + "\n", args: []string{"inspect", "--issuer", p.Issuer(), "--audience", audInventory}, wantCode: 0,
			wantOut: []string{"access token", "issuer    " + p.Issuer(), "verdict: accepted", "not checked: signature (give --verify)"}},
		{name: "dash is stdin, flags after the token", stdin: good, args: []string{"inspect", "-", "--audience", "https://other.example.com"}, wantCode: 1,
			wantOut: []string{"FAIL  audience", "a token for another resource", "verdict: refused: audience would fail"}},
		{name: "@file", args: []string{"inspect", "--audience", audInventory, "@" + file}, wantCode: 0, wantOut: []string{"verdict: accepted"}},
		{name: "json, ID token refused", args: []string{"inspect", "--json", "--audience", audInventory, idToken}, wantCode: 1,
			wantJSON: map[string]any{"kind": "id_token", "verdict": "refused", "subject": "alice"},
			wantOut:  []string{`"name": "kind"`, `this is an ID token for client \"web-app\"`}},
		{name: "verify, good signature", args: []string{"inspect", "--verify", "--json", good}, wantCode: 0, wantFetch: true,
			wantJSON: map[string]any{"verdict": "accepted"}, wantOut: []string{`"name": "signature"`, `"ok": true`}},
		{name: "verify, foreign key", args: []string{"inspect", "--verify", "--issuer", p.Issuer(), foreign}, wantCode: 1, wantFetch: true,
			wantOut: []string{"FAIL  signature", "is not among the 2 keys", "verdict: refused: signature would fail"}},
		{name: "opaque", args: []string{"inspect", "not-a-jwt"}, wantCode: 2, wantOut: []string{"opaque: not a JWT", "verdict: not a token"}},
		{name: "opaque json", args: []string{"inspect", "--json", "not-a-jwt"}, wantCode: 2, wantJSON: map[string]any{"kind": "opaque", "verdict": "not_a_token"}},
		{name: "empty stdin", args: []string{"inspect"}, wantCode: 2, wantErr: "no token read"},
		{name: "two tokens", args: []string{"inspect", good, good}, wantCode: 2, wantErr: "usage: tokex inspect"},
		{name: "bad flag", args: []string{"inspect", "--nope"}, wantCode: 2, wantErr: "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := p.JWKSFetches()
			code, out, errOut := runCommand(t, tc.stdin, tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tc.wantJSON != nil {
				var got map[string]any
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("--json output: %v\n%s", err, out)
				}
				for k, v := range tc.wantJSON {
					if got[k] != v {
						t.Errorf("%s = %v, want %v", k, got[k], v)
					}
				}
			}
			if fetched := p.JWKSFetches() > before; fetched != tc.wantFetch {
				t.Errorf("keys fetched: %v, want %v", fetched, tc.wantFetch)
			}
			for _, tok := range []string{good, foreign, idToken} {
				if sig := tok[strings.LastIndex(tok, ".")+1:]; strings.Contains(out+errOut, sig) {
					t.Error("the output holds a token's signature")
				}
			}
		})
	}
}
