package deploy

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/app"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/keys"
	tokexpolicy "github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/testidp"
)

// exampleSecret is the client secret whose digest the examples carry.
const exampleSecret = "example-secret-change-me"

// TestExamplePolicies loads and validates each deploy/examples/<idp>.yaml, swaps
// the issuer's keys for a test IdP's, and runs exchanges with tokens shaped like
// that IdP's (internal/testidp/shapes.go): the documented token is accepted with
// the documented subject, and the IdP's trap is refused with invalid_request.
func TestExamplePolicies(t *testing.T) {
	const sts = "https://sts.example.com"
	type exchangeCase struct {
		name    string
		claims  func(idp *testidp.IdP) map[string]any
		sign    []testidp.SignOption
		typ     string
		client  string
		wantSub func(c map[string]any) string // "" = refused
		reason  string                        // the refusal's reason
		bearer  bool                          // the JWT bearer grant, no client credentials
	}
	entraAPI := "6e74172b-be56-4843-9ff4-e66a39bb12e3"
	tests := []struct {
		file  string
		cases []exchangeCase
	}{
		{file: "entra-id.yaml", cases: []exchangeCase{
			{name: "v2.0 access token", claims: func(p *testidp.IdP) map[string]any { return p.EntraV2Access(testidp.EntraTenant, entraAPI) },
				wantSub: func(c map[string]any) string { return "entra:" + c["oid"].(string) }},
			{name: "Graph token", claims: func(p *testidp.IdP) map[string]any { return p.EntraGraphAccess(testidp.EntraTenant) },
				sign: []testidp.SignOption{testidp.Header("nonce", "AbC")}, reason: "audience_not_accepted"},
			{name: "v1.0 token", claims: func(p *testidp.IdP) map[string]any { return p.EntraV1Access(testidp.EntraTenant, "api://tokex") }, reason: "untrusted_issuer"},
			{name: "another tenant", claims: func(p *testidp.IdP) map[string]any {
				return p.EntraV2Access("0a0b0c0d-0000-0000-0000-000000000000", entraAPI)
			}, reason: "untrusted_issuer"},
			{name: "without the app role", claims: func(p *testidp.IdP) map[string]any {
				c := p.EntraV2Access(testidp.EntraTenant, entraAPI)
				delete(c, "roles")
				return c
			}, reason: "claim_validation_failed"},
		}},
		{file: "auth0.yaml", cases: []exchangeCase{
			{name: "access token", claims: func(p *testidp.IdP) map[string]any { return p.Auth0Access("example.eu.auth0.com", sts) },
				wantSub: func(c map[string]any) string { return "auth0:" + c["sub"].(string) }},
			{name: "token for another API", claims: func(p *testidp.IdP) map[string]any {
				return p.Auth0Access("example.eu.auth0.com", "https://example.eu.auth0.com/api/v2/")
			}, reason: "audience_not_accepted"},
		}},
		{file: "okta.yaml", cases: []exchangeCase{
			{name: "access token", claims: func(p *testidp.IdP) map[string]any {
				return p.OktaAccess("https://example.okta.com/oauth2/default", "api://tokex")
			},
				wantSub: func(c map[string]any) string { return "okta:" + c["sub"].(string) }},
			{name: "default audience", claims: func(p *testidp.IdP) map[string]any {
				return p.OktaAccess("https://example.okta.com/oauth2/default", "api://default")
			}, reason: "audience_not_accepted"},
		}},
		{file: "cognito.yaml", cases: []exchangeCase{
			{name: "access token", claims: func(p *testidp.IdP) map[string]any {
				return p.CognitoAccess("eu-west-1", "eu-west-1_Example", "1example23456789")
			}, wantSub: func(c map[string]any) string { return "cognito:" + c["sub"].(string) }},
			{name: "ID token", claims: func(p *testidp.IdP) map[string]any {
				return p.CognitoID("eu-west-1", "eu-west-1_Example", "1example23456789")
			}, reason: "id_token_not_accepted"},
		}},
		{file: "google.yaml", cases: []exchangeCase{
			{name: "service account ID token", typ: api.TokenTypeIDToken, claims: func(p *testidp.IdP) map[string]any {
				return p.GoogleID(sts, "inventory@my-project.iam.gserviceaccount.com")
			}, wantSub: func(c map[string]any) string { return "google:inventory@my-project.iam.gserviceaccount.com" }},
			{name: "service account of another project", typ: api.TokenTypeIDToken, claims: func(p *testidp.IdP) map[string]any {
				return p.GoogleID(sts, "x@other-project.iam.gserviceaccount.com")
			}, reason: "claim_validation_failed"},
			{name: "sent as an access token", claims: func(p *testidp.IdP) map[string]any {
				return p.GoogleID(sts, "inventory@my-project.iam.gserviceaccount.com")
			}, reason: "token_type_not_accepted"},
		}},
		{file: "github-actions.yaml", cases: []exchangeCase{
			{name: "workflow of the organisation", typ: api.TokenTypeJWT, client: "deployer", claims: func(p *testidp.IdP) map[string]any {
				return p.GitHubActions("octo-org/inventory", sts)
			}, wantSub: func(c map[string]any) string { return "github:repo:octo-org/inventory:ref:refs/heads/main" }},
			{name: "workflow of another owner", typ: api.TokenTypeJWT, client: "deployer", claims: func(p *testidp.IdP) map[string]any {
				return p.GitHubActions("evil-org/inventory", sts)
			}, reason: "claim_validation_failed"},
			{name: "default audience", typ: api.TokenTypeJWT, client: "deployer", claims: func(p *testidp.IdP) map[string]any {
				return p.GitHubActions("octo-org/inventory", "https://github.com/octo-org")
			}, reason: "audience_not_accepted"},
		}},
		{file: "github-actions-jwt-bearer.yaml", cases: []exchangeCase{
			{name: "workflow of the repository, no client secret", bearer: true, claims: func(p *testidp.IdP) map[string]any {
				return p.GitHubActions("octo-org/inventory", sts)
			}, wantSub: func(c map[string]any) string { return "github:repo:octo-org/inventory:ref:refs/heads/main" }},
			{name: "the same token again", bearer: true, claims: func(p *testidp.IdP) map[string]any {
				return p.GitHubActions("octo-org/inventory", sts)
			}, reason: "assertion_replayed"},
			{name: "another repository of the owner", bearer: true, claims: func(p *testidp.IdP) map[string]any {
				return p.GitHubActions("octo-org/other", sts)
			}, reason: "claim_validation_failed"},
		}},
		{file: "kubernetes-jwt-bearer.yaml", cases: []exchangeCase{
			{name: "the service account, no client secret", bearer: true, claims: func(p *testidp.IdP) map[string]any {
				return p.Kubernetes("https://kubernetes.default.svc.cluster.local", "orders", "orders-api", sts)
			}, wantSub: func(c map[string]any) string { return "k8s:system:serviceaccount:orders:orders-api" }},
			{name: "another service account of the namespace", bearer: true, claims: func(p *testidp.IdP) map[string]any {
				return p.Kubernetes("https://kubernetes.default.svc.cluster.local", "orders", "default", sts)
			}, reason: "claim_validation_failed"},
		}},
		{file: "kubernetes.yaml", cases: []exchangeCase{
			{name: "service account of the namespace", typ: api.TokenTypeJWT, claims: func(p *testidp.IdP) map[string]any {
				return p.Kubernetes("https://kubernetes.default.svc.cluster.local", "orders", "orders-api", sts)
			}, wantSub: func(c map[string]any) string { return "k8s:system:serviceaccount:orders:orders-api" }},
			{name: "service account of another namespace", typ: api.TokenTypeJWT, claims: func(p *testidp.IdP) map[string]any {
				return p.Kubernetes("https://kubernetes.default.svc.cluster.local", "default", "default", sts)
			}, reason: "claim_validation_failed"},
		}},
	}
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) != len(tests) {
		t.Fatalf("examples/*.yaml = %v (%v); want one tested example per IdP (%d)", files, err, len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("examples", tt.file)
			src, err := config.LoadPolicyFile(path, config.Overrides{})
			if err != nil {
				t.Fatalf("the example does not load: %v", err)
			}
			if _, err := tokexpolicy.Compile(src); err != nil {
				t.Fatalf("the example does not compile: %v", err)
			}
			idp := testidp.New(t)
			svc := exampleService(t, src, idp)
			for _, c := range tt.cases {
				t.Run(c.name, func(t *testing.T) {
					claims := c.claims(idp)
					typ, cl := c.typ, c.client
					if typ == "" {
						typ = api.TokenTypeAccessToken
					}
					if cl == "" {
						cl = "orders"
					}
					req := exchange.Request{
						Form: api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: idp.Sign(claims, c.sign...),
							SubjectTokenType: typ, Audience: "https://inventory.example.com"},
						Credentials: client.Credentials{PostID: cl, PostSecret: exampleSecret},
					}
					wantCode := api.ErrInvalidRequest
					if c.bearer {
						req = exchange.Request{Form: api.TokenRequest{GrantType: api.GrantTypeJWTBearer, Assertion: req.Form.SubjectToken, Audience: req.Form.Audience}}
						wantCode = api.ErrInvalidGrant // RFC 7523 §3.1
					}
					resp, err := svc.Exchange(context.Background(), req)
					if c.wantSub == nil {
						var xe *exchange.Error
						if !errors.As(err, &xe) || xe.Code != wantCode || xe.Reason != c.reason {
							t.Fatalf("want %s (%s), got %v", wantCode, c.reason, err)
						}
						return
					}
					if err != nil {
						t.Fatalf("exchange refused: %v", err)
					}
					minted := payload(t, resp.AccessToken)
					if want := c.wantSub(claims); minted["sub"] != want || minted["aud"] != "https://inventory.example.com" {
						t.Errorf("minted sub %v aud %v, want sub %q", minted["sub"], minted["aud"], want)
					}
				})
			}
		})
	}
}

// exampleService builds tokex from an example policy whose issuers take their
// keys from idp (written to a jwks_file), so no request leaves the test.
func exampleService(t *testing.T, src *config.Policy, idp *testidp.IdP) *exchange.Service {
	t.Helper()
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwks, idp.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range src.Issuers {
		is := &src.Issuers[i]
		is.JWKSURI, is.JWKS, is.JWKSFile, is.CAFile = "", nil, jwks, ""
	}
	pol, err := tokexpolicy.Compile(src)
	if err != nil {
		t.Fatalf("with the test IdP's keys: %v", err)
	}
	ks, err := keys.Generate("ES256")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	a := app.New(app.Options{Policy: pol, Keys: ks, Logger: log, Audit: log})
	t.Cleanup(a.Close)
	if !a.WaitReady(context.Background(), 5*time.Second) {
		t.Fatalf("issuers not ready: %v", a.Issuers().Status())
	}
	return a.Service
}

func payload(t *testing.T, raw string) map[string]any {
	t.Helper()
	_, c := testidp.Decode(t, raw)
	return c
}
