package jws

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"
)

var errNotObject = errors.New("not a JSON object")

// DecodeClaims decodes a claims segment's JSON (RFC 7519 §7.2 step 10) into
// v strictly (json v2 defaults). A ClaimError names a registered claim of the
// wrong shape.
func DecodeClaims(b []byte, v any) error {
	// json v2 would take null into a struct as "no claims".
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errNotObject
	}
	return jsonv2.Unmarshal(b, v)
}

// ClaimError is a registered claim whose value has the wrong type.
type ClaimError struct {
	Claim string
	Msg   string
}

func (e *ClaimError) Error() string { return e.Claim + " " + e.Msg }

// AsClaimError finds a ClaimError in err (json v2 wraps it).
func AsClaimError(err error) (*ClaimError, bool) {
	var ce *ClaimError
	ok := errors.As(err, &ce)
	return ce, ok
}

// Audience is aud: a string or an array of strings (RFC 7519 §4.1.3); null
// is no audience. A member that is not a string (null, a number) makes the
// token malformed: it must never be skipped.
type Audience []string

var errAudience = &ClaimError{Claim: "aud", Msg: "must be a string or an array of strings (RFC 7519 §4.1.3)"}

// UnmarshalJSONFrom implements json v2's UnmarshalerFrom.
func (a *Audience) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		*a = Audience{tok.String()}
		return nil
	case 'n':
		_, err := dec.ReadToken()
		*a = nil
		return err
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		xs := Audience{}
		for dec.PeekKind() != ']' {
			if dec.PeekKind() != '"' {
				return errAudience
			}
			tok, err := dec.ReadToken()
			if err != nil {
				return err
			}
			xs = append(xs, tok.String())
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		*a = xs
		return nil
	}
	return errAudience
}

// The range a NumericDate is read in: 0001-01-01 to 9999-12-31T23:59:59Z.
// Beyond it a value is simply the far past or future; converting it to
// int64 seconds (and time.Unix) would wrap around, so "year 3e11" would land
// in the past.
const (
	minSeconds = -62135596800
	maxSeconds = 253402300799
)

// NumericDate is a time claim (RFC 7519 §2: a JSON number of seconds since
// the epoch, possibly fractional), read in place as it is decoded. Absent is
// unset; any other JSON, null included (it is not a number: jose refuses it
// too), is kept (clipped) to be refused when the time claims are checked.
type NumericDate struct {
	set bool
	far int8 // +1: after maxSeconds, -1: before minSeconds
	d   jwt.NumericDate
	bad string
}

// UnmarshalJSONFrom implements json v2's UnmarshalerFrom.
func (n *NumericDate) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	switch v.Kind() {
	case '0':
		n.SetNumber(string(v))
	default:
		*n = NumericDate{bad: Clip(string(v))}
	}
	return nil
}

// SetNumber sets n from a JSON number literal.
func (n *NumericDate) SetNumber(lit string) {
	*n = NumericDate{}
	// The usual integer, without ParseFloat; 15 characters stay below 2^53,
	// where a float64 is exact, so the result is ParseFloat's.
	if len(lit) <= 15 {
		if sec, err := strconv.ParseInt(lit, 10, 64); err == nil {
			n.setSeconds(float64(sec), sec, 0)
			return
		}
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !math.IsInf(f, 0) { // a range error is ±Inf: far away, not invalid
		n.bad = Clip(lit)
		return
	}
	sec, frac := math.Modf(f)
	n.setSeconds(f, int64(max(min(sec, maxSeconds+1), minSeconds-1)), int64(frac*1e9))
}

// setSeconds sets n to sec+nsec, or to the far past or future when f lies
// outside the range a time is read in.
func (n *NumericDate) setSeconds(f float64, sec, nsec int64) {
	n.set = true
	switch {
	case f > maxSeconds:
		n.far, sec, nsec = 1, maxSeconds, 0
	case f < minSeconds:
		n.far, sec, nsec = -1, minSeconds, 0
	}
	n.d = jwt.NumericDate{Time: time.Unix(sec, nsec)}
}

// Present reports whether the claim was given (even if invalid).
func (n *NumericDate) Present() bool { return n.set || n.bad != "" }

// Set reports whether the claim holds a NumericDate.
func (n *NumericDate) Set() bool { return n.set }

// Time is the claim's time, clamped to the range above; zero when unset.
func (n *NumericDate) Time() time.Time {
	if !n.set {
		return time.Time{}
	}
	return n.d.Time
}

// Get is the claim for jwt's validator: nil when unset, an error when it is
// not a NumericDate.
func (n *NumericDate) Get() (*jwt.NumericDate, error) {
	switch {
	case n.bad != "":
		return nil, fmt.Errorf("%s is not a NumericDate", n.bad)
	case !n.set:
		return nil, nil
	}
	return &n.d, nil
}

// String is the claim as RFC 3339 in UTC, for refusals and explain; a value
// beyond the years 1 to 9999 says so instead of printing a clamped date.
func (n *NumericDate) String() string {
	switch {
	case !n.set:
		return n.bad
	case n.far > 0:
		return "the far future (after year 9999)"
	case n.far < 0:
		return "the far past (before year 1)"
	}
	return n.d.UTC().Format(time.RFC3339)
}

// Clip bounds attacker-controlled text echoed in a description or log
// (claim values, kids, algorithms): at most 128 bytes, then "...".
func Clip(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// Registered are the registered claims (RFC 7519 §4.1) tokex reads from
// every JWT; embed it to have them decoded strictly and checked by
// jwt.Validator.
type Registered struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  Audience    `json:"aud"`
	ExpiresAt NumericDate `json:"exp"`
	NotBefore NumericDate `json:"nbf"`
	IssuedAt  NumericDate `json:"iat"`
	ID        string      `json:"jti"`
}

// jwt.Claims, for jwt's validator.
func (c *Registered) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.Get() }
func (c *Registered) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.Get() }
func (c *Registered) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.Get() }
func (c *Registered) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *Registered) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *Registered) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(c.Audience), nil
}
