package e2e

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/testidp"
)

// TestExchange: accepted exchanges, checked as a client (SPEC §5.6) and as the
// downstream API verifying the minted token with tokex's JWKS (RFC 9068).
func TestExchange(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: exportSpans})
	meta := x.get(t, "/.well-known/oauth-authorization-server", nil)
	iss := meta.str("issuer")
	if iss != x.Issuer {
		t.Fatalf("metadata issuer = %q, want %q", iss, x.Issuer)
	}

	t.Run("response and minted token", func(t *testing.T) {
		t.Parallel()
		subjectClaims := up.corp.Claims("alice", x.Issuer)
		before := time.Now().Truncate(time.Second)
		r := x.post(t, request{form: exchangeForm(up.corp.Sign(subjectClaims), "audience", audInventory, "scope", "inventory.read")}.as(orders))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
		// expires_in must be a JSON integer, not 120.0 or "120".
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(r.Body, &raw); err != nil {
			t.Fatal(err)
		}
		if s := string(raw["expires_in"]); strings.ContainsAny(s, `."eE`) {
			t.Errorf("expires_in = %s, want a JSON integer", s)
		}
		exp, _ := r.JSON["expires_in"].(float64)
		if exp != 120 || exp != math.Trunc(exp) {
			t.Errorf("expires_in = %v, want 120 (rule lifetime 2m)", r.JSON["expires_in"])
		}
		for k, want := range map[string]string{
			"issued_token_type": api.TokenTypeAccessToken,
			"token_type":        "Bearer",
			"scope":             "inventory.read",
		} {
			if got, ok := r.JSON[k].(string); !ok || got != want {
				t.Errorf("%s = %#v, want %q", k, r.JSON[k], want)
			}
		}

		tok, c := x.verifyMinted(t, r.str("access_token"), iss, audInventory)
		for k, want := range map[string]any{"typ": "at+jwt", "alg": "ES256", "kid": x.KID} {
			if tok.Header[k] != want {
				t.Errorf("header %s = %v, want %v", k, tok.Header[k], want)
			}
		}
		// iss byte for byte the metadata issuer, aud exactly the rule's audience.
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(r.str("access_token"), ".")[1])
		var rawClaims map[string]json.RawMessage
		if err := json.Unmarshal(payload, &rawClaims); err != nil {
			t.Fatal(err)
		}
		if want, _ := json.Marshal(iss); string(rawClaims["iss"]) != string(want) {
			t.Errorf("iss = %s, metadata issuer = %s", rawClaims["iss"], want)
		}
		if c["sub"] != "alice" || c["client_id"] != "orders" || c["scope"] != "inventory.read" {
			t.Errorf("claims = %v", c)
		}
		if aud, _ := c.GetAudience(); len(aud) != 1 || aud[0] != audInventory {
			t.Errorf("aud = %v", aud)
		}
		iat, _ := c.GetIssuedAt()
		nbf, _ := c.GetNotBefore()
		expAt, _ := c.GetExpirationTime()
		if iat == nil || nbf == nil || expAt == nil {
			t.Fatalf("iat/nbf/exp missing: %v", c)
		}
		if iat.Before(before.Add(-time.Second)) || iat.After(time.Now().Add(time.Second)) || !nbf.Equal(iat.Time) {
			t.Errorf("iat %v nbf %v, exchange at %v", iat, nbf, before)
		}
		if got := expAt.Sub(iat.Time); got != 120*time.Second {
			t.Errorf("exp - iat = %v, want 2m", got)
		}
		if jti, _ := c["jti"].(string); len(jti) < 16 {
			t.Errorf("jti = %q", c["jti"])
		}
		for _, k := range []string{"nonce", "azp", "tid", "act"} {
			if _, ok := c[k]; ok {
				t.Errorf("minted token carries %s", k)
			}
		}

		ev := x.audit(t, r.TraceID)
		wantAudit(t, ev, map[string]any{
			"outcome": "granted", "client_id": "orders", "issuer": "corp", "subject": "alice",
			"rule": "orders-to-inventory", "audience": audInventory, "scope": "inventory.read",
			"jti": c["jti"], "expires_at": nil,
		})
		if _, ok := ev["error"]; ok {
			t.Errorf("granted audit event has error %v", ev["error"])
		}
	})

	t.Run("jti unique across exchanges of the same subject token", func(t *testing.T) {
		t.Parallel()
		subject := up.corp.Sign(up.corp.Claims("alice", x.Issuer))
		seen := map[string]bool{}
		for range 3 {
			r := x.post(t, request{form: exchangeForm(subject, "audience", audInventory)}.as(orders))
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			_, c := x.verifyMinted(t, r.str("access_token"), iss, audInventory)
			jti := c["jti"].(string)
			if seen[jti] {
				t.Errorf("jti %s issued twice", jti)
			}
			seen[jti] = true
			ev := x.audit(t, r.TraceID)
			wantAudit(t, ev, map[string]any{"jti": jti})
		}
	})

	tests := []struct {
		name      string
		idp       func() *testidp.IdP
		claims    map[string]any // added to the subject's claims
		opts      []testidp.SignOption
		client    clientCred
		form      []string
		aud       string
		scope     string
		lifetime  time.Duration // expected expires_in (upper bound when capped)
		capped    bool          // lifetime capped by the subject token's exp
		rule      string
		issuerTag string
	}{
		{name: "all rule scopes when none requested", form: []string{"audience", audInventory}, aud: audInventory,
			scope: "inventory.read inventory.write", lifetime: 2 * time.Minute, rule: "orders-to-inventory"},
		{name: "resource instead of audience (RFC 8707)", form: []string{"resource", audInventory}, aud: audInventory,
			scope: "inventory.read inventory.write", lifetime: 2 * time.Minute, rule: "orders-to-inventory"},
		{name: "ES256 subject token", opts: []testidp.SignOption{testidp.Alg(testidp.ES256)}, form: []string{"audience", audInventory},
			aud: audInventory, scope: "inventory.read inventory.write", lifetime: 2 * time.Minute, rule: "orders-to-inventory"},
		{name: "subject token without kid", opts: []testidp.SignOption{testidp.NoKID()}, form: []string{"audience", audInventory},
			aud: audInventory, scope: "inventory.read inventory.write", lifetime: 2 * time.Minute, rule: "orders-to-inventory"},
		{name: "jwt subject_token_type", form: []string{"audience", audInventory, "subject_token_type", api.TokenTypeJWT},
			aud: audInventory, scope: "inventory.read inventory.write", lifetime: 2 * time.Minute, rule: "orders-to-inventory"},
		{name: "issuer found by discovery", idp: func() *testidp.IdP { return up.partner }, form: []string{"audience", audInventory, "scope", "inventory.write"},
			aud: audInventory, scope: "inventory.write", lifetime: 2 * time.Minute, rule: "orders-to-inventory", issuerTag: "partner"},
		{name: "CEL condition true, default lifetime", claims: map[string]any{"tid": "t1"}, form: []string{"audience", audPayments},
			aud: audPayments, scope: "payments.charge payments.refund", lifetime: 5 * time.Minute, rule: "orders-to-payments"},
		{name: "the client's only rule, no audience; lifetime = max_lifetime", client: billing, aud: audLedger,
			scope: "ledger.read", lifetime: 10 * time.Minute, rule: "billing-to-ledger"},
		{name: "never outlives a subject token expiring in 60s", claims: map[string]any{"exp": time.Now().Add(60 * time.Second).Unix()},
			form: []string{"audience", audInventory}, aud: audInventory, scope: "inventory.read inventory.write",
			lifetime: 60 * time.Second, capped: true, rule: "orders-to-inventory"},
		{name: "subject token expiring in 90s caps the 5m default", claims: map[string]any{"exp": time.Now().Add(90 * time.Second).Unix(), "tid": "t1"},
			form: []string{"audience", audPayments, "scope", "payments.refund"}, aud: audPayments, scope: "payments.refund",
			lifetime: 90 * time.Second, capped: true, rule: "orders-to-payments"},
		{name: "charset=UTF-8 content type", form: []string{"audience", audInventory}, aud: audInventory,
			scope: "inventory.read inventory.write", lifetime: 2 * time.Minute, rule: "orders-to-inventory"},
		{name: "empty scope= means absent", form: []string{"audience", audInventory, "scope", ""}, aud: audInventory,
			scope: "inventory.read inventory.write", lifetime: 2 * time.Minute, rule: "orders-to-inventory"},
		{name: "empty parameters mean absent", form: []string{"audience", audInventory, "resource", "", "requested_token_type", "", "actor_token", "", "actor_token_type", ""},
			aud: audInventory, scope: "inventory.read inventory.write", lifetime: 2 * time.Minute, rule: "orders-to-inventory"},
		{name: "requested_token_type access_token", form: []string{"audience", audInventory, "requested_token_type", api.TokenTypeAccessToken},
			aud: audInventory, scope: "inventory.read inventory.write", lifetime: 2 * time.Minute, rule: "orders-to-inventory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idp := up.corp
			if tc.idp != nil {
				idp = tc.idp()
			}
			cl := tc.client
			if cl.id == "" {
				cl = orders
			}
			claims := idp.Claims("alice@example.com", x.Issuer)
			for k, v := range tc.claims {
				claims[k] = v
			}
			req := request{form: exchangeForm(idp.Sign(claims, tc.opts...), tc.form...)}.as(cl)
			if strings.Contains(tc.name, "charset") {
				req.contentType = "application/x-www-form-urlencoded; charset=UTF-8"
			}
			r := x.post(t, req)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if got := r.str("scope"); got != tc.scope {
				t.Errorf("scope = %q, want %q", got, tc.scope)
			}
			expiresIn := time.Duration(r.JSON["expires_in"].(float64)) * time.Second
			_, c := x.verifyMinted(t, r.str("access_token"), iss, tc.aud)
			expAt, _ := c.GetExpirationTime()
			if tc.capped {
				if expiresIn <= 0 || expiresIn > tc.lifetime {
					t.Errorf("expires_in = %v, want in (0, %v]", expiresIn, tc.lifetime)
				}
				if subjectExp := time.Unix(int64(claims["exp"].(int64)), 0); expAt.After(subjectExp) {
					t.Errorf("minted exp %v is after the subject token's exp %v", expAt, subjectExp)
				}
			} else if expiresIn != tc.lifetime {
				t.Errorf("expires_in = %v, want %v", expiresIn, tc.lifetime)
			}
			if c["scope"] != tc.scope || c["client_id"] != cl.id || c["sub"] != "alice@example.com" {
				t.Errorf("claims = %v", c)
			}
			tag := tc.issuerTag
			if tag == "" {
				tag = "corp"
			}
			wantAudit(t, x.audit(t, r.TraceID), map[string]any{
				"outcome": "granted", "client_id": cl.id, "issuer": tag, "rule": tc.rule, "audience": tc.aud, "scope": tc.scope,
			})
		})
	}
}

// TestDownscoping: granted = requested ∩ rule; none requested: all of the
// rule's; nothing in common: invalid_scope (SPEC §5.4).
func TestDownscoping(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: exportSpans})
	tests := []struct {
		name, scope, want string
	}{
		{name: "one of two", scope: "inventory.write", want: "inventory.write"},
		{name: "both, in the requested order", scope: "inventory.write inventory.read", want: "inventory.write inventory.read"},
		{name: "intersection drops the rest", scope: "inventory.read admin openid inventory.delete", want: "inventory.read"},
		{name: "duplicates collapse", scope: "inventory.read inventory.read", want: "inventory.read"},
		{name: "extra spaces", scope: "  inventory.read   inventory.write ", want: "inventory.read inventory.write"},
		{name: "none requested", scope: absent, want: "inventory.read inventory.write"},
		{name: "disjoint", scope: "admin openid"},
		{name: "a prefix is not a scope", scope: "inventory"},
		{name: "case matters", scope: "INVENTORY.READ"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := x.post(t, request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audInventory, "scope", tc.scope)}.as(orders))
			ev := x.audit(t, r.TraceID)
			if tc.want == "" {
				wantError(t, r, http.StatusBadRequest, api.ErrInvalidScope, "orders-to-inventory")
				wantAudit(t, ev, map[string]any{"outcome": "refused", "error": "invalid_scope", "rule": "orders-to-inventory", "client_id": "orders"})
				return
			}
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if r.str("scope") != tc.want {
				t.Errorf("scope = %q, want %q", r.str("scope"), tc.want)
			}
			_, c := x.verifyMinted(t, r.str("access_token"), x.Issuer, audInventory)
			if c["scope"] != tc.want {
				t.Errorf("token scope = %v, want %q", c["scope"], tc.want)
			}
			wantAudit(t, ev, map[string]any{"outcome": "granted", "scope": tc.want})
		})
	}
}

// TestClientAuthentication: client_secret_basic (both encodings) and
// client_secret_post work; everything else is 401 invalid_client with a Basic
// challenge, or 400 invalid_request for two methods at once (RFC 6749 §2.3).
func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: exportSpans})
	subject := func() url.Values {
		return exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audLedger)
	}
	withPost := func(f url.Values, id, secret string) url.Values {
		f.Set("client_id", id)
		if secret != "" {
			f.Set("client_secret", secret)
		}
		return f
	}
	basicHeader := func(v string) map[string]string { return map[string]string{"Authorization": v} }
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	tests := []struct {
		name   string
		req    func() request
		status int
		code   api.ErrorCode
		edge   bool // refused by the HTTP edge, before the exchange pipeline (no audit event)
	}{
		{name: "Basic, form-urlencoded credentials", req: func() request { return request{form: subject()}.as(billing) }, status: 200},
		{name: "Basic, raw credentials (not urlencoded)", req: func() request { r := request{form: subject()}.as(billing); r.basicRaw = true; return r }, status: 200},
		{name: "Basic, unreserved-only secret, urlencoded", req: func() request {
			return request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audInventory)}.as(orders)
		}, status: 200},
		{name: "Basic, unreserved-only secret, raw", req: func() request {
			r := request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audInventory)}.as(orders)
			r.basicRaw = true
			return r
		}, status: 200},
		{name: "client_secret_post", req: func() request { return request{form: withPost(subject(), billing.id, billing.secret)} }, status: 200},
		{name: "Basic plus matching client_id in the body", req: func() request { return request{form: withPost(subject(), billing.id, "")}.as(billing) }, status: 200},

		{name: "wrong secret, Basic", req: func() request { return request{form: subject()}.as(clientCred{billing.id, billing.secret + "x"}) }, status: 401, code: api.ErrInvalidClient},
		{name: "wrong secret, post", req: func() request { return request{form: withPost(subject(), billing.id, "wrong-secret-value")} }, status: 401, code: api.ErrInvalidClient},
		{name: "another client's secret", req: func() request { return request{form: subject()}.as(clientCred{billing.id, orders.secret}) }, status: 401, code: api.ErrInvalidClient},
		{name: "unknown client", req: func() request { return request{form: subject()}.as(clientCred{"mallory", billing.secret}) }, status: 401, code: api.ErrInvalidClient},
		{name: "unknown client, post", req: func() request { return request{form: withPost(subject(), "mallory", billing.secret)} }, status: 401, code: api.ErrInvalidClient},
		{name: "no credentials", req: func() request { return request{form: subject()} }, status: 401, code: api.ErrInvalidClient},
		{name: "client_id without secret", req: func() request { return request{form: withPost(subject(), billing.id, "")} }, status: 401, code: api.ErrInvalidClient},
		{name: "empty Basic secret", req: func() request { return request{form: subject()}.as(clientCred{billing.id, ""}) }, status: 401, code: api.ErrInvalidClient},
		{name: "Basic client_id differs from body client_id", req: func() request { return request{form: withPost(subject(), "orders", "")}.as(billing) }, status: 401, code: api.ErrInvalidClient},
		{name: "Basic and client_secret_post at once", req: func() request { return request{form: withPost(subject(), billing.id, billing.secret)}.as(billing) }, status: 400, code: api.ErrInvalidRequest},
		{name: "Bearer instead of Basic", req: func() request { return request{form: subject(), header: basicHeader("Bearer " + billing.secret)} }, status: 401, code: api.ErrInvalidClient, edge: true},
		{name: "Basic with bad base64", req: func() request { return request{form: subject(), header: basicHeader("Basic !!!not-base64")} }, status: 401, code: api.ErrInvalidClient, edge: true},
		{name: "Basic without colon", req: func() request { return request{form: subject(), header: basicHeader("Basic " + b64("billing"))} }, status: 401, code: api.ErrInvalidClient, edge: true},
		{name: "secret differs only in case", req: func() request {
			return request{form: subject()}.as(clientCred{billing.id, strings.ToUpper(billing.secret)})
		}, status: 401, code: api.ErrInvalidClient},
		{name: "a client without a rule for the audience", req: func() request { return request{form: subject()}.as(orders) }, status: 400, code: api.ErrInvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := x.post(t, tc.req())
			if tc.status == 200 {
				if r.Status != 200 {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				return
			}
			wantError(t, r, tc.status, tc.code)
			if !tc.edge {
				wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "refused", "error": string(tc.code), "jti": ""})
			}
		})
	}
}
