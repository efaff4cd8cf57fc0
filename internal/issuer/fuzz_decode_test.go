package issuer

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/golang-jwt/jwt/v5"
)

// FuzzDecode holds Registry.decode, the JWS compact pre-parser, to a
// reference built from the RFCs: three segments of the base64url alphabet
// only (RFC 7515 §2: no padding, no whitespace, no line breaks; Go's
// base64 decoder skips CR and LF, so this fails until decode refuses them),
// a header that json v2 decodes to the same map, claims that json v2
// decodes to the same tokenClaims, the signature's bytes, and the method
// golang-jwt names for alg. A refusal is a ReasonMalformed *Error and
// yields no token. Decoding twice (the second from the header cache) gives
// the same result.
func FuzzDecode(f *testing.F) {
	r := NewRegistry(nil, Options{})
	f.Cleanup(r.Close)
	f.Fuzz(func(t *testing.T, raw string) {
		tok, parts, claims, err := r.decode(raw)
		tok2, _, claims2, err2 := r.decode(raw)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("decoded twice: %v, then %v", err, err2)
		}
		if err != nil {
			var ie *Error
			if !errors.As(err, &ie) || ie.Reason != ReasonMalformed || tok != nil || claims != nil || parts != nil {
				t.Fatalf("refusal %v with token %v, claims %v, parts %q", err, tok, claims, parts)
			}
			return
		}
		if len(parts) != 3 || strings.Join(parts, ".") != raw || tok.Raw != raw {
			t.Fatalf("parts %q do not make up the token", parts)
		}
		if !reflect.DeepEqual(tok.Header, tok2.Header) || !reflect.DeepEqual(*claims, *claims2) {
			t.Fatalf("decoded twice, different results: %v %v", tok.Header, tok2.Header)
		}
		for i, seg := range parts {
			if i == 2 && tok.Signature == nil {
				break // alg names no method: the signature is not decoded
			}
			if j := strings.IndexFunc(seg, func(c rune) bool { return !isBase64URL(c) }); j >= 0 {
				t.Fatalf("accepted segment %d with %q at %d: a segment is base64url without padding or whitespace (RFC 7515 §2)", i, seg[j], j)
			}
		}
		refHeader, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil {
			t.Fatalf("header segment: %v", err)
		}
		var wantHeader map[string]any
		if err := jsonv2.Unmarshal(refHeader, &wantHeader); err != nil || !reflect.DeepEqual(wantHeader, tok.Header) {
			t.Fatalf("header %v; json v2: %v, %v", tok.Header, wantHeader, err)
		}
		refClaims, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatalf("claims segment: %v", err)
		}
		var wantClaims tokenClaims
		if err := jsonv2.Unmarshal(refClaims, &wantClaims); err != nil || !reflect.DeepEqual(wantClaims, *claims) {
			t.Fatalf("claims %+v; json v2: %+v, %v", *claims, wantClaims, err)
		}
		alg, _ := tok.Header["alg"].(string)
		m := jwt.GetSigningMethod(alg)
		if alg == "Ed25519" { // RFC 9864 §2: EdDSA over Ed25519
			m = jwt.SigningMethodEdDSA
		}
		if m != tok.Method {
			t.Fatalf("method %v for alg %q, want %v", tok.Method, alg, m)
		}
		if tok.Method != nil {
			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			if err != nil || string(sig) != string(tok.Signature) {
				t.Fatalf("signature %x; reference %x, %v", tok.Signature, sig, err)
			}
		}
	})
}

func isBase64URL(c rune) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
