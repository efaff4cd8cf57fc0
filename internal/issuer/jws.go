package issuer

import (
	"errors"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/internal/jws"
)

// Subject and actor tokens are read by internal/jws, the one strict reader
// of every JWT tokex receives (json v2, strict base64url, NumericDates
// without overflow); golang-jwt still checks the signature and time claims.

// decode reads raw as a JWS compact serialization (RFC 7515 §7.1) without
// verifying it. tok.Method is nil when alg names no method golang-jwt knows,
// and tok.Signature then is nil too: the caller judges alg against the
// issuer's allowlist, so the client learns which algorithms it takes.
func (r *Registry) decode(raw string) (*jwt.Token, []string, *tokenClaims, error) {
	if len(raw) > MaxTokenBytes {
		return nil, nil, nil, refuse(ReasonMalformed, nil, "the token is %d bytes; at most %d are accepted", len(raw), MaxTokenBytes)
	}
	split, err := jws.Split(raw)
	switch {
	case errors.Is(err, jws.ErrEncrypted):
		return nil, nil, nil, refuse(ReasonMalformed, err, "the token is encrypted (JWE); send a signed JWT (JWS)")
	case err != nil:
		return nil, nil, nil, refuse(ReasonMalformed, err, "the token is not a JWT: expected three base64url segments separated by dots")
	}
	// One allocation holds what every token needs.
	d := &struct {
		tok    jwt.Token
		claims tokenClaims
		parts  [3]string
	}{parts: split}
	parts := d.parts[:]
	notJWS := func(err error) error {
		return refuse(ReasonMalformed, err, "the token could not be decoded: it is not a well-formed JWS compact serialization")
	}
	header, err := r.headers.Decode(parts[0])
	if err != nil {
		return nil, nil, nil, notJWS(err)
	}
	// The claims and the signature share one buffer, never written after
	// decoding: the claims' strings are substrings of it.
	buf := make([]byte, jws.DecodedLen(len(parts[1]))+jws.DecodedLen(len(parts[2])))
	n, err := jws.DecodeSegmentInto(buf, parts[1])
	if err != nil {
		return nil, nil, nil, notJWS(err)
	}
	cb, sig := buf[:n:n], buf[n:]
	claims := &d.claims
	if err := jws.DecodeClaims(cb, claims); err != nil {
		if ce, ok := jws.AsClaimError(err); ok {
			return nil, nil, nil, refuse(ReasonMalformed, err, "the token's claims are malformed: %s", ce)
		}
		return nil, nil, nil, refuse(ReasonMalformed, err, "the token's claims are not a valid JSON object of the expected shape")
	}
	tok := &d.tok
	tok.Raw, tok.Header, tok.Claims = raw, header, claims
	alg, _ := header["alg"].(string)
	if tok.Method = jws.Method(alg); tok.Method == nil {
		return tok, parts, claims, nil
	}
	if n, err = jws.DecodeSegmentInto(sig, parts[2]); err != nil {
		return nil, nil, nil, notJWS(err)
	}
	tok.Signature = sig[:n]
	return tok, parts, claims, nil
}
