package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/testidp"
	"github.com/tokex/tokex/sdk/tokensource"
	"github.com/tokex/tokex/sdk/verify"
)

// TestSDK runs the two SDK packages against the real binary: a caller
// exchanges a corp token at tokex through tokensource (DPoP key, discovery
// by issuer) and calls an API protected by verify.Middleware. The token
// works with the key and fails without it; an ID token is turned away as
// one.
func TestSDK(t *testing.T) {
	const audOrders = "https://orders-api.example.com"
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", `  - name: orders-to-orders-api
    clients: [orders]
    issuers: [corp]
    audience: `+audOrders+`
    scopes: [orders.read]
    sender_constraint: dpop
`)})

	// The API.
	v, err := verify.New(t.Context(), verify.Config{Issuer: x.Issuer, Audience: audOrders})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(v.Middleware(verify.RequireScopes("orders.read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := verify.FromContext(r.Context())
		_, _ = io.WriteString(w, tok.Subject+" "+tok.ClientID+" "+tok.Confirmation.JKT)
	}))))
	defer api.Close()

	// The caller.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	subject := up.corp.Sign(up.corp.Claims("alice", x.Issuer))
	src, err := tokensource.NewSource(tokensource.Config{
		Issuer: x.Issuer, ClientID: orders.id, ClientSecret: orders.secret,
		Subject:  func(context.Context) (string, string, error) { return subject, tokensource.AccessToken, nil },
		Audience: audOrders, Scopes: []string{"orders.read"}, DPoPKey: key,
	})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &tokensource.Transport{Source: src}}
	resp, err := client.Get(api.URL + "/orders/42?expand=items")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "alice orders ") || strings.HasSuffix(string(body), " ") {
		t.Fatalf("with DPoP: %d %s", resp.StatusCode, body)
	}
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" {
		t.Fatalf("token type %q, want DPoP", tok.TokenType)
	}
	x.verifyMinted(t, tok.AccessToken, x.Issuer, audOrders)

	// The same token without its key, and an ID token.
	thief := testidp.NewDPoPKey(t, false)
	idClaims := up.corp.Claims("alice", "orders-web")
	idClaims["nonce"] = "n-0S6_WzA2Mj"
	for _, tc := range []struct {
		name, auth, proof, code, scheme, desc string
	}{
		{"replayed as Bearer", "Bearer " + tok.AccessToken, "", "invalid_token", "DPoP", "the token is DPoP-bound"},
		{"proof by another key", "DPoP " + tok.AccessToken,
			thief.Proof(t, http.MethodGet, api.URL+"/orders/42", time.Now(), nil, map[string]any{"ath": testidp.ATH(tok.AccessToken)}),
			"invalid_dpop_proof", "DPoP", "signed by another key"},
		{"ID token", "Bearer " + up.corp.Sign(idClaims), "", "invalid_token", "Bearer",
			"this is an ID token (it has a nonce claim), not an access token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, api.URL+"/orders/42", nil)
			req.Header.Set("Authorization", tc.auth)
			if tc.proof != "" {
				req.Header.Set("DPoP", tc.proof)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			b, _ := io.ReadAll(resp.Body)
			_ = json.Unmarshal(b, &got)
			if resp.StatusCode != http.StatusUnauthorized || got.Error != tc.code || !strings.Contains(got.Description, tc.desc) {
				t.Errorf("%d %s, want 401 %s %q", resp.StatusCode, b, tc.code, tc.desc)
			}
			if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, tc.scheme+` error="`+tc.code+`"`) {
				t.Errorf("WWW-Authenticate = %q, want a %s challenge with %s", ch, tc.scheme, tc.code)
			}
			if strings.Contains(string(b), strings.Fields(tc.auth)[1]) {
				t.Error("the answer echoes the token")
			}
		})
	}
}
