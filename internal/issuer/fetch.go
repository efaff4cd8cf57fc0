package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"

	"github.com/tokex/tokex/internal/config"
)

// maxUpstreamBytes caps a discovery document or JWKS from an upstream issuer.
const maxUpstreamBytes = 1 << 20

// fetchState remembers whether the last request to an issuer failed, so that an
// unknown kid while the issuer is unreachable is answered 503, not "unknown key".
type fetchState struct {
	lastErr atomic.Pointer[string]
}

func (f *fetchState) failing() bool { return f.lastErr.Load() != nil }

func (f *fetchState) record(err error) {
	if err == nil {
		f.lastErr.Store(nil)
		return
	}
	s := err.Error()
	f.lastErr.Store(&s)
}

// transport caps response bodies and records failures for one issuer.
type transport struct {
	base  http.RoundTripper
	state *fetchState
}

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.state.record(err)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		t.state.record(fmt.Errorf("%s: HTTP %d", req.URL.Redacted(), resp.StatusCode))
	} else {
		t.state.record(nil)
	}
	resp.Body = &capped{ReadCloser: resp.Body, left: maxUpstreamBytes, state: t.state}
	return resp, nil
}

// capped fails a body that is larger than the cap instead of truncating it.
type capped struct {
	io.ReadCloser
	left  int64
	state *fetchState
}

var errTooLarge = errors.New("upstream response larger than 1 MiB")

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.state.record(errTooLarge)
		return 0, errTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left+1] // one byte more, to detect an oversized body
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		c.state.record(errTooLarge)
		return 0, errTooLarge
	}
	return n, err
}

// errLoading: another request is already trying to load the keys.
var errLoading = errors.New("keys are being fetched")

// minRetry spaces out on-demand attempts to load an issuer's keys.
const minRetry = time.Second

// tryLoadKeys is loadKeys for the request path: it never queues behind another
// attempt and does not retry within minRetry, so a down IdP costs a request
// at most one bounded fetch.
func (v *verifier) tryLoadKeys(ctx context.Context) error {
	if !v.mu.TryLock() {
		return errLoading
	}
	defer v.mu.Unlock()
	if v.kf.Load() != nil {
		return nil
	}
	if last := v.lastTry.Load(); last != nil && v.now().Sub(*last) < minRetry {
		return errors.New("last attempt failed moments ago")
	}
	t := v.now()
	v.lastTry.Store(&t)
	return v.loadKeysLocked(ctx)
}

// loadKeys builds the issuer's keyfunc: from inline keys, from jwks_uri, or from
// OIDC discovery (OpenID Connect Discovery §4) with RFC 8414 as the fallback.
// Concurrent callers wait for one attempt.
func (v *verifier) loadKeys(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.kf.Load() != nil {
		return nil
	}
	return v.loadKeysLocked(ctx)
}

func (v *verifier) loadKeysLocked(ctx context.Context) error {
	r := v.reg
	if v.cfg.JWKS != nil || v.cfg.JWKSFile != "" {
		return v.loadLocalKeys()
	}
	u := v.cfg.JWKSURI
	if u == "" {
		var err error
		if u, err = v.discover(ctx); err != nil {
			v.fetch.record(err)
			return err
		}
	}
	v.jwksURL.Store(&u)
	keys := &remoteKeys{
		MemoryJWKSet: jwkset.NewMemoryStorage(),
		v:            v,
		url:          u,
		// An unknown kid refetches the JWKS at most once per interval; beyond
		// that it is refused at once instead of waiting.
		unknown: rate.NewLimiter(rate.Every(r.opts.UnknownKIDInterval), 1),
	}
	maxAge, err := keys.refresh(ctx)
	if err != nil {
		return fmt.Errorf("fetch JWKS of issuer %q from %s: %w", v.cfg.Name, u, err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: v.ctx, Storage: keys})
	if err != nil {
		return err
	}
	v.kf.Store(&kf)
	go keys.loop(v.ctx, maxAge)
	r.opts.Logger.Info("upstream issuer keys loaded", "issuer", v.label, "jwks_uri", u)
	return nil
}

// loadLocalKeys builds the keyfunc of keys given in the policy: inline (jwks)
// or in a file (jwks_file), for issuers tokex cannot reach.
func (v *verifier) loadLocalKeys() error {
	var raw []byte
	var err error
	if v.cfg.JWKSFile != "" {
		raw, err = config.ReadJWKSFile(v.cfg.JWKSFile)
	} else {
		raw, err = config.InlineJWKS(v.cfg.JWKS)
	}
	if err != nil {
		return fmt.Errorf("keys of issuer %q: %w", v.cfg.Name, err)
	}
	kf, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		return fmt.Errorf("keys of issuer %q: %w", v.cfg.Name, err)
	}
	v.kf.Store(&kf)
	return nil
}

type discoveryDoc struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

func (v *verifier) discover(ctx context.Context) (string, error) {
	base := strings.TrimSuffix(v.cfg.IssuerURL, "/")
	var errs []error
	for _, u := range discoveryURLs(base) {
		doc, err := v.getJSON(ctx, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// OpenID Connect Discovery §4.3 / RFC 8414 §3.3: issuer must match exactly.
		if doc.Issuer != v.cfg.IssuerURL {
			return "", fmt.Errorf("discovery document at %s names issuer %q, not %q", u, doc.Issuer, v.cfg.IssuerURL)
		}
		if doc.JWKSURI == "" {
			return "", fmt.Errorf("discovery document at %s has no jwks_uri", u)
		}
		return doc.JWKSURI, nil
	}
	return "", fmt.Errorf("discover keys of issuer %q: %w", v.cfg.Name, errors.Join(errs...))
}

// discoveryURLs: OIDC appends the well-known path; RFC 8414 §3.1 inserts it
// between host and path.
func discoveryURLs(base string) []string {
	out := []string{base + "/.well-known/openid-configuration"}
	if i := strings.Index(base[len("https://"):], "/"); i >= 0 && strings.HasPrefix(base, "https://") {
		host, path := base[:len("https://")+i], base[len("https://")+i:]
		out = append(out, host+"/.well-known/oauth-authorization-server"+path)
	} else if j := strings.Index(strings.TrimPrefix(base, "http://"), "/"); strings.HasPrefix(base, "http://") && j >= 0 {
		host, path := base[:len("http://")+j], base[len("http://")+j:]
		out = append(out, host+"/.well-known/oauth-authorization-server"+path)
	} else {
		out = append(out, base+"/.well-known/oauth-authorization-server")
	}
	return out
}

func (v *verifier) getJSON(ctx context.Context, u string) (doc *discoveryDoc, err error) {
	defer func() { v.count(err == nil) }()
	ctx, cancel := context.WithTimeout(ctx, v.reg.opts.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", u, resp.StatusCode)
	}
	doc = &discoveryDoc{}
	if err := json.NewDecoder(resp.Body).Decode(doc); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return doc, nil
}

// warm loads the keys in the background, retrying with backoff until it works
// or the registry closes. An upstream that is down never stops tokex starting.
func (v *verifier) warm() {
	r := v.reg
	backoff := time.Second
	for {
		err := v.loadKeys(r.ctx)
		if err == nil || r.ctx.Err() != nil {
			return
		}
		r.opts.Logger.Warn("upstream issuer keys not available yet; retrying", "issuer", v.label, "retry_in", backoff.String(), "error", err)
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}
