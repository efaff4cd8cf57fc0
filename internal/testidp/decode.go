package testidp

import (
	"encoding/json"
	"testing"

	"github.com/tokex/tokex/internal/jws"
)

// Decode reads a JWT's header and claims without verifying anything, for
// tests that look into the tokens tokex mints.
func Decode(t testing.TB, raw string) (header, claims map[string]any) {
	t.Helper()
	parts, err := jws.Split(raw)
	if err != nil {
		t.Fatal(err)
	}
	if header, err = jws.DecodeHeader(parts[0]); err != nil {
		t.Fatal(err)
	}
	b, err := jws.DecodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return header, claims
}
