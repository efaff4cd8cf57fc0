package inspect

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goldenfile "github.com/tokex/tokex/internal/golden"
	"github.com/tokex/tokex/internal/testidp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixedNow is the clock of the fixtures and of Inspect, so goldens are stable.
var fixedNow = time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC)

const (
	tenant    = testidp.EntraTenant
	apiURI    = "api://inventory"
	apiClient = "9a3f1c2e-5b7d-4e8a-9c1f-2d3e4f5a6b7c"
	stsURL    = "https://sts.example.com"
)

func seg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestInspectGolden: the text and JSON reports of a token of each recognised
// IdP and of each kind. Refresh with
// go test ./internal/inspect -run TestInspectGolden -update.
func TestInspectGolden(t *testing.T) {
	p := testidp.New(t, testidp.WithClock(func() time.Time { return fixedNow }))
	kid := testidp.KID("fixture-key-1")
	sign := func(c map[string]any, opts ...testidp.SignOption) string {
		return p.Sign(c, append([]testidp.SignOption{kid}, opts...)...)
	}
	with := func(c map[string]any, kv ...any) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	v2Issuer := "https://login.microsoftonline.com/" + tenant + "/v2.0"
	v1Issuer := "https://sts.windows.net/" + tenant + "/"
	cognitoIss := "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
	tests := []struct {
		name  string
		token string
		opts  Options
	}{
		{name: "entra-v2-accepted", token: sign(p.EntraV2Access(tenant, apiClient)), opts: Options{Issuer: v2Issuer, Audience: apiClient}},
		{name: "entra-v1-issuer-is-invalid", token: sign(p.EntraV1Access(tenant, apiURI)), opts: Options{Issuer: v2Issuer, Audience: apiURI}},
		{name: "entra-v2-where-v1-expected", token: sign(p.EntraV2Access(tenant, apiClient)), opts: Options{Issuer: v1Issuer, Audience: apiClient}},
		{name: "entra-v2-app-id-uri-audience", token: sign(p.EntraV2Access(tenant, apiClient)), opts: Options{Issuer: v2Issuer, Audience: apiURI}},
		{name: "graph-invalid-signature", token: sign(p.EntraGraphAccess(tenant), testidp.Header("nonce", "AQABAAAAAAD")), opts: Options{Issuer: v2Issuer, Audience: apiURI}},
		{name: "entra-id-token-audience-is-invalid", token: sign(with(p.EntraV2Access(tenant, "6e74172b-be56-4843-9ff4-e66a39bb12e3"), "nonce", "n-0S6_WzA2Mj", "scp", nil, "roles", nil)), opts: Options{Issuer: v2Issuer, Audience: apiURI}},
		{name: "auth0", token: sign(p.Auth0Access("dev-acme.eu.auth0.com", "https://inventory.example.com")), opts: Options{Issuer: "https://dev-acme.eu.auth0.com/", Audience: "https://inventory.example.com"}},
		{name: "okta", token: sign(p.OktaAccess("https://acme.okta.com/oauth2/default", "api://default")), opts: Options{Audience: "api://default"}},
		{name: "cognito-access", token: sign(p.CognitoAccess("eu-west-1", "eu-west-1_AbCdEf123", "3n4b5urk1ft4fl3mg5e62d9ado")), opts: Options{Issuer: cognitoIss, Audience: "3n4b5urk1ft4fl3mg5e62d9ado"}},
		{name: "cognito-id", token: sign(p.CognitoID("eu-west-1", "eu-west-1_AbCdEf123", "3n4b5urk1ft4fl3mg5e62d9ado")), opts: Options{Issuer: cognitoIss, Audience: "3n4b5urk1ft4fl3mg5e62d9ado"}},
		{name: "google", token: sign(p.GoogleID("https://inventory.example.com", "deployer@acme.iam.gserviceaccount.com")), opts: Options{Audience: "https://inventory.example.com"}},
		{name: "github-actions", token: sign(p.GitHubActions("acme/inventory", "https://sts.example.com")), opts: Options{Issuer: "https://token.actions.githubusercontent.com", Audience: stsURL}},
		{name: "kubernetes-wrong-audience", token: sign(p.Kubernetes("https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE", "shop", "orders", "https://kubernetes.default.svc")), opts: Options{Audience: stsURL}},
		{name: "tokex-bound-delegated", token: sign(with(p.Claims("alice", "https://inventory.example.com"),
			"iss", stsURL, "client_id", "orders", "scope", "inventory.read", "jti", "j-1",
			"cnf", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
			"act", map[string]any{"sub": "orders-svc", "client_id": "orders", "act": map[string]any{"sub": "gateway"}}),
			testidp.Header("typ", "at+jwt")), opts: Options{Issuer: stsURL, Audience: "https://inventory.example.com"}},
		{name: "expired", token: sign(with(p.Claims("alice", "https://inventory.example.com"), "iss", "https://idp.example.com", "jti", "j-2", "scope", "a b", "exp", fixedNow.Add(-2*time.Hour-5*time.Minute).Unix())), opts: Options{}},
		{name: "unknown-issuer", token: sign(with(p.Claims("alice", "https://inventory.example.com"), "iss", "https://idp.example.com", "jti", "j-3", "scope", "a")), opts: Options{Issuer: v2Issuer}},
		{name: "dpop-proof", token: sign(map[string]any{"jti": "p-1", "htm": "POST", "htu": "https://sts.example.com/token", "iat": fixedNow.Unix()}, testidp.Header("typ", "dpop+jwt"), testidp.Alg(testidp.ES256))},
		{name: "txn-token", token: sign(with(p.Claims("alice", "trust-domain.example"), "iss", stsURL, "jti", "t-1", "txn", "97053963-771d-49cc-a4e3-20aad399c312", "scope", "orders.create"), testidp.Header("typ", "txntoken+jwt"))},
		{name: "id-jag", token: sign(with(p.Claims("alice", "https://as.wiki.example"), "iss", "https://idp.example.com", "jti", "g-1", "client_id", "wiki-app", "resource", "https://api.wiki.example"), testidp.Header("typ", "oauth-id-jag+jwt"))},
		{name: "jwe", token: seg(map[string]any{"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "enc-1"}) + ".a2V5.aXY.Y2lwaGVy.dGFn"},
		{name: "opaque", token: "ya29.a0AfB_byC-not-a-real-token"},
		{name: "malformed-padding", token: seg(map[string]any{"alg": "RS256", "typ": "JWT"}) + "." + base64.URLEncoding.EncodeToString([]byte(`{"iss":"https://idp.example.com","sub":"a","aud":"x","exp":1796403600}`)) + ".c2ln"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Now = func() time.Time { return fixedNow }
			r := Inspect(context.Background(), tc.token, tc.opts)
			var text bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			js, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			for _, out := range [][]byte{text.Bytes(), js} {
				if bytes.Contains(out, []byte(tc.token)) || bytes.Contains(out, []byte(strings.Split(tc.token, ".")[len(strings.Split(tc.token, "."))-1])) {
					t.Errorf("the report holds the token or its signature:\n%s", out)
				}
			}
			golden(t, filepath.Join("testdata", tc.name+".txt"), text.Bytes())
			golden(t, filepath.Join("testdata", tc.name+".json"), append(js, '\n'))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	goldenfile.Check(t, path, got, *update)
}
