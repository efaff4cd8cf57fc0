package config_test

import (
	"errors"
	"testing"

	"github.com/tokex/tokex/internal/config"
)

// FuzzParsePolicy: whatever the file holds, ParsePolicy never panics, and it
// either refuses the file with a *FileError that lists at least one problem, or
// returns a policy that passes Validate. Seeds: testdata/fuzz/FuzzParsePolicy.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(basePolicy))
	f.Add([]byte(""))
	f.Add([]byte("issuer: [x\n"))
	f.Add([]byte("a: &a [1, 2]\nb: [*a, *a]\n"))
	f.Add([]byte("rules:\n  - &r {name: r, clients: [c], issuers: [i], audience: a, scopes: [s]}\n  - *r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := config.ParsePolicy(data, "fuzz.yaml", config.Overrides{})
		if err != nil {
			var fe *config.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *config.FileError: %v", err, err)
			}
			if len(fe.Problems) == 0 {
				t.Fatalf("a FileError without problems")
			}
			for _, pr := range fe.Problems {
				if pr.Msg == "" {
					t.Fatalf("problem at %q without a message", pr.Path)
				}
			}
			_ = err.Error()
			return
		}
		if p == nil {
			t.Fatal("nil policy without an error")
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParsePolicy accepted a policy that Validate refuses: %v", err)
		}
		if len(p.Issuers) == 0 || len(p.Clients) == 0 || len(p.Rules) == 0 || p.Issuer == "" {
			t.Fatalf("accepted an incomplete policy: %+v", p)
		}
	})
}
