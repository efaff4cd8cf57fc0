package exchange_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/scope"
	"github.com/tokex/tokex/internal/telemetry"
)

const (
	subjectToken = "eyJhbGciOiJSUzI1NiJ9.c3ViamVjdA.c2lnbmF0dXJlLXNlY3JldA" // never validated: the fake verifier decides
	secret       = "s3cret-Value_1"
	stsIssuer    = "https://sts.example.com"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// fakeVerifier stands in for the issuer registry: the pipeline, not the
// token checks, is under test here (those are in internal/issuer and e2e).
type fakeVerifier struct {
	principal func() *issuer.Principal
	err       error
	calls     atomic.Int32
}

func (f *fakeVerifier) Verify(_ context.Context, raw, tokenType string) (*issuer.Principal, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return f.principal(), nil
}

func principal(exp time.Time, claims map[string]any) func() *issuer.Principal {
	return func() *issuer.Principal {
		p := &issuer.Principal{Issuer: "corp", IssuerURL: "https://idp.example.com", Subject: "alice", Expiry: exp, TokenType: "access_token"}
		return p.WithClaims(claims)
	}
}

type harness struct {
	svc   *exchange.Service
	ver   *fakeVerifier
	spans *tracetest.SpanRecorder
	audit *bytes.Buffer
	keys  *keys.Set
}

func newHarness(t *testing.T, ver *fakeVerifier) *harness {
	t.Helper()
	sum := sha256.Sum256([]byte(secret))
	lifetime := config.Duration(10 * time.Minute)
	pol := &config.Policy{
		Issuer:  stsIssuer,
		Issuers: []config.Issuer{{Name: "corp", IssuerURL: "https://idp.example.com", JWKSURI: "https://idp.example.com/jwks"}},
		Clients: []config.Client{{ID: "orders", SecretSHA256: hex.EncodeToString(sum[:])}},
		Rules: []config.Rule{
			{Name: "to-inventory", Clients: []string{"orders"}, Issuers: []string{"corp"}, Audience: "https://inventory.example.com", Scopes: []string{"inventory.read", "inventory.write"}, Lifetime: &lifetime},
			{Name: "to-billing", Clients: []string{"orders"}, Issuers: []string{"corp"}, Audience: "https://billing.example.com", Scopes: []string{"billing.read"}, Require: `claims.tid == "t1"`},
		},
	}
	p, compiled := compile(t, mustYAML(t, pol), "")
	ks, set := signingKeys(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var audit bytes.Buffer
	clock := func() time.Time { return now }
	svc := exchange.New(exchange.Options{
		State:  &exchange.State{Policy: compiled, Clients: client.NewRegistry(p.Clients, client.Options{Issuer: p.Issuer}), Issuers: ver},
		Minter: mint.New(p.Issuer, set, clock),
		Audit:  telemetry.NewLoggers(&audit, 0).Audit,
		Tracer: tp.Tracer("test"),
		Now:    clock,
	})
	return &harness{svc: svc, ver: ver, spans: rec, audit: &audit, keys: ks}
}

// mustYAML writes the policy as the YAML file an operator would, so the test
// goes through ParsePolicy like production does.
func mustYAML(t *testing.T, p *config.Policy) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("issuer: " + p.Issuer + "\nissuers:\n")
	for _, is := range p.Issuers {
		b.WriteString("  - {name: " + is.Name + ", issuer_url: \"" + is.IssuerURL + "\", jwks_uri: \"" + is.JWKSURI + "\"}\n")
	}
	b.WriteString("clients:\n")
	for _, c := range p.Clients {
		b.WriteString("  - {id: " + c.ID + ", secret_sha256: \"" + c.SecretSHA256 + "\"}\n")
	}
	b.WriteString("rules:\n")
	for _, r := range p.Rules {
		b.WriteString("  - name: " + r.Name + "\n    clients: [" + strings.Join(r.Clients, ", ") + "]\n    issuers: [" + strings.Join(r.Issuers, ", ") + "]\n    audience: \"" + r.Audience + "\"\n    scopes: [" + strings.Join(r.Scopes, ", ") + "]\n")
		if r.Lifetime != nil {
			b.WriteString("    lifetime: " + r.Lifetime.D().String() + "\n")
		}
		if r.Require != "" {
			b.WriteString("    require: '" + r.Require + "'\n")
		}
	}
	return []byte(b.String())
}

func form(mut func(*api.TokenRequest)) api.TokenRequest {
	f := api.TokenRequest{
		GrantType:        api.GrantTypeTokenExchange,
		SubjectToken:     subjectToken,
		SubjectTokenType: api.TokenTypeAccessToken,
		Audience:         "https://inventory.example.com",
	}
	if mut != nil {
		mut(&f)
	}
	return f
}

var basic = client.Credentials{Basic: true, BasicUser: "orders", BasicSecret: secret}

func TestExchangeGranted(t *testing.T) {
	h := newHarness(t, &fakeVerifier{principal: principal(now.Add(time.Hour), nil)})
	resp, err := h.svc.Exchange(context.Background(), exchange.Request{Form: form(func(f *api.TokenRequest) { f.Scope = "inventory.read admin" }), Credentials: basic})
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if resp.TokenType != "Bearer" || resp.IssuedTokenType != api.TokenTypeAccessToken || resp.Scope != "inventory.read" || resp.ExpiresIn != 600 {
		t.Errorf("response = %+v", resp)
	}
	var claims jwt.MapClaims
	tok, err := jwt.ParseWithClaims(resp.AccessToken, &claims, func(*jwt.Token) (any, error) { return h.keys.Active().Public(), nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithIssuer(stsIssuer), jwt.WithAudience("https://inventory.example.com"))
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	if tok.Header["typ"] != "at+jwt" || tok.Header["kid"] != h.keys.Active().KID {
		t.Errorf("header = %v", tok.Header)
	}
	for k, want := range map[string]any{"sub": "alice", "client_id": "orders", "scope": "inventory.read", "exp": float64(now.Add(10 * time.Minute).Unix()), "iat": float64(now.Unix()), "nbf": float64(now.Unix())} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if jti, _ := claims["jti"].(string); len(jti) < 20 {
		t.Errorf("jti = %q, want 128 random bits", jti)
	}

	// One span per step, under the exchange's root span.
	names := map[string]bool{}
	for _, s := range h.spans.Ended() {
		names[s.Name()] = true
	}
	for _, want := range []string{"tokex.exchange", "tokex.client_auth", "tokex.subject_validation", "tokex.policy", "tokex.mint"} {
		if !names[want] {
			t.Errorf("no span %q; got %v", want, names)
		}
	}
	ev := auditEvents(t, h.audit)
	if len(ev) != 1 {
		t.Fatalf("audit events = %d, want 1", len(ev))
	}
	for k, want := range map[string]string{"outcome": "granted", "client_id": "orders", "issuer": "corp", "subject": "alice", "rule": "to-inventory", "audience": "https://inventory.example.com", "scope": "inventory.read", "log": "audit"} {
		if ev[0][k] != want {
			t.Errorf("audit %s = %v, want %q", k, ev[0][k], want)
		}
	}
	if ev[0]["jti"] != claims["jti"] || ev[0]["trace_id"] == "" {
		t.Errorf("audit jti/trace_id = %v/%v", ev[0]["jti"], ev[0]["trace_id"])
	}
	assertNoSecrets(t, h)
}

func TestExchangeRefusals(t *testing.T) {
	tests := []struct {
		name       string
		verifier   *fakeVerifier
		form       func(*api.TokenRequest)
		creds      client.Credentials
		wantCode   api.ErrorCode
		wantReason string
		wantVerify bool // whether the subject token reached validation
		challenge  bool
	}{
		{name: "wrong secret", creds: client.Credentials{Basic: true, BasicUser: "orders", BasicSecret: "nope"}, wantCode: api.ErrInvalidClient, wantReason: "client_auth_failed", challenge: true},
		{name: "no credentials", creds: client.Credentials{}, wantCode: api.ErrInvalidClient, wantReason: "client_auth_failed", challenge: true},
		{name: "two auth methods", creds: client.Credentials{Basic: true, BasicUser: "orders", BasicSecret: secret, PostID: "orders", PostSecret: secret}, wantCode: api.ErrInvalidRequest, wantReason: "multiple_auth_methods"},
		{name: "missing grant_type", form: func(f *api.TokenRequest) { f.GrantType = "" }, wantCode: api.ErrInvalidRequest, wantReason: "missing_parameter"},
		{name: "wrong grant_type", form: func(f *api.TokenRequest) { f.GrantType = "client_credentials" }, wantCode: api.ErrUnsupportedGrantType, wantReason: "unsupported_grant_type"},
		{name: "missing subject_token", form: func(f *api.TokenRequest) { f.SubjectToken = "" }, wantCode: api.ErrInvalidRequest, wantReason: "missing_parameter"},
		{name: "missing subject_token_type", form: func(f *api.TokenRequest) { f.SubjectTokenType = "" }, wantCode: api.ErrInvalidRequest, wantReason: "missing_parameter"},
		{name: "saml subject", form: func(f *api.TokenRequest) { f.SubjectTokenType = api.TokenTypeSAML2 }, wantCode: api.ErrInvalidRequest, wantReason: "unsupported_token_type"},
		{name: "requested refresh token", form: func(f *api.TokenRequest) { f.RequestedTokenType = api.TokenTypeRefreshToken }, wantCode: api.ErrInvalidRequest, wantReason: "unsupported_token_type"},
		{name: "actor token", form: func(f *api.TokenRequest) { f.ActorToken, f.ActorTokenType = "a.b.c", api.TokenTypeJWT }, wantCode: api.ErrInvalidRequest, wantReason: "delegation_forbidden", wantVerify: true},
		{name: "actor type without token", form: func(f *api.TokenRequest) { f.ActorTokenType = api.TokenTypeJWT }, wantCode: api.ErrInvalidRequest, wantReason: "invalid_parameter"},
		{name: "audience and resource differ", form: func(f *api.TokenRequest) { f.Resource = "https://billing.example.com" }, wantCode: api.ErrInvalidTarget, wantReason: "conflicting_target"},
		{name: "keys unavailable is 503", verifier: &fakeVerifier{err: &issuer.Error{Reason: issuer.ReasonKeysUnavailable, Description: "down"}}, wantCode: api.ErrTemporarilyUnavailable, wantReason: "keys_unavailable", wantVerify: true},
		{name: "expired subject", verifier: &fakeVerifier{err: &issuer.Error{Reason: issuer.ReasonExpired, Description: "expired"}}, wantCode: api.ErrInvalidRequest, wantReason: "expired", wantVerify: true},
		{name: "unexpected verifier error", verifier: &fakeVerifier{err: errors.New("boom")}, wantCode: api.ErrServerError, wantReason: "internal", wantVerify: true},
		{name: "no rule for audience", form: func(f *api.TokenRequest) { f.Audience = "https://other.example.com" }, wantCode: api.ErrInvalidTarget, wantReason: "no_rule", wantVerify: true},
		{name: "no audience and two rules", form: func(f *api.TokenRequest) { f.Audience = "" }, wantCode: api.ErrInvalidTarget, wantReason: "no_rule", wantVerify: true},
		{name: "condition false", form: func(f *api.TokenRequest) { f.Audience = "https://billing.example.com" }, wantCode: api.ErrInvalidRequest, wantReason: "condition_not_met", wantVerify: true},
		{name: "no grantable scope", form: func(f *api.TokenRequest) { f.Scope = "admin" }, wantCode: api.ErrInvalidScope, wantReason: "no_scope", wantVerify: true},
		// RFC 6749 §3.3, refused before the subject token is verified.
		{name: "more scopes than the cap", form: func(f *api.TokenRequest) { f.Scope = strings.Repeat("x ", scope.MaxTokens) + "y" }, wantCode: api.ErrInvalidScope, wantReason: "too_many_scopes"},
		{name: "TAB between scopes", form: func(f *api.TokenRequest) { f.Scope = "inventory.read\tinventory.write" }, wantCode: api.ErrInvalidScope, wantReason: "malformed_scope"},
		{name: "NBSP between scopes", form: func(f *api.TokenRequest) { f.Scope = "inventory.read\u00a0inventory.write" }, wantCode: api.ErrInvalidScope, wantReason: "malformed_scope"},
		{name: "double quote in a scope", form: func(f *api.TokenRequest) { f.Scope = `inventory"read` }, wantCode: api.ErrInvalidScope, wantReason: "malformed_scope"},
		{name: "subject expires within a second", verifier: &fakeVerifier{principal: principal(now.Add(500*time.Millisecond), nil)}, wantCode: api.ErrInvalidRequest, wantReason: "expired", wantVerify: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.verifier
			if v == nil {
				v = &fakeVerifier{principal: principal(now.Add(time.Hour), map[string]any{"tid": "t2"})}
			}
			creds := tc.creds
			if creds == (client.Credentials{}) && tc.name != "no credentials" {
				creds = basic
			}
			h := newHarness(t, v)
			resp, err := h.svc.Exchange(context.Background(), exchange.Request{Form: form(tc.form), Credentials: creds})
			if resp != nil {
				t.Fatalf("got a token for a refused exchange: %+v", resp)
			}
			var xe *exchange.Error
			if !errors.As(err, &xe) {
				t.Fatalf("error %v is not *exchange.Error", err)
			}
			if xe.Code != tc.wantCode || xe.Reason != tc.wantReason {
				t.Errorf("code, reason = %s, %s; want %s, %s (%s)", xe.Code, xe.Reason, tc.wantCode, tc.wantReason, xe.Description)
			}
			if xe.Description == "" {
				t.Error("empty description")
			}
			if xe.BasicChallenge != tc.challenge {
				t.Errorf("BasicChallenge = %v", xe.BasicChallenge)
			}
			if got := v.calls.Load() > 0; got != tc.wantVerify {
				t.Errorf("subject validated = %v, want %v", got, tc.wantVerify)
			}
			if tc.wantReason == "condition_not_met" && strings.Contains(xe.Description, "tid") {
				t.Errorf("description leaks the condition: %s", xe.Description)
			}
			ev := auditEvents(t, h.audit)
			if len(ev) != 1 || ev[0]["outcome"] != "refused" || ev[0]["error"] != string(tc.wantCode) || ev[0]["reason"] != tc.wantReason {
				t.Errorf("audit = %v", ev)
			}
			assertNoSecrets(t, h)
		})
	}
}

// TestExchangeScopeSpaces: runs of spaces are tolerated as one separator
// (clients that join scope strings produce them), a scope asked twice is
// granted once, and only spaces are left: "scope= " is no scope (SPEC §5).
func TestExchangeScopeSpaces(t *testing.T) {
	for _, tc := range []struct{ scope, want string }{
		{scope: "inventory.read ", want: "inventory.read"},
		{scope: "inventory.read  inventory.write", want: "inventory.read inventory.write"},
		{scope: " inventory.write inventory.read inventory.write", want: "inventory.write inventory.read"},
		{scope: " ", want: "inventory.read inventory.write"},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			h := newHarness(t, &fakeVerifier{principal: principal(now.Add(time.Hour), nil)})
			resp, err := h.svc.Exchange(context.Background(), exchange.Request{Form: form(func(f *api.TokenRequest) { f.Scope = tc.scope }), Credentials: basic})
			if err != nil || resp.Scope != tc.want {
				t.Fatalf("scope %q: got %+v, %v; want %q", tc.scope, resp, err, tc.want)
			}
		})
	}
}

func TestExchangeNeverOutlivesSubject(t *testing.T) {
	h := newHarness(t, &fakeVerifier{principal: principal(now.Add(90*time.Second), nil)})
	resp, err := h.svc.Exchange(context.Background(), exchange.Request{Form: form(nil), Credentials: basic})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ExpiresIn != 90 {
		t.Errorf("expires_in = %d, want 90 (the subject token's remaining life)", resp.ExpiresIn)
	}
	if resp.Scope != "inventory.read inventory.write" {
		t.Errorf("scope = %q, want all rule scopes when none is requested", resp.Scope)
	}
}

func auditEvents(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// assertNoSecrets checks the raw subject token and the client secret appear in
// no audit line and no span attribute or event.
func assertNoSecrets(t *testing.T, h *harness) {
	t.Helper()
	for _, s := range []string{subjectToken, secret, "c2lnbmF0dXJlLXNlY3JldA"} {
		if strings.Contains(h.audit.String(), s) {
			t.Errorf("audit log contains %q", s)
		}
		for _, sp := range h.spans.Ended() {
			for _, a := range sp.Attributes() {
				if strings.Contains(a.Value.Emit(), s) {
					t.Errorf("span %s attribute %s contains %q", sp.Name(), a.Key, s)
				}
			}
			if strings.Contains(sp.Status().Description, s) {
				t.Errorf("span %s status contains %q", sp.Name(), s)
			}
		}
	}
}
