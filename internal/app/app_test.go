package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/app"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/redistest"
	"github.com/tokex/tokex/internal/testidp"
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

// compile parses, validates and compiles a policy file's contents.
func compile(t *testing.T, doc string) *policy.Policy {
	t.Helper()
	p, err := config.ParsePolicy([]byte(doc), "", config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := policy.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
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
			compiled := compile(t, tc.doc)
			if n := len(app.NeedsSharedState(compiled.Source)); n != tc.needs {
				t.Errorf("NeedsSharedState = %q, want %d items", app.NeedsSharedState(compiled.Source), tc.needs)
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

// TestReloadWarnsOfSharedState: without a store, a reload that brings in
// something that needs one (here a private_key_jwt client) says so.
func TestReloadWarnsOfSharedState(t *testing.T) {
	sum := sha256.Sum256([]byte("secret"))
	secretClient := "  - id: orders\n    secret_sha256: \"" + hex.EncodeToString(sum[:]) + "\"\n"
	signerClient := "  - id: signer\n    auth: private_key_jwt\n    jwks: " + jwks(t) + "\n"
	ks, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testidp.SyncBuffer{} // issuer fetchers log from their own goroutines
	a := app.New(app.Options{Policy: compile(t, policyDoc(secretClient, "orders", "")), Keys: ks, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	defer a.Close()
	if err := a.SwapPolicy(context.Background(), compile(t, policyDoc(secretClient, "orders", "")), time.Second); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "shared state") {
		t.Errorf("warned for a policy that needs no shared state:\n%s", logs.String())
	}
	if err := a.SwapPolicy(context.Background(), compile(t, policyDoc(secretClient+signerClient, "orders, signer", "")), time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "reloaded policy needs shared state") || !strings.Contains(logs.String(), "private_key_jwt") {
		t.Errorf("no warning for a reload that adds a private_key_jwt client:\n%s", logs.String())
	}
}
