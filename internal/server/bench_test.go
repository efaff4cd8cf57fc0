package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/app"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/demo"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/telemetry"
	"github.com/tokex/tokex/internal/testidp"
	"github.com/tokex/tokex/internal/tuning"
)

const benchIssuer = "http://localhost:8080"

// stack is the whole production pipeline in-process: demo policy with an RS256
// upstream, ES256 minting, JSON audit log and an SDK tracer provider, as serve
// wires them.
type stack struct {
	handler http.Handler
	idp     *demo.IdP
	close   func()
}

// Telemetry setups of the benchmarks.
type telemetryMode int

const (
	telemetryProduction telemetryMode = iota // audit + telemetry.NewTracing as serve sets it up (no OTEL_* set)
	telemetryExporting                       // audit + every span recorded and exported (to a discarding exporter)
	telemetryOff                             // neither: a diagnostic
)

func newStack(tb testing.TB, audit io.Writer) *stack {
	return newStackWith(tb, audit, telemetryProduction)
}

func newStackWith(tb testing.TB, audit io.Writer, mode telemetryMode) *stack {
	tb.Helper()
	// The runtime settings serve applies (GC target), restored afterwards.
	if prev, applied := tuning.GC(os.Getenv); applied {
		tb.Cleanup(func() { debug.SetGCPercent(prev) })
	}
	if audit == nil {
		audit = io.Discard
	}
	// Fixed keys (checked in for tests) keep setup cost constant, so that
	// instruction counts per exchange can be compared between runs.
	fixed := fixedKeys(tb)
	idp, err := demo.New(benchIssuer, fixed.rsa, nil)
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := idp.Policy()
	if err != nil {
		tb.Fatal(err)
	}
	pol, err := config.ParsePolicy(doc, "", config.Overrides{})
	if err != nil {
		tb.Fatal(err)
	}
	compiled, err := policy.Compile(pol)
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := keys.LoadFile(fixedKeysFile) // first key: ES256
	if err != nil {
		tb.Fatal(err)
	}
	if ks.Active().Alg != keys.ES256 {
		tb.Fatalf("%s: first key is %s, want ES256", fixedKeysFile, ks.Active().Alg)
	}
	var tp *sdktrace.TracerProvider
	switch mode {
	case telemetryExporting:
		tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	default:
		for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_SAMPLER"} {
			if t, ok := tb.(interface{ Setenv(string, string) }); ok {
				t.Setenv(k, "")
			}
		}
		tr, err := telemetry.NewTracing(context.Background(), "bench")
		if err != nil {
			tb.Fatal(err)
		}
		tp = tr.Provider
	}
	logs := telemetry.NewBufferedLoggers(audit, 0, 100*time.Millisecond) // TOKEX_AUDIT_FLUSH's default
	metrics, err := telemetry.NewMetrics(context.Background(), "bench")  // as serve: a Prometheus reader
	if err != nil {
		tb.Fatal(err)
	}
	ao := app.Options{Policy: compiled, Keys: ks, Logger: logs.App, Audit: logs.Audit, TracerProvider: tp, MeterProvider: metrics.Provider, Demo: idp.ServeToken}
	if mode == telemetryOff {
		ao.Audit, ao.TracerProvider, ao.MeterProvider = nil, nil, nil
	}
	a := app.New(ao) // the same assembly as tokex serve
	if !a.WaitReady(context.Background(), 10*time.Second) {
		tb.Fatal("issuer not ready")
	}
	return &stack{handler: a.Handler, idp: idp, close: func() {
		a.Close()
		_ = logs.Close()
		_ = tp.Shutdown(context.Background())
		_ = metrics.Shutdown(context.Background())
	}}
}

func exchangeBody(subject, scope string) string {
	return url.Values{
		"grant_type":         {api.GrantTypeTokenExchange},
		"subject_token":      {subject},
		"subject_token_type": {api.TokenTypeAccessToken},
		"audience":           {demo.Audience},
		"scope":              {scope},
	}.Encode()
}

// BenchmarkExchange is one whole exchange through the HTTP handler: form,
// client auth, RS256 subject validation, policy, ES256 minting, audit, spans.
// Audit, tracing and metrics are on as serve sets them up with no OTEL_* variables.
func BenchmarkExchange(b *testing.B) { benchmarkExchange(b, telemetryProduction) }

// BenchmarkExchangeExportingSpans records and exports every span (as with an
// OTLP exporter configured), to a discarding exporter.
func BenchmarkExchangeExportingSpans(b *testing.B) { benchmarkExchange(b, telemetryExporting) }

// BenchmarkExchangeNoTelemetry has no audit, tracing or metrics: a diagnostic.
func BenchmarkExchangeNoTelemetry(b *testing.B) { benchmarkExchange(b, telemetryOff) }

func benchmarkExchange(b *testing.B, mode telemetryMode) {
	exchange := newExchanger(b, mode)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		exchange()
	}
}

// newExchanger builds a stack with the mode's telemetry (closed when b ends)
// and returns a function that exchanges one of the demo IdP's RS256 tokens
// through its handler, failing b unless it is answered 200. The request is
// built once and its body rewound for each exchange, as the response writer
// is reset: building requests is net/http's work, not tokex's, and a request
// the handler changed would fail the next exchange (the header is checked).
func newExchanger(b *testing.B, mode telemetryMode) func() {
	return newScopeExchanger(b, mode, "orders.read", http.StatusOK)
}

// newScopeExchanger is newExchanger with the scope parameter given, failing b
// unless the answer has status want.
func newScopeExchanger(b *testing.B, mode telemetryMode, scope string, want int) func() {
	exchange := newRequestExchanger(b, mode, scope, want, false)
	return func() { exchange("") }
}

// newRequestExchanger builds the stack and the one reusable request of the
// exchangers above; with dpop, each call sends its proof in the DPoP header.
// It returns the response body.
func newRequestExchanger(b *testing.B, mode telemetryMode, scope string, want int, dpop bool) func(proof string) []byte {
	s := newStackWith(b, io.Discard, mode)
	b.Cleanup(s.close)
	subject, _, err := s.idp.Issue("alice", "orders.read orders.write", "", "")
	if err != nil {
		b.Fatal(err)
	}
	body := exchangeBody(subject, scope)
	rd := strings.NewReader(body)
	req, err := http.NewRequest(http.MethodPost, "/token", rd)
	if err != nil {
		b.Fatal(err)
	}
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(demo.ClientID, demo.ClientSecret)
	proofHeader := []string{""}
	if dpop {
		req.Header["Dpop"] = proofHeader
	}
	headers := len(req.Header)
	w := &responseWriter{header: http.Header{}}
	return func(proof string) []byte {
		proofHeader[0] = proof
		rd.Reset(body)
		clear(w.header)
		w.code, w.body = 0, w.body[:0]
		s.handler.ServeHTTP(w, req)
		if w.code != want || len(req.Header) != headers {
			b.Fatalf("status %d: %s", w.code, w.body)
		}
		return w.body
	}
}

// BenchmarkExchangeScopes is one authenticated exchange asking for n
// distinct scopes the rule does not grant besides orders.read: 10 are
// granted (200); 10,000 (60 KB, under the body cap) are refused as
// invalid_scope before the subject token is verified, at the cost of
// counting the separators (issue 12: downscoping was quadratic).
func BenchmarkExchangeScopes(b *testing.B) {
	for _, tc := range []struct {
		n    int
		want int
	}{{10, http.StatusOK}, {10000, http.StatusBadRequest}} {
		toks := []string{"orders.read"}
		for i := range tc.n - 1 {
			toks = append(toks, fmt.Sprintf("u%04d", i))
		}
		b.Run(fmt.Sprintf("n=%d", tc.n), func(b *testing.B) {
			exchange := newScopeExchanger(b, telemetryProduction, strings.Join(toks, " "), tc.want)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				exchange()
			}
		})
	}
}

// BenchmarkExchangeOverFloor runs BenchmarkExchange's exchange and
// BenchmarkCryptoFloor's cryptography in alternating blocks in one process and
// reports the median of the per-block-pair ratios (x-floor). On a shared host
// whose speed drifts over seconds, the two separate benchmarks can land on
// different sides of a drift; block pairs a few milliseconds apart see the
// same machine. b.N is the number of block pairs.
func BenchmarkExchangeOverFloor(b *testing.B) {
	exchange := newExchanger(b, telemetryProduction)
	floor := cryptoFloor(b)
	const block = 20
	var ratios []float64
	var ex, fl time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		for range block {
			exchange()
		}
		t1 := time.Now()
		for range block {
			floor()
		}
		t2 := time.Now()
		ex, fl = ex+t1.Sub(t0), fl+t2.Sub(t1)
		ratios = append(ratios, float64(t1.Sub(t0))/float64(t2.Sub(t1)))
	}
	slices.Sort(ratios)
	n := float64(len(ratios) * block)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(ex.Nanoseconds())/n, "exchange-ns/op")
	b.ReportMetric(float64(fl.Nanoseconds())/n, "floor-ns/op")
	b.ReportMetric(ratios[len(ratios)/2], "x-floor")
}

// BenchmarkCryptoFloor is only the cryptography an exchange cannot avoid: one
// RS256 verify and one ES256 sign, on pre-built inputs.
func BenchmarkCryptoFloor(b *testing.B) {
	floor := cryptoFloor(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		floor()
	}
}

// cryptoFloor is one RS256 verify and one ES256 sign on pre-built inputs.
func cryptoFloor(b *testing.B) func() {
	fixed := fixedKeys(b)
	rsaKey, ecKey := fixed.rsa, fixed.ec
	input := strings.Repeat("eyJhbGciOiJSUzI1NiJ9.", 1) + strings.Repeat("x", 400)
	sig, err := jwt.SigningMethodRS256.Sign(input, rsaKey)
	if err != nil {
		b.Fatal(err)
	}
	pub := &rsaKey.PublicKey
	return func() {
		if err := jwt.SigningMethodRS256.Verify(input, sig, pub); err != nil {
			b.Fatal(err)
		}
		if _, err := jwt.SigningMethodES256.Sign(input, ecKey); err != nil {
			b.Fatal(err)
		}
	}
}

// responseWriter keeps the status and body; lighter than httptest.Recorder,
// whose cost is the harness's, not tokex's.
type responseWriter struct {
	header http.Header
	code   int
	body   []byte
}

func (w *responseWriter) Header() http.Header { return w.header }
func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *responseWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

const fixedKeysFile = "../keys/testdata/keys.json"

type testKeys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

// fixedKeys reads the RSA-2048 and P-256 private keys of the keys package's
// test key set.
func fixedKeys(tb testing.TB) testKeys {
	tb.Helper()
	raw, err := os.ReadFile(fixedKeysFile)
	if err != nil {
		tb.Fatal(err)
	}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &set); err != nil {
		tb.Fatal(err)
	}
	var out testKeys
	for _, m := range set.Keys {
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: true}, jwkset.JWKValidateOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		switch k := jwk.Key().(type) {
		case *rsa.PrivateKey:
			out.rsa = k
		case *ecdsa.PrivateKey:
			out.ec = k
		}
	}
	if out.rsa == nil || out.ec == nil || out.rsa.N.BitLen() != 2048 {
		tb.Fatalf("%s must hold an RSA-2048 and a P-256 key", fixedKeysFile)
	}
	return out
}

// BenchmarkDPoPOverhead runs the bearer exchange, the same exchange with a
// DPoP proof (RFC 9449), and one ES256 verify (the proof's signature) in
// alternating blocks, and reports the median per-block cost of DPoP beyond
// that verify: dpop-extra-ns/op = DPoP exchange - bearer exchange - ES256
// verify (issue 14's target: under 10 µs). Proofs are signed before each
// block, outside the timing: signing is the client's work.
func BenchmarkDPoPOverhead(b *testing.B) {
	bearer := newExchanger(b, telemetryProduction)
	dpopExchange := newDPoPExchanger(b)
	key := testidp.NewDPoPKey(b, false)
	const block = 20
	proofs := make([]string, block)
	input := strings.Repeat("x", 300)
	sig, _ := jwt.SigningMethodES256.Sign(input, key.Priv)
	verify := func() {
		if err := jwt.SigningMethodES256.Verify(input, sig, key.Priv.Public()); err != nil {
			b.Fatal(err)
		}
	}
	var extras []float64
	var tb, td, tv time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for i := range proofs {
			proofs[i] = key.Proof(b, http.MethodPost, benchIssuer+"/token", time.Now(), nil, nil)
		}
		b.StartTimer()
		t0 := time.Now()
		for range block {
			bearer()
		}
		t1 := time.Now()
		for _, p := range proofs {
			dpopExchange(p)
		}
		t2 := time.Now()
		for range block {
			verify()
		}
		t3 := time.Now()
		tb, td, tv = tb+t1.Sub(t0), td+t2.Sub(t1), tv+t3.Sub(t2)
		extras = append(extras, float64(t2.Sub(t1)-t1.Sub(t0)-t3.Sub(t2))/block)
	}
	slices.Sort(extras)
	n := float64(len(extras) * block)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(tb.Nanoseconds())/n, "bearer-ns/op")
	b.ReportMetric(float64(td.Nanoseconds())/n, "dpop-ns/op")
	b.ReportMetric(float64(tv.Nanoseconds())/n, "es256-verify-ns/op")
	b.ReportMetric(extras[len(extras)/2], "dpop-extra-ns/op")
}

// newDPoPExchanger is newExchanger's exchange with a DPoP header; each call
// sends the given proof and must get a DPoP-bound token.
func newDPoPExchanger(b *testing.B) func(proof string) {
	exchange := newRequestExchanger(b, telemetryProduction, "orders.read", http.StatusOK, true)
	return func(proof string) {
		if body := exchange(proof); !strings.Contains(string(body), `"token_type":"DPoP"`) {
			b.Fatalf("not a DPoP-bound token: %s", body)
		}
	}
}
