package e2e

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/tokex/tokex/api"
)

// TestRateLimit: token buckets per client and per (client, subject); over the
// limit is 429 with Retry-After and an OAuth error body.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	limits := "rate_limits:\n  client: {per_second: 0.2, burst: 3}\n  subject: {per_second: 0.2, burst: 1}\n"
	x := start(t, startOpts{policy: up.policy("", limits)})
	exchange := func(sub string) response {
		return x.post(t, request{form: exchangeForm(up.corp.Sign(up.corp.Claims(sub, x.Issuer)), "audience", audInventory)}.as(orders))
	}
	wantLimited := func(t *testing.T, r response, what string) {
		t.Helper()
		wantError(t, r, http.StatusTooManyRequests, api.ErrTemporarilyUnavailable, "rate limit exceeded for this "+what)
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 5 {
			t.Errorf("Retry-After = %q, want whole seconds in [1, 5] (the bucket refills one token in 5s)", r.Header.Get("Retry-After"))
		}
		wantAudit(t, x.audit(t, r.TraceID), map[string]any{"outcome": "refused", "reason": "rate_limited"})
	}

	// The client's bucket holds 3; alice's holds 1.
	if r := exchange("alice"); r.Status != http.StatusOK {
		t.Fatalf("first exchange: %d %s", r.Status, r.Body)
	}
	wantLimited(t, exchange("alice"), "subject")
	if r := exchange("bob"); r.Status != http.StatusOK {
		t.Fatalf("another subject within the client's limit: %d %s", r.Status, r.Body)
	}
	wantLimited(t, exchange("carol"), "client")

	// Another client has its own bucket.
	r := x.post(t, request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audLedger)}.as(billing))
	if r.Status != http.StatusOK {
		t.Fatalf("billing: %d %s", r.Status, r.Body)
	}
}
