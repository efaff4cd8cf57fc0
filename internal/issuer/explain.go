package issuer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/jws"
)

// Check is the outcome of one check of a subject token, for `tokex explain`.
type Check struct {
	Name   string // one of the Check* names
	Detail string // what was found when the check passed
	Err    *Error // the refusal when it failed (or, with NotRun, the refusal that kept it from running)
	NotRun string // why the check did not run; "" when it ran
}

// Check names, in the order Verify runs them.
const (
	CheckToken     = "token"
	CheckIssuer    = "iss"
	CheckConfig    = "issuer config" // the issuer's policy entry could be built
	CheckType      = "type"
	CheckAlg       = "alg"
	CheckHeader    = "header"
	CheckKID       = "kid"
	CheckSignature = "signature"
	CheckTime      = "exp/nbf/iat"
	CheckSubject   = "sub"
	CheckTenant    = "tid" // a template issuer's tenant
	CheckIDToken   = "id token"
	CheckAudience  = "aud"
	CheckValidate  = "validate" // the issuer's validate rules
	CheckMapping   = "subject"  // the issuer's subject expression and subject_prefix
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
	all := []string{CheckToken, CheckIssuer, CheckConfig, CheckType, CheckAlg, CheckHeader, CheckKID, CheckSignature,
		CheckTime, CheckSubject, CheckTenant, CheckIDToken, CheckAudience, CheckValidate, CheckMapping}

	tok, parts, claims, err := r.decode(raw)
	if !add(CheckToken, "a JWS compact serialization", err) {
		notRun("the token could not be decoded", all[1:]...)
		return nil, out
	}
	v, tenant, err := r.route(claims)
	if !add(CheckIssuer, fmt.Sprintf("%q is issuer %q of the policy", jws.Clip(claims.Issuer), nameOf(v)), err) {
		notRun("the issuer is not trusted", all[2:]...)
		return nil, out
	}
	configOK := add(CheckConfig, "the issuer's policy entry is in effect", v.checkConfig())
	add(CheckType, tokenType, v.checkTokenType(tokenType))
	alg, _ := tok.Header["alg"].(string)
	algOK := add(CheckAlg, jws.Clip(alg), v.checkAlg(tok))
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
			add(CheckSignature, "verifies with the keys of issuer "+fmt.Sprintf("%q", v.cfg.Name), v.checkSignature(tok, claims, key))
		}
	}
	add(CheckTime, timeDetail(claims), v.checkTime(claims))
	add(CheckSubject, fmt.Sprintf("%q", jws.Clip(claims.Subject)), checkSubject(claims))
	add(CheckTenant, tenantDetail(tenant), v.checkTenant(claims, tenant))
	add(CheckIDToken, idTokenDetail(tokenType), v.checkIDToken(claims, tokenType))
	aud, _ := v.audienceOf(claims, tokenType)
	add(CheckAudience, quoteList(aud), v.checkAudience(claims, tokenType))
	p := v.principal(claims, parts, tokenType, tenant)
	if !configOK {
		notRun("the issuer is misconfigured", CheckValidate, CheckMapping)
		return p, out
	}
	add(CheckValidate, validateDetail(len(v.checks.rules)), v.checks.checkRules(ctx, p))
	from := "the sub claim"
	if v.checks.subject != nil {
		from = "the subject expression"
	}
	if v.checks.prefix != "" {
		from += " after subject_prefix"
	}
	err = v.checks.setSubject(ctx, v.cfg, p)
	add(CheckMapping, fmt.Sprintf("%q, from %s", jws.Clip(p.Subject), from), err)
	return p, out
}

func tenantDetail(tenant string) string {
	if tenant == "" {
		return "not a {tenantid} issuer"
	}
	return fmt.Sprintf("tid is %q, the tenant of the iss", jws.Clip(tenant))
}

func idTokenDetail(tokenType string) string {
	if tokenType == config.TokenTypeIDToken {
		return "sent as an ID token: aud is checked against id_token_audiences"
	}
	return "not an ID token"
}

func validateDetail(n int) string {
	if n == 0 {
		return "the issuer has no validate rules"
	}
	return fmt.Sprintf("the validate rules hold (%d)", n)
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
	return fmt.Sprintf("typ %q, no key-bearing or critical headers", jws.Clip(typ))
}

func kidDetail(kid string) string {
	if kid == "" {
		return "no kid: every key of the issuer is tried"
	}
	return fmt.Sprintf("%q", jws.Clip(kid))
}

func timeDetail(c *tokenClaims) string {
	var parts []string
	for _, t := range []struct {
		name string
		n    *jws.NumericDate
	}{{"exp", &c.ExpiresAt}, {"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}} {
		if t.n.Present() {
			parts = append(parts, t.name+" "+t.n.String())
		}
	}
	return strings.Join(parts, ", ")
}
