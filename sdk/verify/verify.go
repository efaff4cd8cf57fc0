package verify

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/tokex/tokex/internal/dpop"
	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/replay"
	"github.com/tokex/tokex/sdk/internal/metadata"
)

// Defaults of Config.
const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat: the same
	// as tokex allows its upstream issuers by default.
	DefaultLeeway = 30 * time.Second
	// DefaultRefreshInterval is how often the JWKS is fetched in the background.
	DefaultRefreshInterval = 15 * time.Minute
	// DefaultUnknownKIDInterval is how often at most a token with an unknown
	// kid makes the JWKS be fetched again (key rotation); beyond that such
	// tokens are refused at once.
	DefaultUnknownKIDInterval = time.Minute
)

// DefaultAlgorithms are the token signing algorithms accepted by default:
// asymmetric only.
var DefaultAlgorithms = []string{"ES256", "RS256", "PS256", "EdDSA"}

// ReplayCache records DPoP proof identifiers until they expire, so that a
// proof is accepted once (RFC 9449 §11.1). Use reports false for a key
// already recorded; an error refuses the request (fail closed). Share one
// cache (e.g. Redis SET NX PX) between replicas of an API.
type ReplayCache interface {
	Use(ctx context.Context, key string, exp time.Time) (fresh bool, err error)
}

// Config configures a Verifier.
type Config struct {
	// Issuer is tokex's issuer, exactly as its metadata says (no trailing
	// slash added or removed): the only accepted iss.
	Issuer string
	// Audience is this API's identifier: the aud tokex mints for it. It may
	// be left out by a workload that verifies only Transaction Tokens (set
	// TrustDomain); Verify then refuses to run (ErrNoAudience).
	Audience string
	// TrustDomain is the trust domain this workload is in, as tokex names
	// it in the aud of Transaction Tokens (e.g. https://trust.example.com,
	// or a URN): the only aud VerifyTxnToken accepts. Without it
	// VerifyTxnToken refuses to run (ErrNoTrustDomain).
	TrustDomain string
	// JWKSURL is where the issuer's keys are; default: jwks_uri from the
	// issuer's RFC 8414 metadata (Issuer + /.well-known/oauth-authorization-server).
	JWKSURL string
	// Algorithms is the allowlist of token signing algorithms; default
	// DefaultAlgorithms. none and HMAC (HS*) are never accepted.
	Algorithms []string
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 means
	// DefaultLeeway, a negative value none.
	Leeway time.Duration
	// RequireBinding refuses bearer tokens: only sender-constrained tokens
	// (cnf.jkt with DPoP, cnf.x5t#S256 with mTLS) are accepted.
	RequireBinding bool
	// PublicURL is this API's base URL as its callers reach it (e.g.
	// https://api.example.com, or https://gw.example.com/orders behind a
	// gateway that strips /orders). A DPoP proof's htu must be PublicURL
	// followed by the request's path. Default: the scheme of the connection
	// (https when r.TLS is set) and r.Host. X-Forwarded-* headers are never
	// read: behind a TLS-terminating proxy, set PublicURL.
	PublicURL string
	// DPoPAlgorithms are the accepted DPoP proof algorithms; default
	// ES256, ES384, RS256, PS256, EdDSA, Ed25519.
	DPoPAlgorithms []string
	// DPoPWindow is how far a proof's iat may be from now, each way; default 60s.
	DPoPWindow time.Duration
	// ReplayCache records DPoP proof jtis; default an in-memory cache for
	// this process.
	ReplayCache ReplayCache
	// ClientCertificate returns the TLS client certificate of a request, for
	// tokens bound with cnf.x5t#S256 (RFC 8705); default
	// r.TLS.PeerCertificates[0]. Set it behind a proxy that forwards the
	// certificate, and trust that header only from the proxy.
	ClientCertificate func(r *http.Request) *x509.Certificate
	// HTTPClient fetches metadata and keys; default http.DefaultClient.
	// Responses are capped at 1 MiB.
	HTTPClient *http.Client
	// RefreshInterval is how often the JWKS is fetched in the background;
	// default DefaultRefreshInterval.
	RefreshInterval time.Duration
	// UnknownKIDInterval bounds refetches for unknown kids; default
	// DefaultUnknownKIDInterval.
	UnknownKIDInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Verifier checks access tokens minted by one tokex issuer for one API, and
// Transaction Tokens it mints for one trust domain. It is safe for
// concurrent use.
type Verifier struct {
	cfg    Config
	algs   []string
	leeway time.Duration
	kf     keyfunc.Keyfunc
	jwks   string // the JWKS URL, for descriptions
	dpop   *dpop.Verifier
	public string
}

// New returns a Verifier. Unless Config.JWKSURL is set it reads the issuer's
// metadata; it fetches the JWKS once and fails if it cannot. ctx bounds the
// background refresh of the keys: cancel it when the Verifier is no longer
// used.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	var errs []error
	if _, err := metadata.URL(cfg.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("Issuer: %w", err))
	}
	if cfg.Audience == "" && cfg.TrustDomain == "" {
		errs = append(errs, errors.New("Audience: required (this API's identifier, the aud of its tokens), unless TrustDomain is set to verify only Transaction Tokens"))
	}
	if cfg.TrustDomain != "" {
		if u, err := url.Parse(cfg.TrustDomain); err != nil || u.Scheme == "" {
			errs = append(errs, fmt.Errorf("TrustDomain: %q is not an absolute URI (the aud of this trust domain's Transaction Tokens)", cfg.TrustDomain))
		}
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	for _, a := range algs {
		if m := jwt.GetSigningMethod(a); m == nil || a == "none" || strings.HasPrefix(a, "HS") {
			errs = append(errs, fmt.Errorf("Algorithms: %q is not an asymmetric JWS algorithm", a))
		}
	}
	if cfg.PublicURL != "" {
		if u, err := url.Parse(cfg.PublicURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("PublicURL: %q is not an absolute http(s) URL without a query", cfg.PublicURL))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.UnknownKIDInterval <= 0 {
		cfg.UnknownKIDInterval = DefaultUnknownKIDInterval
	}
	client := metadata.LimitBody(cfg.HTTPClient)
	jwksURL := cfg.JWKSURL
	if jwksURL == "" {
		doc, err := metadata.Fetch(ctx, client, cfg.Issuer)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if doc.JWKSURI == "" {
			return nil, fmt.Errorf("verify: the metadata of %s has no jwks_uri", cfg.Issuer)
		}
		jwksURL = doc.JWKSURI
	}
	store, err := newKeys(ctx, client, jwksURL, cfg.RefreshInterval, cfg.UnknownKIDInterval)
	if err != nil {
		return nil, fmt.Errorf("verify: fetch JWKS %s: %w", jwksURL, err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: store})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	var cache replay.Cache = cfg.ReplayCache
	if cfg.ReplayCache == nil {
		cache = replay.NewMemory(replay.MemoryOptions{Now: cfg.Now})
	}
	return &Verifier{
		cfg:    cfg,
		algs:   slices.Clone(algs),
		leeway: leeway,
		kf:     kf,
		jwks:   jwksURL,
		dpop: dpop.NewVerifier(dpop.Options{
			Algorithms: cfg.DPoPAlgorithms, Window: cfg.DPoPWindow, Replay: cache, Now: cfg.Now,
		}),
		public: strings.TrimSuffix(cfg.PublicURL, "/"),
	}, nil
}

// keys is the issuer's JWKS: fetched at start and every refresh interval,
// and again for an unknown kid at most once per interval, without making
// the request wait for a rate limit.
type keys struct {
	*jwkset.MemoryJWKSet
	client  *http.Client
	url     string
	unknown *rate.Limiter
	mu      sync.Mutex // one fetch at a time
}

func newKeys(ctx context.Context, client *http.Client, u string, every, unknown time.Duration) (*keys, error) {
	k := &keys{MemoryJWKSet: jwkset.NewMemoryStorage(), client: client, url: u, unknown: rate.NewLimiter(rate.Every(unknown), 1)}
	_, err := jwkset.NewStorageFromHTTP(u, jwkset.HTTPClientStorageOptions{
		Client: client, Ctx: ctx, HTTPTimeout: 10 * time.Second,
		RefreshInterval: every, Storage: k.MemoryJWKSet,
	})
	return k, err
}

// KeyRead finds kid, fetching the JWKS again if the rate limit allows.
func (k *keys) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	jwk, err := k.MemoryJWKSet.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) || !k.unknown.Allow() {
		return jwk, err
	}
	k.mu.Lock()
	_, ferr := jwkset.NewStorageFromHTTP(k.url, jwkset.HTTPClientStorageOptions{
		Client: k.client, Ctx: ctx, HTTPTimeout: 10 * time.Second, Storage: k.MemoryJWKSet,
	})
	k.mu.Unlock()
	if ferr != nil {
		return jwkset.JWK{}, errors.Join(err, ferr)
	}
	return k.MemoryJWKSet.KeyRead(ctx, kid)
}

// DPoPAlgorithms are the accepted DPoP proof algorithms, for the algs
// parameter of a DPoP challenge.
func (v *Verifier) DPoPAlgorithms() []string { return v.dpop.Algorithms() }

// claims are the claims read from an access token (RFC 9068 §2.2, RFC 8693
// §4.1, RFC 7800 §3.1).
type claims struct {
	jws.Registered
	ClientID string         `json:"client_id"`
	Scope    string         `json:"scope"`
	Azp      string         `json:"azp"`
	Nonce    jsontext.Value `json:"nonce"`
	AtHash   jsontext.Value `json:"at_hash"`
	Act      *actClaim      `json:"act"`
	Cnf      map[string]any `json:"cnf"`
}

type actClaim struct {
	Sub      string    `json:"sub"`
	Iss      string    `json:"iss"`
	ClientID string    `json:"client_id"`
	Act      *actClaim `json:"act"`
}

// maxActors bounds the act chain read.
const maxActors = 32

// Verify checks the access token of r and, for a bound token, the proof of
// possession that comes with it. It returns a *Error for every refusal, and
// ErrNoAudience when the Verifier has no audience.
func (v *Verifier) Verify(ctx context.Context, r *http.Request) (*Token, error) {
	if v.cfg.Audience == "" {
		return nil, ErrNoAudience
	}
	scheme, raw, err := credentials(r)
	if err != nil {
		return nil, err
	}
	tok, err := v.verifyToken(ctx, scheme, raw)
	if err != nil {
		if e, ok := err.(*Error); ok && e.scheme == "" {
			e.scheme = scheme
		}
		return nil, err
	}
	if err := v.checkBinding(ctx, r, scheme, raw, tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// credentials reads the Authorization header (RFC 6750 §2.1, RFC 9449 §7.1).
func credentials(r *http.Request) (scheme, token string, err error) {
	vals := r.Header.Values("Authorization")
	switch {
	case len(vals) == 0:
		return "", "", refuse(http.StatusUnauthorized, "", ReasonNoToken,
			"this API needs an access token from tokex: send Authorization: Bearer <token> (or DPoP <token> with a DPoP proof)")
	case len(vals) > 1:
		return "", "", refuse(http.StatusBadRequest, CodeInvalidRequest, ReasonRequest, "send exactly one Authorization header")
	}
	s, t, ok := strings.Cut(vals[0], " ")
	t = strings.TrimLeft(t, " ")
	switch {
	case !ok || t == "":
		return "", "", refuse(http.StatusBadRequest, CodeInvalidRequest, ReasonRequest, "the Authorization header must be Bearer <token> or DPoP <token>")
	case strings.EqualFold(s, "Bearer"):
		return "Bearer", t, nil
	case strings.EqualFold(s, "DPoP"):
		return "DPoP", t, nil
	}
	return "", "", refuse(http.StatusBadRequest, CodeInvalidRequest, ReasonRequest,
		"the Authorization scheme %q is not accepted: send Bearer <token> or DPoP <token>", jws.Clip(s))
}

// kind is what differs between the JWTs a Verifier reads (access tokens and
// Transaction Tokens) in the checks they share: the typ they carry and the
// words of refusals. The values below are read-only.
type kind struct {
	typ    string // the typ header, lowercase, without "application/"
	a      string // "an access token": what a refusal says a token is not
	plural string // "access tokens"
	only   string // what this API accepts, for a missing or unknown typ
	get    string // how to get the right token
	proof  string // what to do with a DPoP proof sent instead
	spec   string // the specification that requires exp and sub
	iat    bool   // iat is required
	scope  string // how to get a token with a missing scope
	scheme string // Error.scheme of a refusal without a token: "" (both challenges) or TxnTokenHeader (none)
}

var accessToken = kind{
	typ: "at+jwt", a: "an access token", plural: "access tokens", only: "RFC 9068 access tokens",
	get:   "send an access token for this API (tokex mints them by token exchange)",
	proof: "send the proof in the DPoP header and the token in Authorization",
	spec:  "RFC 9068 §2.2",
	scope: "exchange at tokex for a token with it",
}

// verifyToken runs the checks of RFC 9068 §4.
func (v *Verifier) verifyToken(ctx context.Context, scheme, raw string) (*Token, error) {
	c := &claims{}
	if err := v.readJWT(ctx, raw, c, &accessToken, c.idToken); err != nil {
		return nil, err
	}
	// RFC 9068 §4 step 3: aud contains this API.
	if !slices.Contains(c.Audience, v.cfg.Audience) {
		if len(c.Audience) == 0 {
			return nil, invalidToken(ReasonAudience, "the token has no aud claim: tokens for this API have aud %s", v.cfg.Audience)
		}
		return nil, invalidToken(ReasonAudience, "the token is for %s, not this API (%s)", audiences(c.Audience), v.cfg.Audience)
	}
	if err := v.checkRegistered(&c.Registered, &accessToken); err != nil {
		return nil, err
	}
	return v.token(raw, scheme, c)
}

// readJWT reads raw into c and runs the checks every JWT of tokex gets,
// whatever its kind k (RFC 9068 §4 steps 1, 2 and 4; RFC 8725 §3.1 and
// §3.11): the header, typ, iss, alg and the signature. idToken says why the
// token is an ID token, if it is one (access tokens only). The checks that
// explain what a wrong token is (type, issuer) run before the signature
// check, so that a token from another IdP is described as such; nothing
// unverified is ever accepted.
func (v *Verifier) readJWT(ctx context.Context, raw string, c jwt.Claims, k *kind, idToken func() string) error {
	if len(raw) > 64<<10 {
		return invalidToken(ReasonMalformed, "the token is longer than 64 KiB")
	}
	tok, err := jws.Parse(raw, c, nil)
	if err != nil {
		desc := "the token is not a signed JWT (JWS compact serialization) with claims of the right types"
		var se *jsonv2.SemanticError
		if ce, ok := jws.AsClaimError(err); ok {
			desc = "the token's claims are malformed: " + ce.Error()
		} else if errors.Is(err, jws.ErrEncrypted) {
			desc = "the token is encrypted (JWE): this API accepts signed JWT " + k.plural + " from tokex"
		} else if errors.Is(err, jws.ErrNotCompact) {
			desc = "the token is not a JWT (expected three base64url segments separated by dots): this API accepts JWT " + k.plural + " from tokex"
		} else if errors.As(err, &se) && len(se.JSONPointer) > 1 {
			desc = fmt.Sprintf("the token's claim %s is not of the right JSON type", jws.Clip(string(se.JSONPointer[1:])))
		}
		e := invalidToken(ReasonMalformed, "%s", desc)
		e.err = err
		return e
	}
	// RFC 7515 §4.1.2-6: keys come from the issuer's JWKS, never the token.
	for _, h := range []string{"jku", "x5u", "jwk", "x5c"} {
		if _, ok := tok.Header[h]; ok {
			return invalidToken(ReasonHeader, "the token's header has %s: keys are taken only from %s's JWKS, never named or carried by the token", h, v.cfg.Issuer)
		}
	}
	// RFC 7515 §4.1.11: no critical extension is understood here.
	if _, ok := tok.Header["crit"]; ok {
		return invalidToken(ReasonHeader, "the token's header has crit: this API understands no critical header extension (RFC 7515 §4.1.11)")
	}
	if err := checkType(tok.Header, k, idToken); err != nil {
		return err
	}
	// RFC 9068 §4 step 2: iss exactly.
	if iss, _ := c.GetIssuer(); iss != v.cfg.Issuer {
		if iss == "" {
			return invalidToken(ReasonIssuer, "the token has no iss claim: this API accepts tokens issued by %s", v.cfg.Issuer)
		}
		return invalidToken(ReasonIssuer, "the token was issued by %s, not by %s: exchange it at tokex first", jws.Clip(iss), v.cfg.Issuer)
	}
	// RFC 9068 §4 step 4, RFC 8725 §3.1: alg in the allowlist.
	alg, _ := tok.Header["alg"].(string)
	switch {
	case alg == "none" || alg == "":
		return invalidToken(ReasonAlgorithm, "the token is unsigned (alg %q): only signed tokens are accepted (%s)", alg, strings.Join(v.algs, ", "))
	case strings.HasPrefix(alg, "HS"):
		return invalidToken(ReasonAlgorithm, "the token is signed with HMAC (%s), which is never accepted: tokex signs with asymmetric keys (%s)", jws.Clip(alg), strings.Join(v.algs, ", "))
	case !slices.Contains(v.algs, alg) || tok.Method == nil:
		return invalidToken(ReasonAlgorithm, "the token's algorithm %q is not accepted (accepted: %s)", jws.Clip(alg), strings.Join(v.algs, ", "))
	}
	// RFC 9068 §4 step 4: the signature, with a key of the issuer's JWKS.
	key, err := v.kf.KeyfuncCtx(ctx)(tok)
	if err != nil {
		kid, _ := tok.Header["kid"].(string)
		e := invalidToken(ReasonKey, "the token is signed by a key not in %s's JWKS (kid %q is not published at %s)", v.cfg.Issuer, jws.Clip(kid), v.jwks)
		if !errors.Is(err, jwkset.ErrKeyNotFound) {
			e.Description = fmt.Sprintf("the token's key %q in %s's JWKS cannot verify it (the key is for another algorithm or unusable)", jws.Clip(kid), v.cfg.Issuer)
		}
		e.err = err
		return e
	}
	if err := jws.Verify(tok, key); err != nil {
		kid, _ := tok.Header["kid"].(string)
		e := invalidToken(ReasonSignature, "the token's signature does not verify with key %q of %s's JWKS: it was signed by another key or altered", jws.Clip(kid), v.cfg.Issuer)
		if _, ok := tok.Header["kid"]; !ok {
			e.Description = fmt.Sprintf("the token (without kid) is signed by a key not in %s's JWKS", v.cfg.Issuer)
		}
		e.err = err
		return e
	}
	return nil
}

// audiences is aud for a refusal: at most five members, each clipped.
func audiences(aud jws.Audience) string {
	out := make([]string, 0, min(len(aud), 5))
	for _, a := range aud[:min(len(aud), 5)] {
		out = append(out, jws.Clip(a))
	}
	return strings.Join(out, ", ")
}

// idToken says why an access token is an ID token instead, or "".
func (c *claims) idToken() string {
	switch {
	case len(c.Nonce) > 0:
		return "it has a nonce claim"
	case len(c.AtHash) > 0:
		return "it has an at_hash claim"
	case c.Azp != "" && len(c.Audience) == 1 && c.Audience[0] == c.Azp:
		return "its aud is its azp, the client it was issued to"
	}
	return ""
}

// checkType is explicit typing (RFC 8725 §3.11, RFC 9068 §4 step 1): typ
// must be k's, compared as RFC 7515 §4.1.9 says (case-insensitive,
// "application/" optional). What the token is instead is said: an access
// token, a Transaction Token, an ID-JAG, a DPoP proof, an ID token.
func checkType(h map[string]any, k *kind, idToken func() string) error {
	typ, _ := h["typ"].(string)
	t := strings.TrimPrefix(strings.ToLower(typ), "application/")
	if t == k.typ {
		return nil
	}
	what, hint := "", k.get
	switch t {
	case "at+jwt":
		what = "an access token"
	case "txntoken+jwt":
		what = "a Transaction Token"
	case "oauth-id-jag+jwt":
		what, hint = "an Identity Assertion JWT Authorization Grant", "exchange it at its authorization server"
	case "dpop+jwt":
		what, hint = "a DPoP proof", k.proof
	}
	if what != "" {
		return invalidToken(ReasonType, "this is %s (typ %s), not %s: %s", what, t, k.a, hint)
	}
	if idToken != nil {
		if why := idToken(); why != "" {
			return invalidToken(ReasonType, "this is an ID token (%s), not %s: %s", why, k.a, k.get)
		}
	}
	if typ == "" {
		return invalidToken(ReasonType, "the token has no typ header: this API accepts only %s (typ %s); %s", k.only, k.typ, k.get)
	}
	return invalidToken(ReasonType, "the token's typ is %q, not %s: this API accepts only %s; %s", jws.Clip(typ), k.typ, k.only, k.get)
}

// checkRegistered checks the time claims (RFC 9068 §4 step 5, RFC 7519
// §4.1.4-6, with leeway) and sub, which k's specification requires.
func (v *Verifier) checkRegistered(c *jws.Registered, k *kind) error {
	now := v.cfg.Now()
	stamp := func(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
	for _, d := range []struct {
		name string
		n    *jws.NumericDate
	}{{"exp", &c.ExpiresAt}, {"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}} {
		if _, err := d.n.Get(); err != nil {
			return invalidToken(ReasonMalformed, "the token's %s is not a NumericDate (RFC 7519 §2)", d.name)
		}
	}
	switch {
	case !c.ExpiresAt.Set():
		return invalidToken(ReasonExpired, "the token has no exp claim (%s requires it)", k.spec)
	case !now.Before(c.ExpiresAt.Time().Add(v.leeway)):
		return invalidToken(ReasonExpired, "the token expired at %s (now %s, leeway %s): get a new one from tokex", c.ExpiresAt.String(), stamp(now), v.leeway)
	case c.NotBefore.Set() && now.Add(v.leeway).Before(c.NotBefore.Time()):
		return invalidToken(ReasonNotYetValid, "the token is not valid before %s (now %s, leeway %s)", c.NotBefore.String(), stamp(now), v.leeway)
	case k.iat && !c.IssuedAt.Set():
		return invalidToken(ReasonIssuedAt, "the token has no iat claim (%s requires it)", k.spec)
	case c.IssuedAt.Set() && now.Add(v.leeway).Before(c.IssuedAt.Time()):
		return invalidToken(ReasonIssuedAt, "the token's iat %s is in the future (now %s, leeway %s): check the clocks", c.IssuedAt.String(), stamp(now), v.leeway)
	case c.Subject == "":
		return invalidToken(ReasonClaims, "the token has no sub claim (%s requires it)", k.spec)
	}
	return nil
}

// checkBinding is RFC 9449 §7 and RFC 8705 §3: a bound token is accepted
// only with proof of its key, and never as a bearer token.
func (v *Verifier) checkBinding(ctx context.Context, r *http.Request, scheme, raw string, tok *Token) error {
	jkt, x5t := tok.Confirmation.JKT, tok.Confirmation.X5T
	bindingErr := func(format string, args ...any) error {
		e := invalidToken(ReasonBinding, format, args...)
		e.scheme = tok.scheme
		return e
	}
	if len(tok.cnfOther) > 0 && jkt == "" && x5t == "" {
		return bindingErr("the token is bound by a method this API cannot check (cnf has %s; cnf.jkt and cnf.x5t#S256 are supported)", strings.Join(tok.cnfOther, ", "))
	}
	if jkt == "" && x5t == "" {
		switch {
		case scheme == "DPoP":
			return bindingErr("the token is not DPoP-bound (it has no cnf.jkt): send it as Authorization: Bearer")
		case v.cfg.RequireBinding:
			return bindingErr("this API accepts only sender-constrained tokens (DPoP, cnf.jkt, or mTLS, cnf.x5t#S256), and this is a bearer token: exchange at tokex with a DPoP proof or a client certificate")
		}
		return nil
	}
	if jkt != "" {
		if scheme != "DPoP" {
			return bindingErr("the token is DPoP-bound (cnf.jkt): send it as Authorization: DPoP <token> with a DPoP proof for this request, not as Bearer")
		}
		proof, err := v.dpop.Verify(ctx, dpop.Request{
			Headers: r.Header.Values("DPoP"), Method: r.Method, URL: v.requestURL(r), AccessToken: raw,
		})
		if err != nil {
			var de *dpop.Error
			if !errors.As(err, &de) {
				return err
			}
			e := refuse(http.StatusUnauthorized, CodeInvalidDPoPProof, Reason(de.Reason), "%s", de.Description)
			if de.Reason == dpop.ReasonUnavailable {
				e.Status, e.Code = http.StatusServiceUnavailable, CodeUnavailable
			}
			e.scheme, e.err = "DPoP", de.Err
			return e
		}
		if subtle.ConstantTimeCompare([]byte(proof.JKT), []byte(jkt)) != 1 {
			e := refuse(http.StatusUnauthorized, CodeInvalidDPoPProof, ReasonProofKey,
				"the DPoP proof is signed by another key than the one the token is bound to (cnf.jkt): sign proofs with the key the token was issued for")
			e.scheme = "DPoP"
			return e
		}
	}
	if x5t != "" {
		if scheme == "DPoP" && jkt == "" {
			return bindingErr("the token is bound to a TLS client certificate (cnf.x5t#S256), not to a DPoP key: send it as Bearer over a connection with that certificate")
		}
		cert := v.clientCertificate(r)
		if cert == nil {
			e := invalidToken(ReasonCertificate, "the token is bound to a TLS client certificate (cnf.x5t#S256), and this request came without one: connect with the certificate the token was issued for")
			e.scheme = tok.scheme
			return e
		}
		sum := sha256.Sum256(cert.Raw)
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(x5t)) != 1 {
			e := invalidToken(ReasonCertificate, "this request's TLS client certificate is not the one the token is bound to (cnf.x5t#S256)")
			e.scheme = tok.scheme
			return e
		}
	}
	return nil
}

func (v *Verifier) clientCertificate(r *http.Request) *x509.Certificate {
	if v.cfg.ClientCertificate != nil {
		return v.cfg.ClientCertificate(r)
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// requestURL is the URL a DPoP proof's htu must name (RFC 9449 §4.3 step 9):
// PublicURL (or the connection's scheme and Host) and the path as the
// client sent it (r.RequestURI, so a StripPrefix before does not change it).
func (v *Verifier) requestURL(r *http.Request) string {
	path := r.URL.EscapedPath()
	if r.RequestURI != "" {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
			path = u.EscapedPath()
		}
	}
	if v.public != "" {
		return v.public + path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// token builds the Token of verified claims.
func (v *Verifier) token(raw, scheme string, c *claims) (*Token, error) {
	parts, _ := jws.Split(raw)
	b, _ := jws.DecodeSegment(parts[1])
	var all map[string]any
	if err := jsonv2.Unmarshal(b, &all); err != nil {
		return nil, invalidToken(ReasonMalformed, "the token's claims cannot be read")
	}
	t := &Token{
		Raw:      raw,
		Issuer:   c.Issuer,
		Subject:  c.Subject,
		ClientID: c.ClientID,
		Scopes:   strings.Fields(c.Scope),
		Audience: slices.Clone([]string(c.Audience)),
		Expiry:   c.ExpiresAt.Time(),
		IssuedAt: c.IssuedAt.Time(),
		ID:       c.ID,
		Claims:   all,
		scheme:   "Bearer",
	}
	for a, n := c.Act, 0; a != nil; a, n = a.Act, n+1 {
		if n == maxActors {
			return nil, invalidToken(ReasonMalformed, "the token's act chain is deeper than %d", maxActors)
		}
		t.Actors = append(t.Actors, Actor{Subject: a.Sub, Issuer: a.Iss, ClientID: a.ClientID})
	}
	for name, val := range c.Cnf {
		s, ok := val.(string)
		switch {
		case name == "jkt" && ok:
			t.Confirmation.JKT = s
		case name == "x5t#S256" && ok:
			t.Confirmation.X5T = s
		case name == "jkt" || name == "x5t#S256":
			return nil, invalidToken(ReasonMalformed, "the token's cnf.%s is not a string", name)
		default:
			t.cnfOther = append(t.cnfOther, jws.Clip(name))
		}
	}
	slices.Sort(t.cnfOther)
	if t.Confirmation.JKT != "" || scheme == "DPoP" {
		t.scheme = "DPoP"
	}
	return t, nil
}
