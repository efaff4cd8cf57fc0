package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// load sends exchanges from several goroutines until stopped, and records
// every answer that is not a 200 with a token.
type load struct {
	x        *instance
	subjects []string
	ok       atomic.Int64
	mu       sync.Mutex
	failures []string
	stop     chan struct{}
	wg       sync.WaitGroup
	// send, when set, says whether to send the next request now (a load
	// balancer that follows readiness); false skips a beat.
	send func() bool
	// check, when set, judges every minted token (a downstream API).
	check func(accessToken string) error
}

func newLoad(x *instance, subjects []string) *load {
	return &load{x: x, subjects: subjects, stop: make(chan struct{})}
}

func (l *load) run(workers int) {
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &http.Client{Timeout: 20 * time.Second}
			defer c.CloseIdleConnections()
			for i := w; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if l.send != nil && !l.send() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				l.one(c, l.subjects[i%len(l.subjects)])
			}
		}()
	}
}

func (l *load) one(c *http.Client, subject string) {
	form := exchangeForm(subject, "audience", audInventory, "scope", "inventory.read")
	req, err := http.NewRequest(http.MethodPost, l.x.URL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		l.fail(err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(orders.id, orders.secret)
	resp, err := c.Do(req)
	if err != nil {
		l.fail("transport: " + err.Error())
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &body) != nil || body.AccessToken == "" {
		l.fail(fmt.Sprintf("HTTP %d: %s", resp.StatusCode, clip(string(b), 200)))
		return
	}
	if l.check != nil {
		if err := l.check(body.AccessToken); err != nil {
			l.fail(err.Error())
			return
		}
	}
	l.ok.Add(1)
}

func (l *load) fail(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, s)
}

// finish stops the load and fails t for every failed exchange.
func (l *load) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) > 0 {
		t.Errorf("%d of %d exchanges failed under load; first: %v", len(l.failures), int64(len(l.failures))+l.ok.Load(), l.failures[:min(5, len(l.failures))])
	}
	if l.ok.Load() == 0 {
		t.Error("the load sent no successful exchange")
	}
	t.Logf("%d exchanges under load, %d failed", l.ok.Load(), len(l.failures))
}

// env returns the value of name in the instance's environment.
func (x *instance) env(name string) string {
	for _, kv := range x.cmd.Env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// metricValue reads one sample from the admin listener's /metrics; -1 if absent.
func metricValue(t *testing.T, admin, sample string) float64 {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(string(b))
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", sample, err)
	}
	return v
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadUnderLoad: the policy file is rewritten, good and bad, and tokex is
// sent SIGHUP, while exchanges run; none fails, good policies take effect, bad
// ones are logged and counted and change nothing (issue 6).
func TestReloadUnderLoad(t *testing.T) {
	up := newIdPs(t)
	admin := "127.0.0.1:" + freePort(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: []string{"TOKEX_ADMIN_ADDR=" + admin, "TOKEX_RELOAD_INTERVAL=100ms"}})
	file := x.env("TOKEX_CONFIG")
	base, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	subjects := make([]string, 50)
	for i := range subjects {
		subjects[i] = up.corp.Sign(up.corp.Claims(fmt.Sprintf("user-%d", i), x.Issuer))
	}
	l := newLoad(x, subjects)
	l.run(4)

	const okSample = `tokex_reloads_total{tokex_reload="policy",tokex_result="ok"}`
	const errSample = `tokex_reloads_total{tokex_reload="policy",tokex_result="error"}`
	probe := up.corp.Sign(up.corp.Claims("probe", x.Issuer))
	for round := 1; round <= 4; round++ {
		aud := fmt.Sprintf("https://reload-%d.example.com", round)
		good := string(base) + fmt.Sprintf("  - name: reload-%d\n    clients: [orders]\n    issuers: [corp]\n    audience: %s\n    scopes: [r.read]\n", round, aud)
		if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
			t.Fatal(err)
		}
		if round%2 == 0 {
			_ = x.cmd.Process.Signal(syscall.SIGHUP) // and by signal, racing the file check
		}
		waitFor(t, "the new rule "+aud, func() bool {
			return x.post(t, request{form: exchangeForm(probe, "audience", aud)}.as(orders)).Status == http.StatusOK
		})
		if got := metricValue(t, admin, okSample); got < float64(round) {
			t.Errorf("%s = %v after %d good reloads", okSample, got, round)
		}

		// A bad file: unknown key. The rule of this round stays in force.
		bad := strings.Replace(good, "scopes: [r.read]", "scopez: [r.read]", 1)
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the bad policy to be refused", func() bool { return metricValue(t, admin, errSample) >= float64(round) })
		if r := x.post(t, request{form: exchangeForm(probe, "audience", aud)}.as(orders)); r.Status != http.StatusOK {
			t.Errorf("after a bad reload, rule reload-%d: %d %v", round, r.Status, r.JSON)
		}
	}
	l.finish(t)

	logs := x.stdout.String()
	for _, want := range []string{`"msg":"policy reloaded"`, `"msg":"policy reload failed; the running policy stays in force"`, `scopez`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// TestSIGTERMUnderLoad: SIGTERM while exchanges run. Readiness turns false
// first; a load balancer following /readyz stops sending within the shutdown
// delay; requests in flight finish; tokex exits 0; no exchange fails.
func TestSIGTERMUnderLoad(t *testing.T) {
	up := newIdPs(t)
	admin := "127.0.0.1:" + freePort(t)
	x := start(t, startOpts{policy: up.policy("", ""), env: []string{"TOKEX_ADMIN_ADDR=" + admin, "TOKEX_SHUTDOWN_DELAY=1s"}})
	subjects := make([]string, 50)
	for i := range subjects {
		subjects[i] = up.corp.Sign(up.corp.Claims(fmt.Sprintf("user-%d", i), x.Issuer))
	}

	// The load balancer: polls /readyz on the admin port, as a kubelet does.
	var ready atomic.Bool
	ready.Store(true)
	var sawNotReady atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lbDone := make(chan struct{})
	go func() {
		defer close(lbDone)
		c := &http.Client{Timeout: time.Second}
		defer c.CloseIdleConnections()
		for ctx.Err() == nil {
			resp, err := c.Get("http://" + admin + "/readyz")
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				ready.Store(false)
				if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
					sawNotReady.Store(true)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	l := newLoad(x, subjects)
	l.send = ready.Load
	l.run(8)
	waitFor(t, "some load", func() bool { return l.ok.Load() >= 50 })

	before := l.ok.Load()
	if err := x.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-x.done:
	case <-time.After(25 * time.Second):
		t.Fatal("tokex did not exit within 25s of SIGTERM")
	}
	cancel()
	<-lbDone
	l.finish(t)
	if code := x.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if !sawNotReady.Load() {
		t.Error("/readyz never answered 503 between SIGTERM and exit")
	}
	if l.ok.Load() == before {
		t.Error("no exchange completed after SIGTERM: in-flight requests were not served")
	}
	logs := x.stdout.String()
	for _, want := range []string{`"msg":"shutting down: not ready, still serving"`, `"msg":"shutting down: finishing in-flight requests"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}
