package testidp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/testidp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	c.CloseIdleConnections()
	return resp.StatusCode, b
}

func keyfuncOf(t *testing.T, idp *testidp.IdP) keyfunc.Keyfunc {
	t.Helper()
	code, body := get(t, idp.JWKSURI())
	if code != http.StatusOK {
		t.Fatalf("GET jwks: %d", code)
	}
	kf, err := keyfunc.NewJWKSetJSON(body)
	if err != nil {
		t.Fatalf("keyfunc: %v", err)
	}
	return kf
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]any{}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSignVerifiesWithPublishedKeys(t *testing.T) {
	idp := testidp.New(t)
	kf := keyfuncOf(t, idp)
	for _, alg := range []string{testidp.RS256, testidp.ES256} {
		t.Run(alg, func(t *testing.T) {
			raw := idp.Sign(idp.Claims("alice", "api"), testidp.Alg(alg))
			tok, err := jwt.Parse(raw, kf.Keyfunc, jwt.WithValidMethods([]string{alg}), jwt.WithIssuer(idp.Issuer()), jwt.WithAudience("api"))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := tok.Header["kid"]; got != idp.KID(alg) {
				t.Errorf("kid = %v, want %s", got, idp.KID(alg))
			}
		})
	}
}

func TestHostileVariants(t *testing.T) {
	idp := testidp.New(t)
	other := testidp.New(t)
	kf := keyfuncOf(t, idp)
	claims := idp.Claims("alice", "api")
	parse := func(raw string) error {
		_, err := jwt.Parse(raw, kf.Keyfunc, jwt.WithValidMethods([]string{"RS256", "ES256"}))
		return err
	}
	tests := []struct {
		name   string
		opts   []testidp.SignOption
		header map[string]any // expected header fields (nil value: absent)
	}{
		{name: "foreign", opts: []testidp.SignOption{testidp.Foreign()}},
		{name: "signed by other", opts: []testidp.SignOption{testidp.SignedBy(other)}, header: map[string]any{"kid": other.KID(testidp.RS256)}},
		{name: "other with own kid", opts: []testidp.SignOption{testidp.SignedBy(other), testidp.KID(idp.KID(testidp.RS256))}},
		{name: "none", opts: []testidp.SignOption{testidp.None()}, header: map[string]any{"alg": "none"}},
		{name: "hs256", opts: []testidp.SignOption{testidp.HS256WithPublicKey()}, header: map[string]any{"alg": "HS256"}},
		{name: "no kid foreign", opts: []testidp.SignOption{testidp.Foreign(), testidp.NoKID()}, header: map[string]any{"kid": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := idp.Sign(claims, tc.opts...)
			if err := parse(raw); err == nil {
				t.Fatal("a hostile token verified against the published keys")
			}
			h := header(t, raw)
			for k, want := range tc.header {
				if got, ok := h[k]; want == nil && ok || want != nil && got != want {
					t.Errorf("header %s = %v, want %v", k, got, want)
				}
			}
		})
	}

	raw := idp.Sign(claims, testidp.Header("jku", "https://evil.example/jwks"), testidp.Header("typ", nil))
	h := header(t, raw)
	if h["jku"] != "https://evil.example/jwks" || h["typ"] != nil {
		t.Errorf("header = %v", h)
	}
	if err := parse(raw); err != nil {
		t.Errorf("extra header broke the signature: %v", err)
	}
}

func TestJWKSModesAndCounter(t *testing.T) {
	idp := testidp.New(t)
	if code, _ := get(t, idp.JWKSURI()); code != http.StatusOK {
		t.Fatalf("serve: %d", code)
	}
	idp.SetJWKSMode(testidp.Fail)
	if code, _ := get(t, idp.JWKSURI()); code != http.StatusInternalServerError {
		t.Errorf("fail: %d", code)
	}
	idp.SetJWKSMode(testidp.Oversized)
	if code, body := get(t, idp.JWKSURI()); code != http.StatusOK || len(body) <= 1<<20 {
		t.Errorf("oversized: %d, %d bytes", code, len(body))
	}
	idp.SetJWKSMode(testidp.Redirect)
	if code, _ := get(t, idp.JWKSURI()); code != http.StatusFound {
		t.Errorf("redirect: %d", code)
	}
	idp.SetJWKSMode(testidp.Hang)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, idp.JWKSURI(), nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("hang: answered %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
	if got := idp.JWKSFetches(); got != 5 {
		t.Errorf("JWKSFetches = %d, want 5", got)
	}
}

func TestRotateAndDiscovery(t *testing.T) {
	idp := testidp.New(t, testidp.WithIssuerPath("tenant1"))
	old := idp.KID(testidp.RS256)
	idp.Rotate(true)
	if idp.KID(testidp.RS256) == old {
		t.Fatal("rotate kept the kid")
	}
	_, body := get(t, idp.JWKSURI())
	if !strings.Contains(string(body), old) || !strings.Contains(string(body), idp.KID(testidp.RS256)) {
		t.Errorf("rotate(keepOld) JWKS = %s", body)
	}
	idp.Rotate(false)
	if _, body = get(t, idp.JWKSURI()); strings.Contains(string(body), old) {
		t.Errorf("rotate(false) still publishes %s", old)
	}

	for _, u := range []string{idp.DiscoveryURL(), idp.URL() + "/.well-known/oauth-authorization-server/tenant1"} {
		code, body := get(t, u)
		var doc struct{ Issuer, JWKSURI string }
		_ = json.Unmarshal(body, &struct {
			Issuer  *string `json:"issuer"`
			JWKSURI *string `json:"jwks_uri"`
		}{&doc.Issuer, &doc.JWKSURI})
		if code != http.StatusOK || doc.Issuer != idp.Issuer() || doc.JWKSURI != idp.JWKSURI() {
			t.Errorf("GET %s: %d %s", u, code, body)
		}
	}
	if !strings.HasSuffix(idp.Issuer(), "/tenant1") || idp.DiscoveryFetches() != 2 {
		t.Errorf("issuer %s, discovery fetches %d", idp.Issuer(), idp.DiscoveryFetches())
	}
	idp.SetDiscoveryIssuer("https://elsewhere.example")
	if _, body := get(t, idp.DiscoveryURL()); !strings.Contains(string(body), "elsewhere") {
		t.Errorf("discovery issuer override: %s", body)
	}
}
