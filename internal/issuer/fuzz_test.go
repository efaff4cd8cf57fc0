package issuer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
)

// FuzzVerify feeds arbitrary strings to the token pre-parser and verifier: it
// must never panic, must refuse with a classified *issuer.Error, and must never
// echo the token back in a description.
func FuzzVerify(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgES256, USE: jwkset.UseSig}})
	if err != nil {
		f.Fatal(err)
	}
	var inline any
	raw, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	_ = json.Unmarshal(raw, &inline)
	lw := config.Duration(0)
	reg := issuer.NewRegistry([]config.Issuer{{
		Name: "fuzz", IssuerURL: "https://idp.example.com", JWKS: inline,
		Audiences: []string{"https://sts.example.com"}, Algorithms: []string{"ES256", "RS256"},
		TokenTypes: []string{"access_token", "jwt"}, Leeway: &lw,
	}}, issuer.Options{})
	f.Cleanup(reg.Close)
	if !reg.WaitReady(context.Background()) {
		f.Fatal("not ready")
	}

	seg := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	sign := func(hdr map[string]any, claims jwt.MapClaims) string {
		t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		for k, v := range hdr {
			t.Header[k] = v
		}
		s, _ := t.SignedString(key)
		return s
	}
	now := time.Now().Unix()
	good := jwt.MapClaims{"iss": "https://idp.example.com", "sub": "alice", "aud": "https://sts.example.com", "exp": now + 3600, "iat": now}
	f.Add(sign(map[string]any{"kid": "k1"}, good))
	f.Add(sign(map[string]any{"kid": "k1", "jku": "https://evil.example/jwks"}, good))
	f.Add(sign(map[string]any{}, good))
	f.Add(seg(map[string]any{"alg": "none"}) + "." + seg(good) + ".")
	f.Add(seg(map[string]any{"alg": "HS256", "kid": "k1"}) + "." + seg(good) + ".c2ln")
	f.Add(seg(map[string]any{"alg": "ES256", "kid": []int{1}}) + "." + seg(good) + ".c2ln")
	f.Add(seg(map[string]any{"alg": "ES256"}) + "." + seg([]any{1, 2}) + ".c2ln")
	f.Add(seg(map[string]any{"alg": "ES256"}) + "." + seg(map[string]any{"iss": 7}) + ".c2ln")
	f.Add("a.b.c.d.e")
	f.Add("..")
	f.Add("not a token")
	f.Add("")

	f.Fuzz(func(t *testing.T, tok string) {
		p, err := reg.Verify(context.Background(), tok, "access_token")
		if err == nil {
			if p == nil || p.Subject == "" || p.Issuer != "fuzz" {
				t.Fatalf("accepted without a complete principal: %+v", p)
			}
			return
		}
		var ie *issuer.Error
		if !errors.As(err, &ie) || ie.Reason == "" || ie.Description == "" {
			t.Fatalf("unclassified refusal: %v", err)
		}
		if len(tok) > 150 && strings.Contains(ie.Description, tok) {
			t.Fatalf("description echoes the token")
		}
	})
}
