package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/testidp"
)

// exportSpans makes tokex print its spans on stdout, where the leak check of
// stop sees them too.
var exportSpans = []string{"OTEL_TRACES_EXPORTER=console"}

// span is the part of a console-exported OpenTelemetry span the tests read.
type span struct {
	Name        string
	SpanContext struct{ TraceID string }
	Attributes  []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (s span) attr(k string) any {
	for _, a := range s.Attributes {
		if a.Key == k {
			return a.Value.Value
		}
	}
	return nil
}

func spans(out string) []span {
	var ss []span
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"SpanContext"`) {
			continue
		}
		var s span
		if json.Unmarshal([]byte(line), &s) == nil && s.Name != "" {
			ss = append(ss, s)
		}
	}
	return ss
}

// TestTracesPerStep: with OTEL_TRACES_EXPORTER=console, every exchange is one
// trace (joined to the caller's traceparent) with a span per step and the
// stable attributes, and no span holds a token or secret (the leak check of
// stop covers the exported spans, which go to stdout).
func TestTracesPerStep(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: exportSpans})

	ok := x.post(t, request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audInventory, "scope", "inventory.read")}.as(orders))
	if ok.Status != http.StatusOK {
		t.Fatalf("exchange: %d %s", ok.Status, ok.Body)
	}
	expired := up.corp.Claims("alice", x.Issuer)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	bad := x.post(t, request{form: exchangeForm(up.corp.Sign(expired), "audience", audInventory)}.as(orders))
	wantError(t, bad, http.StatusBadRequest, api.ErrInvalidRequest, "expired")
	unauth := x.post(t, request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer), testidp.NoKID()), "audience", audInventory)}.as(clientCred{"orders", "wrong-secret-for-orders"}))
	wantError(t, unauth, http.StatusUnauthorized, api.ErrInvalidClient)
	x.audit(t, ok.TraceID)
	x.audit(t, bad.TraceID)
	x.audit(t, unauth.TraceID)

	x.stop(t) // flushes the batched spans
	byTrace := map[string]map[string]span{}
	for _, s := range spans(x.stdout.String()) {
		id := strings.ToLower(s.SpanContext.TraceID)
		if byTrace[id] == nil {
			byTrace[id] = map[string]span{}
		}
		byTrace[id][s.Name] = s
	}
	// The exchange's root is tokex.exchange, or the HTTP server span when there
	// is one (the span that carries tokex.outcome).
	root := func(trace map[string]span) span {
		for _, s := range trace {
			if s.attr("tokex.outcome") != nil {
				return s
			}
		}
		t.Errorf("no span of the trace carries tokex.outcome (spans: %v)", keys(trace))
		return span{}
	}
	steps := []string{"tokex.client_auth", "tokex.subject_validation", "tokex.policy", "tokex.mint"}
	granted := byTrace[ok.TraceID]
	for _, name := range steps {
		if _, found := granted[name]; !found {
			t.Errorf("granted exchange: no span %s in its trace (spans: %v)", name, keys(granted))
		}
	}
	grantedRoot := root(granted)
	for k, want := range map[string]any{"tokex.outcome": "granted", "tokex.client_id": "orders", "tokex.issuer": "corp", "tokex.rule": "orders-to-inventory", "tokex.audience": audInventory} {
		if got := grantedRoot.attr(k); got != want {
			t.Errorf("exchange root span %s = %v, want %v", k, got, want)
		}
	}
	refused := root(byTrace[bad.TraceID])
	for k, want := range map[string]any{"tokex.outcome": "refused", "tokex.error_code": "invalid_request", "tokex.reason": "expired"} {
		if got := refused.attr(k); got != want {
			t.Errorf("refused exchange root span %s = %v, want %v", k, got, want)
		}
	}
	if _, found := byTrace[bad.TraceID]["tokex.mint"]; found {
		t.Errorf("a refused exchange has a mint span")
	}
	if got := root(byTrace[unauth.TraceID]).attr("tokex.error_code"); got != "invalid_client" {
		t.Errorf("failed client auth: tokex.error_code = %v", got)
	}
}

func keys(m map[string]span) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
