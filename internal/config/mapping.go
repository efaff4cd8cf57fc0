package config

import (
	"maps"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/tokex/tokex/internal/condition"
)

// ReservedClaims are the claims tokex sets itself (RFC 9068 §2.2, RFC 8693
// §4, RFC 7800 §3): a rule's `claims:` cannot set them, so a mapping can never
// change who the token is for, whom it is about, or how long it lives.
// may_act (RFC 8693 §4.4) is reserved too: it authorizes delegation.
var ReservedClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "act", "may_act", "cnf"}

// lazyEnv builds the CEL environment once per validation, on first use.
type lazyEnv struct {
	env *cel.Env
	err error
	// newEnv builds it; nil: condition.NewEnv (claims only).
	newEnv func() (*cel.Env, error)
}

func (c *lazyEnv) get() (*cel.Env, error) {
	if c.env == nil && c.err == nil {
		build := c.newEnv
		if build == nil {
			build = condition.NewEnv
		}
		c.env, c.err = build()
	}
	return c.env, c.err
}

// validateMapping checks a rule's claims and scope_conditions.
func validateMapping(ps *Problems, at string, r Rule, ce *lazyEnv) {
	for _, name := range slices.Sorted(maps.Keys(r.Claims)) {
		path := at + ".claims." + name
		switch {
		case name == "" || strings.ContainsFunc(name, isSpaceOrControl):
			ps.Add(path, "a claim name must be non-empty, without spaces or control characters")
			continue
		case slices.Contains(ReservedClaims, name):
			ps.Add(path, "%q is set by tokex and cannot be mapped (reserved: %s)", name, strings.Join(ReservedClaims, ", "))
			continue
		}
		checkCEL(ps, path, r.Claims[name], ce, condition.CompileValue)
	}
	for _, scope := range slices.Sorted(maps.Keys(r.ScopeConditions)) {
		path := at + ".scope_conditions." + scope
		if !slices.Contains(r.Scopes, scope) {
			ps.Add(path, "%q is not one of the rule's scopes (%s): a condition can only withhold a scope the rule grants", scope, strings.Join(r.Scopes, " "))
			continue
		}
		checkCEL(ps, path, r.ScopeConditions[scope], ce, condition.Compile)
	}
}

func checkCEL(ps *Problems, path, expr string, ce *lazyEnv, compile func(*cel.Env, string) (cel.Program, error)) {
	if strings.TrimSpace(expr) == "" {
		ps.Add(path, "required: a CEL expression over claims")
		return
	}
	env, err := ce.get()
	if err != nil {
		ps.Add(path, "cannot check expressions: %v", err)
		return
	}
	if _, err := compile(env, expr); err != nil {
		ps.Add(path, "%v", err)
	}
}
