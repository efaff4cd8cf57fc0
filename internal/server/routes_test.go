package server_test

import (
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"
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
