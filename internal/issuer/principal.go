package issuer

import (
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tokex/tokex/internal/idp"
	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/principal"
)

// Principal is the validated subject; it lives in internal/principal so
// that the rules read a principal, never the verifier.
type Principal = principal.Principal

// Confirmation is a token's cnf claim (internal/principal).
type Confirmation = principal.Confirmation

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
