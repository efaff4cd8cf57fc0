package tokensource_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokex/tokex/sdk/tokensource"
	"github.com/tokex/tokex/sdk/verify"
)

const apiAudience = "https://orders.example.com"

// newAPI is an API protected by sdk/verify for tokens of f; with nonce it
// first asks every client for a DPoP nonce (RFC 9449 §9) before the proof
// is checked.
func newAPI(t *testing.T, f *fakeTokex, nonce bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	v, err := verify.New(t.Context(), verify.Config{Issuer: f.URL, Audience: apiAudience})
	if err != nil {
		t.Fatal(err)
	}
	var asks atomic.Int64
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tok := verify.FromContext(r.Context())
		_, _ = io.WriteString(w, tok.Subject+" "+tok.Confirmation.JKT+" "+string(b))
	}))
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if nonce && proofNonce(r.Header.Get("DPoP")) != "rs-nonce" {
			asks.Add(1)
			w.Header().Set("DPoP-Nonce", "rs-nonce")
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(api.Close)
	return api, &asks
}

func proofNonce(p string) string {
	parts := strings.Split(p, ".")
	if len(parts) != 3 {
		return ""
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Nonce string `json:"nonce"`
	}
	_ = json.Unmarshal(b, &c)
	return c.Nonce
}

func TestTransport(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dpop  bool
		nonce bool
	}{{"bearer", false, false}, {"DPoP", true, false}, {"DPoP with a resource server nonce", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTokex(t)
			api, asks := newAPI(t, f, tc.nonce)
			cfg := tokensource.Config{TokenURL: f.URL + "/token", ClientID: clientID, ClientSecret: clientSecret,
				Subject: subject("alice"), Audience: apiAudience}
			if tc.dpop {
				cfg.DPoPKey = ecKey(t)
			}
			src, err := tokensource.NewSource(cfg)
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Transport: &tokensource.Transport{Source: src}}
			for i, body := range []string{"first", "second"} {
				resp, err := client.Post(api.URL+"/orders?page=1", "text/plain", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "alice ") || !strings.HasSuffix(string(b), " "+body) {
					t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
				}
				if bound := !strings.HasPrefix(string(b), "alice  "); bound != tc.dpop {
					t.Errorf("request %d: bound %v, want %v (%s)", i, bound, tc.dpop, b)
				}
			}
			if want := map[bool]int64{true: 1, false: 0}[tc.nonce]; asks.Load() != want {
				t.Errorf("%d nonce challenges, want %d (the nonce is kept)", asks.Load(), want)
			}
			if f.exchanges.Load() != 1 {
				t.Errorf("%d exchanges, want 1", f.exchanges.Load())
			}
		})
	}
}

func TestTransportRefusals(t *testing.T) {
	f := newFakeTokex(t)
	api, _ := newAPI(t, f, true)
	src, err := tokensource.NewSource(tokensource.Config{TokenURL: f.URL + "/token", ClientID: clientID, ClientSecret: clientSecret,
		Subject: subject("alice"), Audience: apiAudience, DPoPKey: ecKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	// A body that cannot be sent again: the caller sees the nonce challenge.
	client := &http.Client{Transport: &tokensource.Transport{Source: src}}
	req, _ := http.NewRequest(http.MethodPost, api.URL+"/orders", io.NopCloser(strings.NewReader("x")))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d, want 401 (not replayable)", resp.StatusCode)
	}
	// A DPoP token through a plain oauth2 source without the key: refused locally.
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	client = &http.Client{Transport: &tokensource.Transport{Source: oauth2.StaticTokenSource(tok)}}
	if _, err := client.Get(api.URL + "/orders"); err == nil || !strings.Contains(err.Error(), "no DPoPKey") {
		t.Errorf("err = %v, want a missing DPoPKey", err)
	}
	// An OAuth refusal reaches the caller.
	bad, err := tokensource.NewSource(tokensource.Config{TokenURL: f.URL + "/token", ClientID: clientID, ClientSecret: "wrong", Subject: subject("alice")})
	if err != nil {
		t.Fatal(err)
	}
	client = &http.Client{Transport: &tokensource.Transport{Source: bad}}
	_, err = client.Get(api.URL + "/orders")
	var e *tokensource.Error
	if !errors.As(err, &e) || e.Code != "invalid_client" {
		t.Errorf("err = %v, want invalid_client", err)
	}
}
