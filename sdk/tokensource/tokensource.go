package tokensource

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/tokex/tokex/sdk/internal/metadata"
)

// Token type URNs (RFC 8693 §3) for Config.Subject and Config.Actor.
const (
	AccessToken = "urn:ietf:params:oauth:token-type:access_token"
	JWT         = "urn:ietf:params:oauth:token-type:jwt"
	IDToken     = "urn:ietf:params:oauth:token-type:id_token"
)

// RFC 8693 §2.1 and RFC 7523 §2.2.
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	assertionType      = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// Refresh margins: a cached token is exchanged again this early before it
// expires, the smaller of the two.
const (
	EarlyRefresh         = 30 * time.Second
	EarlyRefreshFraction = 10 // a tenth of the token's lifetime
)

// maxCached bounds the tokens kept (one per distinct subject and actor).
const maxCached = 1024

// exchangeTimeout bounds one exchange, which may outlive the caller that
// started it when other callers wait for it too.
const exchangeTimeout = 30 * time.Second

// TokenFunc returns a token and its type URN (AccessToken, JWT, IDToken, or
// another RFC 8693 §3 type), e.g. the incoming request's token from ctx.
type TokenFunc func(ctx context.Context) (token, tokenType string, err error)

// Config configures a Source.
type Config struct {
	// TokenURL is tokex's token endpoint. Or set Issuer: the endpoint is
	// then read from its RFC 8414 metadata on first use.
	TokenURL string
	Issuer   string

	// Client authentication, one of:
	//   - ClientID and ClientSecret: client_secret_basic (RFC 6749 §2.3.1);
	//   - ClientID, ClientAssertionSigner and ClientAssertionKeyID:
	//     private_key_jwt (RFC 7523 §2.2), a fresh assertion per request with
	//     aud the token endpoint, a random jti and a one-minute exp;
	//   - ClientID alone with an HTTPClient that presents a TLS client
	//     certificate: tls_client_auth (RFC 8705 §2), client_id in the body.
	ClientID              string
	ClientSecret          string
	ClientAssertionSigner crypto.Signer // ECDSA P-256/P-384, RSA or Ed25519
	ClientAssertionKeyID  string

	// HTTPClient talks to tokex; default http.DefaultClient.
	HTTPClient *http.Client

	// Subject returns the token to exchange (RFC 8693 §2.1 subject_token).
	// Required. It is called on every Token call; tokens are cached per
	// subject (and actor), so a Source can serve many users.
	Subject TokenFunc
	// Actor, optional, returns the actor token (delegation, RFC 8693 §1.1).
	Actor TokenFunc

	// Audience and/or Resource (RFC 8707) name the downstream API.
	Audience string
	Resource string
	// Scopes requested; empty: what the rule allows.
	Scopes []string

	// DPoPKey, if set, binds the tokens to it (RFC 9449): every exchange
	// carries a DPoP proof signed with it (ES256 for P-256, ES384, RS256 or
	// EdDSA for Ed25519; any crypto.Signer, so keys in an HSM or KMS work).
	// Use the tokens through Transport, which adds a proof per request.
	DPoPKey crypto.Signer

	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Error is an OAuth error from the token endpoint (RFC 6749 §5.2).
type Error struct {
	Code        string // error, e.g. invalid_request, invalid_target; "" when the answer held none
	Description string // error_description
	StatusCode  int
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("tokensource: token endpoint answered HTTP %d without an OAuth error", e.StatusCode)
	}
	if e.Description == "" {
		return fmt.Sprintf("tokensource: token exchange refused (HTTP %d): %s", e.StatusCode, e.Code)
	}
	return fmt.Sprintf("tokensource: token exchange refused (HTTP %d): %s: %s", e.StatusCode, e.Code, e.Description)
}

// Source exchanges subject tokens for downstream tokens at tokex (RFC 8693)
// and caches them until shortly before they expire. It implements
// oauth2.TokenSource and is safe for concurrent use: concurrent callers for
// the same subject share one exchange.
type Source struct {
	cfg       Config
	client    *http.Client
	dpop      *signer
	assertion *signer
	group     singleflight.Group

	mu       sync.Mutex
	tokenURL string
	nonce    string // the last DPoP-Nonce of the token endpoint (RFC 9449 §8)
	cache    map[[32]byte]*oauth2.Token
}

// New returns an oauth2.TokenSource that exchanges at tokex (a *Source:
// NewSource gives the concrete type, whose TokenContext passes the caller's
// context to Subject and Actor). It checks cfg but does not talk to tokex.
func New(cfg Config) (oauth2.TokenSource, error) {
	s, err := NewSource(cfg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewSource is New with the concrete type.
func NewSource(cfg Config) (*Source, error) {
	var errs []error
	if cfg.Subject == nil {
		errs = append(errs, errors.New("Subject: required"))
	}
	switch {
	case cfg.TokenURL != "":
		if u, err := url.Parse(cfg.TokenURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			errs = append(errs, fmt.Errorf("TokenURL: %q is not an absolute http(s) URL", cfg.TokenURL))
		}
	case cfg.Issuer != "":
		if _, err := metadata.URL(cfg.Issuer); err != nil {
			errs = append(errs, fmt.Errorf("Issuer: %w", err))
		}
	default:
		errs = append(errs, errors.New("TokenURL or Issuer: one is required"))
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("ClientID: required"))
	}
	if cfg.ClientSecret != "" && cfg.ClientAssertionSigner != nil {
		errs = append(errs, errors.New("ClientSecret and ClientAssertionSigner: set one"))
	}
	s := &Source{cfg: cfg, tokenURL: cfg.TokenURL, cache: map[[32]byte]*oauth2.Token{}}
	if cfg.ClientAssertionSigner != nil {
		var err error
		if s.assertion, err = newSigner(cfg.ClientAssertionSigner); err != nil {
			errs = append(errs, fmt.Errorf("ClientAssertionSigner: %w", err))
		}
		if cfg.ClientAssertionKeyID == "" {
			errs = append(errs, errors.New("ClientAssertionKeyID: required with ClientAssertionSigner (the kid of the key in the client's JWKS)"))
		}
	}
	if cfg.DPoPKey != nil {
		var err error
		if s.dpop, err = newSigner(cfg.DPoPKey); err != nil {
			errs = append(errs, fmt.Errorf("DPoPKey: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("tokensource: %w", err)
	}
	if s.cfg.Now == nil {
		s.cfg.Now = time.Now
	}
	s.client = metadata.LimitBody(cfg.HTTPClient)
	return s, nil
}

// Token implements oauth2.TokenSource; it is TokenContext with a background
// context.
func (s *Source) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext returns a cached token for the subject (and actor) that ctx
// yields, or exchanges the subject token for a new one. The token's
// TokenType is "DPoP" or "Bearer". A refusal by tokex is an *Error.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	subject, subjectType, err := s.cfg.Subject(ctx)
	if err != nil {
		return nil, fmt.Errorf("tokensource: subject token: %w", err)
	}
	if subject == "" || subjectType == "" {
		return nil, errors.New("tokensource: subject token: Subject returned an empty token or token type")
	}
	var actor, actorType string
	if s.cfg.Actor != nil {
		if actor, actorType, err = s.cfg.Actor(ctx); err != nil {
			return nil, fmt.Errorf("tokensource: actor token: %w", err)
		}
	}
	key := sha256.Sum256([]byte(subjectType + "\x00" + subject + "\x00" + actorType + "\x00" + actor))
	if t := s.cached(key); t != nil {
		return t, nil
	}
	ch := s.group.DoChan(string(key[:]), func() (any, error) {
		if t := s.cached(key); t != nil { // another caller's exchange just finished
			return t, nil
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exchangeTimeout)
		defer cancel()
		t, err := s.exchange(ctx, subject, subjectType, actor, actorType)
		if err != nil {
			return nil, err
		}
		s.store(key, t)
		return t, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		t := *r.Val.(*oauth2.Token)
		return &t, nil
	}
}

// fresh reports whether t is good for a while: it is refreshed
// min(EarlyRefresh, a tenth of its lifetime) before it expires.
func (s *Source) fresh(t *oauth2.Token) bool {
	if t.Expiry.IsZero() {
		return false // no expires_in: not cached
	}
	early := min(EarlyRefresh, time.Duration(t.ExpiresIn)*time.Second/EarlyRefreshFraction)
	return s.cfg.Now().Before(t.Expiry.Add(-early))
}

func (s *Source) cached(key [32]byte) *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.cache[key]
	if !ok || !s.fresh(t) {
		return nil
	}
	c := *t
	return &c
}

func (s *Source) store(key [32]byte, t *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= maxCached {
		for k, old := range s.cache {
			if !s.fresh(old) {
				delete(s.cache, k)
			}
		}
		if len(s.cache) >= maxCached {
			clear(s.cache)
		}
	}
	if s.fresh(t) {
		s.cache[key] = t
	}
}

// endpoint is the token endpoint: TokenURL, or from the issuer's metadata.
func (s *Source) endpoint(ctx context.Context) (string, error) {
	s.mu.Lock()
	u := s.tokenURL
	s.mu.Unlock()
	if u != "" {
		return u, nil
	}
	doc, err := metadata.Fetch(ctx, s.client, s.cfg.Issuer)
	if err != nil {
		return "", fmt.Errorf("tokensource: %w", err)
	}
	if doc.TokenEndpoint == "" {
		return "", fmt.Errorf("tokensource: the metadata of %s has no token_endpoint", s.cfg.Issuer)
	}
	s.mu.Lock()
	s.tokenURL = doc.TokenEndpoint
	s.mu.Unlock()
	return doc.TokenEndpoint, nil
}

type tokenResponse struct {
	AccessToken     string  `json:"access_token"`
	TokenType       string  `json:"token_type"`
	ExpiresIn       float64 `json:"expires_in"`
	IssuedTokenType string  `json:"issued_token_type"`
	Scope           string  `json:"scope"`
	Error           string  `json:"error"`
	Description     string  `json:"error_description"`
}

// exchange makes the RFC 8693 request, retrying once with the server's
// nonce on use_dpop_nonce (RFC 9449 §8).
func (s *Source) exchange(ctx context.Context, subject, subjectType, actor, actorType string) (*oauth2.Token, error) {
	endpoint, err := s.endpoint(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":         {grantTokenExchange},
		"subject_token":      {subject},
		"subject_token_type": {subjectType},
	}
	if actor != "" {
		form.Set("actor_token", actor)
		form.Set("actor_token_type", actorType)
	}
	for k, v := range map[string]string{"audience": s.cfg.Audience, "resource": s.cfg.Resource, "scope": strings.Join(s.cfg.Scopes, " ")} {
		if v != "" {
			form.Set(k, v)
		}
	}
	for attempt := 0; ; attempt++ {
		resp, err := s.post(ctx, endpoint, form)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusOK {
			return s.token(resp)
		}
		if resp.Error == "use_dpop_nonce" && s.dpop != nil && attempt == 0 && resp.nonce {
			continue
		}
		return nil, &Error{Code: resp.Error, Description: resp.Description, StatusCode: resp.StatusCode}
	}
}

type answer struct {
	tokenResponse
	StatusCode int
	nonce      bool // a new DPoP-Nonce came with it
}

func (s *Source) post(ctx context.Context, endpoint string, form url.Values) (*answer, error) {
	body := url.Values{}
	for k, v := range form {
		body[k] = v
	}
	switch {
	case s.assertion != nil:
		a, err := s.clientAssertion(endpoint)
		if err != nil {
			return nil, err
		}
		body.Set("client_id", s.cfg.ClientID)
		body.Set("client_assertion_type", assertionType)
		body.Set("client_assertion", a)
	case s.cfg.ClientSecret == "":
		body.Set("client_id", s.cfg.ClientID) // tls_client_auth (RFC 8705 §2)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body.Encode()))
	if err != nil {
		return nil, fmt.Errorf("tokensource: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if s.cfg.ClientSecret != "" {
		// RFC 6749 §2.3.1: form-urlencoded before Basic.
		req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(s.cfg.ClientSecret))
	}
	if s.dpop != nil {
		s.mu.Lock()
		nonce := s.nonce
		s.mu.Unlock()
		p, err := s.dpop.proof(http.MethodPost, htu(req.URL), s.cfg.Now().Unix(), "", nonce)
		if err != nil {
			return nil, fmt.Errorf("tokensource: DPoP proof: %w", err)
		}
		req.Header.Set("DPoP", p)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tokensource: token exchange: %w", err)
	}
	defer resp.Body.Close()
	a := &answer{StatusCode: resp.StatusCode}
	if n := resp.Header.Get("DPoP-Nonce"); n != "" {
		s.mu.Lock()
		a.nonce, s.nonce = n != s.nonce, n
		s.mu.Unlock()
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("tokensource: read token response: %w", err)
	}
	if err := json.Unmarshal(b, &a.tokenResponse); err != nil && resp.StatusCode == http.StatusOK {
		return nil, fmt.Errorf("tokensource: token response is not JSON: %w", err)
	}
	return a, nil
}

// clientAssertion is a private_key_jwt assertion (RFC 7523 §3).
func (s *Source) clientAssertion(endpoint string) (string, error) {
	now := s.cfg.Now()
	a, err := s.assertion.sign(
		map[string]any{"alg": s.assertion.alg, "kid": s.cfg.ClientAssertionKeyID, "typ": "JWT"},
		map[string]any{
			"iss": s.cfg.ClientID, "sub": s.cfg.ClientID, "aud": endpoint,
			"jti": rand.Text(), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		})
	if err != nil {
		return "", fmt.Errorf("tokensource: client assertion: %w", err)
	}
	return a, nil
}

func (s *Source) token(a *answer) (*oauth2.Token, error) {
	r := a.tokenResponse
	if r.AccessToken == "" {
		return nil, errors.New("tokensource: token response has no access_token")
	}
	t := &oauth2.Token{AccessToken: r.AccessToken}
	switch {
	case strings.EqualFold(r.TokenType, "DPoP"):
		if s.dpop == nil {
			return nil, errors.New("tokensource: tokex issued a DPoP token, and this Source has no DPoPKey")
		}
		t.TokenType = "DPoP"
	case strings.EqualFold(r.TokenType, "Bearer"):
		t.TokenType = "Bearer"
	default:
		return nil, fmt.Errorf("tokensource: token_type %q is neither Bearer nor DPoP", r.TokenType)
	}
	if r.ExpiresIn > 0 {
		t.ExpiresIn = int64(r.ExpiresIn)
		t.Expiry = s.cfg.Now().Add(time.Duration(r.ExpiresIn * float64(time.Second)))
	}
	return t.WithExtra(map[string]any{"issued_token_type": r.IssuedTokenType, "scope": r.Scope}), nil
}

// htu is a DPoP proof's htu: the URL without query and fragment (RFC 9449 §4.2).
func htu(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.RawFragment, c.User = "", "", "", nil
	return c.String()
}
