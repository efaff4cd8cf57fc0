// Package principal is the validated subject of a token, as the rules,
// the minter and the audit see it: what a verifier (a subject token, an
// actor token, a bearer assertion, later a Txn-Token) produces and a policy
// reads. It is a leaf: it knows nothing of verifiers or rules.
package principal

import (
	"fmt"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/tokex/tokex/internal/jws"
)

// Principal is a validated token's subject, as the policy and minter see it.
type Principal struct {
	Issuer    string // name of the trusted issuer in the policy
	IssuerURL string // the token's iss
	Subject   string
	Audience  []string
	Expiry    time.Time
	IssuedAt  time.Time
	TokenID   string // jti, if any
	ClientID  string // azp, client_id or appid, if any
	TokenType string // short name: access_token, jwt or id_token
	Tenant    string // the {tenantid} of a template issuer's iss, "" otherwise
	HasAct    bool   // the token carries an act claim (it is itself delegated)
	// Confirmation is the token's cnf: the key its holder must prove.
	Confirmation Confirmation

	// Payload is the token's base64url claims segment, decoded on demand
	// by Claims.
	Payload string

	once   sync.Once
	claims map[string]any
	err    error
}

// Claims decodes every claim of the token, once, for CEL conditions and
// delegation, with the same strict JSON reader as validation (numbers are
// float64).
func (p *Principal) Claims() (map[string]any, error) {
	p.once.Do(func() {
		raw, err := jws.DecodeSegment(p.Payload)
		if err != nil {
			p.err = fmt.Errorf("decode claims: %w", err)
			return
		}
		p.claims = map[string]any{}
		p.err = jsonv2.Unmarshal(raw, &p.claims)
	})
	return p.claims, p.err
}

// WithClaims sets the claims Claims returns, for a Principal built from claims
// that were validated elsewhere (the explain mode, policy tests).
func (p *Principal) WithClaims(claims map[string]any) *Principal {
	p.once.Do(func() { p.claims = claims })
	if act, ok := claims["act"]; ok && act != nil {
		p.HasAct = true
	}
	return p
}
