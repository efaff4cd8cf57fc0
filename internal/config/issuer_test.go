package config_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tokex/tokex/internal/config"
)

const corpIssuer = "    issuer_url: https://idp.example.com/\n    jwks_uri: https://idp.example.com/jwks\n"

// withCorp replaces the corp issuer's issuer_url, jwks_uri and subject_prefix
// lines; corp keeps its prefix unless lines give one.
func withCorp(t *testing.T, lines string) string {
	t.Helper()
	if !strings.Contains(lines, "subject_prefix:") {
		lines += "    subject_prefix: \"corp:\"\n"
	}
	return patch(t, corpIssuer+"    subject_prefix: \"corp:\"\n", lines)
}

const entraTemplate = "    issuer_url: https://login.microsoftonline.com/{tenantid}/v2.0\n"

// TestFederationKeysGood: every federation key in a valid combination.
func TestFederationKeysGood(t *testing.T) {
	dir := t.TempDir()
	jwks := writeFile(t, dir, "cluster-jwks.json", `{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"rwMuEL0Nlbt_hJrn7guS5cVcAcNqmm5C8JOTJ42CvS8","y":"I7mCKNIsKY0rJedYXl_nx79LnRUcLNsVnDxO9RJS9F0"}]}`)
	tests := []struct {
		name  string
		corp  string
		check func(t *testing.T, is config.Issuer)
	}{
		{name: "template with listed tenants and per-tenant jwks_uri", corp: entraTemplate +
			"    jwks_uri: https://login.microsoftonline.com/{tenantid}/discovery/v2.0/keys\n    tenants: [72f988bf-86f1-41af-91ab-2d7cd011db47, contoso.onmicrosoft.com]\n"},
		{name: "template with any tenant, keys by discovery", corp: entraTemplate + "    tenants: [\"*\"]\n"},
		{name: "jwks_file relative to the policy file", corp: "    issuer_url: https://kubernetes.default.svc\n    jwks_file: cluster-jwks.json\n",
			check: func(t *testing.T, is config.Issuer) {
				if is.JWKSFile != jwks {
					t.Errorf("jwks_file = %q, want %q", is.JWKSFile, jwks)
				}
			}},
		{name: "validate, subject, subject_prefix, id tokens", corp: corpIssuer +
			"    validate:\n      - expr: 'claims.ver == \"2.0\"'\n        message: send a v2.0 token\n" +
			"    subject: claims.oid\n    subject_prefix: \"entra:\"\n    token_types: [access_token, id_token]\n    id_token_audiences: [web-app]\n",
			check: func(t *testing.T, is config.Issuer) {
				if len(is.Validations) != 1 || is.Validations[0].Message != "send a v2.0 token" || is.Subject != "claims.oid" || is.SubjectPrefix != "entra:" || is.IDTokenAudiences[0] != "web-app" {
					t.Errorf("issuer = %+v", is)
				}
			}},
		{name: "audience_claim client_id", corp: corpIssuer + "    audience_claim: client_id\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := config.ParsePolicy([]byte(withCorp(t, tc.corp)), filepath.Join(dir, "policy.yaml"), config.Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, p.Issuers[0])
			}
		})
	}
}

// TestFederationKeysBad: each mistake is reported at its key path.
func TestFederationKeysBad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "private-jwks.json", `{"keys":[{kty: EC}]}`)
	writeFile(t, dir, "not-pem.crt", "hello")
	tests := []struct {
		name, corp, path string
	}{
		{name: "template without tenants", corp: entraTemplate, path: "issuers[0].tenants"},
		{name: "tenants without a template", corp: corpIssuer + "    tenants: [t1]\n", path: "issuers[0].tenants"},
		{name: "tenant with a slash", corp: entraTemplate + "    tenants: [t1/x]\n", path: "issuers[0].tenants[0]"},
		{name: "tenant dot-dot", corp: entraTemplate + "    tenants: [\"..\"]\n", path: "issuers[0].tenants[0]"},
		{name: "tenant dot", corp: entraTemplate + "    tenants: [\".\"]\n", path: "issuers[0].tenants[0]"},
		{name: "empty tenant", corp: entraTemplate + "    tenants: [\"\"]\n", path: "issuers[0].tenants[0]"},
		{name: "wildcard inside a tenant", corp: entraTemplate + "    tenants: [\"t*\"]\n", path: "issuers[0].tenants[0]"},
		{name: "regular expression as a tenant", corp: entraTemplate + "    tenants: [\"t[0-9]+\"]\n", path: "issuers[0].tenants[0]"},
		{name: "percent-encoded tenant", corp: entraTemplate + "    tenants: [\"t%2F1\"]\n", path: "issuers[0].tenants[0]"},
		{name: "star beside other tenants", corp: entraTemplate + "    tenants: [\"*\", t1]\n", path: "issuers[0].tenants"},
		{name: "tenant listed twice", corp: entraTemplate + "    tenants: [t1, t1]\n", path: "issuers[0].tenants[1]"},
		{name: "placeholder twice", corp: "    issuer_url: https://idp.example.com/{tenantid}/{tenantid}\n    tenants: [t1]\n", path: "issuers[0].issuer_url"},
		{name: "placeholder in the host", corp: "    issuer_url: https://{tenantid}.example.com/\n    tenants: [t1]\n", path: "issuers[0].issuer_url"},
		{name: "placeholder inside a segment", corp: "    issuer_url: https://idp.example.com/t-{tenantid}/v2.0\n    tenants: [t1]\n", path: "issuers[0].issuer_url"},
		{name: "another template variable", corp: "    issuer_url: https://idp.example.com/{tenantid}/{region}\n    tenants: [t1]\n", path: "issuers[0].issuer_url"},
		{name: "placeholder in jwks_uri only", corp: "    issuer_url: https://idp.example.com/\n    jwks_uri: https://idp.example.com/{tenantid}/jwks\n", path: "issuers[0].jwks_uri"},
		{name: "jwks_file and jwks_uri", corp: corpIssuer + "    jwks_file: x.json\n", path: "issuers[0].jwks_file"},
		{name: "jwks_file missing", corp: "    issuer_url: https://idp.example.com/\n    jwks_file: missing.json\n", path: "issuers[0].jwks_file"},
		{name: "jwks_file not a JWK Set", corp: "    issuer_url: https://idp.example.com/\n    jwks_file: private-jwks.json\n", path: "issuers[0].jwks_file"},
		{name: "ca_file not PEM", corp: corpIssuer + "    ca_file: not-pem.crt\n", path: "issuers[0].ca_file"},
		{name: "ca_file with local keys", corp: "    issuer_url: https://idp.example.com/\n    jwks: {keys: [" + ecPublic + "]}\n    ca_file: not-pem.crt\n", path: "issuers[0].ca_file"},
		{name: "validate rule that is not CEL", corp: corpIssuer + "    validate:\n      - expr: 'claims.('\n        message: m\n", path: "issuers[0].validate[0].expr"},
		{name: "validate rule that is not boolean", corp: corpIssuer + "    validate:\n      - expr: '\"x\"'\n        message: m\n", path: "issuers[0].validate[0].expr"},
		{name: "validate rule without message", corp: corpIssuer + "    validate:\n      - expr: 'true'\n", path: "issuers[0].validate[0].message"},
		{name: "validate rule without expr", corp: corpIssuer + "    validate:\n      - message: m\n", path: "issuers[0].validate[0].expr"},
		{name: "subject that is not a string", corp: corpIssuer + "    subject: 'claims.sub == \"x\"'\n", path: "issuers[0].subject"},
		{name: "subject that is not CEL", corp: corpIssuer + "    subject: 'claims.'\n", path: "issuers[0].subject"},
		{name: "subject_prefix with a space", corp: corpIssuer + "    subject_prefix: \"a b\"\n", path: "issuers[0].subject_prefix"},
		{name: "id_token without id_token_audiences", corp: corpIssuer + "    token_types: [id_token]\n", path: "issuers[0].id_token_audiences"},
		{name: "id_token_audiences without id_token", corp: corpIssuer + "    id_token_audiences: [web]\n", path: "issuers[0].id_token_audiences"},
		{name: "unknown audience_claim", corp: corpIssuer + "    audience_claim: azp\n", path: "issuers[0].audience_claim"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := withCorp(t, tc.corp)
			_, err := config.ParsePolicy([]byte(doc), filepath.Join(dir, "policy.yaml"), config.Overrides{})
			fe := fileError(t, err)
			if _, ok := findProblem(fe, tc.path); !ok {
				t.Fatalf("no problem at %q; problems at %q:\n%v", tc.path, paths(fe), err)
			}
		})
	}
}

// TestSubjectOverlaps (issue 12): two issuers that rules let mint tokens for
// one audience must not be able to mint the same sub there. corp and partner
// of the base policy both reach https://shipping.example.com.
func TestSubjectOverlaps(t *testing.T) {
	const corpPrefix, partnerPrefix = "    subject_prefix: \"corp:\"\n", "    subject_prefix: \"partner:\"\n"
	tests := []struct {
		name  string
		patch []string // old, new pairs applied to the base policy
		want  []config.SubjectOverlap
	}{
		{name: "distinct prefixes"},
		{name: "no prefix and p2: (sub \"p2:alice\" of one is \"alice\" of the other)",
			patch: []string{corpPrefix, "", partnerPrefix, "    subject_prefix: \"p2:\"\n"},
			want:  []config.SubjectOverlap{{A: 0, B: 1, Audience: "https://shipping.example.com"}}},
		{name: "no prefixes", patch: []string{corpPrefix, "", partnerPrefix, ""},
			want: []config.SubjectOverlap{{A: 0, B: 1, Audience: "https://shipping.example.com"}}},
		{name: "one prefix starts the other", patch: []string{corpPrefix, "    subject_prefix: \"corp\"\n", partnerPrefix, "    subject_prefix: \"corp:partner\"\n"},
			want: []config.SubjectOverlap{{A: 0, B: 1, Audience: "https://shipping.example.com"}}},
		{name: "same prefix", patch: []string{partnerPrefix, corpPrefix},
			want: []config.SubjectOverlap{{A: 0, B: 1, Audience: "https://shipping.example.com"}}},
		{name: "no prefixes, no shared audience", patch: []string{corpPrefix, "", partnerPrefix, "", "issuers: [corp, partner]", "issuers: [corp]"}},
		{name: "one issuer named by two rules for one audience", patch: []string{corpPrefix, "", partnerPrefix, "", "issuers: [corp, partner]", "issuers: [corp]",
			"audience: https://inventory.example.com", "audience: https://shipping.example.com"}},
		{name: "shared audience through two rules", patch: []string{corpPrefix, "", partnerPrefix, "", "issuers: [corp, partner]", "issuers: [corp]",
			"audience: https://ledger.example.com", "audience: https://inventory.example.com"},
			want: []config.SubjectOverlap{{A: 0, B: 1, Audience: "https://inventory.example.com"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := patch(t, tc.patch...)
			_, err := config.ParsePolicy([]byte(doc), "policy.yaml", config.Overrides{})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			fe := fileError(t, err)
			if _, ok := findProblem(fe, "issuers[1].subject_prefix"); !ok || len(fe.Problems) != 1 {
				t.Fatalf("problems at %q, want issuers[1].subject_prefix alone:\n%v", paths(fe), err)
			}
			// Allowed, the same overlap is still found (policy.Compile warns of it).
			p, err := config.ParsePolicy([]byte(doc+"allow_subject_overlap: true\n"), "policy.yaml", config.Overrides{})
			if err != nil {
				t.Fatalf("allow_subject_overlap: %v", err)
			}
			if got := p.SubjectOverlaps(); !slices.Equal(got, tc.want) {
				t.Errorf("overlaps %+v, want %+v", got, tc.want)
			}
		})
	}
}

func replaceOnce(t *testing.T, doc, old, new string) string {
	t.Helper()
	if !strings.Contains(doc, old) {
		t.Fatalf("%q not in the document", old)
	}
	return strings.Replace(doc, old, new, 1)
}

// TestTemplateTenantCollidesWithExactIssuer: a listed tenant must not give the
// exact issuer_url of another issuer.
func TestTemplateTenantCollidesWithExactIssuer(t *testing.T) {
	doc := withCorp(t, "    issuer_url: https://partner.example.com/{tenantid}\n    tenants: [t1]\n")
	doc = replaceOnce(t, doc, "    issuer_url: https://partner.example.com\n", "    issuer_url: https://partner.example.com/t1\n")
	_, err := config.ParsePolicy([]byte(doc), "policy.yaml", config.Overrides{})
	if _, ok := findProblem(fileError(t, err), "issuers[0].tenants[0]"); !ok {
		t.Fatalf("collision not reported: %v", err)
	}
}

func TestCheckTenant(t *testing.T) {
	for _, v := range []string{"72f988bf-86f1-41af-91ab-2d7cd011db47", "contoso.onmicrosoft.com", "t_1~x"} {
		if msg := config.CheckTenant(v); msg != "" {
			t.Errorf("CheckTenant(%q) = %q, want ok", v, msg)
		}
	}
	for _, v := range []string{"", ".", "..", "*", "a/b", "a\\b", "a b", "a%2Fb", "a?b", "a#b", "{tenantid}", "ä", string(make([]byte, 65))} {
		if msg := config.CheckTenant(v); msg == "" {
			t.Errorf("CheckTenant(%q) accepted", v)
		}
	}
}
