package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/promtest"
)

// dashboardWithoutData are the dashboard panels about what this test does not
// exercise (a shared store, rate limits, failing fetches, 5xx): their queries
// must evaluate without error, but may be empty.
var dashboardWithoutData = map[string]bool{
	"HTTP 5xx answers":                         true,
	"Rate-limited requests":                    true,
	"Upstream fetch failures per issuer":       true,
	"Shared store round trips (p50, p99)":      true,
	"Shared store calls":                       true,
	"Shared store errors and fail-open":        true,
	"Refused: store unavailable (fail closed)": true,
}

// spikeTestRules derives test-sized windows for TokexRefusalSpike from
// rules.yaml: a 30s rate window instead of 10m, a baseline an hour back
// (before this test: the "new reason" branch) instead of a day, and for 1s.
func spikeTestRules(t *testing.T, rules string) string {
	t.Helper()
	start := strings.Index(rules, "- alert: TokexRefusalSpike")
	if start < 0 {
		t.Fatal("rules.yaml has no TokexRefusalSpike")
	}
	end := strings.Index(rules[start+1:], "- alert:")
	if end < 0 {
		end = len(rules)
	} else {
		end += start + 1
	}
	block := rules[start:end]
	for _, r := range [][2]string{{"[10m]", "[30s]"}, {"offset 1d", "offset 1h"}, {"for: 5m", "for: 1s"}} {
		if !strings.Contains(block, r[0]) {
			t.Fatalf("TokexRefusalSpike no longer has %q: update spikeTestRules", r[0])
		}
		block = strings.ReplaceAll(block, r[0], r[1])
	}
	return rules[:start] + block + rules[end:]
}

// TestPrometheus: a real Prometheus scrapes a real tokex every second with
// deploy/prometheus/rules.yaml loaded (the refusal spike alert with test-sized
// windows); after exchanges, accepted and refused for several reasons, and a
// reload, every query of the Grafana dashboard evaluates (and returns data,
// except dashboardWithoutData), every rule evaluates without error, and
// TokexRefusalSpike goes pending or firing for the refused reason.
func TestPrometheus(t *testing.T) {
	t.Parallel()
	rules, err := os.ReadFile(filepath.Join("..", "deploy", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dash, err := promtest.ReadDashboard(filepath.Join("..", "deploy", "grafana", "tokex.json"))
	if err != nil {
		t.Fatal(err)
	}
	promtest.Lookup(t, "prometheus") // skip before starting tokex

	// A keys file with states, rotated once: an active, a next and a retired
	// key, for the key lifecycle panels. The next key may be promoted 2s after
	// it was generated; Prometheus starts meanwhile.
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	gen, _ := cli(t, 0, "keys", "generate", "--min-next", "2s")
	if err := os.WriteFile(keysFile, []byte(gen), 0o600); err != nil {
		t.Fatal(err)
	}
	rotateAt := time.Now().Add(3100 * time.Millisecond) // created_at is rounded up to the second

	admin := "127.0.0.1:" + freePort(t)
	prom := promtest.Start(t, "127.0.0.1:"+freePort(t), fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yaml]
scrape_configs:
  - job_name: tokex
    static_configs:
      - targets: [%q]
`, admin), map[string]string{"rules.yaml": spikeTestRules(t, string(rules))})
	time.Sleep(time.Until(rotateAt))
	cli(t, 0, "keys", "rotate", "--max-lifetime", "15m", keysFile)
	up := newIdPs(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: []string{"TOKEX_ADMIN_ADDR=" + admin, "TOKEX_KEYS=" + keysFile}})

	// Prometheus applies its targets a few seconds after start: wait for the
	// first scrape, so that the traffic below spans several.
	for deadline := time.Now().Add(20 * time.Second); ; {
		res, err := prom.Query(`up{job="tokex"} == 1`)
		if err == nil && len(res.Data.Result) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has not scraped tokex after 20s: %v\n%s", err, prom.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}

	ok := func() request {
		return request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audInventory)}.as(orders)
	}
	noRule := func() request {
		return request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", "https://nowhere.example.com")}.as(orders)
	}
	expired := func() request {
		c := up.corp.Claims("alice", x.Issuer)
		c["exp"] = time.Now().Add(-time.Hour).Unix()
		return request{form: exchangeForm(up.corp.Sign(c), "audience", audInventory)}.as(orders)
	}
	badSecret := func() request {
		return request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice", x.Issuer)), "audience", audInventory)}.as(clientCred{orders.id, orders.secret + "x"})
	}
	badDPoP := func() request {
		r := ok()
		r.header = map[string]string{"DPoP": "not-a-proof"}
		return r
	}
	send := func(r request, status int) {
		t.Helper()
		if got := x.post(t, r); got.Status != status {
			t.Fatalf("status %d %v, want %d", got.Status, got.JSON, status)
		}
	}
	// One of each first, so that every series exists in a scrape before it
	// grows (rate() needs two samples), then more over a few scrapes.
	round := func() {
		send(ok(), http.StatusOK)
		send(expired(), http.StatusBadRequest)
		send(badSecret(), http.StatusUnauthorized)
		send(noRule(), http.StatusBadRequest)
		send(badDPoP(), http.StatusBadRequest)
	}
	round()
	time.Sleep(1500 * time.Millisecond)
	if err := x.cmd.Process.Signal(syscall.SIGHUP); err != nil { // a reload (the same files: ok)
		t.Fatal(err)
	}
	for range 4 {
		round()
		for range 10 {
			send(noRule(), http.StatusBadRequest) // the spike
		}
		time.Sleep(700 * time.Millisecond)
	}

	// The spike alert, with its 30s window and no baseline an hour back.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs, err := prom.Rules()
		if err != nil {
			t.Fatal(err)
		}
		state := ""
		for _, r := range rs {
			for _, a := range r.Alerts {
				if r.Name == "TokexRefusalSpike" && a.Labels["tokex_reason"] == "no_rule" {
					state = a.State
				}
			}
		}
		if state == "pending" || state == "firing" {
			t.Logf("TokexRefusalSpike{tokex_reason=\"no_rule\"} is %s", state)
			break
		}
		if time.Now().After(deadline) {
			var diag []string
			for _, q := range []string{`up`, `sum by (job, tokex_reason) (rate(tokex_exchanges_total{tokex_outcome="refused"}[30s]))`} {
				res, err := prom.Query(q)
				diag = append(diag, fmt.Sprintf("%s: %v %s", q, err, res.Data.Result))
			}
			t.Fatalf("TokexRefusalSpike for no_rule not pending or firing after 30s (state %q)\n%s\n%s", state, strings.Join(diag, "\n"), prom.Log())
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Every rule evaluated, without error.
	rs, err := prom.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		t.Fatal("Prometheus loaded no rules")
	}
	for _, r := range rs {
		if r.Health != "ok" || r.LastError != "" || r.LastEvaluation.IsZero() {
			t.Errorf("rule %s (%s): health %q, error %q, last evaluation %v", r.Name, r.Type, r.Health, r.LastError, r.LastEvaluation)
		}
	}

	// Every dashboard query, $__rate_interval covering the whole test.
	var empty []string
	for _, q := range dash.Queries("30s") {
		res, err := prom.Query(q.Expr)
		switch {
		case err != nil:
			t.Errorf("panel %q %s: %v\n%s", q.Panel, q.RefID, err, q.Expr)
		case len(res.Data.Result) == 0 && !dashboardWithoutData[q.Panel]:
			t.Errorf("panel %q %s: no data\n%s", q.Panel, q.RefID, q.Expr)
		case len(res.Data.Result) == 0:
			empty = append(empty, q.Panel+" "+q.RefID)
		}
	}
	t.Logf("evaluated %d dashboard queries; without data, as this test does not exercise them: %s", len(dash.Queries("30s")), strings.Join(empty, "; "))

	// The recording rules about exchanges have data too.
	for _, rec := range []string{"tokex:exchanges:rate5m", "tokex:exchange_errors:ratio_rate5m", "tokex:exchange_slow:ratio_rate5m", "tokex:exchange_duration_seconds:p99_5m", "tokex:upstream_fetches:rate5m"} {
		res, err := prom.Query(rec)
		if err != nil || len(res.Data.Result) == 0 {
			t.Errorf("recording rule %s: %v, %d series", rec, err, len(res.Data.Result))
		}
	}
}
