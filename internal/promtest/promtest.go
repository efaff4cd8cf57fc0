// Package promtest finds the Prometheus binaries (prometheus, promtool) for
// tests, and starts a real Prometheus on a loopback port with a config and
// rule files the test writes, its storage in t.TempDir(), stopped at cleanup.
//
// Without the binary on PATH the test is skipped with a message saying so,
// unless TOKEX_REQUIRE_PROMETHEUS=1 (set by .ci/run): then it fails.
package promtest

import (
	"os"
	"os/exec"
	"testing"
)

// Install says how to get the binaries.
const Install = "apt-get install -y prometheus (Debian: prometheus and promtool)"

// Lookup returns the path of name (prometheus or promtool), or skips the test
// (fails it with TOKEX_REQUIRE_PROMETHEUS=1).
func Lookup(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("TOKEX_REQUIRE_PROMETHEUS") == "1" {
			t.Fatalf("%s is not on PATH and TOKEX_REQUIRE_PROMETHEUS=1: %v; install it with %s", name, err, Install)
		}
		t.Skipf("%s is not on PATH: skipping the tests against a real Prometheus (install it with %s, or set TOKEX_REQUIRE_PROMETHEUS=1 to make this a failure)", name, Install)
	}
	return bin
}
