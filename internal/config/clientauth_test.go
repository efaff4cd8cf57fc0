package config_test

import (
	"testing"

	"github.com/tokex/tokex/internal/config"
)

const billingClient = "  - id: billing\n    secret_sha256: \"" + digestB + "\"\n"

func TestParsePolicyIssue3Good(t *testing.T) {
	doc := func(t *testing.T) string {
		return patch(t,
			"  max_lifetime: 15m\n", "  max_lifetime: 15m\n  max_delegation_depth: 2\nrate_limits:\n  client: {per_second: 100, burst: 200}\n  subject: {per_second: 5}\n",
			billingClient, billingClient+`  - id: signer
    auth: private_key_jwt
    jwks: {keys: [`+ecPublic+`]}
    rate_limits:
      client: {per_second: 0}
  - id: fetcher
    auth: private_key_jwt
    jwks_uri: https://orders.example.com/jwks
  - id: mtls
    auth: tls_client_auth
    tls_client_auth_subject_dn: "CN=mtls,O=Example"
  - id: mtls-dns
    auth: tls_client_auth
    tls_client_auth_san_dns: mtls.example.com
  - id: basic-only
    auth: client_secret_basic
    secret_sha256: "`+digestA+`"
`,
			"    scopes: [ledger.write]\n", `    scopes: [ledger.write]
    delegation: allowed
    actor_issuers: [corp]
    actor_require: 'actor.sub.startsWith("svc-") && claims.sub != actor.sub'
  - name: public
    allow_unauthenticated: true
    issuers: [partner]
    audience: https://public.example.com
    scopes: [public.read]
    delegation: required
    actor_issuers: [corp, partner]
`)
	}
	p, err := config.ParsePolicy([]byte(doc(t)), "policy.yaml", config.Overrides{})
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	if p.Token.DelegationDepth() != 2 || p.RateLimits.Client.PerSecond != 100 || p.RateLimits.Subject.PerSecond != 5 {
		t.Errorf("token/rate_limits = %+v %+v", p.Token, p.RateLimits)
	}
	if c := p.Clients[2]; c.Auth != config.AuthPrivateKeyJWT || c.JWKS == nil || c.RateLimits.Client.PerSecond != 0 {
		t.Errorf("signer = %+v", c)
	}
	if r := p.Rules[3]; !r.AllowUnauthenticated || r.Delegation != config.DelegationRequired || len(r.ActorIssuers) != 2 {
		t.Errorf("public rule = %+v", r)
	}
	if !p.HasTLSClientAuth() {
		t.Error("HasTLSClientAuth = false")
	}
	if (config.TokenSettings{}).DelegationDepth() != config.DefaultMaxDelegationDepth {
		t.Error("default delegation depth")
	}
}

func TestParsePolicyIssue3Bad(t *testing.T) {
	addClient := func(entry string) func(t *testing.T) string {
		return func(t *testing.T) string { return patch(t, billingClient, billingClient+entry) }
	}
	addRule := func(fields string) func(t *testing.T) string {
		return func(t *testing.T) string {
			return patch(t, "    scopes: [ledger.write]\n", "    scopes: [ledger.write]\n"+fields)
		}
	}
	tests := []struct {
		name string
		doc  func(t *testing.T) string
		path string
	}{
		{name: "unknown auth method", path: "clients[2].auth", doc: addClient("  - id: x\n    auth: client_secret_jwt\n")},
		{name: "private_key_jwt without keys", path: "clients[2].jwks", doc: addClient("  - id: x\n    auth: private_key_jwt\n")},
		{name: "private_key_jwt with both jwks and jwks_uri", path: "clients[2].jwks",
			doc: addClient("  - id: x\n    auth: private_key_jwt\n    jwks_uri: https://x.example.com/jwks\n    jwks: {keys: [" + ecPublic + "]}\n")},
		{name: "private_key_jwt with a private key", path: "clients[2].jwks",
			doc: addClient("  - id: x\n    auth: private_key_jwt\n    jwks: {keys: [{kty: EC, crv: P-256, kid: k1, x: rwMuEL0Nlbt_hJrn7guS5cVcAcNqmm5C8JOTJ42CvS8, y: I7mCKNIsKY0rJedYXl_nx79LnRUcLNsVnDxO9RJS9F0, d: " + ecPrivateD + "}]}\n")},
		{name: "private_key_jwt with an http jwks_uri", path: "clients[2].jwks_uri", doc: addClient("  - id: x\n    auth: private_key_jwt\n    jwks_uri: http://x.example.com/jwks\n")},
		{name: "private_key_jwt with a secret", path: "clients[2].secret_sha256",
			doc: addClient("  - id: x\n    auth: private_key_jwt\n    jwks_uri: https://x.example.com/jwks\n    secret_sha256: \"" + digestA + "\"\n")},
		{name: "tls_client_auth without a certificate check", path: "clients[2].tls_client_auth_subject_dn", doc: addClient("  - id: x\n    auth: tls_client_auth\n")},
		{name: "tls_client_auth with both checks", path: "clients[2].tls_client_auth_subject_dn",
			doc: addClient("  - id: x\n    auth: tls_client_auth\n    tls_client_auth_subject_dn: CN=x\n    tls_client_auth_san_dns: x.example.com\n")},
		{name: "secret client with a jwks_uri", path: "clients[2].jwks_uri",
			doc: addClient("  - id: x\n    secret_sha256: \"" + digestA + "\"\n    jwks_uri: https://x.example.com/jwks\n")},
		{name: "negative rate", path: "clients[2].rate_limits.client.per_second",
			doc: addClient("  - id: x\n    secret_sha256: \"" + digestA + "\"\n    rate_limits: {client: {per_second: -1}}\n")},
		{name: "rate not a number", path: "rate_limits.subject.per_second",
			doc: func(t *testing.T) string {
				return patch(t, "keys: keys.json\n", "keys: keys.json\nrate_limits: {subject: {per_second: lots}}\n")
			}},
		{name: "delegation depth too large", path: "token.max_delegation_depth",
			doc: func(t *testing.T) string {
				return patch(t, "  max_lifetime: 15m\n", "  max_lifetime: 15m\n  max_delegation_depth: 1000\n")
			}},
		{name: "unknown delegation mode", path: "rules[2].delegation", doc: addRule("    delegation: sometimes\n")},
		{name: "delegation allowed without actor issuers", path: "rules[2].actor_issuers", doc: addRule("    delegation: allowed\n")},
		{name: "unknown actor issuer", path: "rules[2].actor_issuers[0]", doc: addRule("    delegation: required\n    actor_issuers: [nobody]\n")},
		{name: "actor issuers while delegation is forbidden", path: "rules[2].actor_issuers", doc: addRule("    actor_issuers: [corp]\n")},
		{name: "allow_self_delegation while delegation is forbidden", path: "rules[2].allow_self_delegation", doc: addRule("    allow_self_delegation: true\n")},
		{name: "actor_require that does not compile", path: "rules[2].actor_require", doc: addRule("    delegation: allowed\n    actor_issuers: [corp]\n    actor_require: 'actor.sub =='\n")},
		{name: "actor_require over an unknown variable", path: "rules[2].actor_require", doc: addRule("    delegation: allowed\n    actor_issuers: [corp]\n    actor_require: 'subject.sub == \"x\"'\n")},
		{name: "allow_unauthenticated with clients", path: "rules[2].clients", doc: addRule("    allow_unauthenticated: true\n")},
		{name: "allow_unauthenticated not a boolean", path: "rules[2].allow_unauthenticated", doc: addRule("    allow_unauthenticated: yes please\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.ParsePolicy([]byte(tc.doc(t)), "policy.yaml", config.Overrides{})
			fe := fileError(t, err)
			if p, ok := findProblem(fe, tc.path); !ok || p.Msg == "" {
				t.Fatalf("no problem at %q; problems at %q:\n%v", tc.path, paths(fe), err)
			}
		})
	}
}

// TestUnauthenticatedOnlyPolicy: a policy whose only rule serves
// unauthenticated callers needs no clients.
func TestUnauthenticatedOnlyPolicy(t *testing.T) {
	doc := `issuer: https://sts.example.com
issuers:
  - name: corp
    issuer_url: https://idp.example.com/
rules:
  - name: public
    allow_unauthenticated: true
    issuers: [corp]
    audience: https://api.example.com
    scopes: [read]
`
	if _, err := config.ParsePolicy([]byte(doc), "policy.yaml", config.Overrides{}); err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
}
