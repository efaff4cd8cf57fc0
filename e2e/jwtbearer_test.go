package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
)

// TestJWTBearerGrant: the RFC 7523 §2.1 grant from the built binary: a
// workload trades its JWT for an access token without client credentials
// (a rule with allow_unauthenticated), or as an authenticated client; the
// assertion is good once; a bad one is invalid_grant; the metadata lists the
// grant.
func TestJWTBearerGrant(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	const audWorkloads = "https://workloads.example.com"
	x := start(t, startOpts{policy: up.policy("", `  - name: workload-federation
    allow_unauthenticated: true
    issuers: [corp]
    audience: `+audWorkloads+`
    scopes: [w.read]
    lifetime: 5m
`)})
	bearer := func(assertion string, kv ...string) request {
		kv = append([]string{"grant_type", api.GrantTypeJWTBearer, "assertion", assertion, "subject_token", absent, "subject_token_type", absent}, kv...)
		return request{form: exchangeForm("", kv...)}
	}
	workload := func(sub string, lifetime time.Duration) string {
		c := up.corp.Claims(sub, x.Issuer)
		c["exp"] = time.Now().Add(lifetime).Unix()
		return up.corp.Sign(c)
	}

	a := workload("system:serviceaccount:prod:orders", 10*time.Minute)
	x.secret(a)
	r := x.post(t, bearer(a, "audience", audWorkloads))
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	_, claims := x.verifyMinted(t, r.str("access_token"), x.Issuer, audWorkloads)
	if claims["sub"] != "system:serviceaccount:prod:orders" || claims["scope"] != "w.read" || r.str("token_type") != "Bearer" {
		t.Errorf("claims %v, token_type %q", claims, r.str("token_type"))
	}
	wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "granted", "profile": "jwt_bearer", "rule": "workload-federation"})

	t.Run("the same assertion again", func(t *testing.T) {
		wantError(t, x.post(t, bearer(a, "audience", audWorkloads)), http.StatusBadRequest, api.ErrInvalidGrant, "already used")
	})
	t.Run("never outlives the assertion", func(t *testing.T) {
		r := x.post(t, bearer(workload("short", 90*time.Second), "audience", audWorkloads))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if exp, _ := r.JSON["expires_in"].(float64); exp <= 0 || exp > 90 {
			t.Errorf("expires_in = %v, want at most 90", r.JSON["expires_in"])
		}
	})
	t.Run("an authenticated client with its own rule", func(t *testing.T) {
		r := x.post(t, bearer(workload("alice", 10*time.Minute), "audience", audInventory).as(orders))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})
	t.Run("an expired assertion is invalid_grant", func(t *testing.T) {
		wantError(t, x.post(t, bearer(workload("late", -time.Hour), "audience", audWorkloads)), http.StatusBadRequest, api.ErrInvalidGrant, "assertion", "expired")
	})
	t.Run("an ID token as the assertion", func(t *testing.T) {
		c := up.corp.Claims("alice", x.Issuer)
		c["nonce"] = "n-0S6"
		wantError(t, x.post(t, bearer(up.corp.Sign(c), "audience", audWorkloads)), http.StatusBadRequest, api.ErrInvalidGrant, "ID token")
	})
	t.Run("no assertion", func(t *testing.T) {
		wantError(t, x.post(t, bearer(absent, "audience", audWorkloads)), http.StatusBadRequest, api.ErrInvalidRequest, "assertion is required")
	})
	t.Run("subject_token with the bearer grant", func(t *testing.T) {
		w := workload("mixed", 10*time.Minute)
		wantError(t, x.post(t, bearer(w, "audience", audWorkloads, "subject_token", w)), http.StatusBadRequest, api.ErrInvalidRequest, "assertion")
	})
	t.Run("no rule serves the caller unauthenticated", func(t *testing.T) {
		wantError(t, x.post(t, bearer(workload("bob", 10*time.Minute), "audience", audInventory)), http.StatusUnauthorized, api.ErrInvalidClient)
	})
	t.Run("metadata lists the grant", func(t *testing.T) {
		md := x.get(t, "/.well-known/oauth-authorization-server", nil)
		if gts, _ := md.JSON["grant_types_supported"].([]any); len(gts) != 2 || gts[1] != api.GrantTypeJWTBearer {
			t.Errorf("grant_types_supported = %v", md.JSON["grant_types_supported"])
		}
	})
}
