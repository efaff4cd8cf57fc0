package issuer

import (
	"encoding/base64"
	"strings"
	"sync"
	"sync/atomic"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/golang-jwt/jwt/v5"
)

// Subject tokens are decoded with json v2 (go-json-experiment/json, the
// prototype of encoding/json/v2) rather than encoding/json, which golang-jwt's
// parser uses. It is several times faster, and stricter where strictness
// closes parser-differential tricks: a duplicate member name is an error
// (RFC 7515 §4, RFC 7519 §4 allow rejecting), names match case-sensitively
// (RFC 7519 §4: claim names are case-sensitive; encoding/json would read "ISS"
// as iss) and invalid UTF-8 is an error. golang-jwt still checks the
// signature and the time claims.

// headerCache keeps decoded JOSE headers by their encoded segment: an issuer
// signs every token with the same few headers, and each decode is a base64
// and a JSON decode on every exchange. Only headers that decode are kept, and
// the cache is emptied when full, so a client sending ever new headers costs
// only itself the decode. A cached map is shared by every token with that
// header: it is read, never written (jwt.Token.Header; keyfunc only reads).
type headerCache struct {
	m sync.Map // encoded segment -> map[string]any
	n atomic.Int32
}

const (
	headerCacheSize   = 256
	headerCacheMaxKey = 1024 // bytes of an encoded header worth keeping
)

func (c *headerCache) decode(seg string) (map[string]any, error) {
	if v, ok := c.m.Load(seg); ok {
		return v.(map[string]any), nil
	}
	b, err := decodeSegment(seg)
	if err != nil {
		return nil, err
	}
	// The JOSE header (RFC 7515 §4) as jwt.Token.Header holds it: every
	// member, strings as string; a duplicate name is an error.
	var m map[string]any
	if err := jsonv2.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(seg) <= headerCacheMaxKey {
		if c.n.Add(1) > headerCacheSize {
			c.m.Clear()
			c.n.Store(1)
		}
		c.m.Store(seg, m)
	}
	return m, nil
}

// segments is golang-jwt's default segment decoding (RFC 7515 §2 base64url
// without padding), so tokens decode exactly as they did with its parser.
var segments = base64.RawURLEncoding

func decodeSegment(s string) ([]byte, error) { return segments.DecodeString(s) }

// decode reads raw as a JWS compact serialization (RFC 7515 §7.1) without
// verifying it. tok.Method is nil when alg names no method golang-jwt knows,
// and tok.Signature then is nil too: the caller judges alg against the
// issuer's allowlist, so the client learns which algorithms it takes.
func (r *Registry) decode(raw string) (*jwt.Token, []string, *tokenClaims, error) {
	if len(raw) > MaxTokenBytes {
		return nil, nil, nil, refuse(ReasonMalformed, nil, "the token is %d bytes; at most %d are accepted", len(raw), MaxTokenBytes)
	}
	if n := strings.Count(raw, "."); n != 2 {
		if n == 4 {
			return nil, nil, nil, refuse(ReasonMalformed, nil, "the token is encrypted (JWE); send a signed JWT (JWS)")
		}
		return nil, nil, nil, refuse(ReasonMalformed, nil, "the token is not a JWT: expected three base64url segments separated by dots")
	}
	// One allocation holds what every token needs.
	d := &struct {
		tok    jwt.Token
		claims tokenClaims
		parts  [3]string
	}{}
	d.parts[0], d.parts[1], _ = strings.Cut(raw, ".")
	d.parts[1], d.parts[2], _ = strings.Cut(d.parts[1], ".")
	parts := d.parts[:]
	notJWS := func(err error) error {
		return refuse(ReasonMalformed, err, "the token could not be decoded: it is not a well-formed JWS compact serialization")
	}
	header, err := r.headers.decode(parts[0])
	if err != nil {
		return nil, nil, nil, notJWS(err)
	}
	// The claims and the signature share one buffer, never written after
	// decoding: the claims' strings are substrings of it.
	enc := segments
	buf := make([]byte, enc.DecodedLen(len(parts[1]))+enc.DecodedLen(len(parts[2])))
	n, err := enc.Decode(buf, []byte(parts[1]))
	if err != nil {
		return nil, nil, nil, refuse(ReasonMalformed, err, "the token's claims are not a valid JSON object of the expected shape")
	}
	cb, sig := buf[:n:n], buf[n:]
	claims := &d.claims
	if err := decodeClaims(cb, claims); err != nil {
		return nil, nil, nil, refuse(ReasonMalformed, err, "the token's claims are not a valid JSON object of the expected shape")
	}
	tok := &d.tok
	tok.Raw, tok.Header, tok.Claims = raw, header, claims
	alg, _ := header["alg"].(string)
	if tok.Method = jwt.GetSigningMethod(alg); tok.Method == nil {
		return tok, parts, claims, nil
	}
	if n, err = enc.Decode(sig, []byte(parts[2])); err != nil {
		return nil, nil, nil, notJWS(err)
	}
	tok.Signature = sig[:n]
	return tok, parts, claims, nil
}
