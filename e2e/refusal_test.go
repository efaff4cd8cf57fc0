package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/testidp"
)

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestSubjectTokenRefusals: every way a subject token is refused (SPEC §5.2) is
// 400 invalid_request (RFC 8693 §2.2.2) whose description names the check, with
// one audit event naming the reason, and no token anywhere.
func TestSubjectTokenRefusals(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: exportSpans})
	corp, partner := up.corp, up.partner
	now := time.Now()

	type tc struct {
		name   string
		claims map[string]any // changes to corp's claims for alice (nil value: delete)
		opts   []testidp.SignOption
		idp    *testidp.IdP
		raw    func() string // a hand-made token instead
		form   []string      // form overrides
		reason issuer.Reason
		desc   []string // the description must mention these
	}
	garbage := "garbage-" + rand.Text() + rand.Text()
	tests := []tc{
		{name: "alg none", opts: []testidp.SignOption{testidp.None()}, reason: issuer.ReasonAlgorithm, desc: []string{"algorithm", "none"}},
		{name: "alg HS256 keyed with the RSA public key", opts: []testidp.SignOption{testidp.HS256WithPublicKey()}, reason: issuer.ReasonAlgorithm, desc: []string{"algorithm", "HS256"}},
		{name: "foreign key, unknown kid", opts: []testidp.SignOption{testidp.Foreign()}, reason: issuer.ReasonUnknownKey, desc: []string{"unknown key id"}},
		{name: "foreign key with the issuer's kid", opts: []testidp.SignOption{testidp.Foreign(), testidp.KID(corp.KID(testidp.RS256))}, reason: issuer.ReasonSignature, desc: []string{"signature"}},
		{name: "kid and key of the other trusted issuer", opts: []testidp.SignOption{testidp.SignedBy(partner)}, reason: issuer.ReasonUnknownKey, desc: []string{"unknown key id"}},
		{name: "key of the other trusted issuer, no kid", opts: []testidp.SignOption{testidp.SignedBy(partner), testidp.NoKID()}, reason: issuer.ReasonSignature, desc: []string{"signature"}},
		{name: "unknown kid", opts: []testidp.SignOption{testidp.KID("no-such-key")}, reason: issuer.ReasonUnknownKey, desc: []string{"unknown key id", "no-such-key"}},
		{name: "jku header", opts: []testidp.SignOption{testidp.Header("jku", "https://evil.example/jwks.json")}, reason: issuer.ReasonHeader, desc: []string{"jku"}},
		{name: "jwk header", opts: []testidp.SignOption{testidp.Header("jwk", map[string]any{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"})}, reason: issuer.ReasonHeader, desc: []string{"jwk"}},
		{name: "x5u header", opts: []testidp.SignOption{testidp.Header("x5u", "https://evil.example/cert.pem")}, reason: issuer.ReasonHeader, desc: []string{"x5u"}},
		{name: "x5c header", opts: []testidp.SignOption{testidp.Header("x5c", []string{"MIIBszCCAVmgAwIBAgIU"})}, reason: issuer.ReasonHeader, desc: []string{"x5c"}},
		{name: "crit header", opts: []testidp.SignOption{testidp.Header("crit", []string{"b64"}), testidp.Header("b64", false)}, reason: issuer.ReasonHeader, desc: []string{"crit"}},
		{name: "untrusted iss", claims: map[string]any{"iss": "https://evil.example.com"}, reason: issuer.ReasonUntrustedIssuer, desc: []string{"untrusted issuer", "https://evil.example.com"}},
		{name: "missing iss", claims: map[string]any{"iss": nil}, reason: issuer.ReasonUntrustedIssuer, desc: []string{"iss"}},
		{name: "wrong aud names the token's audience", claims: map[string]any{"aud": "https://graph.microsoft.com"}, reason: issuer.ReasonAudience, desc: []string{"audience", "https://graph.microsoft.com"}},
		{name: "expired", claims: map[string]any{"exp": now.Add(-time.Hour).Unix()}, reason: issuer.ReasonExpired, desc: []string{"expired"}},
		{name: "expired, within leeway: nothing left to mint", claims: map[string]any{"exp": time.Now().Add(-time.Second).Unix()}, reason: issuer.ReasonExpired, desc: []string{"expire"}},
		{name: "nbf in the future", claims: map[string]any{"nbf": now.Add(time.Hour).Unix()}, reason: issuer.ReasonNotYetValid, desc: []string{"not valid before"}},
		{name: "iat in the future", claims: map[string]any{"iat": now.Add(time.Hour).Unix()}, reason: issuer.ReasonIssuedInFuture, desc: []string{"issued in the future"}},
		{name: "no exp", claims: map[string]any{"exp": nil}, reason: issuer.ReasonMissingClaim, desc: []string{"exp"}},
		{name: "no sub", claims: map[string]any{"sub": nil}, reason: issuer.ReasonMissingClaim, desc: []string{"sub"}},
		{name: "ID token (nonce) as access_token", claims: map[string]any{"nonce": "n-0S6_WzA2Mj"}, reason: issuer.ReasonIDToken, desc: []string{"ID token", "nonce"}},
		{name: "ID token (aud == azp) as access_token", claims: map[string]any{"aud": "spa-client", "azp": "spa-client"}, reason: issuer.ReasonIDToken, desc: []string{"ID token", "spa-client"}},
		{name: "id_token type not allowed for the issuer", form: []string{"subject_token_type", api.TokenTypeIDToken}, reason: issuer.ReasonTokenType, desc: []string{"id_token", "not accepted"}},
		{name: "jwt type not allowed for the partner issuer", idp: partner, form: []string{"subject_token_type", api.TokenTypeJWT}, reason: issuer.ReasonTokenType, desc: []string{"not accepted"}},
		{name: "ES256 not allowed for the partner issuer", idp: partner, opts: []testidp.SignOption{testidp.Alg(testidp.ES256)}, reason: issuer.ReasonAlgorithm, desc: []string{"ES256"}},
		{name: "garbage", raw: func() string { return garbage }, reason: issuer.ReasonMalformed, desc: []string{"not a JWT"}},
		{name: "two segments", raw: func() string {
			return b64url(`{"alg":"RS256","kid":"k"}`) + "." + b64url(`{"iss":"`+corp.Issuer()+`","sub":"alice"}`)
		}, reason: issuer.ReasonMalformed},
		{name: "bad base64", raw: func() string { return "eyJ!!!." + b64url(`{"sub":"alice-bad-base64"}`) + ".c2lnbmF0dXJlLXZhbHVl" }, reason: issuer.ReasonMalformed},
		{name: "claims are a JSON array", opts: []testidp.SignOption{testidp.Payload([]byte(`["alice","` + corp.Issuer() + `"]`))}, reason: issuer.ReasonMalformed},
		{name: "20 KB token", claims: map[string]any{"padding": strings.Repeat("A", 20<<10)}, reason: issuer.ReasonMalformed, desc: []string{"bytes"}},
		// Issue 12: NumericDates beyond a time's range are the far future (or
		// past), a non-string aud member is malformed, and base64url has one
		// spelling (no CR/LF the decoder would skip).
		{name: "nbf 1e19", claims: map[string]any{"nbf": 1e19}, reason: issuer.ReasonNotYetValid, desc: []string{"not valid before", "far future"}},
		{name: "nbf 1e300", claims: map[string]any{"nbf": 1e300}, reason: issuer.ReasonNotYetValid, desc: []string{"far future"}},
		{name: "nbf 9223372000000000000", claims: map[string]any{"nbf": uint64(9223372000000000000)}, reason: issuer.ReasonNotYetValid, desc: []string{"far future"}},
		{name: "iat 9.3e18", claims: map[string]any{"iat": 9.3e18}, reason: issuer.ReasonIssuedInFuture, desc: []string{"issued in the future", "far future"}},
		{name: "exp -1e19", claims: map[string]any{"exp": -1e19}, reason: issuer.ReasonExpired, desc: []string{"expired", "far past"}},
		{name: "aud [null, accepted]", raw: func() string {
			c := corp.Claims("alice", x.Issuer)
			c["aud"] = []any{nil, x.Issuer}
			return corp.Sign(c)
		}, reason: issuer.ReasonMalformed, desc: []string{"aud must be a string or an array of strings"}},
		{name: "aud [1, accepted]", raw: func() string {
			c := corp.Claims("alice", x.Issuer)
			c["aud"] = []any{1, x.Issuer}
			return corp.Sign(c)
		}, reason: issuer.ReasonMalformed, desc: []string{"aud must be"}},
		{name: "CRLF appended to the signature", raw: func() string { return corp.Sign(corp.Claims("alice", x.Issuer)) + "\r\n" }, reason: issuer.ReasonMalformed, desc: []string{"well-formed"}},
		{name: "LF inside the signature", raw: func() string {
			t := corp.Sign(corp.Claims("alice", x.Issuer))
			return t[:len(t)-8] + "\n" + t[len(t)-8:]
		}, reason: issuer.ReasonMalformed, desc: []string{"well-formed"}},
		{name: "JWE-shaped (5 segments)", raw: func() string {
			return b64url(`{"alg":"RSA-OAEP-256","enc":"A256GCM"}`) + "." + b64url(rand.Text()) + "." + b64url(rand.Text()) + "." + b64url(rand.Text()+rand.Text()) + "." + b64url(rand.Text())
		}, reason: issuer.ReasonMalformed, desc: []string{"encrypted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := tt.idp
			if idp == nil {
				idp = corp
			}
			var raw string
			if tt.raw != nil {
				raw = tt.raw()
			} else {
				c := idp.Claims("alice", x.Issuer)
				for k, v := range tt.claims {
					if v == nil {
						delete(c, k)
					} else {
						c[k] = v
					}
				}
				raw = idp.Sign(c, tt.opts...)
			}
			form := exchangeForm(raw, append([]string{"audience", audInventory}, tt.form...)...)
			r := x.post(t, request{form: form}.as(orders))
			wantError(t, r, http.StatusBadRequest, api.ErrInvalidRequest, append([]string{"subject"}, tt.desc...)...)
			wantAudit(t, x.audit(t, r.TraceID), map[string]any{
				"outcome": "refused", "error": "invalid_request", "reason": string(tt.reason), "client_id": "orders", "jti": "",
			})
		})
	}
}

// TestRequestRefusals: malformed requests and policy refusals.
func TestRequestRefusals(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: exportSpans})
	valid := func() string { return up.corp.Sign(up.corp.Claims("alice", x.Issuer)) }
	str := func(s string) *string { return &s }

	tests := []struct {
		name    string
		req     func() request
		status  int
		code    api.ErrorCode
		desc    []string
		notDesc []string // the description must not mention these
		audited bool     // the refusal reaches the exchange pipeline (audit event expected)
		rule    string
	}{
		{name: "missing grant_type", req: func() request { return request{form: exchangeForm(valid(), "grant_type", absent)}.as(orders) },
			status: 400, code: api.ErrInvalidRequest, desc: []string{"grant_type"}, audited: true},
		{name: "missing subject_token", req: func() request { return request{form: exchangeForm(valid(), "subject_token", absent)}.as(orders) },
			status: 400, code: api.ErrInvalidRequest, desc: []string{"subject_token"}, audited: true},
		{name: "missing subject_token_type", req: func() request { return request{form: exchangeForm(valid(), "subject_token_type", absent)}.as(orders) },
			status: 400, code: api.ErrInvalidRequest, desc: []string{"subject_token_type"}, audited: true},
		{name: "wrong grant_type", req: func() request {
			return request{form: exchangeForm(valid(), "grant_type", "client_credentials")}.as(orders)
		},
			status: 400, code: api.ErrUnsupportedGrantType, audited: true},
		{name: "JWT bearer grant_type with token exchange parameters", req: func() request {
			return request{form: exchangeForm(valid(), "grant_type", api.GrantTypeJWTBearer)}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest, desc: []string{"assertion is required"}, audited: true},
		{name: "SAML 2.0 bearer grant_type", req: func() request {
			return request{form: exchangeForm(valid(), "grant_type", "urn:ietf:params:oauth:grant-type:saml2-bearer")}.as(orders)
		}, status: 400, code: api.ErrUnsupportedGrantType, audited: true},
		{name: "unknown subject_token_type", req: func() request {
			return request{form: exchangeForm(valid(), "subject_token_type", "urn:ietf:params:oauth:token-type:saml2")}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest, desc: []string{"subject_token_type"}, audited: true},
		{name: "requested_token_type refresh_token", req: func() request {
			return request{form: exchangeForm(valid(), "requested_token_type", api.TokenTypeRefreshToken)}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest, desc: []string{"requested_token_type"}, audited: true},
		{name: "requested_token_type id_token", req: func() request {
			return request{form: exchangeForm(valid(), "requested_token_type", api.TokenTypeIDToken)}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest, desc: []string{"requested_token_type"}, audited: true},
		{name: "no rule for the audience", req: func() request {
			return request{form: exchangeForm(valid(), "audience", "https://admin.example.com")}.as(orders)
		},
			status: 400, code: api.ErrInvalidTarget, desc: []string{"https://admin.example.com"}, audited: true},
		{name: "no rule for this client and audience", req: func() request { return request{form: exchangeForm(valid(), "audience", audInventory)}.as(billing) },
			status: 400, code: api.ErrInvalidTarget, audited: true},
		{name: "no audience and several rules", req: func() request { return request{form: exchangeForm(valid())}.as(orders) },
			status: 400, code: api.ErrInvalidTarget, desc: []string{"audience"}, audited: true},
		{name: "audience and resource disagree", req: func() request {
			return request{form: exchangeForm(valid(), "audience", audInventory, "resource", audPayments)}.as(orders)
		}, status: 400, code: api.ErrInvalidTarget, audited: true},
		{name: "rule condition false names the rule, not the condition", req: func() request {
			c := up.corp.Claims("alice", x.Issuer)
			c["tid"] = "t2"
			return request{form: exchangeForm(up.corp.Sign(c), "audience", audPayments)}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest, desc: []string{"orders-to-payments"}, notDesc: []string{"claims.tid", `"t1"`, "t1", "startsWith"}, audited: true, rule: "orders-to-payments"},
		{name: "rule condition on a missing claim", req: func() request { return request{form: exchangeForm(valid(), "audience", audPayments)}.as(orders) },
			status: 400, code: api.ErrInvalidRequest, desc: []string{"orders-to-payments"}, notDesc: []string{"claims.tid", "no such key", "t1"}, audited: true, rule: "orders-to-payments"},
		{name: "actor_token (delegation not enabled)", req: func() request {
			return request{form: exchangeForm(valid(), "audience", audInventory, "actor_token", valid(), "actor_token_type", api.TokenTypeAccessToken)}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest, audited: true},
		{name: "actor_token_type without actor_token", req: func() request {
			return request{form: exchangeForm(valid(), "audience", audInventory, "actor_token_type", api.TokenTypeAccessToken)}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest, audited: true},
		{name: "Content-Type application/json", req: func() request {
			return request{body: str(`{"grant_type":"` + api.GrantTypeTokenExchange + `","subject_token":"` + valid() + `"}`), contentType: "application/json"}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest, desc: []string{"Content-Type"}},
		{name: "no Content-Type", req: func() request {
			return request{form: exchangeForm(valid(), "audience", audInventory), contentType: "-"}.as(orders)
		},
			status: 400, code: api.ErrInvalidRequest},
		{name: "multipart/form-data", req: func() request {
			return request{form: exchangeForm(valid(), "audience", audInventory), contentType: "multipart/form-data; boundary=x"}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest},
		{name: "body larger than 64 KiB", req: func() request {
			return request{form: exchangeForm(valid(), "audience", audInventory, "padding", strings.Repeat("p", 70<<10))}.as(orders)
		}, status: http.StatusRequestEntityTooLarge, code: api.ErrInvalidRequest},
		{name: "subject_token in the URL query", req: func() request {
			tok := valid()
			f := exchangeForm(tok, "audience", audInventory)
			return request{form: f, query: url.Values{"subject_token": {tok}}.Encode()}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest, desc: []string{"body"}},
		{name: "all parameters in the URL query, none in the body", req: func() request {
			return request{form: url.Values{}, query: exchangeForm(valid(), "audience", audInventory).Encode()}.as(orders)
		}, status: 400, code: api.ErrInvalidRequest},
		{name: "client_secret in the URL query", req: func() request {
			return request{form: exchangeForm(valid(), "audience", audInventory, "client_id", "billing"), query: "client_secret=" + url.QueryEscape(billing.secret)}
		}, status: 400, code: api.ErrInvalidRequest},
		{name: "body is not form-urlencoded", req: func() request { return request{body: str("subject_token=%zz&grant_type=%")}.as(orders) },
			status: 400, code: api.ErrInvalidRequest},
	}
	// A parameter given twice is invalid_request (RFC 6749 §3.2), each of them.
	for _, p := range []string{"grant_type", "subject_token", "subject_token_type", "audience", "resource", "scope", "requested_token_type", "actor_token", "actor_token_type", "client_id", "client_secret"} {
		tests = append(tests, struct {
			name    string
			req     func() request
			status  int
			code    api.ErrorCode
			desc    []string
			notDesc []string
			audited bool
			rule    string
		}{name: "duplicate " + p, req: func() request {
			f := exchangeForm(valid(), "audience", audInventory, "client_id", billing.id, "client_secret", billing.secret)
			v := f.Get(p)
			if v == "" {
				v = "x-" + p
			}
			f[p] = []string{v, v}
			return request{form: f}
		}, status: 400, code: api.ErrInvalidRequest, desc: []string{p}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := x.post(t, tc.req())
			wantError(t, r, tc.status, tc.code, tc.desc...)
			for _, d := range tc.notDesc {
				if strings.Contains(r.str("error_description"), d) {
					t.Errorf("error_description %q leaks %q", r.str("error_description"), d)
				}
			}
			if tc.audited {
				ev := x.audit(t, r.TraceID)
				want := map[string]any{"outcome": "refused", "error": string(tc.code), "reason": nil}
				if tc.rule != "" {
					want["rule"] = tc.rule
				}
				wantAudit(t, ev, want)
				for _, d := range tc.notDesc {
					if s, _ := ev["error_description"].(string); strings.Contains(s, d) {
						t.Errorf("audit error_description leaks %q", d)
					}
				}
			}
		})
	}
}

// TestUpstreamKeysUnavailable: an issuer whose keys cannot be had is answered
// 503 temporarily_unavailable, never with a token; an issuer that goes down
// after start keeps verifying with its cached keys, and an unknown kid is then
// 503, not "unknown key".
func TestUpstreamKeysUnavailable(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	down := testidp.New(t, testidp.WithJWKSMode(testidp.Fail))
	flaky := testidp.New(t)
	extraIssuers := "  - name: down\n    issuer_url: " + down.Issuer() + "\n    jwks_uri: " + down.JWKSURI() +
		"\n  - name: flaky\n    issuer_url: " + flaky.Issuer() + "\n    jwks_uri: " + flaky.JWKSURI() + "\n"
	extraRules := "  - name: down-rule\n    clients: [orders]\n    issuers: [down, flaky]\n    audience: https://down.example.com\n    scopes: [down.read]\n"
	x := start(t, startOpts{policy: up.policy(extraIssuers, extraRules)})

	ready := x.get(t, "/readyz", nil)
	if ready.Status != http.StatusOK {
		t.Errorf("/readyz = %d with one upstream down: one IdP must not take tokex out", ready.Status)
	}

	for range 3 {
		r := x.post(t, request{form: exchangeForm(down.Sign(down.Claims("alice", x.Issuer)), "audience", "https://down.example.com")}.as(orders))
		wantError(t, r, http.StatusServiceUnavailable, api.ErrTemporarilyUnavailable)
		wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "refused", "error": "temporarily_unavailable", "reason": string(issuer.ReasonKeysUnavailable)})
		if r.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	// Bad input for the down issuer is still 400, not 503.
	r := x.post(t, request{form: exchangeForm(down.Sign(down.Claims("alice", x.Issuer), testidp.None()), "audience", "https://down.example.com")}.as(orders))
	wantError(t, r, http.StatusBadRequest, api.ErrInvalidRequest, "algorithm")

	// flaky goes down after start.
	r = x.post(t, request{form: exchangeForm(flaky.Sign(flaky.Claims("alice", x.Issuer)), "audience", "https://down.example.com")}.as(orders))
	if r.Status != http.StatusOK {
		t.Fatalf("flaky up: %d %s", r.Status, r.Body)
	}
	flaky.SetJWKSMode(testidp.Fail)
	r = x.post(t, request{form: exchangeForm(flaky.Sign(flaky.Claims("bob", x.Issuer)), "audience", "https://down.example.com")}.as(orders))
	if r.Status != http.StatusOK {
		t.Errorf("cached keys while the IdP is down: %d %s", r.Status, r.Body)
	}
	r = x.post(t, request{form: exchangeForm(flaky.Sign(flaky.Claims("bob", x.Issuer), testidp.Foreign()), "audience", "https://down.example.com")}.as(orders))
	wantError(t, r, http.StatusServiceUnavailable, api.ErrTemporarilyUnavailable)
}

// TestEdgeRefusalsAreAudited: SPEC §5 says every exchange, accepted or
// refused, produces one audit event. Requests refused by the HTTP edge before
// the exchange pipeline runs (content type, parameters in the URL, a repeated
// parameter, an oversized body, a non-Basic Authorization header) are refused
// exchanges too; a token in the URL in particular is the kind of misuse an
// operator wants to see.
func TestEdgeRefusalsAreAudited(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: exportSpans})
	valid := func() string { return up.corp.Sign(up.corp.Claims("alice", x.Issuer)) }
	body := `{"grant_type":"x"}`
	reqs := map[string]request{
		"Content-Type application/json": {body: &body, contentType: "application/json"},
		"subject_token in the URL":      {form: exchangeForm(valid(), "audience", audInventory), query: "subject_token=" + valid()},
		"duplicate parameter":           {form: exchangeForm(valid(), "audience", audInventory, "scope", "a"), query: ""},
		"body larger than 64 KiB":       {form: exchangeForm(valid(), "padding", strings.Repeat("p", 70<<10))},
		"Bearer Authorization":          {form: exchangeForm(valid(), "audience", audInventory), header: map[string]string{"Authorization": "Bearer abc"}},
	}
	dup := reqs["duplicate parameter"]
	dup.form["scope"] = []string{"a", "b"}
	var missing []string
	ids := map[string]string{}
	for name, r := range reqs {
		if name != "Bearer Authorization" {
			r = r.as(orders)
		}
		resp := x.post(t, r)
		if resp.Status/100 != 4 {
			t.Fatalf("%s: status %d", name, resp.Status)
		}
		ids[name] = resp.TraceID
	}
	time.Sleep(500 * time.Millisecond) // audit lines are written before the answer; let the pipe catch up
	evs := auditEvents(x.stdout.String())
	for name, id := range ids {
		found := false
		for _, ev := range evs {
			if ev["trace_id"] == id {
				found = true
			}
		}
		if !found {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("refusals at the HTTP edge produced no audit event: %s", strings.Join(missing, ", "))
	}
}
