package exchange_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/testidp"
)

const profilePolicy = `issuer: https://sts.example.com
issuers:
  - {name: corp, issuer_url: "https://idp.example.com", jwks_uri: "https://idp.example.com/jwks", token_types: [access_token, id_token], id_token_audiences: [orders, gateway]}
clients:
  - {id: orders, secret_sha256: "%[1]s"}
  - {id: gateway, secret_sha256: "%[1]s"}
  - {id: payments, secret_sha256: "%[1]s"}
rules:
  - name: checkout-txn
    profile: txn_token
    clients: [gateway, orders, payments]
    issuers: [corp]
    trust_domain: https://trust.example.com
    scopes: [checkout, refund]
    require: 'request_details.amount < 1000'
    max_replacements: 1
    tctx: {tier: claims.tier}
    rctx: {req_ip: request_context.req_ip}
  - name: wiki-xaa
    profile: id_jag
    clients: [orders]
    issuers: [corp]
    sender_constraint: none
    authorization_servers:
      - {issuer: "https://as.wiki.example", client_id: orders-at-wiki, scopes: [wiki.read, wiki.write], resources: ["https://api.wiki.example"]}
  - {name: orders-api, clients: [orders], issuers: [corp], audience: "https://trust.example.com", scopes: [checkout]}
`

func profileService(t *testing.T, ver tokenVerifier) *exchange.Service {
	t.Helper()
	sum := sha256.Sum256([]byte(secret))
	p, compiled := compile(t, []byte(fmt.Sprintf(profilePolicy, hex.EncodeToString(sum[:]))), "")
	_, set := signingKeys(t)
	clock := func() time.Time { return now }
	st := &exchange.State{Policy: compiled, Clients: client.NewRegistry(p.Clients, client.Options{Issuer: p.Issuer}), Issuers: ver}
	return exchange.New(exchange.Options{State: st, Minter: mint.New(p.Issuer, set, clock), Now: clock})
}

func creds(id string) client.Credentials {
	return client.Credentials{Basic: true, BasicUser: id, BasicSecret: secret}
}

func TestTxnToken(t *testing.T) {
	user := who("corp", "https://idp.example.com", "alice", map[string]any{"tier": "gold", "email": "a@example.com"})
	svc := profileService(t, tokenVerifier{"user": user})
	txnForm := func(mut func(*api.TokenRequest)) api.TokenRequest {
		f := api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: "user", SubjectTokenType: api.TokenTypeAccessToken,
			RequestedTokenType: api.TokenTypeTxnToken, Audience: "https://trust.example.com", Scope: "checkout refund",
			RequestContext: `{"req_ip":"203.0.113.7","user_agent":"curl"}`, RequestDetails: `{"amount":42}`}
		if mut != nil {
			mut(&f)
		}
		return f
	}
	resp, err := svc.Exchange(context.Background(), exchange.Request{Form: txnForm(nil), Credentials: creds("gateway")})
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if resp.IssuedTokenType != api.TokenTypeTxnToken || resp.TokenType != api.TokenTypeNA || resp.ExpiresIn != 60 {
		t.Fatalf("response = %+v", resp)
	}
	h, c := testidp.Decode(t, resp.AccessToken)
	if h["typ"] != api.TypTxnToken {
		t.Errorf("typ = %v", h["typ"])
	}
	if c["aud"] != "https://trust.example.com" || c["sub"] != "alice" || c["req_wl"] != "gateway" || c["scope"] != "checkout refund" || c["txn"] == "" {
		t.Errorf("claims = %v", c)
	}
	if fmt.Sprint(c["tctx"]) != "map[tier:gold]" || fmt.Sprint(c["rctx"]) != "map[req_ip:203.0.113.7]" {
		t.Errorf("tctx = %v, rctx = %v: only the members the rule names", c["tctx"], c["rctx"])
	}
	for _, k := range []string{"client_id", "cnf", "nbf", "email"} {
		if _, ok := c[k]; ok {
			t.Errorf("claim %s in a Txn-Token", k)
		}
	}
	first := resp.AccessToken

	// Replacement: same txn, narrower scope, req_wl grows.
	replaced, err := svc.Exchange(context.Background(), exchange.Request{Credentials: creds("orders"), Form: txnForm(func(f *api.TokenRequest) {
		f.SubjectToken, f.SubjectTokenType, f.Scope, f.RequestContext, f.RequestDetails = first, api.TokenTypeTxnToken, "refund", "", `{"amount":7}`
	})})
	if err != nil {
		t.Fatalf("replacement: %v", err)
	}
	_, rc := testidp.Decode(t, replaced.AccessToken)
	if rc["txn"] != c["txn"] || fmt.Sprint(rc["req_wl"]) != "[gateway orders]" || rc["scope"] != "refund" || fmt.Sprint(rc["tctx"]) != "map[tier:gold]" {
		t.Errorf("replacement claims = %v", rc)
	}

	accessTok, err := svc.Exchange(context.Background(), exchange.Request{Credentials: basic, Form: api.TokenRequest{GrantType: api.GrantTypeTokenExchange,
		SubjectToken: "user", SubjectTokenType: api.TokenTypeAccessToken, Audience: "https://trust.example.com"}})
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	if h, _ := testidp.Decode(t, accessTok.AccessToken); h["typ"] != api.TypAccessToken || accessTok.IssuedTokenType != api.TokenTypeAccessToken {
		t.Errorf("an access token request got typ %v, %s", h["typ"], accessTok.IssuedTokenType)
	}

	big := `{"a":"` + strings.Repeat("x", exchange.MaxContextBytes) + `"}`
	tests := []struct {
		name       string
		form       api.TokenRequest
		client     string
		wantCode   api.ErrorCode
		wantReason string
	}{
		{"no scope: the purpose is required", txnForm(func(f *api.TokenRequest) { f.Scope = "" }), "gateway", api.ErrInvalidRequest, "missing_parameter"},
		{"a purpose the rule does not allow", txnForm(func(f *api.TokenRequest) { f.Scope = "delete" }), "gateway", api.ErrInvalidScope, "no_scope"},
		{"request_context not an object", txnForm(func(f *api.TokenRequest) { f.RequestContext = `["x"]` }), "gateway", api.ErrInvalidRequest, "invalid_parameter"},
		{"request_context a string", txnForm(func(f *api.TokenRequest) { f.RequestContext = `"x"` }), "gateway", api.ErrInvalidRequest, "invalid_parameter"},
		{"request_context invalid JSON", txnForm(func(f *api.TokenRequest) { f.RequestContext = `{"a":` }), "gateway", api.ErrInvalidRequest, "invalid_parameter"},
		{"request_context duplicate names", txnForm(func(f *api.TokenRequest) { f.RequestContext = `{"a":1,"a":2}` }), "gateway", api.ErrInvalidRequest, "invalid_parameter"},
		{"request_context trailing data", txnForm(func(f *api.TokenRequest) { f.RequestContext = `{"a":1} {}` }), "gateway", api.ErrInvalidRequest, "invalid_parameter"},
		{"request_context oversized", txnForm(func(f *api.TokenRequest) { f.RequestContext = big }), "gateway", api.ErrInvalidRequest, "invalid_parameter"},
		{"request_details oversized", txnForm(func(f *api.TokenRequest) { f.RequestDetails = big }), "gateway", api.ErrInvalidRequest, "invalid_parameter"},
		{"condition over request_details false", txnForm(func(f *api.TokenRequest) { f.RequestDetails = `{"amount":5000}` }), "gateway", api.ErrInvalidRequest, "condition_not_met"},
		{"condition reads an absent member: not met", txnForm(func(f *api.TokenRequest) { f.RequestDetails = "" }), "gateway", api.ErrInvalidRequest, "condition_not_met"},
		{"request_context without requested_token_type txn_token", txnForm(func(f *api.TokenRequest) { f.RequestedTokenType = "" }), "orders", api.ErrInvalidRequest, "invalid_parameter"},
		{"resource instead of the trust domain", txnForm(func(f *api.TokenRequest) { f.Resource = "https://trust.example.com" }), "gateway", api.ErrInvalidTarget, "invalid_parameter"},
		{"another trust domain", txnForm(func(f *api.TokenRequest) { f.Audience = "https://other.example.com" }), "gateway", api.ErrInvalidTarget, "no_rule"},
		{"an access-token audience is not a trust domain", txnForm(func(f *api.TokenRequest) { f.Audience = "https://as.wiki.example" }), "orders", api.ErrInvalidTarget, "no_rule"},
		{"replacement widens the scope", txnForm(func(f *api.TokenRequest) {
			f.SubjectToken, f.SubjectTokenType, f.Scope, f.RequestContext, f.RequestDetails = replaced.AccessToken, api.TokenTypeTxnToken, "checkout", "", `{"amount":1}`
		}), "payments", api.ErrInvalidScope, "txn_token_scope_widened"},
		{"replaced past the limit", txnForm(func(f *api.TokenRequest) {
			f.SubjectToken, f.SubjectTokenType, f.Scope, f.RequestContext, f.RequestDetails = replaced.AccessToken, api.TokenTypeTxnToken, "refund", "", `{"amount":1}`
		}), "payments", api.ErrInvalidRequest, "txn_token_replacement_limit"},
		{"an access token presented as a Txn-Token", txnForm(func(f *api.TokenRequest) {
			f.SubjectToken, f.SubjectTokenType = accessTok.AccessToken, api.TokenTypeTxnToken
		}), "orders", api.ErrInvalidRequest, string(issuer.ReasonTokenType)},
		{"a forged Txn-Token", txnForm(func(f *api.TokenRequest) {
			f.SubjectToken, f.SubjectTokenType = first[:len(first)-4]+"AAAA", api.TokenTypeTxnToken
		}), "orders", api.ErrInvalidRequest, string(issuer.ReasonSignature)},
		{"a Txn-Token exchanged for an access token", api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: first,
			SubjectTokenType: api.TokenTypeTxnToken, Audience: "https://trust.example.com"}, "orders", api.ErrInvalidRequest, "unsupported_token_type"},
		{"an actor token", txnForm(func(f *api.TokenRequest) { f.ActorToken, f.ActorTokenType = "user", api.TokenTypeAccessToken }), "gateway", api.ErrInvalidRequest, "delegation_forbidden"},
		{"an unknown requested_token_type", txnForm(func(f *api.TokenRequest) { f.RequestedTokenType = "urn:ietf:params:oauth:token-type:refresh_token" }), "gateway", api.ErrInvalidRequest, "unsupported_token_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := svc.Exchange(context.Background(), exchange.Request{Form: tc.form, Credentials: creds(tc.client)})
			wantRefusal(t, resp, err, tc.wantCode, tc.wantReason)
		})
	}
}

func TestIDJAG(t *testing.T) {
	idTok := func(aud ...string) *issuer.Principal {
		p := who("corp", "https://idp.example.com", "alice", map[string]any{"acr": "urn:mfa", "amr": []any{"pwd", "otp"}, "auth_time": 1700000000.0, "tid": "t-1"})
		p.TokenType, p.Audience = "id_token", aud
		return p
	}
	svc := profileService(t, tokenVerifier{"idt": idTok("orders"), "idt-gateway": idTok("gateway"), "at": who("corp", "https://idp.example.com", "alice", nil)})
	jag := func(mut func(*api.TokenRequest)) api.TokenRequest {
		f := api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: "idt", SubjectTokenType: api.TokenTypeIDToken,
			RequestedTokenType: api.TokenTypeIDJAG, Audience: "https://as.wiki.example", Resource: "https://api.wiki.example", Scope: "wiki.read"}
		if mut != nil {
			mut(&f)
		}
		return f
	}
	resp, err := svc.Exchange(context.Background(), exchange.Request{Form: jag(nil), Credentials: basic})
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if resp.IssuedTokenType != api.TokenTypeIDJAG || resp.TokenType != api.TokenTypeNA || resp.Scope != "wiki.read" {
		t.Fatalf("response = %+v", resp)
	}
	h, c := testidp.Decode(t, resp.AccessToken)
	if h["typ"] != api.TypIDJAG {
		t.Errorf("typ = %v", h["typ"])
	}
	want := map[string]string{"iss": "https://sts.example.com", "sub": "alice", "aud": "https://as.wiki.example", "client_id": "orders-at-wiki",
		"resource": "https://api.wiki.example", "scope": "wiki.read", "acr": "urn:mfa", "tenant": "t-1", "amr": "[pwd otp]", "auth_time": "1.7e+09"}
	for k, v := range want {
		if fmt.Sprint(c[k]) != v {
			t.Errorf("claim %s = %v, want %s", k, c[k], v)
		}
	}
	if c["jti"] == nil || c["exp"] == nil || c["iat"] == nil {
		t.Errorf("claims = %v", c)
	}
	tests := []struct {
		name       string
		form       api.TokenRequest
		wantCode   api.ErrorCode
		wantReason string
	}{
		{"an ID token issued to another client", jag(func(f *api.TokenRequest) { f.SubjectToken = "idt-gateway" }), api.ErrInvalidRequest, "id_token_not_for_client"},
		{"an access token as the subject", jag(func(f *api.TokenRequest) { f.SubjectToken, f.SubjectTokenType = "at", api.TokenTypeAccessToken }), api.ErrInvalidRequest, "unsupported_token_type"},
		{"no audience", jag(func(f *api.TokenRequest) { f.Audience = "" }), api.ErrInvalidRequest, "missing_parameter"},
		{"an authorization server the rule does not name", jag(func(f *api.TokenRequest) { f.Audience = "https://as.other.example" }), api.ErrInvalidTarget, "no_rule"},
		{"a resource the authorization server does not list", jag(func(f *api.TokenRequest) { f.Resource = "https://evil.example" }), api.ErrInvalidTarget, "no_rule"},
		{"a scope the authorization server may not receive", jag(func(f *api.TokenRequest) { f.Scope = "wiki.admin" }), api.ErrInvalidScope, "no_scope"},
		{"request_context with an ID-JAG", jag(func(f *api.TokenRequest) { f.RequestContext = `{}` }), api.ErrInvalidRequest, "invalid_parameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := svc.Exchange(context.Background(), exchange.Request{Form: tc.form, Credentials: basic})
			wantRefusal(t, resp, err, tc.wantCode, tc.wantReason)
		})
	}
}

// TestExplainProfiles: explain runs each profile's own steps and agrees
// with Exchange on the answer.
func TestExplainProfiles(t *testing.T) {
	idt := who("corp", "https://idp.example.com", "alice", map[string]any{"acr": "urn:mfa"})
	idt.TokenType, idt.Audience = "id_token", []string{"orders"}
	user := who("corp", "https://idp.example.com", "alice", map[string]any{"tier": "gold"})
	svc := profileService(t, tokenVerifier{"idt": idt, "user": user})
	txn := api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: "user", SubjectTokenType: api.TokenTypeAccessToken,
		RequestedTokenType: api.TokenTypeTxnToken, Audience: "https://trust.example.com", Scope: "checkout",
		RequestContext: `{"req_ip":"203.0.113.7"}`, RequestDetails: `{"amount":1}`}
	jag := api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: "idt", SubjectTokenType: api.TokenTypeIDToken,
		RequestedTokenType: api.TokenTypeIDJAG, Audience: "https://as.wiki.example", Scope: "wiki.read"}
	tests := []struct {
		name, client string
		form         api.TokenRequest
		wantCheck    string // a check of the explanation: step/name
		wantReason   string // "" granted
		wantClaims   map[string]string
	}{
		{name: "txn_token granted", client: "gateway", form: txn, wantCheck: "policy/txn_token",
			wantClaims: map[string]string{"aud": "https://trust.example.com", "req_wl": "gateway", "tctx": "map[tier:gold]", "rctx": "map[req_ip:203.0.113.7]"}},
		{name: "txn_token condition not met", client: "gateway", form: func() api.TokenRequest { f := txn; f.RequestDetails = `{"amount":9999}`; return f }(),
			wantCheck: "policy/condition", wantReason: "condition_not_met"},
		{name: "id_jag granted", client: "orders", form: jag, wantCheck: "subject token/id_token aud",
			wantClaims: map[string]string{"aud": "https://as.wiki.example", "client_id": "orders-at-wiki", "acr": "urn:mfa", "scope": "wiki.read"}},
		{name: "id_jag for another client", client: "gateway", form: jag, wantCheck: "subject token/id_token aud", wantReason: "id_token_not_for_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := svc.Explain(context.Background(), exchange.ExplainRequest{ClientID: tc.client, Form: tc.form})
			found := false
			for _, c := range x.Checks {
				found = found || c.Step+"/"+c.Name == tc.wantCheck
			}
			if !found {
				t.Errorf("no check %s in %+v", tc.wantCheck, x.Checks)
			}
			_, err := svc.Exchange(context.Background(), exchange.Request{Form: tc.form, Credentials: creds(tc.client)})
			if tc.wantReason != "" {
				if x.Err == nil || x.Err.Reason != tc.wantReason {
					t.Fatalf("explain: %v, want %s", x.Err, tc.wantReason)
				}
				wantRefusal(t, nil, err, x.Err.Code, tc.wantReason)
				return
			}
			if x.Err != nil || err != nil {
				t.Fatalf("explain: %v, exchange: %v", x.Err, err)
			}
			for k, v := range tc.wantClaims {
				if fmt.Sprint(x.Claims[k]) != v {
					t.Errorf("claim %s = %v, want %s", k, x.Claims[k], v)
				}
			}
		})
	}
}

// BenchmarkProfiles: one exchange of each profile through the same service
// (subject tokens pre-verified by a map, ES256 minting), so the difference
// to access_token is what the profile's own steps cost: CEL over the
// request's context, JSON encoding of tctx/rctx, a UUID. Compare with
// benchstat across -count runs.
func BenchmarkProfiles(b *testing.B) {
	user := who("corp", "https://idp.example.com", "alice", map[string]any{"tier": "gold"})
	idt := who("corp", "https://idp.example.com", "alice", map[string]any{"acr": "urn:mfa"})
	idt.TokenType, idt.Audience = "id_token", []string{"orders"}
	t := &testing.T{}
	svc := profileService(t, tokenVerifier{"user": user, "idt": idt})
	forms := []struct {
		name, client string
		form         api.TokenRequest
	}{
		{"access_token", "orders", api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: "user", SubjectTokenType: api.TokenTypeAccessToken, Audience: "https://trust.example.com"}},
		{"txn_token", "gateway", api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: "user", SubjectTokenType: api.TokenTypeAccessToken,
			RequestedTokenType: api.TokenTypeTxnToken, Audience: "https://trust.example.com", Scope: "checkout",
			RequestContext: `{"req_ip":"203.0.113.7"}`, RequestDetails: `{"amount":1}`}},
		{"id_jag", "orders", api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: "idt", SubjectTokenType: api.TokenTypeIDToken,
			RequestedTokenType: api.TokenTypeIDJAG, Audience: "https://as.wiki.example", Scope: "wiki.read"}},
	}
	for _, f := range forms {
		b.Run(f.name, func(b *testing.B) {
			req := exchange.Request{Form: f.form, Credentials: creds(f.client)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.Exchange(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
