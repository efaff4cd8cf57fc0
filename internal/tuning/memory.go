package tuning

import (
	"errors"
	"math"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

const (
	// MemoryHeadroom is what a container needs beside the Go runtime's own
	// memory, which is all GOMEMLIMIT bounds: the binary's resident pages
	// (about 25 MiB) and the rest of the process.
	MemoryHeadroom = 32 << 20
	// MinMemoryLimit is the lowest soft limit tokex sets: below it the GC runs
	// almost without pause (at 12 MiB an exchange costs eight times the CPU).
	MinMemoryLimit = 16 << 20
)

// MemoryLimit sets the Go runtime's soft memory limit from the container's
// memory limit unless GOMEMLIMIT is set: the limit less MemoryHeadroom, and
// at least MinMemoryLimit. containerLimit reads the limit (memlimit.FromCgroup
// reads cgroup v1 and v2). It returns the container limit and the soft limit
// in force; applied is false when GOMEMLIMIT is set or nothing limits the
// container's memory, and err is a limit that could not be read.
func MemoryLimit(getenv func(string) string, containerLimit func() (uint64, error)) (limit, soft int64, applied bool, err error) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, 0, false, nil
	}
	l, err := containerLimit()
	switch {
	case errors.Is(err, memlimit.ErrNoLimit), errors.Is(err, memlimit.ErrNoCgroup), errors.Is(err, memlimit.ErrCgroupsNotSupported):
		return 0, 0, false, nil
	case err != nil:
		return 0, 0, false, err
	case l > math.MaxInt64:
		return 0, 0, false, nil
	}
	limit = int64(l)
	debug.SetMemoryLimit(max(limit-MemoryHeadroom, MinMemoryLimit))
	return limit, debug.SetMemoryLimit(-1), true, nil
}
