package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-envconfig"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokex/tokex/internal/app"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/demo"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/reload"
	"github.com/tokex/tokex/internal/server"
	"github.com/tokex/tokex/internal/store"
	"github.com/tokex/tokex/internal/telemetry"
	"github.com/tokex/tokex/internal/tuning"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env, err := config.LoadEnv(ctx, envconfig.OsLookuper())
	if err != nil {
		fmt.Fprintf(stderr, "tokex: %v\n", err)
		return 1
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&env.Config, "config", env.Config, "policy file (TOKEX_CONFIG)")
	fs.StringVar(&env.Addr, "addr", env.Addr, "listen address (TOKEX_ADDR)")
	fs.StringVar(&env.Issuer, "issuer", env.Issuer, "issuer URL, overrides the policy file (TOKEX_ISSUER)")
	fs.StringVar(&env.Keys, "keys", env.Keys, "private JWKS file, overrides the policy file (TOKEX_KEYS)")
	fs.StringVar(&env.LogLevel, "log-level", env.LogLevel, "debug, info, warn, error (TOKEX_LOG_LEVEL)")
	fs.StringVar(&env.AdminAddr, "admin-addr", env.AdminAddr, "admin listener for /metrics, /healthz, /readyz; off disables (TOKEX_ADMIN_ADDR)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level, err := env.Level()
	if err != nil {
		fmt.Fprintf(stderr, "tokex: %v\n", err)
		return 1
	}
	logs := telemetry.NewBufferedLoggers(stdout, level, env.AuditFlush)
	// Deferred first, so it runs last: after in-flight exchanges finished and
	// wrote their audit events.
	defer func() { _ = logs.Close() }()
	log := logs.App
	if _, applied := tuning.GC(os.Getenv); applied {
		log.Debug("GC target set", "gogc", tuning.DefaultGCPercent, "why", "CPU-bound with a small heap; set GOGC to choose another")
	}
	switch limit, soft, applied, err := tuning.MemoryLimit(os.Getenv, memlimit.FromCgroup); {
	case err != nil:
		log.Warn("container memory limit not read; GOMEMLIMIT not set", "error", err.Error())
	case applied && limit < 64<<20:
		log.Warn("GOMEMLIMIT set from a container memory limit under 64 MiB: under load the GC will cost CPU, or the container run out of memory",
			"container_limit_mib", limit>>20, "gomemlimit_mib", soft>>20)
	case applied:
		log.Info("GOMEMLIMIT set from the container memory limit", "container_limit_mib", limit>>20, "gomemlimit_mib", soft>>20,
			"why", "the limit less 32 MiB for the binary's pages; set GOMEMLIMIT to choose another")
	}

	// Policy: the file, or the embedded demo policy with its own demo IdP.
	var pol *config.Policy
	var idp *demo.IdP
	overrides := config.Overrides{Issuer: env.Issuer, Keys: env.Keys}
	if env.Config != "" {
		pol, err = config.LoadPolicyFile(env.Config, overrides)
	} else {
		iss := env.Issuer
		if iss == "" {
			iss = "http://localhost:" + port(env.Addr)
		}
		if idp, err = demo.New(iss, nil, nil); err == nil {
			var doc []byte
			if doc, err = idp.Policy(); err == nil {
				pol, err = config.ParsePolicy(doc, "", config.Overrides{Keys: env.Keys})
			}
		}
		if err == nil {
			banner := "DEMO MODE: TOKEX_CONFIG is not set, so tokex runs an embedded demo policy and a demo identity provider at POST /demo/token that signs a token for anyone who asks. Never expose this instance. Set TOKEX_CONFIG to a policy file for real use."
			fmt.Fprintln(stderr, "tokex: WARNING: "+banner)
			log.Warn(banner, "issuer", pol.Issuer, "demo_idp", idp.Issuer())
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokex: refusing to start: %v\n", err)
		return 1
	}
	compiled, err := policy.Compile(pol)
	if err != nil {
		fmt.Fprintf(stderr, "tokex: refusing to start: %v\n", err)
		return 1
	}
	tlsCfg, clientCerts, err := tlsConfig(env, pol)
	if err != nil {
		fmt.Fprintf(stderr, "tokex: refusing to start: %v\n", err)
		return 1
	}
	for _, w := range compiled.Warnings {
		log.Warn("policy: "+w, "file", pol.File)
	}

	// Keys: the keys file, or an ephemeral ES256 key.
	var ks *keys.Set
	if pol.Keys != "" {
		if ks, err = keys.LoadFile(pol.Keys); err != nil {
			fmt.Fprintf(stderr, "tokex: refusing to start: %v\n", err)
			return 1
		}
	} else {
		if ks, err = keys.Generate(keys.ES256); err != nil {
			fmt.Fprintf(stderr, "tokex: %v\n", err)
			return 1
		}
		msg := "no keys file configured: signing with an ephemeral ES256 key that changes on every restart, so tokens do not survive a restart and replicas disagree. Set keys in the policy file or TOKEX_KEYS."
		fmt.Fprintln(stderr, "tokex: WARNING: "+msg)
		log.Warn(msg, "kid", ks.Active().KID)
	}
	tracing, err := telemetry.NewTracing(ctx, version)
	if err != nil {
		fmt.Fprintf(stderr, "tokex: tracing: %v\n", err)
		return 1
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tracing.Shutdown(sctx)
	}()
	otel.SetTracerProvider(tracing.Provider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	metrics, err := telemetry.NewMetrics(ctx, version)
	if err != nil {
		fmt.Fprintf(stderr, "tokex: metrics: %v\n", err)
		return 1
	}
	defer func() { _ = metrics.Shutdown(context.Background()) }()
	otel.SetMeterProvider(metrics.Provider)

	nonceSecret, err := env.DPoPNonceSecret()
	if err != nil {
		fmt.Fprintf(stderr, "tokex: refusing to start: %v\n", err)
		return 1
	}
	shared, err := openStore(env, pol, log, tracing.Provider, metrics.Provider)
	if err != nil {
		fmt.Fprintf(stderr, "tokex: refusing to start: %v\n", err)
		return 1
	}
	if shared != nil {
		defer func() { _ = shared.Close() }() // after a.Close (deferred later, so run earlier)
	}
	if nonceSecret == nil && pol.UsesDPoPNonces() {
		log.Warn("DPoP nonces are required but TOKEX_DPOP_NONCE_SECRET_FILE is not set: nonces are keyed by a random secret of this process, so replicas do not accept each other's nonces and a restart invalidates them")
	}
	ao := app.Options{Policy: compiled, Keys: ks, Logger: log, Audit: logs.Audit, TracerProvider: tracing.Provider,
		MeterProvider: metrics.Provider, MaxBodyBytes: env.MaxBodyBytes,
		Store: shared, RateLimitFailClosed: env.RedisRateLimitFailure == config.FailClosed,
		DPoPNonceSecret: nonceSecret, ClientCerts: clientCerts,
		// RFC 8705 §3.3: tokens are bound when client certificates can arrive.
		CertBoundTokens: (tlsCfg != nil && tlsCfg.ClientAuth != tls.NoClientCert) || env.ClientCertHeader != ""}
	clientCerts.Logger = log
	if idp != nil {
		ao.Demo = idp.ServeToken
	}
	a := app.New(ao)
	defer a.Close()
	if !a.WaitReady(ctx, 3*time.Second) {
		log.Warn("some upstream issuers' keys are not loaded yet; exchanges for them answer 503 until they are", "issuers", a.Issuers().Status())
	}

	srv := &http.Server{
		Addr:              env.Addr,
		Handler:           a.Handler,
		ReadHeaderTimeout: env.ReadHeaderTimeout,
		ReadTimeout:       env.ReadTimeout,
		WriteTimeout:      env.WriteTimeout,
		IdleTimeout:       env.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", env.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "tokex: listen on %s: %v\n", env.Addr, err)
		return 1
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	var admin *http.Server
	adminAddr := "off"
	if env.AdminAddr != "off" && env.AdminAddr != "" {
		aln, err := net.Listen("tcp", env.AdminAddr)
		if err != nil {
			_ = ln.Close()
			fmt.Fprintf(stderr, "tokex: admin listener on %s (TOKEX_ADMIN_ADDR; off disables it): %v\n", env.AdminAddr, err)
			return 1
		}
		adminAddr = aln.Addr().String()
		admin = &http.Server{
			Handler:           server.NewAdmin(metrics.Handler, a.Ready, env.AdminPprof),
			ReadHeaderTimeout: env.ReadHeaderTimeout,
			ReadTimeout:       env.ReadTimeout,
			WriteTimeout:      env.WriteTimeout,
			IdleTimeout:       env.IdleTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		go func() { _ = admin.Serve(aln) }()
	}
	// Reload the policy and keys files on change and on SIGHUP (issue 6).
	rl := reload.New(reload.Options{App: a, PolicyFile: env.Config, Overrides: overrides, KeysFile: pol.Keys,
		Logger: log, Interval: env.ReloadInterval})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	rctx, stopReload := context.WithCancel(ctx)
	reloading := make(chan struct{})
	go func() { defer close(reloading); rl.Run(rctx, hup) }()
	defer func() { stopReload(); <-reloading }() // before a.Close: a reload must not race it

	log.Info("tokex listening", "addr", ln.Addr().String(), "admin_addr", adminAddr, "issuer", pol.Issuer, "tls", tlsCfg != nil, "policy", policyName(pol), "rules", len(compiled.Rules), "active_kid", ks.Active().KID, "version", version, "trace_export", tracing.Exporting)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("server stopped", "error", err)
		return 1
	case <-ctx.Done():
	}
	a.Stopping()
	if env.ShutdownDelay > 0 {
		// Readiness is false now; keep serving while load balancers notice.
		log.Info("shutting down: not ready, still serving", "delay", env.ShutdownDelay.String())
		time.Sleep(env.ShutdownDelay)
	}
	log.Info("shutting down: finishing in-flight requests", "grace", env.ShutdownGrace.String())
	sctx, cancel2 := context.WithTimeout(context.Background(), env.ShutdownGrace)
	defer cancel2()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("shutdown", "error", err)
		return 1
	}
	if admin != nil {
		_ = admin.Shutdown(sctx) // after the public listener: probes see "not ready" until the end
	}
	return 0
}

// openStore connects the shared store of TOKEX_REDIS_URL, or returns nil and
// says what does not hold across replicas without one.
func openStore(env config.Env, pol *config.Policy, log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider) (*store.Client, error) {
	if env.RedisURL == "" {
		if needs := app.NeedsSharedState(pol); len(needs) > 0 {
			log.Warn("TOKEX_REDIS_URL is not set: replicas do not share replay or rate state; with more than one replica these do not hold across them: "+strings.Join(needs, "; "), "needs_shared_state", needs)
		} else {
			log.Info("TOKEX_REDIS_URL is not set: replay and rate state stay in this process (this policy needs no shared state)")
		}
		return nil, nil
	}
	redis.SetLogger(store.LibraryLogger(log)) // go-redis logs every failed dial; tokex rate-limits its own
	st, err := store.Open(store.Options{URL: env.RedisURL, PasswordFile: env.RedisPasswordFile, Mode: env.RedisMode,
		Prefix: env.RedisKeyPrefix, DialTimeout: env.RedisDialTimeout, Timeout: env.RedisTimeout, Logger: log,
		Meter: mp.Meter("github.com/tokex/tokex/internal/store"), Tracer: tp.Tracer("github.com/tokex/tokex/internal/store")})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), env.RedisDialTimeout+env.RedisTimeout)
	defer cancel()
	if err := st.Check(ctx); err != nil {
		// Not fatal: the store may come up after tokex. Replay checks fail
		// closed and rate limits follow TOKEX_REDIS_RATE_LIMIT_FAILURE meanwhile.
		log.Warn("shared store not reachable yet; go-redis keeps redialling", "store", st.Redacted(), "error", err)
	} else {
		log.Info("shared store connected: replay checks and rate limits hold across replicas", "store", st.Redacted(), "mode", env.RedisMode, "key_prefix", env.RedisKeyPrefix)
	}
	return st, nil
}

func port(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil || p == "" || p == "0" {
		return "8080"
	}
	return p
}

func policyName(p *config.Policy) string {
	if p.File == "" {
		return "embedded demo"
	}
	return strings.TrimSpace(p.File)
}
