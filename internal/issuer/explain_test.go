package issuer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tokex/tokex/internal/issuer"
)

// explainAgrees checks that Registry.Explain reaches Verify's verdict on raw:
// its first refusal has the reason Verify gave (want; "" for accepted), every
// check is reported once, and the output never holds the token.
func explainAgrees(t *testing.T, reg *issuer.Registry, raw, tokenType string, want issuer.Reason) {
	t.Helper()
	p, checks := reg.Explain(context.Background(), raw, tokenType)
	var first issuer.Reason
	seen := map[string]bool{}
	for _, c := range checks {
		if seen[c.Name] {
			t.Errorf("explain: check %q reported twice", c.Name)
		}
		seen[c.Name] = true
		if c.Err != nil && first == "" {
			first = c.Err.Reason
		}
		if c.Err == nil && c.NotRun == "" && want == "" && c.Detail == "" {
			t.Errorf("explain: check %q passed without saying what it found", c.Name)
		}
		if len(raw) > 20 && strings.Contains(c.Detail+c.NotRun, raw) {
			t.Errorf("explain: check %q holds the token", c.Name)
		}
	}
	if len(checks) != 15 {
		t.Errorf("explain reported %d checks, want 15", len(checks))
	}
	if first != want {
		t.Errorf("explain's first refusal is %q, Verify's %q", first, want)
	}
	if want == "" {
		vp, err := reg.Verify(context.Background(), raw, tokenType)
		switch {
		case err != nil:
			t.Errorf("Verify: %v", err)
		case p == nil || p.Subject != vp.Subject:
			// The subject mapping (subject, subject_prefix) runs in both.
			t.Errorf("explain's principal %+v, Verify's subject %q", p, vp.Subject)
		}
	}
}
