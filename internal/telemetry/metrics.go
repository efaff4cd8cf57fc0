package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/sdk/metric"
)

// Metrics is an OpenTelemetry meter provider whose instruments are served in
// the Prometheus text format by Handler (on the admin listener).
type Metrics struct {
	Provider *metric.MeterProvider
	Handler  http.Handler
}

// NewMetrics builds the meter provider with its own Prometheus registry (never
// the global one), so two instances in one process do not collide.
func NewMetrics(ctx context.Context, version string) (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	res, err := newResource(ctx, version)
	if err != nil {
		return nil, err
	}
	opts := []metric.Option{metric.WithReader(exp), metric.WithResource(res)}
	// Push as well when OTEL_METRICS_EXPORTER asks for it (otlp, console), e.g.
	// to an OpenTelemetry Collector. Unset: only the pull endpoint, since
	// autoexport's own default (otlp to localhost) would fail on most hosts.
	if v := os.Getenv("OTEL_METRICS_EXPORTER"); v != "" && v != "none" {
		r, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTEL_METRICS_EXPORTER=%s: %w", v, err)
		}
		opts = append(opts, metric.WithReader(r))
	}
	return &Metrics{
		Provider: metric.NewMeterProvider(opts...),
		Handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}, nil
}

// Shutdown stops the provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.Provider.Shutdown(ctx) }
