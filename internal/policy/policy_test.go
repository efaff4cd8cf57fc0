package policy_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/principal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	corpURL    = "https://idp.example.com"
	partnerURL = "https://partner.example.com"
	inventory  = "https://inventory.example.com"
	shipping   = "https://shipping.example.com"
	ledger     = "https://ledger.example.com"
	numbers    = "https://numbers.example.com"
	digest     = "0b8d3f7c6e0a5f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b"
)

// policyYAML has two issuers whose keys are inline (jwks is the public JWKS of
// the test IdP's key set) and distinct subject prefixes, two clients and five
// rules:
//
//	rules[0] inventory: orders via corp -> inventory, 3 scopes, lifetime 2m
//	rules[1] shipping:  orders via corp|partner -> shipping, require tid == "t1"
//	rules[2] ledger:    billing via partner -> ledger, default lifetime
//	rules[3] shadow:    orders|billing via corp -> inventory: shadowed for orders
//	rules[4] numbers:   billing via corp -> numbers, a condition that is not a bool at run time
func policyYAML(jwks []byte) string {
	return fmt.Sprintf(`issuer: https://sts.example.com
token:
  default_lifetime: 5m
  max_lifetime: 15m
issuers:
  - name: corp
    issuer_url: %[1]s
    jwks: %[3]s
    subject_prefix: "corp:"
  - name: partner
    issuer_url: %[2]s
    jwks: %[3]s
    subject_prefix: "partner:"
clients:
  - id: orders
    secret_sha256: %[4]s
  - id: billing
    secret_sha256: %[4]s
rules:
  - name: inventory
    clients: [orders]
    issuers: [corp]
    audience: %[5]s
    scopes: [inventory.read, inventory.write, inventory.admin]
    lifetime: 2m
  - name: shipping
    clients: [orders]
    issuers: [corp, partner]
    audience: %[6]s
    scopes: [shipping.read]
    require: 'claims.tid == "t1" && claims.sub != "mallory"'
  - name: ledger
    clients: [billing]
    issuers: [partner]
    audience: %[7]s
    scopes: [ledger.write]
  - name: shadow
    clients: [orders, billing]
    issuers: [corp]
    audience: %[5]s
    scopes: [shadow.read]
  - name: numbers
    clients: [billing]
    issuers: [corp]
    audience: %[8]s
    scopes: [numbers.read]
    require: claims.level
`, corpURL, partnerURL, jwks, digest, inventory, shipping, ledger, numbers)
}

// fixture is a compiled policy plus a real issuer registry over the same
// issuers, so tests get genuine principal.Principal values by signing tokens with
// the IdP's key and verifying them (no way around issuer.Verify: Principal's
// claims are unexported).
type fixture struct {
	cfg *config.Policy
	pol *policy.Policy
	idp *keys.Set
	reg *issuer.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	idp, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParsePolicy([]byte(policyYAML(idp.JWKS())), "policy.yaml", config.Overrides{})
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	pol, err := policy.Compile(cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	reg := issuer.NewRegistry(cfg.Issuers, issuer.Options{})
	t.Cleanup(reg.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !reg.WaitReady(ctx) {
		t.Fatalf("issuer keys not loaded: %v", reg.Status())
	}
	return &fixture{cfg: cfg, pol: pol, idp: idp, reg: reg}
}

// principal signs a token of issuerURL with extra claims and verifies it.
func (f *fixture) principal(t *testing.T, issuerURL string, extra map[string]any) *principal.Principal {
	t.Helper()
	now := time.Now()
	c := map[string]any{
		"iss": issuerURL, "sub": "alice", "aud": "https://sts.example.com",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	k := f.idp.Active()
	input := k.EncodedHeader() + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := k.Sign(input)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := f.reg.Verify(context.Background(), input+"."+base64.RawURLEncoding.EncodeToString(sig), config.TokenTypeAccessToken)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return pr
}

func kindOf(t *testing.T, err error) policy.Kind {
	t.Helper()
	var pe *policy.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not a *policy.Error: %v", err, err)
	}
	return pe.Kind
}

func TestCompile(t *testing.T) {
	f := newFixture(t)
	if got := len(f.pol.Rules); got != 5 {
		t.Fatalf("%d rules, want 5", got)
	}
	if f.pol.MaxLifetime != 15*time.Minute {
		t.Errorf("MaxLifetime = %v", f.pol.MaxLifetime)
	}
	if f.pol.Source != f.cfg {
		t.Error("Source is not the compiled config")
	}
	tests := []struct {
		name         string
		rule         int
		wantLifetime time.Duration
	}{
		{name: "own lifetime", rule: 0, wantLifetime: 2 * time.Minute},
		{name: "default lifetime", rule: 2, wantLifetime: 5 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.pol.Rules[tc.rule].Lifetime; got != tc.wantLifetime {
				t.Errorf("Lifetime = %v, want %v", got, tc.wantLifetime)
			}
		})
	}
	// First match wins: rules[3] repeats (orders, corp, inventory) of rules[0],
	// and Compile says so, once, naming both rules.
	if len(f.pol.Warnings) != 1 {
		t.Fatalf("Warnings = %q, want one", f.pol.Warnings)
	}
	w := f.pol.Warnings[0]
	for _, s := range []string{"rules[3]", "shadow", `"inventory"`, `"orders"`, `"corp"`} {
		if !strings.Contains(w, s) {
			t.Errorf("warning %q does not name %s", w, s)
		}
	}
}

// TestSubjectOverlapRefusedOrWarned (issue 12): without prefixes, corp and
// partner could mint the same sub for the shipping audience. Compile refuses
// that at issuers[1].subject_prefix; with allow_subject_overlap it compiles
// and warns of it at the same path.
func TestSubjectOverlapRefusedOrWarned(t *testing.T) {
	doc := strings.NewReplacer(`    subject_prefix: "corp:"`+"\n", "", `    subject_prefix: "partner:"`+"\n", "").Replace(policyYAML(newFixture(t).idp.JWKS()))
	for _, tc := range []struct {
		name  string
		allow bool
	}{{name: "refused"}, {name: "allowed", allow: true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.ParsePolicy([]byte(doc), "policy.yaml", config.Overrides{})
			var fe *config.FileError
			if !errors.As(err, &fe) || len(fe.Problems) != 1 || fe.Problems[0].Path != "issuers[1].subject_prefix" {
				t.Fatalf("ParsePolicy: %v, want the one problem at issuers[1].subject_prefix", err)
			}
			if !tc.allow {
				return
			}
			if cfg, err = config.ParsePolicy([]byte(doc+"allow_subject_overlap: true\n"), "policy.yaml", config.Overrides{}); err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			pol, err := policy.Compile(cfg)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			var warned int
			for _, w := range pol.Warnings {
				if strings.HasPrefix(w, "issuers[1].subject_prefix: ") {
					warned++
				}
			}
			if warned != 1 {
				t.Errorf("Warnings = %q, want one at issuers[1].subject_prefix", pol.Warnings)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name             string
		client, iss, aud string
		wantRule         string
		wantKind         policy.Kind
	}{
		{name: "by audience", client: "orders", iss: "corp", aud: shipping, wantRule: "shipping"},
		{name: "by audience, other issuer", client: "orders", iss: "partner", aud: shipping, wantRule: "shipping"},
		{name: "first match wins", client: "orders", iss: "corp", aud: inventory, wantRule: "inventory"},
		{name: "a shadowed rule still serves its other clients", client: "billing", iss: "corp", aud: inventory, wantRule: "shadow"},
		{name: "no audience, one rule", client: "orders", iss: "partner", wantRule: "shipping"},
		{name: "no audience, one rule of billing", client: "billing", iss: "partner", wantRule: "ledger"},
		{name: "no audience, several rules", client: "orders", iss: "corp", wantKind: policy.NoRule},
		{name: "unknown audience", client: "orders", iss: "corp", aud: "https://evil.example.com", wantKind: policy.NoRule},
		{name: "audience of another client's rule", client: "orders", iss: "partner", aud: ledger, wantKind: policy.NoRule},
		{name: "audience differs by a trailing slash", client: "orders", iss: "corp", aud: shipping + "/", wantKind: policy.NoRule},
		{name: "unknown client", client: "nobody", iss: "corp", aud: shipping, wantKind: policy.NoRule},
		{name: "unknown client, no audience", client: "nobody", iss: "corp", wantKind: policy.NoRule},
		{name: "unknown issuer", client: "orders", iss: "nobody", aud: shipping, wantKind: policy.NoRule},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := f.pol.Lookup(tc.client, tc.iss, tc.aud)
			if tc.wantKind != 0 {
				if err == nil {
					t.Fatalf("Lookup = rule %q, want a refusal", r.Name)
				}
				if k := kindOf(t, err); k != tc.wantKind {
					t.Errorf("Kind = %v, want %v", k, tc.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if r.Name != tc.wantRule {
				t.Errorf("rule = %q, want %q", r.Name, tc.wantRule)
			}
		})
	}
}

// TestLookupAmbiguousSaysSendAudience: with several rules and no audience, the
// client is told how to choose.
func TestLookupAmbiguousSaysSendAudience(t *testing.T) {
	f := newFixture(t)
	_, err := f.pol.Lookup("orders", "corp", "")
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Kind != policy.NoRule {
		t.Fatalf("err = %v, want a NoRule policy.Error", err)
	}
	if !strings.Contains(pe.Description, "audience") || !strings.Contains(pe.Description, "resource") {
		t.Errorf("description %q does not tell the client to send audience or resource", pe.Description)
	}
}

// TestLookupClipsAudience: an attacker-sized audience is not echoed in full.
func TestLookupClipsAudience(t *testing.T) {
	f := newFixture(t)
	long := "https://x.example.com/" + strings.Repeat("a", 4096)
	_, err := f.pol.Lookup("orders", "corp", long)
	var pe *policy.Error
	if !errors.As(err, &pe) {
		t.Fatal(err)
	}
	if len(pe.Description) > 512 {
		t.Errorf("description is %d bytes", len(pe.Description))
	}
}

func TestEvaluate(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name         string
		iss          string // issuer URL of the subject token
		claims       map[string]any
		req          policy.Request
		wantRule     string
		wantScopes   []string
		wantLifetime time.Duration
		wantKind     policy.Kind
	}{
		{name: "all rule scopes when none is requested", iss: corpURL,
			req:      policy.Request{ClientID: "orders", Audience: inventory},
			wantRule: "inventory", wantScopes: []string{"inventory.read", "inventory.write", "inventory.admin"}, wantLifetime: 2 * time.Minute},
		{name: "requested ∩ rule, in request order", iss: corpURL,
			req:      policy.Request{ClientID: "orders", Audience: inventory, Scopes: []string{"inventory.write", "openid", "inventory.read"}},
			wantRule: "inventory", wantScopes: []string{"inventory.write", "inventory.read"}, wantLifetime: 2 * time.Minute},
		{name: "requested scopes deduplicated", iss: corpURL,
			req:      policy.Request{ClientID: "orders", Audience: inventory, Scopes: []string{"inventory.read", "inventory.read", "inventory.admin", "inventory.read"}},
			wantRule: "inventory", wantScopes: []string{"inventory.read", "inventory.admin"}, wantLifetime: 2 * time.Minute},
		{name: "scopes are case-sensitive", iss: corpURL,
			req:      policy.Request{ClientID: "orders", Audience: inventory, Scopes: []string{"Inventory.Read"}},
			wantKind: policy.Scope},
		{name: "disjoint scopes", iss: corpURL,
			req:      policy.Request{ClientID: "orders", Audience: inventory, Scopes: []string{"shipping.read", "admin"}},
			wantKind: policy.Scope},
		{name: "default lifetime", iss: partnerURL,
			req:      policy.Request{ClientID: "billing"},
			wantRule: "ledger", wantScopes: []string{"ledger.write"}, wantLifetime: 5 * time.Minute},
		{name: "no rule", iss: partnerURL,
			req: policy.Request{ClientID: "billing", Audience: inventory}, wantKind: policy.NoRule},
		{name: "ambiguous without audience", iss: corpURL,
			req: policy.Request{ClientID: "orders"}, wantKind: policy.NoRule},

		// CEL conditions over the subject token's claims.
		{name: "condition true", iss: corpURL, claims: map[string]any{"tid": "t1"},
			req:      policy.Request{ClientID: "orders", Audience: shipping},
			wantRule: "shipping", wantScopes: []string{"shipping.read"}, wantLifetime: 5 * time.Minute},
		{name: "condition true, no audience", iss: partnerURL, claims: map[string]any{"tid": "t1"},
			req:      policy.Request{ClientID: "orders"},
			wantRule: "shipping", wantScopes: []string{"shipping.read"}, wantLifetime: 5 * time.Minute},
		{name: "condition false", iss: corpURL, claims: map[string]any{"tid": "t2"},
			req: policy.Request{ClientID: "orders", Audience: shipping}, wantKind: policy.Condition},
		{name: "condition false on sub", iss: corpURL, claims: map[string]any{"tid": "t1", "sub": "mallory"},
			req: policy.Request{ClientID: "orders", Audience: shipping}, wantKind: policy.Condition},
		{name: "condition on a missing claim", iss: corpURL,
			req: policy.Request{ClientID: "orders", Audience: shipping}, wantKind: policy.Condition},
		{name: "condition on a claim of another type", iss: corpURL, claims: map[string]any{"tid": 1},
			req: policy.Request{ClientID: "orders", Audience: shipping}, wantKind: policy.Condition},
		{name: "condition checked before scopes", iss: corpURL, claims: map[string]any{"tid": "t2"},
			req: policy.Request{ClientID: "orders", Audience: shipping, Scopes: []string{"nope"}}, wantKind: policy.Condition},
		{name: "condition that is not a bool at run time", iss: corpURL, claims: map[string]any{"level": "high"},
			req: policy.Request{ClientID: "billing", Audience: numbers}, wantKind: policy.Condition},
		{name: "dyn condition that is a bool at run time", iss: corpURL, claims: map[string]any{"level": true},
			req:      policy.Request{ClientID: "billing", Audience: numbers},
			wantRule: "numbers", wantScopes: []string{"numbers.read"}, wantLifetime: 5 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := f.principal(t, tc.iss, tc.claims)
			g, err := f.pol.Evaluate(context.Background(), pr, tc.req)
			if tc.wantKind != 0 {
				if err == nil {
					t.Fatalf("Evaluate = %+v, want a refusal", g)
				}
				if k := kindOf(t, err); k != tc.wantKind {
					t.Errorf("Kind = %v, want %v: %v", k, tc.wantKind, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if g.Rule != tc.wantRule || g.Audience != f.ruleAudience(tc.wantRule) {
				t.Errorf("rule, audience = %q, %q; want %q", g.Rule, g.Audience, tc.wantRule)
			}
			if !slices.Equal(g.Scopes, tc.wantScopes) {
				t.Errorf("scopes = %q, want %q", g.Scopes, tc.wantScopes)
			}
			if g.Lifetime != tc.wantLifetime || g.Lifetime > f.pol.MaxLifetime {
				t.Errorf("lifetime = %v, want %v (max %v)", g.Lifetime, tc.wantLifetime, f.pol.MaxLifetime)
			}
		})
	}
}

func (f *fixture) ruleAudience(name string) string {
	for _, r := range f.pol.Rules {
		if r.Name == name {
			return r.Audience
		}
	}
	return ""
}

// TestEvaluateGrantDoesNotAliasRule: a caller that edits its grant's scopes must
// not change the compiled (immutable) rule.
func TestEvaluateGrantDoesNotAliasRule(t *testing.T) {
	f := newFixture(t)
	pr := f.principal(t, corpURL, nil)
	g, err := f.pol.Evaluate(context.Background(), pr, policy.Request{ClientID: "orders", Audience: inventory})
	if err != nil {
		t.Fatal(err)
	}
	g.Scopes[0] = "changed"
	_ = append(g.Scopes[:1], "appended")
	if got := f.pol.Rules[0].Scopes; !slices.Equal(got, []string{"inventory.read", "inventory.write", "inventory.admin"}) {
		t.Errorf("editing a grant changed the rule's scopes to %q", got)
	}
}

// TestCompiledPolicyDoesNotAliasConfig: the compiled policy is immutable, even
// when the config it came from is edited afterwards.
func TestCompiledPolicyDoesNotAliasConfig(t *testing.T) {
	f := newFixture(t)
	f.cfg.Rules[0].Scopes[0] = "changed"
	f.cfg.Rules[0].Clients[0] = "changed"
	f.cfg.Rules[0].Issuers[0] = "changed"
	r := f.pol.Rules[0]
	if r.Scopes[0] != "inventory.read" || r.Clients[0] != "orders" || r.Issuers[0] != "corp" {
		t.Errorf("editing the config changed compiled rule %+v", r)
	}
}

// TestConditionRefusalNamesRuleNotCondition: SPEC §5.3: name the rule, never
// leak the condition.
func TestConditionRefusalNamesRuleNotCondition(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		claims  map[string]any
		wantErr bool // an evaluation error (missing claim), kept for logs
	}{
		{name: "false", claims: map[string]any{"tid": "t2"}},
		{name: "missing claim", claims: nil, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.pol.Evaluate(context.Background(), f.principal(t, corpURL, tc.claims), policy.Request{ClientID: "orders", Audience: shipping})
			var pe *policy.Error
			if !errors.As(err, &pe) || pe.Kind != policy.Condition {
				t.Fatalf("err = %v, want a Condition policy.Error", err)
			}
			if pe.Rule != "shipping" || !strings.Contains(pe.Description, `"shipping"`) {
				t.Errorf("Rule, Description = %q, %q; want the rule named", pe.Rule, pe.Description)
			}
			for _, leak := range []string{"claims.tid", "t1", "mallory", "==", "tid"} {
				if strings.Contains(pe.Description, leak) || strings.Contains(pe.Error(), leak) {
					t.Errorf("the refusal leaks the condition (%q): %q", leak, pe.Description)
				}
			}
			if (pe.Err != nil) != tc.wantErr {
				t.Errorf("Err = %v, want an error: %v", pe.Err, tc.wantErr)
			}
		})
	}
}

// TestEvaluateBarePrincipal documents what Evaluate does with a Principal built
// outside package issuer, whose claims payload is empty: rules without a
// condition work; a rule with a condition is refused (the claims cannot be
// decoded), never granted.
func TestEvaluateBarePrincipal(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		req      policy.Request
		iss      string
		wantRule string
		wantKind policy.Kind
	}{
		{name: "rule without condition", iss: "corp", req: policy.Request{ClientID: "orders", Audience: inventory}, wantRule: "inventory"},
		{name: "rule with condition", iss: "corp", req: policy.Request{ClientID: "orders", Audience: shipping}, wantKind: policy.Condition},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := &principal.Principal{Issuer: tc.iss, Subject: "alice"}
			g, err := f.pol.Evaluate(context.Background(), pr, tc.req)
			if tc.wantKind != 0 {
				if k := kindOf(t, err); k != tc.wantKind {
					t.Errorf("Kind = %v, want %v", k, tc.wantKind)
				}
				return
			}
			if err != nil || g.Rule != tc.wantRule {
				t.Fatalf("Evaluate = %+v, %v", g, err)
			}
		})
	}
}

// TestEvaluateConcurrent: a compiled policy and a principal are shared by
// concurrent exchanges (run with -race).
func TestEvaluateConcurrent(t *testing.T) {
	f := newFixture(t)
	prs := []*principal.Principal{
		f.principal(t, corpURL, map[string]any{"tid": "t1"}),
		f.principal(t, corpURL, map[string]any{"tid": "t2"}),
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			pr := prs[i%2]
			_, err := f.pol.Evaluate(context.Background(), pr, policy.Request{ClientID: "orders", Audience: shipping})
			if (err == nil) != (i%2 == 0) {
				t.Errorf("goroutine %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

func TestCompileReportsEveryProblem(t *testing.T) {
	idp, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(p *config.Policy)
		paths []string
	}{
		{name: "CEL syntax error", paths: []string{"rules[1].require"},
			edit: func(p *config.Policy) { p.Rules[1].Require = `claims.tid == "t1` }},
		{name: "CEL that is not a bool", paths: []string{"rules[1].require"},
			edit: func(p *config.Policy) { p.Rules[1].Require = `1 + 2` }},
		{name: "CEL string", paths: []string{"rules[0].require"},
			edit: func(p *config.Policy) { p.Rules[0].Require = `"claims.tid"` }},
		{name: "CEL unknown variable", paths: []string{"rules[2].require"},
			edit: func(p *config.Policy) { p.Rules[2].Require = `subject == "alice"` }},
		{name: "CEL type error", paths: []string{"rules[2].require"},
			edit: func(p *config.Policy) { p.Rules[2].Require = `claims.tid + 1 == "x"` }},
		{name: "CEL problems together with config problems",
			paths: []string{"rules[0].audience", "rules[1].require", "rules[3].require", "issuers[0].algorithms[0]", "token.max_lifetime"},
			edit: func(p *config.Policy) {
				p.Rules[0].Audience = ""
				p.Rules[1].Require = `claims.tid ==`
				p.Rules[3].Require = `[1, 2]`
				p.Issuers[0].Algorithms = []string{"HS256"}
				p.Token.MaxLifetime = config.Duration(48 * time.Hour)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.ParsePolicy([]byte(policyYAML(idp.JWKS())), "policy.yaml", config.Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(cfg)
			pol, err := policy.Compile(cfg)
			if err == nil {
				t.Fatalf("Compile accepted it (%d rules)", len(pol.Rules))
			}
			var fe *config.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *config.FileError: %v", err, err)
			}
			if fe.File != "policy.yaml" {
				t.Errorf("File = %q", fe.File)
			}
			for _, want := range tc.paths {
				found := false
				for _, p := range fe.Problems {
					if p.Path == want {
						found = true
						if p.Line == 0 {
							t.Errorf("problem %q has no line", p)
						}
					}
				}
				if !found {
					t.Errorf("no problem at %q:\n%v", want, err)
				}
			}
			if len(fe.Problems) != len(tc.paths) {
				t.Errorf("%d problems, want %d:\n%v", len(fe.Problems), len(tc.paths), err)
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			var sb strings.Builder
			fmt.Fprintf(&sb, "issuer: https://sts.example.com\nissuers:\n  - {name: corp, issuer_url: %s, jwks_uri: %s/jwks}\nclients:\n", corpURL, corpURL)
			for i := range n {
				fmt.Fprintf(&sb, "  - {id: c%d, secret_sha256: %s}\n", i, digest)
			}
			sb.WriteString("rules:\n")
			for i := range n {
				fmt.Fprintf(&sb, "  - {name: r%d, clients: [c%d], issuers: [corp], audience: https://api%d.example.com, scopes: [s]}\n", i, i, i)
			}
			cfg, err := config.ParsePolicy([]byte(sb.String()), "", config.Overrides{})
			if err != nil {
				b.Fatal(err)
			}
			pol, err := policy.Compile(cfg)
			if err != nil {
				b.Fatal(err)
			}
			client, aud := fmt.Sprintf("c%d", n-1), fmt.Sprintf("https://api%d.example.com", n-1)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := pol.Lookup(client, "corp", aud); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
