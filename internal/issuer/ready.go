package issuer

import (
	"context"
	"time"
)

// Loaded lists the issuers whose keys are loaded (possibly stale, if their
// last refresh failed): the ones that can verify tokens now.
func (r *Registry) Loaded() []string {
	var out []string
	for _, v := range r.list {
		if v.kf.Load() != nil {
			out = append(out, v.cfg.Name)
		}
	}
	return out
}

// WaitLoaded waits until the named issuers' keys (nil: every issuer's) are
// loaded or ctx ends; it reports whether they all are. Names the registry
// does not have are ignored.
func (r *Registry) WaitLoaded(ctx context.Context, names []string) bool {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	for {
		ready := true
		for _, v := range r.list {
			if (names == nil || want[v.cfg.Name]) && v.kf.Load() == nil {
				ready = false
			}
		}
		if ready {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}
