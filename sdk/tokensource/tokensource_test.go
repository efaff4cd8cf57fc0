package tokensource_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/dpop"
	"github.com/tokex/tokex/sdk/tokensource"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// opaqueSigner hides the key's type: only crypto.Signer, as a KMS or HSM
// key is.
type opaqueSigner struct{ crypto.Signer }

func subject(tok string) tokensource.TokenFunc {
	return func(context.Context) (string, string, error) { return tok, tokensource.AccessToken, nil }
}

// clock is a settable time source.
type clock struct{ t atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.t.Store(time.Now().UnixNano()); return c }
func (c *clock) now() time.Time      { return time.Unix(0, c.t.Load()) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d)) }

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestExchangeBearer(t *testing.T) {
	f := newFakeTokex(t)
	src, err := tokensource.NewSource(tokensource.Config{
		TokenURL: f.URL + "/token", ClientID: clientID, ClientSecret: clientSecret,
		Subject: subject(goodSubject), Audience: "https://inventory.example.com", Resource: "https://inventory.example.com/v1",
		Scopes: []string{"inventory.read", "inventory.write"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.AccessToken == "" || time.Until(tok.Expiry) < 4*time.Minute {
		t.Errorf("token = %+v", tok)
	}
	if tok.Extra("issued_token_type") != tokensource.AccessToken || tok.Extra("scope") != "inventory.read inventory.write" {
		t.Errorf("extra: %v, %v", tok.Extra("issued_token_type"), tok.Extra("scope"))
	}
	form := f.lastForm()
	for k, want := range map[string]string{
		"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": goodSubject,
		"subject_token_type": tokensource.AccessToken, "audience": "https://inventory.example.com",
		"resource": "https://inventory.example.com/v1", "scope": "inventory.read inventory.write",
	} {
		if got := form[k]; len(got) != 1 || got[0] != want {
			t.Errorf("form %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"actor_token", "client_id", "client_assertion"} {
		if _, ok := form[k]; ok {
			t.Errorf("form has %s", k)
		}
	}
}

func TestCache(t *testing.T) {
	f := newFakeTokex(t)
	c := newClock()
	user := atomic.Value{}
	user.Store("alice")
	src, err := tokensource.NewSource(tokensource.Config{
		TokenURL: f.URL + "/token", ClientID: clientID, ClientSecret: clientSecret, Now: c.now,
		Subject: func(context.Context) (string, string, error) { return user.Load().(string), tokensource.JWT, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		t.Helper()
		tok, err := src.Token()
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	first := get()
	if get() != first || f.exchanges.Load() != 1 {
		t.Fatalf("second call exchanged again (%d exchanges)", f.exchanges.Load())
	}
	// Another subject never gets alice's token.
	user.Store("bob")
	if bob := get(); bob == first || claimsOf(t, bob)["sub"] != "bob" {
		t.Fatal("bob got alice's token")
	}
	user.Store("alice")
	c.add(4*time.Minute + 29*time.Second) // 300 s tokens: refreshed 30 s early
	if get() != first {
		t.Fatal("refreshed more than 30 s early")
	}
	c.add(2 * time.Second)
	if get() == first || f.exchanges.Load() != 3 {
		t.Fatalf("not refreshed 30 s before expiry (%d exchanges)", f.exchanges.Load())
	}
}

func TestSingleFlight(t *testing.T) {
	f := newFakeTokex(t)
	f.delay.Store(int64(100 * time.Millisecond))
	src, err := tokensource.NewSource(tokensource.Config{TokenURL: f.URL + "/token", ClientID: clientID, ClientSecret: clientSecret, Subject: subject(goodSubject)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	toks := make([]string, 16)
	for i := range toks {
		wg.Go(func() {
			tok, err := src.Token()
			if err != nil {
				t.Error(err)
				return
			}
			toks[i] = tok.AccessToken
		})
	}
	wg.Wait()
	if n := f.exchanges.Load(); n != 1 {
		t.Errorf("%d exchanges for 16 concurrent callers, want 1", n)
	}
	for _, tok := range toks[1:] {
		if tok != toks[0] {
			t.Error("callers got different tokens")
		}
	}
}

func TestCallerContext(t *testing.T) {
	f := newFakeTokex(t)
	f.delay.Store(int64(300 * time.Millisecond))
	src, err := tokensource.NewSource(tokensource.Config{TokenURL: f.URL + "/token", ClientID: clientID, ClientSecret: clientSecret, Subject: subject(goodSubject)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := src.TokenContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	// The exchange went on; the next caller gets its token.
	if _, err := src.TokenContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := f.exchanges.Load(); n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}
}

func TestDPoP(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{
		{"ES256", ecKey(t)}, {"ES256 opaque signer", opaqueSigner{ecKey(t)}}, {"ES384 opaque signer", opaqueSigner{p384}},
		{"RS256", rsaKey}, {"EdDSA", edKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTokex(t)
			f.nonce.Store(true)
			user := atomic.Value{}
			user.Store("alice")
			src, err := tokensource.NewSource(tokensource.Config{
				TokenURL: f.URL + "/token", ClientID: clientID, ClientSecret: clientSecret, DPoPKey: tc.key,
				Subject: func(context.Context) (string, string, error) {
					return user.Load().(string), tokensource.AccessToken, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := src.Token()
			if err != nil {
				t.Fatal(err)
			}
			jkt, err := dpop.Thumbprint(tc.key.Public())
			if err != nil {
				t.Fatal(err)
			}
			cnf, _ := claimsOf(t, tok.AccessToken)["cnf"].(map[string]any)
			if tok.TokenType != "DPoP" || cnf["jkt"] != jkt {
				t.Errorf("token type %q, cnf %v, want DPoP bound to %s", tok.TokenType, cnf, jkt)
			}
			if n := f.nonceAsks.Load(); n != 1 {
				t.Errorf("%d use_dpop_nonce answers, want 1 (then a retry with the nonce)", n)
			}
			// The nonce is remembered: the next exchange sends it at once.
			user.Store("bob")
			if _, err := src.Token(); err != nil {
				t.Fatal(err)
			}
			if n := f.nonceAsks.Load(); n != 1 {
				t.Errorf("%d use_dpop_nonce answers after the second exchange, want still 1", n)
			}
		})
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", opaqueSigner{ecKey(t)}}, {"EdDSA", edKey}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTokex(t)
			f.clientKey = tc.key.Public()
			src, err := tokensource.NewSource(tokensource.Config{
				Issuer: f.URL, ClientID: clientID, ClientAssertionSigner: tc.key, ClientAssertionKeyID: "orders-1",
				Subject: subject(goodSubject), Audience: "https://inventory.example.com",
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := src.Token(); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			a := f.assertions[0]
			f.mu.Unlock()
			exp, _ := a.GetExpirationTime()
			iat, _ := a.GetIssuedAt()
			if exp.Sub(iat.Time) != time.Minute || a["jti"] == "" {
				t.Errorf("assertion claims %v: want a one-minute exp and a jti", a)
			}
			if f.lastForm()["client_id"][0] != clientID {
				t.Error("client_id missing from the body")
			}
		})
	}
}

func TestTLSClientAuth(t *testing.T) {
	f := newFakeTokex(t)
	src, err := tokensource.NewSource(tokensource.Config{Issuer: f.URL, ClientID: clientID, Subject: subject(goodSubject), HTTPClient: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(); err != nil {
		t.Fatal(err)
	}
	if got := f.lastForm()["client_id"]; len(got) != 1 || got[0] != clientID {
		t.Errorf("client_id = %q", got)
	}
}

func TestRefusals(t *testing.T) {
	f := newFakeTokex(t)
	for _, tc := range []struct {
		name    string
		cfg     tokensource.Config
		path    string // the token endpoint's path; default /token
		code    string
		status  int
		desc    string
		noError bool // not an *Error
	}{
		{name: "wrong secret", cfg: tokensource.Config{ClientSecret: "wrong", Subject: subject(goodSubject)},
			code: "invalid_client", status: 401, desc: "client authentication failed"},
		{name: "no rule for the audience", cfg: tokensource.Config{ClientSecret: clientSecret, Subject: subject(goodSubject), Audience: "https://nowhere.example.com"},
			code: "invalid_target", status: 400, desc: "no rule lets client orders"},
		{name: "expired subject", cfg: tokensource.Config{ClientSecret: clientSecret, Subject: subject("expired")},
			code: "invalid_request", status: 400, desc: "the subject token expired"},
		{name: "nonce refused twice", cfg: tokensource.Config{ClientSecret: clientSecret, Subject: subject(goodSubject), DPoPKey: ecKey(t)},
			path: "/token-always-nonce", code: "use_dpop_nonce", status: 400},
		{name: "not an OAuth answer", cfg: tokensource.Config{ClientSecret: clientSecret, Subject: subject(goodSubject)},
			path: "/token-broken", code: "", status: 502},
		{name: "subject function fails", cfg: tokensource.Config{ClientSecret: clientSecret,
			Subject: func(context.Context) (string, string, error) { return "", "", errors.New("no incoming token") }}, noError: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path == "" {
				tc.path = "/token"
			}
			tc.cfg.TokenURL, tc.cfg.ClientID = f.URL+tc.path, clientID
			src, err := tokensource.NewSource(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.Token()
			var e *tokensource.Error
			if tc.noError {
				if err == nil || errors.As(err, &e) {
					t.Fatalf("err = %v, want a non-OAuth error", err)
				}
				return
			}
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *tokensource.Error", err, err)
			}
			if e.Code != tc.code || e.StatusCode != tc.status || !strings.Contains(e.Description, tc.desc) {
				t.Errorf("got %+v, want %s %d %q", e, tc.code, tc.status, tc.desc)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	ok := tokensource.Config{TokenURL: "https://sts.example.com/token", ClientID: clientID, ClientSecret: clientSecret, Subject: subject("s")}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*tokensource.Config)
	}{
		{"no subject", func(c *tokensource.Config) { c.Subject = nil }},
		{"no endpoint", func(c *tokensource.Config) { c.TokenURL = "" }},
		{"relative token URL", func(c *tokensource.Config) { c.TokenURL = "/token" }},
		{"issuer with a query", func(c *tokensource.Config) { c.TokenURL, c.Issuer = "", "https://sts.example.com?x=1" }},
		{"no client id", func(c *tokensource.Config) { c.ClientID = "" }},
		{"secret and assertion", func(c *tokensource.Config) { c.ClientAssertionSigner, c.ClientAssertionKeyID = ecKey(t), "k" }},
		{"assertion without kid", func(c *tokensource.Config) { c.ClientSecret, c.ClientAssertionSigner = "", ecKey(t) }},
		{"RSA-1024 DPoP key", func(c *tokensource.Config) { c.DPoPKey = weak }},
		{"P-224 DPoP key", func(c *tokensource.Config) { c.DPoPKey = p224 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			if _, err := tokensource.NewSource(cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
	if _, err := tokensource.NewSource(ok); err != nil {
		t.Fatalf("the valid config: %v", err)
	}
}
