package issuer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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
	Tenant    string // the {tenantid} of a template issuer's iss, "" otherwise
	HasAct    bool   // the token carries an act claim (it is itself delegated)

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
// Time claims stay raw JSON and aud is a plain type: jwt's NumericDate and
// ClaimStrings would allocate per claim, on every exchange. Non-registered
// claims are `any` so that an odd type is a tell, not a parse error.
type tokenClaims struct {
	Issuer    string         `json:"iss"`
	Subject   string         `json:"sub"`
	Audience  audience       `json:"aud"`
	ExpiresAt jsontext.Value `json:"exp"`
	NotBefore jsontext.Value `json:"nbf"`
	IssuedAt  jsontext.Value `json:"iat"`
	ID        string         `json:"jti"`
	Nonce     any            `json:"nonce,omitempty"`
	AtHash    any            `json:"at_hash,omitempty"`
	TokenUse  any            `json:"token_use,omitempty"`
	Azp       any            `json:"azp,omitempty"`
	ClientID  any            `json:"client_id,omitempty"`
	AppID     any            `json:"appid,omitempty"`
	TenantID  any            `json:"tid,omitempty"`
	// Act is only looked at, not decoded: whether the token is already
	// delegated decides whether the full claims must be decoded (RFC 8693 §4.1).
	Act jsontext.Value `json:"act,omitempty"`

	dates [3]date // exp, nbf, iat, each read once
}

// date is one NumericDate claim, read on first use: jwt's validator and the
// principal both ask for them.
type date struct {
	d    *jwt.NumericDate
	err  error
	done bool
}

func (c *tokenClaims) date(i int, raw jsontext.Value) (*jwt.NumericDate, error) {
	d := &c.dates[i]
	if !d.done {
		d.d, d.err = numericDate(raw)
		d.done = true
	}
	return d.d, d.err
}

// audience is aud: a string or an array of strings (RFC 7519 §4.1.3); null is
// no audience.
type audience []string

func (a *audience) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		*a = audience{tok.String()}
		return nil
	case '[':
		var xs []string
		if err := jsonv2.UnmarshalDecode(dec, &xs); err != nil {
			return errors.New("aud must be a string or an array of strings")
		}
		*a = xs
		return nil
	case 'n':
		_, err := dec.ReadToken()
		*a = nil
		return err
	}
	return errors.New("aud must be a string or an array of strings")
}

// numericDate reads a NumericDate (RFC 7519 §2): a JSON number. Absent or
// null is nil.
func numericDate(n jsontext.Value) (*jwt.NumericDate, error) {
	if len(n) == 0 || n.Kind() == 'n' {
		return nil, nil
	}
	if n.Kind() != '0' {
		return nil, fmt.Errorf("%s is not a NumericDate", clip(string(n)))
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%s is not a NumericDate", clip(string(n)))
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), nil
}

// jwt.Claims, for jwt's validator.
func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.date(0, c.ExpiresAt) }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.date(1, c.NotBefore) }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.date(2, c.IssuedAt) }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(c.Audience), nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
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
