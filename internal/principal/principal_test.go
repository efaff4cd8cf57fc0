package principal_test

import (
	"encoding/base64"
	"go/build"
	"slices"
	"strings"
	"testing"

	"github.com/tokex/tokex/internal/principal"
)

func TestClaims(t *testing.T) {
	p := &principal.Principal{Payload: base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice","n":1,"act":{"sub":"svc"}}`))}
	c, err := p.Claims()
	if err != nil || c["sub"] != "alice" || c["n"] != float64(1) {
		t.Fatalf("Claims() = %v, %v", c, err)
	}
	bad := &principal.Principal{Payload: base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"a","sub":"b"}`))}
	if _, err := bad.Claims(); err == nil {
		t.Error("a duplicate claim decoded")
	}
	q := (&principal.Principal{}).WithClaims(map[string]any{"act": map[string]any{"sub": "svc"}})
	if !q.HasAct {
		t.Error("WithClaims of a claims set with act: HasAct false")
	}
}

// TestLeaf: the rules read a principal, never a verifier (issue 16): the
// principal and policy packages import no verifier.
func TestLeaf(t *testing.T) {
	for _, dir := range []string{".", "../policy"} {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(pkg.Imports, func(s string) bool {
			return strings.HasSuffix(s, "/internal/issuer") || strings.HasSuffix(s, "/internal/exchange") || strings.HasSuffix(s, "/internal/client")
		}); i >= 0 {
			t.Errorf("%s imports %s", pkg.ImportPath, pkg.Imports[i])
		}
	}
}
