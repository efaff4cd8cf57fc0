package reload_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/app"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/reload"
	"github.com/tokex/tokex/internal/testidp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const stsIssuer = "https://sts.test.example"

// fixture is a running App built from a policy file and a keys file in a
// temporary directory, as serve builds it.
type fixture struct {
	t          *testing.T
	dir        string
	policyFile string
	keysFile   string
	idp        *testidp.IdP
	app        *app.App
	reader     *sdkmetric.ManualReader
	logs       *testidp.SyncBuffer
	r          *reload.Reloader
}

func policyYAML(idp *testidp.IdP, keysFile string, audiences ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: %s\nkeys: %s\nissuers:\n  - name: corp\n    issuer_url: %s\n    jwks_uri: %s\n", stsIssuer, keysFile, idp.Issuer(), idp.JWKSURI())
	b.WriteString("clients:\n  - id: orders\n    secret_sha256: \"2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b\"\nrules:\n")
	for i, aud := range audiences {
		fmt.Fprintf(&b, "  - name: r%d\n    clients: [orders]\n    issuers: [corp]\n    audience: %s\n    scopes: [read]\n", i, aud)
	}
	return b.String()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), idp: testidp.New(t), logs: &testidp.SyncBuffer{}}
	f.policyFile = filepath.Join(f.dir, "policy.yaml")
	f.keysFile = filepath.Join(f.dir, "keys.json")
	f.copyKeys("../keys/testdata/keys.json")
	f.write(f.policyFile, policyYAML(f.idp, f.keysFile, "https://a.example"))
	pol, err := config.LoadPolicyFile(f.policyFile, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := policy.Compile(pol)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.LoadFile(f.keysFile)
	if err != nil {
		t.Fatal(err)
	}
	f.reader = sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	log := slog.New(slog.NewJSONHandler(f.logs, nil))
	f.app = app.New(app.Options{Policy: compiled, Keys: ks, Logger: log, MeterProvider: mp})
	t.Cleanup(f.app.Close)
	if !f.app.WaitReady(context.Background(), 5*time.Second) {
		t.Fatal("issuer keys not loaded")
	}
	f.r = reload.New(reload.Options{App: f.app, PolicyFile: f.policyFile, KeysFile: f.keysFile, Logger: log, Warm: 2 * time.Second})
	return f
}

func (f *fixture) write(path, content string) {
	f.t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) copyKeys(from string) {
	f.t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(f.keysFile, string(b))
}

// reloads returns the tokex.reloads count for what and result.
func (f *fixture) reloads(what, result string) int64 {
	f.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(context.Background(), &rm); err != nil {
		f.t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != app.MetricReloads {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if v, _ := dp.Attributes.Value("tokex.reload"); v != attribute.StringValue(what) {
					continue
				}
				if v, _ := dp.Attributes.Value("tokex.result"); v == attribute.StringValue(result) {
					return dp.Value
				}
			}
		}
	}
	return 0
}

func (f *fixture) hasRule(aud string) bool {
	_, err := f.app.Service.State().Policy.Lookup("orders", "corp", aud)
	return err == nil
}

func TestPolicyReload(t *testing.T) {
	f := newFixture(t)
	before := f.app.Service.State()

	// Unchanged: nothing happens.
	if !f.r.Check(context.Background(), false) || f.app.Service.State() != before {
		t.Fatal("an unchanged file was reloaded")
	}
	if n := f.reloads("policy", "ok") + f.reloads("policy", "error"); n != 0 {
		t.Fatalf("%d reloads counted for an unchanged file", n)
	}

	// A good change is swapped in.
	f.write(f.policyFile, policyYAML(f.idp, f.keysFile, "https://a.example", "https://b.example"))
	if !f.r.Check(context.Background(), false) {
		t.Fatalf("good policy refused; log:\n%s", f.logs)
	}
	if !f.hasRule("https://b.example") || f.app.Service.State() == before {
		t.Fatal("the new rule is not in force")
	}
	if got := f.reloads("policy", "ok"); got != 1 {
		t.Errorf("tokex.reloads{policy,ok} = %d, want 1", got)
	}
	if !strings.Contains(f.logs.String(), `"msg":"policy reloaded"`) {
		t.Errorf("no reload log line:\n%s", f.logs)
	}
}

func TestBadPolicyKeepsRunningOne(t *testing.T) {
	f := newFixture(t)
	good := policyYAML(f.idp, f.keysFile, "https://a.example")
	tests := []struct {
		name    string
		content string
		inLog   string // part of the logged error
	}{
		{"YAML syntax error", good + "rules: [\n", "policy.yaml"},
		{"unknown key", strings.Replace(good, "scopes:", "scopez:", 1), "scopez"},
		{"bad CEL", good + "    require: 'claims.tid =='\n", "rules[0].require"},
		{"empty file", "", "policy.yaml"},
		{"issuer changed", strings.Replace(good, stsIssuer, "https://other.example", 1), "restart tokex"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.app.Service.State()
			f.logs.Reset()
			f.write(f.policyFile, tc.content)
			if f.r.Check(context.Background(), false) {
				t.Fatal("a bad policy was accepted")
			}
			if f.app.Service.State() != before || !f.hasRule("https://a.example") {
				t.Fatal("the running policy was replaced")
			}
			if got := f.reloads("policy", "error"); got != int64(i+1) {
				t.Errorf("tokex.reloads{policy,error} = %d, want %d", got, i+1)
			}
			if !strings.Contains(f.logs.String(), "policy reload failed") || !strings.Contains(f.logs.String(), tc.inLog) {
				t.Errorf("log does not say the reload failed and why (%q):\n%s", tc.inLog, f.logs)
			}
		})
	}
	// And a good file afterwards is taken.
	f.write(f.policyFile, policyYAML(f.idp, f.keysFile, "https://c.example"))
	if !f.r.Check(context.Background(), false) || !f.hasRule("https://c.example") {
		t.Fatalf("good policy after bad ones refused:\n%s", f.logs)
	}
}

func TestPolicyReloadWaitsForIssuerKeys(t *testing.T) {
	f := newFixture(t)
	before := f.app.Service.State()
	f.idp.SetJWKSMode(testidp.Fail) // the IdP is down: a new registry could not load corp's keys
	f.write(f.policyFile, policyYAML(f.idp, f.keysFile, "https://a.example", "https://b.example"))
	if f.r.Check(context.Background(), false) {
		t.Fatal("a policy whose issuers cannot load their keys replaced one whose issuers can")
	}
	if f.app.Service.State() != before {
		t.Fatal("the running policy was replaced")
	}
	if !strings.Contains(f.logs.String(), "could not be fetched") {
		t.Errorf("log does not say why:\n%s", f.logs)
	}
	// SIGHUP after the IdP is back retries the same file.
	f.idp.SetJWKSMode(testidp.Serve)
	if !f.r.Check(context.Background(), true) || !f.hasRule("https://b.example") {
		t.Fatalf("forced reload refused:\n%s", f.logs)
	}
}

func TestKeysReload(t *testing.T) {
	f := newFixture(t)
	orig := f.app.Keys.Load()
	publicOnly := string(orig.JWKS())
	tests := []struct {
		name, content, inLog string
	}{
		{"corrupt JSON", `{"keys": [`, "keys.json"},
		{"empty file", "", "keys.json"},
		{"public keys only (private part missing)", publicOnly, "keys.json"},
		{"no keys", `{"keys": []}`, "keys.json"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.logs.Reset()
			f.write(f.keysFile, tc.content)
			if f.r.Check(context.Background(), false) {
				t.Fatal("a bad keys file was accepted")
			}
			if f.app.Keys.Load() != orig {
				t.Fatal("the running key set was replaced")
			}
			if got := f.reloads("keys", "error"); got != int64(i+1) {
				t.Errorf("tokex.reloads{keys,error} = %d, want %d", got, i+1)
			}
			if !strings.Contains(f.logs.String(), "keys reload failed") || !strings.Contains(f.logs.String(), tc.inLog) {
				t.Errorf("log does not say the reload failed (%q):\n%s", tc.inLog, f.logs)
			}
		})
	}
	// A new good key set is swapped in.
	ks, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ks.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	f.write(f.keysFile, string(b))
	if !f.r.Check(context.Background(), false) {
		t.Fatalf("good keys refused:\n%s", f.logs)
	}
	if got := f.app.Keys.Load().Active().KID; got != ks.Active().KID {
		t.Errorf("active kid %q, want %q", got, ks.Active().KID)
	}
	if got := f.reloads("keys", "ok"); got != 1 {
		t.Errorf("tokex.reloads{keys,ok} = %d, want 1", got)
	}
}

func TestMissingFileLoggedOnce(t *testing.T) {
	f := newFixture(t)
	if err := os.Remove(f.policyFile); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if f.r.Check(context.Background(), false) {
			t.Fatal("a missing policy file reported as fine")
		}
	}
	if n := strings.Count(f.logs.String(), "cannot read policy file"); n != 1 {
		t.Errorf("missing file logged %d times, want once:\n%s", n, f.logs)
	}
	if !f.hasRule("https://a.example") {
		t.Error("the running policy was dropped")
	}
}

func TestRunReloadsOnTriggerAndStops(t *testing.T) {
	f := newFixture(t)
	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.r.Run(ctx, hup) }() // Interval 0: only the trigger
	f.write(f.policyFile, policyYAML(f.idp, f.keysFile, "https://a.example", "https://b.example"))
	hup <- syscall.SIGHUP
	deadline := time.Now().Add(5 * time.Second)
	for !f.hasRule("https://b.example") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !f.hasRule("https://b.example") {
		t.Error("SIGHUP did not reload the policy")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
