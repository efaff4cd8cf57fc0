package config

import (
	"cmp"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokex/tokex/internal/condition"
	"github.com/tokex/tokex/internal/scope"
)

// Rule profiles: what a rule mints. Each is a profile of the one exchange
// pipeline (issue 16).
const (
	ProfileAccessToken = "access_token" // RFC 9068 access tokens (the default)
	ProfileTxnToken    = "txn_token"    // draft-ietf-oauth-transaction-tokens-10
	ProfileIDJAG       = "id_jag"       // draft-ietf-oauth-identity-assertion-authz-grant-04
)

// Txn-Token lifetimes: the draft's tokens live for the duration of one call
// chain, so minutes at most.
const (
	DefaultTxnLifetime = 60 * time.Second
	MaxTxnLifetime     = 5 * time.Minute
	// MaxReplacementsCap bounds max_replacements: each replacement adds one
	// entry to req_wl.
	MaxReplacementsCap = 16
)

// ProfileName is the rule's profile, access_token when absent.
func (r Rule) ProfileName() string { return cmp.Or(r.Profile, ProfileAccessToken) }

// Targets are the aud values of the tokens the rule mints: its audience, its
// trust domain, or its authorization servers.
func (r Rule) Targets() []string {
	switch r.Profile {
	case ProfileTxnToken:
		return []string{r.TrustDomain}
	case ProfileIDJAG:
		out := make([]string, len(r.AuthorizationServers))
		for i, as := range r.AuthorizationServers {
			out[i] = as.Issuer
		}
		return out
	}
	return []string{r.Audience}
}

// validateProfile checks what a rule's profile needs and refuses what it
// cannot use; the access-token checks of Validate run for the default profile.
func (p *Policy) validateProfile(ps *Problems, at string, r Rule, txnEnv *lazyEnv) {
	checkOneOf(ps, at+".profile", r.Profile, ProfileAccessToken, ProfileTxnToken, ProfileIDJAG)
	prof := r.ProfileName()
	unused := func(field string, set bool, owner string) {
		if set {
			ps.Add(at+"."+field, "belongs to profile %s rules; this rule's profile is %s", owner, prof)
		}
	}
	if prof != ProfileTxnToken {
		unused("trust_domain", r.TrustDomain != "", ProfileTxnToken)
		unused("tctx", len(r.Tctx) > 0, ProfileTxnToken)
		unused("rctx", len(r.Rctx) > 0, ProfileTxnToken)
		unused("max_replacements", r.MaxReplacements != 0, ProfileTxnToken)
	}
	if prof != ProfileIDJAG {
		unused("authorization_servers", len(r.AuthorizationServers) > 0, ProfileIDJAG)
	}
	if prof == ProfileAccessToken {
		return
	}
	// What every profile rule must not have: these tokens are not access
	// tokens, their aud is named by the profile, and the caller is the
	// requesting workload or the client the ID token was issued to.
	if r.Audience != "" {
		what := "trust_domain"
		if prof == ProfileIDJAG {
			what = "authorization_servers[].issuer"
		}
		ps.Add(at+".audience", "a rule of profile %s names its aud with %s, not audience", prof, what)
	}
	if r.AllowUnauthenticated {
		ps.Add(at+".allow_unauthenticated", "a rule of profile %s serves authenticated clients only: the token names the client that asked for it", prof)
	}
	if r.Delegation != "" && r.Delegation != DelegationForbidden {
		ps.Add(at+".delegation", "a rule of profile %s does not take an actor token", prof)
	}
	if len(r.Claims) > 0 {
		what := "use tctx to carry the subject's claims"
		if prof == ProfileIDJAG {
			what = "an ID-JAG carries only the claims its draft defines"
		}
		ps.Add(at+".claims", "a rule of profile %s maps no claims: %s", prof, what)
	}
	switch prof {
	case ProfileTxnToken:
		p.validateTxnRule(ps, at, r, txnEnv)
	case ProfileIDJAG:
		p.validateIDJAGRule(ps, at, r)
	}
}

func (p *Policy) validateTxnRule(ps *Problems, at string, r Rule, env *lazyEnv) {
	checkTarget(ps, at, "trust_domain", r.TrustDomain, r.Scopes, "the trust domain, the aud of the Txn-Tokens the rule mints", "the purposes a Txn-Token may name")
	if r.SenderConstraint != "" && r.SenderConstraint != SenderConstraintNone {
		ps.Add(at+".sender_constraint", "Txn-Tokens are not sender-constrained: they travel inside the trust domain in the Txn-Token header")
	}
	if r.Lifetime != nil && r.Lifetime.D() > MaxTxnLifetime {
		ps.Add(at+".lifetime", "%s is longer than %s: a Txn-Token lives for one call chain", r.Lifetime.D(), MaxTxnLifetime)
	}
	if r.MaxReplacements < 0 || r.MaxReplacements > MaxReplacementsCap {
		ps.Add(at+".max_replacements", "%d must be between 0 and %d", r.MaxReplacements, MaxReplacementsCap)
	}
	for field, m := range map[string]map[string]string{"tctx": r.Tctx, "rctx": r.Rctx} {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			path := at + "." + field + "." + name
			if name == "" || strings.ContainsFunc(name, isSpaceOrControl) {
				ps.Add(path, "a member name must be non-empty, without spaces or control characters")
				continue
			}
			checkCEL(ps, path, m[name], env, condition.CompileValue)
		}
	}
}

func (p *Policy) validateIDJAGRule(ps *Problems, at string, r Rule) {
	if len(r.Scopes) > 0 {
		ps.Add(at+".scopes", "an id_jag rule lists the scopes of each of its authorization_servers")
	}
	if len(r.ScopeConditions) > 0 {
		ps.Add(at+".scope_conditions", "not supported by id_jag rules")
	}
	if len(r.AuthorizationServers) == 0 {
		ps.Add(at+".authorization_servers", "at least one is required: the resource authorization servers the rule issues ID-JAGs for")
	}
	seen := map[string]bool{}
	for j, as := range r.AuthorizationServers {
		aat := fmt.Sprintf("%s.authorization_servers[%d]", at, j)
		switch msg := checkURL(as.Issuer); {
		case as.Issuer == "":
			ps.Add(aat+".issuer", "required: the resource authorization server's issuer identifier, the ID-JAG's aud")
		case msg != "":
			ps.Add(aat+".issuer", "%s", msg)
		case seen[as.Issuer]:
			ps.Add(aat+".issuer", "%q is listed twice", as.Issuer)
		}
		seen[as.Issuer] = true
		if as.ClientID == "" || strings.ContainsFunc(as.ClientID, isSpaceOrControl) {
			ps.Add(aat+".client_id", "required: the client_id the caller is registered with at that authorization server")
		}
		if len(as.Scopes) == 0 {
			ps.Add(aat+".scopes", "at least one scope is required: the most an ID-JAG for it may carry")
		}
		for k, s := range as.Scopes {
			if !scope.Valid(s) {
				ps.Add(fmt.Sprintf("%s.scopes[%d]", aat, k), "%q is not a scope token (RFC 6749 §3.3)", s)
			}
		}
		for k, res := range as.Resources {
			// RFC 8707 §2: an absolute URI without a fragment.
			if u, err := url.Parse(res); err != nil || !u.IsAbs() || strings.Contains(res, "#") {
				ps.Add(fmt.Sprintf("%s.resources[%d]", aat, k), "%q is not an absolute URI without a fragment (RFC 8707 §2)", res)
			}
		}
	}
	// The subject is an ID token: its issuers must accept them.
	for j, name := range r.Issuers {
		for _, is := range p.Issuers {
			if is.Name == name && !slices.Contains(is.TokenTypes, TokenTypeIDToken) {
				ps.Add(fmt.Sprintf("%s.issuers[%d]", at, j), "issuer %q does not accept ID tokens: an id_jag rule exchanges ID tokens, so add id_token to its token_types", name)
			}
		}
	}
}

// checkTarget checks a rule's aud (field) and that it has scopes; the texts
// say what each is for.
func checkTarget(ps *Problems, at, field, target string, scopes []string, targetIs, scopesAre string) {
	switch {
	case target == "":
		ps.Add(at+"."+field, "required: %s", targetIs)
	case strings.ContainsFunc(target, isSpaceOrControl):
		ps.Add(at+"."+field, "must not contain spaces or control characters")
	}
	if len(scopes) == 0 {
		ps.Add(at+".scopes", "at least one scope is required: %s", scopesAre)
	}
}
