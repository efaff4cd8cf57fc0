package exchange

import (
	"context"
	"sync"
	"sync/atomic"
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
	duration metric.Float64Histogram
	mu       sync.RWMutex
	series   map[metricKey]*series // built once per key, not per exchange
}

type metricKey struct {
	outcome, code, reason, client, issuer, rule, profile string
}

// series is one attribute set's measurements. The exchange count is an atomic
// that an observable counter reports at collection (the OpenTelemetry pattern
// for hot counters): the same cumulative tokex.exchanges, without an SDK
// measurement per exchange.
type series struct {
	observe []metric.ObserveOption
	record  []metric.RecordOption // kept, so that Record's variadic slice is not allocated per call
	count   atomic.Int64
}

func newMetrics(m metric.Meter) *metrics {
	out := &metrics{series: map[metricKey]*series{}}
	var err error
	if _, err = m.Int64ObservableCounter(MetricExchanges,
		metric.WithDescription("Token exchanges, accepted or refused"), metric.WithUnit("{exchange}"),
		metric.WithInt64Callback(out.observe)); err != nil {
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

func (m *metrics) observe(_ context.Context, o metric.Int64Observer) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, s := range m.series {
		o.Observe(s.count.Load(), s.observe...)
	}
	return nil
}

func (m *metrics) record(ctx context.Context, rec *record, xe *Error, d time.Duration) {
	if m == nil {
		return
	}
	k := metricKey{outcome: "granted", client: rec.clientID, issuer: rec.issuer, rule: rec.rule, profile: rec.profile}
	if xe != nil {
		k.outcome, k.code, k.reason = "refused", string(xe.Code), xe.Reason
	}
	m.mu.RLock()
	s, ok := m.series[k]
	m.mu.RUnlock()
	if !ok {
		s = m.add(k)
	}
	s.count.Add(1)
	if d > 0 {
		m.duration.Record(ctx, d.Seconds(), s.record...)
	}
}

func (m *metrics) add(k metricKey) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.series[k]; ok {
		return s
	}
	set := metric.WithAttributeSet(attribute.NewSet(
		attribute.String(AttrOutcome, k.outcome),
		attribute.String(AttrErrorCode, k.code),
		attribute.String(AttrReason, k.reason),
		attribute.String(AttrClientID, k.client),
		attribute.String(AttrIssuer, k.issuer),
		attribute.String(AttrRule, k.rule),
		attribute.String(AttrProfile, k.profile),
	))
	s := &series{observe: []metric.ObserveOption{set}, record: []metric.RecordOption{set}}
	m.series[k] = s
	return s
}
