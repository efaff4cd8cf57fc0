package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/sdk/verify"
)

// fakeTokex serves what a Verifier reads from tokex (RFC 8414 metadata and
// the JWKS) and mints tokens with its key.
type fakeTokex struct {
	*httptest.Server
	key *ecdsa.PrivateKey
}

func newFakeTokex() *fakeTokex {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f := &fakeTokex{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": f.URL, "token_endpoint": f.URL + "/token", "jwks_uri": f.URL + "/.well-known/jwks.json"})
	})
	mux.HandleFunc("/.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		jwk, _ := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgES256, USE: jwkset.UseSig}})
		_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	})
	f.Server = httptest.NewServer(mux)
	return f
}

func (f *fakeTokex) mint(typ string, claims jwt.MapClaims) string {
	claims["iss"], claims["exp"], claims["iat"] = f.URL, time.Now().Add(5*time.Minute).Unix(), time.Now().Unix()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"], tok.Header["kid"] = typ, "k1"
	s, _ := tok.SignedString(f.key)
	return s
}

// printResponse sends req and prints the status and body of the answer.
func printResponse(req *http.Request) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
}

// An API protected by tokex tokens: the middleware verifies the token (and
// its DPoP proof or client certificate, for bound tokens), RequireScopes
// checks the scope, and the handler reads the token from the context.
//
// With gin, wrap the same middleware (no gin dependency here):
//
//	r.Use(func(c *gin.Context) {
//		t, err := v.Verify(c.Request.Context(), c.Request)
//		if err != nil {
//			verify.WriteError(c.Writer, err, v.DPoPAlgorithms())
//			c.Abort()
//			return
//		}
//		c.Request = c.Request.WithContext(verify.NewContext(c.Request.Context(), t))
//	})
func ExampleVerifier_Middleware() {
	sts := newFakeTokex()
	defer sts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the background JWKS refresh

	v, err := verify.New(ctx, verify.Config{
		Issuer:   sts.URL,                   // tokex's issuer, exactly as its metadata says
		Audience: "https://api.example.com", // this API
	})
	if err != nil {
		log.Fatal(err)
	}
	api := httptest.NewServer(v.Middleware(verify.RequireScopes("orders.read")(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t := verify.FromContext(r.Context())
			fmt.Fprintf(w, "hello %s (client %s)", t.Subject, t.ClientID)
		}))))
	defer api.Close()

	call := func(token string) {
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		printResponse(req)
	}
	call(sts.mint("at+jwt", jwt.MapClaims{"sub": "alice", "aud": "https://api.example.com", "client_id": "orders", "scope": "orders.read"}))
	call(sts.mint("JWT", jwt.MapClaims{"sub": "alice", "aud": "orders-web", "nonce": "n-0S6"}))
	call(sts.mint("at+jwt", jwt.MapClaims{"sub": "alice", "aud": "https://graph.microsoft.com", "scope": "User.Read"}))
	call(sts.mint("at+jwt", jwt.MapClaims{"sub": "alice", "aud": "https://api.example.com", "scope": "orders.write"}))
	// Output:
	// 200 hello alice (client orders)
	// 401 {"error":"invalid_token","error_description":"this is an ID token (it has a nonce claim), not an access token: send an access token for this API (tokex mints them by token exchange)"}
	// 401 {"error":"invalid_token","error_description":"the token is for https://graph.microsoft.com, not this API (https://api.example.com)"}
	// 403 {"error":"insufficient_scope","error_description":"the token lacks scope orders.read (it has: orders.write): exchange at tokex for a token with it"}
}

// Verify without the middleware, to decide yourself what to answer.
func ExampleVerifier_Verify() {
	sts := newFakeTokex()
	defer sts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := verify.New(ctx, verify.Config{Issuer: sts.URL, Audience: "https://api.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "https://api.example.com/orders", nil)
	r.Header.Set("Authorization", "Bearer "+sts.mint("txntoken+jwt", jwt.MapClaims{"sub": "alice", "aud": "https://api.example.com"}))
	_, err = v.Verify(ctx, r)
	if e, ok := err.(*verify.Error); ok {
		fmt.Println(e.Status, e.Code, e.Reason)
	}
	// Output:
	// 401 invalid_token typ
}

// A workload inside a trust domain: TxnMiddleware verifies the Transaction
// Token of the call (the Txn-Token header), RequireTxnScopes checks the
// transaction's purpose, and the handler reads the token from the context
// and passes it on, unchanged, to the workloads it calls.
func ExampleVerifier_TxnMiddleware() {
	sts := newFakeTokex()
	defer sts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the background JWKS refresh

	v, err := verify.New(ctx, verify.Config{
		Issuer:      sts.URL,                     // tokex's issuer, exactly as its metadata says
		TrustDomain: "https://trust.example.com", // the aud of this trust domain's Transaction Tokens
	})
	if err != nil {
		log.Fatal(err)
	}
	orders := httptest.NewServer(v.TxnMiddleware(verify.RequireTxnScopes("orders.create")(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t := verify.TxnFromContext(r.Context())
			// Calling the next workload: out.Header.Set(verify.TxnTokenHeader, t.Raw)
			fmt.Fprintf(w, "%s for %s, requested by %s (replaced %d times)", t.Txn, t.Subject, strings.Join(t.RequestingWorkloads, " > "), t.Replacements)
		}))))
	defer orders.Close()

	call := func(token string) {
		req, _ := http.NewRequest(http.MethodPost, orders.URL+"/orders", nil)
		req.Header.Set(verify.TxnTokenHeader, token)
		printResponse(req)
	}
	txn := func(reqWL any, scope string) jwt.MapClaims {
		return jwt.MapClaims{"aud": "https://trust.example.com", "txn": "t-42", "sub": "alice", "scope": scope, "req_wl": reqWL, "jti": "j-1"}
	}
	call(sts.mint("txntoken+jwt", txn("gateway", "orders.create")))
	call(sts.mint("txntoken+jwt", txn([]string{"gateway", "cart"}, "orders.create")))
	call(sts.mint("at+jwt", jwt.MapClaims{"sub": "alice", "aud": "https://trust.example.com", "scope": "orders.create"}))
	call(sts.mint("txntoken+jwt", txn("gateway", "orders.read")))
	// Output:
	// 200 t-42 for alice, requested by gateway (replaced 0 times)
	// 200 t-42 for alice, requested by gateway > cart (replaced 1 times)
	// 401 {"error":"invalid_token","error_description":"this is an access token (typ at+jwt), not a Transaction Token: send the Transaction Token of this transaction (tokex mints it by token exchange) in the Txn-Token header"}
	// 403 {"error":"insufficient_scope","error_description":"the token lacks scope orders.create (it has: orders.read): the purpose of this transaction does not include it"}
}
