package config

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"github.com/MicahParks/jwkset"

	"github.com/tokex/tokex/internal/condition"
	"github.com/tokex/tokex/internal/scope"
)

// Defaults of SPEC §3.
const (
	DefaultLifetime    = 5 * time.Minute
	DefaultMaxLifetime = 15 * time.Minute
	DefaultLeeway      = 30 * time.Second
	MaxLeeway          = 5 * time.Minute
	// MaxLifetimeCap bounds token.max_lifetime: tokex mints short-lived tokens.
	MaxLifetimeCap = 24 * time.Hour
)

// Short names of subject token types accepted in issuers[].token_types.
const (
	TokenTypeAccessToken = "access_token"
	TokenTypeJWT         = "jwt"
	TokenTypeIDToken     = "id_token"
)

// SupportedAlgorithms are the asymmetric JWS algorithms an upstream issuer may use.
var SupportedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// AlgClass is a kind of JWS algorithm tokex never accepts, whatever a policy
// says (RFC 8725 §3.1, §3.2); each refusal names it in its own words.
type AlgClass int

const (
	AlgOther    AlgClass = iota // not one of the classes below
	AlgUnsigned                 // "none": an unsigned token
	AlgHMAC                     // HS256 and the like: a shared secret, not a key pair
)

// ClassifyAlg says whether alg is one of the algorithms never accepted.
func ClassifyAlg(alg string) AlgClass {
	switch {
	case strings.EqualFold(alg, "none"):
		return AlgUnsigned
	case strings.HasPrefix(strings.ToUpper(alg), "HS"):
		return AlgHMAC
	}
	return AlgOther
}

var (
	nameRe      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	sha256HexRe = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// resolveKeys makes the file's own relative keys path relative to the policy
// file, as operators expect. It runs before Overrides are applied: TOKEX_KEYS and
// --keys are process settings, relative to the working directory like any other.
func (p *Policy) resolveKeys() {
	if p.Keys != "" && p.File != "" && !filepath.IsAbs(p.Keys) && !strings.HasPrefix(p.Keys, "env:") {
		p.Keys = filepath.Join(filepath.Dir(p.File), p.Keys)
	}
}

func (p *Policy) applyDefaults() {
	if p.Token.DefaultLifetime == 0 {
		p.Token.DefaultLifetime = Duration(DefaultLifetime)
	}
	if p.Token.MaxLifetime == 0 {
		p.Token.MaxLifetime = Duration(DefaultMaxLifetime)
	}
	for i := range p.Issuers {
		is := &p.Issuers[i]
		if len(is.Audiences) == 0 && p.Issuer != "" {
			is.Audiences = []string{p.Issuer}
		}
		if len(is.Algorithms) == 0 {
			is.Algorithms = []string{"RS256", "ES256"}
		}
		if len(is.TokenTypes) == 0 {
			is.TokenTypes = []string{TokenTypeAccessToken, TokenTypeJWT}
		}
		if is.Leeway == nil {
			d := Duration(DefaultLeeway)
			is.Leeway = &d
		}
	}
}

// Validate checks the policy and reports every problem with its key path.
func (p *Policy) Validate() error {
	ps := NewProblems(p.Lines)
	if p.Issuer == "" {
		ps.Add("issuer", "required: the iss of every minted token (or set TOKEX_ISSUER)")
	} else if msg := checkURL(p.Issuer); msg != "" {
		ps.Add("issuer", "%s", msg)
	} else if strings.HasSuffix(p.Issuer, "/") {
		ps.Add("issuer", "%q must not end with '/': metadata URLs are built by appending to it (RFC 8414 §3.1) and validators compare iss byte for byte", p.Issuer)
	}
	d, m := p.Token.DefaultLifetime.D(), p.Token.MaxLifetime.D()
	if d < time.Second {
		ps.Add("token.default_lifetime", "must be at least 1s")
	}
	if m > MaxLifetimeCap {
		ps.Add("token.max_lifetime", "%s is longer than %s: tokex mints short-lived tokens", m, MaxLifetimeCap)
	}
	if d > m {
		ps.Add("token.default_lifetime", "%s is longer than token.max_lifetime (%s)", d, m)
	}

	issuers := map[string]bool{}
	urls := map[string]string{}
	if len(p.Issuers) == 0 {
		ps.Add("issuers", "at least one trusted issuer is required")
	}
	for i, is := range p.Issuers {
		at := fmt.Sprintf("issuers[%d]", i)
		p.validateIssuer(ps, at, is)
		if is.Name != "" {
			if issuers[is.Name] {
				ps.Add(at+".name", "%q is used by another issuer", is.Name)
			}
			issuers[is.Name] = true
		}
		if is.IssuerURL != "" {
			if other, ok := urls[is.IssuerURL]; ok {
				ps.Add(at+".issuer_url", "%q is already the issuer_url of %q: tokens are routed by exact iss", is.IssuerURL, other)
			}
			urls[is.IssuerURL] = is.Name
		}
	}

	p.validateAcrossIssuers(ps)

	clients := map[string]bool{}
	if len(p.Clients) == 0 && !anyUnauthenticated(p.Rules) {
		ps.Add("clients", "at least one client is required")
	}
	p.validateDelegationDepth(ps)
	p.validateBinding(ps)
	validateRateLimits(ps, "rate_limits", p.RateLimits)
	for i, c := range p.Clients {
		at := fmt.Sprintf("clients[%d]", i)
		switch {
		case c.ID == "":
			ps.Add(at+".id", "required")
		case strings.ContainsFunc(c.ID, isSpaceOrControl):
			ps.Add(at+".id", "must not contain spaces or control characters")
		case clients[c.ID]:
			ps.Add(at+".id", "%q is used by another client", c.ID)
		}
		clients[c.ID] = true
		validateClientAuth(ps, at, c)
	}

	rules := map[string]bool{}
	mapEnv := &lazyEnv{}
	txnEnv := &lazyEnv{newEnv: condition.NewTxnEnv}
	var celEnv *cel.Env
	var celErr error
	if len(p.Rules) == 0 {
		ps.Add("rules", "at least one rule is required")
	}
	for i, r := range p.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.Name == "":
			ps.Add(at+".name", "required")
		case !nameRe.MatchString(r.Name):
			ps.Add(at+".name", "%q: use letters, digits, '-', '_' and '.'", r.Name)
		case rules[r.Name]:
			ps.Add(at+".name", "%q is used by another rule", r.Name)
		}
		rules[r.Name] = true
		validateRuleClients(ps, at, r, clients)
		checkRefs(ps, at+".issuers", "issuer", r.Issuers, issuers)
		validateDelegation(ps, at, r, issuers)
		if strings.TrimSpace(r.ActorRequire) != "" {
			if _, err := condition.CompileActor(r.ActorRequire); err != nil {
				ps.Add(at+".actor_require", "%v", err)
			}
		}
		p.validateProfile(ps, at, r, txnEnv)
		if r.ProfileName() == ProfileAccessToken {
			checkTarget(ps, at, "audience", r.Audience, r.Scopes, "the downstream API the minted token is for", "the most the minted token may carry")
		}
		seen := map[string]bool{}
		for j, s := range r.Scopes {
			if !scope.Valid(s) { // the request's reader: a rule scope a client could not ask for is a mistake
				ps.Add(fmt.Sprintf("%s.scopes[%d]", at, j), "%q is not a scope token (RFC 6749 §3.3)", s)
			} else if seen[s] {
				ps.Add(fmt.Sprintf("%s.scopes[%d]", at, j), "%q is listed twice", s)
			}
			seen[s] = true
		}
		if strings.TrimSpace(r.Require) != "" && r.Profile == ProfileTxnToken {
			// A Txn-Token rule's condition also reads the request's context.
			checkCEL(ps, at+".require", r.Require, txnEnv, condition.Compile)
		} else if strings.TrimSpace(r.Require) != "" {
			if celEnv == nil {
				if celEnv, celErr = condition.NewEnv(); celErr != nil {
					ps.Add(at+".require", "cannot check conditions: %v", celErr)
				}
			}
			if celEnv != nil {
				if _, err := condition.Compile(celEnv, r.Require); err != nil {
					ps.Add(at+".require", "%v", err)
				}
			}
		}
		validateMapping(ps, at, r, mapEnv)
		if r.Lifetime != nil {
			switch l := r.Lifetime.D(); {
			case l < time.Second:
				ps.Add(at+".lifetime", "must be at least 1s")
			case l > m:
				ps.Add(at+".lifetime", "%s is longer than token.max_lifetime (%s)", l, m)
			}
		}
	}
	return ps.Err(p.File)
}

func (p *Policy) validateIssuer(ps *Problems, at string, is Issuer) {
	switch {
	case is.Name == "":
		ps.Add(at+".name", "required: rules refer to issuers by name")
	case !nameRe.MatchString(is.Name):
		ps.Add(at+".name", "%q: use letters, digits, '-', '_' and '.'", is.Name)
	}
	if is.IssuerURL == "" {
		ps.Add(at+".issuer_url", "required: the exact iss of the issuer's tokens")
	} else if msg := checkURL(is.IssuerURL); msg != "" {
		ps.Add(at+".issuer_url", "%s", msg)
	}
	if is.JWKSURI != "" {
		if msg := checkURL(is.JWKSURI); msg != "" {
			ps.Add(at+".jwks_uri", "%s", msg)
		}
		if is.JWKS != nil {
			ps.Add(at+".jwks", "give either jwks_uri or jwks, not both")
		}
	}
	if is.JWKS != nil {
		if msg := checkInlineJWKS(is.JWKS); msg != "" {
			ps.Add(at+".jwks", "%s", msg)
		}
	}
	for j, a := range is.Audiences {
		if a == "" || strings.ContainsFunc(a, isSpaceOrControl) {
			ps.Add(fmt.Sprintf("%s.audiences[%d]", at, j), "must be a non-empty value without spaces")
		}
	}
	for j, a := range is.Algorithms {
		path := fmt.Sprintf("%s.algorithms[%d]", at, j)
		switch class := ClassifyAlg(a); {
		case class == AlgUnsigned:
			ps.Add(path, "alg none is never accepted: it means an unsigned token")
		case class == AlgHMAC:
			ps.Add(path, "%s is an HMAC algorithm: never accepted for a JWKS issuer, since anyone holding the shared secret could mint tokens", a)
		case !slices.Contains(SupportedAlgorithms, a):
			ps.Add(path, "%q is not supported; use one of %s", a, strings.Join(SupportedAlgorithms, ", "))
		}
	}
	for j, tt := range is.TokenTypes {
		if tt != TokenTypeAccessToken && tt != TokenTypeJWT && tt != TokenTypeIDToken {
			ps.Add(fmt.Sprintf("%s.token_types[%d]", at, j), "%q is not one of access_token, jwt, id_token", tt)
		}
	}
	if is.Leeway != nil && is.Leeway.D() > MaxLeeway {
		ps.Add(at+".leeway", "%s is more than %s", is.Leeway.D(), MaxLeeway)
	}
	validateFederation(ps, at, is)
}

func checkRefs(ps *Problems, at, kind string, refs []string, known map[string]bool) {
	if len(refs) == 0 {
		ps.Add(at, "at least one %s is required", kind)
	}
	seen := map[string]bool{}
	for j, ref := range refs {
		switch {
		case !known[ref]:
			ps.Add(fmt.Sprintf("%s[%d]", at, j), "unknown %s %q", kind, ref)
		case seen[ref]:
			ps.Add(fmt.Sprintf("%s[%d]", at, j), "%q is listed twice", ref)
		}
		seen[ref] = true
	}
}

// checkURL accepts absolute https URLs, and http only on loopback hosts (for
// development), without query, fragment or credentials.
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Sprintf("%q is not an absolute http(s) URL", s)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Sprintf("%q must use https (http only for localhost)", s)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil || strings.Contains(s, "#") {
		return fmt.Sprintf("%q must not have a query, fragment or credentials", s)
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkInlineJWKS(v any) string {
	raw, err := InlineJWKS(v)
	if err != nil {
		return err.Error()
	}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		return "must be a JWK Set with at least one key: {keys: [...]}"
	}
	for _, k := range set.Keys {
		if k.D != "" || k.P != "" || k.K != "" {
			return fmt.Sprintf("key %q holds private or symmetric key material: list public keys only", k.KID)
		}
	}
	if _, err := set.JWKSlice(); err != nil {
		return fmt.Sprintf("not a valid JWK Set: %v", err)
	}
	return ""
}

// InlineJWKS turns an inline `jwks:` value (decoded YAML) into JSON.
func InlineJWKS(v any) (json.RawMessage, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("must be a JWK Set: {keys: [...]}")
	}
	return raw, nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }
