package e2e

import (
	"net/http"
	"testing"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/testidp"
)

// Delegation rules added to the default policy: orders may act for users at
// audDelegated with actor tokens of partner; audImpersonate forbids actors.
const (
	audDelegated   = "https://delegated.example.com"
	audRequired    = "https://required.example.com"
	audAnyActor    = "https://any-actor.example.com"
	delegationRule = `  - name: orders-delegated
    clients: [orders]
    issuers: [corp]
    audience: ` + audDelegated + `
    scopes: [d.read]
    delegation: allowed
    actor_issuers: [partner]
    actor_require: 'actor.sub.startsWith("svc-")'
  - name: orders-required
    clients: [orders]
    issuers: [corp]
    audience: ` + audRequired + `
    scopes: [d.read]
    delegation: required
    actor_issuers: [partner]
  - name: orders-any-actor
    clients: [orders]
    issuers: [corp]
    audience: ` + audAnyActor + `
    scopes: [d.read]
    delegation: allowed
    actor_issuers: [corp, partner]
`
)

// act builds a nested act claim, outermost actor first.
func act(subs ...string) map[string]any {
	var out map[string]any
	for i := len(subs) - 1; i >= 0; i-- {
		m := map[string]any{"sub": subs[i], "iss": "https://prior.example.com"}
		if out != nil {
			m["act"] = out
		}
		out = m
	}
	return out
}

// TestDelegation: RFC 8693 delegation and impersonation against the binary.
func TestDelegation(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", delegationRule)})
	subject := func(extra map[string]any) string {
		c := up.corp.Claims("alice", x.Issuer)
		for k, v := range extra {
			c[k] = v
		}
		return up.corp.Sign(c)
	}
	actor := func(sub string) string { return up.partner.Sign(up.partner.Claims(sub, x.Issuer)) }
	delegated := func(subj, act string, kv ...string) request {
		kv = append([]string{"audience", audDelegated, "actor_token", act, "actor_token_type", api.TokenTypeAccessToken}, kv...)
		return request{form: exchangeForm(subj, kv...)}.as(orders)
	}

	t.Run("impersonation: the subject's sub, no act", func(t *testing.T) {
		r := x.post(t, request{form: exchangeForm(subject(nil), "audience", audDelegated)}.as(orders))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		_, claims := x.verifyMinted(t, r.str("access_token"), x.Issuer, audDelegated)
		if claims["sub"] != "alice" || claims["act"] != nil {
			t.Errorf("sub = %v, act = %v; want alice and no act", claims["sub"], claims["act"])
		}
	})

	t.Run("delegation: act names the actor, the subject's chain nested", func(t *testing.T) {
		r := x.post(t, delegated(subject(map[string]any{"act": act("svc-gateway")}), actor("svc-orders")))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		_, claims := x.verifyMinted(t, r.str("access_token"), x.Issuer, audDelegated)
		a, _ := claims["act"].(map[string]any)
		inner, _ := a["act"].(map[string]any)
		if claims["sub"] != "alice" || a["sub"] != "svc-orders" || a["iss"] != up.partner.Issuer() || inner["sub"] != "svc-gateway" {
			t.Errorf("sub = %v, act = %v", claims["sub"], claims["act"])
		}
		wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "granted", "actor": "svc-orders", "subject": "alice"})
	})

	t.Run("may_act that names the actor", func(t *testing.T) {
		r := x.post(t, delegated(subject(map[string]any{"may_act": map[string]any{"sub": "svc-orders", "iss": up.partner.Issuer()}}), actor("svc-orders")))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})

	refusals := []struct {
		name string
		req  func() request
		desc []string
	}{
		{name: "actor token on a rule that forbids delegation", desc: []string{"forbids delegation"},
			req: func() request {
				return request{form: exchangeForm(subject(nil), "audience", audInventory, "actor_token", actor("svc-orders"), "actor_token_type", api.TokenTypeAccessToken)}.as(orders)
			}},
		{name: "no actor token where delegation is required", desc: []string{"requires delegation"},
			req: func() request { return request{form: exchangeForm(subject(nil), "audience", audRequired)}.as(orders) }},
		{name: "actor token from a trusted issuer not in actor_issuers", desc: []string{"not trusted for actor tokens"},
			req: func() request { return delegated(subject(nil), up.corp.Sign(up.corp.Claims("svc-orders", x.Issuer))) }},
		{name: "actor token from an unknown issuer", desc: []string{"actor_token", "untrusted issuer"},
			req: func() request {
				stranger := testidp.New(t)
				return delegated(subject(nil), stranger.Sign(stranger.Claims("svc-orders", x.Issuer)))
			}},
		{name: "expired actor token", desc: []string{"actor_token", "expired"},
			req: func() request {
				c := up.partner.Claims("svc-orders", x.Issuer)
				c["exp"] = c["iat"].(int64) - 3600
				return delegated(subject(nil), up.partner.Sign(c))
			}},
		{name: "may_act names another actor", desc: []string{"may_act"},
			req: func() request {
				return delegated(subject(map[string]any{"may_act": map[string]any{"sub": "svc-billing"}}), actor("svc-orders"))
			}},
		{name: "may_act names another issuer", desc: []string{"may_act"},
			req: func() request {
				return delegated(subject(map[string]any{"may_act": map[string]any{"sub": "svc-orders", "iss": up.corp.Issuer()}}), actor("svc-orders"))
			}},
		// Issue 12 finding 5: malformed act/may_act members are refused, and
		// an actor that is the subject itself is no delegation.
		{name: "may_act with a numeric iss", desc: []string{"may_act", "must be a string"},
			req: func() request {
				return delegated(subject(map[string]any{"may_act": map[string]any{"sub": "svc-orders", "iss": 7}}), actor("svc-orders"))
			}},
		{name: "act with a numeric iss", desc: []string{"act claim", "must be a string"},
			req: func() request {
				return delegated(subject(map[string]any{"act": map[string]any{"sub": "svc-gateway", "iss": 7}}), actor("svc-orders"))
			}},
		{name: "the subject token as its own actor", desc: []string{"self-delegation"},
			req: func() request {
				s := subject(nil)
				return request{form: exchangeForm(s, "audience", audAnyActor, "actor_token", s, "actor_token_type", api.TokenTypeAccessToken)}.as(orders)
			}},
		{name: "an actor with the subject's iss and sub", desc: []string{"self-delegation"},
			req: func() request {
				return request{form: exchangeForm(subject(nil), "audience", audAnyActor, "actor_token", up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "actor_token_type", api.TokenTypeAccessToken)}.as(orders)
			}},
		{name: "actor_require not met", desc: []string{"actor condition", "orders-delegated"},
			req: func() request { return delegated(subject(nil), actor("batch-job")) }},
		{name: "chain past the depth limit", desc: []string{"at most 4"},
			req: func() request {
				return delegated(subject(map[string]any{"act": act("svc-a", "svc-b", "svc-c", "svc-d")}), actor("svc-orders"))
			}},
		{name: "actor_token without actor_token_type", desc: []string{"actor_token_type"},
			req: func() request {
				return request{form: exchangeForm(subject(nil), "audience", audDelegated, "actor_token", actor("svc-orders"))}.as(orders)
			}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := x.post(t, tc.req())
			wantError(t, r, http.StatusBadRequest, api.ErrInvalidRequest, tc.desc...)
			wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "refused", "error": "invalid_request"})
		})
	}
}
