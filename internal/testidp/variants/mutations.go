package variants

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// mutation changes a build; kind groups variants in reports.
type mutation struct {
	kind  string
	apply func(b *build)
}

// Rules a verifier must follow whatever another implementation does; they
// mark a variant's Refuse.
const (
	ruleAudShape  = "aud is a string or an array of strings (RFC 7519 §4.1.3)"
	ruleAudValue  = "aud does not name the audience (RFC 7519 §4.1.3)"
	ruleIss       = "iss is not the trusted issuer (exact match, RFC 7519 §4.1.1)"
	ruleSub       = "a subject (sub, a non-empty string) is required (RFC 9068 §2.2)"
	ruleExpNeeded = "exp is required (tokex SPEC §5.2)"
	ruleExpPassed = "exp has passed (RFC 7519 §4.1.4)"
	ruleNbfFuture = "nbf is in the future (RFC 7519 §4.1.5)"
	ruleIatFuture = "iat is in the future (tokex: jwt.WithIssuedAt)"
	ruleNumeric   = "a NumericDate is a JSON number (RFC 7519 §2)"
	ruleBase64    = "segments are base64url without padding, whitespace or line breaks (RFC 7515 §2, §7.1)"
	ruleSegments  = "a JWS compact serialization is three segments (RFC 7515 §7.1)"
	ruleSignature = "the signature does not verify with the issuer's key for alg (RFC 7515 §5.2)"
	ruleAlg       = "alg is not in the allowlist [RS256, ES256] (RFC 8725 §3.1)"
	ruleJSON      = "the header and the claims are JSON objects (RFC 7515 §4, RFC 7519 §7.2)"
)

type val struct{ v, refuse string } // v "" removes the member

func setClaim(kind, name string, values func(b *build) []val) mutation {
	return mutation{kind, func(b *build) { b.setClaimVal(name, pick(b, values)) }}
}

func setHeader(kind, name string, values func(b *build) []val) mutation {
	return mutation{kind, func(b *build) { b.setMember(&b.hdr, "header", name, pick(b, values)) }}
}

// wrap changes the JSON text of the header or the claims.
type wrap struct {
	desc   string
	f      func(string) string
	refuse string
}

func wrapJSON(kind, which string, wraps []wrap) mutation {
	return mutation{kind, func(b *build) {
		w := wraps[b.r.IntN(len(wraps))]
		at := &b.claimsWrap
		if which == "header" {
			at = &b.hdrWrap
		}
		prev := *at
		*at = func(s string) string { return w.f(prev(s)) }
		b.note("%s", w.desc)
		b.mustRefuse(which+" json", w.refuse)
	}}
}

// withMember adds member m (raw JSON; "" for a trailing comma) at the end
// of the JSON object text s; s is returned as it is when it is not an object.
func withMember(s, m string) string {
	switch {
	case s == "{}" && m != "":
		return "{" + m + "}"
	case len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}':
		return s[:len(s)-1] + "," + m + "}"
	}
	return s
}

func pick(b *build, values func(b *build) []val) val {
	vs := values(b)
	return vs[b.r.IntN(len(vs))]
}

func (b *build) setClaimVal(name string, x val) { b.setMember(&b.claims, "claim", name, x) }

// setMember sets (or removes) member name of o, the claims or the header.
func (b *build) setMember(o *object, where, name string, x val) {
	label := name
	if where == "header" {
		label = "header " + name
	}
	if x.v == "" {
		o.del(name)
		b.note("%s missing", label)
	} else {
		o.set(name, x.v)
		b.note("%s %s", label, clipText(x.v))
	}
	b.mustRefuse(where+" "+name, x.refuse)
}

func clipText(s string) string {
	if len(s) > 48 {
		return s[:48] + "..."
	}
	return s
}

func vals(vs ...string) []val {
	out := make([]val, len(vs))
	for i, v := range vs {
		out[i] = val{v: v}
	}
	return out
}

// timeValues are NumericDate values around now and the leeway, beyond
// int64 seconds, and of other JSON types.
func timeValues(name string) func(b *build) []val {
	return func(b *build) []val {
		now, lw := b.p.Now.Unix(), int64(b.p.Leeway/time.Second)
		i := func(x int64) string { return strconv.FormatInt(x, 10) }
		lits := []string{"",
			quote(i(now + 600)), `"1e19"`, "true", "null", "{}", "[]", "[" + i(now) + "]",
			"-1", "0", "-0", "0.0", i(now) + ".5", i(now-lw) + ".5", i(now+lw) + ".5", i(now-lw-1) + ".25",
			i(now - lw - 1), i(now - lw), i(now - lw + 1), i(now + lw - 1), i(now + lw), i(now + lw + 1),
			i(now + 600), i(now - 600), i(now + 600*24*365),
			strconv.FormatFloat(float64(now+600), 'e', -1, 64), strconv.FormatFloat(float64(now+600), 'E', -1, 64),
			"1e19", "1e300", "9.3e18", "9223372000000000000", "9223372036854775807", "9223372036854775808",
			"-1e19", "-9223372000000000000", "-9223372036854775808", "-1e300", "1e400", "-1e400", "1e-400",
			"253402300799", "253402300800", "-62135596801", "1e10", "1e+0000000000000000009", "1.7976931348623157e308",
		}
		out := make([]val, len(lits))
		for k, lit := range lits {
			out[k] = val{lit, timeRule(name, lit, now, lw)}
		}
		return out
	}
}

// timeRule is the rule that refuses NumericDate lit of claim name, or "".
func timeRule(name, lit string, now, lw int64) string {
	switch {
	case lit == "" || lit == "null":
		if name == "exp" {
			return ruleExpNeeded
		}
		return ""
	case lit[0] != '-' && (lit[0] < '0' || lit[0] > '9'):
		return ruleNumeric
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return "" // beyond float64: left to the implementations
	}
	switch name {
	case "exp":
		if f <= float64(now-lw) {
			return ruleExpPassed
		}
	case "nbf":
		if f > float64(now+lw) {
			return ruleNbfFuture
		}
	case "iat":
		if f > float64(now+lw) {
			return ruleIatFuture
		}
	}
	return ""
}

func audValues(b *build) []val {
	x := quote(b.p.Audience)
	return []val{
		{x, ""}, {"[" + x + "]", ""}, {"[" + x + `,"https://other.example"]`, ""}, {`["https://other.example",` + x + "]", ""},
		{"[" + x + "," + x + "]", ""},
		{"[null," + x + "]", ruleAudShape}, {"[" + x + ",null]", ruleAudShape}, {"[1," + x + "]", ruleAudShape},
		{"[true," + x + "]", ruleAudShape}, {"[" + x + ",{}]", ruleAudShape}, {"[[" + x + "]," + x + "]", ruleAudShape},
		{"", ruleAudValue}, {"null", ruleAudValue}, {"[]", ruleAudValue}, {"[[" + x + "]]", ruleAudValue},
		{"{" + x + ":1}", ruleAudValue}, {quote(b.p.Audience + "/"), ruleAudValue}, {`""`, ruleAudValue},
		{quote(strings.ToUpper(b.p.Audience)), ruleAudValue}, {"7", ruleAudValue},
	}
}

func issValues(b *build) []val {
	iss := b.p.Issuer
	return []val{
		{strings.ReplaceAll(quote(iss), "/", `\/`), ""},
		{quote(iss + "/"), ruleIss}, {quote(strings.ToUpper(iss)), ruleIss}, {"", ruleIss}, {"5", ruleIss},
		{"null", ruleIss}, {"[" + quote(iss) + "]", ruleIss}, {quote(" " + iss), ruleIss}, {quote(iss + "\x00"), ruleIss},
	}
}

func subValues(b *build) []val {
	return []val{
		{`"\u0061lice"`, ""}, {`"bob"`, ""}, {quote(strings.Repeat("s", 300)), ""},
		{"", ruleSub}, {"5", ruleSub}, {"null", ruleSub}, {`""`, ruleSub}, {`["alice"]`, ruleSub}, {`{"a":1}`, ruleSub},
		{"true", ruleSub},
	}
}

func actValues(*build) []val {
	return vals(`{"sub":"gw"}`, `{"sub":5}`, `{"sub":"gw","iss":5}`, `{"sub":"gw","iss":null}`, `{"sub":"gw","iss":["x"]}`,
		`[]`, `"gw"`, `null`, `{}`, `{"sub":"gw","act":{"sub":"edge","act":{"sub":"x"}}}`, `{"sub":"gw","act":"x"}`,
		`{"sub":"gw","act":{"sub":["x"]}}`, `{"sub":{"sub":"gw"}}`, `{"sub":"gw","sub":"x"}`, `{"sub":""}`, `[{"sub":"gw"}]`)
}

func cnfValues(*build) []val {
	return vals(`{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}`, `{"jkt":5}`, `"x"`, `[]`, `null`,
		`{"x5t#S256":"abc"}`, `{"jkt":"a","jkt":"b"}`, `{"jkt":null}`)
}

// mutations are drawn uniformly, one to three per variant.
var mutations = []mutation{
	// Time claims.
	setClaim("claims.exp", "exp", timeValues("exp")),
	setClaim("claims.nbf", "nbf", timeValues("nbf")),
	setClaim("claims.iat", "iat", timeValues("iat")),
	// Identity claims.
	setClaim("claims.iss", "iss", issValues),
	setClaim("claims.aud", "aud", audValues),
	setClaim("claims.aud", "aud", audValues),
	setClaim("claims.sub", "sub", subValues),
	setClaim("claims.act", "act", actValues),
	setClaim("claims.may_act", "may_act", actValues),
	setClaim("claims.cnf", "cnf", cnfValues),
	setClaim("claims.id_token_tell", "nonce", func(*build) []val { return vals(`"n-0S6"`, "5", "null") }),
	setClaim("claims.id_token_tell", "token_use", func(*build) []val { return vals(`"id"`, `"access"`, "7") }),
	setClaim("claims.other", "client_id", func(*build) []val { return vals("7", `{"a":1}`, `"web"`, `"\ud800"`) }),
	setClaim("claims.other", "big", func(*build) []val { return vals("1e999", "-1e999", "123456789012345678901234567890", "1.5e-400") }),
	{"claims.duplicate", dupClaim},
	{"claims.escaped_name", escapedName},
	{"claims.case_name", func(b *build) {
		n := []string{"ISS", "Sub", "AUD", "Exp", "NBF"}[b.r.IntN(5)]
		b.claims = append(b.claims, member{quote(n), `"x"`})
		b.note("extra member %q (a different name: claim names are case-sensitive)", n)
	}},
	{"claims.utf8", func(b *build) {
		bad := []string{"\"\xff\"", "\"\xc3\x28\"", "\"\xed\xa0\x80\"", `"\ud800"`, `"\udc00\ud800"`, `"caf\u00e9"`, "\"caf\xc3\xa9\""}
		x := bad[b.r.IntN(len(bad))]
		b.claims.set("name", x)
		b.note("name %q", x)
	}},
	wrapJSON("claims.json", "claims", []wrap{
		{"claims a JSON array", func(s string) string { return "[" + s + "]" }, ruleJSON},
		{"claims JSON null", func(string) string { return "null" }, ruleJSON},
		{"claims a JSON string", func(s string) string { return quote(s) }, ruleJSON},
		{"claims with a BOM", func(s string) string { return "\ufeff" + s }, ""},
		{"claims with whitespace around", func(s string) string { return " \n" + s + "\t " }, ""},
		{"claims with trailing garbage", func(s string) string { return s + "x" }, ruleJSON},
		{"claims followed by {}", func(s string) string { return s + "{}" }, ruleJSON},
		{"claims with a trailing comma", func(s string) string { return withMember(s, "") }, ruleJSON},
		{"claims with a raw newline in a string", func(s string) string { return withMember(s, "\"n\":\"a\nb\"") }, ruleJSON},
		{"claims padded past 16 KiB", func(s string) string { return withMember(s, `"pad":"`+strings.Repeat("p", 17<<10)+`"`) }, ""},
		{"claims nested 200 deep", func(s string) string {
			return withMember(s, `"deep":`+strings.Repeat("[", 200)+strings.Repeat("]", 200))
		}, ""},
	}),

	// Header.
	{"header.alg", func(b *build) {
		switch b.r.IntN(9) {
		case 0:
			b.hdr.set("alg", quote("none"))
			b.signer = "none"
			b.note("alg none, no signature")
		case 1:
			b.hdr.set("alg", quote("HS256"))
			b.signer = "HS256-pubkey"
			b.note("alg HS256 keyed with the RSA public key PEM")
		case 2:
			other := map[string]string{"RS256": "ES256", "ES256": "RS256"}[b.alg]
			b.hdr.set("alg", quote(other))
			b.note("alg %s, signed with the %s key", other, b.alg)
			b.mustRefuse("header alg", ruleSignature)
			return
		case 3:
			b.hdr.set("alg", quote(strings.ToLower(b.alg)))
			b.note("alg %s", strings.ToLower(b.alg))
		case 4:
			b.hdr.del("alg")
			b.note("alg missing")
		case 5:
			b.hdr.set("alg", "5")
			b.note("alg 5")
		case 6:
			b.hdr.set("alg", `["`+b.alg+`"]`)
			b.note("alg [%s]", b.alg)
		case 7:
			b.hdr.set("alg", quote("PS256"))
			b.note("alg PS256 over an %s signature", b.alg)
		case 8:
			b.hdr.set("alg", quote("None"))
			b.signer = "none"
			b.note("alg None, no signature")
		}
		b.mustRefuse("header alg", ruleAlg)
	}},
	setHeader("header.kid", "kid", func(b *build) []val {
		other := map[string]string{"RS256": KIDEC, "ES256": KIDRSA}[b.alg]
		return []val{{"", ""}, {quote(other), ruleSignature}, {`"nope"`, ruleSignature}, {"5", ""}, {"null", ""},
			{`["` + KIDRSA + `"]`, ""}, {"{}", ""}, {`""`, ""}}
	}),
	{"header.duplicate", func(b *build) {
		kid := b.hdr.get("kid")
		switch b.r.IntN(4) {
		case 0:
			b.hdr = append(object{{quote("alg"), quote("none")}}, b.hdr...)
			b.note(`header "alg":"none" before the real alg`)
		case 1:
			b.hdr = append(b.hdr, member{quote("alg"), quote("none")})
			b.note(`header "alg":"none" after the real alg`)
			b.mustRefuse("header alg", ruleAlg)
		case 2:
			b.hdr = append(object{{quote("kid"), `"nope"`}}, b.hdr...)
			b.note(`header "kid":"nope" before the real kid %s`, kid)
		case 3:
			b.hdr = append(b.hdr, member{quote("ALG"), quote("none")}, member{quote("Kid"), `"nope"`})
			b.note(`header "ALG":"none","Kid":"nope" besides alg and kid`)
		}
	}},
	{"header.escaped_name", func(b *build) {
		for i, m := range b.hdr {
			if m.name == quote("alg") {
				b.hdr[i].name = `"\u0061lg"`
			}
		}
		b.note(`header name "\u0061lg" for alg`)
	}},
	setHeader("header.typ", "typ", func(*build) []val {
		return vals("", `"JWT"`, `"jwt"`, `"at+jwt"`, `"application/at+jwt"`, `"application/jwt"`, `"id+jwt"`, `"JOSE"`,
			`""`, "5", "null", `"secevent+jwt"`)
	}),
	{"header.crit", func(b *build) {
		switch b.r.IntN(5) {
		case 0:
			b.hdr.set("crit", `["exp"]`)
			b.hdr.set("exp", "1")
			b.note(`crit ["exp"]`)
		case 1:
			b.hdr.set("crit", `["b64"]`)
			b.hdr.set("b64", "true")
			b.note(`crit ["b64"], b64 true`)
		case 2:
			b.hdr.set("crit", `[]`)
			b.note(`crit []`)
		case 3:
			b.hdr.set("crit", `"b64"`)
			b.note(`crit "b64"`)
		case 4:
			b.hdr.set("b64", "false")
			b.hdr.set("crit", `["b64"]`)
			b.note(`crit ["b64"], b64 false (claims still encoded)`)
		}
	}},
	setHeader("header.key_header", "jku", func(*build) []val { return vals(`"https://evil.example/jwks"`) }),
	setHeader("header.key_header", "x5u", func(*build) []val { return vals(`"https://evil.example/cert.pem"`) }),
	setHeader("header.key_header", "jwk", func(*build) []val { return vals(`{"kty":"oct","k":"c2VjcmV0"}`) }),
	setHeader("header.key_header", "x5c", func(*build) []val { return vals(`["MIIB"]`) }),
	setHeader("header.extra", "foo", func(*build) []val { return vals(`"bar"`, "null", `{"a":[1]}`) }),
	setHeader("header.extra", "nonce", func(*build) []val { return vals(`"abc"`) }),
	setHeader("header.extra", "cty", func(*build) []val { return vals(`"JWT"`, `"json"`) }),
	setHeader("header.extra", "zip", func(*build) []val { return vals(`"DEF"`) }),
	setHeader("header.extra", "b64", func(*build) []val { return vals("true", "false") }),
	wrapJSON("header.json", "header", []wrap{
		{"header a JSON array", func(s string) string { return "[" + s + "]" }, ruleJSON},
		{"header JSON null", func(string) string { return "null" }, ruleJSON},
		{"header empty", func(string) string { return "" }, ruleJSON},
		{"header with whitespace around", func(s string) string { return " " + s + "\n" }, ""},
		{"header with a BOM", func(s string) string { return "\ufeff" + s }, ""},
		{"header with invalid UTF-8", func(s string) string { return withMember(s, "\"x\":\"\xff\"") }, ""},
		{"header with trailing garbage", func(s string) string { return s + "]" }, ruleJSON},
	}),

	// Segments and encodings.
	{"segment.padding", func(b *build) { b.onSegment(b.r.IntN(3), "'=' padding", ruleBase64, pad) }},
	{"segment.alphabet", func(b *build) {
		b.onSegment(b.r.IntN(3), "standard base64 alphabet", "", func(s string) string {
			return strings.NewReplacer("-", "+", "_", "/").Replace(s)
		})
	}},
	{"segment.whitespace", func(b *build) {
		ws := []string{"\r\n", "\n", "\r", " ", "\t", "\r\n\r\n"}[b.r.IntN(6)]
		at := b.r.Float64()
		where := "inserted in"
		if b.r.IntN(3) == 0 {
			at, where = 1, "appended to"
		}
		b.onSegment(b.r.IntN(3), strconv.Quote(ws)+" "+where, ruleBase64, func(s string) string {
			i := int(at * float64(len(s)))
			return s[:i] + ws + s[i:]
		})
	}},
	{"token.whitespace", func(b *build) {
		ws := []string{"\n", "\r\n", " ", "\t"}[b.r.IntN(4)]
		if b.r.IntN(2) == 0 {
			b.onToken = append(b.onToken, func(t string) string { return t + ws })
			b.note("token followed by %q", ws)
		} else {
			b.onToken = append(b.onToken, func(t string) string { return ws + t })
			b.note("token preceded by %q", ws)
		}
		b.mustRefuse("token whitespace", ruleBase64)
	}},
	{"token.dots", func(b *build) {
		fs := []struct {
			desc string
			f    func(string) string
		}{
			{"a trailing '.'", func(t string) string { return t + "." }},
			{"a fourth segment", func(t string) string { return t + ".e30" }},
			{"five segments", func(t string) string { return t + ".e30.e30" }},
			{"the last '.' removed", func(t string) string {
				i := strings.LastIndexByte(t, '.')
				return t[:i] + t[i+1:]
			}},
			{"a leading '.'", func(t string) string { return "." + t }},
		}
		x := fs[b.r.IntN(len(fs))]
		b.onToken = append(b.onToken, func(t string) string {
			t = x.f(t)
			if strings.Count(t, ".") == 2 { // another '.' mutation undid this one
				b.mustRefuse("token dots", "")
			} else {
				b.mustRefuse("token dots", ruleSegments)
			}
			return t
		})
		b.note("token with %s", x.desc)
	}},
	{"signature.bytes", func(b *build) {
		switch b.r.IntN(7) {
		case 0:
			n := 1 + b.r.IntN(4)
			b.postSign = append(b.postSign, func(p *[3]string) { p[2] = p[2][:max(0, len(p[2])-n)] })
			b.note("signature truncated by %d characters", n)
		case 1:
			b.postSign = append(b.postSign, func(p *[3]string) { p[2] = "" })
			b.note("signature empty")
		case 2:
			b.signer = "foreign"
			b.useKID(KIDRSA)
			b.note("signed by an unpublished RSA key, kid %s", KIDRSA)
		case 3:
			other := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":` + quote(b.p.Issuer) + `,"sub":"mallory","aud":` + quote(b.p.Audience) + `,"exp":` + strconv.FormatInt(b.p.Now.Unix()+600, 10) + `}`))
			b.postSign = append(b.postSign, func(p *[3]string) { p[1] = other })
			b.note("claims replaced after signing (sub mallory)")
		case 4:
			if b.alg != "ES256" {
				b.useAlg("ES256")
			}
			b.signer = "ES256-DER"
			b.note("ES256 signature in ASN.1 DER")
		case 5:
			b.postSign = append(b.postSign, func(p *[3]string) { p[2] += "AA" })
			b.note("signature with a zero byte appended")
		case 6:
			b.postSign = append(b.postSign, func(p *[3]string) { p[2] = flipPadBits(p[2]) })
			b.note("signature's last character with other unused trailing bits (same bytes)")
			return // the same signature bytes
		}
		b.mustRefuse("signature", ruleSignature)
	}},
}

// pinned open every run: the parser differentials known when this was
// written (NumericDate overflow, aud with null, CR/LF in a segment, act and
// may_act with non-string members), then the classic attacks.
var pinned = []mutation{
	pinClaim("nbf", "1e19"), pinClaim("nbf", "1e300"), pinClaim("nbf", "9.3e18"), pinClaim("nbf", "9223372000000000000"),
	pinClaim("iat", "1e19"), pinClaim("iat", "1e300"), pinClaim("iat", "9.3e18"), pinClaim("iat", "9223372000000000000"),
	pinClaim("exp", "-1e19"), pinClaim("exp", "1e19"), pinClaim("exp", "-9223372036854775808"),
	{"claims.aud", func(b *build) { b.setClaimVal("aud", val{"[null," + quote(b.p.Audience) + "]", ruleAudShape}) }},
	{"claims.act", func(b *build) { b.setClaimVal("act", val{`{"sub":5}`, ""}) }},
	{"claims.act", func(b *build) { b.setClaimVal("act", val{`{"sub":"gw","iss":5}`, ""}) }},
	{"claims.may_act", func(b *build) { b.setClaimVal("may_act", val{`{"sub":"gw","iss":5}`, ""}) }},
	{"segment.whitespace", func(b *build) { b.onSegment(0, `"\r\n" inserted in`, ruleBase64, insertMid("\r\n")) }},
	{"segment.whitespace", func(b *build) { b.onSegment(1, `"\r\n" inserted in`, ruleBase64, insertMid("\r\n")) }},
	{"segment.whitespace", func(b *build) { b.onSegment(2, `"\r\n" inserted in`, ruleBase64, insertMid("\r\n")) }},
	{"segment.whitespace", func(b *build) {
		b.onSegment(1, `"\n" appended to`, ruleBase64, func(s string) string { return s + "\n" })
	}},
	{"token.whitespace", func(b *build) {
		b.onToken = append(b.onToken, func(t string) string { return t + "\n" })
		b.note(`token followed by "\n"`)
		b.mustRefuse("token whitespace", ruleBase64)
	}},
	{"header.alg", func(b *build) {
		b.hdr.set("alg", quote("none"))
		b.signer = "none"
		b.note("alg none, no signature")
		b.mustRefuse("header alg", ruleAlg)
	}},
	{"header.alg", func(b *build) {
		b.useAlg("RS256")
		b.hdr.set("alg", quote("HS256"))
		b.signer = "HS256-pubkey"
		b.note("alg HS256 keyed with the RSA public key PEM")
		b.mustRefuse("header alg", ruleAlg)
	}},
}

func pinClaim(name, lit string) mutation {
	return mutation{"claims." + name, func(b *build) {
		now, lw := b.p.Now.Unix(), int64(b.p.Leeway/time.Second)
		b.setClaimVal(name, val{lit, timeRule(name, lit, now, lw)})
	}}
}

func insertMid(ws string) func(string) string {
	return func(s string) string { i := len(s) / 2; return s[:i] + ws + s[i:] }
}

func pad(s string) string {
	if n := len(s) % 4; n != 0 {
		return s + strings.Repeat("=", 4-n)
	}
	return s + "===="
}

// flipPadBits changes the unused low bits of the last character of an
// unpadded base64url segment, when it has any: the decoded bytes stay the
// same, the text does not (RFC 4648 §3.5 lets a decoder refuse it).
func flipPadBits(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(s)%4 < 2 {
		return s
	}
	i := strings.IndexByte(alphabet, s[len(s)-1])
	if i < 0 {
		return s
	}
	return s[:len(s)-1] + string(alphabet[i^1])
}

// onSegment applies f to segment seg: before signing for the header and
// the claims (so the signature covers the text as sent), after it for the
// signature.
func (b *build) onSegment(seg int, desc, refuse string, f func(string) string) {
	name := [...]string{"header", "claims", "signature"}[seg]
	b.note("%s %s segment", desc, name)
	g := func(p *[3]string) {
		before := p[seg]
		p[seg] = f(p[seg])
		if refuse != "" && p[seg] != before {
			b.mustRefuse(name+" segment "+desc, refuse)
		}
	}
	if seg == 2 {
		b.postSign = append(b.postSign, g)
	} else {
		b.preSign = append(b.preSign, g)
	}
}

func (b *build) useKID(kid string) { b.hdr.set("kid", quote(kid)) }

// dupClaim writes a claim twice, with another value before or after the
// valid one (RFC 7519 §4: reject, or take the last).
func dupClaim(b *build) {
	names := []string{"iss", "sub", "aud", "exp", "nbf"}
	name := names[b.r.IntN(len(names))]
	other := map[string]string{"iss": `"https://evil.example"`, "sub": `"mallory"`, "aud": `"https://other.example"`,
		"exp": "1", "nbf": strconv.FormatInt(b.p.Now.Unix()+3600, 10)}[name]
	b.added(name, map[string]string{"iss": ruleIss, "aud": ruleAudValue, "exp": ruleExpPassed, "nbf": ruleNbfFuture}[name])
	if b.r.IntN(2) == 0 {
		b.claims = append(object{{quote(name), other}}, b.claims...)
		b.note("%s duplicated: %s first, the valid value last", name, other)
	} else {
		b.claims = append(b.claims, member{quote(name), other})
		b.note("%s duplicated: the valid value first, %s last", name, other)
	}
}

// added is called before another member named name is added, whose value
// rule refuses (or ""): if there was none, that value is the claim's.
func (b *build) added(name, rule string) {
	if b.claims.get(name) == "" {
		b.mustRefuse("claim "+name, rule)
	}
}

// escapedName writes a claim name with a \u escape: the same name as a
// member of its own, or a second iss.
func escapedName(b *build) {
	switch b.r.IntN(3) {
	case 0:
		for i, m := range b.claims {
			if m.name == quote("iss") {
				b.claims[i].name = `"\u0069ss"`
			}
		}
		b.note(`iss spelled "\u0069ss"`)
	case 1:
		b.added("iss", ruleIss)
		b.claims = append(b.claims, member{`"\u0069ss"`, `"https://evil.example"`})
		b.note(`a second iss, spelled "\u0069ss", last`)
	case 2:
		b.added("sub", "")
		b.claims = append(object{{`"\u0073ub"`, `"mallory"`}}, b.claims...)
		b.note(`a second sub, spelled "\u0073ub", first`)
	}
}
