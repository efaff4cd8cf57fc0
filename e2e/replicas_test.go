package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/redistest"
	"github.com/tokex/tokex/internal/testidp"
)

// metered is a client whose exchanges are rate limited across the replicas.
var metered = clientCred{id: "metered", secret: "metered-S3cret_0123456789.abcdefghij~XYZ"}

// metered's client limit across all replicas: a bucket of meteredBurst
// refilled at meteredRate per second.
const meteredRate, meteredBurst = 20, 5

// replicas are three tokex processes on one redis-server, serving one issuer
// (as behind one load balancer), with a private_key_jwt client (signer) and a
// rate-limited client (metered).
type replicas struct {
	srv    *redistest.Server
	up     idps
	signer ecKey
	issuer string
	xs     []*instance
	admin  string // admin listener of xs[0]
	pw     string // the Redis password
}

func startReplicas(t *testing.T) *replicas {
	t.Helper()
	// The password reaches tokex as a file (a mounted Secret in Kubernetes)
	// and must never appear in its output.
	password := "redis-pw-" + rand.Text()
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &replicas{srv: redistest.Start(t, "--requirepass", password), up: newIdPs(t), signer: newECKey(t, "signer-1"), issuer: "https://sts.replicas.example", pw: password}
	extra := `  - name: signer-to-inventory
    clients: [signer]
    issuers: [corp]
    audience: ` + audInventory + `
    scopes: [inventory.read]
  - name: metered-to-inventory
    clients: [metered]
    issuers: [corp]
    audience: ` + audInventory + `
    scopes: [inventory.read]
`
	pol := func(string) string {
		doc := r.up.policy("", extra)(r.issuer)
		return insertClient(doc, "  - id: signer\n    auth: private_key_jwt\n    jwks: "+r.signer.jwksJSON(t)+"\n"+
			"  - id: metered\n    secret_sha256: \""+sha256hex(metered.secret)+"\"\n    rate_limits:\n"+
			"      client: {per_second: "+strconv.Itoa(meteredRate)+", burst: "+strconv.Itoa(meteredBurst)+"}\n      subject: {per_second: 1000, burst: 1000}\n")
	}
	env := []string{"TOKEX_REDIS_URL=" + r.srv.URL(), "TOKEX_REDIS_PASSWORD_FILE=" + pwFile, "TOKEX_REDIS_TIMEOUT=300ms", "TOKEX_REDIS_DIAL_TIMEOUT=300ms"}
	r.admin = "127.0.0.1:" + freePort(t)
	for i := range 3 {
		env := env
		if i == 0 {
			env = append(slices.Clone(env), "TOKEX_ADMIN_ADDR="+r.admin)
		}
		x := start(t, startOpts{policy: pol, env: env})
		x.secret(metered.secret)
		x.secret(password)
		r.xs = append(r.xs, x)
	}
	return r
}

func (r *replicas) subject(sub string) string { return r.up.corp.Sign(r.up.corp.Claims(sub, r.issuer)) }

// assertion is a fresh private_key_jwt client assertion for signer.
func (r *replicas) assertion(t *testing.T) string {
	return r.signer.assertion(t, "signer", r.issuer+"/token")
}

func (r *replicas) signed(t *testing.T, x *instance, assertion string) response {
	x.secret(assertion)
	return x.post(t, assertionForm(r.subject("alice"), assertion))
}

func (r *replicas) secretClient(t *testing.T, x *instance, c clientCred) response {
	return x.post(t, request{form: exchangeForm(r.subject("alice"), "audience", audInventory)}.as(c))
}

// acceptedOnce sends one credential (send) to every replica twice at once:
// exactly one answer is granted, every other is refused with status and code
// as "already used".
func (r *replicas) acceptedOnce(t *testing.T, round int, what string, send func(*instance) response, granted func(response) bool, status int, code api.ErrorCode) {
	t.Helper()
	var wg sync.WaitGroup
	res := make([]response, 2*len(r.xs))
	for i := range res {
		wg.Go(func() { res[i] = send(r.xs[i%len(r.xs)]) })
	}
	wg.Wait()
	ok := 0
	for _, rr := range res {
		if granted(rr) {
			ok++
			continue
		}
		wantError(t, rr, status, code, "already used")
	}
	if ok != 1 {
		t.Fatalf("round %d: %d of %d replicas accepted one %s, want exactly 1", round, ok, len(res), what)
	}
}

// storeMonitor reads a Redis MONITOR stream: every command a client sends,
// and separately (tagged "lua") those a script runs.
type storeMonitor struct {
	rc    *redis.Client
	mu    sync.Mutex
	lines []string
	n     atomic.Int64
}

func monitorStore(t *testing.T, addr, password string) *storeMonitor {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	br := bufio.NewReader(c)
	for _, cmd := range []string{"AUTH " + password, "MONITOR"} {
		if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("%s: %q %v", strings.Fields(cmd)[0], line, err)
		}
	}
	m := &storeMonitor{rc: redis.NewClient(&redis.Options{Addr: addr, Password: password})}
	t.Cleanup(func() { _ = m.rc.Close() })
	go func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			m.mu.Lock()
			m.lines = append(m.lines, strings.TrimSpace(line))
			m.mu.Unlock()
		}
	}()
	return m
}

// during runs send between two markers and returns the commands clients sent
// to the store meanwhile: not those a script ran (one round trip runs a
// whole script), nor a new connection's set-up.
func (m *storeMonitor) during(t *testing.T, send func() response) (response, []string) {
	t.Helper()
	mark := func() string {
		s := fmt.Sprintf("tokex-e2e-mark-%d", m.n.Add(1))
		if err := m.rc.Echo(t.Context(), s).Err(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			m.mu.Lock()
			seen := len(m.lines) > 0 && strings.Contains(m.lines[len(m.lines)-1], s)
			m.mu.Unlock()
			if seen {
				return s
			}
		}
		t.Fatalf("marker %s never reached MONITOR", s)
		return ""
	}
	// Quiet first: a call that outlived TOKEX_REDIS_TIMEOUT (300ms) in an
	// earlier exchange, let through failing open, may still reach Redis.
	for last, quiet := -1, time.Now(); time.Since(quiet) < 400*time.Millisecond; time.Sleep(20 * time.Millisecond) {
		m.mu.Lock()
		if n := len(m.lines); n != last {
			last, quiet = n, time.Now()
		}
		m.mu.Unlock()
	}
	m.mu.Lock()
	from := len(m.lines)
	m.mu.Unlock()
	mark()
	rr := send()
	mark()
	m.mu.Lock()
	defer m.mu.Unlock()
	var cmds []string
	for _, l := range m.lines[from:] {
		_, args, ok := strings.Cut(l, "] ")
		if !ok || strings.Contains(l, " lua]") || strings.Contains(l, "tokex-e2e-mark-") {
			continue
		}
		name := strings.ToLower(strings.Trim(strings.Fields(args)[0], `"`))
		switch name {
		case "hello", "auth", "client", "select", "ping":
			continue
		}
		cmds = append(cmds, name)
	}
	return rr, cmds
}

// TestReplicas: replay checks and rate limits hold across three replicas on
// one Redis, and a Redis that dies fails replay checks closed and nothing
// else, until it returns.
func TestReplicas(t *testing.T) {
	t.Parallel()
	r := startReplicas(t)

	// Before the other subtests: metered's bucket is full.
	t.Run("store round trips per exchange", func(t *testing.T) {
		mon := monitorStore(t, r.srv.Addr(), r.pw)
		x := r.xs[0]
		dk := testidp.NewDPoPKey(t, false)
		dpop := func() map[string]string {
			p := dk.Proof(t, http.MethodPost, r.issuer+"/token", time.Now(), nil, nil)
			x.secret(p)
			return map[string]string{"DPoP": p}
		}
		for _, tc := range []struct {
			name string
			send func() response
			want int
		}{
			{"client secret, no limits", func() response { return r.secretClient(t, x, orders) }, 0},
			{"client secret, client and subject limits", func() response { return r.secretClient(t, x, metered) }, 1},
			{"DPoP proof, no limits", func() response {
				return x.post(t, request{form: exchangeForm(r.subject("alice"), "audience", audInventory), header: dpop()}.as(orders))
			}, 1},
			{"DPoP proof, client and subject limits", func() response {
				return x.post(t, request{form: exchangeForm(r.subject("alice"), "audience", audInventory), header: dpop()}.as(metered))
			}, 1},
			{"private_key_jwt assertion, no limits", func() response { return r.signed(t, x, r.assertion(t)) }, 1},
		} {
			// The first exchange may load the Lua script (EVALSHA, then EVAL).
			// A store slower than TOKEX_REDIS_TIMEOUT on a loaded machine
			// answers 503, or lets a limit through unanswered (no round trip
			// seen): try again, a few times. An exchange that makes more
			// round trips than want makes them every time.
			var rr response
			var cmds []string
			for attempt := 0; attempt < 5 && (rr.Status != http.StatusOK || len(cmds) != tc.want); attempt++ {
				if w := tc.send(); w.Status != http.StatusOK {
					t.Logf("%s: warm-up answered %d %s", tc.name, w.Status, w.Body)
					continue
				}
				rr, cmds = mon.during(t, tc.send)
			}
			if rr.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", tc.name, rr.Status, rr.Body)
			}
			t.Logf("%s: %d round trips %q", tc.name, len(cmds), cmds)
			if len(cmds) != tc.want {
				t.Errorf("%s: %d store round trips per exchange, want %d: %q", tc.name, len(cmds), tc.want, cmds)
			}
		}
	})

	t.Run("one assertion sent to every replica is accepted exactly once", func(t *testing.T) {
		for round := range 5 {
			a := r.assertion(t)
			r.acceptedOnce(t, round, "assertion", func(x *instance) response { return r.signed(t, x, a) },
				func(rr response) bool { return rr.Status == http.StatusOK },
				http.StatusUnauthorized, api.ErrInvalidClient)
		}
	})

	t.Run("one DPoP proof sent to every replica is accepted exactly once", func(t *testing.T) {
		key := testidp.NewDPoPKey(t, false)
		for round := range 3 {
			proof := key.Proof(t, http.MethodPost, r.issuer+"/token", time.Now(), nil, nil)
			r.acceptedOnce(t, round, "DPoP proof", func(x *instance) response {
				x.secret(proof)
				return x.post(t, request{form: exchangeForm(r.subject("alice"), "audience", audInventory), header: map[string]string{"DPoP": proof}}.as(orders))
			}, func(rr response) bool { return rr.Status == http.StatusOK && rr.str("token_type") == "DPoP" },
				http.StatusBadRequest, api.ErrInvalidDPoPProof)
		}
	})

	t.Run("a limit of N/s across the replicas is N/s in total", func(t *testing.T) {
		var granted, limited atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		start := time.Now()
		for i := range 2 * len(r.xs) {
			untilClosed(&wg, stop, func() {
				rr := r.secretClient(t, r.xs[i%len(r.xs)], metered)
				switch rr.Status {
				case http.StatusOK:
					granted.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
				default:
					t.Errorf("status %d: %s", rr.Status, rr.Body)
				}
			})
		}
		time.Sleep(4 * time.Second)
		close(stop)
		wg.Wait()
		elapsed := time.Since(start).Seconds()
		want := meteredBurst + meteredRate*elapsed
		got := float64(granted.Load())
		t.Logf("%d granted, %d limited in %.2fs on %d replicas: %.1f/s (limit %d/s)", granted.Load(), limited.Load(), elapsed, len(r.xs), got/elapsed, meteredRate)
		if limited.Load() == 0 {
			t.Fatalf("no request was limited: the load did not exceed the limit")
		}
		if math.Abs(got-want) > 0.1*want {
			t.Errorf("%.0f granted, want %.0f ± 10%% (the limit holds for all replicas together)", got, want)
		}
	})

	t.Run("redis killed mid-load", func(t *testing.T) {
		type result struct {
			phase, kind string
			x           *instance
			r           response
		}
		var (
			mu      sync.Mutex
			results []result
			phase   atomic.Value
		)
		phase.Store("before")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, x := range r.xs {
			for _, kind := range []string{"private_key_jwt", "client_secret", "metered"} {
				untilClosed(&wg, stop, func() {
					p := phase.Load().(string)
					var rr response
					switch kind {
					case "private_key_jwt":
						rr = r.signed(t, x, r.assertion(t))
					case "client_secret":
						rr = r.secretClient(t, x, orders)
					default:
						rr = r.secretClient(t, x, metered)
					}
					if p2 := phase.Load().(string); p2 != p {
						p = "transition"
					}
					mu.Lock()
					results = append(results, result{phase: p, kind: kind, x: x, r: rr})
					mu.Unlock()
					time.Sleep(time.Duration(10+i) * time.Millisecond)
				})
			}
		}
		time.Sleep(time.Second)
		phase.Store("transition")
		r.srv.Stop()
		phase.Store("down")
		time.Sleep(2 * time.Second)
		ready := r.xs[0].get(t, "/readyz", nil)
		var health api.HealthResponse
		_ = json.Unmarshal(ready.Body, &health)
		if ready.Status != http.StatusOK || health.Checks["store"] != "unreachable" {
			t.Errorf("/readyz with redis down = %d %v; want 200 (clients that need no store are still served) and store: unreachable", ready.Status, health.Checks)
		}
		// Bad input is still answered 4xx: it fails before the store is asked.
		foreign := newECKey(t, "signer-1")
		wantError(t, r.signed(t, r.xs[1], foreign.assertion(t, "signer", r.issuer+"/token")), http.StatusUnauthorized, api.ErrInvalidClient, "signature")
		wantError(t, r.xs[2].post(t, request{form: exchangeForm("not-a-token", "audience", audInventory)}.as(metered)), http.StatusBadRequest, api.ErrInvalidRequest)
		// A DPoP proof cannot be checked for replay: refused, never accepted
		// unchecked; a malformed one is still 400.
		dk := testidp.NewDPoPKey(t, false)
		dpopReq := func(proof string) request {
			return request{form: exchangeForm(r.subject("alice"), "audience", audInventory), header: map[string]string{"DPoP": proof}}.as(orders)
		}
		down := r.xs[0].post(t, dpopReq(dk.Proof(t, http.MethodPost, r.issuer+"/token", time.Now(), nil, nil)))
		wantError(t, down, http.StatusServiceUnavailable, api.ErrTemporarilyUnavailable, "replay")
		if down.Header.Get("Retry-After") == "" {
			t.Error("a DPoP refusal for a store that is down has no Retry-After")
		}
		wantError(t, r.xs[0].post(t, dpopReq(dk.Proof(t, http.MethodGet, r.issuer+"/token", time.Now(), nil, nil))), http.StatusBadRequest, api.ErrInvalidDPoPProof, "htm")
		phase.Store("transition")
		restarted := time.Now()
		r.srv.Start()
		phase.Store("after")
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			recovered := 0
			for _, res := range results {
				if res.phase == "after" && res.kind == "private_key_jwt" && res.r.Status == http.StatusOK {
					recovered++
				}
			}
			mu.Unlock()
			if recovered >= len(r.xs) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		close(stop)
		wg.Wait()

		count := map[string]int{}
		for _, res := range results {
			count[res.phase+" "+res.kind+" "+strconv.Itoa(res.r.Status)]++
			if res.r.Status >= 500 && !(res.kind == "private_key_jwt" && res.r.Status == http.StatusServiceUnavailable) {
				t.Errorf("%s request during %s: %d %s", res.kind, res.phase, res.r.Status, res.r.Body)
			}
			if res.phase == "down" && res.kind == "private_key_jwt" {
				wantError(t, res.r, http.StatusServiceUnavailable, api.ErrTemporarilyUnavailable, "replay")
				if secs, err := strconv.Atoi(res.r.Header.Get("Retry-After")); err != nil || secs < 1 {
					t.Errorf("503 without a Retry-After in seconds: %q", res.r.Header.Get("Retry-After"))
				}
			}
			if res.phase == "down" && res.kind == "client_secret" && res.r.Status != http.StatusOK {
				t.Errorf("client_secret exchange with redis down: %d %s", res.r.Status, res.r.Body)
			}
		}
		t.Logf("outcomes by phase, kind, status: %v (recovered within %s)", count, time.Since(restarted).Truncate(time.Millisecond))
		for _, k := range []string{"down private_key_jwt 503", "down client_secret 200", "down metered 200", "after private_key_jwt 200"} {
			if count[k] == 0 {
				t.Errorf("no %q outcome", k)
			}
		}

		// The store's metrics and log lines say what happened.
		resp, err := http.Get("http://" + r.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`tokex_store_duration_seconds_count{tokex_store_operation="replay.use"}`,
			`tokex_store_duration_seconds_count{tokex_store_operation="ratelimit.take"}`,
			`tokex_store_errors_total{tokex_store_operation="replay.use"}`,
			`tokex_store_fail_open_total{tokex_store_operation="ratelimit.take"}`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if n := strings.Count(r.xs[0].stderr.String(), "connection pool"); n > 0 {
			t.Errorf("go-redis wrote %d unthrottled lines to stderr", n)
		}
		out := r.xs[0].stdout.String()
		for _, want := range []string{"shared store call failed", "check let through unchecked (fail open)"} {
			if n := strings.Count(out, want); n == 0 || n > 10 {
				t.Errorf("%d log lines %q in about 3s of failures; want some, rate-limited", n, want)
			}
		}

		// No lost audit event: every request has exactly one.
		time.Sleep(200 * time.Millisecond)
		for _, x := range r.xs {
			seen := map[string]int{}
			for _, ev := range auditEvents(x.stdout.String()) {
				if id, _ := ev["trace_id"].(string); id != "" {
					seen[id]++
				}
			}
			for _, res := range results {
				if res.x == x && seen[res.r.TraceID] != 1 {
					t.Errorf("%s request during %s (status %d) has %d audit events, want 1", res.kind, res.phase, res.r.Status, seen[res.r.TraceID])
				}
			}
		}
	})
}

// untilClosed runs fn over and over on a goroutine of wg until stop is closed.
func untilClosed(wg *sync.WaitGroup, stop <-chan struct{}, fn func()) {
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				fn()
			}
		}
	})
}
