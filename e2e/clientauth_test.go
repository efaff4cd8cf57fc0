package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/testidp"
)

// ecKey is a private_key_jwt client key and its public JWKS (as JSON).
type ecKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newECKey(t *testing.T, kid string) ecKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ecKey{priv: k, kid: kid}
}

func (k ecKey) jwksJSON(t *testing.T) string {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgES256, KID: k.kid, USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b) // JSON is YAML
}

// assertion signs a client assertion for id (RFC 7523 §3); kv change claims
// (a nil value deletes one).
func (k ecKey) assertion(t *testing.T, id, aud string, kv ...any) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": id, "sub": id, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": rand.Text()}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = k.kid
	raw, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func assertionForm(subject, assertion string, kv ...string) request {
	kv = append([]string{"audience", audInventory, "client_assertion_type", api.ClientAssertionTypeJWTBearer, "client_assertion", assertion}, kv...)
	return request{form: exchangeForm(subject, kv...)}
}

// TestPrivateKeyJWT: clients authenticated by signed assertions (RFC 7523).
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	signer, foreign := newECKey(t, "signer-1"), newECKey(t, "signer-1")
	extra := `  - name: signer-to-inventory
    clients: [signer]
    issuers: [corp]
    audience: ` + audInventory + `
    scopes: [inventory.read]
`
	pol := func(iss string) string {
		doc := up.policy("", extra)(iss)
		return insertClient(doc, "  - id: signer\n    auth: private_key_jwt\n    jwks: "+signer.jwksJSON(t)+"\n")
	}
	x := start(t, startOpts{policy: pol})
	subject := func() string { return up.corp.Sign(up.corp.Claims("alice", x.Issuer)) }
	tokenEndpoint := x.Issuer + "/token"
	send := func(r request) response {
		x.secret(r.form.Get("client_assertion"))
		return x.post(t, r)
	}

	t.Run("metadata lists private_key_jwt and its algorithms", func(t *testing.T) {
		md := x.get(t, "/.well-known/oauth-authorization-server", nil)
		var doc api.ServerMetadata
		if err := json.Unmarshal(md.Body, &doc); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(doc.TokenEndpointAuthMethodsSupported, api.AuthMethodPrivateKeyJWT) || slices.Contains(doc.TokenEndpointAuthMethodsSupported, api.AuthMethodTLSClientAuth) {
			t.Errorf("token_endpoint_auth_methods_supported = %v", doc.TokenEndpointAuthMethodsSupported)
		}
		if !slices.Contains(doc.TokenEndpointAuthSigningAlgValuesSupported, "ES256") || slices.Contains(doc.TokenEndpointAuthSigningAlgValuesSupported, "none") ||
			slices.Contains(doc.TokenEndpointAuthSigningAlgValuesSupported, "HS256") {
			t.Errorf("token_endpoint_auth_signing_alg_values_supported = %v", doc.TokenEndpointAuthSigningAlgValuesSupported)
		}
	})

	t.Run("valid assertion, aud = token endpoint, then the same one replayed", func(t *testing.T) {
		a := signer.assertion(t, "signer", tokenEndpoint)
		r := send(assertionForm(subject(), a))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		_, claims := x.verifyMinted(t, r.str("access_token"), x.Issuer, audInventory)
		if claims["client_id"] != "signer" {
			t.Errorf("client_id = %v", claims["client_id"])
		}
		wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "granted", "client_id": "signer"})
		r = send(assertionForm(subject(), a))
		wantError(t, r, http.StatusUnauthorized, api.ErrInvalidClient, "already used")
		wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "refused", "reason": "assertion_replayed"})
	})
	t.Run("valid assertion, aud = issuer", func(t *testing.T) {
		r := send(assertionForm(subject(), signer.assertion(t, "signer", x.Issuer)))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})

	unsigned := func() string {
		raw, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": "signer", "sub": "signer", "aud": tokenEndpoint,
			"exp": time.Now().Add(time.Minute).Unix(), "jti": rand.Text()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return raw
	}
	refusals := []struct {
		name   string
		req    func() request
		status int
		code   api.ErrorCode
		desc   []string
	}{
		{name: "expired", status: 401, code: api.ErrInvalidClient, desc: []string{"expired"},
			req: func() request {
				return assertionForm(subject(), signer.assertion(t, "signer", tokenEndpoint, "exp", time.Now().Add(-2*time.Minute).Unix()))
			}},
		{name: "exp too far ahead", status: 401, code: api.ErrInvalidClient, desc: []string{"at most 5m"},
			req: func() request {
				return assertionForm(subject(), signer.assertion(t, "signer", tokenEndpoint, "exp", time.Now().Add(time.Hour).Unix()))
			}},
		{name: "wrong audience", status: 401, code: api.ErrInvalidClient, desc: []string{"aud must be"},
			req: func() request {
				return assertionForm(subject(), signer.assertion(t, "signer", "https://other.example.com/token"))
			}},
		{name: "alg none", status: 401, code: api.ErrInvalidClient, desc: []string{"unsigned"},
			req: func() request { return assertionForm(subject(), unsigned()) }},
		{name: "foreign key under the client's kid", status: 401, code: api.ErrInvalidClient, desc: []string{"signature does not verify"},
			req: func() request { return assertionForm(subject(), foreign.assertion(t, "signer", tokenEndpoint)) }},
		// Issue 12 finding 7: assertions are read as strictly as subject tokens.
		{name: "JTI is not jti", status: 401, code: api.ErrInvalidClient, desc: []string{"jti"},
			req: func() request {
				return assertionForm(subject(), signer.assertion(t, "signer", tokenEndpoint, "jti", nil, "JTI", rand.Text()))
			}},
		{name: "nbf 1e19 is the far future", status: 401, code: api.ErrInvalidClient, desc: []string{"not valid yet"},
			req: func() request {
				return assertionForm(subject(), signer.assertion(t, "signer", tokenEndpoint, "nbf", 1e19))
			}},
		{name: "aud [null, token endpoint]", status: 401, code: api.ErrInvalidClient, desc: []string{"aud must be a string or an array of strings"},
			req: func() request {
				return assertionForm(subject(), signer.assertion(t, "signer", tokenEndpoint, "aud", []any{nil, tokenEndpoint}))
			}},
		{name: "CRLF after the signature", status: 401, code: api.ErrInvalidClient, desc: []string{"well-formed"},
			req: func() request {
				return assertionForm(subject(), signer.assertion(t, "signer", tokenEndpoint)+"\r\n")
			}},
		{name: "no jti", status: 401, code: api.ErrInvalidClient, desc: []string{"jti"},
			req: func() request {
				return assertionForm(subject(), signer.assertion(t, "signer", tokenEndpoint, "jti", nil))
			}},
		{name: "assertion for a client configured for secrets", status: 401, code: api.ErrInvalidClient, desc: []string{"configured for"},
			req: func() request { return assertionForm(subject(), signer.assertion(t, "orders", tokenEndpoint)) }},
		{name: "client secret for a private_key_jwt client", status: 401, code: api.ErrInvalidClient, desc: []string{"configured for private_key_jwt"},
			req: func() request {
				return request{form: exchangeForm(subject(), "audience", audInventory, "client_id", "signer", "client_secret", orders.secret)}
			}},
		{name: "assertion and HTTP Basic at once", status: 400, code: api.ErrInvalidRequest, desc: []string{"use exactly one"},
			req: func() request {
				return assertionForm(subject(), signer.assertion(t, "signer", tokenEndpoint)).as(orders)
			}},
		{name: "assertion and client_secret at once", status: 400, code: api.ErrInvalidRequest, desc: []string{"use exactly one"},
			req: func() request {
				return assertionForm(subject(), signer.assertion(t, "signer", tokenEndpoint), "client_id", "signer", "client_secret", orders.secret)
			}},
		{name: "no client authentication at all", status: 401, code: api.ErrInvalidClient, desc: []string{"client authentication is required"},
			req: func() request { return request{form: exchangeForm(subject(), "audience", audInventory)} }},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := send(tc.req())
			wantError(t, r, tc.status, tc.code, tc.desc...)
			wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "refused", "error": string(tc.code)})
		})
	}
}

// insertClient adds a client entry to a policy made by idps.policy.
func insertClient(doc, entry string) string {
	const at = "rules:\n"
	i := strings.Index(doc, at)
	return doc[:i] + entry + doc[i:]
}

// pki is a test CA with a server certificate for 127.0.0.1 and client certificates.
type pki struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	dir    string
	serial int64
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tokex e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), crypto.Signer(k))
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &pki{ca: ca, caKey: k, dir: t.TempDir(), serial: 1}
}

func (p *pki) issue(t *testing.T, subject pkix.Name, usage x509.ExtKeyUsage, dns []string, ips []net.IP) tls.Certificate {
	t.Helper()
	p.serial++
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: subject, DNSNames: dns, IPAddresses: ips,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, k.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: leaf}
}

func (p *pki) write(t *testing.T, name string, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, bl := range blocks {
		b = append(b, pem.EncodeToMemory(bl)...)
	}
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTLSClientAuth: HTTPS with client certificates (RFC 8705 §2.1).
func TestTLSClientAuth(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	p := newPKI(t)
	srv := p.issue(t, pkix.Name{CommonName: "tokex"}, x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	keyDER, err := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"TOKEX_TLS_CERT=" + p.write(t, "server.pem", &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate[0]}),
		"TOKEX_TLS_KEY=" + p.write(t, "server.key", &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"TOKEX_TLS_CLIENT_CA=" + p.write(t, "ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw}),
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.ca)
	withCert := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	ordersCert := p.issue(t, pkix.Name{CommonName: "orders-mtls", Organization: []string{"Example"}}, x509.ExtKeyUsageClientAuth, []string{"orders.svc.example.com"}, nil)
	dnsCert := p.issue(t, pkix.Name{CommonName: "whatever"}, x509.ExtKeyUsageClientAuth, []string{"mesh.svc.example.com"}, nil)
	otherCert := p.issue(t, pkix.Name{CommonName: "intruder", Organization: []string{"Example"}}, x509.ExtKeyUsageClientAuth, []string{"intruder.example.com"}, nil)
	// A certificate from another CA: the TLS stack does not verify it, so it authenticates nobody.
	stranger := newPKI(t).issue(t, pkix.Name{CommonName: "orders-mtls", Organization: []string{"Example"}}, x509.ExtKeyUsageClientAuth, nil, nil)

	extra := `  - name: mtls-to-inventory
    clients: [mtls, mtls-dns]
    issuers: [corp]
    audience: ` + audInventory + `
    scopes: [inventory.read]
`
	// A self-signed certificate, registered in its client's jwks (RFC 8705 §2.2).
	selfie := newPKI(t).issue(t, pkix.Name{CommonName: "selfie"}, x509.ExtKeyUsageClientAuth, nil, nil)
	selfieJWKS, _ := json.Marshal(map[string]any{"keys": []any{func() map[string]any {
		j := testidp.JWKOf(t, selfie.Leaf.PublicKey)
		j["x5c"] = []string{base64.StdEncoding.EncodeToString(selfie.Leaf.Raw)}
		return j
	}()}})
	extra = strings.Replace(extra, "clients: [mtls, mtls-dns]", "clients: [mtls, mtls-dns, selfie]", 1) + `  - name: orders-mtls-bound
    clients: [orders]
    issuers: [corp]
    audience: https://bound.example.com
    scopes: [b]
    sender_constraint: mtls
`
	pol := func(iss string) string {
		return insertClient(up.policy("", extra)(iss), "  - id: mtls\n    auth: tls_client_auth\n    tls_client_auth_subject_dn: \"CN=orders-mtls,O=Example\"\n"+
			"  - id: mtls-dns\n    auth: tls_client_auth\n    tls_client_auth_san_dns: mesh.svc.example.com\n"+
			"  - id: selfie\n    auth: self_signed_tls_client_auth\n    jwks: "+string(selfieJWKS)+"\n")
	}
	x := start(t, startOpts{policy: pol, env: env, clientTLS: &tls.Config{RootCAs: roots}})
	subject := func() string { return up.corp.Sign(up.corp.Claims("alice", x.Issuer)) }
	form := func(id string) request {
		return request{form: exchangeForm(subject(), "audience", audInventory, "client_id", id)}
	}
	via := func(r request, c *http.Client) request { r.client = c; return r }

	md := x.get(t, "/.well-known/oauth-authorization-server", nil)
	var doc api.ServerMetadata
	if err := json.Unmarshal(md.Body, &doc); err != nil || !slices.Contains(doc.TokenEndpointAuthMethodsSupported, api.AuthMethodTLSClientAuth) ||
		!slices.Contains(doc.TokenEndpointAuthMethodsSupported, api.AuthMethodSelfSignedTLSClientAuth) {
		t.Errorf("metadata auth methods = %v (%v)", doc.TokenEndpointAuthMethodsSupported, err)
	}
	if !doc.TLSClientCertificateBoundAccessTokens {
		t.Error("metadata tls_client_certificate_bound_access_tokens is not true")
	}

	// RFC 8705 §3.1: the token is bound to the certificate of the connection.
	wantBound := func(t *testing.T, r response, cert tls.Certificate) {
		t.Helper()
		claims := verifyOverTLS(t, x, r.str("access_token"))
		sum := sha256.Sum256(cert.Certificate[0])
		cnf, _ := claims["cnf"].(map[string]any)
		if want := base64.RawURLEncoding.EncodeToString(sum[:]); cnf["x5t#S256"] != want {
			t.Errorf("cnf = %v, want x5t#S256 %s", claims["cnf"], want)
		}
		if r.str("token_type") != "Bearer" {
			t.Errorf("token_type = %q, want Bearer (RFC 8705 keeps it)", r.str("token_type"))
		}
	}
	for _, tc := range []struct {
		name, id string
		cert     tls.Certificate
	}{{"subject DN", "mtls", ordersCert}, {"SAN DNS", "mtls-dns", dnsCert}, {"a self-signed certificate in its jwks", "selfie", selfie}} {
		t.Run("authenticated by "+tc.name, func(t *testing.T) {
			r := x.post(t, via(form(tc.id), withCert(tc.cert)))
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			claims := verifyOverTLS(t, x, r.str("access_token"))
			if claims["client_id"] != tc.id {
				t.Errorf("client_id = %v", claims["client_id"])
			}
			wantBound(t, r, tc.cert)
		})
	}
	t.Run("a secret client over mTLS: its token is bound to the certificate", func(t *testing.T) {
		r := x.post(t, via(request{form: exchangeForm(subject(), "audience", audInventory)}.as(orders), withCert(stranger)))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		wantBound(t, r, stranger)
	})
	t.Run("sender_constraint mtls without a certificate", func(t *testing.T) {
		r := x.post(t, request{form: exchangeForm(subject(), "audience", "https://bound.example.com")}.as(orders))
		wantError(t, r, 400, api.ErrInvalidRequest, "mTLS", "client certificate")
	})
	t.Run("self-signed certificate not in the jwks", func(t *testing.T) {
		r := x.post(t, via(form("selfie"), withCert(otherCert)))
		wantError(t, r, 401, api.ErrInvalidClient, "not one registered in the jwks")
	})
	t.Run("client secrets still work over HTTPS", func(t *testing.T) {
		r := x.post(t, request{form: exchangeForm(subject(), "audience", audInventory)}.as(orders))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})

	refusals := []struct {
		name   string
		req    request
		status int
		code   api.ErrorCode
		desc   []string
	}{
		{name: "missing client certificate", req: via(form("mtls"), withCert()), status: 401, code: api.ErrInvalidClient, desc: []string{"no TLS client certificate"}},
		{name: "subject DN mismatch", req: via(form("mtls"), withCert(otherCert)), status: 401, code: api.ErrInvalidClient, desc: []string{"does not match"}},
		{name: "SAN mismatch", req: via(form("mtls-dns"), withCert(ordersCert)), status: 401, code: api.ErrInvalidClient, desc: []string{"matching tls_client_auth_san_dns"}},
		{name: "certificate without client_id", req: via(request{form: exchangeForm(subject(), "audience", audInventory)}, withCert(ordersCert)), status: 401, code: api.ErrInvalidClient, desc: []string{"client_id"}},
		{name: "secret for a tls_client_auth client", req: via(request{form: exchangeForm(subject(), "audience", audInventory, "client_id", "mtls", "client_secret", orders.secret)}, withCert(ordersCert)),
			status: 401, code: api.ErrInvalidClient, desc: []string{"configured for tls_client_auth"}},
		{name: "certificate presented by a secret client", req: via(form("orders"), withCert(ordersCert)), status: 401, code: api.ErrInvalidClient},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := x.post(t, tc.req)
			wantError(t, r, tc.status, tc.code, tc.desc...)
		})
	}
	t.Run("certificate of another CA: invalid_client that names the CA", func(t *testing.T) {
		// The chain is checked by tokex, not the handshake: the client learns
		// why instead of seeing a failed handshake.
		r := x.post(t, via(form("mtls"), withCert(stranger)))
		wantError(t, r, 401, api.ErrInvalidClient, "not issued by a CA that tokex trusts")
	})
}

// verifyOverTLS verifies a minted token with the JWKS tokex serves over
// HTTPS (verifyMinted's fetcher does not trust the test CA).
func verifyOverTLS(t *testing.T, x *instance, raw string) jwt.MapClaims {
	t.Helper()
	set := x.get(t, "/.well-known/jwks.json", nil)
	kf, err := keyfunc.NewJWKSetJSON(set.Body)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(raw, claims, kf.Keyfunc, jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithIssuer(x.Issuer), jwt.WithAudience(audInventory), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("the minted token does not verify with tokex's JWKS: %v", err)
	}
	return claims
}

// TestTLSClientAuthNeedsHTTPS: a tls_client_auth client without HTTPS
// settings refuses to start, naming the settings.
func TestTLSClientAuthNeedsHTTPS(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	dir := t.TempDir()
	keys, _ := esKeysFile(t)
	if err := os.WriteFile(filepath.Join(dir, "keys.json"), keys, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "policy.yaml")
	doc := insertClient(up.policy("", "")("http://127.0.0.1:1"), "  - id: mtls\n    auth: tls_client_auth\n    tls_client_auth_san_dns: a.example.com\n")
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runTokex(t, "TOKEX_CONFIG="+cfg)
	if code == 0 {
		t.Fatalf("tokex started without HTTPS settings:\n%s", stderr)
	}
	if !strings.Contains(stderr, "TOKEX_TLS_CLIENT_CA") || !strings.Contains(stderr, "tls_client_auth") {
		t.Errorf("stderr does not name tls_client_auth and TOKEX_TLS_CLIENT_CA:\n%s", stderr)
	}
}

// TestClientCertFromProxy: behind a TLS-terminating proxy, the client
// certificate comes in a header (Envoy's X-Forwarded-Client-Cert, nginx's
// escaped PEM), believed only from TOKEX_TRUSTED_PROXIES.
func TestClientCertFromProxy(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	p := newPKI(t)
	cert := p.issue(t, pkix.Name{CommonName: "orders-mtls", Organization: []string{"Example"}}, x509.ExtKeyUsageClientAuth, nil, nil)
	escaped := url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	sum := sha256.Sum256(cert.Certificate[0])
	x5t := base64.RawURLEncoding.EncodeToString(sum[:])
	extra := `  - name: mtls-to-inventory
    clients: [mtls]
    issuers: [corp]
    audience: ` + audInventory + `
    scopes: [inventory.read]
`
	pol := func(iss string) string {
		return insertClient(up.policy("", extra)(iss), "  - id: mtls\n    auth: tls_client_auth\n    tls_client_auth_subject_dn: \"CN=orders-mtls,O=Example\"\n")
	}
	ca := p.write(t, "ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw})
	for _, tc := range []struct {
		name, proxies, header, value string
		trusted                      bool
	}{
		{"Envoy XFCC from a trusted proxy", "127.0.0.1/32", "X-Forwarded-Client-Cert", `By=spiffe://example.com/tokex;Hash=abc;Cert="` + escaped + `";Subject="CN=orders-mtls"`, true},
		{"nginx escaped PEM from a trusted proxy", "127.0.0.0/8,::1", "X-SSL-Client-Cert", escaped, true},
		{"XFCC from a peer that is not a trusted proxy", "10.0.0.0/8", "X-Forwarded-Client-Cert", `Cert="` + escaped + `"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x := start(t, startOpts{policy: pol, env: []string{"TOKEX_CLIENT_CERT_HEADER=" + tc.header, "TOKEX_TRUSTED_PROXIES=" + tc.proxies, "TOKEX_TLS_CLIENT_CA=" + ca}})
			r := x.post(t, request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audInventory, "client_id", "mtls"), header: map[string]string{tc.header: tc.value}})
			if !tc.trusted {
				wantError(t, r, 401, api.ErrInvalidClient, "no TLS client certificate")
				return
			}
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			_, claims := x.verifyMinted(t, r.str("access_token"), x.Issuer, audInventory)
			if cnf, _ := claims["cnf"].(map[string]any); cnf["x5t#S256"] != x5t {
				t.Errorf("cnf = %v, want x5t#S256 %s", claims["cnf"], x5t)
			}
		})
	}
}
