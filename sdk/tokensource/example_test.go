package tokensource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tokex/tokex/sdk/tokensource"
	"github.com/tokex/tokex/sdk/verify"
)

// exampleTokex is a stand-in for tokex's token endpoint.
func exampleTokex() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.FormValue("audience") != "https://inventory.example.com" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_target","error_description":"no rule lets client orders exchange tokens for audience `+r.FormValue("audience")+`"}`)
			return
		}
		typ := "Bearer"
		if r.Header.Get("DPoP") != "" {
			typ = "DPoP"
		}
		_, _ = io.WriteString(w, `{"access_token":"eyJ...","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"`+typ+`","expires_in":300,"scope":"inventory.read"}`)
	}))
}

// A service calls the inventory API for the user whose token it received:
// the Source exchanges the incoming token at tokex (cached per user until
// shortly before expiry) and the Transport sends the result.
func ExampleNew() {
	sts := exampleTokex()
	defer sts.Close()
	src, err := tokensource.New(tokensource.Config{
		TokenURL:     sts.URL + "/token", // or Issuer: "https://sts.example.com" (RFC 8414 discovery)
		ClientID:     "orders",
		ClientSecret: "orders-secret",
		// The subject: the token this service received (with sdk/verify's middleware).
		Subject: func(ctx context.Context) (string, string, error) {
			if t := verify.FromContext(ctx); t != nil {
				return t.Raw, tokensource.AccessToken, nil
			}
			return "a-user-token", tokensource.AccessToken, nil // for this example
		},
		Audience: "https://inventory.example.com",
		Scopes:   []string{"inventory.read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.TokenType, tok.Extra("scope"))

	// Requests made with this client carry the token.
	client := &http.Client{Transport: &tokensource.Transport{Source: src}}
	_ = client
	// Output:
	// Bearer inventory.read
}

// With a DPoP key the tokens are bound to it; Transport signs a DPoP proof
// for every request.
func ExampleTransport() {
	sts := exampleTokex()
	defer sts.Close()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // or any crypto.Signer: a KMS key
	src, err := tokensource.NewSource(tokensource.Config{
		TokenURL: sts.URL + "/token", ClientID: "orders", ClientSecret: "orders-secret",
		Subject:  func(context.Context) (string, string, error) { return "a-user-token", tokensource.AccessToken, nil },
		Audience: "https://inventory.example.com",
		DPoPKey:  key,
	})
	if err != nil {
		log.Fatal(err)
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		fmt.Println(scheme, "with a proof:", r.Header.Get("DPoP") != "")
	}))
	defer api.Close()
	client := &http.Client{Transport: &tokensource.Transport{Source: src}}
	resp, err := client.Get(api.URL + "/items")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	// Output:
	// DPoP with a proof: true
}

// tokex's refusals are *Error values with the OAuth error code.
func ExampleError() {
	sts := exampleTokex()
	defer sts.Close()
	src, _ := tokensource.NewSource(tokensource.Config{
		TokenURL: sts.URL + "/token", ClientID: "orders", ClientSecret: "orders-secret",
		Subject:  func(context.Context) (string, string, error) { return "a-user-token", tokensource.AccessToken, nil },
		Audience: "https://payroll.example.com",
	})
	_, err := src.Token()
	var e *tokensource.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Code+":", e.Description)
	}
	// Output:
	// 400 invalid_target: no rule lets client orders exchange tokens for audience https://payroll.example.com
}
