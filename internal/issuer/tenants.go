package issuer

import (
	"container/list"
	"context"
	"strings"
	"sync"

	"golang.org/x/time/rate"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/jws"
)

// template is an issuer whose issuer_url holds {tenantid}
// (https://login.microsoftonline.com/{tenantid}/v2.0). It is routed by the
// exact text before and after the placeholder; the value in between is
// matched literally and must equal the token's tid claim.
type template struct {
	cfg            config.Issuer
	prefix, suffix string
	any            bool            // tenants: ["*"]
	tenants        map[string]bool // the listed tenants
	shared         *verifier       // keys that do not depend on the tenant
	listed         map[string]*verifier
	lazy           *tenantCache // any tenant, keys per tenant
}

// DefaultMaxTenants bounds the per-tenant key sets a tenants: ["*"] issuer
// with per-tenant keys keeps; the least recently used is dropped beyond it.
const DefaultMaxTenants = 1000

// New tenants of a tenants: ["*"] issuer cost a discovery and JWKS fetch each:
// at most this many per second (burst newTenantBurst), so tokens naming made-up
// tenants cannot turn tokex into a request flood against the IdP.
const (
	newTenantRate  = 10
	newTenantBurst = 20
)

// perTenantKeys: the keys come from a jwks_uri with {tenantid} or from each
// tenant's own discovery document.
func perTenantKeys(cfg config.Issuer) bool {
	if cfg.JWKS != nil || cfg.JWKSFile != "" {
		return false
	}
	return cfg.JWKSURI == "" || config.IsTemplate(cfg.JWKSURI)
}

// tenantConfig is the issuer config of one tenant of a template.
func tenantConfig(cfg config.Issuer, tenant string) config.Issuer {
	cfg.IssuerURL = config.ExpandTemplate(cfg.IssuerURL, tenant)
	cfg.JWKSURI = config.ExpandTemplate(cfg.JWKSURI, tenant)
	return cfg
}

func (r *Registry) addTemplate(c config.Issuer, s *setup) {
	i := strings.Index(c.IssuerURL, config.TenantPlaceholder)
	t := &template{cfg: c, prefix: c.IssuerURL[:i], suffix: c.IssuerURL[i+len(config.TenantPlaceholder):], tenants: map[string]bool{}}
	t.any = len(c.Tenants) == 1 && c.Tenants[0] == config.AnyTenant
	for _, tn := range c.Tenants {
		t.tenants[tn] = true
	}
	switch {
	case !perTenantKeys(c):
		t.shared = newVerifier(r.ctx, r, c, s, c.Name)
		r.list = append(r.list, t.shared)
	case t.any:
		t.lazy = &tenantCache{max: r.opts.MaxTenants, entries: map[string]*list.Element{}, order: list.New(),
			limit: rate.NewLimiter(newTenantRate, newTenantBurst), reg: r, tmpl: t, setup: s}
	default:
		t.listed = map[string]*verifier{}
		for _, tn := range c.Tenants {
			v := newVerifier(r.ctx, r, tenantConfig(c, tn), s, c.Name+"["+tn+"]")
			t.listed[tn] = v
			r.list = append(r.list, v)
		}
	}
	if _, ok := r.templates[t.prefix]; !ok && !containsInt(r.prefixLens, len(t.prefix)) {
		r.prefixLens = append(r.prefixLens, len(t.prefix))
	}
	r.templates[t.prefix] = append(r.templates[t.prefix], t)
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// matchTemplate finds the template iss belongs to, and its tenant value. It
// costs one map lookup per distinct prefix length, whatever the number of
// issuers and however long iss is.
func (r *Registry) matchTemplate(iss string) (*template, string) {
	for _, n := range r.prefixLens {
		if len(iss) <= n {
			continue
		}
		ts, ok := r.templates[iss[:n]]
		if !ok {
			continue
		}
		rest := iss[n:]
		value := rest
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			value = rest[:j]
		}
		for _, t := range ts {
			if rest[len(value):] == t.suffix {
				return t, value
			}
		}
	}
	return nil, ""
}

// verifierFor returns the verifier of tenant, after checking that tenant is
// one the template accepts. Refusals happen before any key is fetched.
func (t *template) verifierFor(tenant string) (*verifier, error) {
	if msg := config.CheckTenant(tenant); msg != "" {
		return nil, refuse(ReasonUntrustedIssuer, nil, "untrusted issuer: the iss does not name a valid tenant of issuer %q (%s)", t.cfg.Name, msg)
	}
	if !t.any && !t.tenants[tenant] {
		return nil, refuse(ReasonUntrustedIssuer, nil, "untrusted issuer: tenant %q is not one of the tenants issuer %q accepts", jws.Clip(tenant), t.cfg.Name)
	}
	switch {
	case t.shared != nil:
		return t.shared, nil
	case t.listed != nil:
		return t.listed[tenant], nil
	}
	return t.lazy.get(tenant)
}

// tenantCache holds the verifiers of the tenants seen by a tenants: ["*"]
// template with per-tenant keys, least recently used first out.
type tenantCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*list.Element // of *tenantEntry
	order   *list.List               // front: most recently used
	limit   *rate.Limiter
	reg     *Registry
	tmpl    *template
	setup   *setup
}

type tenantEntry struct {
	tenant string
	v      *verifier
	stop   context.CancelFunc
}

func (c *tenantCache) get(tenant string) (*verifier, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[tenant]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*tenantEntry).v, nil
	}
	if !c.limit.AllowN(c.reg.opts.Now(), 1) {
		return nil, refuse(ReasonKeysUnavailable, nil, "issuer %q is loading the keys of many new tenants; retry in a moment", c.tmpl.cfg.Name)
	}
	ctx, stop := context.WithCancel(c.reg.ctx)
	v := newVerifier(ctx, c.reg, tenantConfig(c.tmpl.cfg, tenant), c.setup, c.tmpl.cfg.Name+"["+tenant+"]")
	c.entries[tenant] = c.order.PushFront(&tenantEntry{tenant: tenant, v: v, stop: stop})
	for c.order.Len() > c.max {
		old := c.order.Back()
		e := old.Value.(*tenantEntry)
		e.stop() // ends its key refresh
		c.order.Remove(old)
		delete(c.entries, e.tenant)
	}
	return v, nil
}

// size is the number of tenants held.
func (c *tenantCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// entraV1Hint explains a v1.0 Entra ID token sent where a v2.0 issuer is
// configured: the iss differs (sts.windows.net), and so does every claim
// shape, so the fix is on the IdP side.
func (r *Registry) entraV1Hint(iss string) error {
	if r.entraV2 == "" || !strings.HasPrefix(iss, "https://sts.windows.net/") {
		return nil
	}
	return refuse(ReasonUntrustedIssuer, nil, "this is an Entra ID v1.0 token (iss %q); issuer %q accepts v2.0 tokens (iss https://login.microsoftonline.com/<tenant>/v2.0): set \"accessTokenAcceptedVersion\": 2 in the manifest of the API's app registration, then request a new token",
		jws.Clip(iss), r.entraV2)
}

func isEntraV2(u string) bool {
	return strings.HasPrefix(u, "https://login.microsoftonline.com/") && strings.HasSuffix(u, "/v2.0")
}
