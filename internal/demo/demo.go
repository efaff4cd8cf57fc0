package demo

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/keys"
)

//go:embed demo.yaml
var policyTemplate string

// Public demo credentials, printed in the README.
const (
	ClientID     = "demo-client"
	ClientSecret = "demo-secret"
	Audience     = "https://orders.example.com"
)

// subjectLifetime is how long demo subject tokens live.
const subjectLifetime = time.Hour

// IdP is the demo identity provider.
type IdP struct {
	issuer string // tokex issuer + "/demo"
	aud    string // tokex issuer
	key    *rsa.PrivateKey
	kid    string
	now    func() time.Time
}

// New makes a demo IdP for a tokex instance whose issuer is tokexIssuer. With a
// nil key it generates one, which lives only in memory.
func New(tokexIssuer string, key *rsa.PrivateKey, now func() time.Time) (*IdP, error) {
	if now == nil {
		now = time.Now
	}
	k := key
	if k == nil {
		var err error
		if k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("demo idp key: %w", err)
		}
	}
	kid, err := keys.Thumbprint(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	return &IdP{issuer: tokexIssuer + "/demo", aud: tokexIssuer, key: k, kid: kid, now: now}, nil
}

// Issuer is the demo IdP's issuer URL.
func (d *IdP) Issuer() string { return d.issuer }

// Policy is the demo policy document, with the IdP's public key inline.
func (d *IdP) Policy() ([]byte, error) {
	jwk, err := jwkset.NewJWKFromKey(&d.key.PublicKey, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgRS256, KID: d.kid, USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, err
	}
	set, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(ClientSecret))
	r := strings.NewReplacer("{{ISSUER}}", d.aud, "{{JWKS}}", string(set), "{{SECRET_SHA256}}", hex.EncodeToString(sum[:]))
	return []byte(r.Replace(policyTemplate)), nil
}

// Issue signs a subject token. kind "id_token" makes an OpenID Connect ID token
// (aud = the client, a nonce), to show how tokex refuses one.
func (d *IdP) Issue(sub, scope, aud, kind string) (string, time.Time, error) {
	now := d.now()
	exp := now.Add(subjectLifetime)
	if aud == "" {
		aud = d.aud
	}
	claims := jwt.MapClaims{
		"iss": d.issuer, "sub": sub, "aud": aud,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
		"jti": rand.Text(),
	}
	typ := "at+jwt"
	switch kind {
	case "", "access_token":
		claims["client_id"] = ClientID
		if scope != "" {
			claims["scope"] = scope
		}
	case "id_token":
		typ = "JWT"
		claims["aud"] = ClientID
		claims["azp"] = ClientID
		claims["nonce"] = rand.Text()
	default:
		return "", time.Time{}, fmt.Errorf("kind must be access_token or id_token")
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = d.kid
	t.Header["typ"] = typ
	s, err := t.SignedString(d.key)
	return s, exp, err
}

// ServeToken is POST /demo/token: form sub (required), scope, aud, kind.
func (d *IdP) ServeToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.ErrInvalidRequest, ErrorDescription: "the body must be a form"})
		return
	}
	sub := r.PostForm.Get("sub")
	if sub == "" {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.ErrInvalidRequest, ErrorDescription: "sub is required: the user the demo token is for"})
		return
	}
	tok, exp, err := d.Issue(sub, r.PostForm.Get("scope"), r.PostForm.Get("aud"), r.PostForm.Get("kind"))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.ErrInvalidRequest, ErrorDescription: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(api.TokenResponse{
		AccessToken: tok, IssuedTokenType: api.TokenTypeAccessToken, TokenType: "Bearer",
		ExpiresIn: int64(exp.Sub(d.now()) / time.Second), Scope: r.PostForm.Get("scope"),
	})
}
