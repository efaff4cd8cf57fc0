package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestAuditFlushedOnSIGTERM: audit events wait in a buffer (TOKEX_AUDIT_FLUSH),
// and a graceful stop writes out every one of them: one per exchange, granted
// or refused.
func TestAuditFlushedOnSIGTERM(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	began := time.Now()
	// The longest interval, and no application lines (they write the buffer
	// out first): only SIGTERM writes these events.
	x := start(t, startOpts{policy: up.policy("", ""), env: []string{"TOKEX_AUDIT_FLUSH=10s", "TOKEX_LOG_LEVEL=error"}})
	subject := up.corp.Sign(up.corp.Claims("alice", x.Issuer))
	var ids []string
	for i := range 30 {
		aud, want := audInventory, http.StatusOK
		if i%3 == 0 {
			aud, want = "https://nowhere.example.com", http.StatusBadRequest // invalid_target
		}
		r := x.post(t, request{form: exchangeForm(subject, "audience", aud)}.as(orders))
		if r.Status != want {
			t.Fatalf("exchange %d: status %d, want %d: %s", i, r.Status, want, r.Body)
		}
		ids = append(ids, r.TraceID)
	}
	if seen := len(auditEvents(x.stdout.String())); seen == len(ids) && time.Since(began) < 9*time.Second {
		t.Errorf("all %d audit events were written before SIGTERM: nothing was buffered", seen)
	}
	x.mu.Lock()
	x.audited = append(x.audited, ids...) // stop checks one event each
	x.mu.Unlock()
	x.stop(t)

	counts := map[string]int{}
	for _, ev := range auditEvents(x.stdout.String()) {
		if id, _ := ev["trace_id"].(string); id != "" {
			counts[id]++
		}
	}
	n := 0
	for _, id := range ids {
		n += counts[id]
	}
	if n != len(ids) {
		t.Errorf("%d audit events after SIGTERM for %d exchanges", n, len(ids))
	}
}
