package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAdminMetrics: after a few exchanges the admin listener serves their
// metrics with bounded labels (never a subject), and /healthz, /readyz.
func TestAdminMetrics(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	admin := "127.0.0.1:" + freePort(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: []string{"TOKEX_ADMIN_ADDR=" + admin}})

	for range 2 {
		r := x.post(t, request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice-subject-42", x.Issuer)), "audience", audInventory)}.as(orders))
		if r.Status != http.StatusOK {
			t.Fatalf("exchange: %d %v", r.Status, r.JSON)
		}
	}
	bad := x.post(t, request{form: exchangeForm(up.corp.Sign(up.corp.Claims("alice-subject-42", x.Issuer)), "audience", "https://nowhere.example.com")}.as(orders))
	wantError(t, bad, http.StatusBadRequest, "invalid_target")

	get := func(path string) (int, string) {
		t.Helper()
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + admin + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`tokex_exchanges_total{tokex_client_id="orders",tokex_error_code="",tokex_issuer="corp",tokex_outcome="granted",tokex_profile="token_exchange",tokex_reason="",tokex_rule="orders-to-inventory"} 2`,
		`tokex_exchanges_total{tokex_client_id="orders",tokex_error_code="invalid_target",tokex_issuer="corp",tokex_outcome="refused",tokex_profile="token_exchange",tokex_reason="no_rule",tokex_rule=""} 1`,
		`tokex_exchange_duration_seconds_count{tokex_client_id="orders",tokex_error_code="",tokex_issuer="corp",tokex_outcome="granted"`,
		`tokex_upstream_fetches_total{tokex_issuer="corp",tokex_result="ok"}`,
		`tokex_signing_key_age_seconds{tokex_alg="ES256",tokex_kid="` + x.KID + `"}`,
		`http_server_request_duration_seconds_count{`,
		`tokex_upstream_last_success_timestamp_seconds{tokex_issuer="corp"} `,
		"\ntokex_signing_key_next 0\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, dropped := range []string{"http_server_request_body_size", "http_server_response_body_size"} {
		if strings.Contains(body, dropped) {
			t.Errorf("/metrics has %s, which tokex drops (Development in the HTTP semantic conventions)", dropped)
		}
	}
	if strings.Contains(body, "alice-subject-42") {
		t.Error("/metrics holds a subject: labels must have bounded cardinality")
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/token": 404} {
		if code, _ := get(path); code != want {
			t.Errorf("admin %s = %d, want %d", path, code, want)
		}
	}
	// The public port does not serve metrics.
	if r := x.get(t, "/metrics", nil); r.Status != http.StatusNotFound {
		t.Errorf("public /metrics = %d, want 404", r.Status)
	}
}

// TestAdminPprof: with TOKEX_ADMIN_PPROF the admin listener serves Go's
// profiles (issue 17: how an operator profiles tokex under load); the public
// listener never does, and without the setting neither does the admin one.
func TestAdminPprof(t *testing.T) {
	t.Parallel()
	up := newIdPs(t)
	status := func(url string) int {
		t.Helper()
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, on := range []bool{true, false} {
		admin := "127.0.0.1:" + freePort(t)
		env := []string{"TOKEX_ADMIN_ADDR=" + admin}
		if on {
			env = append(env, "TOKEX_ADMIN_PPROF=true")
		}
		x := start(t, startOpts{policy: up.policy("", ""), env: env})
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		for _, path := range []string{"/debug/pprof/heap", "/debug/pprof/allocs", "/debug/pprof/"} {
			if got := status("http://" + admin + path); got != want {
				t.Errorf("pprof %v: admin %s = %d, want %d", on, path, got, want)
			}
			if got := status(x.URL + path); got != http.StatusNotFound {
				t.Errorf("pprof %v: public %s = %d, want 404", on, path, got)
			}
		}
	}
}
