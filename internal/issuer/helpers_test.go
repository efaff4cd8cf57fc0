package issuer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/testclock"
	"github.com/tokex/tokex/internal/testidp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stsAudience is the audience subject tokens must carry in these tests.
const stsAudience = "https://sts.test"

// newClock is a settable clock shared by the IdPs (iat, exp) and the registry.
func newClock() *testclock.Clock { return testclock.New(time.Now().Truncate(time.Second)) }

// trusted is the config of an issuer as config.applyDefaults leaves it, with
// keys from idp's jwks_uri.
func trusted(name string, idp *testidp.IdP, mods ...func(*config.Issuer)) config.Issuer {
	lw := config.Duration(30 * time.Second)
	is := config.Issuer{
		Name:       name,
		IssuerURL:  idp.Issuer(),
		JWKSURI:    idp.JWKSURI(),
		Audiences:  []string{stsAudience},
		Algorithms: []string{"RS256", "ES256"},
		TokenTypes: []string{config.TokenTypeAccessToken, config.TokenTypeJWT},
		Leeway:     &lw,
	}
	for _, m := range mods {
		m(&is)
	}
	return is
}

func discovered(is *config.Issuer) { is.JWKSURI = "" }

func newRegistry(t *testing.T, opts issuer.Options, issuers ...config.Issuer) *issuer.Registry {
	t.Helper()
	reg := issuer.NewRegistry(issuers, opts)
	t.Cleanup(reg.Close)
	return reg
}

// waitLoaded waits until the named issuers' keys are loaded.
func waitLoaded(t *testing.T, reg *issuer.Registry, names ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := reg.Status()
		ok := true
		for _, n := range names {
			if st[n] != "ok" {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("issuer keys not loaded: %v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitReady(t *testing.T, reg *issuer.Registry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !reg.WaitReady(ctx) {
		t.Fatalf("registry not ready: %v", reg.Status())
	}
}

// reasonOf returns the Reason of a refusal, failing the test if err is not an
// *issuer.Error.
func reasonOf(t *testing.T, err error) issuer.Reason {
	t.Helper()
	if err == nil {
		return ""
	}
	var ie *issuer.Error
	if !errors.As(err, &ie) {
		t.Fatalf("error is %T, not *issuer.Error: %v", err, err)
	}
	return ie.Reason
}

// checkNoLeak fails if a refusal echoes the token (or its signature).
func checkNoLeak(t *testing.T, raw string, err error) {
	t.Helper()
	var ie *issuer.Error
	if !errors.As(err, &ie) || len(raw) < 16 {
		return
	}
	secrets := []string{raw}
	if i := strings.LastIndexByte(raw, '.'); i >= 0 && len(raw)-i > 16 {
		secrets = append(secrets, raw[i+1:])
	}
	for _, s := range secrets {
		if strings.Contains(ie.Description, s) {
			t.Errorf("description echoes the token: %q", ie.Description)
		}
		if strings.Contains(ie.Error(), s) {
			t.Errorf("error text (for logs) echoes the token: %q", ie.Error())
		}
	}
}
