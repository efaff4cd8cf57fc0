package tokensource_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/internal/dpop"
	"github.com/tokex/tokex/internal/replay"
	"github.com/tokex/tokex/internal/testidp"
)

// fakeTokex is a token endpoint that behaves like tokex: client_secret_basic,
// private_key_jwt or client_id (mTLS) authentication, RFC 8693 parameters,
// DPoP proofs checked by tokex's own verifier (with nonces when asked), real
// RFC 9068 tokens (at+jwt, cnf.jkt for DPoP), OAuth errors as tokex words
// them. It also serves RFC 8414 metadata and its JWKS.
type fakeTokex struct {
	*httptest.Server
	key   *ecdsa.PrivateKey
	dpop  *dpop.Verifier
	nonce atomic.Bool // DPoP nonces required

	lifetime  atomic.Int64 // seconds
	exchanges atomic.Int64 // 200 answers
	nonceAsks atomic.Int64 // use_dpop_nonce answers
	delay     atomic.Int64 // nanoseconds to wait before answering

	mu         sync.Mutex
	forms      []map[string][]string
	assertions []jwt.MapClaims
	clientKey  crypto.PublicKey // private_key_jwt: the client's key
}

const (
	clientID     = "orders"
	clientSecret = "orders-S3cret_0123456789.abcdefghij~XYZ"
	goodSubject  = "subject-token-alice"
)

func newFakeTokex(t *testing.T) *fakeTokex {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTokex{key: key}
	f.lifetime.Store(300)
	nonces := dpop.NewNonces(dpop.NonceOptions{})
	f.dpop = dpop.NewVerifier(dpop.Options{Replay: replay.NewMemory(replay.MemoryOptions{}), Nonces: nonces})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"issuer": f.URL, "token_endpoint": f.URL + "/token", "jwks_uri": f.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		jwk, _ := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgES256, USE: jwkset.UseSig}})
		writeJSON(w, 200, jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	})
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("POST /token-broken", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
	})
	mux.HandleFunc("POST /token-always-nonce", func(w http.ResponseWriter, _ *http.Request) {
		f.nonceAsks.Add(1)
		w.Header().Set("DPoP-Nonce", rand.Text())
		oauthError(w, 400, "use_dpop_nonce", "a DPoP nonce is required")
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (f *fakeTokex) token(w http.ResponseWriter, r *http.Request) {
	if d := f.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, 400, "invalid_request", "the body is not a form")
		return
	}
	f.mu.Lock()
	f.forms = append(f.forms, r.PostForm)
	f.mu.Unlock()
	if !f.authenticate(w, r) {
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" {
		oauthError(w, 400, "unsupported_grant_type", "grant_type must be token exchange")
		return
	}
	var cnf map[string]any
	tokenType := "Bearer"
	if r.Header.Get("DPoP") != "" {
		proof, err := f.dpop.Verify(r.Context(), dpop.Request{
			Headers: r.Header.Values("DPoP"), Method: r.Method, URL: f.URL + "/token", NeedNonce: f.nonce.Load(),
		})
		var de *dpop.Error
		switch {
		case errors.As(err, &de) && de.Reason == dpop.ReasonNonce:
			f.nonceAsks.Add(1)
			w.Header().Set("DPoP-Nonce", f.dpop.Nonce())
			oauthError(w, 400, "use_dpop_nonce", de.Description)
			return
		case errors.As(err, &de):
			oauthError(w, 400, "invalid_dpop_proof", de.Description)
			return
		case err != nil:
			oauthError(w, 500, "server_error", "")
			return
		}
		cnf, tokenType = map[string]any{"jkt": proof.JKT}, "DPoP"
	}
	switch sub := r.PostForm.Get("subject_token"); {
	case r.PostForm.Get("audience") == "https://nowhere.example.com":
		oauthError(w, 400, "invalid_target", "no rule lets client orders exchange tokens of issuer corp for audience https://nowhere.example.com")
		return
	case sub == "expired":
		oauthError(w, 400, "invalid_request", "the subject token expired at 2026-01-01T00:00:00Z")
		return
	case sub == "":
		oauthError(w, 400, "invalid_request", "subject_token is required")
		return
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": f.URL, "sub": r.PostForm.Get("subject_token"), "aud": r.PostForm.Get("audience"), "client_id": clientID,
		"scope": r.PostForm.Get("scope"), "iat": now.Unix(), "exp": now.Add(time.Duration(f.lifetime.Load()) * time.Second).Unix(),
		"jti": rand.Text(),
	}
	if cnf != nil {
		claims["cnf"] = cnf
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"], tok.Header["kid"] = "at+jwt", "k1"
	s, err := tok.SignedString(f.key)
	if err != nil {
		oauthError(w, 500, "server_error", "")
		return
	}
	f.exchanges.Add(1)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 200, map[string]any{
		"access_token": s, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type": tokenType, "expires_in": f.lifetime.Load(), "scope": r.PostForm.Get("scope"),
	})
}

// authenticate checks the client as tokex does: Basic, a client assertion
// signed by clientKey, or a bare client_id (as with tls_client_auth).
func (f *fakeTokex) authenticate(w http.ResponseWriter, r *http.Request) bool {
	fail := func(desc string) bool {
		w.Header().Set("WWW-Authenticate", `Basic realm="tokex"`)
		oauthError(w, 401, "invalid_client", desc)
		return false
	}
	if id, secret, ok := r.BasicAuth(); ok {
		if id != clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(clientSecret)) != 1 {
			return fail("client authentication failed")
		}
		return true
	}
	if a := r.PostForm.Get("client_assertion"); a != "" {
		f.mu.Lock()
		pub := f.clientKey
		f.mu.Unlock()
		c := jwt.MapClaims{}
		_, err := jwt.NewParser(jwt.WithValidMethods([]string{"ES256", "RS256", "EdDSA"}), jwt.WithAudience(f.URL+"/token"),
			jwt.WithExpirationRequired(), jwt.WithIssuer(clientID), jwt.WithSubject(clientID)).
			ParseWithClaims(a, c, func(*jwt.Token) (any, error) { return pub, nil })
		if err != nil || r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return fail("client_assertion does not verify")
		}
		f.mu.Lock()
		f.assertions = append(f.assertions, c)
		f.mu.Unlock()
		return true
	}
	if r.PostForm.Get("client_id") == clientID {
		return true
	}
	return fail("client authentication is required")
}

func (f *fakeTokex) lastForm() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forms[len(f.forms)-1]
}

// claimsOf reads a JWT's claims without verifying it (tests only).
func claimsOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	_, c := testidp.Decode(t, raw)
	return c
}
