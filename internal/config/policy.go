package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Policy is the policy file of SPEC §3 (version 1).
type Policy struct {
	Issuer  string        `yaml:"issuer"`
	Keys    string        `yaml:"keys"`
	Token   TokenSettings `yaml:"token"`
	Issuers []Issuer      `yaml:"issuers"`
	Clients []Client      `yaml:"clients"`
	Rules   []Rule        `yaml:"rules"`
	// RateLimits are the default limits of every client; off when absent.
	RateLimits *RateLimits `yaml:"rate_limits"`
	// DPoP tunes proof checking (RFC 9449); defaults when absent.
	DPoP *DPoPSettings `yaml:"dpop"`
	// AllowSubjectOverlap turns the refusal of issuers that can mint the same
	// sub into one audience (SubjectOverlaps) into a warning.
	AllowSubjectOverlap bool `yaml:"allow_subject_overlap"`

	// File is the path the policy was read from ("" for the embedded demo policy).
	File string `yaml:"-"`
	// Lines maps key paths (rules[2].audience) to their line in File, for messages.
	Lines map[string]int `yaml:"-"`
}

// TokenSettings bounds the lifetime of minted tokens.
type TokenSettings struct {
	DefaultLifetime Duration `yaml:"default_lifetime"`
	MaxLifetime     Duration `yaml:"max_lifetime"`
	// MaxDelegationDepth bounds the nesting of the act claim (RFC 8693 §4.1).
	MaxDelegationDepth int `yaml:"max_delegation_depth"`
}

// Issuer is a trusted upstream issuer.
type Issuer struct {
	Name       string    `yaml:"name"`
	IssuerURL  string    `yaml:"issuer_url"`
	JWKSURI    string    `yaml:"jwks_uri"`
	JWKS       any       `yaml:"jwks"` // inline public JWKS (RFC 7517), for issuers without a reachable JWKS endpoint
	Audiences  []string  `yaml:"audiences"`
	Algorithms []string  `yaml:"algorithms"`
	TokenTypes []string  `yaml:"token_types"`
	Leeway     *Duration `yaml:"leeway"`

	// Federation of real identity providers (issuer.go in this package).
	Tenants          []string          `yaml:"tenants"`            // values of {tenantid} in issuer_url; ["*"]: any
	JWKSFile         string            `yaml:"jwks_file"`          // public JWKS in a local file
	CAFile           string            `yaml:"ca_file"`            // PEM CA bundle for the issuer's https endpoints
	Validations      []ClaimValidation `yaml:"validate"`           // CEL rules over claims; all must hold
	Subject          string            `yaml:"subject"`            // CEL expression for the subject; default claims.sub
	SubjectPrefix    string            `yaml:"subject_prefix"`     // prepended to the subject of minted tokens
	IDTokenAudiences []string          `yaml:"id_token_audiences"` // client ids whose ID tokens are accepted
	AudienceClaim    string            `yaml:"audience_claim"`     // aud (default) or client_id (AWS Cognito access tokens)
}

// Client is a caller of /token.
type Client struct {
	ID           string `yaml:"id"`
	SecretSHA256 string `yaml:"secret_sha256"`
	// Auth is the one authentication method of the client (RFC 8414 §2 names);
	// absent: client_secret_basic or client_secret_post.
	Auth    string `yaml:"auth"`
	JWKS    any    `yaml:"jwks"`     // private_key_jwt: inline public JWKS
	JWKSURI string `yaml:"jwks_uri"` // private_key_jwt: where the public JWKS is
	// tls_client_auth (RFC 8705 §2.1.2): the certificate's subject DN (RFC 4514)
	// or one of its dNSName SANs.
	TLSClientAuthSubjectDN string      `yaml:"tls_client_auth_subject_dn"`
	TLSClientAuthSANDNS    string      `yaml:"tls_client_auth_san_dns"`
	RateLimits             *RateLimits `yaml:"rate_limits"` // replaces the policy's rate_limits, per limit
	// DPoPNonce: none or required (RFC 9449 §8); absent: dpop.nonce.
	DPoPNonce string `yaml:"dpop_nonce"`
}

// RateLimits are token buckets per client and per (client, subject).
type RateLimits struct {
	Client  *RateLimit `yaml:"client"`
	Subject *RateLimit `yaml:"subject"`
}

// RateLimit is one token bucket: PerSecond refill, Burst capacity. PerSecond 0
// means no limit.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// Rule is one exchange rule: who may trade which tokens for which audience.
type Rule struct {
	Name     string    `yaml:"name"`
	Clients  []string  `yaml:"clients"`
	Issuers  []string  `yaml:"issuers"`
	Audience string    `yaml:"audience"`
	Scopes   []string  `yaml:"scopes"`
	Lifetime *Duration `yaml:"lifetime"`
	Require  string    `yaml:"require"`
	// Claims maps a claim of the minted token to a CEL expression over the
	// subject's claims (claim mapping; see mapping.go).
	Claims map[string]string `yaml:"claims"`
	// ScopeConditions grants a scope only where its CEL condition holds.
	ScopeConditions map[string]string `yaml:"scope_conditions"`
	// Delegation (RFC 8693 §1.1): forbidden (default), allowed or required.
	Delegation   string   `yaml:"delegation"`
	ActorIssuers []string `yaml:"actor_issuers"`
	ActorRequire string   `yaml:"actor_require"` // CEL over actor and claims
	// AllowSelfDelegation accepts an actor that is the subject itself (the
	// same token, or the same iss and sub); refused by default, as it only
	// launders a token through delegation.
	AllowSelfDelegation bool `yaml:"allow_self_delegation"`
	// SenderConstraint is the binding the minted token must carry: none
	// (default), dpop, mtls or any (binding.go).
	SenderConstraint string `yaml:"sender_constraint"`
	// BoundSubject decides for a bound subject token: prove (default) or rebind.
	BoundSubject string `yaml:"bound_subject"`
	// AllowUnauthenticated serves callers with no client credentials (public
	// federation); such a rule names no clients.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`

	// Profile is what the rule mints: access_token (default), txn_token or
	// id_jag (profile.go).
	Profile string `yaml:"profile"`
	// TrustDomain is the aud of a txn_token rule's Txn-Tokens.
	TrustDomain string `yaml:"trust_domain"`
	// Tctx and Rctx build a Txn-Token's tctx and rctx, member by member, with
	// CEL over claims, request_context and request_details.
	Tctx map[string]string `yaml:"tctx"`
	Rctx map[string]string `yaml:"rctx"`
	// MaxReplacements is how many times a Txn-Token may be replaced (0, the
	// default: never).
	MaxReplacements int `yaml:"max_replacements"`
	// AuthorizationServers are the resource authorization servers an id_jag
	// rule issues ID-JAGs for.
	AuthorizationServers []AuthorizationServer `yaml:"authorization_servers"`
}

// AuthorizationServer is one resource authorization server of an id_jag rule.
type AuthorizationServer struct {
	Issuer    string   `yaml:"issuer"`    // its issuer identifier: the ID-JAG's aud
	ClientID  string   `yaml:"client_id"` // the caller's client_id there
	Scopes    []string `yaml:"scopes"`    // the most an ID-JAG for it may carry
	Resources []string `yaml:"resources"` // resource values a request may name; none: resource is refused
}

// Duration is a time.Duration written as "5m", "30s" in YAML.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		// A TypeError lets yaml.v3 decode the rest of the file, so the other
		// problems are still found (walk has already reported this one).
		return &yaml.TypeError{Errors: []string{err.Error()}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func parseDuration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("must be a duration such as 30s or 5m")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30s or 5m", n.Value)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q must not be negative", n.Value)
	}
	return v, nil
}
