// Package app assembles tokex's parts from a compiled policy and a key set: the
// issuer registry, the exchange service and the HTTP handler. `tokex serve` and
// the benchmarks build tokex through it, so what is measured is what runs.
//
// Invariants: App owns the issuer registry (Close stops its fetching); the key
// set and the service state are swapped atomically, never mutated.
package app

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/dpop"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/ratelimit"
	"github.com/tokex/tokex/internal/replay"
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
	// DPoPNonceSecret is the key of DPoP nonces (RFC 9449 §8), shared by
	// every replica so that each accepts another's; nil: random, this
	// process only.
	DPoPNonceSecret []byte
	// CertBoundTokens: client certificates can reach tokex (TLS client CA
	// configured), so tokens are bound to them (RFC 8705 §3.3 metadata).
	CertBoundTokens bool
	// ClientCerts is where client certificates come from (RFC 8705).
	ClientCerts *server.ClientCerts
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
	logger     *slog.Logger
	replay     replay.Cache
	limiter    ratelimit.Limiter
	dpopSecret []byte              // DPoP nonce key, fixed for the process
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
	a.issuer, a.issuerOpts, a.logger = src.Issuer, io, o.Logger
	a.replay = replay.NewMemory(replay.MemoryOptions{})
	a.dpopSecret = o.DPoPNonceSecret
	if len(a.dpopSecret) == 0 {
		a.dpopSecret = make([]byte, 32)
		_, _ = rand.Read(a.dpopSecret)
	}
	a.limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	reg := issuer.NewRegistry(src.Issuers, io)
	a.registry.Store(reg)
	xo := exchange.Options{
		State:  a.newState(o.Policy, reg),
		Minter: mint.New(src.Issuer, a.Keys, nil),
		Audit:  o.Audit,
		Meter:  meter,
		// RFC 9449 §4.3: htu is compared with the configured public URL,
		// never one built from request headers.
		TokenEndpoint: src.Issuer + "/token",
	}
	if o.TracerProvider != nil {
		xo.Tracer = o.TracerProvider.Tracer("github.com/tokex/tokex/internal/exchange")
	}
	a.Service = exchange.New(xo)
	a.Handler = server.New(server.Options{
		Exchange:        a.Service,
		Keys:            a.Keys,
		Issuer:          src.Issuer,
		Logger:          o.Logger,
		TracerProvider:  o.TracerProvider,
		MeterProvider:   o.MeterProvider,
		Demo:            o.Demo,
		Ready:           a.ready,
		MaxBodyBytes:    o.MaxBodyBytes,
		AuthMetadata:    a.authMetadata,
		DPoPAlgorithms:  func() []string { return a.Service.State().DPoP.Algorithms() },
		CertBoundTokens: o.CertBoundTokens,
		ClientCerts:     o.ClientCerts,
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
	a.Service.State().Clients.Close()
}

// newState builds the policy-derived state of the exchange service: client
// registry (with its private_key_jwt key fetchers) and rate limits. The
// assertion replay cache and the rate limit buckets outlive reloads: a
// reload must not make a used jti usable again or refill every bucket.
func (a *App) newState(p *policy.Policy, reg *issuer.Registry) *exchange.State {
	src := p.Source
	return &exchange.State{Policy: p, Issuers: reg,
		Clients: client.NewRegistry(src.Clients, client.Options{Issuer: src.Issuer, Logger: a.logger, Replay: a.replay}),
		Limits:  exchange.NewLimits(src, a.limiter),
		DPoP:    a.newDPoP(src)}
}

// newDPoP builds the DPoP proof verifier of a policy: its proofs' jtis go to
// the same replay cache as client assertions (shared across replicas when
// the cache is), its nonces are keyed by the process's nonce secret.
func (a *App) newDPoP(src *config.Policy) *dpop.Verifier {
	o := dpop.Options{Replay: a.replay}
	no := dpop.NonceOptions{Secret: a.dpopSecret}
	if d := src.DPoP; d != nil {
		o.Algorithms = d.Algorithms
		if d.Window != nil {
			o.Window = d.Window.D()
		}
		if d.NonceLifetime != nil {
			no.Step = d.NonceLifetime.D()
		}
	}
	o.Nonces = dpop.NewNonces(no)
	return dpop.NewVerifier(o)
}

// authMetadata is the metadata's client authentication part (RFC 8414 §2)
// under the running policy: the methods configured clients use, "none" when a
// rule serves unauthenticated callers, and the private_key_jwt algorithms.
func (a *App) authMetadata() (methods, signingAlgs []string) {
	st := a.Service.State()
	methods = st.Clients.Methods()
	if st.Policy.Unauthenticated {
		methods = append(methods, api.AuthMethodNone)
	}
	return methods, st.Clients.SigningAlgorithms()
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
