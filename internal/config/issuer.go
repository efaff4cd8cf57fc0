package config

import (
	"cmp"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/tokex/tokex/internal/condition"
)

// ClaimValidation is one entry of issuers[].validate: a CEL condition over the
// token's claims and the message a client gets when it is false (Kubernetes
// StructuredAuthenticationConfiguration's claimValidationRules).
type ClaimValidation struct {
	Expr    string `yaml:"expr"`
	Message string `yaml:"message"`
}

// TenantPlaceholder is the template variable of a multi-tenant issuer_url
// (https://login.microsoftonline.com/{tenantid}/v2.0). Its value must equal
// the token's tid claim.
const TenantPlaceholder = "{tenantid}"

// AnyTenant, as the only entry of tenants, accepts every tenant.
const AnyTenant = "*"

// MaxTenantLen bounds a tenant value (Entra tenant ids are 36-character GUIDs).
const MaxTenantLen = 64

// MaxJWKSFileBytes bounds a jwks_file, like an upstream JWKS response.
const MaxJWKSFileBytes = 1 << 20

// IsTemplate reports whether u holds the tenant placeholder.
func IsTemplate(u string) bool { return strings.Contains(u, TenantPlaceholder) }

// ExpandTemplate puts tenant in place of the placeholder of u.
func ExpandTemplate(u, tenant string) string {
	return strings.Replace(u, TenantPlaceholder, tenant, 1)
}

// CheckTenant says what is wrong with a tenant value, or "". Values are
// matched literally and become a path segment of a URL, so only RFC 3986
// unreserved characters are allowed, and never "." or "..".
func CheckTenant(v string) string {
	switch {
	case v == "":
		return "a tenant must not be empty"
	case len(v) > MaxTenantLen:
		return fmt.Sprintf("a tenant is at most %d characters", MaxTenantLen)
	case v == "." || v == "..":
		return fmt.Sprintf("%q is not a tenant: it is a relative path segment", v)
	case v == AnyTenant:
		return `"*" accepts every tenant only as the single entry tenants: ["*"]`
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~') {
			return fmt.Sprintf("%q: a tenant may hold only letters, digits, '-', '.', '_' and '~' (no '/', '*' or other wildcards: values are matched literally)", clipText(v))
		}
	}
	return ""
}

// checkTemplate checks where the placeholder sits in u: exactly once, as a
// whole path segment after the host, and no other braces.
func checkTemplate(u string) string {
	if strings.Count(u, TenantPlaceholder) != 1 {
		return fmt.Sprintf("%q: the placeholder %s may appear once", u, TenantPlaceholder)
	}
	rest := strings.Replace(u, TenantPlaceholder, "", 1)
	if strings.ContainsAny(rest, "{}") {
		return fmt.Sprintf("%q: the only template variable is %s", u, TenantPlaceholder)
	}
	i := strings.Index(u, TenantPlaceholder)
	before, after := u[:i], u[i+len(TenantPlaceholder):]
	scheme := strings.Index(before, "://")
	if scheme < 0 || !strings.Contains(before[scheme+3:], "/") || !strings.HasSuffix(before, "/") || (after != "" && after[0] != '/') {
		return fmt.Sprintf("%q: %s must be a whole path segment after the host (https://host/%s/...)", u, TenantPlaceholder, TenantPlaceholder)
	}
	return ""
}

// resolveIssuerFiles makes relative jwks_file and ca_file paths relative to
// the policy file, like keys.
func (p *Policy) resolveIssuerFiles() {
	if p.File == "" {
		return
	}
	dir := filepath.Dir(p.File)
	for i := range p.Issuers {
		is := &p.Issuers[i]
		for _, f := range []*string{&is.JWKSFile, &is.CAFile} {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(dir, *f)
			}
		}
	}
}

// validateFederation checks the keys of one issuer that federation added:
// templates, key sources, CEL rules and ID token audiences.
func validateFederation(ps *Problems, at string, is Issuer) {
	tmpl := IsTemplate(is.IssuerURL)
	if tmpl {
		if msg := checkTemplate(is.IssuerURL); msg != "" {
			ps.Add(at+".issuer_url", "%s", msg)
		}
		switch {
		case len(is.Tenants) == 0:
			ps.Add(at+".tenants", `required with %s in issuer_url: the accepted tenants, or ["*"] for any`, TenantPlaceholder)
		case slices.Contains(is.Tenants, AnyTenant) && len(is.Tenants) > 1:
			ps.Add(at+".tenants", `"*" accepts every tenant and must be the only entry`)
		case len(is.Tenants) == 1 && is.Tenants[0] == AnyTenant:
		default:
			seen := map[string]bool{}
			for j, t := range is.Tenants {
				path := fmt.Sprintf("%s.tenants[%d]", at, j)
				if msg := CheckTenant(t); msg != "" {
					ps.Add(path, "%s", msg)
				} else if seen[t] {
					ps.Add(path, "%q is listed twice", t)
				}
				seen[t] = true
			}
		}
	} else if len(is.Tenants) > 0 {
		ps.Add(at+".tenants", "only for an issuer_url with %s", TenantPlaceholder)
	}
	if IsTemplate(is.JWKSURI) {
		if !tmpl {
			ps.Add(at+".jwks_uri", "%s in jwks_uri needs it in issuer_url too", TenantPlaceholder)
		} else if msg := checkTemplate(is.JWKSURI); msg != "" {
			ps.Add(at+".jwks_uri", "%s", msg)
		}
	}

	local := is.JWKS != nil
	if is.JWKSFile != "" {
		if local || is.JWKSURI != "" {
			ps.Add(at+".jwks_file", "give one of jwks_uri, jwks and jwks_file")
		}
		local = true
		if msg := checkJWKSFile(is.JWKSFile); msg != "" {
			ps.Add(at+".jwks_file", "%s", msg)
		}
	}
	if is.CAFile != "" {
		if local {
			ps.Add(at+".ca_file", "the issuer's keys are configured locally; ca_file is only for fetching them over https")
		} else if _, msg := ReadCAFile(is.CAFile); msg != "" {
			ps.Add(at+".ca_file", "%s", msg)
		}
	}

	var env celEnv
	for j, v := range is.Validations {
		path := fmt.Sprintf("%s.validate[%d]", at, j)
		if strings.TrimSpace(v.Expr) == "" {
			ps.Add(path+".expr", "required: a CEL condition over claims")
		} else if e := env.get(); e != nil {
			if _, err := condition.Compile(e, v.Expr); err != nil {
				ps.Add(path+".expr", "%v", err)
			}
		}
		switch {
		case strings.TrimSpace(v.Message) == "":
			ps.Add(path+".message", "required: what the client is told when the condition is false")
		case len(v.Message) > 256 || strings.ContainsFunc(v.Message, func(r rune) bool { return r < ' ' || r == 0x7f }):
			ps.Add(path+".message", "must be one line of at most 256 characters")
		}
	}
	if env.err != nil {
		ps.Add(at+".validate", "cannot check conditions: %v", env.err)
	}
	if strings.TrimSpace(is.Subject) != "" {
		if e := env.get(); e != nil {
			if _, err := condition.CompileString(e, is.Subject); err != nil {
				ps.Add(at+".subject", "%v", err)
			}
		}
	}
	if is.SubjectPrefix != "" && (len(is.SubjectPrefix) > 64 || strings.ContainsFunc(is.SubjectPrefix, isSpaceOrControl)) {
		ps.Add(at+".subject_prefix", "must be at most 64 characters without spaces")
	}

	if is.AudienceClaim != "" && is.AudienceClaim != "aud" && is.AudienceClaim != "client_id" {
		ps.Add(at+".audience_claim", "%q: use aud (the default) or client_id (for access tokens without aud, such as AWS Cognito's)", is.AudienceClaim)
	}
	idTokens := slices.Contains(is.TokenTypes, TokenTypeIDToken)
	switch {
	case idTokens && len(is.IDTokenAudiences) == 0:
		ps.Add(at+".id_token_audiences", "required when token_types lists id_token: the client ids whose ID tokens tokex accepts (an ID token's aud is the client it was issued to)")
	case !idTokens && len(is.IDTokenAudiences) > 0:
		ps.Add(at+".id_token_audiences", "has no effect: token_types does not list id_token")
	}
	for j, a := range is.IDTokenAudiences {
		if a == "" || strings.ContainsFunc(a, isSpaceOrControl) {
			ps.Add(fmt.Sprintf("%s.id_token_audiences[%d]", at, j), "must be a non-empty client id without spaces")
		}
	}
}

// validateAcrossIssuers checks what involves several issuers: listed tenants
// whose iss is also another issuer's exact issuer_url, and issuers that can
// mint the same sub into one audience (unless allow_subject_overlap is set).
func (p *Policy) validateAcrossIssuers(ps *Problems) {
	exact := map[string]string{}
	for _, is := range p.Issuers {
		if !IsTemplate(is.IssuerURL) {
			exact[is.IssuerURL] = is.Name
		}
	}
	for i, is := range p.Issuers {
		at := fmt.Sprintf("issuers[%d]", i)
		if IsTemplate(is.IssuerURL) {
			for j, t := range is.Tenants {
				if other, ok := exact[ExpandTemplate(is.IssuerURL, t)]; ok && t != AnyTenant {
					ps.Add(fmt.Sprintf("%s.tenants[%d]", at, j), "tenant %q gives iss %q, the issuer_url of issuer %q: tokens are routed by exact iss", t, ExpandTemplate(is.IssuerURL, t), other)
				}
			}
		}
	}
	if !p.AllowSubjectOverlap {
		for _, o := range p.SubjectOverlaps() {
			ps.Add(o.Path(), "%s, or set allow_subject_overlap: true to accept the overlap", o.Message(p))
		}
	}
}

// SubjectOverlap is a pair of issuers whose minted sub can be equal in one
// audience: a downstream API would take one issuer's user for the other's
// (RFC 9068 §2.2: sub identifies the subject within the audience).
type SubjectOverlap struct {
	A, B     int    // issuer indices, A < B
	Audience string // the first audience that rules give both
}

// Path is where the overlap is reported: the later issuer's subject_prefix.
func (o SubjectOverlap) Path() string { return fmt.Sprintf("issuers[%d].subject_prefix", o.B) }

// Message says which issuers collide, where, and what to do.
func (o SubjectOverlap) Message(p *Policy) string {
	a, b := p.Issuers[o.A], p.Issuers[o.B]
	return fmt.Sprintf("issuers %q (issuers[%d].subject_prefix %q) and %q (issuers[%d].subject_prefix %q) can mint the same sub for audience %q: give each issuer a distinct subject_prefix that is not a prefix of another's (such as %q and %q)",
		a.Name, o.A, a.SubjectPrefix, b.Name, o.B, b.SubjectPrefix, o.Audience, a.Name+":", b.Name+":")
}

// SubjectOverlaps lists the pairs of issuers that rules let mint tokens for
// the same audience and whose subjects can be equal there: minted subjects
// are subject_prefix + a non-empty string (whatever the subject expression),
// so two issuers' are disjoint only when both prefixes are non-empty and
// neither is a prefix of the other. One issuer named by several rules, or a
// template's tenants (one issuer, one subject namespace), is no overlap.
// Each pair is reported once, with the first audience it shares.
func (p *Policy) SubjectOverlaps() []SubjectOverlap {
	index := make(map[string]int, len(p.Issuers))
	for i, is := range p.Issuers {
		if _, dup := index[is.Name]; !dup {
			index[is.Name] = i
		}
	}
	var audiences []string
	reach := map[string][]int{} // audience -> issuers, each once, in order of appearance
	for _, r := range p.Rules {
		for _, aud := range r.Targets() {
			for _, name := range r.Issuers {
				i, ok := index[name]
				if !ok || slices.Contains(reach[aud], i) {
					continue
				}
				if reach[aud] == nil {
					audiences = append(audiences, aud)
				}
				reach[aud] = append(reach[aud], i)
			}
		}
	}
	var out []SubjectOverlap
	seen := map[[2]int]bool{}
	for _, aud := range audiences {
		for x, i := range reach[aud] {
			for _, j := range reach[aud][x+1:] {
				a, b := min(i, j), max(i, j)
				if seen[[2]int{a, b}] || disjointPrefixes(p.Issuers[a].SubjectPrefix, p.Issuers[b].SubjectPrefix) {
					continue
				}
				seen[[2]int{a, b}] = true
				out = append(out, SubjectOverlap{A: a, B: b, Audience: aud})
			}
		}
	}
	slices.SortStableFunc(out, func(x, y SubjectOverlap) int { return cmp.Or(cmp.Compare(x.B, y.B), cmp.Compare(x.A, y.A)) })
	return out
}

// disjointPrefixes: no string starts with both a and b.
func disjointPrefixes(a, b string) bool {
	return a != "" && b != "" && !strings.HasPrefix(a, b) && !strings.HasPrefix(b, a)
}

// celEnv builds the CEL environment once, on first use.
type celEnv struct {
	env  *cel.Env
	err  error
	done bool
}

func (c *celEnv) get() *cel.Env {
	if !c.done {
		c.done = true
		c.env, c.err = condition.NewEnv()
	}
	return c.env
}

func checkJWKSFile(path string) string {
	raw, err := ReadJWKSFile(path)
	if err != nil {
		return err.Error()
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Sprintf("%s is not JSON: %v", path, err)
	}
	if msg := checkInlineJWKS(doc); msg != "" {
		return path + ": " + msg
	}
	return ""
}

// ReadJWKSFile reads a jwks_file, bounded in size.
func ReadJWKSFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxJWKSFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if len(raw) > MaxJWKSFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxJWKSFileBytes)
	}
	return raw, nil
}

// ReadCAFile reads a PEM bundle of CA certificates; msg says what is wrong.
func ReadCAFile(path string) (pool *x509.CertPool, msg string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Sprintf("cannot read: %v", err)
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Sprintf("%s holds no PEM certificate", path)
	}
	return pool, ""
}

func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
