package exchange_test

import (
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/keys"
	"github.com/tokex/tokex/internal/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// compile reads a policy file's contents as tokex does at start: parse and
// validate, then compile.
func compile(t testing.TB, doc []byte, file string) (*config.Policy, *policy.Policy) {
	t.Helper()
	p, err := config.ParsePolicy(doc, file, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := policy.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, compiled
}

// signingKeys is a fresh ES256 key set, and the pointer the minter reads it from.
func signingKeys(t testing.TB) (*keys.Set, *atomic.Pointer[keys.Set]) {
	t.Helper()
	ks, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	var set atomic.Pointer[keys.Set]
	set.Store(ks)
	return ks, &set
}
