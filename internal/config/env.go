package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Env holds the process settings of SPEC §2. Tests pass a map Lookuper.
type Env struct {
	Config   string `env:"TOKEX_CONFIG"`
	Addr     string `env:"TOKEX_ADDR, default=:8080"`
	Issuer   string `env:"TOKEX_ISSUER"`
	Keys     string `env:"TOKEX_KEYS"`
	LogLevel string `env:"TOKEX_LOG_LEVEL, default=info"`
	// AdminAddr is the admin listener (/metrics, /healthz, /readyz); "off" disables it.
	AdminAddr string `env:"TOKEX_ADMIN_ADDR, default=:9090"`
	// AdminPprof serves Go's CPU, heap and allocation profiles on the admin
	// listener (/debug/pprof/), never on the public one.
	AdminPprof bool `env:"TOKEX_ADMIN_PPROF, default=false"`

	// HTTP server limits (issue 6); safe defaults.
	ReadHeaderTimeout time.Duration `env:"TOKEX_READ_HEADER_TIMEOUT, default=5s"`
	ReadTimeout       time.Duration `env:"TOKEX_READ_TIMEOUT, default=10s"`
	WriteTimeout      time.Duration `env:"TOKEX_WRITE_TIMEOUT, default=15s"`
	IdleTimeout       time.Duration `env:"TOKEX_IDLE_TIMEOUT, default=90s"`
	MaxBodyBytes      int64         `env:"TOKEX_MAX_BODY_BYTES, default=65536"`
	// ShutdownGrace bounds how long in-flight requests may finish after SIGTERM.
	ShutdownGrace time.Duration `env:"TOKEX_SHUTDOWN_GRACE, default=15s"`
	// ShutdownDelay keeps serving, with readiness false, for this long after
	// SIGTERM before draining: time for load balancers to stop sending.
	ShutdownDelay time.Duration `env:"TOKEX_SHUTDOWN_DELAY, default=0s"`
	// ReloadInterval is how often the policy and keys files are checked for
	// changes; 0 checks only on SIGHUP.
	ReloadInterval time.Duration `env:"TOKEX_RELOAD_INTERVAL, default=5s"`
	// AuditFlush: audit events are written out together at least this often
	// (and when 32 KiB are pending); 0 writes each at once. A crash loses at
	// most what is pending; a graceful stop loses nothing.
	AuditFlush time.Duration `env:"TOKEX_AUDIT_FLUSH, default=100ms"`

	// HTTPS (issue 3): certificate and key PEM files; with both set the public
	// listener serves TLS. TLSClientCA is a PEM bundle of the CAs whose client
	// certificates tls_client_auth accepts.
	TLSCert     string `env:"TOKEX_TLS_CERT"`
	TLSKey      string `env:"TOKEX_TLS_KEY"`
	TLSClientCA string `env:"TOKEX_TLS_CLIENT_CA"`

	// DPoPNonceSecretFile holds the key of DPoP nonces (RFC 9449 §8): every
	// replica reads the same one, so each accepts the others' nonces.
	DPoPNonceSecretFile string `env:"TOKEX_DPOP_NONCE_SECRET_FILE"`

	// Behind a TLS-terminating proxy (RFC 8705): the header the proxy
	// forwards the client certificate in, read only from peers in
	// TrustedProxies (comma-separated CIDRs or addresses).
	ClientCertHeader string `env:"TOKEX_CLIENT_CERT_HEADER"`
	TrustedProxies   string `env:"TOKEX_TRUSTED_PROXIES"`

	// Shared state of several replicas (issue 13): the replay cache and the
	// rate limits in Redis/Valkey. RedisURL unset: both stay in the process.
	RedisURL          string `env:"TOKEX_REDIS_URL"`           // redis:// or rediss://; may hold user and password
	RedisPasswordFile string `env:"TOKEX_REDIS_PASSWORD_FILE"` // overrides the URL's password
	// RedisMode picks go-redis's URL form: single, sentinel (master_name and
	// addr query parameters) or cluster (addr query parameters).
	RedisMode        string        `env:"TOKEX_REDIS_MODE, default=single"`
	RedisKeyPrefix   string        `env:"TOKEX_REDIS_KEY_PREFIX, default=tokex:"`
	RedisDialTimeout time.Duration `env:"TOKEX_REDIS_DIAL_TIMEOUT, default=1s"`
	RedisTimeout     time.Duration `env:"TOKEX_REDIS_TIMEOUT, default=500ms"` // read and write, per call
	// RedisRateLimitFailure: open lets exchanges through unlimited while the
	// store is down, closed refuses them (503). Replay checks always fail closed.
	RedisRateLimitFailure string `env:"TOKEX_REDIS_RATE_LIMIT_FAILURE, default=open"`
}

// Values of TOKEX_REDIS_RATE_LIMIT_FAILURE.
const (
	FailOpen   = "open"
	FailClosed = "closed"
)

// Bounds of the HTTP settings.
const (
	MinBodyBytes = 4 << 10 // room for one large token and the other parameters
	MaxBodyLimit = 1 << 20
	MaxTimeout   = 10 * time.Minute
	// MaxAuditFlush bounds TOKEX_AUDIT_FLUSH: the events a crash may lose.
	MaxAuditFlush = 10 * time.Second
)

// LoadEnv reads Env through l (envconfig.OsLookuper() in production).
func LoadEnv(ctx context.Context, l envconfig.Lookuper) (Env, error) {
	var e Env
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &e, Lookuper: l}); err != nil {
		return Env{}, fmt.Errorf("read environment: %w", err)
	}
	if _, err := e.Level(); err != nil {
		return Env{}, err
	}
	if err := e.validateHTTP(); err != nil {
		return Env{}, err
	}
	if err := e.validateTLS(); err != nil {
		return Env{}, err
	}
	if err := e.validateRedis(); err != nil {
		return Env{}, err
	}
	return e, nil
}

func (e Env) validateHTTP() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"TOKEX_READ_HEADER_TIMEOUT", e.ReadHeaderTimeout}, {"TOKEX_READ_TIMEOUT", e.ReadTimeout},
		{"TOKEX_WRITE_TIMEOUT", e.WriteTimeout}, {"TOKEX_IDLE_TIMEOUT", e.IdleTimeout},
	} {
		if d.v <= 0 || d.v > MaxTimeout {
			errs = append(errs, fmt.Errorf("%s: %s must be more than 0 and at most %s", d.name, d.v, MaxTimeout))
		}
	}
	if e.ShutdownGrace < 0 || e.ShutdownGrace > MaxTimeout {
		errs = append(errs, fmt.Errorf("TOKEX_SHUTDOWN_GRACE: %s must be between 0 and %s", e.ShutdownGrace, MaxTimeout))
	}
	if e.ShutdownDelay < 0 || e.ShutdownDelay > MaxTimeout {
		errs = append(errs, fmt.Errorf("TOKEX_SHUTDOWN_DELAY: %s must be between 0 and %s", e.ShutdownDelay, MaxTimeout))
	}
	if e.ReloadInterval != 0 && (e.ReloadInterval < 100*time.Millisecond || e.ReloadInterval > MaxTimeout) {
		errs = append(errs, fmt.Errorf("TOKEX_RELOAD_INTERVAL: %s must be 0 (SIGHUP only) or between 100ms and %s", e.ReloadInterval, MaxTimeout))
	}
	if e.AuditFlush < 0 || e.AuditFlush > MaxAuditFlush {
		errs = append(errs, fmt.Errorf("TOKEX_AUDIT_FLUSH: %s must be between 0 (no buffering) and %s", e.AuditFlush, MaxAuditFlush))
	}
	if e.MaxBodyBytes < MinBodyBytes || e.MaxBodyBytes > MaxBodyLimit {
		errs = append(errs, fmt.Errorf("TOKEX_MAX_BODY_BYTES: %d must be between %d and %d", e.MaxBodyBytes, MinBodyBytes, MaxBodyLimit))
	}
	return errors.Join(errs...)
}

// Level parses LogLevel.
func (e Env) Level() (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(e.LogLevel)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("TOKEX_LOG_LEVEL: %q is not one of debug, info, warn, error", e.LogLevel)
}

func (e Env) validateTLS() error {
	switch {
	case (e.TLSCert == "") != (e.TLSKey == ""):
		return errors.New("TOKEX_TLS_CERT and TOKEX_TLS_KEY: set both to serve HTTPS, or neither")
	case e.TLSClientCA != "" && e.TLSCert == "" && e.ClientCertHeader == "":
		return errors.New("TOKEX_TLS_CLIENT_CA needs TOKEX_TLS_CERT and TOKEX_TLS_KEY (client certificates are only seen over HTTPS), or TOKEX_CLIENT_CERT_HEADER behind a TLS-terminating proxy")
	case e.ClientCertHeader != "" && strings.TrimSpace(e.TrustedProxies) == "":
		return errors.New("TOKEX_CLIENT_CERT_HEADER needs TOKEX_TRUSTED_PROXIES: the header is believed only from the proxies that set it")
	}
	if _, err := e.Proxies(); err != nil {
		return err
	}
	return nil
}

func (e Env) validateRedis() error {
	var errs []error
	if e.RedisURL == "" {
		if e.RedisPasswordFile != "" {
			errs = append(errs, errors.New("TOKEX_REDIS_PASSWORD_FILE needs TOKEX_REDIS_URL"))
		}
		return errors.Join(errs...)
	}
	if !strings.HasPrefix(e.RedisURL, "redis://") && !strings.HasPrefix(e.RedisURL, "rediss://") {
		errs = append(errs, errors.New("TOKEX_REDIS_URL: must start with redis:// or rediss:// (TLS)"))
	}
	switch e.RedisMode {
	case "single", "sentinel", "cluster":
	default:
		errs = append(errs, fmt.Errorf("TOKEX_REDIS_MODE: %q is not one of single, sentinel, cluster", e.RedisMode))
	}
	switch e.RedisRateLimitFailure {
	case FailOpen, FailClosed:
	default:
		errs = append(errs, fmt.Errorf("TOKEX_REDIS_RATE_LIMIT_FAILURE: %q is not open or closed", e.RedisRateLimitFailure))
	}
	if e.RedisKeyPrefix == "" {
		errs = append(errs, errors.New("TOKEX_REDIS_KEY_PREFIX: must not be empty"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"TOKEX_REDIS_DIAL_TIMEOUT", e.RedisDialTimeout}, {"TOKEX_REDIS_TIMEOUT", e.RedisTimeout}} {
		if d.v <= 0 || d.v > time.Minute {
			errs = append(errs, fmt.Errorf("%s: %s must be more than 0 and at most 1m", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}
