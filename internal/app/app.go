// Package app assembles tokex's parts from a compiled policy and a key set: the
// issuer registry, the exchange service and the HTTP handler. `tokex serve` and
// the benchmarks build tokex through it, so what is measured is what runs.
//
// Invariants: App owns the issuer registry (Close stops its fetching); the key
// set and the service state are swapped atomically, never mutated.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/server"
)

// Options are the parts App is built from.
type Options struct {
	Policy         *policy.Policy
	Keys           *keys.Set
	Logger         *slog.Logger // application log
	Audit          *slog.Logger // audit events; nil: none
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider // nil: no metrics
	Demo           http.HandlerFunc     // POST /demo/token, demo mode only
	Issuer         issuer.Options       // Logger defaults to Logger
	MaxBodyBytes   int64                // 0: server.DefaultMaxBodyBytes
}

// App is a running tokex, without its listener.
type App struct {
	Handler  http.Handler
	Service  *exchange.Service
	Keys     *atomic.Pointer[keys.Set]
	stopping atomic.Bool
	keysAt   atomic.Pointer[time.Time] // when the current key set was loaded
	unreg    metric.Registration

	issuer     string                          // fixed for the process: minted iss, metadata, routes
	registry   atomic.Pointer[issuer.Registry] // the current policy's issuers
	issuerOpts issuer.Options
	reloads    metric.Int64Counter // nil without a MeterProvider
	done       chan struct{}       // closed by Close: stops deferred closes
	bg         sync.WaitGroup
	closeOnce  sync.Once
}

// MetricSigningKeyAge is the age of the active signing key, by tokex.kid and
// tokex.alg: how long this process has signed with it.
const MetricSigningKeyAge = "tokex.signing_key.age"

// New builds the parts and starts fetching the upstream issuers' keys.
func New(o Options) *App {
	a := &App{Keys: &atomic.Pointer[keys.Set]{}, done: make(chan struct{})}
	a.Keys.Store(o.Keys)
	now := time.Now()
	a.keysAt.Store(&now)
	src := o.Policy.Source
	io := o.Issuer
	if io.Logger == nil {
		io.Logger = o.Logger
	}
	var meter metric.Meter
	if o.MeterProvider != nil {
		meter = o.MeterProvider.Meter("github.com/tokex/tokex")
		if io.Meter == nil {
			io.Meter = meter
		}
		a.observeKeys(meter)
		a.reloads, _ = meter.Int64Counter(MetricReloads, metric.WithUnit("{reload}"),
			metric.WithDescription("Reloads of the policy and keys files, by tokex.reload (policy, keys) and tokex.result (ok, error)"))
	}
	a.issuer, a.issuerOpts = src.Issuer, io
	reg := issuer.NewRegistry(src.Issuers, io)
	a.registry.Store(reg)
	xo := exchange.Options{
		State:  &exchange.State{Policy: o.Policy, Clients: client.NewRegistry(src.Clients), Issuers: reg},
		Minter: mint.New(src.Issuer, a.Keys, nil),
		Audit:  o.Audit,
		Meter:  meter,
	}
	if o.TracerProvider != nil {
		xo.Tracer = o.TracerProvider.Tracer("github.com/tokex/tokex/internal/exchange")
	}
	a.Service = exchange.New(xo)
	a.Handler = server.New(server.Options{
		Exchange:       a.Service,
		Keys:           a.Keys,
		Issuer:         src.Issuer,
		Logger:         o.Logger,
		TracerProvider: o.TracerProvider,
		MeterProvider:  o.MeterProvider,
		Demo:           o.Demo,
		Ready:          a.ready,
		MaxBodyBytes:   o.MaxBodyBytes,
	})
	return a
}

// WaitReady waits up to d for every upstream issuer's keys; false if some are
// still missing (their exchanges answer 503 until they arrive).
func (a *App) WaitReady(ctx context.Context, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return a.Issuers().WaitReady(ctx)
}

// Issuers is the current policy's issuer registry.
func (a *App) Issuers() *issuer.Registry { return a.registry.Load() }

// Stopping turns readiness false, first step of a graceful shutdown.
func (a *App) Stopping() { a.stopping.Store(true) }

// Close stops background work, including registries retired by reloads.
func (a *App) Close() {
	a.closeOnce.Do(func() { close(a.done) })
	a.bg.Wait()
	if a.unreg != nil {
		_ = a.unreg.Unregister()
	}
	a.Issuers().Close()
}

func (a *App) observeKeys(m metric.Meter) {
	age, err := m.Float64ObservableGauge(MetricSigningKeyAge, metric.WithUnit("s"),
		metric.WithDescription("Time since the active signing key was loaded by this process"))
	if err != nil {
		return // the API returns a no-op instrument; nothing to observe
	}
	a.unreg, _ = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		k := a.Keys.Load().Active()
		o.ObserveFloat64(age, time.Since(*a.keysAt.Load()).Seconds(),
			metric.WithAttributes(attribute.String("tokex.kid", k.KID), attribute.String("tokex.alg", k.Alg)))
		return nil
	}, age)
}

// Ready reports readiness and its checks, for /readyz on both listeners.
func (a *App) Ready() (bool, map[string]string) { return a.ready() }

func (a *App) ready() (bool, map[string]string) {
	checks := map[string]string{"keys": "ok", "policy": "ok"}
	for name, st := range a.Issuers().Status() {
		checks["issuer:"+name] = st // informative: one IdP down must not take every replica out
	}
	if a.stopping.Load() {
		checks["server"] = "shutting down"
		return false, checks
	}
	return true, checks
}
