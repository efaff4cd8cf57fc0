package client

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/replay"
)

// Bounds of client assertions (RFC 7523 §3).
const (
	// MaxAssertionLifetime: exp may be at most this far ahead. A short window
	// bounds how long the replay cache must remember a jti.
	MaxAssertionLifetime = 5 * time.Minute
	// AssertionLeeway is the clock skew allowed on exp, nbf and iat.
	AssertionLeeway   = 30 * time.Second
	maxAssertionBytes = 8 << 10
	maxJWKSBytes      = 1 << 20
)

// assertionClaims are the claims RFC 7523 §3 requires, read by the same
// strict reader as subject tokens (internal/jws): claim names are
// case-sensitive, a duplicate name is malformed, and NumericDates never
// wrap around.
type assertionClaims struct{ jws.Registered }

// keyfunc builds the key source of one private_key_jwt client: its inline
// JWKS, or its jwks_uri fetched by a fetcher of its own.
func (r *Registry) keyfunc(ctx context.Context, c config.Client) keyfunc.Keyfunc {
	if c.JWKS != nil {
		raw, err := config.InlineJWKS(c.JWKS)
		if err == nil {
			kf, err := keyfunc.NewJWKSetJSON(raw)
			if err == nil {
				return kf
			}
		}
		r.opts.Logger.Error("client keys: inline jwks cannot be used", "client_id", c.ID)
		return nil
	}
	base := r.opts.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: capped{base},
		// A redirect to another host is how a JWKS URL gets hijacked.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	log := r.opts.Logger
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{c.JWKSURI}, keyfunc.Override{
		Client:          hc,
		HTTPTimeout:     5 * time.Second,
		RefreshInterval: time.Hour,
		// An unknown kid refetches at most once a minute and never makes a
		// request wait for the limiter.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(time.Minute), 1),
		RateLimitWaitMax:  time.Millisecond,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				log.Warn("client keys: jwks_uri fetch failed", "client_id", c.ID, "jwks_uri", u, "error", err)
			}
		},
	})
	if err != nil {
		log.Error("client keys: jwks_uri cannot be used", "client_id", c.ID, "error", err)
		return nil
	}
	return kf
}

// capped bounds a JWKS response: a JWK Set is small.
type capped struct{ base http.RoundTripper }

func (c capped) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err == nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, maxJWKSBytes), resp.Body}
	}
	return resp, err
}

// assertion authenticates a client by a JWT signed with its private key
// (private_key_jwt: RFC 7523 §2.2 and §3, OIDC Core §9).
func (r *Registry) assertion(ctx context.Context, c Credentials) (*Client, error) {
	if c.AssertionType != api.ClientAssertionTypeJWTBearer {
		if c.AssertionType == "" {
			return nil, failedf(c, "assertion_type", "client_assertion_type is required with client_assertion: use %s", api.ClientAssertionTypeJWTBearer)
		}
		return nil, failedf(c, "assertion_type", "client_assertion_type %q is not supported: use %s", jws.Clip(c.AssertionType), api.ClientAssertionTypeJWTBearer)
	}
	if c.Assertion == "" {
		return nil, failedf(c, "assertion_missing", "client_assertion_type was given without client_assertion")
	}
	if len(c.Assertion) > maxAssertionBytes {
		return nil, failedf(c, "assertion_malformed", "client_assertion is %d bytes; at most %d are accepted", len(c.Assertion), maxAssertionBytes)
	}
	claims := &assertionClaims{}
	tok, err := jws.Parse(c.Assertion, claims, &r.headers)
	if err != nil {
		if ce, ok := jws.AsClaimError(err); ok {
			return nil, failedf(c, "assertion_malformed", "client_assertion is malformed: %s", ce)
		}
		return nil, failedf(c, "assertion_malformed", "client_assertion is not a well-formed signed JWT")
	}
	// RFC 7523 §3 items 1 and 2: iss and sub are both the client id.
	if claims.Subject == "" || claims.Issuer != claims.Subject {
		return nil, failedf(c, "assertion_claims", "client_assertion: iss and sub must both be the client id (RFC 7523 §3)")
	}
	id := claims.Subject
	if c.PostID != "" && c.PostID != id {
		return nil, failedf(c, "assertion_claims", "client_id in the body does not match the sub of client_assertion")
	}
	e, ok := r.byID[id]
	if !ok {
		return nil, failedf(c, "unknown_client", "client_assertion: unknown client %q", jws.Clip(id))
	}
	if e.auth != config.AuthPrivateKeyJWT {
		return nil, failedf(c, "auth_method_not_allowed", "client %q is configured for %s, not private_key_jwt", jws.Clip(id), authOf(e))
	}
	alg, _ := tok.Header["alg"].(string)
	if !slices.Contains(config.SupportedAlgorithms, alg) {
		why := ""
		switch config.ClassifyAlg(alg) {
		case config.AlgUnsigned:
			why = ": an unsigned assertion is never accepted"
		case config.AlgHMAC:
			why = ": HMAC is never accepted, the key must be the client's private key"
		}
		return nil, failedf(c, "assertion_algorithm", "client_assertion algorithm %q is not allowed (allowed: %s)%s", jws.Clip(alg), strings.Join(config.SupportedAlgorithms, ", "), why)
	}
	if e.kf == nil {
		return nil, &Error{Kind: Unavailable, Reason: "client_keys_unavailable", Description: fmt.Sprintf("the keys of client %q cannot be loaded; try again later", jws.Clip(id))}
	}
	now := r.opts.Now()
	key, err := e.kf.KeyfuncCtx(ctx)(tok)
	if err == nil {
		err = jws.Verify(tok, key)
	} else {
		err = fmt.Errorf("%w: %w", jwt.ErrTokenUnverifiable, err)
	}
	if err == nil {
		err = r.validator.Validate(claims)
	}
	if err != nil {
		return nil, r.assertionError(ctx, c, e, tok, err)
	}
	// RFC 7523 §3 item 4: exp limits the window; tokex wants a short one.
	exp := claims.ExpiresAt.Time()
	if exp.Sub(now) > MaxAssertionLifetime+AssertionLeeway {
		return nil, failedf(c, "assertion_lifetime", "client_assertion exp is %s ahead; at most %s is accepted", exp.Sub(now).Truncate(time.Second), MaxAssertionLifetime)
	}
	// RFC 7523 §3 item 7: a jti seen before is a replay.
	if claims.ID == "" {
		return nil, failedf(c, "assertion_claims", "client_assertion has no jti; a unique jti is required so a replay can be detected")
	}
	fresh, err := r.opts.Replay.Use(ctx, id+"\x00"+claims.ID, exp.Add(AssertionLeeway))
	switch {
	case errors.Is(err, replay.ErrFull):
		return nil, &Error{Kind: Unavailable, Reason: "replay_cache_full", Err: err, Description: "too many client assertions in flight to check them for replay; try again shortly"}
	case err != nil:
		return nil, &Error{Kind: Unavailable, Reason: "replay_cache_unavailable", Err: err, Description: "client assertions cannot be checked for replay right now; try again shortly"}
	case !fresh:
		return nil, failedf(c, "assertion_replayed", "client_assertion was already used (its jti was seen before): sign a new assertion with a new jti for every request")
	}
	return &Client{ID: id, Method: api.AuthMethodPrivateKeyJWT}, nil
}

func (r *Registry) assertionError(ctx context.Context, c Credentials, e *entry, tok *jwt.Token, err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return failedf(c, "assertion_expired", "client_assertion has expired; sign a fresh one")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return failedf(c, "assertion_not_yet_valid", "client_assertion is not valid yet (nbf or iat in the future); check the client's clock")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return failedf(c, "assertion_claims", "client_assertion has no exp claim; an expiry is required")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return failedf(c, "assertion_audience", "client_assertion aud must be %s (tokex's issuer or token endpoint)", quoteAll(r.auds))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrECDSAVerification), errors.Is(err, rsa.ErrVerification), errors.Is(err, jwt.ErrEd25519Verification):
		return failedf(c, "assertion_signature", "client_assertion signature does not verify with the keys of client %q", jws.Clip(e.id))
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		kid, _ := tok.Header["kid"].(string)
		if all, _ := e.kf.Storage().KeyReadAll(ctx); len(all) == 0 {
			return &Error{Kind: Unavailable, Reason: "client_keys_unavailable", Err: err, Description: fmt.Sprintf("the keys of client %q cannot be fetched right now; try again later", jws.Clip(e.id))}
		}
		if errors.Is(err, jwkset.ErrKeyNotFound) || kid != "" {
			return &Error{Kind: Failed, Basic: c.Basic, Reason: "assertion_unknown_key", Err: err,
				Description: fmt.Sprintf("client_assertion key id %q is not among the keys of client %q", jws.Clip(kid), jws.Clip(e.id))}
		}
		return &Error{Kind: Failed, Basic: c.Basic, Reason: "assertion_signature", Err: err,
			Description: fmt.Sprintf("client_assertion does not verify with the keys of client %q", jws.Clip(e.id))}
	}
	return &Error{Kind: Failed, Basic: c.Basic, Reason: "assertion_malformed", Err: err, Description: "client_assertion could not be validated"}
}

func authOf(e *entry) string {
	if e.auth == "" {
		return "client_secret_basic/client_secret_post"
	}
	return e.auth
}

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, " or ")
}
