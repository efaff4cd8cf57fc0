package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"flag"
	"net/http"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// floor serves POST /token with the least any exchange over net/http costs:
// read the form, one RS256 verify and one ES256 sign (BenchmarkCryptoFloor's
// cryptography), and a response body of the size tokex sends. No router,
// tracing, metrics, policy or audit. Its CPU per request under the same wrk
// load is the floor that tokex's own work is measured above.
func floor(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18191", "listen address")
	size := fs.Int("body", 800, "response body bytes (tokex's token response)")
	_ = fs.Parse(args)
	h, err := floorHandler(*size)
	if err != nil {
		return err
	}
	return http.ListenAndServe(*addr, h)
}

// floorHandler answers a form with a subject_token after the cryptography,
// with a JSON body of size bytes; anything else gets 400.
func floorHandler(size int) (http.Handler, error) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	input := "eyJhbGciOiJSUzI1NiJ9." + strings.Repeat("x", 400)
	sig, err := jwt.SigningMethodRS256.Sign(input, rsaKey)
	if err != nil {
		return nil, err
	}
	body := []byte(`{"access_token":"` + strings.Repeat("x", max(size-len(`{"access_token":""}`), 0)) + `"}`)
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("subject_token") == "" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		if jwt.SigningMethodRS256.Verify(input, sig, &rsaKey.PublicKey) != nil {
			http.Error(w, "verify", http.StatusInternalServerError)
			return
		}
		if _, err := jwt.SigningMethodES256.Sign(input, ecKey); err != nil {
			http.Error(w, "sign", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", length)
		_, _ = w.Write(body)
	}), nil
}
