package exchange_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/ratelimit"
)

// tokenVerifier maps each raw token to the principal it stands for: the
// delegation pipeline, not token validation, is under test here.
type tokenVerifier map[string]*issuer.Principal

func (v tokenVerifier) Verify(_ context.Context, raw, _ string) (*issuer.Principal, error) {
	p, ok := v[raw]
	if !ok {
		return nil, &issuer.Error{Reason: issuer.ReasonSignature, Description: "signature does not verify"}
	}
	return p, nil
}

func who(issuerName, iss, sub string, claims map[string]any) *issuer.Principal {
	if claims == nil {
		claims = map[string]any{}
	}
	claims["sub"], claims["iss"] = sub, iss
	p := &issuer.Principal{Issuer: issuerName, IssuerURL: iss, Subject: sub, Expiry: now.Add(time.Hour), TokenType: "access_token"}
	return p.WithClaims(claims)
}

func chainOf(subs ...string) map[string]any {
	var act map[string]any
	for i := len(subs) - 1; i >= 0; i-- {
		m := map[string]any{"sub": subs[i], "iss": "https://idp.example.com"}
		if act != nil {
			m["act"] = act
		}
		act = m
	}
	return act
}

const delegationPolicy = `issuer: https://sts.example.com
token: {max_delegation_depth: 3}
issuers:
  - {name: corp, issuer_url: "https://idp.example.com", jwks_uri: "https://idp.example.com/jwks"}
  - {name: mesh, issuer_url: "https://mesh.example.com", jwks_uri: "https://mesh.example.com/jwks"}
  - {name: other, issuer_url: "https://other.example.com", jwks_uri: "https://other.example.com/jwks"}
clients:
  - {id: orders, secret_sha256: "%s"}
rules:
  - name: forbidden
    clients: [orders]
    issuers: [corp]
    audience: https://forbidden.example.com
    scopes: [a]
  - name: allowed
    clients: [orders]
    issuers: [corp]
    audience: https://allowed.example.com
    scopes: [a]
    delegation: allowed
    actor_issuers: [mesh]
    actor_require: 'actor.sub.startsWith("svc-") && claims.sub != actor.sub'
  - name: required
    clients: [orders]
    issuers: [corp]
    audience: https://required.example.com
    scopes: [a]
    delegation: required
    actor_issuers: [mesh, corp]
  - name: self
    clients: [orders]
    issuers: [corp]
    audience: https://self.example.com
    scopes: [a]
    delegation: allowed
    actor_issuers: [corp]
    allow_self_delegation: true
  - name: public
    allow_unauthenticated: true
    issuers: [other]
    audience: https://public.example.com
    scopes: [a]
`

// newDelegationService builds the service of doc; limits, when not nil, is
// the limiter of the policy's rate limits, and memory builds an in-memory one.
func newDelegationService(t testing.TB, doc string, ver exchange.Verifier, limits func(clock func() time.Time) ratelimit.Limiter) (*exchange.Service, *keys.Set) {
	t.Helper()
	sum := sha256.Sum256([]byte(secret))
	p, compiled := compile(t, []byte(fmt.Sprintf(doc, hex.EncodeToString(sum[:]))), "")
	ks, set := signingKeys(t)
	clock := func() time.Time { return now }
	st := &exchange.State{Policy: compiled, Clients: client.NewRegistry(p.Clients, client.Options{Issuer: p.Issuer}), Issuers: ver}
	if limits != nil {
		st.Limits = exchange.NewLimits(p, limits(clock))
	}
	return exchange.New(exchange.Options{State: st, Minter: mint.New(p.Issuer, set, clock), Now: clock}), ks
}

func memory(clock func() time.Time) ratelimit.Limiter {
	return ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock})
}

func TestDelegation(t *testing.T) {
	ver := tokenVerifier{
		"subject":           who("corp", "https://idp.example.com", "alice", nil),
		"subject-chain":     who("corp", "https://idp.example.com", "alice", map[string]any{"act": chainOf("svc-a")}),
		"subject-deep":      who("corp", "https://idp.example.com", "alice", map[string]any{"act": chainOf("svc-a", "svc-b", "svc-c")}),
		"subject-too-deep":  who("corp", "https://idp.example.com", "alice", map[string]any{"act": chainOf("svc-a", "svc-b", "svc-c", "svc-d")}),
		"subject-bad-act":   who("corp", "https://idp.example.com", "alice", map[string]any{"act": "svc-a"}),
		"subject-may-act":   who("corp", "https://idp.example.com", "alice", map[string]any{"may_act": map[string]any{"sub": "svc-orders", "iss": "https://mesh.example.com"}}),
		"subject-may-sub":   who("corp", "https://idp.example.com", "alice", map[string]any{"may_act": map[string]any{"sub": "svc-orders"}}),
		"subject-may-other": who("corp", "https://idp.example.com", "alice", map[string]any{"may_act": map[string]any{"sub": "svc-billing"}}),
		"subject-may-iss":   who("corp", "https://idp.example.com", "alice", map[string]any{"may_act": map[string]any{"sub": "svc-orders", "iss": "https://idp.example.com"}}),
		"actor":             who("mesh", "https://mesh.example.com", "svc-orders", nil),
		"actor-plain":       who("mesh", "https://mesh.example.com", "orders", nil),
		"actor-other":       who("other", "https://other.example.com", "svc-orders", nil),
		"public-subject":    who("other", "https://other.example.com", "wl-1", nil),
		// Issue 12 finding 5: malformed members are refused, never ignored.
		"subject-may-iss-number": who("corp", "https://idp.example.com", "alice", map[string]any{"may_act": map[string]any{"sub": "svc-orders", "iss": float64(7)}}),
		"subject-may-iss-null":   who("corp", "https://idp.example.com", "alice", map[string]any{"may_act": map[string]any{"sub": "svc-orders", "iss": nil}}),
		"subject-may-null":       who("corp", "https://idp.example.com", "alice", map[string]any{"may_act": nil}),
		"subject-act-iss-number": who("corp", "https://idp.example.com", "alice", map[string]any{"act": map[string]any{"sub": "svc-a", "iss": float64(7)}}),
		"subject-act-deep-bad":   who("corp", "https://idp.example.com", "alice", map[string]any{"act": map[string]any{"sub": "svc-a", "act": map[string]any{"sub": true}}}),
		"actor-self":             who("corp", "https://idp.example.com", "alice", nil),
	}
	svc, ks := newDelegationService(t, delegationPolicy, ver, nil)
	tests := []struct {
		name       string
		subject    string
		actor      string
		actorType  string // default access_token when actor is set
		audience   string
		creds      *client.Credentials
		wantAct    any // expected act claim; nil: none
		wantClient string
		wantCode   api.ErrorCode
		wantReason string
	}{
		{name: "impersonation: no act", subject: "subject", audience: "https://forbidden.example.com"},
		{name: "impersonation on a rule that allows delegation", subject: "subject", audience: "https://allowed.example.com"},
		{name: "impersonation carries the subject's own chain", subject: "subject-chain", audience: "https://forbidden.example.com",
			wantAct: map[string]any{"sub": "svc-a", "iss": "https://idp.example.com"}},
		{name: "delegation: act names the actor", subject: "subject", actor: "actor", audience: "https://allowed.example.com",
			wantAct: map[string]any{"sub": "svc-orders", "iss": "https://mesh.example.com"}},
		{name: "delegation nests the subject's chain", subject: "subject-chain", actor: "actor", audience: "https://allowed.example.com",
			wantAct: map[string]any{"sub": "svc-orders", "iss": "https://mesh.example.com", "act": map[string]any{"sub": "svc-a", "iss": "https://idp.example.com"}}},
		{name: "may_act matches sub and iss", subject: "subject-may-act", actor: "actor", audience: "https://allowed.example.com",
			wantAct: map[string]any{"sub": "svc-orders", "iss": "https://mesh.example.com"}},
		{name: "may_act with sub only", subject: "subject-may-sub", actor: "actor", audience: "https://allowed.example.com",
			wantAct: map[string]any{"sub": "svc-orders", "iss": "https://mesh.example.com"}},

		{name: "actor on a forbidding rule", subject: "subject", actor: "actor", audience: "https://forbidden.example.com", wantCode: api.ErrInvalidRequest, wantReason: "delegation_forbidden"},
		{name: "no actor where required", subject: "subject", audience: "https://required.example.com", wantCode: api.ErrInvalidRequest, wantReason: "delegation_required"},
		{name: "actor from an untrusted issuer", subject: "subject", actor: "actor-other", audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "actor_issuer_not_trusted"},
		{name: "actor token that does not verify", subject: "subject", actor: "forged", audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "actor_invalid_signature"},
		{name: "actor without actor_token_type", subject: "subject", actor: "actor", actorType: "-", audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "missing_parameter"},
		{name: "unsupported actor_token_type", subject: "subject", actor: "actor", actorType: api.TokenTypeSAML2, audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "unsupported_token_type"},
		{name: "may_act names another sub", subject: "subject-may-other", actor: "actor", audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "may_act_mismatch"},
		{name: "may_act names another iss", subject: "subject-may-iss", actor: "actor", audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "may_act_mismatch"},
		{name: "actor_require false", subject: "subject", actor: "actor-plain", audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "actor_condition_not_met"},
		{name: "chain past the depth limit", subject: "subject-deep", actor: "actor", audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "delegation_too_deep"},
		{name: "subject chain already past the limit", subject: "subject-too-deep", audience: "https://forbidden.example.com", wantCode: api.ErrInvalidRequest, wantReason: "delegation_too_deep"},
		{name: "may_act with a numeric iss", subject: "subject-may-iss-number", actor: "actor", audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "malformed_may_act"},
		{name: "may_act with a null iss", subject: "subject-may-iss-null", actor: "actor", audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "malformed_may_act"},
		{name: "may_act null", subject: "subject-may-null", actor: "actor", audience: "https://allowed.example.com", wantCode: api.ErrInvalidRequest, wantReason: "malformed_may_act"},
		{name: "act with a numeric iss is refused, not copied without it", subject: "subject-act-iss-number", audience: "https://forbidden.example.com", wantCode: api.ErrInvalidRequest, wantReason: "malformed_act"},
		{name: "nested act with a non-string sub", subject: "subject-act-deep-bad", audience: "https://forbidden.example.com", wantCode: api.ErrInvalidRequest, wantReason: "malformed_act"},
		{name: "self-delegation: the subject token as actor", subject: "subject", actor: "subject", audience: "https://required.example.com", wantCode: api.ErrInvalidRequest, wantReason: "self_delegation"},
		{name: "self-delegation: same iss and sub", subject: "subject", actor: "actor-self", audience: "https://required.example.com", wantCode: api.ErrInvalidRequest, wantReason: "self_delegation"},
		{name: "self-delegation where the rule allows it", subject: "subject", actor: "actor-self", audience: "https://self.example.com",
			wantAct: map[string]any{"sub": "alice", "iss": "https://idp.example.com"}},
		{name: "malformed act in the subject", subject: "subject-bad-act", audience: "https://forbidden.example.com", wantCode: api.ErrInvalidRequest, wantReason: "malformed_act"},

		{name: "unauthenticated caller on a public rule", subject: "public-subject", audience: "https://public.example.com", creds: &client.Credentials{}, wantClient: "public"},
		{name: "unauthenticated caller elsewhere", subject: "subject", audience: "https://forbidden.example.com", creds: &client.Credentials{}, wantCode: api.ErrInvalidClient, wantReason: "client_auth_required"},
		{name: "authenticated client on a public rule", subject: "public-subject", audience: "https://public.example.com", wantCode: api.ErrInvalidTarget, wantReason: "no_rule"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: tc.subject, SubjectTokenType: api.TokenTypeAccessToken, Audience: tc.audience}
			if tc.actor != "" {
				f.ActorToken, f.ActorTokenType = tc.actor, api.TokenTypeAccessToken
				switch tc.actorType {
				case "-":
					f.ActorTokenType = ""
				case "":
				default:
					f.ActorTokenType = tc.actorType
				}
			}
			creds := basic
			if tc.creds != nil {
				creds = *tc.creds
			}
			resp, err := svc.Exchange(context.Background(), exchange.Request{Form: f, Credentials: creds})
			if tc.wantCode != "" {
				wantRefusal(t, resp, err, tc.wantCode, tc.wantReason)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			claims := jwt.MapClaims{}
			if _, err := jwt.ParseWithClaims(resp.AccessToken, claims, func(*jwt.Token) (any, error) { return ks.Active().Public(), nil },
				jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(func() time.Time { return now })); err != nil {
				t.Fatal(err)
			}
			if claims["sub"] != "alice" && claims["sub"] != "wl-1" {
				t.Errorf("sub = %v, want the subject's", claims["sub"])
			}
			if !equalJSON(claims["act"], tc.wantAct) {
				t.Errorf("act = %#v, want %#v", claims["act"], tc.wantAct)
			}
			want := "orders"
			if tc.wantClient != "" {
				want = tc.wantClient
			}
			if claims["client_id"] != want {
				t.Errorf("client_id = %v, want %s", claims["client_id"], want)
			}
		})
	}
}

func equalJSON(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, v := range w {
			if !equalJSON(g[k], v) {
				return false
			}
		}
		return true
	}
	return got == want
}

func TestRateLimits(t *testing.T) {
	doc := delegationPolicy + `rate_limits:
  client: {per_second: 1, burst: 2}
`
	ver := tokenVerifier{"subject": who("corp", "https://idp.example.com", "alice", nil), "bob": who("corp", "https://idp.example.com", "bob", nil)}
	svc, _ := newDelegationService(t, doc, ver, memory)
	f := func(sub string) api.TokenRequest {
		return api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: sub, SubjectTokenType: api.TokenTypeAccessToken, Audience: "https://forbidden.example.com"}
	}
	for i, sub := range []string{"subject", "bob"} {
		if _, err := svc.Exchange(context.Background(), exchange.Request{Form: f(sub), Credentials: basic}); err != nil {
			t.Fatalf("exchange %d within the burst: %v", i, err)
		}
	}
	_, err := svc.Exchange(context.Background(), exchange.Request{Form: f("subject"), Credentials: basic})
	var xe *exchange.Error
	if !errors.As(err, &xe) || xe.Reason != "rate_limited" || xe.RetryAfter != time.Second {
		t.Fatalf("third exchange = %v, want rate_limited with RetryAfter 1s", err)
	}

	// Per subject: one subject's burst does not use up another's.
	doc = delegationPolicy + `rate_limits:
  subject: {per_second: 0.5, burst: 1}
`
	svc, _ = newDelegationService(t, doc, ver, memory)
	if _, err := svc.Exchange(context.Background(), exchange.Request{Form: f("subject"), Credentials: basic}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Exchange(context.Background(), exchange.Request{Form: f("bob"), Credentials: basic}); err != nil {
		t.Fatalf("another subject: %v", err)
	}
	_, err = svc.Exchange(context.Background(), exchange.Request{Form: f("subject"), Credentials: basic})
	if !errors.As(err, &xe) || xe.Reason != "rate_limited" || xe.RetryAfter != 2*time.Second {
		t.Fatalf("second exchange for one subject = %v, want rate_limited with RetryAfter 2s", err)
	}

	// No limits configured: no Limits at all, so the hot path skips them.
	if exchange.NewLimits(&config.Policy{}, ratelimit.NewMemory(ratelimit.MemoryOptions{})) != nil {
		t.Error("NewLimits without limits is not nil")
	}
}
