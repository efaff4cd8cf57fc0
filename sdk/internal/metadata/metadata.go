// Package metadata fetches RFC 8414 authorization server metadata for the
// SDK packages: the well-known URL built as RFC 8414 §3.1 says, the body
// capped, and the document's issuer compared exactly with the one asked for
// (§3.3), so a document cannot speak for another issuer.
package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// MaxBytes bounds a metadata or JWKS document.
const MaxBytes = 1 << 20

// Document holds the members the SDK reads.
type Document struct {
	Issuer        string `json:"issuer"`
	TokenEndpoint string `json:"token_endpoint"`
	JWKSURI       string `json:"jwks_uri"`
}

// URL is where issuer's metadata lives (RFC 8414 §3.1): the well-known
// segment goes between the host and the issuer's path.
func URL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("issuer %q is not an absolute http(s) URL", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("issuer %q has a query or fragment (RFC 8414 §2)", issuer)
	}
	u.Path = "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// Fetch reads issuer's metadata with client.
func Fetch(ctx context.Context, client *http.Client, issuer string) (*Document, error) {
	u, err := URL(issuer)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch metadata %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch metadata %s: HTTP %d", u, resp.StatusCode)
	}
	var doc Document
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxBytes)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("read metadata %s: %w", u, err)
	}
	// RFC 8414 §3.3: the issuer must be identical to the one the URL was built from.
	if doc.Issuer != issuer {
		return nil, fmt.Errorf("metadata at %s names issuer %q, not %q", u, doc.Issuer, issuer)
	}
	return &doc, nil
}

// LimitBody returns a client like c (http.DefaultClient when nil) whose
// response bodies end after MaxBytes, for libraries that read whole bodies.
func LimitBody(c *http.Client) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cc := *c
	base := cc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = limitTransport{base}
	return &cc
}

type limitTransport struct{ base http.RoundTripper }

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = limitedBody{io.LimitReader(resp.Body, MaxBytes), resp.Body}
	return resp, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}
