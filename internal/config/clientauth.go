package config

import (
	"math"
	"slices"
	"strings"
)

// Client authentication methods of clients[].auth (RFC 8414 §2 names).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt" // RFC 7523 §2.2
	AuthTLSClientAuth     = "tls_client_auth" // RFC 8705 §2.1
	// AuthSelfSignedTLSClientAuth: a certificate pinned in the client's
	// inline jwks (x5c or its public key), no CA (RFC 8705 §2.2).
	AuthSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
)

// AuthMethods are the values clients[].auth takes.
var AuthMethods = []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthTLSClientAuth, AuthSelfSignedTLSClientAuth}

// Delegation modes of rules[].delegation (RFC 8693 §1.1).
const (
	DelegationForbidden = "forbidden"
	DelegationAllowed   = "allowed"
	DelegationRequired  = "required"
)

// DefaultMaxDelegationDepth bounds the act chain unless token.max_delegation_depth says otherwise.
const DefaultMaxDelegationDepth = 4

// MaxDelegationDepthCap bounds token.max_delegation_depth.
const MaxDelegationDepthCap = 32

// UsesSecret reports whether the client authenticates with its secret.
func (c Client) UsesSecret() bool {
	return c.Auth == "" || c.Auth == AuthClientSecretBasic || c.Auth == AuthClientSecretPost
}

// validateClientAuth checks the authentication fields of one client entry.
func validateClientAuth(ps *Problems, at string, c Client) {
	if c.Auth != "" && !slices.Contains(AuthMethods, c.Auth) {
		ps.Add(at+".auth", "%q is not one of %s", c.Auth, strings.Join(AuthMethods, ", "))
		return
	}
	notFor := func(key string, set bool) {
		if set {
			ps.Add(at+"."+key, "is not used by auth %s; remove it", authName(c.Auth))
		}
	}
	switch {
	case c.UsesSecret():
		switch {
		case c.SecretSHA256 == "":
			ps.Add(at+".secret_sha256", "required: the hex SHA-256 of the client secret (printf %%s \"$SECRET\" | sha256sum)")
		case !sha256HexRe.MatchString(c.SecretSHA256):
			ps.Add(at+".secret_sha256", "must be 64 hexadecimal characters (a SHA-256 digest), not the secret itself")
		}
		notFor("jwks", c.JWKS != nil)
		notFor("jwks_uri", c.JWKSURI != "")
		notFor("tls_client_auth_subject_dn", c.TLSClientAuthSubjectDN != "")
		notFor("tls_client_auth_san_dns", c.TLSClientAuthSANDNS != "")
	case c.Auth == AuthPrivateKeyJWT:
		notFor("secret_sha256", c.SecretSHA256 != "")
		notFor("tls_client_auth_subject_dn", c.TLSClientAuthSubjectDN != "")
		notFor("tls_client_auth_san_dns", c.TLSClientAuthSANDNS != "")
		switch {
		case c.JWKS == nil && c.JWKSURI == "":
			ps.Add(at+".jwks", "private_key_jwt needs the client's public keys: give jwks (inline) or jwks_uri")
		case c.JWKS != nil && c.JWKSURI != "":
			ps.Add(at+".jwks", "give either jwks_uri or jwks, not both")
		case c.JWKSURI != "":
			if msg := checkURL(c.JWKSURI); msg != "" {
				ps.Add(at+".jwks_uri", "%s", msg)
			}
		default:
			if msg := checkInlineJWKS(c.JWKS); msg != "" {
				ps.Add(at+".jwks", "%s", msg)
			}
		}
	case c.Auth == AuthSelfSignedTLSClientAuth:
		notFor("secret_sha256", c.SecretSHA256 != "")
		notFor("jwks_uri", c.JWKSURI != "")
		notFor("tls_client_auth_subject_dn", c.TLSClientAuthSubjectDN != "")
		notFor("tls_client_auth_san_dns", c.TLSClientAuthSANDNS != "")
		if c.JWKS == nil {
			ps.Add(at+".jwks", "self_signed_tls_client_auth needs the client's certificate (x5c) or public key in an inline jwks (RFC 8705 §2.2)")
		} else if msg := checkInlineJWKS(c.JWKS); msg != "" {
			ps.Add(at+".jwks", "%s", msg)
		}
	case c.Auth == AuthTLSClientAuth:
		notFor("secret_sha256", c.SecretSHA256 != "")
		notFor("jwks", c.JWKS != nil)
		notFor("jwks_uri", c.JWKSURI != "")
		// RFC 8705 §2.1.2: exactly one of the certificate checks.
		switch {
		case c.TLSClientAuthSubjectDN == "" && c.TLSClientAuthSANDNS == "":
			ps.Add(at+".tls_client_auth_subject_dn", "tls_client_auth needs tls_client_auth_subject_dn or tls_client_auth_san_dns")
		case c.TLSClientAuthSubjectDN != "" && c.TLSClientAuthSANDNS != "":
			ps.Add(at+".tls_client_auth_subject_dn", "give either tls_client_auth_subject_dn or tls_client_auth_san_dns, not both")
		case c.TLSClientAuthSANDNS != "" && strings.ContainsFunc(c.TLSClientAuthSANDNS, isSpaceOrControl):
			ps.Add(at+".tls_client_auth_san_dns", "must be one DNS name")
		}
	}
	validateRateLimits(ps, at+".rate_limits", c.RateLimits)
}

func authName(a string) string {
	if a == "" {
		return "client_secret_basic/client_secret_post (the default)"
	}
	return a
}

func validateRateLimits(ps *Problems, at string, rl *RateLimits) {
	if rl == nil {
		return
	}
	for _, l := range []struct {
		key string
		v   *RateLimit
	}{{"client", rl.Client}, {"subject", rl.Subject}} {
		if l.v == nil {
			continue
		}
		p := at + "." + l.key
		if l.v.PerSecond < 0 || math.IsNaN(l.v.PerSecond) || math.IsInf(l.v.PerSecond, 0) {
			ps.Add(p+".per_second", "must be a number of 0 (no limit) or more")
		}
		if l.v.Burst < 0 {
			ps.Add(p+".burst", "must not be negative")
		}
	}
}

// validateDelegation checks the delegation fields of one rule.
func validateDelegation(ps *Problems, at string, r Rule, issuers map[string]bool) {
	switch r.Delegation {
	case "", DelegationForbidden:
		if len(r.ActorIssuers) > 0 {
			ps.Add(at+".actor_issuers", "has no effect while delegation is forbidden; set delegation: allowed or required")
		}
		if strings.TrimSpace(r.ActorRequire) != "" {
			ps.Add(at+".actor_require", "has no effect while delegation is forbidden; set delegation: allowed or required")
		}
		if r.AllowSelfDelegation {
			ps.Add(at+".allow_self_delegation", "has no effect while delegation is forbidden; set delegation: allowed or required")
		}
	case DelegationAllowed, DelegationRequired:
		if len(r.ActorIssuers) == 0 {
			ps.Add(at+".actor_issuers", "delegation: %s needs the issuers whose actor tokens the rule trusts", r.Delegation)
		} else {
			checkRefs(ps, at+".actor_issuers", "issuer", r.ActorIssuers, issuers)
		}
	default:
		ps.Add(at+".delegation", "%q is not one of forbidden, allowed, required", r.Delegation)
	}
}

// validateRuleClients checks clients and allow_unauthenticated of one rule.
func validateRuleClients(ps *Problems, at string, r Rule, clients map[string]bool) {
	if r.AllowUnauthenticated {
		if len(r.Clients) > 0 {
			ps.Add(at+".clients", "a rule with allow_unauthenticated: true serves callers without client authentication; it names no clients")
		}
		return
	}
	checkRefs(ps, at+".clients", "client", r.Clients, clients)
}

func (p *Policy) validateDelegationDepth(ps *Problems) {
	if d := p.Token.MaxDelegationDepth; d < 0 || d > MaxDelegationDepthCap {
		ps.Add("token.max_delegation_depth", "%d must be between 1 and %d", d, MaxDelegationDepthCap)
	}
}

// DelegationDepth is token.max_delegation_depth, or its default.
func (t TokenSettings) DelegationDepth() int {
	if t.MaxDelegationDepth == 0 {
		return DefaultMaxDelegationDepth
	}
	return t.MaxDelegationDepth
}

func anyUnauthenticated(rs []Rule) bool {
	return slices.ContainsFunc(rs, func(r Rule) bool { return r.AllowUnauthenticated })
}

// HasTLSClientAuth reports whether a client authenticates by TLS certificate.
func (p *Policy) HasTLSClientAuth() bool {
	return slices.ContainsFunc(p.Clients, func(c Client) bool {
		return c.Auth == AuthTLSClientAuth || c.Auth == AuthSelfSignedTLSClientAuth
	})
}

// HasCAClientAuth reports whether a client's certificate must chain to
// TOKEX_TLS_CLIENT_CA (tls_client_auth, RFC 8705 §2.1).
func (p *Policy) HasCAClientAuth() bool {
	return slices.ContainsFunc(p.Clients, func(c Client) bool { return c.Auth == AuthTLSClientAuth })
}
