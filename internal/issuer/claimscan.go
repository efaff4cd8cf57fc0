package issuer

import (
	"unicode/utf8"
	"unsafe"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// decodeClaims decodes a claims segment's JSON into c. Tokens as issuers
// mint them (plain strings, numbers, arrays, objects) take scanClaims, a
// validating scanner several times faster than the general decoder; anything
// it does not fully understand (escapes, a wrong type for a registered claim,
// deep nesting, many members) goes to json v2, which decides. Either way the
// same JSON is accepted with the same result: FuzzScanClaims holds the scanner
// to json v2.
//
// b must not be written after the call: strings in c share its memory.
func decodeClaims(b []byte, c *tokenClaims) error {
	if scanClaims(b, c) {
		return nil
	}
	*c = tokenClaims{}
	return jsonv2.Unmarshal(b, c)
}

// Limits of the fast path; past them json v2 decodes.
const (
	scanMaxMembers = 32 // per object: duplicate names are found by comparing all pairs
	scanMaxDepth   = 16
)

// claimScanner reads JSON (RFC 8259) strictly, as json v2 does by default:
// duplicate member names and invalid UTF-8 are not accepted. It returns false
// for anything it does not accept, and never decides a refusal itself.
type claimScanner struct {
	b   []byte
	s   string // b as a string, for substrings that copy nothing
	i   int
	bad bool
}

func scanClaims(b []byte, c *tokenClaims) bool {
	if len(b) == 0 {
		return false
	}
	sc := claimScanner{b: b, s: unsafe.String(&b[0], len(b))}
	sc.ws()
	ok := sc.object(0, c)
	sc.ws()
	return ok && sc.i == len(b)
}

func (sc *claimScanner) ws() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

func (sc *claimScanner) peek() byte {
	if sc.i < len(sc.b) {
		return sc.b[sc.i]
	}
	return 0
}

// consume skips whitespace and then byte want, if it is next.
func (sc *claimScanner) consume(want byte) bool {
	sc.ws()
	if sc.peek() == want {
		sc.i++
		return true
	}
	return false
}

// object reads an object; with c (the top level) registered claims are
// decoded into it, other members only validated.
func (sc *claimScanner) object(depth int, c *tokenClaims) bool {
	if depth > scanMaxDepth || !sc.consume('{') {
		return false
	}
	if sc.consume('}') {
		return true
	}
	var names [scanMaxMembers]string
	for n := 0; ; n++ {
		sc.ws()
		name, ok := sc.str()
		if !ok || n == scanMaxMembers {
			return false
		}
		for _, seen := range names[:n] {
			if seen == name {
				return false // duplicate name (RFC 8259 §4: json v2 refuses it)
			}
		}
		names[n] = name
		if !sc.consume(':') {
			return false
		}
		sc.ws()
		if c != nil {
			ok = sc.claim(c, name)
		} else {
			ok = sc.value(depth + 1)
		}
		if !ok {
			return false
		}
		if sc.consume(',') {
			continue
		}
		return sc.consume('}')
	}
}

// array reads an array, each element with elem.
func (sc *claimScanner) array(depth int, elem func() bool) bool {
	if depth > scanMaxDepth || !sc.consume('[') {
		return false
	}
	if sc.consume(']') {
		return true
	}
	for {
		sc.ws()
		if !elem() {
			return false
		}
		if sc.consume(',') {
			continue
		}
		return sc.consume(']')
	}
}

func (sc *claimScanner) value(depth int) bool {
	switch sc.peek() {
	case '"':
		_, ok := sc.str()
		return ok
	case '{':
		return sc.object(depth, nil)
	case '[':
		return sc.array(depth, func() bool { return sc.value(depth + 1) })
	case 't':
		return sc.literal("true")
	case 'f':
		return sc.literal("false")
	case 'n':
		return sc.literal("null")
	}
	_, ok := sc.number()
	return ok
}

func (sc *claimScanner) literal(lit string) bool {
	if len(sc.s)-sc.i >= len(lit) && sc.s[sc.i:sc.i+len(lit)] == lit {
		sc.i += len(lit)
		return true
	}
	return false
}

// plain marks the ASCII bytes a string holds as themselves: not a quote, a
// backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string without escapes and returns its contents; a string with
// an escape or a control character is left to json v2.
func (sc *claimScanner) str() (string, bool) {
	if sc.peek() != '"' {
		return "", false
	}
	start := sc.i + 1
	i := start
	for i < len(sc.b) && plain[sc.b[i]] {
		i++
	}
	if i < len(sc.b) && sc.b[i] >= utf8.RuneSelf {
		// Not ASCII: scan on, then check the UTF-8.
		for i < len(sc.b) && (plain[sc.b[i]] || sc.b[i] >= utf8.RuneSelf) {
			i++
		}
		if !utf8.ValidString(sc.s[start:i]) {
			return "", false
		}
	}
	if i == len(sc.b) || sc.b[i] != '"' {
		return "", false // unterminated, an escape or a control character
	}
	sc.i = i + 1
	return sc.s[start:i], true
}

// number reads a number as RFC 8259 §6 writes it.
func (sc *claimScanner) number() (string, bool) {
	start := sc.i
	if sc.peek() == '-' {
		sc.i++
	}
	switch c := sc.peek(); {
	case c == '0':
		sc.i++
	case c >= '1' && c <= '9':
		sc.digits()
	default:
		return "", false
	}
	if sc.peek() == '.' {
		sc.i++
		if !sc.digits() {
			return "", false
		}
	}
	if c := sc.peek(); c == 'e' || c == 'E' {
		sc.i++
		if c := sc.peek(); c == '+' || c == '-' {
			sc.i++
		}
		if !sc.digits() {
			return "", false
		}
	}
	return sc.s[start:sc.i], true
}

func (sc *claimScanner) digits() bool {
	start := sc.i
	for sc.i < len(sc.b) && sc.b[sc.i] >= '0' && sc.b[sc.i] <= '9' {
		sc.i++
	}
	return sc.i > start
}

// claim reads the value of top-level member name into c. A registered claim
// of a type other than the usual one is left to json v2.
func (sc *claimScanner) claim(c *tokenClaims, name string) bool {
	switch name {
	case "iss":
		return sc.string(&c.Issuer)
	case "sub":
		return sc.string(&c.Subject)
	case "jti":
		return sc.string(&c.ID)
	case "aud":
		return sc.audience(c)
	case "exp":
		return sc.date(&c.ExpiresAt)
	case "nbf":
		return sc.date(&c.NotBefore)
	case "iat":
		return sc.date(&c.IssuedAt)
	case "nonce":
		return sc.loose(&c.Nonce)
	case "at_hash":
		return sc.loose(&c.AtHash)
	case "token_use":
		return sc.loose(&c.TokenUse)
	case "azp":
		return sc.loose(&c.Azp)
	case "client_id":
		return sc.loose(&c.ClientID)
	case "appid":
		return sc.loose(&c.AppID)
	case "tid":
		return sc.loose(&c.TenantID)
	case "act":
		start := sc.i
		if !sc.value(1) {
			return false
		}
		c.Act = jsontext.Value(sc.b[start:sc.i])
		return true
	}
	return sc.value(1)
}

func (sc *claimScanner) string(dst *string) bool {
	s, ok := sc.str()
	*dst = s
	return ok
}

func (sc *claimScanner) loose(dst *looseString) bool {
	switch sc.peek() {
	case '"':
		s, ok := sc.str()
		*dst = looseString{s: s, present: true}
		return ok
	case 'n':
		*dst = looseString{}
		return sc.literal("null")
	}
	*dst = looseString{present: true}
	return sc.value(1)
}

// audience reads aud; a single audience is kept in c, not a slice of its own.
func (sc *claimScanner) audience(c *tokenClaims) bool {
	switch sc.peek() {
	case '"':
		s, ok := sc.str()
		c.aud1[0] = s
		c.Audience = c.aud1[:]
		return ok
	case 'n':
		c.Audience = nil
		return sc.literal("null")
	case '[':
		out := audience{}
		ok := sc.array(1, func() bool {
			s, ok := sc.str()
			out = append(out, s)
			return ok
		})
		c.Audience = out
		return ok
	}
	return false
}

func (sc *claimScanner) date(dst *numericDate) bool {
	if sc.peek() == 'n' {
		*dst = numericDate{}
		return sc.literal("null")
	}
	lit, ok := sc.number()
	if ok {
		dst.fromNumber(lit)
	}
	return ok
}
