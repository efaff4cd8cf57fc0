package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/config"
)

// Secrets' digests: sha256("orders-secret") and sha256("billing-secret") need not
// be real for config tests, only well-formed.
const (
	digestA = "0b8d3f7c6e0a5f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b"
	digestB = "1c9e4a8d7f1b6a2e3d4c5b6a79889706b5c4d3e2f102b3c4d5e6f708192a3b4c"
)

// ecPublic is a public EC P-256 key; ecPrivateD is its private scalar.
const (
	ecPublic   = `{kty: EC, crv: P-256, kid: k1, x: rwMuEL0Nlbt_hJrn7guS5cVcAcNqmm5C8JOTJ42CvS8, y: I7mCKNIsKY0rJedYXl_nx79LnRUcLNsVnDxO9RJS9F0}`
	ecPrivateD = `czzAYGSGOweZ3yX0QiMGReLkTDBQvJjw2r3-yVWXagw`
)

// basePolicy is a valid policy with two issuers, two clients and three rules.
// Both issuers reach https://shipping.example.com, so each has its own
// subject_prefix (issue 12: their subjects must not collide).
// Bad cases patch it so that each one differs from a good file by one mistake.
const basePolicy = `issuer: https://sts.example.com
keys: keys.json
token:
  default_lifetime: 5m
  max_lifetime: 15m
issuers:
  - name: corp
    issuer_url: https://idp.example.com/
    jwks_uri: https://idp.example.com/jwks
    subject_prefix: "corp:"
    algorithms: [RS256, ES256]
  - name: partner
    issuer_url: https://partner.example.com
    jwks: {keys: [` + ecPublic + `]}
    audiences: [https://sts.example.com, api://tokex]
    token_types: [access_token]
    leeway: 10s
    subject_prefix: "partner:"
clients:
  - id: orders
    secret_sha256: "` + digestA + `"
  - id: billing
    secret_sha256: "` + digestB + `"
rules:
  - name: orders-to-inventory
    clients: [orders]
    issuers: [corp]
    audience: https://inventory.example.com
    scopes: [inventory.read, inventory.write]
    lifetime: 2m
  - name: orders-to-shipping
    clients: [orders]
    issuers: [corp, partner]
    audience: https://shipping.example.com
    scopes: [shipping.read]
    require: 'claims.tid == "t1"'
  - name: billing-to-ledger
    clients: [billing]
    issuers: [partner]
    audience: https://ledger.example.com
    scopes: [ledger.write]
`

// patch applies old->new replacements (each must match) to basePolicy.
func patch(t *testing.T, pairs ...string) string {
	t.Helper()
	doc := basePolicy
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(doc, pairs[i]) {
			t.Fatalf("patch: %q is not in the base policy", pairs[i])
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return doc
}

func fileError(t *testing.T, err error) *config.FileError {
	t.Helper()
	var fe *config.FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want a *config.FileError", err, err)
	}
	return fe
}

func findProblem(fe *config.FileError, path string) (config.Problem, bool) {
	for _, p := range fe.Problems {
		if p.Path == path {
			return p, true
		}
	}
	return config.Problem{}, false
}

func paths(fe *config.FileError) []string {
	var out []string
	for _, p := range fe.Problems {
		out = append(out, p.Path)
	}
	return out
}

func TestParsePolicyGood(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	p, err := config.ParsePolicy([]byte(basePolicy), file, config.Overrides{})
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	if got, want := p.Keys, filepath.Join(dir, "keys.json"); got != want {
		t.Errorf("Keys = %q, want %q (relative to the policy file)", got, want)
	}
	if p.File != file {
		t.Errorf("File = %q, want %q", p.File, file)
	}
	if got := p.Token.DefaultLifetime.D(); got != 5*time.Minute {
		t.Errorf("default_lifetime = %v", got)
	}
	if got := p.Token.MaxLifetime.D(); got != 15*time.Minute {
		t.Errorf("max_lifetime = %v", got)
	}
	corp, partner := p.Issuers[0], p.Issuers[1]
	if want := []string{"https://sts.example.com"}; !slices.Equal(corp.Audiences, want) {
		t.Errorf("corp audiences = %q, want the default %q", corp.Audiences, want)
	}
	if want := []string{"RS256", "ES256"}; !slices.Equal(corp.Algorithms, want) {
		t.Errorf("corp algorithms = %q, want %q", corp.Algorithms, want)
	}
	if want := []string{"access_token", "jwt"}; !slices.Equal(corp.TokenTypes, want) {
		t.Errorf("corp token types = %q, want the default %q", corp.TokenTypes, want)
	}
	if corp.Leeway == nil || corp.Leeway.D() != 30*time.Second {
		t.Errorf("corp leeway = %v, want the default 30s", corp.Leeway)
	}
	if want := []string{"https://sts.example.com", "api://tokex"}; !slices.Equal(partner.Audiences, want) {
		t.Errorf("partner audiences = %q, want %q", partner.Audiences, want)
	}
	if want := []string{"RS256", "ES256"}; !slices.Equal(partner.Algorithms, want) {
		t.Errorf("partner algorithms = %q, want the default %q", partner.Algorithms, want)
	}
	if partner.Leeway == nil || partner.Leeway.D() != 10*time.Second {
		t.Errorf("partner leeway = %v, want 10s", partner.Leeway)
	}
	if partner.JWKS == nil {
		t.Error("partner inline jwks was dropped")
	}
	if r := p.Rules[0]; r.Lifetime == nil || r.Lifetime.D() != 2*time.Minute {
		t.Errorf("rules[0].lifetime = %v, want 2m", r.Lifetime)
	}
	if r := p.Rules[1]; r.Lifetime != nil || r.Require != `claims.tid == "t1"` {
		t.Errorf("rules[1] = %+v", r)
	}
	if got := p.Lines["rules[2].audience"]; got != 40 {
		t.Errorf("Lines[rules[2].audience] = %d, want 40", got)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate of a parsed policy: %v", err)
	}
}

func TestParsePolicyDefaults(t *testing.T) {
	doc := patch(t,
		"token:\n  default_lifetime: 5m\n  max_lifetime: 15m\n", "",
		"keys: keys.json\n", "")
	p, err := config.ParsePolicy([]byte(doc), "/etc/tokex/policy.yaml", config.Overrides{})
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	if p.Token.DefaultLifetime.D() != config.DefaultLifetime || p.Token.MaxLifetime.D() != config.DefaultMaxLifetime {
		t.Errorf("token = %+v, want the defaults 5m/15m", p.Token)
	}
	if p.Keys != "" {
		t.Errorf("Keys = %q, want empty (ephemeral key)", p.Keys)
	}
}

func TestParsePolicyOverrides(t *testing.T) {
	tests := []struct {
		name       string
		doc        string
		file       string
		o          config.Overrides
		wantIssuer string
		wantKeys   string
		wantAud    string // default audience of issuer corp
	}{
		{
			name: "no overrides", doc: basePolicy, file: "/etc/tokex/policy.yaml",
			wantIssuer: "https://sts.example.com", wantKeys: "/etc/tokex/keys.json", wantAud: "https://sts.example.com",
		},
		{
			name: "issuer override wins and is the default audience", doc: basePolicy, file: "/etc/tokex/policy.yaml",
			o:          config.Overrides{Issuer: "https://sts.prod.example.com"},
			wantIssuer: "https://sts.prod.example.com", wantKeys: "/etc/tokex/keys.json", wantAud: "https://sts.prod.example.com",
		},
		{
			name: "absolute keys override wins", doc: basePolicy, file: "/etc/tokex/policy.yaml",
			o:          config.Overrides{Keys: "/run/secrets/keys.json"},
			wantIssuer: "https://sts.example.com", wantKeys: "/run/secrets/keys.json", wantAud: "https://sts.example.com",
		},
		{
			// A process setting is relative to the working directory, as every
			// other command-line path; only the file's own keys: is relative to it.
			name: "relative keys override is not moved into the policy dir", doc: basePolicy, file: "/etc/tokex/policy.yaml",
			o:          config.Overrides{Keys: "secrets/keys.json"},
			wantIssuer: "https://sts.example.com", wantKeys: "secrets/keys.json", wantAud: "https://sts.example.com",
		},
		{
			name: "issuer override fills a missing issuer", doc: patch(t, "issuer: https://sts.example.com\n", ""), file: "/etc/tokex/policy.yaml",
			o:          config.Overrides{Issuer: "http://localhost:8080"},
			wantIssuer: "http://localhost:8080", wantKeys: "/etc/tokex/keys.json", wantAud: "http://localhost:8080",
		},
		{
			name: "document markers and a trailing empty document", doc: "---\n" + basePolicy + "...\n---\n# end\n", file: "/etc/tokex/policy.yaml",
			wantIssuer: "https://sts.example.com", wantKeys: "/etc/tokex/keys.json", wantAud: "https://sts.example.com",
		},
		{
			name: "embedded policy keeps a relative keys path", doc: basePolicy, file: "",
			wantIssuer: "https://sts.example.com", wantKeys: "keys.json", wantAud: "https://sts.example.com",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := config.ParsePolicy([]byte(tc.doc), tc.file, tc.o)
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			if p.Issuer != tc.wantIssuer {
				t.Errorf("Issuer = %q, want %q", p.Issuer, tc.wantIssuer)
			}
			if p.Keys != tc.wantKeys {
				t.Errorf("Keys = %q, want %q", p.Keys, tc.wantKeys)
			}
			if got := p.Issuers[0].Audiences; !slices.Equal(got, []string{tc.wantAud}) {
				t.Errorf("corp audiences = %q, want [%q]", got, tc.wantAud)
			}
		})
	}
}

func TestParsePolicyBad(t *testing.T) {
	tests := []struct {
		name     string
		doc      func(t *testing.T) string
		o        config.Overrides
		path     string // a problem must have this path
		wantLine bool   // and a line, since the key is in the file
	}{
		// Unknown keys, at every level.
		{name: "unknown top-level key", path: "isuer", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "keys: keys.json\n", "keys: keys.json\nisuer: https://x.example.com\n")
			}},
		{name: "unknown token key", path: "token.max_lifetme", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "  max_lifetime: 15m", "  max_lifetme: 15m") }},
		{name: "unknown issuer key", path: "issuers[0].jwks_url", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "    jwks_uri: https://idp", "    jwks_url: https://idp") }},
		{name: "unknown client key", path: "clients[1].secret", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, `    secret_sha256: "`+digestB+`"`, `    secret_sha256: "`+digestB+`"`+"\n    secret: billing-secret")
			}},
		{name: "unknown rule key", path: "rules[2].scope", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "    scopes: [ledger.write]", "    scope: [ledger.write]") }},

		// Wrong shapes.
		{name: "string where a list belongs", path: "rules[0].scopes", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "scopes: [inventory.read, inventory.write]", "scopes: inventory.read inventory.write")
			}},
		{name: "list where a mapping belongs", path: "token", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "token:\n  default_lifetime: 5m\n  max_lifetime: 15m\n", "token: [5m, 15m]\n")
			}},
		{name: "mapping where a string belongs", path: "issuer", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "issuer: https://sts.example.com", "issuer: {url: https://sts.example.com}")
			}},
		{name: "list where a string belongs", path: "rules[1].audience", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "audience: https://shipping.example.com", "audience: [https://shipping.example.com]")
			}},
		{name: "mapping where the issuers list belongs", path: "issuers", wantLine: true,
			doc: func(t *testing.T) string {
				return "issuer: https://sts.example.com\nissuers: {name: corp}\nclients: []\nrules: []\n"
			}},

		// Durations.
		{name: "duration in words", path: "token.default_lifetime", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "default_lifetime: 5m", "default_lifetime: 5 minutes") }},
		{name: "duration without unit", path: "token.max_lifetime", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "max_lifetime: 15m", "max_lifetime: 900") }},
		{name: "negative duration", path: "rules[0].lifetime", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "lifetime: 2m", "lifetime: -2m") }},
		{name: "duration given as a list", path: "issuers[1].leeway", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "leeway: 10s", "leeway: [10s]") }},

		{name: "key given twice", path: "rules[1].audience", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "    audience: https://shipping.example.com", "    audience: https://shipping.example.com\n    audience: https://other.example.com")
			}},

		// Names, URLs and ids must be unique.
		{name: "duplicate issuer name", path: "issuers[1].name", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "  - name: partner", "  - name: corp") }},
		{name: "duplicate issuer_url", path: "issuers[1].issuer_url", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "issuer_url: https://partner.example.com", "issuer_url: https://idp.example.com/")
			}},
		{name: "duplicate client id", path: "clients[1].id", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "  - id: billing", "  - id: orders") }},
		{name: "duplicate rule name", path: "rules[1].name", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "  - name: orders-to-shipping", "  - name: orders-to-inventory")
			}},

		// References.
		{name: "rule names an unknown client", path: "rules[2].clients[0]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "clients: [billing]", "clients: [biling]") }},
		{name: "rule names an unknown issuer", path: "rules[1].issuers[1]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "issuers: [corp, partner]", "issuers: [corp, partners]") }},
		{name: "rule without clients", path: "rules[0].clients", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "    clients: [orders]\n    issuers: [corp]\n", "    clients: []\n    issuers: [corp]\n")
			}},
		{name: "rule lists an issuer twice", path: "rules[1].issuers[1]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "issuers: [corp, partner]", "issuers: [corp, corp]") }},

		// Algorithms.
		{name: "HS256", path: "issuers[0].algorithms[1]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "algorithms: [RS256, ES256]", "algorithms: [RS256, HS256]") }},
		{name: "alg none", path: "issuers[0].algorithms[0]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "algorithms: [RS256, ES256]", "algorithms: [none]") }},
		{name: "unsupported alg", path: "issuers[0].algorithms[1]", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "algorithms: [RS256, ES256]", "algorithms: [RS256, ES256K]")
			}},
		{name: "alg in lower case", path: "issuers[0].algorithms[0]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "algorithms: [RS256, ES256]", "algorithms: [rs256]") }},

		// URLs.
		{name: "http issuer_url that is not loopback", path: "issuers[0].issuer_url", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "issuer_url: https://idp.example.com/", "issuer_url: http://idp.example.com/")
			}},
		{name: "http tokex issuer that is not loopback", path: "issuer", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "issuer: https://sts.example.com", "issuer: http://sts.example.com")
			}},
		{name: "relative URL", path: "issuers[0].jwks_uri", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "jwks_uri: https://idp.example.com/jwks", "jwks_uri: /jwks")
			}},
		{name: "URL with a query", path: "issuers[0].jwks_uri", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "jwks_uri: https://idp.example.com/jwks", "jwks_uri: https://idp.example.com/jwks?v=2")
			}},
		{name: "URL with an empty query", path: "issuers[1].issuer_url", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "issuer_url: https://partner.example.com", "issuer_url: https://partner.example.com?")
			}},
		{name: "URL with a fragment", path: "issuers[0].issuer_url", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "issuer_url: https://idp.example.com/", `issuer_url: "https://idp.example.com/#top"`)
			}},
		{name: "URL with an empty fragment", path: "issuer", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "issuer: https://sts.example.com", `issuer: "https://sts.example.com#"`)
			}},
		{name: "URL with userinfo", path: "issuers[0].issuer_url", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "issuer_url: https://idp.example.com/", "issuer_url: https://admin:pw@idp.example.com/")
			}},
		{name: "tokex issuer with a trailing slash", path: "issuer", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "issuer: https://sts.example.com", "issuer: https://sts.example.com/")
			}},
		{name: "trailing slash from the issuer override", path: "issuer", wantLine: true,
			o:   config.Overrides{Issuer: "https://sts.example.com/"},
			doc: func(t *testing.T) string { return basePolicy }},
		{name: "no issuer and no override", path: "issuer", wantLine: false,
			doc: func(t *testing.T) string { return patch(t, "issuer: https://sts.example.com\n", "") }},

		// Lifetimes and leeway.
		{name: "rule lifetime longer than max_lifetime", path: "rules[0].lifetime", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "lifetime: 2m", "lifetime: 16m") }},
		{name: "default_lifetime longer than max_lifetime", path: "token.default_lifetime", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "default_lifetime: 5m", "default_lifetime: 20m") }},
		{name: "max_lifetime longer than 24h", path: "token.max_lifetime", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "max_lifetime: 15m", "max_lifetime: 25h") }},
		{name: "rule lifetime under a second", path: "rules[0].lifetime", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "lifetime: 2m", "lifetime: 500ms") }},
		{name: "leeway longer than 5m", path: "issuers[1].leeway", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "leeway: 10s", "leeway: 6m") }},

		// Scopes.
		{name: "scope with a space", path: "rules[0].scopes[1]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "inventory.write]", `"inventory write"]`) }},
		{name: "scope with a double quote", path: "rules[2].scopes[0]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "scopes: [ledger.write]", `scopes: ['ledger"write']`) }},
		{name: "scope with a backslash", path: "rules[2].scopes[0]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "scopes: [ledger.write]", `scopes: ['ledger\write']`) }},
		{name: "non-ASCII scope", path: "rules[2].scopes[0]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "scopes: [ledger.write]", `scopes: [lédger]`) }},
		{name: "scope with a TAB", path: "rules[2].scopes[0]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "scopes: [ledger.write]", `scopes: ["ledger\twrite"]`) }},
		{name: "scope with a NBSP", path: "rules[2].scopes[0]", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "scopes: [ledger.write]", "scopes: [\"ledger\u00a0write\"]")
			}},
		{name: "empty scope", path: "rules[2].scopes[0]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "scopes: [ledger.write]", `scopes: [""]`) }},
		{name: "scope listed twice", path: "rules[0].scopes[1]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "inventory.write]", "inventory.read]") }},
		{name: "rule without scopes", path: "rules[1].scopes", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "scopes: [shipping.read]", "scopes: []") }},

		// Inline JWKS.
		{name: "inline jwks with a private key", path: "issuers[1].jwks", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "x: rwMuEL", "d: "+ecPrivateD+", x: rwMuEL")
			}},
		{name: "inline jwks with a symmetric key", path: "issuers[1].jwks", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "jwks: {keys: ["+ecPublic+"]}", "jwks: {keys: [{kty: oct, kid: s, k: c2VjcmV0}]}")
			}},
		{name: "inline jwks with no keys", path: "issuers[1].jwks", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "jwks: {keys: ["+ecPublic+"]}", "jwks: {keys: []}") }},
		{name: "inline jwks that is a string", path: "issuers[1].jwks", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "jwks: {keys: ["+ecPublic+"]}", "jwks: https://partner.example.com/jwks")
			}},
		{name: "inline jwks with a bad key", path: "issuers[1].jwks", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "x: rwMuEL", "x: AAAA, z: rwMuEL") }},
		{name: "jwks together with jwks_uri", path: "issuers[1].jwks", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "    jwks: {keys:", "    jwks_uri: https://partner.example.com/jwks\n    jwks: {keys:")
			}},

		// Clients, rules, issuers: required and well-formed values.
		{name: "secret_sha256 is the secret itself", path: "clients[0].secret_sha256", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, `"`+digestA+`"`, "orders-secret") }},
		{name: "secret_sha256 missing", path: "clients[1].secret_sha256", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, `    secret_sha256: "`+digestB+`"`, "") }},
		{name: "client id with a space", path: "clients[0].id", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "  - id: orders", `  - id: "my orders"`) }},
		{name: "rule without audience", path: "rules[2].audience", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "    audience: https://ledger.example.com\n", "") }},
		{name: "rule name with a space", path: "rules[0].name", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "name: orders-to-inventory", `name: "orders to inventory"`) }},
		{name: "issuer without issuer_url", path: "issuers[0].issuer_url", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "    issuer_url: https://idp.example.com/\n", "") }},
		{name: "unknown token type", path: "issuers[1].token_types[0]", wantLine: true,
			doc: func(t *testing.T) string {
				return patch(t, "token_types: [access_token]", "token_types: [refresh_token]")
			}},
		{name: "audience with a space", path: "issuers[1].audiences[1]", wantLine: true,
			doc: func(t *testing.T) string { return patch(t, "api://tokex]", `"api://to kex"]`) }},
		{name: "no rules", path: "rules", wantLine: true,
			doc: func(t *testing.T) string { return basePolicy[:strings.Index(basePolicy, "rules:")] + "rules: []\n" }},

		// Not a policy at all.
		{name: "empty file", path: "", doc: func(t *testing.T) string { return "" }},
		{name: "only a comment", path: "", doc: func(t *testing.T) string { return "# nothing here\n" }},
		{name: "not YAML", path: "", doc: func(t *testing.T) string { return "issuer: [unclosed\n  - {" }},
		{name: "tab indentation", path: "", doc: func(t *testing.T) string { return "token:\n\tmax_lifetime: 5m\n" }},
		{name: "a list, not a mapping", path: "", doc: func(t *testing.T) string { return "- issuer\n- keys\n" }},
		{name: "a scalar, not a mapping", path: "", doc: func(t *testing.T) string { return "hello\n" }},
		// A second document would be silently ignored by a plain yaml.Unmarshal.
		{name: "two YAML documents", path: "", doc: func(t *testing.T) string {
			return basePolicy + "---\nrules:\n  - name: extra\n"
		}},
		{name: "a good document after a bad one", path: "", doc: func(t *testing.T) string { return "issuer: [x\n---\n" + basePolicy }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.ParsePolicy([]byte(tc.doc(t)), "policy.yaml", tc.o)
			fe := fileError(t, err)
			if fe.File != "policy.yaml" {
				t.Errorf("File = %q, want policy.yaml", fe.File)
			}
			if len(fe.Problems) == 0 {
				t.Fatal("a FileError without problems")
			}
			p, ok := findProblem(fe, tc.path)
			if !ok {
				t.Fatalf("no problem at %q; problems at %q:\n%v", tc.path, paths(fe), err)
			}
			if tc.wantLine && p.Line == 0 {
				t.Errorf("problem %q has no line", p)
			}
			if p.Msg == "" {
				t.Errorf("problem at %q has no message", tc.path)
			}
		})
	}
}

// TestParsePolicyAliasBomb: aliases are walked where they are used, so nested
// anchors must not make a small file cost quadratic time and memory (a 100 KB
// file of this shape used to take hours and gigabytes).
func TestParsePolicyAliasBomb(t *testing.T) {
	const n = 20_000
	doc := "x-scopes: &s [" + strings.Repeat("a,", n) + "]\nx-rule: &r {scopes: *s}\nrules: [" + strings.Repeat("*r,", n) + "]\n"
	_, err := config.ParsePolicy([]byte(doc), "bomb.yaml", config.Overrides{})
	fe := fileError(t, err)
	if len(fe.Problems) > 1000 {
		t.Errorf("%d problems: the report itself blew up", len(fe.Problems))
	}
}

// Aliases within reason are fine: a shared list of clients or scopes.
func TestParsePolicyAliases(t *testing.T) {
	doc := patch(t,
		"clients: [orders]\n    issuers: [corp]\n", "clients: &orders [orders]\n    issuers: &corp [corp]\n",
		"scopes: [shipping.read]", "scopes: &ship [shipping.read]",
	) + "  - name: alias-rule\n    clients: *orders\n    issuers: *corp\n    audience: https://alias.example.com\n    scopes: *ship\n"
	p, err := config.ParsePolicy([]byte(doc), "policy.yaml", config.Overrides{})
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	if r := p.Rules[3]; !slices.Equal(r.Clients, []string{"orders"}) || !slices.Equal(r.Scopes, []string{"shipping.read"}) {
		t.Errorf("rules[3] = %+v", r)
	}
}

// TestParsePolicyLines pins the lines reported for problems of a small file.
func TestParsePolicyLines(t *testing.T) {
	doc := `issuer: https://sts.example.com
issuers:
  - name: corp
    issuer_url: https://idp.example.com
    algorithms:
      - RS256
      - HS256
clients:
  - id: orders
    secret_sha256: nope
rules:
  - name: r
    clients: [orders]
    issuers: [corp]
    scopes: [a]
`
	_, err := config.ParsePolicy([]byte(doc), "p.yaml", config.Overrides{})
	fe := fileError(t, err)
	tests := []struct {
		name string
		path string
		line int
	}{
		{name: "list item", path: "issuers[0].algorithms[1]", line: 7},
		{name: "scalar value", path: "clients[0].secret_sha256", line: 10},
		{name: "missing key falls back to its parent", path: "rules[0].audience", line: 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := findProblem(fe, tc.path)
			if !ok {
				t.Fatalf("no problem at %q; have %q", tc.path, paths(fe))
			}
			if p.Line != tc.line {
				t.Errorf("line = %d, want %d", p.Line, tc.line)
			}
		})
	}
}

// TestParsePolicyAllProblemsAtOnce: an operator fixes a file in one pass (SPEC §2).
func TestParsePolicyAllProblemsAtOnce(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		paths []string
	}{
		{
			name: "structural problems",
			doc: patch(t,
				"keys: keys.json", "keys: keys.json\ncolour: blue",
				"  max_lifetime: 15m", "  max_lifetime: 15 minutes",
				"    jwks_uri: https://idp", "    jwks_url: https://idp",
				"scopes: [shipping.read]", "scopes: shipping.read",
				"    scopes: [ledger.write]", "    scope: [ledger.write]",
			),
			paths: []string{"colour", "token.max_lifetime", "issuers[0].jwks_url", "rules[1].scopes", "rules[2].scope"},
		},
		{
			name: "semantic problems",
			doc: patch(t,
				"issuer: https://sts.example.com", "issuer: https://sts.example.com/",
				"algorithms: [RS256, ES256]", "algorithms: [RS256, HS256]",
				"leeway: 10s", "leeway: 1h",
				`"`+digestA+`"`, "orders-secret",
				"  - id: billing", "  - id: orders",
				"    audience: https://ledger.example.com\n", "",
				"issuers: [corp, partner]", "issuers: [corp, partners]",
				"lifetime: 2m", "lifetime: 1h",
				"inventory.write]", `"inventory write"]`,
			),
			paths: []string{
				"issuer", "issuers[0].algorithms[1]", "issuers[1].leeway", "clients[0].secret_sha256",
				"clients[1].id", "rules[2].audience", "rules[1].issuers[1]", "rules[0].lifetime", "rules[0].scopes[1]",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.ParsePolicy([]byte(tc.doc), "policy.yaml", config.Overrides{})
			fe := fileError(t, err)
			for _, path := range tc.paths {
				p, ok := findProblem(fe, path)
				if !ok {
					t.Errorf("no problem at %q; have %q", path, paths(fe))
					continue
				}
				if p.Line == 0 {
					t.Errorf("problem %q has no line", p)
				}
			}
			if len(fe.Problems) < len(tc.paths) {
				t.Errorf("%d problems, want at least %d", len(fe.Problems), len(tc.paths))
			}
			// The message counts them and lists each on its own line.
			if got := strings.Count(err.Error(), "\n  "); got != len(fe.Problems) {
				t.Errorf("Error() lists %d problems, want %d", got, len(fe.Problems))
			}
		})
	}
}

func TestLoadPolicyFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		setup   func(t *testing.T) string
		wantErr bool
		wantFE  bool
	}{
		{name: "good file", setup: func(t *testing.T) string { return writeFile(t, dir, "good.yaml", basePolicy) }},
		{name: "missing file", wantErr: true, setup: func(t *testing.T) string { return filepath.Join(dir, "nope.yaml") }},
		{name: "bad file names itself", wantErr: true, wantFE: true,
			setup: func(t *testing.T) string { return writeFile(t, dir, "bad.yaml", "issuer: [x]\n") }},
		{name: "file too large", wantErr: true, wantFE: true,
			setup: func(t *testing.T) string {
				return writeFile(t, dir, "big.yaml", basePolicy+"#"+strings.Repeat("x", 4<<20)+"\n")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.setup(t)
			p, err := config.LoadPolicyFile(path, config.Overrides{})
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("LoadPolicyFile: %v", err)
				}
				if p.File != path || p.Keys != filepath.Join(dir, "keys.json") {
					t.Errorf("File, Keys = %q, %q", p.File, p.Keys)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			var fe *config.FileError
			if got := errors.As(err, &fe); got != tc.wantFE {
				t.Fatalf("errors.As(FileError) = %v, want %v: %v", got, tc.wantFE, err)
			}
			if fe != nil && fe.File != path {
				t.Errorf("FileError.File = %q, want %q", fe.File, path)
			}
		})
	}
}

func TestFileErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *config.FileError
		want []string // substrings
	}{
		{name: "one problem", err: &config.FileError{File: "p.yaml", Problems: []config.Problem{{Path: "rules[2].audience", Line: 21, Msg: "required"}}},
			want: []string{"p.yaml: 1 problem\n", "rules[2].audience (line 21): required"}},
		{name: "no line", err: &config.FileError{File: "p.yaml", Problems: []config.Problem{{Path: "issuer", Msg: "required"}, {Msg: "x"}}},
			want: []string{"2 problems", "\n  issuer: required", "\n  x"}},
		{name: "embedded", err: &config.FileError{Problems: []config.Problem{{Msg: "x"}}}, want: []string{"embedded policy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.want {
				if !strings.Contains(tc.err.Error(), w) {
					t.Errorf("%q does not contain %q", tc.err.Error(), w)
				}
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnknownKeySuggestion(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{name: "one letter off", key: "jwks_url", want: `did you mean "jwks_uri"?`},
		{name: "missing letter", key: "audences", want: `did you mean "audiences"?`},
		{name: "far from everything", key: "colour", want: "known keys:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := "issuer: https://sts.example.com\nissuers:\n  - name: corp\n    issuer_url: https://idp.example.com\n    " + tc.key + ": x\n"
			_, err := config.ParsePolicy([]byte(doc), "p.yaml", config.Overrides{})
			var fe *config.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v", err)
			}
			found := false
			for _, p := range fe.Problems {
				if p.Path == "issuers[0]."+tc.key && strings.Contains(p.Msg, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem at issuers[0].%s saying %q: %v", tc.key, tc.want, fe)
			}
		})
	}
}

func TestClassifyAlg(t *testing.T) {
	for alg, want := range map[string]config.AlgClass{
		"none": config.AlgUnsigned, "None": config.AlgUnsigned, "NONE": config.AlgUnsigned,
		"HS256": config.AlgHMAC, "hs512": config.AlgHMAC, "HS": config.AlgHMAC,
		"RS256": config.AlgOther, "ES256": config.AlgOther, "EdDSA": config.AlgOther, "": config.AlgOther, "nonee": config.AlgOther,
	} {
		if got := config.ClassifyAlg(alg); got != want {
			t.Errorf("ClassifyAlg(%q) = %d, want %d", alg, got, want)
		}
	}
}
