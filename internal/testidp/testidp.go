package testidp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Algorithms of the IdP's published keys.
const (
	RS256 = "RS256" // RSA-2048
	ES256 = "ES256" // EC P-256
)

// Mode is how an endpoint of the IdP answers.
type Mode int32

// Modes of the JWKS and discovery endpoints.
const (
	Serve     Mode = iota // answer normally
	Fail                  // HTTP 500
	Hang                  // never answer, until the client gives up or the IdP closes
	Oversized             // HTTP 200 with a valid document padded beyond 1 MiB
	Redirect              // HTTP 302 to a copy of the document elsewhere on the same server
)

// OversizedBytes is the size of the padding an Oversized endpoint adds.
const OversizedBytes = 3 << 19 // 1.5 MiB

// Option configures New.
type Option func(*config)

type config struct {
	path          string
	trailingSlash bool
	noOIDC        bool
	now           func() time.Time
	jwksMode      Mode
	discIssuer    *string
	omitKeyAlg    bool
	tls           bool
}

// WithIssuerPath makes the issuer URL the server URL plus path (e.g. "/tenant1"),
// as multi-tenant IdPs do. OIDC discovery is then served at
// path+"/.well-known/openid-configuration" and RFC 8414 metadata at
// "/.well-known/oauth-authorization-server"+path.
func WithIssuerPath(path string) Option {
	return func(c *config) { c.path = "/" + strings.Trim(path, "/") }
}

// WithTrailingSlash makes the issuer URL end with '/', as Auth0's does.
func WithTrailingSlash() Option { return func(c *config) { c.trailingSlash = true } }

// WithoutOIDCDiscovery serves only the RFC 8414 metadata document, so a client
// must fall back to it.
func WithoutOIDCDiscovery() Option { return func(c *config) { c.noOIDC = true } }

// WithClock sets the clock Claims uses for iat, nbf and exp.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithJWKSMode sets how the JWKS endpoint answers from the start.
func WithJWKSMode(m Mode) Option { return func(c *config) { c.jwksMode = m } }

// WithDiscoveryIssuer makes the discovery documents name iss as the issuer
// instead of the IdP's own URL (a mismatch a client must refuse).
func WithDiscoveryIssuer(iss string) Option { return func(c *config) { c.discIssuer = &iss } }

// WithTLS serves over https with a certificate of its own CA (CACertPEM), which
// no default trust store holds.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// WithoutKeyAlg publishes the keys without an "alg" member, as some IdPs do.
func WithoutKeyAlg() Option { return func(c *config) { c.omitKeyAlg = true } }

type key struct {
	kid  string
	alg  string
	priv crypto.Signer
}

// IdP is a running fake identity provider.
type IdP struct {
	t       testing.TB
	srv     *httptest.Server
	cfg     config
	closing chan struct{}
	once    sync.Once

	jwksMode   atomic.Int32
	discMode   atomic.Int32
	jwksHits   atomic.Int64
	discHits   atomic.Int64
	discIssuer atomic.Pointer[string]
	jwksCache  atomic.Pointer[string] // Cache-Control of JWKS responses

	mu        sync.Mutex
	current   map[string]*key // by alg: the keys Sign uses by default
	published []*key          // what the JWKS lists
	foreign   map[string]*key // by alg: never published
}

// New starts an IdP; it closes when the test ends.
func New(t testing.TB, opts ...Option) *IdP {
	t.Helper()
	p := &IdP{t: t, closing: make(chan struct{}), foreign: map[string]*key{}}
	p.cfg.now = time.Now
	for _, o := range opts {
		o(&p.cfg)
	}
	p.jwksMode.Store(int32(p.cfg.jwksMode))
	p.discIssuer.Store(p.cfg.discIssuer)
	p.current = map[string]*key{RS256: p.newKey(RS256), ES256: p.newKey(ES256)}
	p.published = []*key{p.current[RS256], p.current[ES256]}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks", p.serveJWKS)
	mux.HandleFunc("GET /jwks/moved", func(w http.ResponseWriter, r *http.Request) { p.writeJSON(w, p.jwksDoc(false)) })
	if !p.cfg.noOIDC {
		mux.HandleFunc("GET "+p.cfg.path+"/.well-known/openid-configuration", p.serveDiscovery)
	}
	mux.HandleFunc("GET /.well-known/oauth-authorization-server"+p.cfg.path, p.serveDiscovery)
	mux.HandleFunc("GET /discovery/moved", func(w http.ResponseWriter, r *http.Request) { p.writeJSON(w, p.discoveryDoc(false)) })
	if p.cfg.tls {
		p.srv = httptest.NewTLSServer(mux)
	} else {
		p.srv = httptest.NewServer(mux)
	}
	t.Cleanup(p.Close)
	return p
}

// Close stops the server; hanging requests are released. It is idempotent.
func (p *IdP) Close() {
	p.once.Do(func() {
		close(p.closing)
		p.srv.Close()
	})
}

// URL is the server's base URL (http://127.0.0.1:port).
func (p *IdP) URL() string { return p.srv.URL }

// Issuer is the iss of the IdP's tokens and of its discovery documents.
func (p *IdP) Issuer() string {
	iss := p.srv.URL + p.cfg.path
	if p.cfg.trailingSlash {
		iss += "/"
	}
	return iss
}

// JWKSURI is where the IdP publishes its keys.
func (p *IdP) JWKSURI() string { return p.srv.URL + "/jwks" }

// DiscoveryURL is the OIDC discovery document's URL.
func (p *IdP) DiscoveryURL() string {
	return p.srv.URL + p.cfg.path + "/.well-known/openid-configuration"
}

// KID is the kid of the current published key for alg (RS256 or ES256).
func (p *IdP) KID(alg string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mustCurrent(alg).kid
}

// PublicKey is the public half of the current key for alg.
func (p *IdP) PublicKey(alg string) crypto.PublicKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mustCurrent(alg).priv.Public()
}

// RSAPublicKeyPEM is the PEM (PKIX) of the current RSA public key: what a
// confused verifier would take as an HMAC secret.
func (p *IdP) RSAPublicKeyPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(p.PublicKey(RS256))
	if err != nil {
		p.t.Fatalf("testidp: marshal public key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// CACertPEM is the PEM of the certificate a WithTLS IdP serves.
func (p *IdP) CACertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
}

// SetJWKSCacheControl sets the Cache-Control header of JWKS responses ("" for none).
func (p *IdP) SetJWKSCacheControl(v string) { p.jwksCache.Store(&v) }

// SetJWKSMode changes how the JWKS endpoint answers.
func (p *IdP) SetJWKSMode(m Mode) { p.jwksMode.Store(int32(m)) }

// SetDiscoveryMode changes how the discovery endpoints answer.
func (p *IdP) SetDiscoveryMode(m Mode) { p.discMode.Store(int32(m)) }

// SetDiscoveryIssuer makes the discovery documents name iss as the issuer;
// "" restores the IdP's own issuer.
func (p *IdP) SetDiscoveryIssuer(iss string) {
	if iss == "" {
		p.discIssuer.Store(nil)
		return
	}
	p.discIssuer.Store(&iss)
}

// Rotate replaces the current RS256 and ES256 keys with new ones (new kids).
// With keepOld the old keys stay published; without, they disappear from the
// JWKS.
func (p *IdP) Rotate(keepOld bool) {
	rsaKey, ecKey := p.newKey(RS256), p.newKey(ES256)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = map[string]*key{RS256: rsaKey, ES256: ecKey}
	if keepOld {
		p.published = append([]*key{rsaKey, ecKey}, p.published...)
	} else {
		p.published = []*key{rsaKey, ecKey}
	}
}

// JWKSFetches counts requests to the JWKS endpoint, whatever their answer.
func (p *IdP) JWKSFetches() int64 { return p.jwksHits.Load() }

// DiscoveryFetches counts requests to the discovery endpoints.
func (p *IdP) DiscoveryFetches() int64 { return p.discHits.Load() }

// JWKS is the IdP's published JWK Set document (public keys), for configs that
// take keys inline or from a file.
func (p *IdP) JWKS() []byte {
	b, err := json.Marshal(p.jwksDoc(false))
	if err != nil {
		p.t.Fatalf("testidp: encode JWKS: %v", err)
	}
	return b
}

// Claims are the claims of a valid access token for sub: iss, sub, aud (a
// string for one audience, a list for several, absent for none), iat, nbf, exp
// (ten minutes ahead) and a random jti. Tests change or delete what they need.
func (p *IdP) Claims(sub string, aud ...string) map[string]any {
	now := p.cfg.now()
	c := map[string]any{
		"iss": p.Issuer(),
		"sub": sub,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(),
		"jti": randomID(),
	}
	switch len(aud) {
	case 0:
	case 1:
		c["aud"] = aud[0]
	default:
		c["aud"] = aud
	}
	return c
}

// SignOption changes how Sign builds a token.
type SignOption func(*signing)

type signing struct {
	alg       string
	kid       *string // nil: the signing key's kid
	noKID     bool
	headers   map[string]any
	foreign   bool
	by        *IdP
	none      bool
	hsConfuse bool
	payload   []byte
}

// Alg picks the published key to sign with: RS256 (the default) or ES256.
func Alg(alg string) SignOption { return func(s *signing) { s.alg = alg } }

// KID sets the kid header to kid, whatever key signs.
func KID(kid string) SignOption { return func(s *signing) { s.kid = &kid } }

// NoKID leaves the kid header out.
func NoKID() SignOption { return func(s *signing) { s.noKID = true } }

// Header sets a header field (typ, jku, jwk, x5u, x5c, crit, nonce, ...); a nil
// value removes the field. It is applied last, so it can also override alg.
func Header(name string, value any) SignOption {
	return func(s *signing) {
		if s.headers == nil {
			s.headers = map[string]any{}
		}
		s.headers[name] = value
	}
}

// Foreign signs with a key of the same type that the IdP never publishes; the
// kid header is that key's own kid unless KID or NoKID says otherwise.
func Foreign() SignOption { return func(s *signing) { s.foreign = true } }

// SignedBy signs with another IdP's current key (and its kid, unless KID or
// NoKID says otherwise), while the claims stay this IdP's.
func SignedBy(other *IdP) SignOption { return func(s *signing) { s.by = other } }

// None makes an unsigned token: alg "none" and an empty signature.
func None() SignOption { return func(s *signing) { s.none = true } }

// HS256WithPublicKey signs with HMAC-SHA256 keyed with the PEM of the IdP's RSA
// public key: the classic algorithm confusion attack.
func HS256WithPublicKey() SignOption { return func(s *signing) { s.hsConfuse = true } }

// Payload signs raw instead of the JSON of the claims (e.g. a JSON array).
func Payload(raw []byte) SignOption { return func(s *signing) { s.payload = raw } }

// Sign returns a compact JWS of claims, signed as the options say (by default
// RS256 with the current published RSA key, header {"alg","kid","typ":"JWT"}).
func (p *IdP) Sign(claims map[string]any, opts ...SignOption) string {
	p.t.Helper()
	s := signing{alg: RS256}
	for _, o := range opts {
		o(&s)
	}
	var k *key
	switch {
	case s.by != nil:
		s.by.mu.Lock()
		k = s.by.mustCurrent(s.alg)
		s.by.mu.Unlock()
	case s.foreign:
		k = p.foreignKey(s.alg)
	default:
		p.mu.Lock()
		k = p.mustCurrent(s.alg)
		p.mu.Unlock()
	}

	var method jwt.SigningMethod
	var signKey any = k.priv
	hdr := map[string]any{"alg": k.alg, "typ": "JWT", "kid": k.kid}
	switch {
	case s.none:
		hdr["alg"] = "none"
	case s.hsConfuse:
		hdr["alg"] = "HS256"
		method, signKey = jwt.SigningMethodHS256, p.RSAPublicKeyPEM()
	default:
		method = jwt.GetSigningMethod(k.alg)
	}
	if s.kid != nil {
		hdr["kid"] = *s.kid
	}
	if s.noKID {
		delete(hdr, "kid")
	}
	for name, v := range s.headers {
		if v == nil {
			delete(hdr, name)
		} else {
			hdr[name] = v
		}
	}

	hb, err := json.Marshal(hdr)
	if err != nil {
		p.t.Fatalf("testidp: encode header: %v", err)
	}
	body := s.payload
	if body == nil {
		if body, err = json.Marshal(claims); err != nil {
			p.t.Fatalf("testidp: encode claims: %v", err)
		}
	}
	input := b64(hb) + "." + b64(body)
	if s.none {
		return input + "."
	}
	sig, err := method.Sign(input, signKey)
	if err != nil {
		p.t.Fatalf("testidp: sign: %v", err)
	}
	return input + "." + b64(sig)
}

func (p *IdP) mustCurrent(alg string) *key {
	k, ok := p.current[alg]
	if !ok {
		p.t.Fatalf("testidp: no key for alg %q (use RS256 or ES256)", alg)
	}
	return k
}

func (p *IdP) foreignKey(alg string) *key {
	p.mu.Lock()
	k, ok := p.foreign[alg]
	p.mu.Unlock()
	if ok {
		return k
	}
	k = p.newKey(alg)
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.foreign[alg]; ok {
		return prev
	}
	p.foreign[alg] = k
	return k
}

func (p *IdP) newKey(alg string) *key {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		err = fmt.Errorf("unsupported alg %q", alg)
	}
	if err != nil {
		p.t.Fatalf("testidp: generate %s key: %v", alg, err)
	}
	return &key{kid: strings.ToLower(alg) + "-" + randomID(), alg: alg, priv: priv}
}

// --- HTTP ---

func (p *IdP) serveJWKS(w http.ResponseWriter, r *http.Request) {
	p.jwksHits.Add(1)
	if p.misbehave(w, r, Mode(p.jwksMode.Load()), "/jwks/moved") {
		return
	}
	if cc := p.jwksCache.Load(); cc != nil && *cc != "" {
		w.Header().Set("Cache-Control", *cc)
	}
	p.writeJSON(w, p.jwksDoc(Mode(p.jwksMode.Load()) == Oversized))
}

func (p *IdP) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	p.discHits.Add(1)
	if p.misbehave(w, r, Mode(p.discMode.Load()), "/discovery/moved") {
		return
	}
	p.writeJSON(w, p.discoveryDoc(Mode(p.discMode.Load()) == Oversized))
}

// misbehave answers for the failure modes and reports whether it did.
func (p *IdP) misbehave(w http.ResponseWriter, r *http.Request, m Mode, moved string) bool {
	switch m {
	case Fail:
		http.Error(w, "testidp: failing on purpose", http.StatusInternalServerError)
		return true
	case Hang:
		select {
		case <-r.Context().Done():
		case <-p.closing:
		}
		return true
	case Redirect:
		http.Redirect(w, r, moved, http.StatusFound)
		return true
	}
	return false
}

func (p *IdP) jwksDoc(pad bool) any {
	p.mu.Lock()
	keys := append([]*key(nil), p.published...)
	p.mu.Unlock()
	set := jwkset.JWKSMarshal{Keys: make([]jwkset.JWKMarshal, 0, len(keys))}
	for _, k := range keys {
		meta := jwkset.JWKMetadataOptions{KID: k.kid, USE: jwkset.UseSig}
		if !p.cfg.omitKeyAlg {
			meta.ALG = jwkset.ALG(k.alg)
		}
		jwk, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{Metadata: meta})
		if err != nil {
			p.t.Errorf("testidp: publish key %s: %v", k.kid, err)
			continue
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	if !pad {
		return set
	}
	// Padding first, so a reader must consume it before it sees the keys.
	return struct {
		Padding string              `json:"padding"`
		Keys    []jwkset.JWKMarshal `json:"keys"`
	}{strings.Repeat("x", OversizedBytes), set.Keys}
}

func (p *IdP) discoveryDoc(pad bool) any {
	iss := p.Issuer()
	if o := p.discIssuer.Load(); o != nil {
		iss = *o
	}
	doc := map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              p.JWKSURI(),
		"authorization_endpoint":                p.srv.URL + "/authorize",
		"token_endpoint":                        p.srv.URL + "/token",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{RS256, ES256},
	}
	if pad {
		doc["padding"] = strings.Repeat("x", OversizedBytes)
	}
	return doc
}

func (p *IdP) writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
