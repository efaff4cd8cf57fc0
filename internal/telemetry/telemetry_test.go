package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/telemetry"
)

func TestNewTracingFromEnv(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		exporting bool
		recording bool
	}{
		{name: "nothing configured exports nothing", env: map[string]string{}, exporting: false},
		{name: "explicit none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none"}, exporting: false},
		{name: "console", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, exporting: true},
		{name: "otlp endpoint implies otlp", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, exporting: true},
		{name: "explicit sampler records without exporter", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, exporting: false, recording: true},
		{name: "otlp grpc", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, exporting: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_SAMPLER"} {
				t.Setenv(k, tc.env[k])
			}
			tr, err := telemetry.NewTracing(context.Background(), "test")
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				// Nothing listens on the OTLP endpoints: do not wait for retries.
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				_ = tr.Shutdown(ctx)
			}()
			if tr.Exporting != tc.exporting {
				t.Errorf("Exporting = %v, want %v", tr.Exporting, tc.exporting)
			}
			// Trace context always exists (trace ids reach the audit log); spans
			// are recorded only when something receives them.
			_, span := tr.Provider.Tracer("t").Start(context.Background(), "x")
			if !span.SpanContext().HasTraceID() {
				t.Error("no trace id")
			}
			if want := tc.exporting || tc.recording; span.IsRecording() != want {
				t.Errorf("recording = %v, want %v", span.IsRecording(), want)
			}
			span.End()
		})
	}
}

func TestAuditIgnoresLogLevel(t *testing.T) {
	var b bytes.Buffer
	logs := telemetry.NewLoggers(&b, slog.LevelError)
	logs.App.Info("app info is filtered")
	logs.Audit.Info("exchange", "outcome", "granted")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want only the audit event: %q", len(lines), b.String())
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["log"] != "audit" || ev["outcome"] != "granted" {
		t.Errorf("audit event = %v", ev)
	}
}

func TestNewMetricsPushFromEnv(t *testing.T) {
	tests := []struct {
		name, exporter string
		wantErr        bool
	}{
		{"pull only", "", false},
		{"none", "none", false},
		{"console push", "console", false},
		{"unknown exporter", "carrier-pigeon", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OTEL_METRICS_EXPORTER", tc.exporter)
			m, err := telemetry.NewMetrics(context.Background(), "test")
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewMetrics: %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				if err := m.Shutdown(context.Background()); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
			}
		})
	}
}
