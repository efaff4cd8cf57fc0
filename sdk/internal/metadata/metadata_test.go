package metadata_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokex/tokex/sdk/internal/metadata"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ issuer, want string }{
		{"https://sts.example.com", "https://sts.example.com/.well-known/oauth-authorization-server"},
		{"https://sts.example.com/tenant/a", "https://sts.example.com/.well-known/oauth-authorization-server/tenant/a"}, // RFC 8414 §3.1
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/.well-known/oauth-authorization-server"},
		{"sts.example.com", ""},
		{"https://sts.example.com?tenant=a", ""},
		{"ftp://sts.example.com", ""},
	} {
		got, err := metadata.URL(tc.issuer)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("URL(%q) = %q, %v; want %q", tc.issuer, got, err, tc.want)
		}
	}
}

func TestFetch(t *testing.T) {
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server/ok":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer + "/ok", "token_endpoint": issuer + "/ok/token"})
		case "/.well-known/oauth-authorization-server/other":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer + "/ok"})
		case "/.well-known/oauth-authorization-server/huge":
			_, _ = w.Write([]byte(`{"issuer": "` + strings.Repeat("x", 2*metadata.MaxBytes) + `"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	issuer = srv.URL
	client := metadata.LimitBody(srv.Client())
	doc, err := metadata.Fetch(t.Context(), client, issuer+"/ok")
	if err != nil || doc.TokenEndpoint != issuer+"/ok/token" {
		t.Fatalf("Fetch = %+v, %v", doc, err)
	}
	for _, path := range []string{"/other", "/huge", "/missing"} {
		if _, err := metadata.Fetch(t.Context(), client, issuer+path); err == nil {
			t.Errorf("%s: Fetch accepted the document", path)
		}
	}
}
