package issuer

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
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

	payload string // base64url claims segment, decoded on demand
	once    sync.Once
	claims  map[string]any
	err     error
}

// Claims decodes every claim of the token, once, for CEL conditions. Numbers
// stay json.Number-free float64/int as encoding/json gives them.
func (p *Principal) Claims() (map[string]any, error) {
	p.once.Do(func() {
		raw, err := base64.RawURLEncoding.DecodeString(p.payload)
		if err != nil {
			p.err = fmt.Errorf("decode claims: %w", err)
			return
		}
		p.claims = map[string]any{}
		p.err = json.Unmarshal(raw, &p.claims)
	})
	return p.claims, p.err
}

// tokenClaims is what validation needs; the rest is decoded only on demand.
// Non-registered claims are `any` so that an odd type is a tell, not a parse error.
type tokenClaims struct {
	jwt.RegisteredClaims
	Nonce    any `json:"nonce,omitempty"`
	AtHash   any `json:"at_hash,omitempty"`
	TokenUse any `json:"token_use,omitempty"`
	Azp      any `json:"azp,omitempty"`
	ClientID any `json:"client_id,omitempty"`
	AppID    any `json:"appid,omitempty"`
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// WithClaims sets the claims Claims returns, for a Principal built from claims
// that were validated elsewhere (the explain mode, policy tests).
func (p *Principal) WithClaims(claims map[string]any) *Principal {
	p.once.Do(func() { p.claims = claims })
	return p
}
