package tuning

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func TestMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	const mib = 1 << 20
	readErr := errors.New("permission denied")
	for _, tc := range []struct {
		name      string
		env       string
		limit     uint64
		err       error
		applied   bool
		soft      int64
		wantError error
	}{
		{name: "64 MiB pod", limit: 64 * mib, applied: true, soft: 32 * mib},
		{name: "128 MiB pod", limit: 128 * mib, applied: true, soft: 96 * mib},
		{name: "256 MiB pod", limit: 256 * mib, applied: true, soft: 224 * mib},
		{name: "48 MiB pod", limit: 48 * mib, applied: true, soft: 16 * mib},
		{name: "too small: the floor", limit: 32 * mib, applied: true, soft: MinMemoryLimit},
		{name: "GOMEMLIMIT wins", env: "100MiB", limit: 64 * mib},
		{name: "no limit", err: memlimit.ErrNoLimit},
		{name: "not in a cgroup", err: fmt.Errorf("read: %w", memlimit.ErrNoCgroup)},
		{name: "no cgroups", err: memlimit.ErrCgroupsNotSupported},
		{name: "unreadable", err: readErr, wantError: readErr},
		{name: "larger than int64", limit: math.MaxUint64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			getenv := func(k string) string {
				if k == "GOMEMLIMIT" {
					return tc.env
				}
				return ""
			}
			limit, soft, applied, err := MemoryLimit(getenv, func() (uint64, error) { return tc.limit, tc.err })
			if !errors.Is(err, tc.wantError) || (tc.wantError == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantError)
			}
			if applied != tc.applied {
				t.Fatalf("applied %v, want %v", applied, tc.applied)
			}
			got := debug.SetMemoryLimit(-1)
			if !tc.applied {
				if got != math.MaxInt64 {
					t.Fatalf("runtime limit changed to %d", got)
				}
				return
			}
			if limit != int64(tc.limit) || soft != tc.soft || got != tc.soft {
				t.Fatalf("limit %d soft %d runtime %d, want %d %d %d", limit, soft, got, tc.limit, tc.soft, tc.soft)
			}
		})
	}
}
