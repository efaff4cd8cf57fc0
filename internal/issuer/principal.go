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
// Time claims are read in place (numericDate) and aud is a plain type: jwt's
// NumericDate and ClaimStrings would allocate per claim, on every exchange.
// Non-registered claims are looseStrings, so that an odd type is a tell, not
// a parse error.
type tokenClaims struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  audience    `json:"aud"`
	ExpiresAt numericDate `json:"exp"`
	NotBefore numericDate `json:"nbf"`
	IssuedAt  numericDate `json:"iat"`
	ID        string      `json:"jti"`
	Nonce     looseString `json:"nonce"`
	AtHash    looseString `json:"at_hash"`
	TokenUse  looseString `json:"token_use"`
	Azp       looseString `json:"azp"`
	ClientID  looseString `json:"client_id"`
	AppID     looseString `json:"appid"`
	TenantID  looseString `json:"tid"`
	// Act is only looked at, not decoded: whether the token is already
	// delegated decides whether the full claims must be decoded (RFC 8693 §4.1).
	Act jsontext.Value `json:"act,omitempty"`

	aud1 [1]string // a single aud, without a slice of its own
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

// numericDate is a NumericDate claim (RFC 7519 §2: a JSON number of seconds),
// read in place as it is decoded. Absent and null are unset; any other JSON
// is kept (clipped) to be refused when the time claims are checked.
type numericDate struct {
	set bool
	d   jwt.NumericDate
	bad string
}

func (n *numericDate) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	switch v.Kind() {
	case 'n':
		*n = numericDate{}
	case '0':
		n.fromNumber(string(v))
	default:
		*n = numericDate{bad: clip(string(v))}
	}
	return nil
}

// fromNumber sets n from a JSON number literal.
func (n *numericDate) fromNumber(lit string) {
	*n = numericDate{}
	// The usual integer, without ParseFloat; 15 characters stay below 2^53,
	// where a float64 is exact, so the result is ParseFloat's.
	if len(lit) <= 15 {
		if sec, err := strconv.ParseInt(lit, 10, 64); err == nil {
			n.set, n.d = true, jwt.NumericDate{Time: time.Unix(sec, 0)}
			return
		}
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		sec, frac := math.Modf(f)
		n.set, n.d = true, jwt.NumericDate{Time: time.Unix(int64(sec), int64(frac*1e9))}
		return
	}
	n.bad = clip(lit)
}

// present reports whether the claim was given (even if invalid).
func (n *numericDate) present() bool { return n.set || n.bad != "" }

// get is the claim for jwt's validator: nil when unset, an error when it is
// not a NumericDate.
func (n *numericDate) get() (*jwt.NumericDate, error) {
	switch {
	case n.bad != "":
		return nil, fmt.Errorf("%s is not a NumericDate", n.bad)
	case !n.set:
		return nil, nil
	}
	return &n.d, nil
}

// String is the claim as RFC 3339 in UTC, for refusals and explain.
func (n *numericDate) String() string {
	if !n.set {
		return n.bad
	}
	return n.d.UTC().Format(time.RFC3339)
}

// jwt.Claims, for jwt's validator.
func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.get() }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.get() }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.get() }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(c.Audience), nil
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
