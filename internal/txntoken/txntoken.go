// Package txntoken reads what is particular to a Transaction Token's claims
// (draft-ietf-oauth-transaction-tokens-10) as tokex mints them: for the
// replacement of a Txn-Token at /token and for sdk/verify downstream, so
// that both read them alike.
package txntoken

import (
	"slices"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Workloads reads req_wl: a non-empty string for an original token, a
// non-empty array of non-empty strings, oldest first, once it has been
// replaced. ok is false for anything else, absence included.
func Workloads(v jsontext.Value) (wl []string, ok bool) {
	var one string
	if v.Kind() == '"' && jsonv2.Unmarshal(v, &one) == nil && one != "" {
		return []string{one}, true
	}
	var all []string
	if v.Kind() == '[' && jsonv2.Unmarshal(v, &all) == nil && len(all) > 0 && !slices.Contains(all, "") {
		return all, true
	}
	return nil, false
}
