package exchange_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/replay"
)

const bearerPolicy = `issuer: https://sts.example.com
issuers:
  - {name: k8s, issuer_url: "https://k8s.example.com", jwks_uri: "https://k8s.example.com/jwks"}
clients:
  - {id: orders, secret_sha256: "%s"}
rules:
  - {name: workloads, allow_unauthenticated: true, issuers: [k8s], audience: "https://api.example.com", scopes: [a, b], lifetime: 5m}
  - {name: orders-api, clients: [orders], issuers: [k8s], audience: "https://orders.example.com", scopes: [a]}
`

// TestJWTBearer: the RFC 7523 §2.1 grant runs the one pipeline with its own
// first step (the assertion is the subject token) and a replay check.
func TestJWTBearer(t *testing.T) {
	workload := func(jti string, left time.Duration) *issuer.Principal {
		p := who("k8s", "https://k8s.example.com", "system:serviceaccount:prod:orders", nil)
		p.TokenID, p.Expiry, p.TokenType = jti, now.Add(left), "jwt"
		return p
	}
	ver := tokenVerifier{
		"sa-1":          workload("jti-1", 10*time.Minute),
		"sa-2":          workload("jti-2", 10*time.Minute),
		"sa-short":      workload("jti-short", 2*time.Minute),
		"sa-no-jti":     workload("", 10*time.Minute),
		"sa-other-jti":  workload("jti-3", 10*time.Minute),
		"sa-nil-replay": workload("jti-4", 10*time.Minute),
	}
	sum := sha256.Sum256([]byte(secret))
	p, compiled := compile(t, []byte(fmt.Sprintf(bearerPolicy, hex.EncodeToString(sum[:]))), "")
	_, set := signingKeys(t)
	clock := func() time.Time { return now }
	newSvc := func(assertions replay.Cache) *exchange.Service {
		st := &exchange.State{Policy: compiled, Clients: client.NewRegistry(p.Clients, client.Options{Issuer: p.Issuer}), Issuers: ver, Assertions: assertions}
		return exchange.New(exchange.Options{State: st, Minter: mint.New(p.Issuer, set, clock), Now: clock})
	}
	svc := newSvc(replay.NewMemory(replay.MemoryOptions{Now: clock}))
	bearer := func(assertion string, kv ...string) api.TokenRequest {
		f := api.TokenRequest{GrantType: api.GrantTypeJWTBearer, Assertion: assertion, Audience: "https://api.example.com"}
		for i := 0; i+1 < len(kv); i += 2 {
			switch kv[i] {
			case "subject_token":
				f.SubjectToken = kv[i+1]
			case "audience":
				f.Audience = kv[i+1]
			case "scope":
				f.Scope = kv[i+1]
			}
		}
		return f
	}
	if _, err := svc.Exchange(context.Background(), exchange.Request{Form: bearer("sa-2")}); err != nil {
		t.Fatalf("first use of an assertion: %v", err)
	}
	tests := []struct {
		name       string
		svc        *exchange.Service
		form       api.TokenRequest
		creds      client.Credentials
		wantCode   api.ErrorCode
		wantReason string
		maxLife    int64
	}{
		{name: "workload federation, no client credentials", form: bearer("sa-1", "scope", "a"), maxLife: 300},
		{name: "an authenticated client with its own rule", form: bearer("sa-other-jti", "audience", "https://orders.example.com"), creds: basic, maxLife: 300},
		{name: "never outlives the assertion", form: bearer("sa-short"), maxLife: 120},
		{name: "an assertion without jti has nothing to replay", form: bearer("sa-no-jti")},
		{name: "the same without jti again", form: bearer("sa-no-jti")},
		{name: "replayed assertion", form: bearer("sa-2"), wantCode: api.ErrInvalidGrant, wantReason: "assertion_replayed"},
		{name: "assertion that does not verify: invalid_grant (RFC 7523 §3.1)", form: bearer("forged"), wantCode: api.ErrInvalidGrant, wantReason: string(issuer.ReasonSignature)},
		{name: "no assertion", form: bearer(""), wantCode: api.ErrInvalidRequest, wantReason: "missing_parameter"},
		{name: "subject_token with the bearer grant", form: bearer("sa-1", "subject_token", "sa-1"), wantCode: api.ErrInvalidRequest, wantReason: "invalid_parameter"},
		{name: "no rule for the audience", form: bearer("sa-1", "audience", "https://nowhere.example.com"), wantCode: api.ErrInvalidClient, wantReason: "client_auth_required"},
		{name: "no scope the rule allows", form: bearer("sa-1", "scope", "c"), wantCode: api.ErrInvalidScope, wantReason: "no_scope"},
		{name: "no replay store: refused, not accepted unchecked", svc: newSvc(nil), form: bearer("sa-nil-replay"), wantCode: api.ErrTemporarilyUnavailable, wantReason: "replay_cache_unavailable"},
		{name: "another grant type", form: api.TokenRequest{GrantType: "client_credentials"}, wantCode: api.ErrUnsupportedGrantType, wantReason: "unsupported_grant_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := svc
			if tc.svc != nil {
				s = tc.svc
			}
			resp, err := s.Exchange(context.Background(), exchange.Request{Form: tc.form, Credentials: tc.creds})
			if tc.wantCode != "" {
				wantRefusal(t, resp, err, tc.wantCode, tc.wantReason)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if resp.TokenType != "Bearer" || resp.IssuedTokenType != api.TokenTypeAccessToken || resp.ExpiresIn <= 0 {
				t.Errorf("response = %+v", resp)
			}
			if tc.maxLife > 0 && resp.ExpiresIn > tc.maxLife {
				t.Errorf("expires_in = %d, want at most %d", resp.ExpiresIn, tc.maxLife)
			}
		})
	}
}
