package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/internal/jws"
)

// maxDocument caps a metadata or JWKS response.
const maxDocument = 1 << 20

// verifyError is a failed signature check; fetch: the keys could not be had.
type verifyError struct {
	msg   string
	fetch bool
}

func (e *verifyError) Error() string { return e.msg }

func fetchErr(format string, args ...any) error {
	return &verifyError{msg: fmt.Sprintf(format, args...), fetch: true}
}

// verify fetches the keys of issuer (RFC 8414 / OpenID Connect discovery,
// then jwks_uri) and checks raw's signature with them. Nothing but those two
// GETs leaves the process.
func verify(ctx context.Context, raw, issuer string, o Options) (string, error) {
	tok, err := jws.Parse(raw, &jws.Registered{}, nil)
	if err != nil {
		return "", &verifyError{msg: "the token cannot be parsed strictly: " + err.Error()}
	}
	alg, _ := tok.Header["alg"].(string)
	if tok.Method == nil {
		return "", &verifyError{msg: fmt.Sprintf("alg %q names no signature algorithm", clip(alg))}
	}
	if strings.HasPrefix(alg, "HS") {
		return "", &verifyError{msg: "alg " + alg + " is HMAC: only holders of the shared secret can verify it, never with published keys"}
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if err := fetchable(issuer); err != nil {
		return "", err
	}
	jwksURI, err := discover(ctx, client, issuer)
	if err != nil {
		return "", err
	}
	if err := fetchable(jwksURI); err != nil {
		return "", err
	}
	var set jwkset.JWKSMarshal
	if err := getJSON(ctx, client, jwksURI, &set); err != nil {
		return "", err
	}
	kid, hasKID := tok.Header["kid"].(string)
	var keys []jwt.VerificationKey
	for _, m := range set.Keys {
		if hasKID && m.KID != kid {
			continue
		}
		if m.USE != "" && m.USE != jwkset.UseSig {
			continue
		}
		if m.ALG != "" && string(m.ALG) != alg {
			continue
		}
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue
		}
		keys = append(keys, k.Key())
	}
	if len(keys) == 0 {
		if hasKID {
			return "", &verifyError{msg: fmt.Sprintf("key id %q is not among the %d keys %s publishes for %s", clip(kid), len(set.Keys), issuer, alg)}
		}
		return "", &verifyError{msg: fmt.Sprintf("%s publishes no %s key", issuer, alg)}
	}
	if err := jws.Verify(tok, jwt.VerificationKeySet{Keys: keys}); err != nil {
		return "", &verifyError{msg: fmt.Sprintf("invalid signature: it does not verify with the keys %s publishes", issuer)}
	}
	return fmt.Sprintf("verifies with the keys %s publishes (%s)", issuer, jwksURI), nil
}

// fetchable: https, or http to a loopback host (a local test IdP).
func fetchable(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return fetchErr("%q is not a URL to fetch keys from", clip(u))
	}
	if p.Scheme == "https" {
		return nil
	}
	if ip := net.ParseIP(p.Hostname()); p.Scheme == "http" && (p.Hostname() == "localhost" || ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fetchErr("%q is not https: keys are fetched only over https (or http to a loopback host)", clip(u))
}

// discover finds the jwks_uri of issuer: OpenID Connect discovery, then
// RFC 8414 §3.1 (the well-known path between host and path).
func discover(ctx context.Context, client *http.Client, issuer string) (string, error) {
	base := strings.TrimSuffix(issuer, "/")
	p, _ := url.Parse(base)
	urls := []string{base + "/.well-known/openid-configuration",
		p.Scheme + "://" + p.Host + "/.well-known/oauth-authorization-server" + p.EscapedPath()}
	var errs []error
	for _, u := range urls {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := getJSON(ctx, client, u, &doc); err != nil {
			errs = append(errs, err)
			continue
		}
		// OpenID Connect Discovery §4.3, RFC 8414 §3.3: issuer must match exactly.
		if doc.Issuer != issuer {
			return "", fetchErr("the metadata at %s names issuer %q, not %q", u, clip(doc.Issuer), issuer)
		}
		if doc.JWKSURI == "" {
			return "", fetchErr("the metadata at %s has no jwks_uri", u)
		}
		return doc.JWKSURI, nil
	}
	return "", fetchErr("no metadata for %s: %v", issuer, errors.Join(errs...))
}

func getJSON(ctx context.Context, client *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fetchErr("%s: %v", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fetchErr("%v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fetchErr("%s: HTTP %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return fetchErr("%s: %v", u, err)
	}
	if len(b) > maxDocument {
		return fetchErr("%s: larger than 1 MiB", u)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fetchErr("%s: %v", u, err)
	}
	return nil
}
