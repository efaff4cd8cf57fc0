package policy_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/principal"
)

// mappingPolicy has one rule with claim mapping and scope conditions; its
// issuer's keys never matter (principals are built from claims).
const mappingPolicy = `issuer: https://sts.example.com
issuers:
  - name: corp
    issuer_url: https://idp.example.com
    jwks: {keys: [{kty: EC, crv: P-256, kid: k1, alg: ES256, x: "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", y: "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}
clients:
  - id: orders
    secret_sha256: 0b8d3f7c6e0a5f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b
rules:
  - name: inventory
    clients: [orders]
    issuers: [corp]
    audience: https://inventory.example.com
    scopes: [inventory.read, inventory.write, inventory.admin]
    claims:
      tenant: claims.tid
      email: claims.email
      roles: claims.roles
      admin: "'Inventory.Admin' in claims.roles"
      level: claims.level * 2.0
      profile: '{"dept": claims.dept, "n": size(claims.roles)}'
      optional: 'has(claims.nickname) ? claims.nickname : null'
    scope_conditions:
      inventory.write: "'Inventory.Writer' in claims.roles || 'Inventory.Admin' in claims.roles"
      inventory.admin: "'Inventory.Admin' in claims.roles"
`

func compileMapping(t *testing.T) *policy.Policy {
	t.Helper()
	cfg, err := config.ParsePolicy([]byte(mappingPolicy), "mapping.yaml", config.Overrides{})
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	pol, err := policy.Compile(cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return pol
}

func subject(claims map[string]any) *principal.Principal {
	return (&principal.Principal{Issuer: "corp", Subject: "alice"}).WithClaims(claims)
}

func TestMapClaims(t *testing.T) {
	pol := compileMapping(t)
	base := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": "alice", "tid": "t1", "email": "alice@example.com", "roles": []any{"Inventory.Reader"}, "level": float64(3), "dept": "ops"}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	tests := []struct {
		name     string
		claims   map[string]any
		want     map[string]any
		wantKind policy.Kind
	}{
		{name: "every type", claims: base(map[string]any{"nickname": "al"}), want: map[string]any{
			"tenant": "t1", "email": "alice@example.com", "roles": []any{"Inventory.Reader"}, "admin": false,
			"level": float64(6), "profile": map[string]any{"dept": "ops", "n": int64(1)}, "optional": "al",
		}},
		{name: "missing claims are omitted", claims: base(map[string]any{"email": nil, "tid": nil}), want: map[string]any{
			"roles": []any{"Inventory.Reader"}, "admin": false, "level": float64(6), "profile": map[string]any{"dept": "ops", "n": int64(1)},
		}},
		{name: "null result is omitted", claims: base(nil), want: map[string]any{
			"tenant": "t1", "email": "alice@example.com", "roles": []any{"Inventory.Reader"}, "admin": false,
			"level": float64(6), "profile": map[string]any{"dept": "ops", "n": int64(1)},
		}},
		{name: "a claim of the wrong type refuses", claims: base(map[string]any{"level": "high"}), wantKind: policy.Mapping},
		{name: "roles not a list refuses", claims: base(map[string]any{"roles": "Inventory.Admin"}), wantKind: policy.Mapping},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := pol.Evaluate(context.Background(), subject(tc.claims), policy.Request{ClientID: "orders", Audience: "https://inventory.example.com", Scopes: []string{"inventory.read"}})
			if tc.wantKind != 0 {
				var pe *policy.Error
				if !errors.As(err, &pe) || pe.Kind != tc.wantKind {
					t.Fatalf("Evaluate = %+v, %v; want kind %v", g, err, tc.wantKind)
				}
				// The rule and the claim are named; the expression never is.
				if pe.Rule != "inventory" || strings.Contains(pe.Description, "claims.") {
					t.Errorf("description %q", pe.Description)
				}
				return
			}
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if !reflect.DeepEqual(g.Claims, tc.want) {
				t.Errorf("claims = %#v\nwant %#v", g.Claims, tc.want)
			}
		})
	}
}

func TestScopeConditions(t *testing.T) {
	pol := compileMapping(t)
	tests := []struct {
		name         string
		roles        any // nil: no roles claim
		requested    []string
		wantScopes   []string
		wantWithheld []string
		wantKind     policy.Kind
	}{
		{name: "reader gets only read", roles: []any{"Inventory.Reader"},
			wantScopes: []string{"inventory.read"}, wantWithheld: []string{"inventory.write", "inventory.admin"}},
		{name: "writer", roles: []any{"Inventory.Writer"},
			wantScopes: []string{"inventory.read", "inventory.write"}, wantWithheld: []string{"inventory.admin"}},
		{name: "admin gets all", roles: []any{"Inventory.Admin"},
			wantScopes: []string{"inventory.read", "inventory.write", "inventory.admin"}},
		{name: "requested and withheld", roles: []any{"Inventory.Reader"}, requested: []string{"inventory.write", "inventory.read"},
			wantScopes: []string{"inventory.read"}, wantWithheld: []string{"inventory.write"}},
		{name: "only withheld scopes requested", roles: []any{"Inventory.Reader"}, requested: []string{"inventory.admin", "openid"},
			wantKind: policy.Scope, wantWithheld: []string{"inventory.admin"}},
		{name: "missing roles claim withholds", requested: []string{"inventory.write"},
			wantKind: policy.Scope, wantWithheld: []string{"inventory.write"}},
		{name: "not allowed by the rule at all", roles: []any{"Inventory.Admin"}, requested: []string{"openid"},
			wantKind: policy.Scope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]any{"sub": "alice"}
			if tc.roles != nil {
				claims["roles"] = tc.roles
			}
			pr := subject(claims)
			r, err := pol.Lookup("orders", "corp", "https://inventory.example.com")
			if err != nil {
				t.Fatal(err)
			}
			got, withheld, err := r.GrantScopes(context.Background(), pr, tc.requested)
			if !slices.Equal(withheld, tc.wantWithheld) {
				t.Errorf("withheld = %q, want %q", withheld, tc.wantWithheld)
			}
			if tc.wantKind != 0 {
				var pe *policy.Error
				if !errors.As(err, &pe) || pe.Kind != tc.wantKind {
					t.Fatalf("GrantScopes = %q, %v; want kind %v", got, err, tc.wantKind)
				}
				// The description names the withheld scopes, not the conditions.
				for _, s := range tc.wantWithheld {
					if !strings.Contains(pe.Description, s) {
						t.Errorf("description %q does not name %s", pe.Description, s)
					}
				}
				if strings.Contains(pe.Description, "claims.roles") {
					t.Errorf("description leaks the condition: %q", pe.Description)
				}
				return
			}
			if err != nil {
				t.Fatalf("GrantScopes: %v", err)
			}
			if !slices.Equal(got, tc.wantScopes) {
				t.Errorf("scopes = %q, want %q", got, tc.wantScopes)
			}
			// Evaluate applies the same scope conditions.
			g, err := pol.Evaluate(context.Background(), pr, policy.Request{ClientID: "orders", Audience: "https://inventory.example.com", Scopes: tc.requested})
			if err != nil || !slices.Equal(g.Scopes, tc.wantScopes) {
				t.Errorf("Evaluate = %q, %v; want %q", g.Scopes, err, tc.wantScopes)
			}
		})
	}
}

// TestMappingConfigErrors: reserved claims, scopes the rule lacks and bad CEL
// are config errors, each with its path.
func TestMappingConfigErrors(t *testing.T) {
	rule := func(extra string) string {
		return strings.Replace(mappingPolicy, "    claims:\n", extra+"    claims:\n", 1)
	}
	tests := []struct {
		name string
		doc  string
		path string
	}{
		{name: "reserved sub", doc: strings.Replace(mappingPolicy, "tenant: claims.tid", "sub: claims.email", 1), path: "rules[0].claims.sub"},
		{name: "reserved scope", doc: strings.Replace(mappingPolicy, "tenant: claims.tid", "scope: claims.scp", 1), path: "rules[0].claims.scope"},
		{name: "reserved act", doc: strings.Replace(mappingPolicy, "tenant: claims.tid", "act: claims.act", 1), path: "rules[0].claims.act"},
		{name: "reserved cnf", doc: strings.Replace(mappingPolicy, "tenant: claims.tid", "cnf: claims.cnf", 1), path: "rules[0].claims.cnf"},
		{name: "bad CEL in claims", doc: strings.Replace(mappingPolicy, "tenant: claims.tid", "tenant: claims.tid ==", 1), path: "rules[0].claims.tenant"},
		{name: "unknown variable in claims", doc: strings.Replace(mappingPolicy, "tenant: claims.tid", "tenant: request.tid", 1), path: "rules[0].claims.tenant"},
		{name: "bytes are not JSON", doc: strings.Replace(mappingPolicy, "tenant: claims.tid", "tenant: b'x'", 1), path: "rules[0].claims.tenant"},
		{name: "empty expression", doc: strings.Replace(mappingPolicy, "tenant: claims.tid", `tenant: ""`, 1), path: "rules[0].claims.tenant"},
		{name: "scope condition for a scope the rule lacks", doc: strings.Replace(mappingPolicy, "inventory.admin: \"'", "shipping.read: \"'", 1), path: "rules[0].scope_conditions.shipping.read"},
		{name: "scope condition not boolean", doc: strings.Replace(mappingPolicy, `inventory.admin: "'Inventory.Admin' in claims.roles"`, `inventory.admin: "size(claims.roles)"`, 1), path: "rules[0].scope_conditions.inventory.admin"},
		{name: "claims not a mapping", doc: rule("    claims: [a, b]\n"), path: "rules[0].claims"},
		{name: "claim value not a string", doc: strings.Replace(mappingPolicy, "tenant: claims.tid", "tenant: [claims.tid]", 1), path: "rules[0].claims.tenant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.ParsePolicy([]byte(tc.doc), "mapping.yaml", config.Overrides{})
			if err == nil {
				_, err = policy.Compile(cfg)
			}
			var fe *config.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *config.FileError", err)
			}
			var paths []string
			for _, p := range fe.Problems {
				paths = append(paths, p.Path)
				if p.Path == tc.path && p.Line == 0 {
					t.Errorf("problem at %s has no line", p.Path)
				}
			}
			if !slices.Contains(paths, tc.path) {
				t.Errorf("problems at %q, want one at %s\n%v", paths, tc.path, fmt.Sprint(err))
			}
		})
	}
}
