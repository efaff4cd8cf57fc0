package tuning_test

import (
	"runtime/debug"
	"testing"

	"github.com/tokex/tokex/internal/tuning"
)

func TestGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)

	if _, applied := tuning.GC(func(string) string { return "150" }); applied {
		t.Error("applied although GOGC is set")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: GC target changed to %d", got)
	}

	prev, applied := tuning.GC(func(string) string { return "" })
	if !applied || prev != 100 {
		t.Errorf("GC() = %d, %v; want 100, true", prev, applied)
	}
	if got := debug.SetGCPercent(prev); got != tuning.DefaultGCPercent {
		t.Errorf("GC target = %d, want %d", got, tuning.DefaultGCPercent)
	}
}
