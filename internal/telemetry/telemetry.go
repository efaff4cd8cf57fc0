package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Tracing holds the tracer provider and whether spans leave the process.
// Without an exporter, spans are not recorded but trace context still is.
type Tracing struct {
	Provider  *sdktrace.TracerProvider
	Exporting bool
}

// Shutdown flushes and stops the provider.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.Provider.Shutdown(ctx) }

// NewTracing builds a tracer provider from the standard variables:
// OTEL_TRACES_EXPORTER (otlp, console, none), OTEL_EXPORTER_OTLP_* (endpoint,
// protocol, headers), OTEL_TRACES_SAMPLER(_ARG), OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES. With no exporter set, an OTLP endpoint variable
// implies otlp; with neither, nothing is exported (SPEC §2).
func NewTracing(ctx context.Context, version string) (*Tracing, error) {
	exp, err := autoexport.NewSpanExporter(ctx, autoexport.WithFallbackSpanExporter(fallbackExporter))
	if err != nil {
		return nil, err
	}
	res, err := newResource(ctx, version)
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	t := &Tracing{}
	if exp != nil && !autoexport.IsNoneSpanExporter(exp) {
		opts = append(opts, sdktrace.WithBatcher(exp))
		t.Exporting = true
	} else if os.Getenv("OTEL_TRACES_SAMPLER") == "" {
		// Nothing would receive the spans: create trace context (ids for the
		// audit log, traceparent propagation) without recording spans, which
		// costs every exchange allocations for nothing. An explicit sampler wins.
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	t.Provider = sdktrace.NewTracerProvider(opts...)
	return t, nil
}

// newResource describes this process: service tokex, its version, and what
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say (they win).
func newResource(ctx context.Context, version string) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("tokex"), semconv.ServiceVersion(version)),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, err
	}
	return res, nil
}

func fallbackExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, nil // none
	}
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if proto == "grpc" {
		return otlptracegrpc.New(ctx)
	}
	return otlptracehttp.New(ctx)
}

// Loggers are the application log and the audit log.
type Loggers struct {
	App   *slog.Logger
	Audit *slog.Logger
	out   *output
}

// NewLoggers writes JSON lines to w: application records at level and above,
// audit records (log=audit) always, each at once.
func NewLoggers(w io.Writer, level slog.Level) Loggers {
	return NewBufferedLoggers(w, level, 0)
}

// NewBufferedLoggers is NewLoggers with audit records written out together,
// at least every flush and whenever AuditBufferBytes are pending: one write
// for many exchanges instead of one each. Application records are written at
// once, after the audit records before them. flush 0 writes every record at
// once. Close writes out what is pending.
func NewBufferedLoggers(w io.Writer, level slog.Level, flush time.Duration) Loggers {
	out := newOutput(w, flush)
	app := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}))
	audit := slog.New(newAuditHandler(auditWriter{out}, &slog.HandlerOptions{Level: slog.LevelInfo})).With(slog.String("log", "audit"))
	return Loggers{App: app, Audit: audit, out: out}
}

// Close writes out the pending audit records and stops the periodic writes;
// records logged afterwards are written at once.
func (l Loggers) Close() error {
	if l.out == nil {
		return nil
	}
	return l.out.Close()
}
