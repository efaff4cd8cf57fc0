package exchange

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. Their attributes are the span attribute keys (AttrOutcome, ...),
// all of bounded cardinality: clients, issuers and rules come from the policy,
// codes and reasons from tokex; never a subject, token or free text.
const (
	MetricExchanges = "tokex.exchanges"
	MetricDuration  = "tokex.exchange.duration"
)

type metrics struct {
	exchanges metric.Int64Counter
	duration  metric.Float64Histogram
	mu        sync.RWMutex
	opts      map[metricKey]metric.MeasurementOption // built once per key, not per exchange
}

type metricKey struct {
	outcome, code, reason, client, issuer, rule string
}

func newMetrics(m metric.Meter) *metrics {
	out := &metrics{opts: map[metricKey]metric.MeasurementOption{}}
	var err error
	if out.exchanges, err = m.Int64Counter(MetricExchanges,
		metric.WithDescription("Token exchanges, accepted or refused"), metric.WithUnit("{exchange}")); err != nil {
		otelError(err)
	}
	if out.duration, err = m.Float64Histogram(MetricDuration,
		metric.WithDescription("Time to answer one token exchange"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)); err != nil {
		otelError(err)
	}
	return out
}

// otelError: the API returns a usable no-op instrument with the error; a bad
// instrument definition is a programming error caught by the tests.
func otelError(error) {}

func (m *metrics) record(ctx context.Context, rec *record, xe *Error, d time.Duration) {
	if m == nil {
		return
	}
	k := metricKey{outcome: "granted", client: rec.clientID, issuer: rec.issuer, rule: rec.rule}
	if xe != nil {
		k.outcome, k.code, k.reason = "refused", string(xe.Code), xe.Reason
	}
	m.mu.RLock()
	attrs, ok := m.opts[k]
	m.mu.RUnlock()
	if !ok {
		attrs = metric.WithAttributeSet(attribute.NewSet(
			attribute.String(AttrOutcome, k.outcome),
			attribute.String(AttrErrorCode, k.code),
			attribute.String(AttrReason, k.reason),
			attribute.String(AttrClientID, k.client),
			attribute.String(AttrIssuer, k.issuer),
			attribute.String(AttrRule, k.rule),
		))
		m.mu.Lock()
		m.opts[k] = attrs
		m.mu.Unlock()
	}
	m.exchanges.Add(ctx, 1, attrs)
	if d > 0 {
		m.duration.Record(ctx, d.Seconds(), attrs)
	}
}
