package issuer_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/testidp"
)

type httpGetter struct{}

func (httpGetter) get(u string) ([]byte, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", u, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

func verifyReason(t *testing.T, reg *issuer.Registry, raw string) issuer.Reason {
	t.Helper()
	_, err := reg.Verify(context.Background(), raw, config.TokenTypeAccessToken)
	checkNoLeak(t, raw, err)
	return reasonOf(t, err)
}

// TestDiscovery: keys found through OIDC discovery, the RFC 8414 fallback, an
// issuer with a path or a trailing slash; a discovery document naming another
// issuer is refused (OIDC Discovery §4.3, RFC 8414 §3.3) and its jwks_uri is
// never fetched.
func TestDiscovery(t *testing.T) {
	tests := []struct {
		name string
		opts []testidp.Option
		want issuer.Reason
	}{
		{name: "OIDC discovery"},
		{name: "issuer with a path", opts: []testidp.Option{testidp.WithIssuerPath("tenant1")}},
		{name: "RFC 8414 fallback for an issuer with a path", opts: []testidp.Option{testidp.WithIssuerPath("tenant1"), testidp.WithoutOIDCDiscovery()}},
		{name: "RFC 8414 fallback", opts: []testidp.Option{testidp.WithoutOIDCDiscovery()}},
		{name: "issuer with a trailing slash", opts: []testidp.Option{testidp.WithTrailingSlash()}},
		{name: "discovery names another issuer", opts: []testidp.Option{testidp.WithDiscoveryIssuer("https://evil.example.com")}, want: issuer.ReasonKeysUnavailable},
		{name: "discovery names the issuer with a trailing slash", opts: []testidp.Option{testidp.WithDiscoveryIssuer("")}, want: issuer.ReasonKeysUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := testidp.New(t, tt.opts...)
			if tt.name == "discovery names the issuer with a trailing slash" {
				idp.SetDiscoveryIssuer(idp.Issuer() + "/")
			}
			reg := newRegistry(t, issuer.Options{HTTPTimeout: 2 * time.Second}, trusted("d", idp, discovered))
			if tt.want == "" {
				waitReady(t, reg)
			}
			if got := verifyReason(t, reg, idp.Sign(idp.Claims("alice", stsAudience))); got != tt.want {
				t.Fatalf("reason = %q, want %q", got, tt.want)
			}
			if tt.want != "" && idp.JWKSFetches() != 0 {
				t.Errorf("the jwks_uri of a refused discovery document was fetched %d times", idp.JWKSFetches())
			}
		})
	}
}

// TestUpstreamFailures: an issuer whose keys cannot be had is answered
// keys_unavailable (503 upstream of here), never verified, never a hang.
func TestUpstreamFailures(t *testing.T) {
	tests := []struct {
		name       string
		jwks, disc testidp.Mode
		discover   bool
	}{
		{name: "JWKS 500", jwks: testidp.Fail},
		{name: "JWKS hangs", jwks: testidp.Hang},
		{name: "JWKS larger than 1 MiB", jwks: testidp.Oversized},
		{name: "JWKS redirect is not followed", jwks: testidp.Redirect},
		{name: "discovery 500", disc: testidp.Fail, discover: true},
		{name: "discovery hangs", disc: testidp.Hang, discover: true},
		{name: "discovery larger than 1 MiB", disc: testidp.Oversized, discover: true},
		{name: "discovery redirect is not followed", disc: testidp.Redirect, discover: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := testidp.New(t, testidp.WithJWKSMode(tt.jwks))
			idp.SetDiscoveryMode(tt.disc)
			is := trusted("up", idp)
			if tt.discover {
				discovered(&is)
			}
			reg := newRegistry(t, issuer.Options{HTTPTimeout: 300 * time.Millisecond}, is)
			for range 3 {
				if got := verifyReason(t, reg, idp.Sign(idp.Claims("alice", stsAudience))); got != issuer.ReasonKeysUnavailable {
					t.Fatalf("reason = %q, want %q", got, issuer.ReasonKeysUnavailable)
				}
			}
			if st := reg.Status()["up"]; st == "ok" {
				t.Errorf("Status = %q for an issuer whose keys failed to load", st)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if reg.WaitReady(ctx) {
				t.Errorf("WaitReady reported ready")
			}
		})
	}
}

// TestIdPDownAtStartRecovers: tokex starts while the IdP is down; Verify says
// keys_unavailable; the background warm loop retries, and once the IdP is back
// tokens verify without any request having to load them.
func TestIdPDownAtStartRecovers(t *testing.T) {
	clk := newClock()
	idp := testidp.New(t, testidp.WithClock(clk.Now), testidp.WithJWKSMode(testidp.Fail))
	reg := newRegistry(t, issuer.Options{Now: clk.Now}, trusted("a", idp))
	tok := idp.Sign(idp.Claims("alice", stsAudience))
	if got := verifyReason(t, reg, tok); got != issuer.ReasonKeysUnavailable {
		t.Fatalf("IdP down: reason = %q, want %q", got, issuer.ReasonKeysUnavailable)
	}
	if st := reg.Status()["a"]; st != "keys not loaded" {
		t.Errorf("Status = %q", st)
	}
	idp.SetJWKSMode(testidp.Serve)
	waitReady(t, reg) // only the warm loop loads keys here: no Verify runs meanwhile
	if got := verifyReason(t, reg, tok); got != "" {
		t.Fatalf("IdP back: reason = %q", got)
	}
	if st := reg.Status()["a"]; st != "ok" {
		t.Errorf("Status = %q", st)
	}
}

// TestRequestPathLoadsKeys: while the warm loop backs off, a request may load
// the keys itself, but at most once per second of the registry's clock.
func TestRequestPathLoadsKeys(t *testing.T) {
	clk := newClock()
	idp := testidp.New(t, testidp.WithClock(clk.Now), testidp.WithJWKSMode(testidp.Fail))
	reg := newRegistry(t, issuer.Options{Now: clk.Now}, trusted("a", idp))
	tok := idp.Sign(idp.Claims("alice", stsAudience))
	waitFetches(t, idp, 1) // the warm loop's first attempt failed
	time.Sleep(50 * time.Millisecond)
	before := idp.JWKSFetches()
	for range 5 {
		if got := verifyReason(t, reg, tok); got != issuer.ReasonKeysUnavailable {
			t.Fatalf("reason = %q", got)
		}
	}
	// At most one attempt for five requests at the same instant (the warm loop
	// may add one of its own).
	if got := idp.JWKSFetches() - before; got > 2 {
		t.Errorf("5 requests against a down IdP caused %d fetches", got)
	}
}

func waitFetches(t *testing.T, idp *testidp.IdP, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for idp.JWKSFetches() < n {
		if time.Now().After(deadline) {
			t.Fatalf("JWKS fetched %d times, want %d", idp.JWKSFetches(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCachedKeysWhileIdPDown: keys already loaded keep verifying when the IdP
// goes down; an unknown kid is then keys_unavailable (the refetch failed), not
// unknown_key_id.
func TestCachedKeysWhileIdPDown(t *testing.T) {
	idp := testidp.New(t)
	reg := newRegistry(t, issuer.Options{}, trusted("a", idp))
	waitReady(t, reg)
	idp.SetJWKSMode(testidp.Fail)
	if got := verifyReason(t, reg, idp.Sign(idp.Claims("alice", stsAudience))); got != "" {
		t.Fatalf("known kid with the IdP down: reason = %q", got)
	}
	if got := verifyReason(t, reg, idp.Sign(idp.Claims("alice", stsAudience), testidp.Foreign())); got != issuer.ReasonKeysUnavailable {
		t.Errorf("unknown kid with the IdP down: reason = %q, want %q", got, issuer.ReasonKeysUnavailable)
	}
	if st := reg.Status()["a"]; !strings.Contains(st, "failed") {
		t.Errorf("Status = %q", st)
	}
}

// TestFailedLoadsLeaveNoRefreshGoroutines: each failed attempt to load an
// issuer's keys must not leave a JWKS refresh goroutine behind, or an IdP that
// is down for a day piles up tens of thousands of them.
func TestFailedLoadsLeaveNoRefreshGoroutines(t *testing.T) {
	clk := newClock()
	idp := testidp.New(t, testidp.WithClock(clk.Now), testidp.WithJWKSMode(testidp.Fail))
	reg := newRegistry(t, issuer.Options{Now: clk.Now}, trusted("a", idp))
	tok := idp.Sign(idp.Claims("alice", stsAudience))
	waitFetches(t, idp, 1) // the warm loop's first attempt; it then backs off for a second
	time.Sleep(20 * time.Millisecond)
	for range 5 {
		clk.Add(2 * time.Second) // past the request path's retry spacing
		if got := verifyReason(t, reg, tok); got != issuer.ReasonKeysUnavailable {
			t.Fatalf("reason = %q", got)
		}
	}
	if n := idp.JWKSFetches(); n < 3 {
		t.Fatalf("only %d load attempts; the test needs several", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := refreshGoroutines()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d JWKS refresh goroutines alive after %d failed loads", n, idp.JWKSFetches())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// refreshGoroutines counts the JWKS refresh goroutines of the registry.
func refreshGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("created by github.com/tokex/tokex/internal/issuer.(*verifier).loadKeysLocked"))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestCloseLeavesNoGoroutines: Close stops the warm loops, the refresh
// goroutines and the keep-alive connections to the IdPs, even while IdPs are
// down or hanging.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	up := testidp.New(t)
	failing := testidp.New(t, testidp.WithJWKSMode(testidp.Fail))
	hanging := testidp.New(t, testidp.WithJWKSMode(testidp.Hang))
	disc := testidp.New(t)
	ignore := goleak.IgnoreCurrent()

	reg := issuer.NewRegistry([]config.Issuer{
		trusted("up", up), trusted("failing", failing), trusted("hanging", hanging), trusted("disc", disc, discovered),
	}, issuer.Options{HTTPTimeout: 300 * time.Millisecond, RefreshInterval: 10 * time.Millisecond})
	waitLoaded(t, reg, "up", "disc")
	var wg sync.WaitGroup
	for _, idp := range []*testidp.IdP{up, failing, hanging, disc} {
		wg.Go(func() {
			_, _ = reg.Verify(context.Background(), idp.Sign(idp.Claims("alice", stsAudience)), "access_token")
		})
	}
	wg.Wait()
	time.Sleep(30 * time.Millisecond) // let a refresh or two run
	reg.Close()
	goleak.VerifyNone(t, ignore)
}

// TestConcurrentVerify exercises the registry from many goroutines while keys
// load, for the race detector.
func TestConcurrentVerify(t *testing.T) {
	a, b := testidp.New(t), testidp.New(t)
	reg := newRegistry(t, issuer.Options{UnknownKIDInterval: time.Millisecond}, trusted("a", a), trusted("b", b, discovered))
	toks := []string{
		a.Sign(a.Claims("alice", stsAudience)),
		b.Sign(b.Claims("bob", stsAudience), testidp.Alg(testidp.ES256)),
		a.Sign(a.Claims("eve", stsAudience), testidp.SignedBy(b)),
		a.Sign(a.Claims("eve", stsAudience), testidp.Foreign()),
		"garbage",
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				raw := toks[(i+j)%len(toks)]
				p, err := reg.Verify(context.Background(), raw, "access_token")
				if err == nil {
					if _, err := p.Claims(); err != nil {
						t.Errorf("Claims: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	waitReady(t, reg)
	for i, raw := range toks {
		_, err := reg.Verify(context.Background(), raw, "access_token")
		if (err == nil) != (i < 2) {
			t.Errorf("token %d: err = %v", i, err)
		}
	}
}
