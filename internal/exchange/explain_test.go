package exchange_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/exchange"
	goldenfile "github.com/tokex/tokex/internal/golden"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/mint"
)

var update = flag.Bool("update", false, "rewrite golden files")

// corp and down both serve orders-to-inventory without subject prefixes:
// down is only ever unreachable, and the goldens show corp's subject as is.
const explainPolicy = `issuer: https://sts.example.com
allow_subject_overlap: true
token:
  max_lifetime: 15m
issuers:
  - name: corp
    issuer_url: https://idp.example.com
    jwks: %[1]s
    algorithms: [ES256]
    validate:
      - expr: "!has(claims.dept) || claims.dept != 'blocked'"
        message: "the department is blocked from tokex: ask the IdP team"
  - name: down
    issuer_url: https://down.example.com
    jwks_uri: http://127.0.0.1:1/jwks
clients:
  - id: orders
    secret_sha256: %[2]s
  - id: billing
    secret_sha256: %[2]s
rules:
  - name: orders-to-inventory
    clients: [orders]
    issuers: [corp, down]
    audience: https://inventory.example.com
    scopes: [inventory.read, inventory.write]
    lifetime: 5m
    require: 'claims.tid == "t1"'
    claims:
      tenant: claims.tid
      department: '"dept-" + claims.dept'
    scope_conditions:
      inventory.write: "'Inventory.Writer' in claims.roles"
  - name: billing-on-behalf
    clients: [billing]
    issuers: [corp]
    audience: https://audit.example.com
    scopes: [audit.read]
    delegation: allowed
    actor_issuers: [corp]
  - name: public-read
    allow_unauthenticated: true
    issuers: [corp]
    audience: https://public.example.com
    scopes: [public.read]
`

// explainFixture is a Service over a real issuer registry (inline keys for
// corp, an unreachable JWKS for down) with a fixed clock.
type explainFixture struct {
	svc *exchange.Service
	key *ecdsa.PrivateKey
}

func newExplainFixture(t *testing.T) *explainFixture {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgES256, KID: "corp-1", USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	src, pol := compile(t, fmt.Appendf(nil, explainPolicy, set, hex.EncodeToString(sum[:])), "policy.yaml")
	_, ks := signingKeys(t)
	clock := func() time.Time { return now }
	reg := issuer.NewRegistry(src.Issuers, issuer.Options{Now: clock, OnDemand: true, HTTPTimeout: 2 * time.Second})
	t.Cleanup(reg.Close)
	clients := client.NewRegistry(src.Clients, client.Options{Issuer: src.Issuer, Now: clock})
	t.Cleanup(clients.Close)
	svc := exchange.New(exchange.Options{
		State:  &exchange.State{Policy: pol, Clients: clients, Issuers: reg},
		Minter: mint.New(src.Issuer, ks, clock),
		Now:    clock,
	})
	return &explainFixture{svc: svc, key: key}
}

func (f *explainFixture) sign(t *testing.T, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = "corp-1"
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(f.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func subjectClaims(over map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": "https://idp.example.com", "sub": "alice", "aud": "https://sts.example.com",
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
		"tid": "t1", "dept": "ops", "roles": []string{"Inventory.Writer"},
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// TestExplainGolden: explain's report for a granted exchange and for each
// kind of refusal. Refresh with go test ./internal/exchange -run TestExplainGolden -update.
func TestExplainGolden(t *testing.T) {
	f := newExplainFixture(t)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, subjectClaims(nil))
	hsToken, err := hs.SignedString([]byte("a shared secret of thirty-two bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	actor := f.sign(t, subjectClaims(map[string]any{"sub": "svc-batch"}), nil)
	expiredActor := f.sign(t, subjectClaims(map[string]any{"sub": "svc-batch", "exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix()}), nil)
	tests := []struct {
		name      string
		token     string
		client    string
		unauth    bool
		audience  string
		scope     string
		actor     string
		wantCode  api.ErrorCode // "" granted
		wantClaim string        // a mapped claim the granted token carries
	}{
		{name: "granted", token: f.sign(t, subjectClaims(nil), nil), client: "orders", audience: "https://inventory.example.com", wantClaim: "department"},
		{name: "granted-scope-withheld", token: f.sign(t, subjectClaims(map[string]any{"roles": []string{"Inventory.Reader"}, "dept": nil}), nil), client: "orders", wantClaim: "tenant"},
		{name: "expired", token: f.sign(t, subjectClaims(map[string]any{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix()}), nil), client: "orders", wantCode: api.ErrInvalidRequest},
		{name: "wrong-audience-and-no-sub", token: f.sign(t, subjectClaims(map[string]any{"aud": "https://graph.microsoft.com", "sub": nil}), nil), client: "orders", wantCode: api.ErrInvalidRequest},
		{name: "hmac", token: hsToken, client: "orders", wantCode: api.ErrInvalidRequest},
		{name: "untrusted-issuer", token: f.sign(t, subjectClaims(map[string]any{"iss": "https://evil.example.com"}), nil), client: "orders", wantCode: api.ErrInvalidRequest},
		{name: "unknown-client", token: f.sign(t, subjectClaims(nil), nil), client: "nobody", wantCode: api.ErrInvalidClient},
		{name: "no-rule", token: f.sign(t, subjectClaims(nil), nil), client: "billing", audience: "https://inventory.example.com", wantCode: api.ErrInvalidTarget},
		{name: "condition-false", token: f.sign(t, subjectClaims(map[string]any{"tid": "t2"}), nil), client: "orders", wantCode: api.ErrInvalidRequest},
		{name: "scopes-withheld", token: f.sign(t, subjectClaims(map[string]any{"roles": nil}), nil), client: "orders", scope: "inventory.write", wantCode: api.ErrInvalidScope},
		{name: "scope-malformed", token: f.sign(t, subjectClaims(nil), nil), client: "orders", scope: "inventory.read\tinventory.write", wantCode: api.ErrInvalidScope},
		{name: "keys-unavailable", token: f.sign(t, subjectClaims(map[string]any{"iss": "https://down.example.com"}), nil), client: "orders", wantCode: api.ErrTemporarilyUnavailable},
		{name: "validate-rule", token: f.sign(t, subjectClaims(map[string]any{"dept": "blocked"}), nil), client: "orders", wantCode: api.ErrInvalidRequest},
		{name: "delegation", token: f.sign(t, subjectClaims(nil), nil), client: "billing", actor: actor, wantClaim: "act"},
		{name: "delegation-forbidden", token: f.sign(t, subjectClaims(nil), nil), client: "orders", actor: actor, wantCode: api.ErrInvalidRequest},
		{name: "actor-expired", token: f.sign(t, subjectClaims(nil), nil), client: "billing", actor: expiredActor, wantCode: api.ErrInvalidRequest},
		{name: "unauthenticated", token: f.sign(t, subjectClaims(nil), nil), unauth: true, wantClaim: "client_id"},
		{name: "unauthenticated-no-rule", token: f.sign(t, subjectClaims(nil), nil), unauth: true, audience: "https://inventory.example.com", wantCode: api.ErrInvalidClient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form := api.TokenRequest{
				GrantType: api.GrantTypeTokenExchange, SubjectToken: tc.token, SubjectTokenType: api.TokenTypeAccessToken,
				Audience: tc.audience, Scope: tc.scope,
			}
			if tc.actor != "" {
				form.ActorToken, form.ActorTokenType = tc.actor, api.TokenTypeAccessToken
			}
			x := f.svc.Explain(context.Background(), exchange.ExplainRequest{ClientID: tc.client, Unauthenticated: tc.unauth, Form: form})
			switch {
			case tc.wantCode == "" && !x.Granted():
				t.Errorf("refused: %v", x.Err)
			case tc.wantCode != "" && (x.Err == nil || x.Err.Code != tc.wantCode):
				t.Errorf("Err = %v, want code %s", x.Err, tc.wantCode)
			}
			if tc.wantClaim != "" {
				if _, ok := x.Claims[tc.wantClaim]; !ok || x.Claims["jti"] != "<random>" || x.Claims["sub"] != "alice" {
					t.Errorf("claims = %v, want the mapped claim %q", x.Claims, tc.wantClaim)
				}
			}
			var b bytes.Buffer
			if err := x.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), tc.token) || (tc.actor != "" && strings.Contains(b.String(), tc.actor)) || strings.Contains(b.String(), "claims.tid") {
				t.Errorf("the report holds the token or a CEL expression:\n%s", b.String())
			}
			golden(t, filepath.Join("testdata", "explain", tc.name+".golden"), b.Bytes())
		})
	}
}

// TestExplainMatchesExchange: explain's verdict is what Exchange answers for
// the same request, and a granted exchange's token carries the claims explain
// shows.
func TestExplainMatchesExchange(t *testing.T) {
	f := newExplainFixture(t)
	actor := f.sign(t, subjectClaims(map[string]any{"sub": "svc-batch"}), nil)
	for _, tc := range []struct {
		name   string
		token  string
		scope  string
		client string // default orders; "-" no credentials
		actor  string
		bearer bool // the JWT bearer grant (RFC 7523) with token as the assertion
		// audience and resource of the request; "" none
		audience, resource string
	}{
		{name: "granted", token: f.sign(t, subjectClaims(nil), nil)},
		{name: "granted, scope withheld", token: f.sign(t, subjectClaims(map[string]any{"roles": []string{}}), nil)},
		{name: "expired", token: f.sign(t, subjectClaims(map[string]any{"exp": now.Add(-time.Hour).Unix()}), nil)},
		{name: "alg header", token: f.sign(t, subjectClaims(nil), map[string]any{"jku": "https://evil.example.com/jwks"})},
		{name: "condition", token: f.sign(t, subjectClaims(map[string]any{"tid": "t3"}), nil)},
		{name: "scope", token: f.sign(t, subjectClaims(map[string]any{"roles": []string{}}), nil), scope: "inventory.write"},
		{name: "scope malformed", token: f.sign(t, subjectClaims(nil), nil), scope: "inventory.read\u00a0inventory.write"},
		{name: "too many scopes", token: f.sign(t, subjectClaims(nil), nil), scope: strings.Repeat("s ", 101)},
		{name: "mapping", token: f.sign(t, subjectClaims(map[string]any{"dept": 1.5, "tid": "t1"}), nil)},
		{name: "keys unavailable", token: f.sign(t, subjectClaims(map[string]any{"iss": "https://down.example.com"}), nil)},
		{name: "validate rule", token: f.sign(t, subjectClaims(map[string]any{"dept": "blocked"}), nil)},
		{name: "delegation", token: f.sign(t, subjectClaims(nil), nil), client: "billing", actor: actor},
		{name: "delegation forbidden", token: f.sign(t, subjectClaims(nil), nil), actor: actor},
		{name: "actor expired", token: f.sign(t, subjectClaims(nil), nil), client: "billing",
			actor: f.sign(t, subjectClaims(map[string]any{"sub": "svc-batch", "exp": now.Add(-time.Hour).Unix()}), nil)},
		{name: "subject's act chain carried over", token: f.sign(t, subjectClaims(map[string]any{"act": map[string]any{"sub": "svc-earlier"}}), nil)},
		{name: "unauthenticated", token: f.sign(t, subjectClaims(map[string]any{"azp": "spa"}), nil), client: "-"},
		{name: "JWT bearer grant", token: f.sign(t, subjectClaims(nil), nil), bearer: true},
		{name: "JWT bearer grant, expired assertion", token: f.sign(t, subjectClaims(map[string]any{"exp": now.Add(-time.Hour).Unix()}), nil), bearer: true},
		{name: "JWT bearer grant without an assertion", bearer: true},
		{name: "audience and resource name different targets", token: f.sign(t, subjectClaims(nil), nil),
			audience: "https://inventory.example.com", resource: "https://other.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: tc.token, SubjectTokenType: api.TokenTypeAccessToken, Scope: tc.scope,
				Audience: tc.audience, Resource: tc.resource}
			if tc.actor != "" {
				form.ActorToken, form.ActorTokenType = tc.actor, api.TokenTypeAccessToken
			}
			if tc.bearer {
				form = api.TokenRequest{GrantType: api.GrantTypeJWTBearer, Assertion: tc.token, Scope: tc.scope}
			}
			req := exchange.ExplainRequest{ClientID: "orders", Form: form}
			creds := client.Credentials{PostID: "orders", PostSecret: secret}
			switch tc.client {
			case "":
			case "-":
				req, creds = exchange.ExplainRequest{Unauthenticated: true, Form: form}, client.Credentials{}
			default:
				req.ClientID, creds.PostID = tc.client, tc.client
			}
			x := f.svc.Explain(context.Background(), req)
			resp, err := f.svc.Exchange(context.Background(), exchange.Request{Form: form, Credentials: creds})
			if err != nil {
				var xe *exchange.Error
				if !errors.As(err, &xe) {
					t.Fatal(err)
				}
				if x.Err == nil || x.Err.Code != xe.Code || x.Err.Reason != xe.Reason {
					t.Errorf("explain says %v; Exchange answered %v", x.Err, xe)
				}
				return
			}
			if !x.Granted() {
				t.Fatalf("explain refused (%v); Exchange granted", x.Err)
			}
			got := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(resp.AccessToken, got); err != nil {
				t.Fatal(err)
			}
			for k, v := range x.Claims {
				if k == "jti" {
					continue
				}
				if a, b := mustJSON(t, got[k]), mustJSON(t, v); a != b {
					t.Errorf("claim %s: explain %s, minted %s", k, b, a)
				}
			}
			if len(got) != len(x.Claims) {
				t.Errorf("minted claims %v, explain %v", got, x.Claims)
			}
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	goldenfile.Check(t, path, got, *update)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
