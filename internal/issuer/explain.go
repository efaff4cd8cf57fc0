package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Check is the outcome of one check of a subject token, for `tokex explain`.
type Check struct {
	Name   string // token, iss, type, alg, header, kid, signature, exp/nbf/iat, sub, id token, aud
	Detail string // what was found when the check passed
	Err    *Error // the refusal when it failed (or, with NotRun, the refusal that kept it from running)
	NotRun string // why the check did not run; "" when it ran
}

// Check names, in the order Verify runs them.
const (
	CheckToken     = "token"
	CheckIssuer    = "iss"
	CheckType      = "type"
	CheckAlg       = "alg"
	CheckHeader    = "header"
	CheckKID       = "kid"
	CheckSignature = "signature"
	CheckTime      = "exp/nbf/iat"
	CheckSubject   = "sub"
	CheckIDToken   = "id token"
	CheckAudience  = "aud"
)

// Explain runs the checks of Verify on raw, but goes on past a failure so
// that every check is reported. Keys are fetched only when the issuer's keys
// are not loaded yet (inline keys need no fetch); when they cannot be had, kid
// and signature are reported as not run and the claim checks still run.
//
// The Principal is returned whenever the token decodes and names a trusted
// issuer, even if a check failed, so the policy checks can be explained too.
// It is nil otherwise. Verify, not Explain, decides exchanges.
func (r *Registry) Explain(ctx context.Context, raw, tokenType string) (*Principal, []Check) {
	var out []Check
	add := func(name, detail string, err error) bool {
		c := Check{Name: name, Detail: detail}
		if err != nil {
			if !errors.As(err, &c.Err) {
				c.Err = refuse(ReasonMalformed, err, "%s check failed", name)
			}
			c.Detail = ""
		}
		out = append(out, c)
		return err == nil
	}
	notRun := func(why string, names ...string) {
		for _, n := range names {
			out = append(out, Check{Name: n, NotRun: why})
		}
	}
	all := []string{CheckToken, CheckIssuer, CheckType, CheckAlg, CheckHeader, CheckKID, CheckSignature, CheckTime, CheckSubject, CheckIDToken, CheckAudience}

	tok, parts, claims, err := r.decode(raw)
	if !add(CheckToken, "a JWS compact serialization", err) {
		notRun("the token could not be decoded", all[1:]...)
		return nil, out
	}
	v, err := r.route(claims)
	if !add(CheckIssuer, fmt.Sprintf("%q is issuer %q of the policy", clip(claims.Issuer), nameOf(v)), err) {
		notRun("the issuer is not trusted", all[2:]...)
		return nil, out
	}
	add(CheckType, tokenType, v.checkTokenType(tokenType))
	alg, _ := tok.Header["alg"].(string)
	algOK := add(CheckAlg, clip(alg), v.checkAlg(tok))
	typ, _ := tok.Header["typ"].(string)
	add(CheckHeader, headerDetail(typ), errors.Join(checkHeaders(tok), checkTyp(tok)))

	kid, _ := tok.Header["kid"].(string)
	switch {
	case !algOK:
		notRun("the algorithm is not allowed", CheckKID, CheckSignature)
	case tok.Method == nil || tok.Signature == nil:
		add(CheckKID, kidDetail(kid), nil)
		add(CheckSignature, "", refuse(ReasonMalformed, jwt.ErrTokenUnverifiable, "the token's signature could not be decoded"))
	default:
		key, err := v.key(ctx, tok)
		var ie *Error
		switch {
		case errors.As(err, &ie) && ie.Reason == ReasonKeysUnavailable:
			// The exchange would be answered temporarily_unavailable: keep
			// the refusal with the check that did not run.
			out = append(out, Check{Name: CheckKID, NotRun: ie.Description, Err: ie})
			notRun("no key to verify with", CheckSignature)
		case !add(CheckKID, kidDetail(kid), err):
			notRun("no key to verify with", CheckSignature)
		default:
			add(CheckSignature, "verifies with the keys of issuer "+fmt.Sprintf("%q", v.cfg.Name), v.checkSignature(tok, parts, key))
		}
	}
	add(CheckTime, timeDetail(claims), v.checkTime(claims))
	add(CheckSubject, fmt.Sprintf("%q", clip(claims.Subject)), checkSubject(claims))
	add(CheckIDToken, "not an ID token, or ID tokens are accepted", v.checkIDToken(claims, tokenType))
	add(CheckAudience, quoteList(claims.Audience), v.checkAudience(claims))
	return v.principal(claims, parts, tokenType), out
}

func nameOf(v *verifier) string {
	if v == nil {
		return ""
	}
	return v.cfg.Name
}

func headerDetail(typ string) string {
	if typ == "" {
		return "no typ, no key-bearing or critical headers"
	}
	return fmt.Sprintf("typ %q, no key-bearing or critical headers", clip(typ))
}

func kidDetail(kid string) string {
	if kid == "" {
		return "no kid: every key of the issuer is tried"
	}
	return fmt.Sprintf("%q", clip(kid))
}

func timeDetail(c *tokenClaims) string {
	var parts []string
	for _, t := range []struct {
		name string
		n    json.Number
	}{{"exp", c.ExpiresAt}, {"nbf", c.NotBefore}, {"iat", c.IssuedAt}} {
		if t.n != "" {
			parts = append(parts, t.name+" "+rfc3339(t.n))
		}
	}
	return strings.Join(parts, ", ")
}
