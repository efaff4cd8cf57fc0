package jws

import (
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Parse reads raw as a JWS compact serialization (RFC 7515 §7.1) into a
// jwt.Token whose Claims are claims, decoded strictly, without verifying
// anything. headers may be nil. tok.Method is nil when alg names no method
// golang-jwt knows, and tok.Signature then stays nil: callers judge alg
// against their allowlist first.
func Parse(raw string, claims jwt.Claims, headers *HeaderCache) (*jwt.Token, error) {
	parts, err := Split(raw)
	if err != nil {
		return nil, err
	}
	var h map[string]any
	if headers != nil {
		h, err = headers.Decode(parts[0])
	} else {
		h, err = DecodeHeader(parts[0])
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	b, err := DecodeSegment(parts[1])
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if err := DecodeClaims(b, claims); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	tok := &jwt.Token{Raw: raw, Header: h, Claims: claims}
	alg, _ := h["alg"].(string)
	if tok.Method = Method(alg); tok.Method == nil {
		return tok, nil
	}
	if tok.Signature, err = DecodeSegment(parts[2]); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return tok, nil
}

// Method is golang-jwt's signing method for alg, nil for none it knows.
// Ed25519, the fully-specified name of EdDSA over Ed25519 (RFC 9864 §2) that
// current clients sign with, is golang-jwt's EdDSA: its Verify takes only an
// ed25519.PublicKey. Callers still judge alg against their own allowlist.
func Method(alg string) jwt.SigningMethod {
	if alg == "Ed25519" {
		return jwt.SigningMethodEdDSA
	}
	return jwt.GetSigningMethod(alg)
}

// SigningInput is the part of raw that is signed (RFC 7515 §5.2 step 8),
// without a copy.
func SigningInput(raw string) string {
	for i := len(raw) - 1; i >= 0; i-- {
		if raw[i] == '.' {
			return raw[:i]
		}
	}
	return raw
}

// Verify checks tok's signature with key, or, for a jwt.VerificationKeySet
// (a token without kid: RFC 7515 §4.1.4), with each of its keys until one
// verifies. It returns jwt.ErrTokenUnverifiable for an empty set and when
// tok's alg names no method.
func Verify(tok *jwt.Token, key any) error {
	if tok.Method == nil {
		return jwt.ErrTokenUnverifiable
	}
	text := SigningInput(tok.Raw)
	set, ok := key.(jwt.VerificationKeySet)
	if !ok {
		return tok.Method.Verify(text, tok.Signature, key)
	}
	err := jwt.ErrTokenUnverifiable
	for _, k := range set.Keys {
		if err = tok.Method.Verify(text, tok.Signature, k); err == nil {
			return nil
		}
	}
	return err
}
