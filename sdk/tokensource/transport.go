package tokensource

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Transport is an http.RoundTripper that sends each request with a token
// from Source: Authorization: Bearer <token>, or for a DPoP token
// Authorization: DPoP <token> and a fresh DPoP proof (RFC 9449 §7: htm,
// htu = the request URL without query and fragment, iat, jti, ath). When
// the API answers 401 with a use_dpop_nonce challenge and a DPoP-Nonce, the
// request is sent once more with the nonce (its body must be replayable:
// requests made with http.NewRequest from a bytes or strings reader are),
// and the nonce is kept for the API's later requests.
//
// A Transport must not be copied after first use.
type Transport struct {
	// Source gives the tokens; with a *Source, the request's context reaches
	// its Subject and Actor functions.
	Source oauth2.TokenSource
	// Base sends the requests; default http.DefaultTransport.
	Base http.RoundTripper
	// DPoPKey signs the proofs; default the DPoPKey of Source when it is a
	// *Source.
	DPoPKey crypto.Signer

	mu     sync.Mutex
	signer *signer
	key    crypto.Signer     // the key signer was made for
	nonces map[string]string // by origin (scheme://host): the last DPoP-Nonce
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	closeBody := func() {
		if req.Body != nil {
			_ = req.Body.Close()
		}
	}
	if t.Source == nil {
		closeBody()
		return nil, errors.New("tokensource: Transport has no Source")
	}
	tok, err := t.token(req.Context())
	if err != nil {
		closeBody()
		return nil, err
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if !strings.EqualFold(tok.TokenType, "DPoP") {
		r := req.Clone(req.Context())
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return base.RoundTrip(r)
	}
	s, err := t.proofSigner()
	if err != nil {
		closeBody()
		return nil, err
	}
	origin := req.URL.Scheme + "://" + req.URL.Host
	r, err := t.withProof(req, req.Body, s, tok, t.nonce(origin))
	if err != nil {
		closeBody()
		return nil, err
	}
	resp, err := base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	nonce := resp.Header.Get("DPoP-Nonce")
	if nonce != "" {
		t.setNonce(origin, nonce)
	}
	// RFC 9449 §9: a resource server asks for a nonce with 401 and a challenge.
	if resp.StatusCode != http.StatusUnauthorized || nonce == "" || !nonceChallenge(resp.Header.Values("WWW-Authenticate")) {
		return resp, nil
	}
	body := io.ReadCloser(http.NoBody)
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil // the body cannot be sent again: the caller sees the challenge
		}
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if r, err = t.withProof(req, body, s, tok, nonce); err != nil {
		_ = body.Close()
		return nil, err
	}
	return base.RoundTrip(r)
}

func (t *Transport) token(ctx context.Context) (*oauth2.Token, error) {
	if s, ok := t.Source.(interface {
		TokenContext(context.Context) (*oauth2.Token, error)
	}); ok {
		return s.TokenContext(ctx)
	}
	return t.Source.Token()
}

// withProof is a clone of req with body, the token and a new proof.
func (t *Transport) withProof(req *http.Request, body io.ReadCloser, s *signer, tok *oauth2.Token, nonce string) (*http.Request, error) {
	p, err := s.proof(req.Method, htu(req.URL), nowOf(t.Source)().Unix(), tok.AccessToken, nonce)
	if err != nil {
		return nil, fmt.Errorf("tokensource: DPoP proof: %w", err)
	}
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	r.Header.Set("DPoP", p)
	return r, nil
}

func (t *Transport) proofSigner() (*signer, error) {
	key := t.DPoPKey
	if key == nil {
		if s, ok := t.Source.(*Source); ok {
			key = s.cfg.DPoPKey
		}
	}
	if key == nil {
		return nil, errors.New("tokensource: the token is DPoP-bound, and the Transport has no DPoPKey")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.signer == nil || t.key != key {
		s, err := newSigner(key)
		if err != nil {
			return nil, fmt.Errorf("tokensource: DPoPKey: %w", err)
		}
		t.signer, t.key = s, key
	}
	return t.signer, nil
}

func (t *Transport) nonce(origin string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nonces[origin]
}

func (t *Transport) setNonce(origin, nonce string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nonces == nil {
		t.nonces = map[string]string{}
	}
	if len(t.nonces) > 1024 {
		clear(t.nonces)
	}
	t.nonces[origin] = nonce
}

// nonceChallenge reports whether a DPoP challenge says use_dpop_nonce.
func nonceChallenge(challenges []string) bool {
	for _, c := range challenges {
		scheme, params, _ := strings.Cut(strings.TrimSpace(c), " ")
		if strings.EqualFold(scheme, "DPoP") && strings.Contains(params, `error="use_dpop_nonce"`) {
			return true
		}
	}
	return false
}

// nowOf is the clock of a *Source, else time.Now.
func nowOf(ts oauth2.TokenSource) func() time.Time {
	if s, ok := ts.(*Source); ok {
		return s.cfg.Now
	}
	return time.Now
}
