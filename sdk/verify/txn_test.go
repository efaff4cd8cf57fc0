package verify_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/testidp"
	"github.com/tokex/tokex/sdk/verify"
)

const trust = "https://trust.example.com"

// txnFixture is a fixture whose Verifier knows the trust domain.
func txnFixture(t *testing.T) *fixture {
	return newFixture(t, func(c *verify.Config) { c.TrustDomain = trust })
}

// txn is a Transaction Token as tokex mints it: typ txntoken+jwt, ES256, no
// nbf, req_wl a string (an original token).
func (f *fixture) txn(t *testing.T, mod func(c map[string]any), opts ...testidp.SignOption) string {
	t.Helper()
	c := f.idp.Claims("alice", trust)
	delete(c, "nbf")
	c["txn"] = "97053963-771d-49cc-a4e3-20aad399c312"
	c["scope"] = "orders.create orders.read"
	c["req_wl"] = "spiffe://trust.example.com/gateway"
	if mod != nil {
		mod(c)
	}
	return f.idp.Sign(c, append([]testidp.SignOption{testidp.Alg(testidp.ES256), testidp.Header("typ", "txntoken+jwt")}, opts...)...)
}

func txnRequest(tokens ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://orders.internal/orders", nil)
	for _, t := range tokens {
		r.Header.Add(verify.TxnTokenHeader, t)
	}
	return r
}

// set returns a claims modifier setting name to v (nil deletes it).
func set(name string, v any) func(map[string]any) {
	return func(c map[string]any) {
		if v == nil {
			delete(c, name)
			return
		}
		c[name] = v
	}
}

func TestVerifyTxnToken(t *testing.T) {
	f := txnFixture(t)
	now := time.Now()
	chain := []string{"spiffe://trust.example.com/gateway", "spiffe://trust.example.com/orders", "spiffe://trust.example.com/payments"}
	tests := []struct {
		name   string
		req    func() *http.Request
		check  func(t *testing.T, tok *verify.TxnToken) // for an accepted token
		reason verify.Reason
		code   string
		status int
		desc   string // a part of the description
	}{
		{name: "original", req: func() *http.Request { return txnRequest(f.txn(t, nil)) }, check: func(t *testing.T, tok *verify.TxnToken) {
			if !slices.Equal(tok.RequestingWorkloads, chain[:1]) || tok.Replacements != 0 || tok.Context != nil || tok.RequestContext != nil {
				t.Errorf("token = %+v", tok)
			}
		}},
		{name: "replaced twice", req: func() *http.Request { return txnRequest(f.txn(t, set("req_wl", chain))) }, check: func(t *testing.T, tok *verify.TxnToken) {
			if !slices.Equal(tok.RequestingWorkloads, chain) || tok.Replacements != 2 {
				t.Errorf("RequestingWorkloads = %q, Replacements = %d", tok.RequestingWorkloads, tok.Replacements)
			}
		}},
		{name: "contexts", req: func() *http.Request {
			return txnRequest(f.txn(t, func(c map[string]any) {
				c["tctx"] = map[string]any{"action": "BUY", "amount": 123.5}
				c["rctx"] = map[string]any{"req_ip": "69.151.72.123", "authn": "urn:ietf:rfc:6749"}
			}))
		}, check: func(t *testing.T, tok *verify.TxnToken) {
			if tok.Context["action"] != "BUY" || tok.Context["amount"] != 123.5 || tok.RequestContext["req_ip"] != "69.151.72.123" {
				t.Errorf("Context = %v, RequestContext = %v", tok.Context, tok.RequestContext)
			}
		}},
		{name: "typ application/TxnToken+JWT, RS256", req: func() *http.Request {
			return txnRequest(f.txn(t, nil, testidp.Alg(testidp.RS256), testidp.Header("typ", "application/TxnToken+JWT")))
		}},
		{name: "aud a one-member array", req: func() *http.Request { return txnRequest(f.txn(t, set("aud", []string{trust}))) }},

		{name: "no Txn-Token header", req: func() *http.Request {
			r := txnRequest()
			r.Header.Set("Authorization", "Bearer "+f.at(t, nil))
			return r
		}, reason: verify.ReasonNoToken, desc: "send it in the Txn-Token header"},
		{name: "two Txn-Token headers", req: func() *http.Request { return txnRequest(f.txn(t, nil), f.txn(t, nil)) },
			reason: verify.ReasonRequest, code: verify.CodeInvalidRequest, status: 400, desc: "exactly one Txn-Token header"},
		{name: "two tokens in one header", req: func() *http.Request { return txnRequest(f.txn(t, nil) + ", " + f.txn(t, nil)) },
			reason: verify.ReasonRequest, code: verify.CodeInvalidRequest, status: 400, desc: "one JWT alone"},
		{name: "with a scheme", req: func() *http.Request { return txnRequest("Bearer " + f.txn(t, nil)) },
			reason: verify.ReasonRequest, code: verify.CodeInvalidRequest, status: 400, desc: "without a scheme"},
		{name: "empty header", req: func() *http.Request { return txnRequest(" ") },
			reason: verify.ReasonRequest, code: verify.CodeInvalidRequest, status: 400, desc: "empty"},
		{name: "not a JWT", req: func() *http.Request { return txnRequest("opaque-token") }, reason: verify.ReasonMalformed, desc: "JWT Transaction Tokens"},

		{name: "access token", req: func() *http.Request { return txnRequest(f.at(t, nil)) },
			reason: verify.ReasonType, desc: "this is an access token (typ at+jwt), not a Transaction Token: "},
		{name: "ID-JAG", req: func() *http.Request { return txnRequest(f.txn(t, nil, testidp.Header("typ", "oauth-id-jag+jwt"))) },
			reason: verify.ReasonType, desc: "this is an Identity Assertion JWT Authorization Grant (typ oauth-id-jag+jwt), not a Transaction Token"},
		{name: "DPoP proof", req: func() *http.Request { return txnRequest(f.txn(t, nil, testidp.Header("typ", "dpop+jwt"))) },
			reason: verify.ReasonType, desc: "this is a DPoP proof (typ dpop+jwt), not a Transaction Token"},
		{name: "no typ", req: func() *http.Request { return txnRequest(f.txn(t, nil, testidp.Header("typ", nil))) },
			reason: verify.ReasonType, desc: "the token has no typ header: this API accepts only Transaction Tokens (typ txntoken+jwt)"},
		{name: "typ JWT", req: func() *http.Request { return txnRequest(f.txn(t, nil, testidp.Header("typ", "JWT"))) },
			reason: verify.ReasonType, desc: `the token's typ is "JWT", not txntoken+jwt`},

		{name: "wrong aud", req: func() *http.Request { return txnRequest(f.txn(t, set("aud", "https://other.example.com"))) },
			reason: verify.ReasonAudience, desc: "the Transaction Token is for https://other.example.com, not this trust domain (https://trust.example.com)"},
		{name: "aud of an API", req: func() *http.Request { return txnRequest(f.txn(t, set("aud", api))) },
			reason: verify.ReasonAudience, desc: "not this trust domain"},
		{name: "aud the trust domain and another", req: func() *http.Request {
			return txnRequest(f.txn(t, set("aud", []string{trust, "https://other.example.com"})))
		}, reason: verify.ReasonAudience, desc: "not this trust domain"},
		{name: "no aud", req: func() *http.Request { return txnRequest(f.txn(t, set("aud", nil))) },
			reason: verify.ReasonAudience, desc: "has no aud claim"},
		{name: "wrong iss", req: func() *http.Request { return txnRequest(f.txn(t, set("iss", "https://sts.other.example"))) },
			reason: verify.ReasonIssuer, desc: "issued by https://sts.other.example, not by " + f.idp.Issuer()},
		{name: "expired", req: func() *http.Request { return txnRequest(f.txn(t, set("exp", now.Add(-time.Minute).Unix()))) },
			reason: verify.ReasonExpired, desc: "the token expired at"},
		{name: "no exp", req: func() *http.Request { return txnRequest(f.txn(t, set("exp", nil))) },
			reason: verify.ReasonExpired, desc: "no exp claim (draft-ietf-oauth-transaction-tokens-10 requires it)"},
		{name: "iat in the future", req: func() *http.Request { return txnRequest(f.txn(t, set("iat", now.Add(5*time.Minute).Unix()))) },
			reason: verify.ReasonIssuedAt, desc: "is in the future"},
		{name: "no iat", req: func() *http.Request { return txnRequest(f.txn(t, set("iat", nil))) },
			reason: verify.ReasonIssuedAt, desc: "no iat claim"},
		{name: "no txn", req: func() *http.Request { return txnRequest(f.txn(t, set("txn", nil))) },
			reason: verify.ReasonClaims, desc: "no txn claim"},
		{name: "empty txn", req: func() *http.Request { return txnRequest(f.txn(t, set("txn", ""))) },
			reason: verify.ReasonClaims, desc: "no txn claim"},
		{name: "txn a number", req: func() *http.Request { return txnRequest(f.txn(t, set("txn", 42))) },
			reason: verify.ReasonMalformed, desc: "the token's claim txn is not of the right JSON type"},
		{name: "no sub", req: func() *http.Request { return txnRequest(f.txn(t, set("sub", nil))) },
			reason: verify.ReasonClaims, desc: "no sub claim"},
		{name: "no scope", req: func() *http.Request { return txnRequest(f.txn(t, set("scope", nil))) },
			reason: verify.ReasonClaims, desc: "no scope claim"},
		{name: "scope an array", req: func() *http.Request { return txnRequest(f.txn(t, set("scope", []string{"orders.create"}))) },
			reason: verify.ReasonMalformed, desc: "claim scope"},
		{name: "no req_wl", req: func() *http.Request { return txnRequest(f.txn(t, set("req_wl", nil))) },
			reason: verify.ReasonClaims, desc: "no req_wl claim"},
		{name: "req_wl a number", req: func() *http.Request { return txnRequest(f.txn(t, set("req_wl", 7))) },
			reason: verify.ReasonMalformed, desc: "req_wl is not"},
		{name: "req_wl an empty array", req: func() *http.Request { return txnRequest(f.txn(t, set("req_wl", []string{}))) },
			reason: verify.ReasonMalformed, desc: "req_wl is not"},
		{name: "req_wl with a non-string", req: func() *http.Request { return txnRequest(f.txn(t, set("req_wl", []any{chain[0], 7}))) },
			reason: verify.ReasonMalformed, desc: "req_wl is not"},
		{name: "req_wl with an empty string", req: func() *http.Request { return txnRequest(f.txn(t, set("req_wl", []any{chain[0], ""}))) },
			reason: verify.ReasonMalformed, desc: "req_wl is not"},
		{name: "req_wl with null", req: func() *http.Request { return txnRequest(f.txn(t, set("req_wl", []any{chain[0], nil}))) },
			reason: verify.ReasonMalformed, desc: "req_wl is not"},
		{name: "req_wl an empty string", req: func() *http.Request { return txnRequest(f.txn(t, set("req_wl", ""))) },
			reason: verify.ReasonMalformed, desc: "req_wl is not"},
		{name: "tctx a string", req: func() *http.Request { return txnRequest(f.txn(t, set("tctx", "BUY"))) },
			reason: verify.ReasonMalformed, desc: "tctx is not a JSON object"},
		{name: "tctx null", req: func() *http.Request {
			return txnRequest(f.txn(t, nil, testidp.Payload([]byte(`{"iss":"`+f.idp.Issuer()+`","aud":"`+trust+`","sub":"alice","txn":"t","scope":"s","req_wl":"w","iat":1,"exp":9999999999,"tctx":null}`))))
		}, reason: verify.ReasonMalformed, desc: "tctx is not a JSON object"},
		{name: "rctx an array", req: func() *http.Request { return txnRequest(f.txn(t, set("rctx", []string{"a"}))) },
			reason: verify.ReasonMalformed, desc: "rctx is not a JSON object"},

		{name: "bad signature", req: func() *http.Request {
			return txnRequest(f.txn(t, nil, testidp.Foreign(), testidp.KID(f.idp.KID(testidp.ES256))))
		}, reason: verify.ReasonSignature, desc: "does not verify"},
		{name: "unknown kid", req: func() *http.Request { return txnRequest(f.txn(t, nil, testidp.Foreign())) },
			reason: verify.ReasonKey, desc: "signed by a key not in " + f.idp.Issuer() + "'s JWKS"},
		{name: "alg none", req: func() *http.Request { return txnRequest(f.txn(t, nil, testidp.None())) },
			reason: verify.ReasonAlgorithm, desc: "unsigned"},
		{name: "HMAC with the public key", req: func() *http.Request {
			return txnRequest(f.txn(t, nil, testidp.Alg(testidp.RS256), testidp.HS256WithPublicKey()))
		}, reason: verify.ReasonAlgorithm, desc: "HMAC"},
		{name: "jku header", req: func() *http.Request {
			return txnRequest(f.txn(t, nil, testidp.Header("jku", "https://evil.example/jwks")))
		}, reason: verify.ReasonHeader, desc: "jku"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req()
			tok, err := f.v.VerifyTxnToken(t.Context(), r)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("VerifyTxnToken: %v", err)
				}
				raw := r.Header.Get(verify.TxnTokenHeader)
				if tok.Raw != raw || tok.Issuer != f.idp.Issuer() || tok.Audience != trust || tok.Subject != "alice" ||
					tok.Txn != "97053963-771d-49cc-a4e3-20aad399c312" || !tok.HasScope("orders.create") || tok.HasScope("orders") ||
					tok.ID == "" || tok.IssuedAt.IsZero() || !tok.ExpiresAt.After(now) {
					t.Errorf("token = %+v", tok)
				}
				if tc.check != nil {
					tc.check(t, tok)
				}
				return
			}
			vals := strings.Join(r.Header.Values(verify.TxnTokenHeader), " ")
			checkRefusal(t, err, tc.reason, tc.code, tc.status, tc.desc, strings.Fields(strings.ReplaceAll(vals, ",", " "))...)
		})
	}
}

func TestVerifyTxnTokenWithoutTrustDomain(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.v.VerifyTxnToken(t.Context(), txnRequest(f.txn(t, nil)))
	var e *verify.Error
	if !errors.Is(err, verify.ErrNoTrustDomain) || errors.As(err, &e) {
		t.Fatalf("err = %v, want ErrNoTrustDomain and no *verify.Error", err)
	}
	w := httptest.NewRecorder()
	f.v.TxnMiddleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler ran") })).ServeHTTP(w, txnRequest(f.txn(t, nil)))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "TrustDomain") {
		t.Errorf("middleware: %d %s, want 500 without detail", w.Code, w.Body)
	}
}

func TestTrustDomainOnly(t *testing.T) {
	f := newFixture(t, func(c *verify.Config) { c.Audience, c.TrustDomain = "", trust })
	if _, err := f.v.VerifyTxnToken(t.Context(), txnRequest(f.txn(t, nil))); err != nil {
		t.Fatalf("VerifyTxnToken: %v", err)
	}
	// No audience: Verify refuses to run, even for a token with an empty aud.
	_, err := f.v.Verify(t.Context(), request("Bearer "+f.at(t, set("aud", ""))))
	var e *verify.Error
	if !errors.Is(err, verify.ErrNoAudience) || errors.As(err, &e) {
		t.Fatalf("Verify: err = %v, want ErrNoAudience and no *verify.Error", err)
	}
}

// TestConfusion: each path refuses the other's token, and both an ID-JAG,
// by its type.
func TestConfusion(t *testing.T) {
	f := txnFixture(t)
	idJAG := f.idp.Claims("alice", api)
	idJAG["client_id"] = "orders"
	jag := f.idp.Sign(idJAG, testidp.Alg(testidp.ES256), testidp.Header("typ", "oauth-id-jag+jwt"))
	for _, tc := range []struct {
		name string
		txn  bool   // through VerifyTxnToken, in the Txn-Token header; else Verify, in Authorization
		tok  string // the token
		desc string
	}{
		{"Txn-Token in Authorization", false, f.txn(t, set("aud", api)), "this is a Transaction Token (typ txntoken+jwt), not an access token"},
		{"access token in Txn-Token", true, f.at(t, set("aud", trust)), "this is an access token (typ at+jwt), not a Transaction Token"},
		{"ID-JAG in Authorization", false, jag, "(typ oauth-id-jag+jwt), not an access token"},
		{"ID-JAG in Txn-Token", true, jag, "(typ oauth-id-jag+jwt), not a Transaction Token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.txn {
				_, err = f.v.VerifyTxnToken(t.Context(), txnRequest(tc.tok))
			} else {
				_, err = f.v.Verify(t.Context(), request("Bearer "+tc.tok))
			}
			var e *verify.Error
			if !errors.As(err, &e) || e.Reason != verify.ReasonType || !strings.Contains(e.Description, tc.desc) {
				t.Errorf("err = %v, want ReasonType with %q", err, tc.desc)
			}
		})
	}
}

func TestTxnMiddleware(t *testing.T) {
	f := txnFixture(t)
	h := f.v.TxnMiddleware(verify.RequireTxnScopes("orders.create")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := verify.TxnFromContext(r.Context())
		_, _ = w.Write([]byte(tok.Subject + " " + tok.Txn))
	})))
	tests := []struct {
		name   string
		tok    string
		status int
		code   string
		desc   string
	}{
		{"ok", f.txn(t, set("txn", "t-1")), 200, "", ""},
		{"no token", "", 401, "", "send it in the Txn-Token header"},
		{"expired", f.txn(t, set("exp", time.Now().Add(-time.Hour).Unix())), 401, verify.CodeInvalidToken, "the token expired at"},
		{"purpose", f.txn(t, set("scope", "orders.read")), 403, verify.CodeInsufficientScope,
			"the token lacks scope orders.create (it has: orders.read): the purpose of this transaction does not include it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := txnRequest()
			if tc.tok != "" {
				r = txnRequest(tc.tok)
			}
			// No WWW-Authenticate: a Txn-Token is no authentication scheme.
			checkAnswer(t, h, r, tc.status, "alice t-1", nil, tc.code, tc.desc, tc.tok)
		})
	}
}

func TestRequireTxnScopesWithoutMiddleware(t *testing.T) {
	h := verify.RequireTxnScopes("a")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler ran") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusUnauthorized || len(w.Header().Values("WWW-Authenticate")) != 0 || !strings.Contains(w.Body.String(), "a Transaction Token") {
		t.Errorf("%d %q %s, want 401 without a challenge", w.Code, w.Header().Values("WWW-Authenticate"), w.Body)
	}
}
