package verify_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/testidp"
	"github.com/tokex/tokex/sdk/verify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	api    = "https://api.example.com"
	apiURL = api + "/orders"
)

// fixture is a fake tokex (the test IdP: metadata and JWKS) and a Verifier
// for api.
type fixture struct {
	idp *testidp.IdP
	v   *verify.Verifier
}

func newFixture(t *testing.T, mod func(*verify.Config)) *fixture {
	t.Helper()
	idp := testidp.New(t)
	cfg := verify.Config{Issuer: idp.Issuer(), Audience: api}
	if mod != nil {
		mod(&cfg)
	}
	v, err := verify.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{idp: idp, v: v}
}

// at is an access token as tokex mints it: typ at+jwt, ES256.
func (f *fixture) at(t *testing.T, mod func(c map[string]any), opts ...testidp.SignOption) string {
	t.Helper()
	c := f.idp.Claims("alice", api)
	c["client_id"] = "orders"
	c["scope"] = "orders.read orders.write"
	if mod != nil {
		mod(c)
	}
	return f.idp.Sign(c, append([]testidp.SignOption{testidp.Alg(testidp.ES256), testidp.Header("typ", "at+jwt")}, opts...)...)
}

func x5t(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func request(auth string, dpop ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, apiURL+"?page=2", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	for _, p := range dpop {
		r.Header.Add("DPoP", p)
	}
	return r
}

func TestVerify(t *testing.T) {
	f := newFixture(t, nil)
	key, other := testidp.NewDPoPKey(t, false), testidp.NewDPoPKey(t, true)
	cert, otherCert := testidp.SelfSignedCert(t, pkix.Name{}), testidp.SelfSignedCert(t, pkix.Name{})
	now := time.Now()
	bound := func(c map[string]any) { c["cnf"] = map[string]any{"jkt": key.JKT()} }
	boundTok := f.at(t, bound)
	proof := func(k *testidp.DPoPKey, tok string, claims map[string]any) string {
		c := map[string]any{"ath": testidp.ATH(tok)}
		for n, v := range claims {
			c[n] = v
		}
		return k.Proof(t, http.MethodGet, apiURL, now, nil, c)
	}
	idToken := f.idp.Claims("alice", "client-123")
	idToken["nonce"] = "n-0S6_WzA2Mj"
	azp := f.idp.Claims("alice", "client-123")
	azp["azp"] = "client-123"
	certBound := f.at(t, func(c map[string]any) { c["cnf"] = map[string]any{"x5t#S256": x5t(cert)} })

	tests := []struct {
		name   string
		req    func() *http.Request
		twice  bool // the same request is verified twice; the second must fail
		reason verify.Reason
		code   string
		status int
		desc   string // a part of the description, where its wording is the point
	}{
		{name: "valid bearer", req: func() *http.Request { return request("Bearer " + f.at(t, nil)) }},
		{name: "valid RS256", req: func() *http.Request { return request("bearer " + f.at(t, nil, testidp.Alg(testidp.RS256))) }},
		{name: "typ application/at+jwt", req: func() *http.Request {
			return request("Bearer " + f.at(t, nil, testidp.Header("typ", "application/at+jwt")))
		}},
		{name: "valid DPoP", req: func() *http.Request { return request("DPoP "+boundTok, proof(key, boundTok, nil)) }},
		{name: "valid mTLS", req: func() *http.Request {
			r := request("Bearer " + certBound)
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
			return r
		}},

		{name: "no token", req: func() *http.Request { return request("") }, reason: verify.ReasonNoToken, status: 401},
		{name: "basic scheme", req: func() *http.Request { return request("Basic b3JkZXJzOng=") }, reason: verify.ReasonRequest, code: verify.CodeInvalidRequest, status: 400},
		{name: "not a JWT", req: func() *http.Request { return request("Bearer opaque-token") }, reason: verify.ReasonMalformed},
		{name: "alg none", req: func() *http.Request { return request("Bearer " + f.at(t, nil, testidp.None())) }, reason: verify.ReasonAlgorithm, desc: "unsigned"},
		{name: "HMAC with the public key", req: func() *http.Request {
			return request("Bearer " + f.at(t, nil, testidp.Alg(testidp.RS256), testidp.HS256WithPublicKey()))
		}, reason: verify.ReasonAlgorithm, desc: "HMAC"},
		{name: "foreign key", req: func() *http.Request { return request("Bearer " + f.at(t, nil, testidp.Foreign())) },
			reason: verify.ReasonKey, desc: "signed by a key not in " + f.idp.Issuer() + "'s JWKS"},
		{name: "foreign key with a published kid", req: func() *http.Request {
			return request("Bearer " + f.at(t, nil, testidp.Foreign(), testidp.KID(f.idp.KID(testidp.ES256))))
		}, reason: verify.ReasonSignature},
		{name: "jku header", req: func() *http.Request {
			return request("Bearer " + f.at(t, nil, testidp.Header("jku", "https://evil.example/jwks")))
		}, reason: verify.ReasonHeader},
		{name: "x5u header", req: func() *http.Request {
			return request("Bearer " + f.at(t, nil, testidp.Header("x5u", "https://evil.example/cert")))
		}, reason: verify.ReasonHeader},
		{name: "jwk header", req: func() *http.Request {
			return request("Bearer " + f.at(t, nil, testidp.Header("jwk", key.JWK)))
		}, reason: verify.ReasonHeader},
		{name: "x5c header", req: func() *http.Request {
			return request("Bearer " + f.at(t, nil, testidp.Header("x5c", []string{"MIIB"})))
		}, reason: verify.ReasonHeader},
		{name: "crit header", req: func() *http.Request {
			return request("Bearer " + f.at(t, nil, testidp.Header("crit", []string{"exp"})))
		}, reason: verify.ReasonHeader},
		{name: "typ JWT", req: func() *http.Request { return request("Bearer " + f.at(t, nil, testidp.Header("typ", "JWT"))) },
			reason: verify.ReasonType, desc: "not at+jwt"},
		{name: "no typ", req: func() *http.Request { return request("Bearer " + f.at(t, nil, testidp.Header("typ", nil))) },
			reason: verify.ReasonType},
		{name: "ID token with nonce", req: func() *http.Request { return request("Bearer " + f.idp.Sign(idToken)) },
			reason: verify.ReasonType, desc: "this is an ID token (it has a nonce claim), not an access token"},
		{name: "ID token aud is azp", req: func() *http.Request { return request("Bearer " + f.idp.Sign(azp)) },
			reason: verify.ReasonType, desc: "ID token"},
		{name: "transaction token", req: func() *http.Request {
			return request("Bearer " + f.at(t, nil, testidp.Header("typ", "txntoken+jwt")))
		}, reason: verify.ReasonType, desc: "not an access token"},
		{name: "ID-JAG", req: func() *http.Request {
			return request("Bearer " + f.at(t, nil, testidp.Header("typ", "oauth-id-jag+jwt")))
		}, reason: verify.ReasonType, desc: "not an access token"},
		{name: "wrong iss", req: func() *http.Request {
			return request("Bearer " + f.at(t, func(c map[string]any) { c["iss"] = "https://login.microsoftonline.com/t1/v2.0" }))
		}, reason: verify.ReasonIssuer, desc: "issued by https://login.microsoftonline.com/t1/v2.0, not by " + f.idp.Issuer() + ": exchange it at tokex first"},
		{name: "wrong aud", req: func() *http.Request {
			return request("Bearer " + f.at(t, func(c map[string]any) { c["aud"] = "https://graph.microsoft.com" }))
		}, reason: verify.ReasonAudience, desc: "the token is for https://graph.microsoft.com, not this API (https://api.example.com)"},
		{name: "expired", req: func() *http.Request {
			return request("Bearer " + f.at(t, func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }))
		}, reason: verify.ReasonExpired},
		{name: "no exp", req: func() *http.Request { return request("Bearer " + f.at(t, func(c map[string]any) { delete(c, "exp") })) },
			reason: verify.ReasonExpired},
		{name: "exp not a number", req: func() *http.Request {
			return request("Bearer " + f.at(t, func(c map[string]any) { c["exp"] = "soon" }))
		},
			reason: verify.ReasonMalformed},
		{name: "client_id a number", req: func() *http.Request {
			return request("Bearer " + f.at(t, func(c map[string]any) { c["client_id"] = 7 }))
		}, reason: verify.ReasonMalformed, desc: "the token's claim client_id is not of the right JSON type"},
		{name: "nbf in the future", req: func() *http.Request {
			return request("Bearer " + f.at(t, func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() }))
		}, reason: verify.ReasonNotYetValid},
		{name: "no sub", req: func() *http.Request { return request("Bearer " + f.at(t, func(c map[string]any) { delete(c, "sub") })) },
			reason: verify.ReasonClaims},

		{name: "DPoP-bound token as Bearer", req: func() *http.Request { return request("Bearer "+boundTok, proof(key, boundTok, nil)) },
			reason: verify.ReasonBinding, desc: "DPoP-bound"},
		{name: "DPoP-bound token without proof", req: func() *http.Request { return request("DPoP " + boundTok) },
			reason: "dpop_header", code: verify.CodeInvalidDPoPProof},
		{name: "replayed proof", req: func() *http.Request { return request("DPoP "+boundTok, proof(key, boundTok, nil)) }, twice: true,
			reason: "dpop_replay", code: verify.CodeInvalidDPoPProof},
		{name: "proof for another token", req: func() *http.Request { return request("DPoP "+boundTok, proof(key, f.at(t, bound), nil)) },
			reason: "dpop_ath", code: verify.CodeInvalidDPoPProof},
		{name: "proof without ath", req: func() *http.Request {
			return request("DPoP "+boundTok, proof(key, boundTok, map[string]any{"ath": nil}))
		}, reason: "dpop_ath", code: verify.CodeInvalidDPoPProof},
		{name: "proof with wrong htm", req: func() *http.Request {
			return request("DPoP "+boundTok, proof(key, boundTok, map[string]any{"htm": "POST"}))
		}, reason: "dpop_htm", code: verify.CodeInvalidDPoPProof},
		{name: "proof with wrong htu", req: func() *http.Request {
			return request("DPoP "+boundTok, proof(key, boundTok, map[string]any{"htu": api + "/admin"}))
		}, reason: "dpop_htu", code: verify.CodeInvalidDPoPProof},
		{name: "proof with http htu", req: func() *http.Request {
			return request("DPoP "+boundTok, proof(key, boundTok, map[string]any{"htu": "http://api.example.com/orders"}))
		}, reason: "dpop_htu", code: verify.CodeInvalidDPoPProof},
		{name: "stale proof", req: func() *http.Request {
			return request("DPoP "+boundTok, proof(key, boundTok, map[string]any{"iat": now.Add(-10 * time.Minute).Unix()}))
		}, reason: "dpop_iat", code: verify.CodeInvalidDPoPProof},
		{name: "proof by another key", req: func() *http.Request { return request("DPoP "+boundTok, proof(other, boundTok, nil)) },
			reason: verify.ReasonProofKey, code: verify.CodeInvalidDPoPProof},
		{name: "unbound token as DPoP", req: func() *http.Request {
			tok := f.at(t, nil)
			return request("DPoP "+tok, proof(key, tok, nil))
		}, reason: verify.ReasonBinding},
		{name: "unknown cnf method", req: func() *http.Request {
			return request("Bearer " + f.at(t, func(c map[string]any) { c["cnf"] = map[string]any{"jwk": key.JWK} }))
		}, reason: verify.ReasonBinding},
		{name: "certificate-bound token without certificate", req: func() *http.Request { return request("Bearer " + certBound) },
			reason: verify.ReasonCertificate},
		{name: "certificate mismatch", req: func() *http.Request {
			r := request("Bearer " + certBound)
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{otherCert}}
			return r
		}, reason: verify.ReasonCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req()
			tok, err := f.v.Verify(t.Context(), r)
			if tc.twice {
				if err != nil {
					t.Fatalf("first use: %v", err)
				}
				tok, err = f.v.Verify(t.Context(), r)
			}
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if tok.Subject != "alice" || tok.ClientID != "orders" || !tok.HasScope("orders.read") || tok.Expiry.IsZero() {
					t.Errorf("token = %+v", tok)
				}
				return
			}
			checkRefusal(t, err, tc.reason, tc.code, tc.status, tc.desc, strings.Fields(r.Header.Get("Authorization"))...)
		})
	}
}

// checkRefusal asserts that err is a *verify.Error for reason, with code
// (by default invalid_token, none for ReasonNoToken), status (by default
// 401) and a description holding desc, and that it holds none of tokens.
func checkRefusal(t *testing.T, err error, reason verify.Reason, code string, status int, desc string, tokens ...string) {
	t.Helper()
	var e *verify.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *verify.Error", err, err)
	}
	if code == "" && reason != verify.ReasonNoToken {
		code = verify.CodeInvalidToken
	}
	if status == 0 {
		status = http.StatusUnauthorized
	}
	if e.Reason != reason || e.Code != code || e.Status != status {
		t.Errorf("got %s/%s/%d, want %s/%s/%d (%s)", e.Reason, e.Code, e.Status, reason, code, status, e.Description)
	}
	if !strings.Contains(e.Description, desc) {
		t.Errorf("description %q lacks %q", e.Description, desc)
	}
	for _, tok := range tokens {
		if len(tok) > 20 && strings.Contains(e.Error(), tok) {
			t.Error("the error holds the token")
		}
	}
}

func TestRequireBinding(t *testing.T) {
	f := newFixture(t, func(c *verify.Config) { c.RequireBinding = true })
	key := testidp.NewDPoPKey(t, false)
	_, err := f.v.Verify(t.Context(), request("Bearer "+f.at(t, nil)))
	var e *verify.Error
	if !errors.As(err, &e) || e.Reason != verify.ReasonBinding || e.Code != verify.CodeInvalidToken {
		t.Fatalf("bearer token: err = %v, want binding refusal", err)
	}
	tok := f.at(t, func(c map[string]any) { c["cnf"] = map[string]any{"jkt": key.JKT()} })
	p := key.Proof(t, http.MethodGet, apiURL, time.Now(), nil, map[string]any{"ath": testidp.ATH(tok)})
	if _, err := f.v.Verify(t.Context(), request("DPoP "+tok, p)); err != nil {
		t.Fatalf("bound token: %v", err)
	}
}

func TestPublicURL(t *testing.T) {
	// Behind a proxy: the API sees http://internal:8080/orders, the client called the gateway.
	f := newFixture(t, func(c *verify.Config) { c.PublicURL = "https://gw.example.com/shop/" })
	key := testidp.NewDPoPKey(t, false)
	tok := f.at(t, func(c map[string]any) { c["cnf"] = map[string]any{"jkt": key.JKT()} })
	for _, tc := range []struct {
		htu string
		ok  bool
	}{{"https://gw.example.com/shop/orders", true}, {"http://internal:8080/orders", false}} {
		r := httptest.NewRequest(http.MethodGet, "http://internal:8080/orders", nil)
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", key.Proof(t, http.MethodGet, tc.htu, time.Now(), nil, map[string]any{"ath": testidp.ATH(tok)}))
		if _, err := f.v.Verify(t.Context(), r); (err == nil) != tc.ok {
			t.Errorf("htu %s: err = %v, want ok %v", tc.htu, err, tc.ok)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t, nil)
	before := f.idp.JWKSFetches()
	f.idp.Rotate(false)
	if _, err := f.v.Verify(t.Context(), request("Bearer "+f.at(t, nil))); err != nil {
		t.Fatalf("token signed by the new key: %v", err)
	}
	if n := f.idp.JWKSFetches() - before; n != 1 {
		t.Errorf("JWKS fetched %d times for the new kid, want 1", n)
	}
	// A second unknown kid within the interval is refused without a fetch.
	before = f.idp.JWKSFetches()
	_, err := f.v.Verify(t.Context(), request("Bearer "+f.at(t, nil, testidp.Foreign())))
	var e *verify.Error
	if !errors.As(err, &e) || e.Reason != verify.ReasonKey {
		t.Fatalf("err = %v, want ReasonKey", err)
	}
	if n := f.idp.JWKSFetches() - before; n != 0 {
		t.Errorf("JWKS fetched %d times, want 0 (rate limited)", n)
	}
}

func TestNewRefuses(t *testing.T) {
	idp := testidp.New(t)
	for _, tc := range []struct {
		name string
		cfg  verify.Config
	}{
		{"no audience", verify.Config{Issuer: idp.Issuer()}},
		{"issuer not a URL", verify.Config{Issuer: "sts", Audience: api}},
		{"HMAC allowed", verify.Config{Issuer: idp.Issuer(), Audience: api, Algorithms: []string{"HS256"}}},
		{"none allowed", verify.Config{Issuer: idp.Issuer(), Audience: api, Algorithms: []string{"none"}}},
		{"issuer with a trailing slash", verify.Config{Issuer: idp.Issuer() + "/", Audience: api}},
		{"JWKS unreachable", verify.Config{Issuer: idp.Issuer(), Audience: api, JWKSURL: idp.URL() + "/nothing"}},
		{"trust domain not a URI", verify.Config{Issuer: idp.Issuer(), Audience: api, TrustDomain: "trust.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := verify.New(t.Context(), tc.cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	f := newFixture(t, nil)
	key := testidp.NewDPoPKey(t, false)
	h := f.v.Middleware(verify.RequireScopes("orders.read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello " + verify.FromContext(r.Context()).Subject))
	})))
	bound := f.at(t, func(c map[string]any) { c["cnf"] = map[string]any{"jkt": key.JKT()} })
	tests := []struct {
		name      string
		auth      string
		status    int
		challenge []string // WWW-Authenticate values, in order (prefixes)
		code      string
	}{
		{"ok", "Bearer " + f.at(t, nil), 200, nil, ""},
		{"no token", "", 401, []string{"Bearer", `DPoP algs="ES256 ES384 RS256 PS256 EdDSA Ed25519"`}, ""},
		{"expired", "Bearer " + f.at(t, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), 401,
			[]string{`Bearer error="invalid_token", error_description="the token expired at `}, verify.CodeInvalidToken},
		{"downgrade", "Bearer " + bound, 401, []string{`DPoP error="invalid_token", error_description="the token is DPoP-bound`}, verify.CodeInvalidToken},
		{"scope", "Bearer " + f.at(t, func(c map[string]any) { c["scope"] = "orders.write" }), 403,
			[]string{`Bearer error="insufficient_scope", error_description="the token lacks scope orders.read (it has: orders.write): exchange at tokex for a token with it", scope="orders.read"`}, verify.CodeInsufficientScope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkAnswer(t, h, request(tc.auth), tc.status, "hello alice", tc.challenge, tc.code, "", strings.TrimPrefix(tc.auth, "Bearer "))
		})
	}
}

// checkAnswer serves r with h and checks the answer: status; for 200 the
// body ok; else the WWW-Authenticate challenges (prefixes, in order; none
// for nil) and the JSON body with code and a description holding desc,
// without token.
func checkAnswer(t *testing.T, h http.Handler, r *http.Request, status int, ok string, challenge []string, code, desc, token string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if status == http.StatusOK {
		if w.Body.String() != ok {
			t.Errorf("body %q, want %q", w.Body, ok)
		}
		return
	}
	got := w.Header().Values("WWW-Authenticate")
	if len(got) != len(challenge) {
		t.Fatalf("WWW-Authenticate = %q, want %q", got, challenge)
	}
	for i := range got {
		if !strings.HasPrefix(got[i], challenge[i]) {
			t.Errorf("WWW-Authenticate[%d] = %q, want prefix %q", i, got[i], challenge[i])
		}
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != code || body.Description == "" || !strings.Contains(body.Description, desc) {
		t.Errorf("body %s (%v), want error %q and a description with %q", w.Body, err, code, desc)
	}
	if token != "" && strings.Contains(w.Body.String()+strings.Join(got, ""), token) {
		t.Error("the answer echoes the token")
	}
}

func TestRequireScopesWithoutMiddleware(t *testing.T) {
	h := verify.RequireScopes("a")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler ran") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", w.Code)
	}
}

func TestFromContext(t *testing.T) {
	if verify.FromContext(context.Background()) != nil {
		t.Error("token in an empty context")
	}
	tok := &verify.Token{Subject: "alice"}
	if verify.FromContext(verify.NewContext(context.Background(), tok)) != tok {
		t.Error("token not found")
	}
}

func TestTokenFields(t *testing.T) {
	f := newFixture(t, nil)
	raw := f.at(t, func(c map[string]any) {
		c["act"] = map[string]any{"sub": "spiffe://example.com/orders", "iss": "https://mesh.example.com",
			"act": map[string]any{"sub": "gateway", "client_id": "gw"}}
		c["tid"] = "t1"
	})
	tok, err := f.v.Verify(t.Context(), request("Bearer "+raw))
	if err != nil {
		t.Fatal(err)
	}
	want := []verify.Actor{{Subject: "spiffe://example.com/orders", Issuer: "https://mesh.example.com"}, {Subject: "gateway", ClientID: "gw"}}
	if len(tok.Actors) != 2 || tok.Actors[0] != want[0] || tok.Actors[1] != want[1] {
		t.Errorf("Actors = %+v, want %+v", tok.Actors, want)
	}
	if tok.Issuer != f.idp.Issuer() || len(tok.Audience) != 1 || tok.Audience[0] != api || tok.Claims["tid"] != "t1" || tok.ID == "" || tok.IssuedAt.IsZero() || tok.Raw != raw {
		t.Errorf("token = %+v", tok)
	}
	// An act of the wrong shape is malformed, never skipped.
	_, err = f.v.Verify(t.Context(), request("Bearer "+f.at(t, func(c map[string]any) { c["act"] = "orders" })))
	var e *verify.Error
	if !errors.As(err, &e) || e.Reason != verify.ReasonMalformed {
		t.Errorf("act string: err = %v, want ReasonMalformed", err)
	}
}

func TestWriteErrorOther(t *testing.T) {
	w := httptest.NewRecorder()
	verify.WriteError(w, errors.New("internal detail"), nil)
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "internal detail") || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("%d %s %q", w.Code, w.Body, w.Header().Get("Content-Type"))
	}
}
