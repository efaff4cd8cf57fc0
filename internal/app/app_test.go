package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/MicahParks/jwkset"
	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/app"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func jwks(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgES256, KID: "k1"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// policyDoc is a policy whose clients are given by clients (YAML list items)
// and whose rule admits ids; extra is appended at the top level.
func policyDoc(clients, ids, extra string) string {
	return `issuer: https://sts.example.com
issuers:
  - name: corp
    issuer_url: https://idp.example.com
    jwks_uri: https://127.0.0.1:1/jwks
clients:
` + clients + `rules:
  - name: r
    clients: [` + ids + `]
    issuers: [corp]
    audience: https://api.example.com
    scopes: [a]
` + extra
}

// TestReadiness: /readyz names the store; a replica whose store is down is
// not ready only when no exchange of its policy could be answered without it.
func TestReadiness(t *testing.T) {
	sum := sha256.Sum256([]byte("secret"))
	secretClient := "  - id: orders\n    secret_sha256: \"" + hex.EncodeToString(sum[:]) + "\"\n"
	signerClient := "  - id: signer\n    auth: private_key_jwt\n    jwks: " + jwks(t) + "\n"
	limits := "rate_limits:\n  client: {per_second: 10}\n"
	tests := []struct {
		name       string
		doc        string
		failClosed bool
		readyDown  bool // ready with the store down
		needs      int  // what NeedsSharedState names
	}{
		{name: "secret clients only", doc: policyDoc(secretClient, "orders", ""), readyDown: true},
		{name: "private_key_jwt only: every exchange needs a replay check", doc: policyDoc(signerClient, "signer", ""), readyDown: false, needs: 1},
		{name: "private_key_jwt and secret clients", doc: policyDoc(secretClient+signerClient, "orders, signer", ""), readyDown: true, needs: 1},
		{name: "rate limits failing open", doc: policyDoc(secretClient, "orders", limits), readyDown: true, needs: 1},
		{name: "rate limits failing closed", doc: policyDoc(secretClient, "orders", limits), failClosed: true, readyDown: false, needs: 1},
	}
	srv := redistest.Start(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := config.ParsePolicy([]byte(tc.doc), "", config.Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(app.NeedsSharedState(p)); n != tc.needs {
				t.Errorf("NeedsSharedState = %q, want %d items", app.NeedsSharedState(p), tc.needs)
			}
			compiled, err := policy.Compile(p)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := keys.Generate(keys.ES256)
			if err != nil {
				t.Fatal(err)
			}
			srv.Start()
			a := app.New(app.Options{Policy: compiled, Keys: ks, Logger: slog.New(slog.DiscardHandler),
				Store: srv.Store(t), RateLimitFailClosed: tc.failClosed})
			defer a.Close()
			if ok, checks := a.Ready(); !ok || checks["store"] != "ok" {
				t.Errorf("store up: ready=%v checks=%v", ok, checks)
			}
			srv.Stop()
			ok, checks := a.Ready()
			if ok != tc.readyDown || !strings.HasPrefix(checks["store"], "unreachable") {
				t.Errorf("store down: ready=%v checks=%v, want ready=%v and store unreachable", ok, checks, tc.readyDown)
			}
		})
	}
}
