package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/policy"
)

// MetricReloads counts reloads of the policy and keys files, by tokex.reload
// (policy, keys) and tokex.result (ok, error).
const MetricReloads = "tokex.reloads"

// RetireAfter is how long a replaced issuer registry keeps running after a
// policy swap: exchanges that started with the old policy finish with it.
// Longer than any request may take (TOKEX_WRITE_TIMEOUT is at most 10m, but
// verification itself takes milliseconds; only a key fetch can take seconds).
const RetireAfter = 30 * time.Second

// SwapPolicy replaces the running policy with p, atomically: an exchange runs
// entirely with the old policy or entirely with the new one.
//
// The new policy's issuers get a fresh registry. So that a reload never turns
// working exchanges into 503s, it is swapped in only once every issuer whose
// keys are loaded now (and which the new policy keeps) has its keys loaded in
// the new registry too; if that takes longer than warm, the old policy stays.
// The issuer URL cannot change without a restart: it is in every minted token,
// the metadata and the routes.
func (a *App) SwapPolicy(ctx context.Context, p *policy.Policy, warm time.Duration) error {
	src := p.Source
	if src.Issuer != a.issuer {
		return fmt.Errorf("issuer changed from %q to %q: restart tokex to change its issuer URL", a.issuer, src.Issuer)
	}
	old := a.Issuers()
	reg := issuer.NewRegistry(src.Issuers, a.issuerOpts)
	var keep []string
	for _, name := range old.Loaded() {
		if slices.ContainsFunc(src.Issuers, func(i config.Issuer) bool { return i.Name == name }) {
			keep = append(keep, name)
		}
	}
	ok := true
	if len(keep) > 0 { // WaitLoaded(nil) would wait for every issuer
		wctx, cancel := context.WithTimeout(ctx, warm)
		ok = reg.WaitLoaded(wctx, keep)
		cancel()
	}
	if !ok {
		missing := slices.DeleteFunc(slices.Clone(keep), func(n string) bool { return slices.Contains(reg.Loaded(), n) })
		reg.Close()
		return fmt.Errorf("the keys of issuer(s) %v could not be fetched within %s; keeping the running policy so their exchanges keep working", missing, warm)
	}
	if needs := NeedsSharedState(src); a.store == nil && a.logger != nil && len(needs) > 0 && len(NeedsSharedState(a.Service.State().Policy.Source)) < len(needs) {
		a.logger.Warn("the reloaded policy needs shared state and TOKEX_REDIS_URL is not set: with more than one replica these do not hold across them: "+strings.Join(needs, "; "), "needs_shared_state", needs)
	}
	prev := a.Service.State()
	a.Service.SetState(a.newState(p, reg))
	a.registry.Store(reg)
	a.retire(old.Close, prev.Clients.Close)
	return nil
}

// SwapKeys replaces the key set atomically: an exchange signs with one set's
// active key, and the JWKS endpoint serves one set's document.
func (a *App) SwapKeys(ks *keys.Set) {
	prev := a.Keys.Swap(ks)
	if prev == nil || prev.Active().KID != ks.Active().KID {
		now := time.Now()
		a.keysAt.Store(&now)
	}
}

// CountReload records the result of one reload attempt in MetricReloads.
func (a *App) CountReload(what string, err error) {
	if a.reloads == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	a.reloads.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("tokex.reload", what), attribute.String("tokex.result", result)))
}

// retire closes replaced registries once the exchanges that may still use
// them are done, or when the App closes.
func (a *App) retire(closers ...func()) {
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		t := time.NewTimer(RetireAfter)
		defer t.Stop()
		select {
		case <-t.C:
		case <-a.done:
		}
		for _, c := range closers {
			c()
		}
	}()
}
