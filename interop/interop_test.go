package interop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokex/tokex/internal/testidp"
)

// Wire constants, spelled out as an outside client would (not imported from
// tokex, so a change there cannot silently change the test).
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"

	// Demo mode's public credentials and downstream audience (README).
	clientID     = "demo-client"
	clientSecret = "demo-secret"
	badSecret    = "not-the-demo-secret-7f3a"
	audience     = "https://orders.example.com"
)

// tokex is the running server shared by every test in the package.
var tokex struct {
	issuer string
	root   string // repository root
	bin    string // the built binary
	out    *testidp.SyncBuffer
}

// httpClient is the one client every library is given (oauth2.HTTPClient,
// oidc.ClientContext), so its idle connections can be closed before goleak
// looks for leaked goroutines.
var httpClient = &http.Client{
	Timeout:   15 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 5 * time.Second}, // no proxy: loopback only
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "go.mod"))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "interop: cannot find the repository root: %v\n", err)
		return 1
	}
	tokex.root = root
	tmp, err := os.MkdirTemp("", "tokex-interop-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "interop: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	bin := filepath.Join(tmp, "tokex")
	build := exec.Command(goTool(), "build", "-o", bin, "./cmd/tokex")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: go build ./cmd/tokex: %v\n%s", err, out)
		return 1
	}

	srv, err := start(bin, "")
	if err != nil {
		fmt.Fprintf(os.Stderr, "interop: %v\n", err)
		return 1
	}
	tokex.issuer, tokex.out, tokex.bin = srv.issuer, srv.out, bin
	code := m.Run()

	if err := srv.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: stopping tokex: %v\n", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- tokex output ---\n%s", tokex.out.String())
	}
	httpClient.CloseIdleConnections()
	if err := goleak.Find(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: goroutine leak: %v\n", err)
		code = 1
	}
	return code
}

// goTool is the go command: the one that runs the tests is first on PATH under
// `go test`; GOROOT is the fallback.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "bin", "go")
	}
	return "go"
}

type server struct {
	issuer string // exactly what TOKEX_ISSUER was set to
	base   string // http://127.0.0.1:<port>
	out    *testidp.SyncBuffer
	cmd    *exec.Cmd
	done   chan error
}

// startForTest starts a tokex of its own for t (as start does), stopped when
// t ends; its output is logged if t failed.
func startForTest(t *testing.T, issuerPath string, env ...string) *server {
	t.Helper()
	srv, err := start(tokex.bin, issuerPath, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("tokex output:\n%s", srv.out.String())
		}
	})
	return srv
}

// start runs the binary (in demo mode unless env sets TOKEX_CONFIG) on a free loopback
// port and waits for /readyz. TOKEX_ISSUER is set to the exact URL clients
// use (base + issuerPath), so the metadata issuer, the iss of minted tokens
// and the URL the libraries are given are byte-identical. A lost race for the
// port is retried.
func start(bin, issuerPath string, env ...string) (*server, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		out := &testidp.SyncBuffer{}
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(cleanEnv(),
			"TOKEX_ADDR=127.0.0.1:"+strconv.Itoa(port), "TOKEX_ADMIN_ADDR=127.0.0.1:0",
			"TOKEX_ISSUER="+base+issuerPath,
			"TOKEX_LOG_LEVEL=warn",
		)
		cmd.Env = append(cmd.Env, env...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start tokex: %w", err)
		}
		s := &server{issuer: base + issuerPath, base: base, out: out, cmd: cmd, done: make(chan error, 1)}
		go func() { s.done <- cmd.Wait() }()
		if err := waitReady(base, s.done); err != nil {
			_ = cmd.Process.Kill()
			<-s.done
			lastErr = fmt.Errorf("%w\n%s", err, out.String())
			continue
		}
		return s, nil
	}
	return nil, fmt.Errorf("tokex did not become ready: %w", lastErr)
}

// cleanEnv is the test's environment without settings that would take tokex
// out of demo mode (unless a test sets them again) or make it export
// telemetry somewhere.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TOKEX_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(base string, done <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("tokex exited before it was ready: %v", err)
		default:
		}
		resp, err := httpClient.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("timed out waiting for /readyz")
}

// stop sends SIGTERM and requires a clean exit (status 0) within the grace.
func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("tokex did not exit cleanly after SIGTERM: %w", err)
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("tokex did not exit within 20s of SIGTERM")
	}
}

// ctx carries httpClient to both libraries.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c = context.WithValue(c, oauth2.HTTPClient, httpClient)
	return oidc.ClientContext(c, httpClient)
}

// demoToken gets a subject token from the demo identity provider.
func demoToken(t *testing.T, form url.Values) string {
	t.Helper()
	return demoTokenAt(t, tokex.issuer, form)
}

func demoTokenAt(t *testing.T, base string, form url.Values) string {
	t.Helper()
	resp, err := httpClient.PostForm(base+"/demo/token", form)
	if err != nil {
		t.Fatalf("POST /demo/token: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("POST /demo/token: status %d, decode error %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

func subjectToken(t *testing.T) string {
	return demoToken(t, url.Values{"sub": {"alice"}, "scope": {"orders.read orders.write"}})
}

// provider runs go-oidc discovery against tokex.
func provider(t *testing.T) *oidc.Provider {
	t.Helper()
	p, err := oidc.NewProvider(ctx(t), tokex.issuer)
	if err != nil {
		t.Fatalf("oidc.NewProvider(%q): %v", tokex.issuer, err)
	}
	return p
}

// exchangeConfig is a clientcredentials.Config that performs an RFC 8693
// token exchange: clientcredentials lets EndpointParams override grant_type
// (clientcredentials.go: "Allow grant_type to be overridden"); any other
// parameter it sets itself (scope, from Scopes) cannot be overridden.
func exchangeConfig(tokenURL, secret string, style oauth2.AuthStyle, subject string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     clientID,
		ClientSecret: secret,
		TokenURL:     tokenURL,
		AuthStyle:    style,
		EndpointParams: url.Values{
			"grant_type":         {grantTokenExchange},
			"subject_token":      {subject},
			"subject_token_type": {tokenTypeAccess},
			"audience":           {audience},
			"scope":              {"orders.read"},
		},
	}
}

var authStyles = []struct {
	name  string
	style oauth2.AuthStyle
}{
	{"AuthStyleInHeader", oauth2.AuthStyleInHeader},
	{"AuthStyleInParams", oauth2.AuthStyleInParams},
	{"AuthStyleAutoDetect", oauth2.AuthStyleAutoDetect},
}

// exchange gets a minted token through golang.org/x/oauth2.
func exchange(t *testing.T, style oauth2.AuthStyle) *oauth2.Token {
	t.Helper()
	tok, err := exchangeConfig(provider(t).Endpoint().TokenURL, clientSecret, style, subjectToken(t)).Token(ctx(t))
	if err != nil {
		t.Fatalf("clientcredentials token exchange: %v", err)
	}
	return tok
}

func TestDiscoveryGoOIDC(t *testing.T) {
	p := provider(t) // NewProvider compares the document's issuer with tokex.issuer exactly
	if got, want := p.Endpoint().TokenURL, tokex.issuer+"/token"; got != want {
		t.Errorf("token endpoint = %q, want %q", got, want)
	}
	var md struct {
		Issuer             string   `json:"issuer"`
		JWKSURI            string   `json:"jwks_uri"`
		GrantTypes         []string `json:"grant_types_supported"`
		AuthMethods        []string `json:"token_endpoint_auth_methods_supported"`
		IDTokenSigningAlgs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&md); err != nil {
		t.Fatal(err)
	}
	if md.Issuer != tokex.issuer {
		t.Errorf("issuer = %q, want %q", md.Issuer, tokex.issuer)
	}
	if md.JWKSURI != tokex.issuer+"/.well-known/jwks.json" {
		t.Errorf("jwks_uri = %q", md.JWKSURI)
	}
	if !contains(md.GrantTypes, grantTokenExchange) {
		t.Errorf("grant_types_supported = %q, want it to contain %s", md.GrantTypes, grantTokenExchange)
	}
	for _, m := range []string{"client_secret_basic", "client_secret_post"} {
		if !contains(md.AuthMethods, m) {
			t.Errorf("token_endpoint_auth_methods_supported = %q, want it to contain %s", md.AuthMethods, m)
		}
	}
	// go-oidc falls back to these when Config.SupportedSigningAlgs is empty
	// (and to RS256 alone when they are absent, which would refuse tokex's
	// ES256 tokens); see TestVerifyDefaultAlgorithms.
	if !contains(md.IDTokenSigningAlgs, "ES256") {
		t.Errorf("id_token_signing_alg_values_supported = %q, want ES256", md.IDTokenSigningAlgs)
	}

	// The issuer check is exact: a trailing slash is another issuer.
	_, err := oidc.NewProvider(ctx(t), tokex.issuer+"/")
	var mismatch *oidc.IssuerMismatchError
	if !errors.As(err, &mismatch) {
		t.Errorf("NewProvider(issuer+\"/\") error = %v, want *oidc.IssuerMismatchError", err)
	}
}

func TestDiscoveryDocumentsAgree(t *testing.T) {
	get := func(path string) ([]byte, http.Header) {
		t.Helper()
		resp, err := httpClient.Get(tokex.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b, resp.Header
	}
	oidcDoc, oidcHdr := get("/.well-known/openid-configuration")
	oauthDoc, oauthHdr := get("/.well-known/oauth-authorization-server")
	for name, h := range map[string]http.Header{"openid-configuration": oidcHdr, "oauth-authorization-server": oauthHdr} {
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s Content-Type = %q, want application/json", name, ct)
		}
	}
	var a, b map[string]any
	if err := json.Unmarshal(oidcDoc, &a); err != nil {
		t.Fatalf("openid-configuration: %v", err)
	}
	if err := json.Unmarshal(oauthDoc, &b); err != nil {
		t.Fatalf("oauth-authorization-server: %v", err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the two metadata documents differ:\nopenid-configuration:       %s\noauth-authorization-server: %s", oidcDoc, oauthDoc)
	}
	// RFC 8414 §2: response_types_supported is REQUIRED (empty here: no
	// authorization endpoint).
	if _, ok := b["response_types_supported"]; !ok {
		t.Error("response_types_supported missing (RFC 8414 §2: REQUIRED)")
	}
}

func TestExchangeOAuth2ClientCredentials(t *testing.T) {
	for _, s := range authStyles {
		t.Run(s.name, func(t *testing.T) {
			before := time.Now()
			tok := exchange(t, s.style)
			if tok.AccessToken == "" || strings.Count(tok.AccessToken, ".") != 2 {
				t.Fatalf("AccessToken = %q, want a JWS compact JWT", tok.AccessToken)
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("TokenType = %q, want Bearer", tok.TokenType)
			}
			if tok.Type() != "Bearer" {
				t.Errorf("Type() = %q, want Bearer", tok.Type())
			}
			if !tok.Expiry.After(before) || tok.Expiry.After(before.Add(15*time.Minute+5*time.Second)) {
				t.Errorf("Expiry = %v, want in the future and within max_lifetime", tok.Expiry)
			}
			if !tok.Valid() {
				t.Error("Valid() = false")
			}
			if got := tok.Extra("issued_token_type"); got != tokenTypeAccess {
				t.Errorf("Extra(issued_token_type) = %v, want %s", got, tokenTypeAccess)
			}
			if got := tok.Extra("scope"); got != "orders.read" {
				t.Errorf("Extra(scope) = %v, want orders.read", got)
			}
			if tok.RefreshToken != "" {
				t.Errorf("RefreshToken = %q, want none", tok.RefreshToken)
			}
			// expires_in must be a JSON number (oauth2 also accepts a string, so check the raw value).
			if _, ok := tok.Extra("expires_in").(float64); !ok {
				t.Errorf("expires_in = %#v, want a JSON number", tok.Extra("expires_in"))
			}
		})
	}
}

// TestExchangeScopesField uses Config.Scopes, which clientcredentials turns
// into the scope parameter itself.
func TestExchangeScopesField(t *testing.T) {
	cfg := exchangeConfig(provider(t).Endpoint().TokenURL, clientSecret, oauth2.AuthStyleInHeader, subjectToken(t))
	cfg.EndpointParams.Del("scope")
	cfg.Scopes = []string{"orders.write"}
	tok, err := cfg.Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Extra("scope"); got != "orders.write" {
		t.Errorf("scope = %v, want orders.write", got)
	}
	// And through the caching TokenSource, the way applications use it.
	ts := cfg.TokenSource(ctx(t))
	if _, err := ts.Token(); err != nil {
		t.Fatal(err)
	}
}

func TestRefusalsAreRetrieveErrors(t *testing.T) {
	tokenURL := provider(t).Endpoint().TokenURL
	subject := subjectToken(t)
	idToken := demoToken(t, url.Values{"sub": {"alice"}, "kind": {"id_token"}})

	cases := []struct {
		name    string
		style   oauth2.AuthStyle
		edit    func(*clientcredentials.Config)
		code    string
		status  int
		descHas string
	}{
		{"wrong secret in header", oauth2.AuthStyleInHeader, func(c *clientcredentials.Config) { c.ClientSecret = badSecret }, "invalid_client", 401, ""},
		{"wrong secret in params", oauth2.AuthStyleInParams, func(c *clientcredentials.Config) { c.ClientSecret = badSecret }, "invalid_client", 401, ""},
		// AutoDetect tries the header, then the body: both refused, the last error is returned.
		{"wrong secret auto-detect", oauth2.AuthStyleAutoDetect, func(c *clientcredentials.Config) { c.ClientSecret = badSecret }, "invalid_client", 401, ""},
		{"ID token as subject", oauth2.AuthStyleInHeader, func(c *clientcredentials.Config) { c.EndpointParams.Set("subject_token", idToken) }, "invalid_request", 400, "ID token"},
		{"no subject_token_type", oauth2.AuthStyleInHeader, func(c *clientcredentials.Config) { c.EndpointParams.Del("subject_token_type") }, "invalid_request", 400, "subject_token_type"},
		{"unknown audience", oauth2.AuthStyleInHeader, func(c *clientcredentials.Config) { c.EndpointParams.Set("audience", "https://nobody.example.com") }, "invalid_target", 400, ""},
		{"scope not granted", oauth2.AuthStyleInHeader, func(c *clientcredentials.Config) { c.EndpointParams.Set("scope", "orders.delete") }, "invalid_scope", 400, ""},
		{"plain client_credentials", oauth2.AuthStyleInHeader, func(c *clientcredentials.Config) { c.EndpointParams = nil }, "unsupported_grant_type", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := exchangeConfig(tokenURL, clientSecret, tc.style, subject)
			tc.edit(cfg)
			tok, err := cfg.Token(ctx(t))
			if err == nil {
				t.Fatalf("got a token (%s), want %s", tok.TokenType, tc.code)
			}
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Fatalf("error %T %v, want *oauth2.RetrieveError", err, err)
			}
			if re.ErrorCode != tc.code {
				t.Errorf("ErrorCode = %q, want %q (body %s)", re.ErrorCode, tc.code, re.Body)
			}
			if re.Response == nil || re.Response.StatusCode != tc.status {
				t.Errorf("status = %v, want %d", re.Response, tc.status)
			}
			if re.ErrorDescription == "" || !strings.Contains(re.ErrorDescription, tc.descHas) {
				t.Errorf("ErrorDescription = %q, want it to mention %q", re.ErrorDescription, tc.descHas)
			}
			if tc.code == "invalid_client" && !strings.HasPrefix(re.Response.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", re.Response.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(re.Body), subject) || strings.Contains(string(re.Body), badSecret) {
				t.Errorf("error body echoes a token or secret: %s", re.Body)
			}
		})
	}
}

type mintedClaims struct {
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	JTI      string `json:"jti"`
	NBF      int64  `json:"nbf"`
	IAT      int64  `json:"iat"`
}

func TestVerifyGoOIDC(t *testing.T) {
	p := provider(t)
	tok := exchange(t, oauth2.AuthStyleInHeader)
	v := p.VerifierContext(ctx(t), &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.ES256}})
	idt, err := v.Verify(ctx(t), tok.AccessToken)
	if err != nil {
		t.Fatalf("go-oidc Verify: %v", err)
	}
	if idt.Issuer != tokex.issuer {
		t.Errorf("iss = %q, want %q", idt.Issuer, tokex.issuer)
	}
	if idt.Subject != "alice" {
		t.Errorf("sub = %q, want alice", idt.Subject)
	}
	if !reflect.DeepEqual(idt.Audience, []string{audience}) {
		t.Errorf("aud = %q, want [%s]", idt.Audience, audience)
	}
	if d := idt.Expiry.Sub(tok.Expiry); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("exp %v and expires_in (%v) disagree", idt.Expiry, tok.Expiry)
	}
	var c mintedClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.ClientID != clientID || c.Scope != "orders.read" || c.JTI == "" || c.IAT == 0 || c.NBF == 0 {
		t.Errorf("claims = %+v", c)
	}

	// go-oidc is an ID token verifier: it never looks at the JOSE typ header,
	// so it accepts RFC 9068 at+jwt tokens — and would accept any other typ
	// too. A resource server using it must check typ itself, as here.
	if typ := header(t, tok.AccessToken)["typ"]; typ != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt", typ)
	}
}

// TestVerifyDefaultAlgorithms: without SupportedSigningAlgs go-oidc uses the
// discovered id_token_signing_alg_values_supported.
func TestVerifyDefaultAlgorithms(t *testing.T) {
	p := provider(t)
	tok := exchange(t, oauth2.AuthStyleInParams)
	if _, err := p.VerifierContext(ctx(t), &oidc.Config{ClientID: audience}).Verify(ctx(t), tok.AccessToken); err != nil {
		t.Fatalf("go-oidc Verify with discovered algorithms: %v", err)
	}
}

// TestVerifyGoOIDCRefuses: the verifier says no where it must.
func TestVerifyGoOIDCRefuses(t *testing.T) {
	p := provider(t)
	tok := exchange(t, oauth2.AuthStyleInHeader).AccessToken
	var claims struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	keys := oidc.NewRemoteKeySet(ctx(t), claims.JWKSURI)
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	if i := len(sig) / 2; sig[i] == 'A' {
		sig[i] = 'B'
	} else {
		sig[i] = 'A'
	}
	tampered := parts[0] + "." + parts[1] + "." + string(sig)

	cases := []struct {
		name string
		v    *oidc.IDTokenVerifier
		tok  string
		want string
	}{
		{"another audience", p.VerifierContext(ctx(t), &oidc.Config{ClientID: "https://inventory.example.com", SupportedSigningAlgs: []string{oidc.ES256}}), tok, "expected audience"},
		{"issuer with trailing slash", oidc.NewVerifier(tokex.issuer+"/", keys, &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.ES256}}), tok, "different provider"},
		{"RS256 only", p.VerifierContext(ctx(t), &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.RS256}}), tok, "malformed jwt"},
		{"expired (clock moved)", p.VerifierContext(ctx(t), &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.ES256}, Now: func() time.Time { return time.Now().Add(time.Hour) }}), tok, "expired"},
		{"tampered signature", p.VerifierContext(ctx(t), &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.ES256}}), tampered, "signature"},
		{"demo subject token (other issuer, other key)", p.VerifierContext(ctx(t), &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.ES256, oidc.RS256}}), subjectToken(t), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(ctx(t), tc.tok)
			if err == nil {
				t.Fatal("verified, want a refusal")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestIssuerWithPath runs a second tokex whose issuer has a path
// (http://127.0.0.1:<port>/sts, as behind a reverse proxy that routes /sts to
// it), and talks to it directly, the way a client that only knows the issuer
// does.
func TestIssuerWithPath(t *testing.T) {
	srv := startForTest(t, "/sts")

	// RFC 8414 §3.1: the metadata of issuer https://host/sts is at
	// https://host/.well-known/oauth-authorization-server/sts.
	var md struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	resp, err := httpClient.Get(srv.base + "/.well-known/oauth-authorization-server/sts")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("RFC 8414 path metadata: status %d, %v", resp.StatusCode, err)
	}
	if md.Issuer != srv.issuer {
		t.Fatalf("issuer = %q, want %q", md.Issuer, srv.issuer)
	}

	t.Run("OIDC discovery at issuer path", func(t *testing.T) {
		if _, err := oidc.NewProvider(ctx(t), srv.issuer); err != nil {
			t.Fatal(err)
		}
	})

	subject := demoTokenAt(t, srv.base, url.Values{"sub": {"alice"}})
	t.Run("exchange at advertised token_endpoint", func(t *testing.T) {
		_, err := exchangeConfig(md.TokenEndpoint, clientSecret, oauth2.AuthStyleInHeader, subject).Token(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("verify with advertised jwks_uri", func(t *testing.T) {
		tok, err := exchangeConfig(md.TokenEndpoint, clientSecret, oauth2.AuthStyleInHeader, subject).Token(ctx(t))
		if err != nil {
			t.Fatalf("exchange at %s: %v", md.TokenEndpoint, err)
		}
		v := oidc.NewVerifier(srv.issuer, oidc.NewRemoteKeySet(ctx(t), md.JWKSURI), &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.ES256}})
		if _, err := v.Verify(ctx(t), tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	})
}

// TestClientCredentialEncoding runs tokex with a policy file whose client id
// and secret hold characters that RFC 6749 §2.3.1 form-urlencoding changes
// (':' '@' '+' '/' '=' '%' '&' '?'). golang.org/x/oauth2 encodes Basic
// credentials, tokex must decode them; in the body they are plain form
// fields.
func TestClientCredentialEncoding(t *testing.T) {
	const (
		id     = "svc:orders@interop"
		secret = "s3cr+t/with=odd%chars:&?"
		idpIss = "https://idp.interop.test"
		stsAud = "tokex-interop"
	)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:65]), "kid": "interop-1", "alg": "ES256", "use": "sig",
	}}})
	sum := sha256.Sum256([]byte(secret))
	policy := fmt.Sprintf(`issuer: https://sts.interop.test   # replaced by TOKEX_ISSUER
issuers:
  - name: interop-idp
    issuer_url: %s
    jwks: %s
    audiences: [%s]
    algorithms: [ES256]
clients:
  - id: %q
    secret_sha256: %s
rules:
  - name: interop
    clients: [%q]
    issuers: [interop-idp]
    audience: %s
    scopes: [orders.read]
`, idpIss, jwks, stsAud, id, hex.EncodeToString(sum[:]), id, audience)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startForTest(t, "", "TOKEX_CONFIG="+file)

	p, err := oidc.NewProvider(ctx(t), srv.issuer) // TOKEX_ISSUER overrides the file's issuer, byte for byte
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": idpIss, "sub": "bob", "aud": stsAud, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"jti": "interop-" + strconv.FormatInt(now.UnixNano(), 36), "client_id": "upstream-app",
	})
	st.Header["kid"], st.Header["typ"] = "interop-1", "at+jwt"
	subject, err := st.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	verifier := p.VerifierContext(ctx(t), &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.ES256}})

	for _, s := range authStyles {
		t.Run(s.name, func(t *testing.T) {
			cfg := exchangeConfig(p.Endpoint().TokenURL, secret, s.style, subject)
			cfg.ClientID = id
			tok, err := cfg.Token(ctx(t))
			if err != nil {
				t.Fatalf("exchange as %q: %v", id, err)
			}
			idt, err := verifier.Verify(ctx(t), tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			var c mintedClaims
			if err := idt.Claims(&c); err != nil {
				t.Fatal(err)
			}
			if idt.Subject != "bob" || c.ClientID != id {
				t.Errorf("sub = %q, client_id = %q; want bob, %q", idt.Subject, c.ClientID, id)
			}
		})
	}
	// openid-client encodes Basic credentials too (ClientSecretBasic), and
	// sends them as form fields with ClientSecretPost.
	t.Run("node", func(t *testing.T) {
		runNode(t, "ISSUER="+srv.issuer, "CLIENT_ID="+id, "CLIENT_SECRET="+secret, "SUBJECT_TOKEN="+subject, "SUBJECT=bob")
	})
}

func header(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.SplitN(token, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// TestNodeInterop runs node/verify.mjs (openid-client, jose, oauth4webapi)
// against the running demo tokex.
func TestNodeInterop(t *testing.T) {
	runNode(t, "ISSUER="+tokex.issuer, "CLIENT_ID="+clientID, "CLIENT_SECRET="+clientSecret)
}

// TestNodeDPoP runs node/dpop.mjs: oauth4webapi obtains DPoP-bound tokens
// (ES256, RS256 and EdDSA keys), honours the use_dpop_nonce challenge of
// demo-dpop-client, and jose checks that cnf.jkt is the key's thumbprint.
func TestNodeDPoP(t *testing.T) {
	runNodeScript(t, "dpop.mjs", "ISSUER="+tokex.issuer, "CLIENT_SECRET="+clientSecret)
}

// runNode runs node/verify.mjs with env and fails t for every failed check of
// its JSON summary.
func runNode(t *testing.T, env ...string) {
	t.Helper()
	runNodeScript(t, "verify.mjs", env...)
}

// runNodeScript runs one script of node/ (see runNode).
func runNodeScript(t *testing.T, script string, env ...string) {
	t.Helper()
	node, dir := nodeSetup(t)
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	var summary struct {
		OK       bool              `json:"ok"`
		Versions map[string]string `json:"versions"`
		Checks   []struct {
			Name  string          `json:"name"`
			OK    bool            `json:"ok"`
			Error json.RawMessage `json:"error"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &summary); err != nil {
		t.Fatalf("node %s: %v; output is not the JSON summary: %v\nstdout:\n%s\nstderr:\n%s", script, runErr, err, stdout.String(), stderr.String())
	}
	t.Logf("versions: %v", summary.Versions)
	for _, ch := range summary.Checks {
		if ch.OK {
			t.Logf("ok   %s", ch.Name)
		} else {
			t.Errorf("FAIL %s: %s", ch.Name, ch.Error)
		}
	}
	if runErr != nil || !summary.OK || len(summary.Checks) == 0 {
		t.Errorf("node %s: exit %v, ok=%v\nstderr:\n%s", script, runErr, summary.OK, stderr.String())
	}
}

// nodeSetup finds Node.js 20+ and interop/node with its locked
// dependencies, which it installs with `npm ci` when node_modules is missing
// (CI does that first: npm ci --prefix interop/node). Without node or npm it
// skips t, or fails it when TOKEX_REQUIRE_NODE=1 or CI is set, so a CI runner
// without them cannot pass the Node.js checks by skipping them.
func nodeSetup(t *testing.T) (node, dir string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("TOKEX_REQUIRE_NODE") == "1" || os.Getenv("CI") != "" {
			t.Fatalf(format+" (required: TOKEX_REQUIRE_NODE=1 or CI is set)", args...)
		}
		t.Skipf(format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed: the Node.js checks (openid-client, jose, oauth4webapi) did not run")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	if major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".", 2)[0]); major < 20 {
		missing("node %s is older than 20: the Node.js checks did not run", strings.TrimSpace(string(out)))
	}
	dir = filepath.Join(tokex.root, "interop", "node")
	npmInstall.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
			return
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			npmInstall.missing = true
			return
		}
		c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(c, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			npmInstall.err = fmt.Errorf("npm ci in interop/node (needs the npm registry): %v\n%s", err, out)
		}
	})
	if npmInstall.missing {
		missing("interop/node/node_modules is missing and npm is not installed: run `npm ci --prefix interop/node`")
	}
	if npmInstall.err != nil {
		t.Fatal(npmInstall.err)
	}
	return node, dir
}

// npmInstall runs npm ci at most once per test binary.
var npmInstall struct {
	sync.Once
	missing bool // no node_modules and no npm
	err     error
}
