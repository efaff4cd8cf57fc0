package dpop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/dpop"
	"github.com/tokex/tokex/internal/replay"
	"github.com/tokex/tokex/internal/testidp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const endpoint = "https://sts.example.com/token"

var now = time.Unix(1_800_000_000, 0)

type key struct{ *testidp.DPoPKey }

func newKey(t testing.TB, rsaKey bool) key { return key{testidp.NewDPoPKey(t, rsaKey)} }

func (k key) proof(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	return k.Proof(t, "POST", endpoint, now, header, claims)
}

func jwkOf(t testing.TB, k any) map[string]any { return testidp.JWKOf(t, k) }

func newVerifier(nonces *dpop.Nonces) *dpop.Verifier {
	clock := func() time.Time { return now }
	return dpop.NewVerifier(dpop.Options{Replay: replay.NewMemory(replay.MemoryOptions{Now: clock}), Nonces: nonces, Now: clock})
}

func TestVerify(t *testing.T) {
	ec, rs, other := newKey(t, false), newKey(t, true), newKey(t, false)
	nonces := dpop.NewNonces(dpop.NonceOptions{Secret: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now }})
	past := dpop.NewNonces(dpop.NonceOptions{Secret: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now.Add(-3 * time.Minute) }})
	future := dpop.NewNonces(dpop.NonceOptions{Secret: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now.Add(3 * time.Minute) }})
	foreign := dpop.NewNonces(dpop.NonceOptions{Secret: []byte("another secret of 32 bytes......"), Now: func() time.Time { return now }})
	v := newVerifier(nonces)
	replayed := ec.proof(t, nil, nil)
	if _, err := v.Verify(context.Background(), dpop.Request{Headers: []string{replayed}, Method: "POST", URL: endpoint}); err != nil {
		t.Fatalf("first use: %v", err)
	}
	withPrivate := map[string]any{}
	for k, v := range jwkOf(t, ec.Priv) {
		withPrivate[k] = v
	}
	hmacProof := func() string {
		h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}})
		c, _ := json.Marshal(map[string]any{"jti": "x", "htm": "POST", "htu": endpoint, "iat": now.Unix()})
		in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
		sig, _ := jwt.SigningMethodHS256.Sign(in, []byte("secret"))
		return in + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	// A proof signed by other but naming ec's key.
	swapped := func() string {
		p := other.proof(t, map[string]any{"jwk": ec.JWK}, nil)
		return p
	}
	tests := []struct {
		name      string
		headers   []string
		method    string
		url       string
		token     string
		needNonce bool
		want      dpop.Reason // "" = accepted
	}{
		{name: "ES256", headers: []string{ec.proof(t, nil, nil)}},
		{name: "RS256", headers: []string{rs.proof(t, nil, nil)}},
		{name: "htu differs only in scheme and host case and default port", headers: []string{ec.proof(t, nil, map[string]any{"htu": "HTTPS://STS.Example.com:443/token"})}},
		{name: "htu with a query and fragment", headers: []string{ec.proof(t, nil, map[string]any{"htu": endpoint + "?a=b#c"})}},
		{name: "iat at the edge of the window", headers: []string{ec.proof(t, nil, map[string]any{"iat": now.Add(-60 * time.Second).Unix()})}},
		{name: "with a valid nonce", needNonce: true, headers: []string{ec.proof(t, nil, map[string]any{"nonce": nonces.Issue()})}},
		{name: "with ath at a resource server", token: "the-token", headers: []string{ec.proof(t, nil, map[string]any{"ath": ath("the-token")})}},

		{name: "no DPoP header", headers: nil, want: dpop.ReasonHeader},
		{name: "two DPoP headers", headers: []string{ec.proof(t, nil, nil), ec.proof(t, nil, nil)}, want: dpop.ReasonHeader},
		{name: "not a JWS", headers: []string{"not-a-jwt"}, want: dpop.ReasonMalformed},
		{name: "CRLF after the signature", headers: []string{ec.proof(t, nil, nil) + "\r\n"}, want: dpop.ReasonMalformed},
		{name: "jti not a string", headers: []string{ec.proof(t, nil, map[string]any{"jti": 7})}, want: dpop.ReasonMalformed},
		{name: "typ JWT", headers: []string{ec.proof(t, map[string]any{"typ": "JWT"}, nil)}, want: dpop.ReasonType},
		{name: "no typ", headers: []string{ec.proof(t, map[string]any{"typ": nil}, nil)}, want: dpop.ReasonType},
		{name: "alg none", headers: []string{unsigned(t, ec.JWK)}, want: dpop.ReasonAlgorithm},
		{name: "alg HS256", headers: []string{hmacProof()}, want: dpop.ReasonAlgorithm},
		{name: "no jwk", headers: []string{ec.proof(t, map[string]any{"jwk": nil}, nil)}, want: dpop.ReasonKey},
		{name: "jwk with a private d", headers: []string{ec.proof(t, map[string]any{"jwk": withPrivate}, nil)}, want: dpop.ReasonKey},
		{name: "jwk not a key", headers: []string{ec.proof(t, map[string]any{"jwk": map[string]any{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}, nil)}, want: dpop.ReasonKey},
		{name: "signed by a key other than its jwk", headers: []string{swapped()}, want: dpop.ReasonSignature},
		{name: "no jti", headers: []string{ec.proof(t, nil, map[string]any{"jti": nil})}, want: dpop.ReasonClaims},
		{name: "no htm", headers: []string{ec.proof(t, nil, map[string]any{"htm": nil})}, want: dpop.ReasonClaims},
		{name: "no htu", headers: []string{ec.proof(t, nil, map[string]any{"htu": nil})}, want: dpop.ReasonClaims},
		{name: "no iat", headers: []string{ec.proof(t, nil, map[string]any{"iat": nil})}, want: dpop.ReasonClaims},
		{name: "htm GET", headers: []string{ec.proof(t, nil, map[string]any{"htm": "GET"})}, want: dpop.ReasonMethod},
		{name: "htm post (case matters)", headers: []string{ec.proof(t, nil, map[string]any{"htm": "post"})}, want: dpop.ReasonMethod},
		{name: "htu of another server", headers: []string{ec.proof(t, nil, map[string]any{"htu": "https://evil.example.com/token"})}, want: dpop.ReasonURI},
		{name: "htu of another path", headers: []string{ec.proof(t, nil, map[string]any{"htu": "https://sts.example.com/other"})}, want: dpop.ReasonURI},
		{name: "htu over http", headers: []string{ec.proof(t, nil, map[string]any{"htu": "http://sts.example.com/token"})}, want: dpop.ReasonURI},
		{name: "iat too old", headers: []string{ec.proof(t, nil, map[string]any{"iat": now.Add(-61 * time.Second).Unix()})}, want: dpop.ReasonTime},
		{name: "iat in the future", headers: []string{ec.proof(t, nil, map[string]any{"iat": now.Add(61 * time.Second).Unix()})}, want: dpop.ReasonTime},
		{name: "iat 1e19 is the far future", headers: []string{ec.proof(t, nil, map[string]any{"iat": 1e19})}, want: dpop.ReasonTime},
		{name: "replayed jti", headers: []string{replayed}, want: dpop.ReasonReplay},
		{name: "nonce missing", needNonce: true, headers: []string{ec.proof(t, nil, nil)}, want: dpop.ReasonNonce},
		{name: "nonce stale", needNonce: true, headers: []string{ec.proof(t, nil, map[string]any{"nonce": past.Issue()})}, want: dpop.ReasonNonce},
		{name: "nonce from the future", needNonce: true, headers: []string{ec.proof(t, nil, map[string]any{"nonce": future.Issue()})}, want: dpop.ReasonNonce},
		{name: "nonce of another secret", needNonce: true, headers: []string{ec.proof(t, nil, map[string]any{"nonce": foreign.Issue()})}, want: dpop.ReasonNonce},
		{name: "nonce garbage", needNonce: true, headers: []string{ec.proof(t, nil, map[string]any{"nonce": "abc"})}, want: dpop.ReasonNonce},
		{name: "proof for a different access token", token: "the-token", headers: []string{ec.proof(t, nil, map[string]any{"ath": ath("another-token")})}, want: dpop.ReasonAccessToken},
		{name: "no ath at a resource server", token: "the-token", headers: []string{ec.proof(t, nil, nil)}, want: dpop.ReasonAccessToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method, u := tc.method, tc.url
			if method == "" {
				method = "POST"
			}
			if u == "" {
				u = endpoint
			}
			p, err := v.Verify(context.Background(), dpop.Request{Headers: tc.headers, Method: method, URL: u, AccessToken: tc.token, NeedNonce: tc.needNonce})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if p.JKT == "" || p.JTI == "" {
					t.Errorf("proof = %+v", p)
				}
				return
			}
			var de *dpop.Error
			if !errors.As(err, &de) || p != nil {
				t.Fatalf("Verify = %v, %v; want a %s refusal", p, err, tc.want)
			}
			if de.Reason != tc.want {
				t.Fatalf("reason %s (%s), want %s", de.Reason, de.Description, tc.want)
			}
			for _, h := range tc.headers {
				if len(h) > 20 && strings.Contains(de.Description, h[len(h)-20:]) {
					t.Errorf("description echoes the proof: %s", de.Description)
				}
			}
		})
	}
}

func ath(tok string) string { return testidp.ATH(tok) }

func unsigned(t *testing.T, jwk map[string]any) string {
	h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": jwk})
	c, _ := json.Marshal(map[string]any{"jti": "x", "htm": "POST", "htu": endpoint, "iat": now.Unix()})
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

// The jkt of a proof is its key's RFC 7638 thumbprint: the RFC's own example.
func TestThumbprintRFC7638(t *testing.T) {
	var k jose.JSONWebKey
	err := k.UnmarshalJSON([]byte(`{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := dpop.Thumbprint(k.Key)
	if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("Thumbprint = %q, %v", got, err)
	}
}

func TestSameProofAcrossVerifiersSharingACache(t *testing.T) {
	clock := func() time.Time { return now }
	shared := replay.NewMemory(replay.MemoryOptions{Now: clock})
	a := dpop.NewVerifier(dpop.Options{Replay: shared, Now: clock})
	b := dpop.NewVerifier(dpop.Options{Replay: shared, Now: clock})
	p := newKey(t, false).proof(t, nil, nil)
	req := dpop.Request{Headers: []string{p}, Method: "POST", URL: endpoint}
	if _, err := a.Verify(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	var de *dpop.Error
	if _, err := b.Verify(context.Background(), req); !errors.As(err, &de) || de.Reason != dpop.ReasonReplay {
		t.Fatalf("second verifier: %v; want a replay refusal", err)
	}
}

type downCache struct{}

func (downCache) Use(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("store down")
}

func TestReplayCacheDownFailsClosed(t *testing.T) {
	v := dpop.NewVerifier(dpop.Options{Replay: downCache{}, Now: func() time.Time { return now }})
	_, err := v.Verify(context.Background(), dpop.Request{Headers: []string{newKey(t, false).proof(t, nil, nil)}, Method: "POST", URL: endpoint})
	var de *dpop.Error
	if !errors.As(err, &de) || de.Reason != dpop.ReasonUnavailable {
		t.Fatalf("Verify = %v; want ReasonUnavailable", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	k := newKey(b, false)
	clock := func() time.Time { return now }
	v := dpop.NewVerifier(dpop.Options{Replay: replay.NewMemory(replay.MemoryOptions{Now: clock, Capacity: 1 << 22}), Now: clock})
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i] = k.proof(b, nil, nil)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := v.Verify(context.Background(), dpop.Request{Headers: proofs[i : i+1], Method: "POST", URL: endpoint}); err != nil {
			b.Fatal(err)
		}
	}
}
