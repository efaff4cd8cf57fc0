package exchange_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/exchange"
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

// wantRefusal fails t unless the exchange was refused with code and reason.
func wantRefusal(t *testing.T, resp *api.TokenResponse, err error, code api.ErrorCode, reason string) *exchange.Error {
	t.Helper()
	var xe *exchange.Error
	if !errors.As(err, &xe) || resp != nil {
		t.Fatalf("Exchange = %v, %v; want a refusal", resp, err)
	}
	if xe.Code != code || xe.Reason != reason {
		t.Fatalf("code, reason = %s, %s; want %s, %s (%s)", xe.Code, xe.Reason, code, reason, xe.Description)
	}
	return xe
}
