package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tokex/tokex/internal/config"
)

const profileBase = `issuer: https://sts.example.com
issuers:
  - name: corp
    issuer_url: https://idp.example.com
    jwks_uri: https://idp.example.com/jwks
    token_types: [access_token, id_token]
    id_token_audiences: [chat]
  - name: k8s
    issuer_url: https://k8s.example.com
    jwks_uri: https://k8s.example.com/jwks
clients:
  - {id: chat, secret_sha256: "0b8d3f7c6e0a5f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b"}
rules:
  - name: txn
    profile: txn_token
    clients: [chat]
    issuers: [corp]
    trust_domain: https://trust.example.com
    scopes: [checkout]
    tctx: {tier: claims.tier}
  - name: xaa
    profile: id_jag
    clients: [chat]
    issuers: [corp]
    authorization_servers:
      - {issuer: "https://as.wiki.example", client_id: chat-at-wiki, scopes: [wiki.read], resources: ["https://api.wiki.example/v1?x=1"]}
  - name: api
    clients: [chat]
    issuers: [corp]
    audience: https://api.example.com
    scopes: [read]
`

// TestProfileRules: `tokex policy check` refuses a profile rule missing what
// it needs, or carrying what its profile cannot use, at the key's path.
func TestProfileRules(t *testing.T) {
	if _, err := config.ParsePolicy([]byte(profileBase), "policy.yaml", config.Overrides{}); err != nil {
		t.Fatalf("the base policy: %v", err)
	}
	tests := []struct {
		name, old, new string
		path, msg      string
	}{
		{"unknown profile", "    profile: txn_token\n", "    profile: refresh\n", "rules[0].profile", "use one of"},
		{"txn_token without trust_domain", "    trust_domain: https://trust.example.com\n", "", "rules[0].trust_domain", "required"},
		{"txn_token with audience", "    trust_domain: https://trust.example.com\n", "    trust_domain: https://trust.example.com\n    audience: https://x.example.com\n", "rules[0].audience", "trust_domain"},
		{"txn_token without scopes", "    scopes: [checkout]\n", "", "rules[0].scopes", "purposes"},
		{"txn_token sender-constrained", "    scopes: [checkout]\n", "    scopes: [checkout]\n    sender_constraint: dpop\n", "rules[0].sender_constraint", "not sender-constrained"},
		{"txn_token living 10m", "    scopes: [checkout]\n", "    scopes: [checkout]\n    lifetime: 10m\n", "rules[0].lifetime", "one call chain"},
		{"txn_token replaced too often", "    scopes: [checkout]\n", "    scopes: [checkout]\n    max_replacements: 17\n", "rules[0].max_replacements", "between 0 and 16"},
		{"txn_token with a bad tctx expression", "tctx: {tier: claims.tier}", "tctx: {tier: 'claims.tier +'}", "rules[0].tctx.tier", "CEL"},
		{"txn_token tctx reading an unknown variable", "tctx: {tier: claims.tier}", "tctx: {tier: actor.tier}", "rules[0].tctx.tier", "actor"},
		{"txn_token with delegation", "    scopes: [checkout]\n", "    scopes: [checkout]\n    delegation: allowed\n    actor_issuers: [corp]\n", "rules[0].delegation", "actor token"},
		{"txn_token with claims", "    scopes: [checkout]\n", "    scopes: [checkout]\n    claims: {email: claims.email}\n", "rules[0].claims", "tctx"},
		{"txn_token unauthenticated", "    clients: [chat]\n    issuers: [corp]\n    trust_domain", "    allow_unauthenticated: true\n    issuers: [corp]\n    trust_domain", "rules[0].allow_unauthenticated", "authenticated"},
		{"id_jag without authorization_servers", "    authorization_servers:\n      - {issuer: \"https://as.wiki.example\", client_id: chat-at-wiki, scopes: [wiki.read], resources: [\"https://api.wiki.example/v1?x=1\"]}\n", "", "rules[1].authorization_servers", "at least one"},
		{"id_jag with audience", "    profile: id_jag\n", "    profile: id_jag\n    audience: https://as.wiki.example\n", "rules[1].audience", "authorization_servers"},
		{"id_jag with rule scopes", "    profile: id_jag\n", "    profile: id_jag\n    scopes: [a]\n", "rules[1].scopes", "each of its authorization_servers"},
		{"id_jag server without client_id", "client_id: chat-at-wiki, ", "", "rules[1].authorization_servers[0].client_id", "required"},
		{"id_jag server without scopes", "scopes: [wiki.read], ", "", "rules[1].authorization_servers[0].scopes", "at least one"},
		{"id_jag server not a URL", `issuer: "https://as.wiki.example"`, `issuer: "as.wiki"`, "rules[1].authorization_servers[0].issuer", "URL"},
		{"id_jag resource with a fragment", "https://api.wiki.example/v1?x=1", "https://api.wiki.example/#x", "rules[1].authorization_servers[0].resources[0]", "fragment"},
		{"id_jag from an issuer without ID tokens", "    profile: id_jag\n    clients: [chat]\n    issuers: [corp]\n", "    profile: id_jag\n    clients: [chat]\n    issuers: [k8s]\n", "rules[1].issuers[0]", "id_token"},
		{"trust_domain on an access-token rule", "    audience: https://api.example.com\n", "    audience: https://api.example.com\n    trust_domain: https://t.example.com\n", "rules[2].trust_domain", "txn_token"},
		{"authorization_servers on a txn_token rule", "    tctx: {tier: claims.tier}\n", "    tctx: {tier: claims.tier}\n    authorization_servers: [{issuer: \"https://as.example.com\", client_id: c, scopes: [a]}]\n", "rules[0].authorization_servers", "id_jag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(profileBase, tc.old, tc.new, 1)
			if doc == profileBase {
				t.Fatalf("%q not in the base policy", tc.old)
			}
			_, err := config.ParsePolicy([]byte(doc), "policy.yaml", config.Overrides{})
			var fe *config.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("ParsePolicy = %v, want a FileError", err)
			}
			p, ok := findProblem(fe, tc.path)
			if !ok {
				t.Fatalf("no problem at %q; problems at %q:\n%v", tc.path, paths(fe), err)
			}
			if !strings.Contains(p.Msg, tc.msg) {
				t.Errorf("problem at %s = %q, want it to say %q", tc.path, p.Msg, tc.msg)
			}
		})
	}
}
