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
	"slices"
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
	"github.com/tokex/tokex/internal/store"
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
	// Store is the shared state of several replicas (replay cache, rate
	// limits); nil keeps both in this process. The caller closes it after App.
	Store *store.Client
	// RateLimitFailClosed refuses exchanges whose rate limits cannot be
	// checked because Store is down; default: let them through (fail open).
	RateLimitFailClosed bool
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
	shared     ratelimit.Batcher // the store's limiter, nil on one replica: DPoP jtis go there too
	dpopSecret []byte            // DPoP nonce key, fixed for the process
	dpopReplay replay.Cache      // DPoP proof jtis (RFC 9449 §11.1)
	// bearerReplay: jtis of jwt-bearer grant assertions (RFC 7523 §3).
	bearerReplay replay.Cache
	store        *store.Client       // nil: in-process state
	failClosed   bool                // rate limits fail closed on a store error
	reloads      metric.Int64Counter // nil without a MeterProvider
	done         chan struct{}       // closed by Close: stops deferred closes
	bg           sync.WaitGroup
	closeOnce    sync.Once
}

// MetricSigningKeyAge is the age of the active signing key, by tokex.kid and
// tokex.alg: how long this process has signed with it.
const MetricSigningKeyAge = "tokex.signing_key.age"

// Key lifecycle metrics for alerts (deploy/prometheus/rules.yaml): how many
// next keys are published and from when the next may be promoted; when each
// retired key leaves the JWKS, and its margin over the last token it may have
// signed (retired_at + token.max_lifetime), by tokex.kid.
const (
	MetricSigningKeyNext         = "tokex.signing_key.next"
	MetricSigningKeyNextReady    = "tokex.signing_key.next_ready_timestamp"
	MetricSigningKeyPublishUntil = "tokex.signing_key.publish_until_timestamp"
	MetricSigningKeyDropMargin   = "tokex.signing_key.drop_margin"
)

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
	a.store, a.failClosed = o.Store, o.RateLimitFailClosed
	if o.Store != nil {
		a.replay = replay.NewRedis(replay.RedisOptions{Store: o.Store, Namespace: replay.NamespaceClientAssertion})
		a.dpopReplay = replay.NewRedis(replay.RedisOptions{Store: o.Store, Namespace: replay.NamespaceDPoP})
		a.bearerReplay = replay.NewRedis(replay.RedisOptions{Store: o.Store, Namespace: replay.NamespaceJWTBearer})
		shared := ratelimit.NewRedis(ratelimit.RedisOptions{Store: o.Store, FailOpen: !o.RateLimitFailClosed})
		a.limiter, a.shared = shared, shared
	} else {
		a.replay = replay.NewMemory(replay.MemoryOptions{})
		// Its own capacity: a flood of proofs must not crowd out assertions.
		a.dpopReplay = replay.NewMemory(replay.MemoryOptions{})
		a.bearerReplay = replay.NewMemory(replay.MemoryOptions{})
		a.limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	}
	a.dpopSecret = o.DPoPNonceSecret
	if len(a.dpopSecret) == 0 {
		a.dpopSecret = make([]byte, 32)
		_, _ = rand.Read(a.dpopSecret)
	}
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
		Clients:    client.NewRegistry(src.Clients, client.Options{Issuer: src.Issuer, Logger: a.logger, Replay: a.replay}),
		Limits:     exchange.NewLimits(src, a.limiter),
		DPoP:       a.newDPoP(src),
		Assertions: a.bearerReplay,
		Shared:     a.shared}
}

// newDPoP builds the DPoP proof verifier of a policy: its proofs' jtis go to
// the shared store when there is one (a proof is accepted once across
// replicas), its nonces are keyed by the process's nonce secret.
func (a *App) newDPoP(src *config.Policy) *dpop.Verifier {
	o := dpop.Options{Replay: a.dpopReplay}
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
	// The API hands back working no-op instruments along with any error.
	next, _ := m.Int64ObservableGauge(MetricSigningKeyNext, metric.WithUnit("{key}"),
		metric.WithDescription("Next signing keys published in the JWKS, ready for the next rotation"))
	ready, _ := m.Float64ObservableGauge(MetricSigningKeyNextReady, metric.WithUnit("s"),
		metric.WithDescription("Unix time from which the next key may be promoted (created_at + min_next), by tokex.kid"))
	until, _ := m.Float64ObservableGauge(MetricSigningKeyPublishUntil, metric.WithUnit("s"),
		metric.WithDescription("Unix time at which a retired signing key leaves the JWKS, by tokex.kid"))
	margin, _ := m.Float64ObservableGauge(MetricSigningKeyDropMargin, metric.WithUnit("s"),
		metric.WithDescription("publish_until minus (retired_at + token.max_lifetime) of a retired key, by tokex.kid: below 0 the JWKS drops it while tokens it signed may be alive"))
	a.unreg, _ = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		ks := a.Keys.Load()
		k := ks.Active()
		o.ObserveFloat64(age, time.Since(*a.keysAt.Load()).Seconds(),
			metric.WithAttributes(attribute.String("tokex.kid", k.KID), attribute.String("tokex.alg", k.Alg)))
		var maxLife time.Duration
		if a.Service != nil {
			if st := a.Service.State(); st != nil && st.Policy != nil {
				maxLife = st.Policy.MaxLifetime
			}
		}
		var n int64
		for _, p := range ks.Published() {
			kid := metric.WithAttributes(attribute.String("tokex.kid", p.KID))
			switch {
			case p.State == keys.StateNext:
				n++
				if !p.CreatedAt.IsZero() {
					o.ObserveFloat64(ready, float64(p.CreatedAt.Add(ks.MinNext()).Unix()), kid)
				}
			case p.State == keys.StateRetired && !p.PublishUntil.IsZero():
				o.ObserveFloat64(until, float64(p.PublishUntil.Unix()), kid)
				if !p.RetiredAt.IsZero() && maxLife > 0 {
					o.ObserveFloat64(margin, p.PublishUntil.Sub(p.RetiredAt.Add(maxLife)).Seconds(), kid)
				}
			}
		}
		o.ObserveInt64(next, n)
		return nil
	}, age, next, ready, until, margin)
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
	if a.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storeCheckTimeout)
		defer cancel()
		if err := a.store.Check(ctx); err != nil {
			checks["store"] = "unreachable"
			// The store is shared, so every replica loses it at once: taking
			// them all out of the load balancer helps only when no exchange
			// could be answered anyway.
			if a.storeRequired() {
				return false, checks
			}
		} else {
			checks["store"] = "ok"
		}
	}
	return true, checks
}

// storeCheckTimeout bounds the store ping of one readiness probe.
const storeCheckTimeout = time.Second

// storeRequired reports whether every exchange under the running policy
// needs the store in a fail-closed way: every client authenticates with
// private_key_jwt (replay checks fail closed) and no rule serves
// unauthenticated callers, or rate limits are on and fail closed.
func (a *App) storeRequired() bool {
	st := a.Service.State()
	if st.Limits != nil && a.failClosed {
		return true
	}
	m := st.Clients.Methods()
	return !st.Policy.Unauthenticated && len(m) > 0 && !slices.ContainsFunc(m, func(x string) bool { return x != api.AuthMethodPrivateKeyJWT })
}

// NeedsSharedState names what in policy p does not hold across replicas
// without a shared store: the replay caches of private_key_jwt assertions and
// of the DPoP proofs its rules ask for, and the rate limits. Empty: p runs
// the same on one replica or many.
func NeedsSharedState(p *config.Policy) []string {
	var needs []string
	if slices.ContainsFunc(p.Clients, func(c config.Client) bool { return c.Auth == config.AuthPrivateKeyJWT }) {
		needs = append(needs, "replay checks of private_key_jwt client assertions (a jti used on one replica is accepted once more on each other)")
	}
	if exchange.NewLimits(p, nil) != nil {
		needs = append(needs, "rate limits (each replica enforces the whole limit on its own)")
	}
	if slices.ContainsFunc(p.Rules, func(r config.Rule) bool {
		return r.SenderConstraint == config.SenderConstraintDPoP || r.SenderConstraint == config.SenderConstraintAny
	}) || p.UsesDPoPNonces() {
		needs = append(needs, "replay checks of DPoP proofs (a proof used on one replica is accepted once more on each other)")
	}
	return needs
}
