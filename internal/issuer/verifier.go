package issuer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/idp"
	"github.com/tokex/tokex/internal/jws"
)

// verifier validates the tokens of one trusted issuer with its own keys.
type verifier struct {
	cfg       config.Issuer
	leeway    time.Duration
	validator *jwt.Validator
	now       func() time.Time
	algs      []string

	kf      atomic.Pointer[keyfunc.Keyfunc] // nil until the issuer's keys could be loaded
	fetch   *fetchState                     // nil for inline keys
	jwksURL atomic.Pointer[string]
	mu      sync.Mutex // serialises key set initialisation
	lastTry atomic.Pointer[time.Time]
	reg     *Registry
	client  *http.Client
	ctx     context.Context // ends the key refresh of this verifier
	checks  *setup          // validate rules, subject, transport; shared by a template's tenants
	label   string          // name, or name[tenant] for a tenant of a template
	count   func(ok bool)   // counts upstream requests; never nil
}

func newVerifier(ctx context.Context, r *Registry, cfg config.Issuer, checks *setup, label string) *verifier {
	now := r.opts.Now
	v := &verifier{cfg: cfg, now: now, algs: cfg.Algorithms, reg: r, ctx: ctx, checks: checks, label: label, count: r.fetchCounter(cfg.Name)}
	if cfg.JWKS == nil && cfg.JWKSFile == "" {
		v.fetch = &fetchState{}
		v.client = &http.Client{
			Timeout:   r.opts.HTTPTimeout,
			Transport: transport{base: checks.base, state: v.fetch},
			// A redirect to another host is how a JWKS URL gets hijacked; the
			// IdPs tokex supports serve keys without redirects.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Leeway != nil {
		v.leeway = cfg.Leeway.D()
	}
	// jwt's validator for the time claims: exp required (SPEC §5.2), nbf and iat
	// honoured with the issuer's leeway.
	v.validator = jwt.NewValidator(jwt.WithLeeway(v.leeway), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(now))
	return v
}

// headers that would make a verifier fetch or trust key material named by the
// token itself (RFC 8725 §3.10): refused, never followed.
var keyHeaders = []string{"jku", "jwk", "x5u", "x5c"}

// verify checks tok against this issuer; tenant is the {tenantid} of a
// template issuer's iss ("" otherwise), which the tid claim must equal.
func (v *verifier) verify(ctx context.Context, tok *jwt.Token, parts []string, claims *tokenClaims, tokenType, tenant string) (*Principal, error) {
	// The steps run in this order and stop at the first failure; Explain runs
	// the same steps and goes on past failures.
	if err := v.checkConfig(); err != nil {
		return nil, err
	}
	if err := v.checkTokenType(tokenType); err != nil {
		return nil, err
	}
	if err := v.checkAlg(tok); err != nil {
		return nil, err
	}
	if err := checkHeaders(tok); err != nil {
		return nil, err
	}
	if err := checkTyp(tok); err != nil {
		return nil, err
	}
	key, err := v.key(ctx, tok)
	if err != nil {
		return nil, err
	}
	if err := v.checkSignature(tok, claims, key); err != nil {
		return nil, err
	}
	if err := v.checkTime(claims); err != nil {
		return nil, err
	}
	if err := checkSubject(claims); err != nil {
		return nil, err
	}
	if err := v.checkTenant(claims, tenant); err != nil {
		return nil, err
	}
	if err := v.checkIDToken(claims, tokenType); err != nil {
		return nil, err
	}
	if err := v.checkAudience(claims, tokenType); err != nil {
		return nil, err
	}
	p := v.principal(claims, parts, tokenType, tenant)
	if err := v.checks.checkRules(ctx, p); err != nil {
		return nil, err
	}
	if err := v.checks.setSubject(ctx, v.cfg, p); err != nil {
		return nil, err
	}
	return p, nil
}

// checkConfig refuses every token of an issuer whose policy entry could not
// be built (a policy that skipped validation): fail closed.
func (v *verifier) checkConfig() error {
	if v.checks.err != nil {
		return refuse(ReasonMisconfigured, v.checks.err, "issuer %q is misconfigured; tokex's operator must fix its policy", v.cfg.Name)
	}
	return nil
}

func (v *verifier) checkTokenType(tokenType string) error {
	if !slices.Contains(v.cfg.TokenTypes, tokenType) {
		return refuse(ReasonTokenType, nil, "subject_token_type %s is not accepted for issuer %q (accepted: %s)",
			tokenType, v.cfg.Name, strings.Join(v.cfg.TokenTypes, ", "))
	}
	return nil
}

func (v *verifier) checkAlg(tok *jwt.Token) error {
	alg, _ := tok.Header["alg"].(string)
	if !slices.Contains(v.algs, alg) {
		why := ""
		switch config.ClassifyAlg(alg) {
		case config.AlgUnsigned:
			why = ": an unsigned token is never accepted"
		case config.AlgHMAC:
			why = ": HMAC is never accepted for a JWKS issuer"
		}
		return refuse(ReasonAlgorithm, nil, "algorithm %q is not allowed for issuer %q (allowed: %s)%s",
			jws.Clip(alg), v.cfg.Name, strings.Join(v.algs, ", "), why)
	}
	return nil
}

func checkHeaders(tok *jwt.Token) error {
	for _, h := range keyHeaders {
		if _, ok := tok.Header[h]; ok {
			return refuse(ReasonHeader, nil, "header %q is not accepted: tokex never takes keys or key URLs from a token", h)
		}
	}
	if _, ok := tok.Header["crit"]; ok {
		// RFC 7515 §4.1.11: a recipient that does not understand a critical
		// extension must reject the token; tokex understands none.
		return refuse(ReasonHeader, nil, "header \"crit\" names extensions tokex does not support")
	}
	return nil
}

func checkTyp(tok *jwt.Token) error {
	if typ, ok := tok.Header["typ"]; ok {
		t, _ := typ.(string)
		switch strings.TrimPrefix(strings.ToLower(t), "application/") {
		case "jwt", "at+jwt":
		default:
			return refuse(ReasonTokenType, nil, "token header typ %q is not an access token or JWT", jws.Clip(t))
		}
	}
	return nil
}

// key finds the verification key (or this issuer's key set, for a token
// without kid), loading the issuer's keys first if they are not yet loaded.
func (v *verifier) key(ctx context.Context, tok *jwt.Token) (any, error) {
	kf := v.kf.Load()
	if kf == nil {
		if err := v.tryLoadKeys(ctx); err != nil {
			return nil, refuse(ReasonKeysUnavailable, err, "the signing keys of issuer %q cannot be fetched right now", v.cfg.Name)
		}
		kf = v.kf.Load()
	}
	key, err := (*kf).KeyfuncCtx(ctx)(tok)
	if err != nil {
		return nil, v.keyError(ctx, tok, *kf, err)
	}
	return key, nil
}

func (v *verifier) checkSignature(tok *jwt.Token, claims *tokenClaims, key any) error {
	// RFC 7515 §4.1.4: kid is optional; without one, every key of this
	// issuer only is tried.
	if k, ok := key.(jwt.VerificationKeySet); ok && len(k.Keys) == 0 {
		return refuse(ReasonKeysUnavailable, nil, "issuer %q has published no keys", v.cfg.Name)
	}
	err := jws.Verify(tok, key)
	if err != nil {
		if idp.GraphToken(claims.Audience) {
			return v.graphError(err)
		}
		desc := fmt.Sprintf("signature does not verify with the keys of issuer %q", v.cfg.Name)
		if idp.GraphHeader(tok.Header) {
			// Entra ID puts a nonce in the header of Microsoft Graph tokens; only
			// Graph can validate them.
			desc += fmt.Sprintf("; the token has a nonce header, as Microsoft Graph tokens do: it was issued for another resource; request a token for %s instead", v.audienceHint())
		}
		return refuse(ReasonSignature, err, "%s", desc)
	}
	return nil
}

func (v *verifier) checkTime(claims *tokenClaims) error {
	if err := v.validator.Validate(claims); err != nil {
		return v.timeError(claims, err)
	}
	return nil
}

func checkSubject(claims *tokenClaims) error {
	if claims.Subject == "" {
		return refuse(ReasonMissingClaim, nil, "the token has no sub claim; a subject is required (RFC 9068 §2.2)")
	}
	return nil
}

// checkTenant: the iss of a template issuer names one tenant, and tid must
// name the same; a token of one tenant must never pass as another's (Entra
// ID: validate tid against iss).
func (v *verifier) checkTenant(claims *tokenClaims, tenant string) error {
	if tenant != "" && claims.TenantID.s != tenant {
		return refuse(ReasonTenant, nil, "the token's tid claim %q does not match the tenant %q of its iss; issuer %q accepts a tenant's tokens only with that tenant's tid",
			jws.Clip(claims.TenantID.s), tenant, v.cfg.Name)
	}
	return nil
}

// checkIDToken refuses an ID token sent as an access token; an ID token sent
// as one is judged by checkAudience against id_token_audiences.
func (v *verifier) checkIDToken(claims *tokenClaims, tokenType string) error {
	if tokenType == config.TokenTypeIDToken {
		return nil
	}
	if tell := idp.IDTokenTell(claims.idTokenClaims(), v.cfg.Audiences); tell != "" {
		hint := ""
		if slices.Contains(v.cfg.TokenTypes, config.TokenTypeIDToken) {
			hint = "; or, if an ID token is meant, send it with subject_token_type urn:ietf:params:oauth:token-type:id_token"
		}
		return refuse(ReasonIDToken, nil, "this is an ID token (%s), sent where an access token belongs: send the access token instead%s", tell, hint)
	}
	return nil
}

// audienceOf is the token's audience as the issuer reads it, and the
// audiences the issuer accepts for tokens of tokenType.
func (v *verifier) audienceOf(claims *tokenClaims, tokenType string) (aud jws.Audience, accepted []string) {
	if tokenType == config.TokenTypeIDToken {
		// An ID token's aud is the client it was issued to (OIDC Core §2).
		return claims.Audience, v.cfg.IDTokenAudiences
	}
	if v.cfg.AudienceClaim == "client_id" {
		// AWS Cognito access tokens carry no aud; client_id names the app.
		if c := claims.ClientID.s; c != "" {
			return jws.Audience{c}, v.cfg.Audiences
		}
		return nil, v.cfg.Audiences
	}
	return claims.Audience, v.cfg.Audiences
}

func (v *verifier) checkAudience(claims *tokenClaims, tokenType string) error {
	aud, accepted := v.audienceOf(claims, tokenType)
	if !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(accepted, a) }) {
		if idp.GraphToken(claims.Audience) {
			return v.graphError(nil)
		}
		if tokenType == config.TokenTypeIDToken {
			return refuse(ReasonAudience, nil, "audience not accepted: the ID token is for %s; issuer %q accepts ID tokens issued to the clients %s",
				quoteList(aud), v.cfg.Name, quoteList(accepted))
		}
		return refuse(ReasonAudience, nil, "audience not accepted: the token is for %s; issuer %q tokens must be for %s",
			quoteList(aud), v.cfg.Name, quoteList(accepted))
	}
	return nil
}

// principal is the validated token's subject before the issuer's validate
// rules and subject mapping (setup.checkRules, setup.setSubject).
func (v *verifier) principal(claims *tokenClaims, parts []string, tokenType, tenant string) *Principal {
	p := &Principal{
		Issuer:       v.cfg.Name,
		IssuerURL:    claims.Issuer,
		Subject:      claims.Subject,
		Audience:     claims.Audience,
		TokenID:      claims.ID,
		TokenType:    tokenType,
		Tenant:       tenant,
		HasAct:       len(claims.Act) > 0 && string(claims.Act) != "null",
		Confirmation: claims.Cnf,
		Payload:      parts[1],
	}
	if exp, _ := claims.GetExpirationTime(); exp != nil { // validated above
		p.Expiry = exp.Time
	}
	if iat, _ := claims.GetIssuedAt(); iat != nil {
		p.IssuedAt = iat.Time
	}
	for _, c := range [...]looseString{claims.Azp, claims.ClientID, claims.AppID} {
		if c.s != "" {
			p.ClientID = c.s
			break
		}
	}
	return p
}

func (v *verifier) keyError(ctx context.Context, tok *jwt.Token, kf keyfunc.Keyfunc, err error) error {
	name := v.cfg.Name
	kid, isString := tok.Header["kid"].(string)
	if _, ok := tok.Header["kid"]; ok && !isString {
		return refuse(ReasonMalformed, err, "the kid header must be a string")
	}
	all, _ := kf.Storage().KeyReadAll(ctx)
	// jwkset says ErrKeyNotFound only when it was allowed to refetch; when the
	// unknown-kid rate limit forbids a refetch it returns the limiter's error
	// instead. Either way the kid is not among the issuer's keys.
	if errors.Is(err, jwkset.ErrKeyNotFound) || !slices.ContainsFunc(all, func(k jwkset.JWK) bool { return k.Marshal().KID == kid }) {
		if len(all) == 0 {
			return refuse(ReasonKeysUnavailable, err, "the signing keys of issuer %q cannot be fetched right now", name)
		}
		if v.fetch != nil && v.fetch.failing() {
			return refuse(ReasonKeysUnavailable, err, "key id %q is not among the known keys of issuer %q, and its JWKS cannot be fetched right now", jws.Clip(kid), name)
		}
		return refuse(ReasonUnknownKey, err, "unknown key id %q: not in the JWKS of issuer %q", jws.Clip(kid), name)
	}
	// keyfunc refuses a JWK whose alg differs from the token's.
	return refuse(ReasonAlgorithm, err, "key %q of issuer %q is not for algorithm %q", jws.Clip(kid), name, tok.Header["alg"])
}

func (v *verifier) timeError(c *tokenClaims, err error) error {
	now := v.now().UTC().Truncate(time.Second)
	lw := ""
	if v.leeway > 0 {
		lw = fmt.Sprintf(", leeway %s", v.leeway)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return refuse(ReasonMissingClaim, err, "the token has no exp claim; an expiry is required")
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ReasonExpired, err, "the token expired at %s (now %s%s)", c.ExpiresAt.String(), now.Format(time.RFC3339), lw)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse(ReasonNotYetValid, err, "the token is not valid before %s (now %s%s)", c.NotBefore.String(), now.Format(time.RFC3339), lw)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse(ReasonIssuedInFuture, err, "the token was issued in the future, at %s (now %s%s)", c.IssuedAt.String(), now.Format(time.RFC3339), lw)
	}
	return refuse(ReasonMalformed, err, "the token's time claims are not valid")
}

func quoteList(xs []string) string {
	if len(xs) == 0 {
		return "no audience"
	}
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", jws.Clip(x))
	}
	return strings.Join(q, ", ")
}
