package issuer

import (
	"encoding/base64"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"
)

// Bounds of the NumericDates a time.Time holds without wrapping around, as
// far as tokex cares: year 1 to year 9999.
var (
	year1    = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	year9999 = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// FuzzNumericDate decodes {"nbf": lit} as tokex decodes claims (decodeClaims:
// the claim scanner or json v2, then numericDate) and holds the NumericDate
// to a reference (RFC 7519 §2: seconds since the epoch, fractions allowed):
//
//   - null is unset; a JSON value that is not a number is kept as invalid,
//     so the time check refuses it;
//   - a number that overflows float64 is invalid;
//   - a number of seconds before year 1 or after year 9999 (1e19, 1e300,
//     9223372000000000000, -1e19) is invalid or, if set, stays on its side of
//     that range: the far past or the far future, never wrapped around to the
//     other side or into the present (a wrapped nbf of 1e19 would be in the
//     past, and the token valid now);
//   - any other number is time.Unix of its seconds and nanoseconds, within a
//     microsecond.
//
// The far-future property fails until NumericDate overflow is fixed; the
// seeds in testdata/fuzz/FuzzNumericDate hold those values.
func FuzzNumericDate(f *testing.F) {
	f.Fuzz(func(t *testing.T, lit string) {
		var c tokenClaims
		if err := decodeClaims([]byte(`{"nbf":`+lit+`}`), &c); err != nil {
			return // not JSON: refused before any time check
		}
		n := c.NotBefore
		_ = n.String()
		d, err := n.get()
		if (err == nil) == (n.bad != "") || (d != nil) != n.set {
			t.Fatalf("%q: get() = %v, %v for %+v", lit, d, err, n)
		}
		v := jsontext.Value(strings.Trim(lit, " \t\r\n"))
		switch v.Kind() {
		case 'n':
			if n.present() {
				t.Fatalf("%q: null is set: %+v", lit, n)
			}
			return
		case '0':
		default:
			if !n.present() || n.set {
				t.Fatalf("%q: a %v is not a NumericDate, got %+v", lit, v.Kind(), n)
			}
			return
		}
		fl, perr := strconv.ParseFloat(string(v), 64)
		if perr != nil || math.IsInf(fl, 0) {
			if n.set {
				t.Fatalf("%q overflows float64 and is set to %v", lit, n.d.Time)
			}
			return
		}
		if !n.set {
			if fl < float64(year1.Unix()) || fl > float64(year9999.Unix()) {
				return // beyond the range: refusing it is fine
			}
			t.Fatalf("%q (%g s) is a NumericDate, not set: %+v", lit, fl, n)
		}
		got := n.d.Time
		switch {
		case fl > float64(year9999.Unix()):
			if !got.After(year9999) {
				t.Fatalf("%q (%g s, beyond year 9999) decodes to a time.Time (Unix %d) that compares before year 9999: it must be far future (after year 9999) or invalid", lit, fl, got.Unix())
			}
		case fl < float64(year1.Unix()):
			if !got.Before(year1) {
				t.Fatalf("%q (%g s, before year 1) decodes to a time.Time (Unix %d) that compares after year 1: it must be far past (before year 1) or invalid", lit, fl, got.Unix())
			}
		default:
			sec, frac := math.Modf(fl)
			want := time.Unix(int64(sec), int64(frac*1e9))
			if diff := got.Sub(want); diff < -time.Microsecond || diff > time.Microsecond {
				t.Fatalf("%q: %v, want %v", lit, got.UTC(), want.UTC())
			}
		}
	})
}

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
		if !reflect.DeepEqual(tok.Header, tok2.Header) || !sameClaims(*claims, *claims2) {
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
		if err := jsonv2.Unmarshal(refClaims, &wantClaims); err != nil || !sameClaims(wantClaims, *claims) {
			t.Fatalf("claims %+v; json v2: %+v, %v", *claims, wantClaims, err)
		}
		alg, _ := tok.Header["alg"].(string)
		if m := jwt.GetSigningMethod(alg); m != tok.Method {
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
