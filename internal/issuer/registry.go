package issuer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/jws"
)

// Options tune the registry; zero values take safe defaults.
type Options struct {
	Now                func() time.Time
	Logger             *slog.Logger
	Transport          http.RoundTripper // default: a clone of http.DefaultTransport
	HTTPTimeout        time.Duration     // per upstream request; default 5s
	RefreshInterval    time.Duration     // background JWKS refresh; default 1h
	UnknownKIDInterval time.Duration     // at most one refetch per interval for unknown kids; default 1m
	Meter              metric.Meter      // counts upstream requests (MetricUpstreamFetches); default none
	MinRefreshInterval time.Duration     // lower bound on an IdP's Cache-Control max-age; default 1m
	MaxRefreshInterval time.Duration     // upper bound on an IdP's Cache-Control max-age; default 24h
	MaxTenants         int               // per-tenant key sets of a tenants: ["*"] issuer; default DefaultMaxTenants
	// OnDemand skips fetching every issuer's keys at start: keys are fetched
	// when a token of that issuer is first checked (tokex explain).
	OnDemand bool
}

// MetricUpstreamFetches counts requests to upstream issuers (discovery and
// JWKS), by tokex.issuer and tokex.result (ok, error).
const MetricUpstreamFetches = "tokex.upstream.fetches"

// MetricUpstreamLastSuccess is the unix time of the last successful request
// to an upstream issuer (discovery or JWKS), by tokex.issuer: keys older than
// the refresh interval mean the issuer's refreshes are failing.
const MetricUpstreamLastSuccess = "tokex.upstream.last_success_timestamp"

// fetchCounter returns the counting function of one issuer's transport.
func (r *Registry) fetchCounter(name string) func(ok bool) {
	if r.fetches == nil {
		return func(bool) {}
	}
	okAttrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("tokex.issuer", name), attribute.String("tokex.result", "ok")))
	errAttrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("tokex.issuer", name), attribute.String("tokex.result", "error")))
	last, _ := r.lastOK.LoadOrStore(name, new(atomic.Int64))
	return func(ok bool) {
		if ok {
			last.(*atomic.Int64).Store(r.opts.Now().Unix())
			r.fetches.Add(context.Background(), 1, okAttrs)
		} else {
			r.fetches.Add(context.Background(), 1, errAttrs)
		}
	}
}

// MaxTokenBytes bounds a token before any parsing.
const MaxTokenBytes = 16 << 10

// Registry routes tokens to their issuer by exact iss.
type Registry struct {
	opts    Options
	byURL   map[string]*verifier
	list    []*verifier
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	fetches metric.Int64Counter // nil without a Meter
	lastOK  sync.Map            // issuer name -> *atomic.Int64, unix time of the last ok fetch
	unreg   metric.Registration // the last-success gauge's callback; nil without a Meter
	headers jws.HeaderCache

	templates       map[string][]*template // issuers with {tenantid}, by the text before it
	prefixLens      []int                  // distinct lengths of those prefixes
	entraV2         string                 // an issuer of Entra ID v2.0 tokens, for the v1.0 hint
	extraTransports []*http.Transport      // per-issuer transports (ca_file), closed on Close
}

// NewRegistry builds one verifier per trusted issuer and starts fetching their
// keys in the background. Close it to stop the refresh goroutines.
func NewRegistry(issuers []config.Issuer, opts Options) *Registry {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 5 * time.Second
		opts.Transport = t
	}
	if opts.HTTPTimeout <= 0 {
		opts.HTTPTimeout = 5 * time.Second
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = time.Hour
	}
	if opts.UnknownKIDInterval <= 0 {
		opts.UnknownKIDInterval = time.Minute
	}
	if opts.MinRefreshInterval <= 0 {
		opts.MinRefreshInterval = time.Minute
	}
	if opts.MaxRefreshInterval <= 0 {
		opts.MaxRefreshInterval = 24 * time.Hour
	}
	if opts.MaxTenants <= 0 {
		opts.MaxTenants = DefaultMaxTenants
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registry{opts: opts, byURL: map[string]*verifier{}, ctx: ctx, cancel: cancel, templates: map[string][]*template{}}
	if opts.Meter != nil {
		// The API hands back a working no-op counter along with any error.
		r.fetches, _ = opts.Meter.Int64Counter(MetricUpstreamFetches,
			metric.WithDescription("Requests to upstream issuers for discovery documents and JWKS"), metric.WithUnit("{request}"))
		last, _ := opts.Meter.Float64ObservableGauge(MetricUpstreamLastSuccess, metric.WithUnit("s"),
			metric.WithDescription("Unix time of the last successful request to an upstream issuer (discovery or JWKS)"))
		r.unreg, _ = opts.Meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			r.lastOK.Range(func(k, v any) bool {
				if t := v.(*atomic.Int64).Load(); t > 0 {
					o.ObserveFloat64(last, float64(t), metric.WithAttributes(attribute.String("tokex.issuer", k.(string))))
				}
				return true
			})
			return nil
		}, last)
	}
	for _, c := range issuers {
		s := r.newSetup(c)
		if isEntraV2(c.IssuerURL) && r.entraV2 == "" {
			r.entraV2 = c.Name
		}
		if config.IsTemplate(c.IssuerURL) {
			r.addTemplate(c, s)
			continue
		}
		v := newVerifier(ctx, r, c, s, c.Name)
		r.byURL[c.IssuerURL] = v
		r.list = append(r.list, v)
	}
	for _, v := range r.list {
		if opts.OnDemand {
			break
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			v.warm()
		}()
	}
	return r
}

// Close stops background fetching and waits for it.
func (r *Registry) Close() {
	r.cancel()
	if r.unreg != nil {
		_ = r.unreg.Unregister()
	}
	r.wg.Wait()
	// Keep-alive connections to the IdPs would outlive the registry otherwise.
	if t, ok := r.opts.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	for _, t := range r.extraTransports {
		t.CloseIdleConnections()
	}
}

// WaitReady waits until every issuer's keys are loaded or ctx ends; it reports
// whether all are loaded.
func (r *Registry) WaitReady(ctx context.Context) bool { return r.WaitLoaded(ctx, nil) }

// Status reports, per issuer name, "ok" or why its keys are not available.
func (r *Registry) Status() map[string]string {
	out := make(map[string]string, len(r.list))
	for _, v := range r.list {
		switch {
		case v.checks.err != nil:
			out[v.label] = "misconfigured: " + v.checks.err.Error()
		case v.kf.Load() == nil:
			out[v.label] = "keys not loaded"
		case v.fetch != nil && v.fetch.failing():
			out[v.label] = "last key fetch failed; serving cached keys"
		default:
			out[v.label] = "ok"
		}
	}
	for _, ts := range r.templates {
		for _, t := range ts {
			if t.lazy != nil {
				out[t.cfg.Name] = fmt.Sprintf("ok; keys of %d tenants loaded on demand", t.lazy.size())
			}
		}
	}
	return out
}

// Verify validates raw as a token of type tokenType (access_token, jwt or
// id_token) from one of the trusted issuers.
func (r *Registry) Verify(ctx context.Context, raw, tokenType string) (*Principal, error) {
	tok, parts, claims, err := r.decode(raw)
	if err != nil {
		return nil, err
	}
	v, tenant, err := r.route(claims)
	if err != nil {
		return nil, err
	}
	if tok.Method == nil || tok.Signature == nil {
		if err := v.checkAlg(tok); err != nil {
			return v.verify(ctx, tok, parts, claims, tokenType, tenant) // reports the algorithm
		}
		return nil, refuse(ReasonMalformed, jwt.ErrTokenUnverifiable, "the token's signature could not be decoded")
	}
	return v.verify(ctx, tok, parts, claims, tokenType, tenant)
}

// route chooses the issuer by the unverified iss: only to pick the keys and
// rules that the rest of the checks apply. tenant is the {tenantid} value of a
// template issuer's iss, "" otherwise.
func (r *Registry) route(claims *tokenClaims) (v *verifier, tenant string, err error) {
	if claims.Issuer == "" {
		return nil, "", refuse(ReasonUntrustedIssuer, nil, "the token has no iss claim, so its issuer cannot be trusted")
	}
	return r.routeIssuer(claims.Issuer)
}

// routeIssuer picks the issuer of iss: an exact issuer_url first, then a
// template.
func (r *Registry) routeIssuer(iss string) (v *verifier, tenant string, err error) {
	if v, ok := r.byURL[iss]; ok {
		return v, "", nil
	}
	if len(r.prefixLens) > 0 {
		if t, value := r.matchTemplate(iss); t != nil {
			v, err := t.verifierFor(value)
			return v, value, err
		}
	}
	if err := r.entraV1Hint(iss); err != nil {
		return nil, "", err
	}
	return nil, "", refuse(ReasonUntrustedIssuer, nil, "untrusted issuer %q: not one of the issuers in tokex's policy", jws.Clip(iss))
}
