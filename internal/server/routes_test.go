package server_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"

	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/server"
)

// TestRoutesMatchOpenAPI keeps openapi.yaml true: every route the router serves
// is documented with its method, and every documented operation is served.
func TestRoutesMatchOpenAPI(t *testing.T) {
	s := newStack(t, nil)
	defer s.close()
	engine, ok := s.handler.(*gin.Engine)
	if !ok {
		t.Fatalf("server.New returned %T, want *gin.Engine", s.handler)
	}
	var served []string
	param := regexp.MustCompile(`[:*]([A-Za-z]+)`)
	for _, r := range engine.Routes() {
		served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}

	raw, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch m := strings.ToUpper(method); m {
			case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
				documented = append(documented, m+" "+path)
			}
		}
	}
	sort.Strings(served)
	sort.Strings(documented)
	if strings.Join(served, "\n") != strings.Join(documented, "\n") {
		t.Errorf("routes and openapi.yaml differ\nserved:\n  %s\ndocumented:\n  %s", strings.Join(served, "\n  "), strings.Join(documented, "\n  "))
	}
}

// TestMaxBodyBytes: the body limit is the configured one (TOKEX_MAX_BODY_BYTES).
func TestMaxBodyBytes(t *testing.T) {
	ks, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	var set atomic.Pointer[keys.Set]
	set.Store(ks)
	h := server.New(server.Options{Exchange: exchange.New(exchange.Options{}), Keys: &set, Issuer: "https://sts.example.com", MaxBodyBytes: 8 << 10})
	for _, tc := range []struct {
		size int
		want int
	}{{size: 9 << 10, want: http.StatusRequestEntityTooLarge}, {size: 7 << 10, want: http.StatusBadRequest /* the repeated scope: the body was read */}} {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("scope=a&scope=b&padding="+strings.Repeat("p", tc.size)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("body of %d bytes: status %d, want %d: %s", tc.size, rec.Code, tc.want, rec.Body)
		}
	}
}
