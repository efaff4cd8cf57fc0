package txntoken_test

import (
	"slices"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"go.uber.org/goleak"

	"github.com/tokex/tokex/internal/txntoken"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWorkloads(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil: refused
	}{
		{`"gateway"`, []string{"gateway"}},
		{`["gateway","orders"]`, []string{"gateway", "orders"}},
		{``, nil},
		{`""`, nil},
		{`[]`, nil},
		{`["gateway",""]`, nil},
		{`["gateway",1]`, nil},
		{`["gateway",null]`, nil},
		{`null`, nil},
		{`7`, nil},
		{`{"wl":"gateway"}`, nil},
	}
	for _, tc := range tests {
		got, ok := txntoken.Workloads(jsontext.Value(tc.in))
		if ok != (tc.want != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("Workloads(%s) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}
