package issuer

import (
	"fmt"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tokex/tokex/internal/idp"
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

	payload string // base64url claims segment, decoded on demand
	once    sync.Once
	claims  map[string]any
	err     error
}

// Claims decodes every claim of the token, once, for CEL conditions and
// delegation, with the same strict JSON reader as validation (numbers are
// float64).
func (p *Principal) Claims() (map[string]any, error) {
	p.once.Do(func() {
		raw, err := jws.DecodeSegment(p.payload)
		if err != nil {
			p.err = fmt.Errorf("decode claims: %w", err)
			return
		}
		p.claims = map[string]any{}
		p.err = jsonv2.Unmarshal(raw, &p.claims)
	})
	return p.claims, p.err
}

// tokenClaims is what validation needs; the rest is decoded only on demand.
// Time claims are read in place (jws.NumericDate) and aud is a plain type: jwt's
// NumericDate and ClaimStrings would allocate per claim, on every exchange.
// Non-registered claims are looseStrings, so that an odd type is a tell, not
// a parse error.
type tokenClaims struct {
	jws.Registered
	Nonce    looseString `json:"nonce"`
	AtHash   looseString `json:"at_hash"`
	TokenUse looseString `json:"token_use"`
	Azp      looseString `json:"azp"`
	ClientID looseString `json:"client_id"`
	AppID    looseString `json:"appid"`
	TenantID looseString `json:"tid"`
	// Act is only looked at, not decoded: whether the token is already
	// delegated decides whether the full claims must be decoded (RFC 8693 §4.1).
	Act jsontext.Value `json:"act,omitempty"`
	// Cnf is the sender constraint of a bound token (cnf.go).
	Cnf Confirmation `json:"cnf"`
}

// idTokenClaims are the claims that tell an ID token (idp.IDTokenTell).
func (c *tokenClaims) idTokenClaims() idp.IDTokenClaims {
	return idp.IDTokenClaims{TokenUse: c.TokenUse.s, Nonce: c.Nonce.present, AtHash: c.AtHash.present, Azp: c.Azp.s, Audience: c.Audience}
}

// looseString is a claim that is usually a string. present is false when it
// is absent or null; s is "" when it is not a string.
type looseString struct {
	s       string
	present bool
}

func (l *looseString) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	*l = looseString{present: v.Kind() != 'n'}
	if v.Kind() == '"' {
		s, err := jsontext.AppendUnquote(nil, v)
		if err != nil {
			return err
		}
		l.s = string(s)
	}
	return nil
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
