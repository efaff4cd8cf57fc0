package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"golang.org/x/time/rate"
)

// remoteKeys is an issuer's JWKS fetched over HTTP: refreshed in the
// background as the IdP's Cache-Control says (bounded by MinRefreshInterval and
// MaxRefreshInterval), refetched at most once per UnknownKIDInterval for an
// unknown kid, and never emptied by a failed or empty fetch, so the last good
// keys keep verifying while the IdP is down.
type remoteKeys struct {
	*jwkset.MemoryJWKSet
	v       *verifier
	url     string
	unknown *rate.Limiter
	mu      sync.Mutex // one fetch at a time
}

// KeyRead finds kid, refetching the JWKS once if the rate limit allows.
func (k *remoteKeys) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	jwk, err := k.MemoryJWKSet.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) || !k.unknown.Allow() {
		return jwk, err
	}
	if _, ferr := k.refresh(ctx); ferr != nil {
		return jwkset.JWK{}, errors.Join(err, ferr)
	}
	return k.MemoryJWKSet.KeyRead(ctx, kid)
}

// refresh fetches the JWKS and replaces the keys; it returns the response's
// max-age (-1 when it has none). Every failure is logged and counted.
func (k *remoteKeys) refresh(ctx context.Context) (time.Duration, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	maxAge, err := k.fetch(ctx)
	k.v.count(err == nil)
	if err != nil {
		k.v.fetch.record(err)
		k.v.reg.opts.Logger.WarnContext(ctx, "upstream JWKS refresh failed; keeping the last good keys",
			"issuer", k.v.label, "jwks_uri", k.url, "error", err)
	}
	return maxAge, err
}

func (k *remoteKeys) fetch(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, k.v.reg.opts.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return -1, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.v.client.Do(req)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return -1, fmt.Errorf("%s: HTTP %d", k.url, resp.StatusCode)
	}
	var set jwkset.JWKSMarshal
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return -1, fmt.Errorf("%s: not a JWK Set: %w", k.url, err)
	}
	keys := make([]jwkset.JWK, 0, len(set.Keys))
	for _, m := range set.Keys {
		// Public parts only (Private: false); key types tokex cannot use are
		// skipped, as jwkset does.
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		switch {
		case errors.Is(err, jwkset.ErrUnsupportedKey):
			continue
		case err != nil:
			return -1, fmt.Errorf("%s: key %q: %w", k.url, m.KID, err)
		}
		keys = append(keys, jwk)
	}
	old, _ := k.MemoryJWKSet.KeyReadAll(ctx)
	if len(keys) == 0 && len(old) > 0 {
		return -1, fmt.Errorf("%s: the JWK Set has no usable key; keeping the previous keys", k.url)
	}
	if err := k.MemoryJWKSet.KeyReplaceAll(ctx, keys); err != nil {
		return -1, err
	}
	return maxAge(resp.Header.Get("Cache-Control")), nil
}

// loop refreshes the keys until ctx ends: after the IdP's max-age (bounded),
// or RefreshInterval when it sends none; after a failure, sooner, with backoff.
func (k *remoteKeys) loop(ctx context.Context, age time.Duration) {
	o := k.v.reg.opts
	interval := func(age time.Duration) time.Duration {
		if age < 0 {
			return o.RefreshInterval
		}
		return min(max(age, o.MinRefreshInterval), o.MaxRefreshInterval)
	}
	next := interval(age)
	backoff := min(o.MinRefreshInterval, next)
	t := time.NewTimer(next)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		age, err := k.refresh(ctx)
		if err != nil {
			next = min(backoff, interval(-1))
			backoff = min(2*backoff, o.MaxRefreshInterval)
		} else {
			next = interval(age)
			backoff = min(o.MinRefreshInterval, next)
		}
		t.Reset(next)
	}
}

// maxAge reads max-age from a Cache-Control header (RFC 9111 §5.2.2.1); -1
// when there is none. no-store and no-cache count as 0 (refresh as soon as
// allowed).
func maxAge(cc string) time.Duration {
	age := time.Duration(-1)
	for d := range strings.SplitSeq(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return 0
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
			if err == nil && n >= 0 {
				age = time.Duration(min(n, int64(365*24*3600))) * time.Second
			}
		}
	}
	return age
}
