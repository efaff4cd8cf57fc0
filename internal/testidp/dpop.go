package testidp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/tokex/tokex/internal/dpop"
)

// DPoPKey is a client's DPoP key (RFC 9449): it signs proofs, well-formed or
// hostile, over real bytes.
type DPoPKey struct {
	Priv crypto.Signer
	Alg  jwt.SigningMethod
	JWK  map[string]any // the public JWK of the proof header
	jkt  string
}

// NewDPoPKey makes an ES256 key, or an RS256 one when rsaKey.
func NewDPoPKey(t testing.TB, rsaKey bool) *DPoPKey {
	t.Helper()
	k := &DPoPKey{}
	if rsaKey {
		p, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k.Priv, k.Alg = p, jwt.SigningMethodRS256
	} else {
		p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k.Priv, k.Alg = p, jwt.SigningMethodES256
	}
	k.JWK = JWKOf(t, k.Priv.Public())
	var err error
	if k.jkt, err = dpop.Thumbprint(k.Priv.Public()); err != nil {
		t.Fatal(err)
	}
	return k
}

// JKT is the key's RFC 7638 thumbprint, the cnf.jkt of tokens bound to it.
func (k *DPoPKey) JKT() string { return k.jkt }

// JWKOf is key (public or private) as a JWK map.
func JWKOf(t testing.TB, key any) map[string]any {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// Proof signs a DPoP proof for method and url at now: typ dpop+jwt, the key's
// alg and jwk, a fresh jti. header and claims change members (a nil value
// deletes one).
func (k *DPoPKey) Proof(t testing.TB, method, url string, now time.Time, header, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"typ": "dpop+jwt", "alg": k.Alg.Alg(), "jwk": k.JWK}
	c := map[string]any{"jti": rand.Text(), "htm": method, "htu": url, "iat": now.Unix()}
	for _, kv := range []struct{ dst, src map[string]any }{{h, header}, {c, claims}} {
		for name, v := range kv.src {
			if v == nil {
				delete(kv.dst, name)
			} else {
				kv.dst[name] = v
			}
		}
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(c)
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	sig, err := k.Alg.Sign(input, k.Priv)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

// ATH is the ath claim of a proof sent with token (RFC 9449 §4.2).
func ATH(token string) string {
	s := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// SelfSignedCert is a self-signed P-256 client certificate valid for an hour
// around now: what mTLS tests present (RFC 8705).
func SelfSignedCert(t testing.TB, subject pkix.Name, dns ...string) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subject, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
