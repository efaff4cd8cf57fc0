package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Modes name go-redis's URL parsers: one server (redis.ParseURL), Sentinel
// (redis.ParseFailoverURL: master_name and addr query parameters) and Cluster
// (redis.ParseClusterURL: addr query parameters).
const (
	ModeSingle   = "single"
	ModeSentinel = "sentinel"
	ModeCluster  = "cluster"
)

// DefaultPrefix starts every key tokex writes.
const DefaultPrefix = "tokex:"

// Metric names, in the style of tokex.exchange.duration.
const (
	MetricDuration = "tokex.store.duration"  // round trip, by tokex.store.operation
	MetricErrors   = "tokex.store.errors"    // failed calls, by tokex.store.operation
	MetricFailOpen = "tokex.store.fail_open" // calls answered without the store, by tokex.store.operation
	AttrOperation  = "tokex.store.operation"
)

// Options build a Client.
type Options struct {
	URL          string // redis:// or rediss:// (TLS); user and password may be in it
	PasswordFile string // read at Open; overrides the URL's password
	Mode         string // ModeSingle (default), ModeSentinel, ModeCluster
	Prefix       string // default DefaultPrefix
	DialTimeout  time.Duration
	Timeout      time.Duration // read and write timeout of one call
	Logger       *slog.Logger
	Meter        metric.Meter     // nil: no metrics
	Tracer       trace.Tracer     // nil: no spans
	Now          func() time.Time // default time.Now; for the log limiter
	LogEvery     time.Duration    // at most one failure line per operation per LogEvery; default 10s
	Hooks        []redis.Hook     // extra go-redis hooks (tests observe commands with them)
}

// Client is the shared store: a go-redis client with tokex's observability.
type Client struct {
	redis.UniversalClient
	prefix   string
	redacted string
	log      *slog.Logger
	tracer   trace.Tracer
	now      func() time.Time
	every    time.Duration
	duration metric.Float64Histogram
	errs     metric.Int64Counter
	failOpen metric.Int64Counter

	mu     sync.Mutex
	logged map[string]*suppressed // by operation
	sets   sync.Map               // operation -> metric.MeasurementOption, built once
}

type suppressed struct {
	at      time.Time
	dropped int
}

// Open builds the client. It does not wait for the server: go-redis dials on
// demand and redials with backoff, so a store that is down at start is the
// same failure as one that goes down later.
func Open(o Options) (*Client, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LogEvery <= 0 {
		o.LogEvery = 10 * time.Second
	}
	if o.Tracer == nil {
		o.Tracer = noop.NewTracerProvider().Tracer("")
	}
	redacted := Redact(o.URL)
	uo, err := universal(o)
	if err != nil {
		return nil, fmt.Errorf("TOKEX_REDIS_URL %s: %w", redacted, err)
	}
	c := &Client{UniversalClient: redis.NewUniversalClient(uo), prefix: o.Prefix, redacted: redacted,
		log: o.Logger, tracer: o.Tracer, now: o.Now, every: o.LogEvery, logged: map[string]*suppressed{}}
	if o.Meter != nil {
		c.duration, _ = o.Meter.Float64Histogram(MetricDuration, metric.WithUnit("s"),
			metric.WithDescription("Round trip of one call to the shared store, by tokex.store.operation"),
			metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
		c.errs, _ = o.Meter.Int64Counter(MetricErrors, metric.WithUnit("{call}"),
			metric.WithDescription("Calls to the shared store that failed, by tokex.store.operation"))
		c.failOpen, _ = o.Meter.Int64Counter(MetricFailOpen, metric.WithUnit("{call}"),
			metric.WithDescription("Checks let through without the shared store (fail open), by tokex.store.operation"))
	}
	return c, nil
}

// universal turns the URL into go-redis options with tokex's timeouts: one
// retry (a pooled connection may be stale after the server restarts), one
// redial, and
// context deadlines honoured so a slow store cannot hold a request longer
// than Timeout.
func universal(o Options) (*redis.UniversalOptions, error) {
	if o.URL == "" {
		return nil, errors.New("is empty")
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, errors.New("is not a URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("scheme %q: use redis:// or rediss:// (TLS)", u.Scheme)
	}
	var uo redis.UniversalOptions
	switch o.Mode {
	case "", ModeSingle:
		ro, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, scrub(err, o.URL)
		}
		uo = redis.UniversalOptions{Addrs: []string{ro.Addr}, DB: ro.DB, Username: ro.Username, Password: ro.Password,
			TLSConfig: ro.TLSConfig, Protocol: ro.Protocol, ClientName: ro.ClientName, PoolSize: ro.PoolSize}
	case ModeSentinel:
		fo, err := redis.ParseFailoverURL(o.URL)
		if err != nil {
			return nil, scrub(err, o.URL)
		}
		if fo.MasterName == "" {
			return nil, errors.New("sentinel mode needs the master_name query parameter")
		}
		// The URL's user and password are the Sentinels'; the master's are the same here.
		uo = redis.UniversalOptions{Addrs: fo.SentinelAddrs, MasterName: fo.MasterName, DB: fo.DB,
			SentinelUsername: fo.SentinelUsername, SentinelPassword: fo.SentinelPassword,
			Username: fo.SentinelUsername, Password: fo.SentinelPassword, TLSConfig: fo.TLSConfig, PoolSize: fo.PoolSize}
	case ModeCluster:
		co, err := redis.ParseClusterURL(o.URL)
		if err != nil {
			return nil, scrub(err, o.URL)
		}
		uo = redis.UniversalOptions{Addrs: co.Addrs, Username: co.Username, Password: co.Password,
			TLSConfig: co.TLSConfig, PoolSize: co.PoolSize, IsClusterMode: true}
	default:
		return nil, fmt.Errorf("mode %q: use single, sentinel or cluster", o.Mode)
	}
	if o.PasswordFile != "" {
		b, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("TOKEX_REDIS_PASSWORD_FILE: %w", err)
		}
		uo.Password = strings.TrimRight(string(b), "\r\n")
		if o.Mode == ModeSentinel {
			uo.SentinelPassword = uo.Password
		}
	}
	uo.DialTimeout, uo.ReadTimeout, uo.WriteTimeout = o.DialTimeout, o.Timeout, o.Timeout
	uo.PoolTimeout = o.Timeout + o.DialTimeout
	uo.ContextTimeoutEnabled = true
	uo.MaxRetries = 1
	// go-redis redials 5 times, 100ms apart, per call by default: with the
	// store down every exchange that needs it would wait most of a second.
	// One quick redial; reconnecting is left to the next call.
	uo.DialerRetries, uo.DialerRetryTimeout = 1, 10*time.Millisecond
	uo.DisableIdentity = true // CLIENT SETINFO: Redis 7.2+ only
	uo.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return &uo, nil
}

// scrub keeps a parse error from carrying the URL (and its password).
func scrub(err error, raw string) error {
	msg := err.Error()
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, Redact(raw))
	}
	if u, perr := url.Parse(raw); perr == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return errors.New(msg)
}

// Redact is the URL with its password replaced, for logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Redacted is the store's URL without its password.
func (c *Client) Redacted() string { return c.redacted }

// Key is Prefix + namespace + ":" + the SHA-256 of id (base64url): a key
// never holds a raw identifier, token or secret, and has a fixed length.
func (c *Client) Key(namespace, id string) string {
	sum := sha256.Sum256([]byte(id))
	return c.prefix + namespace + ":" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Observe starts one store call: a span named "tokex.store "+op, and, at the
// returned func, its round trip and any error.
func (c *Client) Observe(ctx context.Context, op string) (context.Context, func(error)) {
	ctx, span := c.tracer.Start(ctx, "tokex.store "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String(AttrOperation, op), attribute.String("db.system.name", "redis")))
	start := c.now()
	return ctx, func(err error) {
		set := c.set(op)
		if c.duration != nil {
			c.duration.Record(ctx, c.now().Sub(start).Seconds(), set)
		}
		if err != nil {
			span.SetStatus(codes.Error, "store call failed")
			if c.errs != nil {
				c.errs.Add(ctx, 1, set)
			}
			c.warn(op, op, "shared store call failed", "error", err)
		}
		span.End()
	}
}

// set is the metric attributes of op (a constant of the callers: bounded).
func (c *Client) set(op string) metric.MeasurementOption {
	if v, ok := c.sets.Load(op); ok {
		return v.(metric.MeasurementOption)
	}
	v, _ := c.sets.LoadOrStore(op, metric.WithAttributeSet(attribute.NewSet(attribute.String(AttrOperation, op))))
	return v.(metric.MeasurementOption)
}

// FailOpen records a check let through because the store failed.
func (c *Client) FailOpen(ctx context.Context, op string) {
	if c.failOpen != nil {
		c.failOpen.Add(ctx, 1, c.set(op))
	}
	c.warn(op+":fail_open", op, "shared store unavailable: check let through unchecked (fail open)")
}

// warn logs at most one line per key per LogEvery, saying how many it dropped.
func (c *Client) warn(key, op, msg string, args ...any) {
	now := c.now()
	c.mu.Lock()
	s := c.logged[key]
	if s != nil && now.Sub(s.at) < c.every {
		s.dropped++
		c.mu.Unlock()
		return
	}
	dropped := 0
	if s != nil {
		dropped = s.dropped
	}
	c.logged[key] = &suppressed{at: now}
	c.mu.Unlock()
	c.log.Warn(msg, append(args, "store", c.redacted, "operation", op, "suppressed", dropped)...)
}

// Check pings the store, for readiness.
func (c *Client) Check(ctx context.Context) error {
	ctx, done := c.Observe(ctx, "ping")
	err := c.Ping(ctx).Err()
	done(err)
	return err
}

// LibraryLogger routes go-redis's own log lines (one per failed dial, say,
// unthrottled) to log at debug level: tokex reports store failures itself,
// rate-limited. For redis.SetLogger, which is process-wide: only main calls it.
func LibraryLogger(log *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return libraryLogger{log}
}

type libraryLogger struct{ log *slog.Logger }

func (l libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+strings.TrimSpace(fmt.Sprintf(format, v...)))
}
