// Package tuning holds the runtime settings tokex chooses for itself.
//
// tokex is CPU-bound with a small heap (tens of MiB): at Go's default GOGC=100
// the collector runs every few hundred exchanges and costs about a third of the
// non-cryptographic work of one. A larger GC target trades a few MiB of heap
// for that CPU. The operator's GOGC always wins, and GOMEMLIMIT still bounds
// the heap (the runtime collects sooner near the limit).
package tuning

import "runtime/debug"

// DefaultGCPercent is the GC target tokex uses when GOGC is not set.
const DefaultGCPercent = 400

// GC sets the GC target to DefaultGCPercent unless getenv("GOGC") is set. When
// it applies, it returns the previous target, to restore it with
// debug.SetGCPercent.
func GC(getenv func(string) string) (previous int, applied bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return debug.SetGCPercent(DefaultGCPercent), true
}
