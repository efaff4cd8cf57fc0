package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tokex/tokex/internal/app"
	"github.com/tokex/tokex/internal/keys"
)

// TestKeyMetrics: the key lifecycle gauges the alerts use. After one
// rotation a next key is published (ready min_next after it was created), and
// the retired key's publish_until and its margin over retired_at + the
// policy's token.max_lifetime (15m by default) are reported by kid.
func TestKeyMetrics(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	const minNext = 10 * time.Minute
	tests := []struct {
		name        string
		maxLifetime time.Duration // given to rotate
		leeway      time.Duration
		margin      float64
	}{
		{name: "rotated with the policy's max lifetime", maxLifetime: 15 * time.Minute, leeway: 5 * time.Minute, margin: 300},
		{name: "rotated with a shorter max lifetime than the policy's", maxLifetime: 5 * time.Minute, leeway: time.Second, margin: -599},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := keys.GenerateSet(keys.GenerateOptions{MinNext: minNext, Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			old := ks.Active().KID
			at := t0.Add(minNext)
			ks, rot, err := ks.Rotate(keys.RotateOptions{Now: at, MaxLifetime: tc.maxLifetime, Leeway: tc.leeway})
			if err != nil {
				t.Fatal(err)
			}
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			defer func() { _ = mp.Shutdown(context.Background()) }()
			a := app.New(app.Options{Policy: compile(t, policyDoc("  - id: orders\n    secret_sha256: \""+strings.Repeat("ab", 32)+"\"\n", "orders", "")), Keys: ks, Logger: slog.New(slog.DiscardHandler), MeterProvider: mp})
			defer a.Close()

			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					switch d := m.Data.(type) {
					case metricdata.Gauge[int64]:
						for _, p := range d.DataPoints {
							got[m.Name] = float64(p.Value)
						}
					case metricdata.Gauge[float64]:
						for _, p := range d.DataPoints {
							kid, _ := p.Attributes.Value("tokex.kid")
							got[m.Name+" "+kid.AsString()] = p.Value
						}
					}
				}
			}
			want := map[string]float64{
				app.MetricSigningKeyNext:                        1,
				app.MetricSigningKeyNextReady + " " + rot.Added: float64(rot.SignsFrom.Unix()),
				app.MetricSigningKeyPublishUntil + " " + old:    float64(at.Add(tc.maxLifetime + tc.leeway).Unix()),
				app.MetricSigningKeyDropMargin + " " + old:      tc.margin,
			}
			for k, v := range want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (reported: %v), want %v (all: %v)", k, g, ok, v, got)
				}
			}
		})
	}
}
