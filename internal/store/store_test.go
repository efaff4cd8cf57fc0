package store_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tokex/tokex/internal/redistest"
	"github.com/tokex/tokex/internal/store"
	"github.com/tokex/tokex/internal/testclock"
)

const password = "s3cret-Redis-pw-0123456789"

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name string
		o    store.Options
		want string
	}{
		{name: "scheme", o: store.Options{URL: "http://u:" + password + "@redis:6379"}, want: "redis:// or rediss://"},
		{name: "mode", o: store.Options{URL: "redis://redis:6379", Mode: "ring"}, want: "single, sentinel or cluster"},
		{name: "sentinel without master", o: store.Options{URL: "redis://u:" + password + "@s1:26379", Mode: store.ModeSentinel}, want: "master_name"},
		{name: "unknown parameter", o: store.Options{URL: "redis://u:" + password + "@redis:6379?colour=blue"}, want: "colour"},
		{name: "password file", o: store.Options{URL: "redis://redis:6379", PasswordFile: "/nonexistent/pw"}, want: "TOKEX_REDIS_PASSWORD_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := store.Open(tc.o)
			if err == nil {
				_ = c.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), password) {
				t.Errorf("error %q: want it to name %q and never hold the password", err, tc.want)
			}
		})
	}
	for _, mode := range []string{store.ModeSentinel, store.ModeCluster} {
		u := "rediss://u:" + password + "@h1:6379?addr=h2:6379"
		if mode == store.ModeSentinel {
			u += "&master_name=m"
		}
		c, err := store.Open(store.Options{URL: u, Mode: mode})
		if err != nil {
			t.Errorf("%s: %v", mode, err)
			continue
		}
		if strings.Contains(c.Redacted(), password) {
			t.Errorf("Redacted() = %q", c.Redacted())
		}
		_ = c.Close()
	}
}

// TestPasswordFile: the password from TOKEX_REDIS_PASSWORD_FILE authenticates;
// a wrong one fails without the password in the error or the log.
func TestPasswordFile(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", password)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, pw string
		ok       bool
	}{{"right", password + "\n", true}, {"wrong", "not-" + password, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, tc.name)
			if err := os.WriteFile(f, []byte(tc.pw), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			c, err := store.Open(store.Options{URL: srv.URL(), PasswordFile: f, DialTimeout: time.Second, Timeout: time.Second,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Check(context.Background())
			if (err == nil) != tc.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error()+logs.String(), password) {
				t.Errorf("the password leaked: %v / %s", err, logs.String())
			}
		})
	}
}

// TestObserve: every call has a span and a round trip; failures are counted
// by operation and logged at most once per LogEvery, with the URL redacted;
// fail-open checks are counted.
func TestObserve(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "another-password")
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	var logs bytes.Buffer
	clk := testclock.New(time.Unix(1_700_000_000, 0))
	url := strings.Replace(srv.URL(), "redis://", "redis://default:"+password+"@", 1)
	c, err := store.Open(store.Options{URL: url, DialTimeout: time.Second, Timeout: time.Second, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Meter: mp.Meter("t"), Tracer: tp.Tracer("t")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	// The server has another password: AUTH fails, a store failure like any other.
	for range 3 {
		if err := c.Check(ctx); err == nil {
			t.Fatal("Check with a password the server does not have succeeded")
		}
	}
	c.FailOpen(ctx, "ratelimit.take")
	clk.Add(11 * time.Second)
	_ = c.Check(ctx)

	if n := strings.Count(logs.String(), "shared store call failed"); n != 2 {
		t.Errorf("%d failure lines for 4 failures 11s apart in two groups, want 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "suppressed=2") || !strings.Contains(logs.String(), "fail open") {
		t.Errorf("log does not count suppressed lines or the fail-open:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("the password is in the log:\n%s", logs.String())
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					op, _ := p.Attributes.Value(store.AttrOperation)
					got[m.Name+" "+op.AsString()] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					op, _ := p.Attributes.Value(store.AttrOperation)
					got[m.Name+" "+op.AsString()] += int64(p.Count)
				}
			}
		}
	}
	want := map[string]int64{store.MetricDuration + " ping": 4, store.MetricErrors + " ping": 4, store.MetricFailOpen + " ratelimit.take": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	ended := spans.Ended()
	if len(ended) != 4 || ended[0].Name() != "tokex.store ping" || ended[0].Status().Code != codes.Error {
		t.Errorf("spans: %d, first %q %v", len(ended), ended[0].Name(), ended[0].Status())
	}
}

func TestKey(t *testing.T) {
	c, err := store.Open(store.Options{URL: "redis://127.0.0.1:1", Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := c.Key("jti:client_assertion", "orders\x00jti-1")
	if !strings.HasPrefix(k, "p:jti:client_assertion:") || len(k) != len("p:jti:client_assertion:")+43 || strings.Contains(k, "orders") {
		t.Errorf("Key = %q", k)
	}
	if k == c.Key("jti:client_assertion", "orders\x00jti-2") || k == c.Key("jti:dpop", "orders\x00jti-1") {
		t.Error("different identifiers or namespaces share a key")
	}
}
