package issuer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/testidp"
)

// allReasons lists every Reason of errors.go; TestVerify must cover each.
var allReasons = []issuer.Reason{
	issuer.ReasonMalformed,
	issuer.ReasonUntrustedIssuer,
	issuer.ReasonTokenType,
	issuer.ReasonAlgorithm,
	issuer.ReasonHeader,
	issuer.ReasonUnknownKey,
	issuer.ReasonSignature,
	issuer.ReasonExpired,
	issuer.ReasonNotYetValid,
	issuer.ReasonIssuedInFuture,
	issuer.ReasonMissingClaim,
	issuer.ReasonAudience,
	issuer.ReasonIDToken,
	issuer.ReasonKeysUnavailable,
	issuer.ReasonTenant,
	issuer.ReasonClaimRule,
	issuer.ReasonMisconfigured,
}

type claims = map[string]any

func set(kv ...any) func(claims) {
	return func(c claims) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func without(c claims, name string) claims { delete(c, name); return c }

// rawClaim signs idp's usual claims with name set to the raw JSON value.
func rawClaim(idp *testidp.IdP, name, value string) []testidp.SignOption {
	return []testidp.SignOption{testidp.Payload(payload(without(idp.Claims("alice", stsAudience), name), `"`+name+`":`+value))}
}

// flipTrailingBits sets the unused low bits of the signature's last
// character: the same bytes under a lax decoder, another spelling.
func flipTrailingBits(tok string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alpha, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alpha[last|1])
}

// payload is c as JSON with raw members put first: claims sets that
// encoding/json would not write (duplicate, odd or invalid members).
func payload(c claims, raw string) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return append([]byte("{"+raw+","), b[1:]...)
}

// TestVerify runs every check of Registry.Verify against real tokens from
// three trusted fake IdPs: a (RS256 and ES256, access_token/jwt/id_token),
// b (RS256 only, access_token only) and down (JWKS answers 500).
func TestVerify(t *testing.T) {
	clk := newClock()
	a := testidp.New(t, testidp.WithClock(clk.Now))
	b := testidp.New(t, testidp.WithClock(clk.Now))
	down := testidp.New(t, testidp.WithClock(clk.Now), testidp.WithJWKSMode(testidp.Fail))
	reg := newRegistry(t, issuer.Options{Now: clk.Now, HTTPTimeout: 2 * time.Second},
		trusted("a", a, func(is *config.Issuer) {
			is.TokenTypes = []string{config.TokenTypeAccessToken, config.TokenTypeJWT, config.TokenTypeIDToken}
			is.IDTokenAudiences = []string{"web-app"}
		}),
		trusted("b", b, discovered, func(is *config.Issuer) {
			is.Algorithms = []string{"RS256"}
			is.TokenTypes = []string{config.TokenTypeAccessToken}
			is.Audiences = []string{stsAudience, "api://b"}
		}),
		trusted("down", down),
		// A tenant template sharing b's keys, with a claim rule and a subject prefix.
		trusted("tenanted", b, func(is *config.Issuer) {
			is.IssuerURL = b.URL() + "/{tenantid}/v2.0"
			is.Tenants = []string{"t1"}
			is.Validations = []config.ClaimValidation{{Expr: `has(claims.roles) && "Reader" in claims.roles`, Message: "the token lacks the Reader role: assign it in the app registration"}}
			is.SubjectPrefix = "ten:"
		}),
		// An issuer whose config skipped validation: fails closed.
		trusted("broken", b, func(is *config.Issuer) {
			is.IssuerURL = b.URL() + "/broken"
			is.Validations = []config.ClaimValidation{{Expr: "claims.(", Message: "m"}}
		}),
	)
	waitLoaded(t, reg, "a", "b", "tenanted")
	now := clk.Now()

	type tc struct {
		name      string
		idp       *testidp.IdP // whose claims; default a
		claims    func(claims) // changes to idp.Claims("alice", stsAudience)
		opts      []testidp.SignOption
		raw       func() string // a hand-made token instead
		tokenType string        // default access_token
		want      issuer.Reason // "" = accepted
		wantDesc  []string      // fragments the description must hold (contract of SPEC §5.2)
		check     func(*testing.T, *issuer.Principal)
	}
	rsaKID, ecKID := a.KID(testidp.RS256), a.KID(testidp.ES256)
	tests := []tc{
		// Accepted.
		{name: "RS256 with kid", check: func(t *testing.T, p *issuer.Principal) {
			if p.Issuer != "a" || p.IssuerURL != a.Issuer() || p.Subject != "alice" || p.TokenType != "access_token" {
				t.Errorf("principal = %+v", p)
			}
			if !p.Expiry.Equal(now.Add(10*time.Minute)) || !p.IssuedAt.Equal(now) || p.TokenID == "" {
				t.Errorf("times/jti = %v %v %q", p.Expiry, p.IssuedAt, p.TokenID)
			}
		}},
		{name: "ES256 with kid", opts: []testidp.SignOption{testidp.Alg(testidp.ES256)}},
		{name: "RS256 without kid is tried against the issuer's keys", opts: []testidp.SignOption{testidp.NoKID()}},
		{name: "ES256 without kid is tried against the issuer's keys", opts: []testidp.SignOption{testidp.Alg(testidp.ES256), testidp.NoKID()}},
		{name: "typ at+jwt", opts: []testidp.SignOption{testidp.Header("typ", "at+jwt")}},
		{name: "typ application/at+jwt", opts: []testidp.SignOption{testidp.Header("typ", "application/at+jwt")}},
		{name: "no typ", opts: []testidp.SignOption{testidp.Header("typ", nil)}},
		{name: "audience list holding the accepted one", claims: set("aud", []string{"https://other.example", stsAudience})},
		{name: "jwt token type", tokenType: config.TokenTypeJWT},
		{name: "expired within leeway", claims: set("exp", now.Add(-10*time.Second).Unix())},
		{name: "nbf within leeway", claims: set("nbf", now.Add(10*time.Second).Unix())},
		{name: "client id from azp, claims decoded on demand", claims: set("azp", "web-app", "tid", "t1"), check: func(t *testing.T, p *issuer.Principal) {
			if p.ClientID != "web-app" {
				t.Errorf("ClientID = %q", p.ClientID)
			}
			c, err := p.Claims()
			if err != nil || c["tid"] != "t1" {
				t.Errorf("Claims() = %v, %v", c, err)
			}
		}},
		{name: "client id from client_id", claims: set("client_id", "svc"), check: func(t *testing.T, p *issuer.Principal) {
			if p.ClientID != "svc" {
				t.Errorf("ClientID = %q", p.ClientID)
			}
		}},
		{name: "ID token accepted where id_token is the declared and allowed type", claims: set("nonce", "n-0S6", "aud", "web-app"), tokenType: config.TokenTypeIDToken},
		{name: "ID token for a client not in id_token_audiences", claims: set("nonce", "n-0S6", "aud", "other-app"), tokenType: config.TokenTypeIDToken, want: issuer.ReasonAudience, wantDesc: []string{"other-app", "web-app"}},
		{name: "ID token whose aud is tokex's own audience is still refused as an ID token", claims: set("nonce", "n-0S6"), tokenType: config.TokenTypeIDToken, want: issuer.ReasonAudience},
		{name: "issuer b via discovery, second accepted audience", idp: b, claims: set("aud", "api://b")},

		// Tenant templates and claim rules.
		{name: "template tenant with its tid and the required role", idp: b, claims: set("iss", b.URL()+"/t1/v2.0", "tid", "t1", "roles", []string{"Reader"}), check: func(t *testing.T, p *issuer.Principal) {
			if p.Issuer != "tenanted" || p.Tenant != "t1" || p.Subject != "ten:alice" {
				t.Errorf("principal = %+v", p)
			}
		}},
		{name: "template tenant whose tid names another tenant", idp: b, claims: set("iss", b.URL()+"/t1/v2.0", "tid", "t2", "roles", []string{"Reader"}), want: issuer.ReasonTenant, wantDesc: []string{"t1", "t2"}},
		{name: "template tenant without tid", idp: b, claims: set("iss", b.URL()+"/t1/v2.0", "roles", []string{"Reader"}), want: issuer.ReasonTenant},
		{name: "template tenant not listed", idp: b, claims: set("iss", b.URL()+"/t2/v2.0", "tid", "t2"), want: issuer.ReasonUntrustedIssuer, wantDesc: []string{"t2"}},
		{name: "claim rule false: the rule's message", idp: b, claims: set("iss", b.URL()+"/t1/v2.0", "tid", "t1", "roles", []string{"Writer"}), want: issuer.ReasonClaimRule, wantDesc: []string{"the token lacks the Reader role: assign it in the app registration"}},
		{name: "claim rule over a missing claim does not hold", idp: b, claims: set("iss", b.URL()+"/t1/v2.0", "tid", "t1"), want: issuer.ReasonClaimRule},
		{name: "issuer with an uncompilable rule refuses every token", idp: b, claims: set("iss", b.URL()+"/broken"), want: issuer.ReasonMisconfigured},

		// Malformed.
		{name: "empty", raw: func() string { return "" }, want: issuer.ReasonMalformed},
		{name: "garbage", raw: func() string { return "this-is-not-a-jwt-at-all" }, want: issuer.ReasonMalformed},
		{name: "two segments", raw: func() string { return b64(`{"alg":"RS256"}`) + "." + b64(`{"iss":"x"}`) }, want: issuer.ReasonMalformed},
		{name: "four segments", raw: func() string { return "a.b.c.d" }, want: issuer.ReasonMalformed},
		{name: "JWE (five segments)", raw: func() string { return b64(`{"alg":"RSA-OAEP","enc":"A256GCM"}`) + ".a.b.c.d" }, want: issuer.ReasonMalformed, wantDesc: []string{"JWE"}},
		{name: "bad base64 header", raw: func() string { return "!!!." + b64(`{"iss":"x"}`) + ".sig" }, want: issuer.ReasonMalformed},
		{name: "header not JSON", raw: func() string { return b64("not json") + "." + b64(`{}`) + ".c2ln" }, want: issuer.ReasonMalformed},
		{name: "bad base64 payload", raw: func() string { return b64(`{"alg":"RS256"}`) + ".@@@.c2ln" }, want: issuer.ReasonMalformed},
		{name: "bad base64 signature", raw: func() string {
			t := a.Sign(a.Claims("alice", stsAudience))
			return t[:strings.LastIndexByte(t, '.')] + ".***"
		}, want: issuer.ReasonMalformed},
		{name: "padded base64 segments", raw: func() string {
			return base64.URLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + base64.URLEncoding.EncodeToString([]byte(`{"iss":"x"}`)) + ".c2ln"
		}, want: issuer.ReasonMalformed},
		{name: "claims are a JSON array", opts: []testidp.SignOption{testidp.Payload([]byte(`["iss","sub"]`))}, want: issuer.ReasonMalformed},
		{name: "claims are not JSON", opts: []testidp.SignOption{testidp.Payload([]byte(`iss=x`))}, want: issuer.ReasonMalformed},
		{name: "exp is a string", claims: set("exp", "tomorrow"), want: issuer.ReasonMalformed},
		{name: "iss is a number", claims: set("iss", 42), want: issuer.ReasonMalformed},
		{name: "kid is not a string", opts: []testidp.SignOption{testidp.Header("kid", 7)}, want: issuer.ReasonMalformed},
		// Decoding is strict where a lenient parser would let a signed token
		// mean two things: one JSON object, one meaning.
		{name: "duplicate iss claim (a last-wins parser reads the trusted one)", opts: []testidp.SignOption{testidp.Payload(payload(a.Claims("alice", stsAudience), `"iss":"https://evil.example.com"`))}, want: issuer.ReasonMalformed},
		{name: "duplicate aud claim", opts: []testidp.SignOption{testidp.Payload(payload(a.Claims("alice", stsAudience), `"aud":"https://other.example"`))}, want: issuer.ReasonMalformed},
		{name: "duplicate alg header", raw: func() string {
			t := a.Sign(a.Claims("alice", stsAudience))
			return b64(`{"alg":"none","alg":"RS256","kid":"`+rsaKID+`"}`) + t[strings.IndexByte(t, '.'):]
		}, want: issuer.ReasonMalformed},
		{name: "claim names are case-sensitive: ISS is not iss", opts: []testidp.SignOption{testidp.Payload(payload(without(a.Claims("alice", stsAudience), "iss"), `"ISS":"`+a.Issuer()+`"`))}, want: issuer.ReasonUntrustedIssuer},
		{name: "exp is a numeric string", opts: []testidp.SignOption{testidp.Payload(payload(without(a.Claims("alice", stsAudience), "exp"), `"exp":"`+strconv.FormatInt(now.Add(time.Hour).Unix(), 10)+`"`))}, want: issuer.ReasonMalformed},
		{name: "nbf null is not a NumericDate", opts: []testidp.SignOption{testidp.Payload(payload(without(a.Claims("alice", stsAudience), "nbf"), `"nbf":null`))}, want: issuer.ReasonMalformed},
		{name: "iat null is not a NumericDate", opts: rawClaim(a, "iat", "null"), want: issuer.ReasonMalformed},
		{name: "exp null is not a NumericDate", opts: rawClaim(a, "exp", "null"), want: issuer.ReasonMalformed},
		{name: "invalid UTF-8 in a claim", opts: []testidp.SignOption{testidp.Payload(payload(a.Claims("alice", stsAudience), "\"xid\":\"\xff\""))}, want: issuer.ReasonMalformed},
		// Issue 12 finding 1: a NumericDate beyond what a time holds is the far
		// future (or past), never a wrapped-around date.
		{name: "nbf 1e19 is the far future", opts: rawClaim(a, "nbf", "1e19"), want: issuer.ReasonNotYetValid, wantDesc: []string{"far future"}},
		{name: "nbf 1e300 is the far future", opts: rawClaim(a, "nbf", "1e300"), want: issuer.ReasonNotYetValid, wantDesc: []string{"far future"}},
		{name: "nbf 9.3e18 is the far future", opts: rawClaim(a, "nbf", "9.3e18"), want: issuer.ReasonNotYetValid},
		{name: "nbf 9223372000000000000 is the far future", opts: rawClaim(a, "nbf", "9223372000000000000"), want: issuer.ReasonNotYetValid},
		{name: "nbf 1e400 (beyond float64) is the far future", opts: rawClaim(a, "nbf", "1e400"), want: issuer.ReasonNotYetValid},
		{name: "iat 1e19 is issued in the far future", opts: rawClaim(a, "iat", "1e19"), want: issuer.ReasonIssuedInFuture, wantDesc: []string{"far future"}},
		{name: "iat 9223372000000000000", opts: rawClaim(a, "iat", "9223372000000000000"), want: issuer.ReasonIssuedInFuture},
		{name: "exp -1e19 is the far past", opts: rawClaim(a, "exp", "-1e19"), want: issuer.ReasonExpired, wantDesc: []string{"far past"}},
		{name: "exp -99999999999999 (short integer) is the far past", opts: rawClaim(a, "exp", "-99999999999999"), want: issuer.ReasonExpired, wantDesc: []string{"far past"}},
		{name: "nbf -1e19 is the far past: no bar", opts: rawClaim(a, "nbf", "-1e19")},
		{name: "exp 1e19 is the far future: accepted, the grant caps the lifetime", opts: rawClaim(a, "exp", "1e19"), check: func(t *testing.T, p *issuer.Principal) {
			if p.Expiry.Year() != 9999 {
				t.Errorf("Expiry = %v, want the end of year 9999", p.Expiry)
			}
		}},
		// Issue 12 finding 2: a non-string member of aud is malformed, not skipped.
		{name: "aud [null, accepted]", opts: rawClaim(a, "aud", `[null,"`+stsAudience+`"]`), want: issuer.ReasonMalformed, wantDesc: []string{"aud must be a string or an array of strings"}},
		{name: "aud [1, accepted]", opts: rawClaim(a, "aud", `[1,"`+stsAudience+`"]`), want: issuer.ReasonMalformed},
		{name: "aud [[accepted]]", opts: rawClaim(a, "aud", `[["`+stsAudience+`"]]`), want: issuer.ReasonMalformed},
		{name: "aud object", opts: rawClaim(a, "aud", `{"a":"`+stsAudience+`"}`), want: issuer.ReasonMalformed},
		{name: "aud true", opts: rawClaim(a, "aud", `true`), want: issuer.ReasonMalformed},
		// Issue 12 finding 3: base64url exactly as RFC 7515 §2, one spelling per token.
		{name: "CRLF appended to the signature", raw: func() string { return a.Sign(a.Claims("alice", stsAudience)) + "\r\n" }, want: issuer.ReasonMalformed},
		{name: "LF inside the signature", raw: func() string {
			t := a.Sign(a.Claims("alice", stsAudience))
			return t[:len(t)-10] + "\n" + t[len(t)-10:]
		}, want: issuer.ReasonMalformed},
		{name: "CR inside the claims", raw: func() string {
			t := a.Sign(a.Claims("alice", stsAudience))
			i := strings.IndexByte(t, '.') + 5
			return t[:i] + "\r" + t[i:]
		}, want: issuer.ReasonMalformed},
		{name: "space inside the header", raw: func() string {
			t := a.Sign(a.Claims("alice", stsAudience))
			return t[:3] + " " + t[3:]
		}, want: issuer.ReasonMalformed},
		{name: "standard alphabet in the signature", raw: func() string {
			t := a.Sign(a.Claims("alice", stsAudience))
			return strings.NewReplacer("-", "+", "_", "/").Replace(t[:strings.LastIndexByte(t, '.')+1]) + strings.NewReplacer("-", "+", "_", "/").Replace(t[strings.LastIndexByte(t, '.')+1:])
		}, want: issuer.ReasonMalformed},
		{name: "non-zero trailing bits in the signature", raw: func() string { return flipTrailingBits(a.Sign(a.Claims("alice", stsAudience))) }, want: issuer.ReasonMalformed},
		{name: "token larger than MaxTokenBytes", claims: set("pad", strings.Repeat("p", issuer.MaxTokenBytes)), want: issuer.ReasonMalformed},

		// Untrusted issuer.
		{name: "no iss", claims: set("iss", nil), want: issuer.ReasonUntrustedIssuer},
		{name: "unknown iss", claims: set("iss", "https://evil.example.com"), want: issuer.ReasonUntrustedIssuer, wantDesc: []string{"https://evil.example.com"}},
		{name: "iss differs by a trailing slash", claims: set("iss", a.Issuer()+"/"), want: issuer.ReasonUntrustedIssuer},
		{name: "iss differs in case", claims: set("iss", strings.ToUpper(a.Issuer())), want: issuer.ReasonUntrustedIssuer},
		{name: "untrusted iss with an unknown alg", claims: set("iss", "https://evil.example.com"), opts: []testidp.SignOption{testidp.Header("alg", "XS999")}, want: issuer.ReasonUntrustedIssuer},

		// Token type.
		{name: "id_token type not allowed for the issuer", idp: b, tokenType: config.TokenTypeIDToken, want: issuer.ReasonTokenType},
		{name: "jwt type not allowed for the issuer", idp: b, tokenType: config.TokenTypeJWT, want: issuer.ReasonTokenType},
		{name: "header typ of another kind of JWT", opts: []testidp.SignOption{testidp.Header("typ", "dpop+jwt")}, want: issuer.ReasonTokenType},
		{name: "a Transaction Token is not a subject token", opts: []testidp.SignOption{testidp.Header("typ", "txntoken+jwt")}, want: issuer.ReasonTokenType},
		{name: "an ID-JAG is not a subject token", opts: []testidp.SignOption{testidp.Header("typ", "oauth-id-jag+jwt")}, want: issuer.ReasonTokenType},
		{name: "header typ not a string", opts: []testidp.SignOption{testidp.Header("typ", 1)}, want: issuer.ReasonTokenType},

		// Algorithm.
		{name: "alg none", opts: []testidp.SignOption{testidp.None()}, want: issuer.ReasonAlgorithm},
		{name: "alg NONE", opts: []testidp.SignOption{testidp.None(), testidp.Header("alg", "NONE")}, want: issuer.ReasonAlgorithm},
		{name: "alg Ed25519 (RFC 9864) is not in the issuer's allowlist", opts: []testidp.SignOption{testidp.Header("alg", "Ed25519")}, want: issuer.ReasonAlgorithm},
		{name: "HS256 keyed with the RSA public key", opts: []testidp.SignOption{testidp.HS256WithPublicKey()}, want: issuer.ReasonAlgorithm, wantDesc: []string{"HS256"}},
		{name: "HS256 without kid", opts: []testidp.SignOption{testidp.HS256WithPublicKey(), testidp.NoKID()}, want: issuer.ReasonAlgorithm},
		{name: "alg missing", opts: []testidp.SignOption{testidp.Header("alg", nil)}, want: issuer.ReasonAlgorithm},
		{name: "alg unknown to jwt", opts: []testidp.SignOption{testidp.Header("alg", "XS999")}, want: issuer.ReasonAlgorithm},
		{name: "alg known but not allowed (RS384)", opts: []testidp.SignOption{testidp.Header("alg", "RS384")}, want: issuer.ReasonAlgorithm},
		{name: "ES256 for an RS256-only issuer", idp: b, opts: []testidp.SignOption{testidp.Alg(testidp.ES256), testidp.SignedBy(b)}, want: issuer.ReasonAlgorithm},
		{name: "kid of the EC key on an RS256 token", opts: []testidp.SignOption{testidp.KID(ecKID)}, want: issuer.ReasonAlgorithm},

		// Key-carrying and critical headers (RFC 8725 §3.10, RFC 7515 §4.1.11).
		{name: "jku", opts: []testidp.SignOption{testidp.Header("jku", a.JWKSURI())}, want: issuer.ReasonHeader, wantDesc: []string{"jku"}},
		{name: "jwk", opts: []testidp.SignOption{testidp.Header("jwk", map[string]any{"kty": "RSA", "n": "AQAB", "e": "AQAB"})}, want: issuer.ReasonHeader},
		{name: "x5u", opts: []testidp.SignOption{testidp.Header("x5u", "https://evil.example/cert.pem")}, want: issuer.ReasonHeader},
		{name: "x5c", opts: []testidp.SignOption{testidp.Header("x5c", []string{"MIIB"})}, want: issuer.ReasonHeader},
		{name: "crit", opts: []testidp.SignOption{testidp.Header("crit", []string{"exp"}), testidp.Header("exp", 1)}, want: issuer.ReasonHeader},
		{name: "jku on a foreign-key token", opts: []testidp.SignOption{testidp.Foreign(), testidp.Header("jku", "https://evil.example/jwks")}, want: issuer.ReasonHeader},

		// Keys.
		{name: "unknown kid", opts: []testidp.SignOption{testidp.Foreign()}, want: issuer.ReasonUnknownKey},
		{name: "kid of the other trusted issuer, signed by it", opts: []testidp.SignOption{testidp.SignedBy(b)}, want: issuer.ReasonUnknownKey},
		{name: "kid of issuer a, signed by trusted issuer b", opts: []testidp.SignOption{testidp.SignedBy(b), testidp.KID(rsaKID)}, want: issuer.ReasonSignature},
		{name: "no kid, signed by trusted issuer b", opts: []testidp.SignOption{testidp.SignedBy(b), testidp.NoKID()}, want: issuer.ReasonSignature},
		{name: "issuer b's token signed by a, with b's kid", idp: b, opts: []testidp.SignOption{testidp.SignedBy(a), testidp.KID(b.KID(testidp.RS256))}, want: issuer.ReasonSignature},
		{name: "foreign key with a's kid", opts: []testidp.SignOption{testidp.Foreign(), testidp.KID(rsaKID)}, want: issuer.ReasonSignature},
		{name: "foreign EC key without kid", opts: []testidp.SignOption{testidp.Alg(testidp.ES256), testidp.Foreign(), testidp.NoKID()}, want: issuer.ReasonSignature},
		{name: "tampered claims", raw: func() string {
			parts := strings.Split(a.Sign(a.Claims("alice", stsAudience)), ".")
			c := a.Claims("admin", stsAudience)
			body, _ := json.Marshal(c)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(body) + "." + parts[2]
		}, want: issuer.ReasonSignature},
		{name: "Graph-style nonce header", opts: []testidp.SignOption{testidp.Foreign(), testidp.KID(rsaKID), testidp.Header("nonce", "abc")}, want: issuer.ReasonSignature, wantDesc: []string{"nonce"}},
		{name: "JWKS of the issuer is down", idp: down, want: issuer.ReasonKeysUnavailable},

		// Time.
		{name: "expired", claims: set("exp", now.Add(-time.Hour).Unix()), want: issuer.ReasonExpired, wantDesc: []string{"expired"}},
		{name: "expired just beyond leeway", claims: set("exp", now.Add(-31*time.Second).Unix()), want: issuer.ReasonExpired},
		{name: "not yet valid", claims: set("nbf", now.Add(time.Hour).Unix()), want: issuer.ReasonNotYetValid},
		{name: "issued in the future", claims: set("iat", now.Add(time.Hour).Unix()), want: issuer.ReasonIssuedInFuture},
		{name: "no exp", claims: set("exp", nil), want: issuer.ReasonMissingClaim, wantDesc: []string{"exp"}},

		// Claims.
		{name: "no sub", claims: set("sub", nil), want: issuer.ReasonMissingClaim, wantDesc: []string{"sub"}},
		{name: "empty sub", claims: set("sub", ""), want: issuer.ReasonMissingClaim},
		{name: "audience of another resource", claims: set("aud", "https://graph.microsoft.com"), want: issuer.ReasonAudience, wantDesc: []string{"https://graph.microsoft.com"}},
		{name: "no audience", claims: set("aud", nil), want: issuer.ReasonAudience},
		{name: "audience of issuer b on a's token", claims: set("aud", "api://b"), want: issuer.ReasonAudience},

		// ID tokens sent as access tokens.
		{name: "ID token: nonce claim", claims: set("nonce", "n-0S6"), want: issuer.ReasonIDToken, wantDesc: []string{"ID token", "nonce"}},
		{name: "ID token: at_hash", claims: set("at_hash", "77QmUPtjPfzWtF2AnpK9RQ"), want: issuer.ReasonIDToken},
		{name: "ID token: token_use id (Cognito)", claims: set("token_use", "id"), want: issuer.ReasonIDToken},
		{name: "ID token: aud is the client id (azp)", claims: set("aud", "web-app", "azp", "web-app"), want: issuer.ReasonIDToken, wantDesc: []string{"web-app"}},
		{name: "ID token as jwt type", claims: set("nonce", "n"), tokenType: config.TokenTypeJWT, want: issuer.ReasonIDToken},
	}

	covered := map[issuer.Reason]bool{}
	for _, tt := range tests {
		covered[tt.want] = true
	}
	for _, r := range allReasons {
		if !covered[r] {
			t.Errorf("no test case wants reason %s", r)
		}
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := tt.idp
			if idp == nil {
				idp = a
			}
			var raw string
			if tt.raw != nil {
				raw = tt.raw()
			} else {
				c := idp.Claims("alice", stsAudience)
				if tt.claims != nil {
					tt.claims(c)
				}
				raw = idp.Sign(c, tt.opts...)
			}
			typ := tt.tokenType
			if typ == "" {
				typ = config.TokenTypeAccessToken
			}
			p, err := reg.Verify(context.Background(), raw, typ)
			if got := reasonOf(t, err); got != tt.want {
				t.Fatalf("reason = %q, want %q (err: %v)", got, tt.want, err)
			}
			explainAgrees(t, reg, raw, typ, tt.want)
			checkNoLeak(t, raw, err)
			if err != nil {
				if p != nil {
					t.Errorf("a refused token returned a principal")
				}
				desc := err.(*issuer.Error).Description
				for _, d := range tt.wantDesc {
					if !strings.Contains(desc, d) {
						t.Errorf("description %q does not mention %q", desc, d)
					}
				}
				return
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

// TestUnknownKIDRefetchIsRateLimited: an unknown kid refetches the issuer's
// JWKS at most once per UnknownKIDInterval, and every unknown kid is reported
// as unknown_key_id, whether or not it caused a refetch.
func TestUnknownKIDRefetchIsRateLimited(t *testing.T) {
	idp := testidp.New(t)
	reg := newRegistry(t, issuer.Options{UnknownKIDInterval: time.Hour}, trusted("a", idp))
	waitReady(t, reg)
	start := idp.JWKSFetches()

	for i := range 5 {
		raw := idp.Sign(idp.Claims("alice", stsAudience), testidp.KID(fmt.Sprintf("unknown-%d", i)), testidp.Foreign())
		_, err := reg.Verify(context.Background(), raw, "access_token")
		if got := reasonOf(t, err); got != issuer.ReasonUnknownKey {
			t.Errorf("unknown kid #%d: reason = %q, want %q (err: %v)", i, got, issuer.ReasonUnknownKey, err)
		}
	}
	if got := idp.JWKSFetches() - start; got != 1 {
		t.Errorf("5 unknown kids caused %d JWKS fetches, want 1", got)
	}

	// A key rotated in within the interval is not seen yet: refused, no fetch.
	idp.Rotate(true)
	_, err := reg.Verify(context.Background(), idp.Sign(idp.Claims("alice", stsAudience)), "access_token")
	if got := reasonOf(t, err); got != issuer.ReasonUnknownKey {
		t.Errorf("rotated key within the interval: reason = %q, want %q", got, issuer.ReasonUnknownKey)
	}
	if got := idp.JWKSFetches() - start; got != 1 {
		t.Errorf("JWKS fetches = %d, want still 1", got)
	}
}

// TestUnknownKIDRefetchFindsRotatedKey: once the interval allows it, a new kid
// refetches the JWKS and verifies; a key removed from the JWKS stops verifying.
func TestUnknownKIDRefetchFindsRotatedKey(t *testing.T) {
	idp := testidp.New(t)
	reg := newRegistry(t, issuer.Options{UnknownKIDInterval: time.Millisecond}, trusted("a", idp))
	waitReady(t, reg)
	old := idp.Sign(idp.Claims("alice", stsAudience))
	if _, err := reg.Verify(context.Background(), old, "access_token"); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	idp.Rotate(false)
	if _, err := reg.Verify(context.Background(), idp.Sign(idp.Claims("alice", stsAudience)), "access_token"); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	_, err := reg.Verify(context.Background(), old, "access_token")
	if got := reasonOf(t, err); got != issuer.ReasonUnknownKey {
		t.Errorf("token of the removed key: reason = %q, want %q", got, issuer.ReasonUnknownKey)
	}
}

func TestInlineJWKS(t *testing.T) {
	idp := testidp.New(t)
	resp, err := (&httpGetter{}).get(idp.JWKSURI())
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(resp, &doc); err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, issuer.Options{}, trusted("inline", idp, func(is *config.Issuer) { is.JWKSURI, is.JWKS = "", doc }))
	waitReady(t, reg)
	fetches := idp.JWKSFetches()
	if _, err := reg.Verify(context.Background(), idp.Sign(idp.Claims("alice", stsAudience)), "access_token"); err != nil {
		t.Fatalf("verify with inline keys: %v", err)
	}
	_, err = reg.Verify(context.Background(), idp.Sign(idp.Claims("alice", stsAudience), testidp.Foreign()), "access_token")
	if got := reasonOf(t, err); got != issuer.ReasonUnknownKey {
		t.Errorf("unknown kid with inline keys: reason = %q", got)
	}
	if idp.JWKSFetches() != fetches {
		t.Errorf("inline keys caused a JWKS fetch")
	}
}

// TestPrincipalHasAct: the exchange decodes a subject's full claims for
// delegation only when the token carries an act claim, so HasAct must be
// exactly "an act claim is present".
func TestPrincipalHasAct(t *testing.T) {
	idp := testidp.New(t)
	reg := newRegistry(t, issuer.Options{}, trusted("corp", idp))
	waitReady(t, reg)
	tests := []struct {
		name string
		act  any // nil: no act claim
		want bool
	}{
		{"no act", nil, false},
		{"act object", map[string]any{"sub": "svc-a"}, true},
		{"act null", "null", false},
		{"act malformed (a string)", "svc-a", true}, // judged by the delegation step
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := idp.Claims("alice", stsAudience)
			switch tc.act {
			case nil:
			case "null":
				c["act"] = nil
			default:
				c["act"] = tc.act
			}
			pr, err := reg.Verify(context.Background(), idp.Sign(c), "access_token")
			if err != nil {
				t.Fatal(err)
			}
			if pr.HasAct != tc.want {
				t.Errorf("HasAct = %v, want %v", pr.HasAct, tc.want)
			}
		})
	}
}
