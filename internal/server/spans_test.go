package server_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/server"
)

// TestServerSpanAsOtelgin: the HTTP server span is otelgin's own, though its
// attributes are added only once the span is known to be recorded.
func TestServerSpanAsOtelgin(t *testing.T) {
	ks, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	var set atomic.Pointer[keys.Set]
	set.Store(ks)
	serve := func(h http.Handler) {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		req.Header.Set("User-Agent", "test/1")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	ours, plain := tracetest.NewSpanRecorder(), tracetest.NewSpanRecorder()
	serve(server.New(server.Options{Exchange: exchange.New(exchange.Options{}), Keys: &set, Issuer: "https://sts.example.com",
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(ours))}))
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	_ = r.SetTrustedProxies(nil)
	r.Use(otelgin.Middleware("tokex", otelgin.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(plain)))))
	r.GET("/healthz", func(c *gin.Context) {
		c.Header("Content-Type", "application/json")
		c.String(http.StatusOK, `{"status":"ok"}`)
	})
	serve(r)

	o, p := ours.Ended(), plain.Ended()
	if len(o) != 1 || len(p) != 1 {
		t.Fatalf("%d and %d spans, want one each", len(o), len(p))
	}
	if o[0].Name() != p[0].Name() || o[0].SpanKind() != p[0].SpanKind() || o[0].Status() != p[0].Status() ||
		o[0].Parent().TraceID() != p[0].Parent().TraceID() {
		t.Errorf("span %q %v %v, otelgin's %q %v %v", o[0].Name(), o[0].SpanKind(), o[0].Status(), p[0].Name(), p[0].SpanKind(), p[0].Status())
	}
	sorted := func(kv []attribute.KeyValue) []string {
		var s []string
		for _, a := range kv {
			s = append(s, string(a.Key)+"="+a.Value.Emit())
		}
		slices.Sort(s)
		return s
	}
	if got, want := sorted(o[0].Attributes()), sorted(p[0].Attributes()); len(want) < 5 || !slices.Equal(got, want) {
		t.Errorf("attributes\n %v\nwant otelgin's\n %v", got, want)
	}
}
