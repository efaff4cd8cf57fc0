package issuer_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/testidp"
)

// TestTemplateRouting: a {tenantid} template accepts exactly the listed
// tenants, each only with its own tid; the value is matched literally, so
// '/', '..', wildcards, encodings and empty values never select a tenant.
func TestTemplateRouting(t *testing.T) {
	idp := testidp.New(t)
	anyIdP := testidp.New(t)
	listed := idp.URL() + "/{tenantid}/v2.0"
	reg := newRegistry(t, issuer.Options{},
		trusted("listed", idp, func(is *config.Issuer) { is.IssuerURL, is.Tenants = listed, []string{"t1", "t2"} }),
		trusted("any", anyIdP, func(is *config.Issuer) { is.IssuerURL, is.Tenants = anyIdP.URL()+"/{tenantid}/v2.0", []string{"*"} }),
		// An exact issuer under the same host is routed exactly, not as a tenant.
		trusted("exact", idp, func(is *config.Issuer) { is.IssuerURL = idp.URL() + "/exact/v2.0" }),
	)
	waitReady(t, reg)

	tests := []struct {
		name       string
		idp        *testidp.IdP
		iss, tid   any
		want       issuer.Reason
		wantIssuer string
	}{
		{name: "listed tenant t1", idp: idp, iss: idp.URL() + "/t1/v2.0", tid: "t1", wantIssuer: "listed"},
		{name: "listed tenant t2", idp: idp, iss: idp.URL() + "/t2/v2.0", tid: "t2", wantIssuer: "listed"},
		{name: "exact issuer beside a template", idp: idp, iss: idp.URL() + "/exact/v2.0", wantIssuer: "exact"},
		{name: "unlisted tenant", idp: idp, iss: idp.URL() + "/t3/v2.0", tid: "t3", want: issuer.ReasonUntrustedIssuer},
		{name: "another tenant's tid", idp: idp, iss: idp.URL() + "/t1/v2.0", tid: "t2", want: issuer.ReasonTenant},
		{name: "tid missing", idp: idp, iss: idp.URL() + "/t1/v2.0", want: issuer.ReasonTenant},
		{name: "tid not a string", idp: idp, iss: idp.URL() + "/t1/v2.0", tid: 1, want: issuer.ReasonTenant},
		{name: "tid differs in case", idp: idp, iss: idp.URL() + "/t1/v2.0", tid: "T1", want: issuer.ReasonTenant},
		{name: "slash smuggled into the value", idp: idp, iss: idp.URL() + "/t1/x/v2.0", tid: "t1/x", want: issuer.ReasonUntrustedIssuer},
		{name: "dot-dot as the value", idp: idp, iss: idp.URL() + "/../v2.0", tid: "..", want: issuer.ReasonUntrustedIssuer},
		{name: "empty value", idp: idp, iss: idp.URL() + "//v2.0", tid: "", want: issuer.ReasonUntrustedIssuer},
		{name: "wildcard as the value", idp: idp, iss: idp.URL() + "/*/v2.0", tid: "*", want: issuer.ReasonUntrustedIssuer},
		{name: "percent-encoded slash", idp: idp, iss: idp.URL() + "/t1%2Fx/v2.0", tid: "t1%2Fx", want: issuer.ReasonUntrustedIssuer},
		{name: "trailing slash after the suffix", idp: idp, iss: idp.URL() + "/t1/v2.0/", tid: "t1", want: issuer.ReasonUntrustedIssuer},
		{name: "suffix missing", idp: idp, iss: idp.URL() + "/t1", tid: "t1", want: issuer.ReasonUntrustedIssuer},
		{name: "prefix only", idp: idp, iss: idp.URL() + "/", want: issuer.ReasonUntrustedIssuer},
		{name: "listed tenant's value in the any-template's tid", idp: anyIdP, iss: anyIdP.URL() + "/contoso/v2.0", tid: "t1", want: issuer.ReasonTenant},
		{name: "any tenant", idp: anyIdP, iss: anyIdP.URL() + "/contoso/v2.0", tid: "contoso", wantIssuer: "any"},
		{name: "any tenant: dot-dot", idp: anyIdP, iss: anyIdP.URL() + "/../v2.0", tid: "..", want: issuer.ReasonUntrustedIssuer},
		{name: "any tenant: wildcard", idp: anyIdP, iss: anyIdP.URL() + "/*/v2.0", tid: "*", want: issuer.ReasonUntrustedIssuer},
		{name: "any tenant: overlong value", idp: anyIdP, iss: anyIdP.URL() + "/" + strings.Repeat("a", 65) + "/v2.0", tid: strings.Repeat("a", 65), want: issuer.ReasonUntrustedIssuer},
		{name: "any tenant's token signed by the listed IdP's key", idp: idp, iss: anyIdP.URL() + "/contoso/v2.0", tid: "contoso", want: issuer.ReasonUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.idp.Claims("alice", stsAudience)
			c["iss"] = tt.iss
			if tt.tid != nil {
				c["tid"] = tt.tid
			}
			raw := tt.idp.Sign(c)
			p, err := reg.Verify(context.Background(), raw, config.TokenTypeAccessToken)
			checkNoLeak(t, raw, err)
			if got := reasonOf(t, err); got != tt.want {
				t.Fatalf("reason = %q, want %q (err: %v)", got, tt.want, err)
			}
			if err == nil && p.Issuer != tt.wantIssuer {
				t.Errorf("issuer = %q, want %q", p.Issuer, tt.wantIssuer)
			}
		})
	}
}

// tenantJWKS serves /<tenant>/jwks from a different IdP per tenant: an IdP
// whose tenants have keys of their own.
func tenantJWKS(t *testing.T, idps map[string]*testidp.IdP) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	hits := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		idp, ok := idps[tenant]
		if !ok || rest != "jwks" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		hits[tenant]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(idp.JWKS())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestTemplatePerTenantKeys: with {tenantid} in jwks_uri each tenant has its
// own key set, so one tenant's key never verifies another tenant's token; a
// tenants: ["*"] template keeps at most MaxTenants key sets.
func TestTemplatePerTenantKeys(t *testing.T) {
	t1, t2, t3 := testidp.New(t), testidp.New(t), testidp.New(t)
	srv := tenantJWKS(t, map[string]*testidp.IdP{"t1": t1, "t2": t2, "t3": t3})
	cfg := func(name string, tenants ...string) config.Issuer {
		return trusted(name, t1, func(is *config.Issuer) {
			is.IssuerURL = srv.URL + "/" + name + "/{tenantid}"
			is.JWKSURI = srv.URL + "/{tenantid}/jwks"
			is.Tenants = tenants
		})
	}
	reg := newRegistry(t, issuer.Options{MaxTenants: 2}, cfg("listed", "t1", "t2"), cfg("any", "*"))
	waitLoaded(t, reg, "listed[t1]", "listed[t2]")

	sign := func(signer *testidp.IdP, tmpl, tenant string) string {
		c := signer.Claims("alice", stsAudience)
		c["iss"], c["tid"] = srv.URL+"/"+tmpl+"/"+tenant, tenant
		return signer.Sign(c)
	}
	for _, tmpl := range []string{"listed", "any"} {
		t.Run(tmpl, func(t *testing.T) {
			if got := verifyReason(t, reg, sign(t1, tmpl, "t1")); got != "" {
				t.Errorf("t1's token with t1's key: %q", got)
			}
			if got := verifyReason(t, reg, sign(t2, tmpl, "t2")); got != "" {
				t.Errorf("t2's token with t2's key: %q", got)
			}
			if got := verifyReason(t, reg, sign(t1, tmpl, "t2")); got != issuer.ReasonUnknownKey {
				t.Errorf("t2's token signed with t1's key: reason %q, want %q", got, issuer.ReasonUnknownKey)
			}
		})
	}
	// A third tenant pushes the least recently used out; it is loaded again on demand.
	if got := verifyReason(t, reg, sign(t3, "any", "t3")); got != "" {
		t.Errorf("t3: %q", got)
	}
	if st := reg.Status()["any"]; !strings.Contains(st, "2 tenants") {
		t.Errorf("status of the any-template = %q, want 2 tenants held", st)
	}
	if got := verifyReason(t, reg, sign(t1, "any", "t1")); got != "" {
		t.Errorf("t1 after eviction: %q", got)
	}
}

// TestIdPTraps: the refusals name the trap, not just the failed check.
func TestIdPTraps(t *testing.T) {
	idp := testidp.New(t)
	const api = "api://inventory"
	entra := "https://login.microsoftonline.com/{tenantid}/v2.0"
	reg := newRegistry(t, issuer.Options{},
		trusted("entra", idp, func(is *config.Issuer) {
			is.IssuerURL, is.Tenants, is.Audiences = entra, []string{testidp.EntraTenant}, []string{api}
		}),
		trusted("cognito", idp, func(is *config.Issuer) {
			is.IssuerURL = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example"
			is.Audiences, is.AudienceClaim = []string{"app-client"}, "client_id"
		}),
	)
	waitReady(t, reg)
	tests := []struct {
		name     string
		raw      func() string
		want     issuer.Reason
		wantDesc []string
	}{
		{name: "Entra v2 access token", raw: func() string { return idp.Sign(idp.EntraV2Access(testidp.EntraTenant, api)) }},
		{name: "Graph token with a nonce header (signature cannot verify)", raw: func() string {
			return idp.Sign(idp.EntraGraphAccess(testidp.EntraTenant), testidp.Header("nonce", "AbCdEf"), testidp.Foreign(), testidp.KID(idp.KID(testidp.RS256)))
		}, want: issuer.ReasonAudience, wantDesc: []string{"this token was issued for https://graph.microsoft.com; request a token for " + api + " instead"}},
		{name: "Graph token by its URL audience", raw: func() string {
			c := idp.EntraGraphAccess(testidp.EntraTenant)
			c["aud"] = "https://graph.microsoft.com"
			return idp.Sign(c)
		}, want: issuer.ReasonAudience, wantDesc: []string{"issued for https://graph.microsoft.com", api}},
		{name: "Entra v1 token where v2 is configured", raw: func() string { return idp.Sign(idp.EntraV1Access(testidp.EntraTenant, api)) },
			want: issuer.ReasonUntrustedIssuer, wantDesc: []string{"v1.0", "accessTokenAcceptedVersion", "entra"}},
		{name: "Cognito access token", raw: func() string { return idp.Sign(idp.CognitoAccess("eu-west-1", "eu-west-1_Example", "app-client")) }},
		{name: "Cognito access token of another app client", raw: func() string {
			return idp.Sign(idp.CognitoAccess("eu-west-1", "eu-west-1_Example", "other-client"))
		}, want: issuer.ReasonAudience, wantDesc: []string{"other-client"}},
		{name: "Cognito ID token", raw: func() string { return idp.Sign(idp.CognitoID("eu-west-1", "eu-west-1_Example", "app-client")) },
			want: issuer.ReasonIDToken, wantDesc: []string{"this is an ID token", "send the access token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw()
			_, err := reg.Verify(context.Background(), raw, config.TokenTypeAccessToken)
			checkNoLeak(t, raw, err)
			if got := reasonOf(t, err); got != tt.want {
				t.Fatalf("reason = %q, want %q (err: %v)", got, tt.want, err)
			}
			for _, d := range tt.wantDesc {
				if desc := err.(*issuer.Error).Description; !strings.Contains(desc, d) {
					t.Errorf("description %q does not say %q", desc, d)
				}
			}
		})
	}
}

// TestSubjectExpression: subject takes the subject from a claim (Entra's oid:
// sub is pairwise per app) and subject_prefix keeps issuers apart.
func TestSubjectExpression(t *testing.T) {
	idp := testidp.New(t)
	reg := newRegistry(t, issuer.Options{}, trusted("entra", idp, func(is *config.Issuer) {
		is.IssuerURL, is.Tenants = "https://login.microsoftonline.com/{tenantid}/v2.0", []string{"*"}
		is.Audiences, is.Subject, is.SubjectPrefix = []string{"api"}, "claims.oid", "entra:"
	}))
	waitReady(t, reg)
	c := idp.EntraV2Access(testidp.EntraTenant, "api")
	p, err := reg.Verify(context.Background(), idp.Sign(c), config.TokenTypeAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if want := "entra:" + c["oid"].(string); p.Subject != want {
		t.Errorf("subject = %q, want %q", p.Subject, want)
	}
	delete(c, "oid")
	if got := verifyReason(t, reg, idp.Sign(c)); got != issuer.ReasonMissingClaim {
		t.Errorf("no oid: reason %q, want %q", got, issuer.ReasonMissingClaim)
	}
}

// TestJWKSFile: keys from a local file (a private Kubernetes cluster) verify
// without any request to the IdP.
func TestJWKSFile(t *testing.T) {
	idp := testidp.New(t)
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, idp.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, issuer.Options{}, trusted("k8s", idp, func(is *config.Issuer) { is.JWKSURI, is.JWKSFile = "", file }))
	waitReady(t, reg)
	before := idp.JWKSFetches()
	if got := verifyReason(t, reg, idp.Sign(idp.Claims("system:serviceaccount:ns:sa", stsAudience))); got != "" {
		t.Errorf("reason = %q", got)
	}
	if got := verifyReason(t, reg, idp.Sign(idp.Claims("x", stsAudience), testidp.Foreign())); got != issuer.ReasonUnknownKey {
		t.Errorf("foreign key: reason = %q", got)
	}
	if idp.JWKSFetches() != before {
		t.Errorf("jwks_file caused a JWKS fetch")
	}
}

// TestCAFile: an IdP with a private CA is reachable only with its ca_file.
func TestCAFile(t *testing.T) {
	idp := testidp.New(t, testidp.WithTLS())
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, idp.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	withCA := newRegistry(t, issuer.Options{}, trusted("a", idp, func(is *config.Issuer) { is.CAFile = ca }))
	without := newRegistry(t, issuer.Options{HTTPTimeout: time.Second}, trusted("a", idp))
	waitReady(t, withCA)
	raw := idp.Sign(idp.Claims("alice", stsAudience))
	if got := verifyReason(t, withCA, raw); got != "" {
		t.Errorf("with ca_file: reason %q", got)
	}
	if got := verifyReason(t, without, raw); got != issuer.ReasonKeysUnavailable {
		t.Errorf("without ca_file: reason %q, want %q", got, issuer.ReasonKeysUnavailable)
	}
}

// TestCacheControlRefresh: the JWKS is refreshed after the IdP's max-age,
// bounded below by MinRefreshInterval and above by MaxRefreshInterval; with
// no max-age, after RefreshInterval.
func TestCacheControlRefresh(t *testing.T) {
	tests := []struct {
		name         string
		cacheControl string
		opts         issuer.Options
		refreshes    bool
	}{
		{name: "max-age below the minimum is raised to it", cacheControl: "public, max-age=0", opts: issuer.Options{MinRefreshInterval: 20 * time.Millisecond, RefreshInterval: time.Hour}, refreshes: true},
		{name: "max-age above the maximum is lowered to it", cacheControl: "max-age=86400", opts: issuer.Options{MinRefreshInterval: time.Millisecond, MaxRefreshInterval: 20 * time.Millisecond, RefreshInterval: time.Hour}, refreshes: true},
		{name: "max-age within the bounds is followed", cacheControl: "max-age=3600", opts: issuer.Options{MinRefreshInterval: 20 * time.Millisecond, RefreshInterval: 20 * time.Millisecond}},
		{name: "no max-age: RefreshInterval", opts: issuer.Options{MinRefreshInterval: 20 * time.Millisecond, RefreshInterval: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := testidp.New(t)
			idp.SetJWKSCacheControl(tt.cacheControl)
			reg := newRegistry(t, tt.opts, trusted("a", idp))
			waitReady(t, reg)
			if tt.refreshes {
				waitFetches(t, idp, 4)
				return
			}
			time.Sleep(200 * time.Millisecond)
			if n := idp.JWKSFetches(); n != 1 {
				t.Errorf("JWKS fetched %d times, want 1", n)
			}
		})
	}
}

// TestRefreshFailures: while the IdP is down, every failed refresh is logged
// and counted, and the last good keys keep verifying.
func TestRefreshFailures(t *testing.T) {
	idp := testidp.New(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	logs := &recordingHandler{}
	reg := newRegistry(t, issuer.Options{RefreshInterval: 10 * time.Millisecond, MinRefreshInterval: 10 * time.Millisecond, Logger: slog.New(logs), Meter: mp.Meter("test")},
		trusted("a", idp))
	waitReady(t, reg)
	idp.SetJWKSMode(testidp.Fail)
	deadline := time.Now().Add(5 * time.Second)
	for logs.count("upstream JWKS refresh failed; keeping the last good keys") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("refresh failures logged: %d", logs.count("upstream JWKS refresh failed; keeping the last good keys"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := verifyReason(t, reg, idp.Sign(idp.Claims("alice", stsAudience))); got != "" {
		t.Errorf("last good keys while the IdP is down: reason %q", got)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var ok, failed int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != issuer.MetricUpstreamFetches {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if r, _ := dp.Attributes.Value("tokex.result"); r.AsString() == "ok" {
					ok += dp.Value
				} else {
					failed += dp.Value
				}
			}
		}
	}
	if ok < 1 || failed < 3 {
		t.Errorf("%s: ok=%d error=%d; want the first fetch ok and every failed refresh counted", issuer.MetricUpstreamFetches, ok, failed)
	}
}

type recordingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if m == msg {
			n++
		}
	}
	return n
}
