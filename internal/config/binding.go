package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Sender constraint of a rule (RFC 9449, RFC 8705): the binding the minted
// token must carry.
const (
	SenderConstraintNone = "none" // the default: bound only when the caller proves a key anyway
	SenderConstraintDPoP = "dpop" // a DPoP proof is required: cnf.jkt
	SenderConstraintMTLS = "mtls" // a client certificate is required: cnf.x5t#S256
	SenderConstraintAny  = "any"  // either
)

// What happens to a bound subject token (cnf.jkt or cnf.x5t#S256).
const (
	// BoundSubjectProve: the caller proves possession of the subject token's
	// key (a DPoP proof with the same jkt, or the same certificate), and the
	// minted token stays bound to it. The default.
	BoundSubjectProve = "prove"
	// BoundSubjectRebind: a client the subject token's aud names (a resource
	// server holding a bound token) exchanges it under its own binding.
	BoundSubjectRebind = "rebind"
)

// DPoP nonce modes (RFC 9449 §8).
const (
	DPoPNonceNone     = "none"
	DPoPNonceRequired = "required"
)

// DPoPSettings tune DPoP proof checking at the token endpoint.
type DPoPSettings struct {
	// Algorithms accepted for proofs; default ES256, ES384, RS256, PS256,
	// EdDSA, Ed25519 (RFC 9864).
	Algorithms []string `yaml:"algorithms"`
	// Window is how far a proof's iat may be from now, each way; default 60s.
	Window *Duration `yaml:"window"`
	// Nonce: none (default) or required for every client; a client's
	// dpop_nonce overrides it.
	Nonce string `yaml:"nonce"`
	// NonceLifetime is the nonce time step: a nonce lives one to two of
	// them; default 1m.
	NonceLifetime *Duration `yaml:"nonce_lifetime"`
}

// MaxDPoPWindow bounds dpop.window: a longer one lets a stolen proof live longer.
const MaxDPoPWindow = 5 * time.Minute

// dpopAlgorithms are the proof algorithms a policy may list: the asymmetric
// ones of issuers, and Ed25519 (RFC 9864), which DPoP clients sign with.
var dpopAlgorithms = append(slices.Clone(SupportedAlgorithms), "Ed25519")

// validateBinding checks dpop:, clients' dpop_nonce and rules'
// sender_constraint and bound_subject.
func (p *Policy) validateBinding(ps *Problems) {
	if d := p.DPoP; d != nil {
		for i, a := range d.Algorithms {
			if !slices.Contains(dpopAlgorithms, a) {
				why := ""
				if c := ClassifyAlg(a); c == AlgUnsigned || c == AlgHMAC {
					why = ": DPoP proofs are signed with the client's private key (RFC 9449 §4.2)"
				}
				ps.Add(fmt.Sprintf("dpop.algorithms[%d]", i), "%q is not a supported asymmetric algorithm (%s)%s", a, strings.Join(dpopAlgorithms, ", "), why)
			}
		}
		if d.Window != nil && (d.Window.D() < time.Second || d.Window.D() > MaxDPoPWindow) {
			ps.Add("dpop.window", "must be between 1s and %s", MaxDPoPWindow)
		}
		if d.NonceLifetime != nil && (d.NonceLifetime.D() < 5*time.Second || d.NonceLifetime.D() > 10*time.Minute) {
			ps.Add("dpop.nonce_lifetime", "must be between 5s and 10m")
		}
		checkOneOf(ps, "dpop.nonce", d.Nonce, DPoPNonceNone, DPoPNonceRequired)
	}
	for i, c := range p.Clients {
		checkOneOf(ps, fmt.Sprintf("clients[%d].dpop_nonce", i), c.DPoPNonce, DPoPNonceNone, DPoPNonceRequired)
	}
	for i, r := range p.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		checkOneOf(ps, at+".sender_constraint", r.SenderConstraint, SenderConstraintNone, SenderConstraintDPoP, SenderConstraintMTLS, SenderConstraintAny)
		checkOneOf(ps, at+".bound_subject", r.BoundSubject, BoundSubjectProve, BoundSubjectRebind)
		if r.AllowUnauthenticated && r.BoundSubject == BoundSubjectRebind {
			ps.Add(at+".bound_subject", "rebind needs an authenticated client that the subject token's aud names; this rule serves unauthenticated callers")
		}
	}
}

func checkOneOf(ps *Problems, at, v string, allowed ...string) {
	if v != "" && !slices.Contains(allowed, v) {
		ps.Add(at, "%q: use one of %s", v, strings.Join(allowed, ", "))
	}
}
