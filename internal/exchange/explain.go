package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/policy"
)

// Result is the outcome of one explained check.
type Result string

// Results of a check.
const (
	Pass       Result = "pass"
	Fail       Result = "FAIL"
	NotRun     Result = "not run"
	NotChecked Result = "not checked"
)

// Steps of the exchange, as explain names them.
const (
	StepClient   = "client"
	StepRequest  = "request"
	StepSubject  = "subject token"
	StepPolicy   = "policy"
	StepLifetime = "lifetime"
)

// Check is one check of an explained exchange.
type Check struct {
	Step   string `json:"step"`
	Name   string `json:"check"`
	Result Result `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Explanation is what `tokex explain` reports: every check, the rule, and the
// claims the token would carry. Err is the refusal the exchange would answer
// (the first failure in pipeline order), nil when it would be granted.
type Explanation struct {
	Checks []Check            `json:"checks"`
	Rule   string             `json:"rule,omitempty"`
	Claims map[string]any     `json:"claims,omitempty"`
	Err    *Error             `json:"-"`
	Error  *api.ErrorResponse `json:"error,omitempty"`
}

// ExplainRequest is an exchange to explain: the form a client would send and
// the client it would authenticate as (its secret is not checked).
type ExplainRequest struct {
	Form     api.TokenRequest
	ClientID string
}

// explainer is the issuer registry's explain mode (*issuer.Registry).
type explainer interface {
	Explain(ctx context.Context, raw, tokenType string) (*issuer.Principal, []issuer.Check)
}

// Explain runs the steps of Exchange without signing, going on past failures
// so that every check is reported. It records no audit event: nothing is
// exchanged. The subject token's issuer keys are fetched only if they are not
// loaded (see issuer.Registry.Explain).
func (s *Service) Explain(ctx context.Context, req ExplainRequest) *Explanation {
	st := s.state.Load()
	x := &Explanation{}
	f := &req.Form

	// 1. Client: named, not authenticated.
	clientID := req.ClientID
	if clientID == "" && len(st.Policy.Source.Clients) == 1 {
		clientID = st.Policy.Source.Clients[0].ID
	}
	clientOK := clientID != "" && st.Clients.Known(clientID)
	switch {
	case clientOK:
		detail := fmt.Sprintf("%q", clientID)
		if req.ClientID == "" {
			detail += " (the policy's only client)"
		}
		x.pass(StepClient, "client", detail)
	case clientID == "":
		x.fail(StepClient, "client", &Error{Code: api.ErrInvalidClient, Reason: "client_auth_failed",
			Description: fmt.Sprintf("no client named: pass --client (clients: %s)", strings.Join(clientIDs(st), ", "))})
	default:
		x.fail(StepClient, "client", &Error{Code: api.ErrInvalidClient, Reason: "client_auth_failed",
			Description: fmt.Sprintf("unknown client %q (clients: %s)", clip(clientID), strings.Join(clientIDs(st), ", "))})
	}
	x.add(Check{Step: StepClient, Name: "secret", Result: NotChecked, Detail: "explain does not authenticate clients"})

	// Request checks (RFC 8693 §2.1).
	if err := checkRequest(f); err != nil {
		var xe *Error
		errors.As(err, &xe)
		x.fail(StepRequest, "parameters", xe)
	} else {
		x.pass(StepRequest, "parameters", "token exchange, subject_token_type "+tokenTypes[f.SubjectTokenType])
	}
	audience := f.Audience
	if f.Resource != "" && audience == "" {
		audience = f.Resource
	}

	// 2. Subject token.
	pr := s.explainSubject(ctx, st, f, x)

	// 3 and 4. Rule, condition, downscoping, claim mapping.
	if pr == nil || !clientOK {
		why := "no client"
		if pr == nil {
			why = "no subject token to apply it to"
		}
		for _, n := range []string{"rule", "condition", "scopes", "claims"} {
			x.add(Check{Step: StepPolicy, Name: n, Result: NotRun, Detail: why})
		}
		x.add(Check{Step: StepLifetime, Name: "lifetime", Result: NotRun, Detail: why})
		x.finish()
		return x
	}
	r, err := st.Policy.Lookup(clientID, pr.Issuer, audience)
	if err != nil {
		x.policyFail("rule", err)
		for _, n := range []string{"condition", "scopes", "claims"} {
			x.add(Check{Step: StepPolicy, Name: n, Result: NotRun, Detail: "no rule"})
		}
		x.add(Check{Step: StepLifetime, Name: "lifetime", Result: NotRun, Detail: "no rule"})
		x.finish()
		return x
	}
	x.Rule = r.Name
	x.pass(StepPolicy, "rule", fmt.Sprintf("%q (audience %s)", r.Name, r.Audience))
	switch err := r.Condition(ctx, pr); {
	case err != nil:
		x.policyFail("condition", err)
	case r.HasCondition():
		x.pass(StepPolicy, "condition", "holds")
	default:
		x.pass(StepPolicy, "condition", "the rule has none")
	}
	scopes, withheld, err := r.GrantScopes(ctx, pr, strings.Fields(f.Scope))
	if err != nil {
		x.policyFail("scopes", err)
	} else {
		detail := "granted: " + strings.Join(scopes, " ")
		if len(withheld) > 0 {
			detail += "; withheld by scope_conditions: " + strings.Join(withheld, " ")
		}
		x.pass(StepPolicy, "scopes", detail)
	}
	claims, err := r.MapClaims(ctx, pr)
	switch names := r.MappedClaims(); {
	case err != nil:
		x.policyFail("claims", err)
	case len(names) == 0:
		x.pass(StepPolicy, "claims", "the rule maps none")
	default:
		var omitted []string
		for _, n := range names {
			if _, ok := claims[n]; !ok {
				omitted = append(omitted, n)
			}
		}
		detail := "mapped: " + strings.Join(slices.Sorted(maps.Keys(claims)), ", ")
		if len(omitted) > 0 {
			detail += "; omitted (absent from the subject token): " + strings.Join(omitted, ", ")
		}
		x.pass(StepPolicy, "claims", detail)
	}

	// Lifetime (SPEC §5 step 4).
	now := s.now()
	lifetime := st.Policy.RuleLifetime(r)
	exp, err := expiry(now, lifetime, pr.Expiry)
	if err != nil {
		var xe *Error
		errors.As(err, &xe)
		x.fail(StepLifetime, "lifetime", xe)
	} else {
		x.pass(StepLifetime, "lifetime", fmt.Sprintf("%s (rule %s, max_lifetime %s, subject token expires %s): expires %s",
			exp.Truncate(time.Second).Sub(now.Truncate(time.Second)), r.Lifetime, st.Policy.MaxLifetime, pr.Expiry.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339)))
	}
	x.finish()
	if x.Err == nil && s.minter != nil {
		// 5. What Mint would sign, without signing it.
		x.Claims, err = s.minter.Preview(mint.Input{Subject: pr.Subject, ClientID: clientID, Audience: r.Audience, Scopes: scopes, Expiry: exp, Extra: claims})
		if err != nil {
			x.Err = &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err}
			x.finish()
		}
	}
	return x
}

func (s *Service) explainSubject(ctx context.Context, st *State, f *api.TokenRequest, x *Explanation) *issuer.Principal {
	tt := tokenTypes[f.SubjectTokenType]
	ex, ok := st.Issuers.(explainer)
	if !ok {
		// A verifier without explain mode: one check for the whole token.
		pr, err := st.Issuers.Verify(ctx, f.SubjectToken, tt)
		var ie *issuer.Error
		if errors.As(err, &ie) {
			x.fail(StepSubject, "subject token", subjectError(ie))
			return nil
		}
		if err != nil {
			x.fail(StepSubject, "subject token", &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err})
			return nil
		}
		x.pass(StepSubject, "subject token", "valid")
		return pr
	}
	pr, checks := ex.Explain(ctx, f.SubjectToken, tt)
	for _, c := range checks {
		switch {
		case c.NotRun != "":
			x.add(Check{Step: StepSubject, Name: c.Name, Result: NotRun, Detail: c.NotRun})
			if c.Err != nil && x.Err == nil {
				x.Err = subjectError(c.Err)
			}
		case c.Err != nil:
			x.fail(StepSubject, c.Name, subjectError(c.Err))
		default:
			x.pass(StepSubject, c.Name, c.Detail)
		}
	}
	return pr
}

func (x *Explanation) add(c Check) { x.Checks = append(x.Checks, c) }

func (x *Explanation) pass(step, name, detail string) {
	x.add(Check{Step: step, Name: name, Result: Pass, Detail: detail})
}

// fail records a failed check; the first failure is the exchange's answer.
func (x *Explanation) fail(step, name string, e *Error) {
	detail := strings.TrimPrefix(e.Description, "subject_token: ")
	x.add(Check{Step: step, Name: name, Result: Fail, Detail: detail})
	if x.Err == nil {
		x.Err = e
	}
}

func (x *Explanation) policyFail(name string, err error) {
	var pe *policy.Error
	if !errors.As(err, &pe) {
		x.fail(StepPolicy, name, &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err})
		return
	}
	x.fail(StepPolicy, name, policyError(pe))
}

func (x *Explanation) finish() {
	x.Error = nil
	if x.Err != nil {
		x.Error = &api.ErrorResponse{Error: x.Err.Code, ErrorDescription: x.Err.Description}
	}
}

// Granted reports whether the exchange would be granted.
func (x *Explanation) Granted() bool { return x.Err == nil }

// WriteText prints the explanation for a person: the verdict, every check,
// the rule and the claims the token would carry.
func (x *Explanation) WriteText(w io.Writer) error {
	var b strings.Builder
	if x.Err == nil {
		b.WriteString("verdict: GRANTED - the exchange would succeed\n\n")
	} else {
		fmt.Fprintf(&b, "verdict: REFUSED - %s (%s)\n  %s\n\n", x.Err.Code, x.Err.Reason, x.Err.Description)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tCHECK\tRESULT\tDETAIL")
	for _, c := range x.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Step, c.Name, c.Result, oneLine(c.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if x.Rule != "" {
		fmt.Fprintf(&b, "\nrule: %s\n", x.Rule)
	}
	if x.Claims != nil {
		b.WriteString("\nclaims it would mint (jti is random; iat, nbf and exp are from now):\n")
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(x.Claims); err != nil {
			return err
		}
	} else {
		b.WriteString("\nno token would be minted\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

func clientIDs(st *State) []string {
	ids := make([]string, 0, len(st.Policy.Source.Clients))
	for _, c := range st.Policy.Source.Clients {
		ids = append(ids, c.ID)
	}
	return ids
}
