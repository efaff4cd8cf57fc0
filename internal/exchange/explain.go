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
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/jws"
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
	StepClient     = "client"
	StepRequest    = "request"
	StepSubject    = "subject token"
	StepPolicy     = "policy"
	StepDelegation = "delegation"
	StepActor      = "actor token"
	StepLifetime   = "lifetime"
	StepBinding    = "binding"
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

// ExplainRequest is an exchange to explain: the form a client would send
// (actor_token included, for delegation) and the client it would
// authenticate as (its credentials are not checked), or no client at all.
type ExplainRequest struct {
	Form     api.TokenRequest
	ClientID string
	// Unauthenticated explains a request without client credentials, which
	// only rules with allow_unauthenticated serve.
	Unauthenticated bool
	// DPoPJKT and CertX5T are what the caller would prove: the thumbprint of
	// its DPoP key (RFC 9449 §6.1) and of its client certificate (RFC 8705
	// §3.1); "" for neither.
	DPoPJKT, CertX5T string
}

// explainer is the issuer registry's explain mode (*issuer.Registry).
type explainer interface {
	Explain(ctx context.Context, raw, tokenType string) (*issuer.Principal, []issuer.Check)
}

// Explain runs the steps of Exchange without signing, going on past failures
// so that every check is reported. It records no audit event and counts no
// request against the rate limits: nothing is exchanged. It authenticates no
// client and needs no State.Clients: the client is looked up in the policy.
// The issuer keys of the subject and actor tokens are fetched only if they
// are not loaded (see issuer.Registry.Explain).
func (s *Service) Explain(ctx context.Context, req ExplainRequest) *Explanation {
	st := s.state.Load()
	x := &Explanation{}
	f := &req.Form

	// 1. Client: named, not authenticated.
	cl, clientOK := explainClient(st, req, x)
	if st.Limits != nil {
		x.add(Check{Step: StepClient, Name: "rate limits", Result: NotChecked, Detail: "explain counts no requests"})
	}

	// The JWT bearer grant's own step, as in Exchange; its replay check is
	// not explained (explain records nothing).
	if f.GrantType == api.GrantTypeJWTBearer {
		if err := jwtBearer(f); err != nil {
			x.fail(StepRequest, "parameters", asError(err))
			x.finish()
			return x
		}
	}

	// Request checks (RFC 8693 §2.1), and the profile's own.
	grantProfile := ProfileTokenExchange
	if f.GrantType == api.GrantTypeJWTBearer {
		grantProfile = ProfileJWTBearer
	}
	prof := profileRequest{name: grantProfile}
	if err := checkRequest(f); err != nil {
		x.fail(StepRequest, "parameters", asError(err))
	} else if p, err := requestProfile(f, grantProfile); err != nil {
		x.fail(StepRequest, "parameters", asError(err))
	} else {
		prof = p
		x.pass(StepRequest, "parameters", fmt.Sprintf("profile %s, subject_token_type %s", prof.name, subjectTypeName(f.SubjectTokenType)))
	}
	scopes, scopeErr := requestedScopes(f)
	if scopeErr != nil {
		x.fail(StepRequest, "scope", asError(scopeErr))
	}
	audience, err := prof.target(f)
	if err != nil {
		// Exchange refuses here; explain goes on with the audience.
		x.fail(StepRequest, "target", asError(err))
		audience = f.Audience
	}

	// 2. Subject token: a Txn-Token presented for replacement is tokex's own.
	var pr *issuer.Principal
	var txn *txnState
	if f.SubjectTokenType == api.TokenTypeTxnToken {
		var err error
		if pr, txn, err = s.verifyTxnToken(f.SubjectToken); err != nil {
			var ie *issuer.Error
			errors.As(err, &ie)
			x.fail(StepSubject, "txn_token", subjectError(ie))
		} else {
			x.pass(StepSubject, "txn_token", fmt.Sprintf("a Txn-Token of this server: txn %s, replaced %d times", txn.txn, len(txn.reqWL)-1))
		}
	} else {
		pr = s.explainSubject(ctx, st, f.SubjectToken, tokenTypes[f.SubjectTokenType], tokenRefusal(f.GrantType), x)
	}
	if pr != nil && clientOK && prof.name == ProfileIDJAG {
		if err := prof.checkSubject(pr, cl.ID); err != nil {
			x.fail(StepSubject, "id_token aud", asError(err))
		} else {
			x.pass(StepSubject, "id_token aud", fmt.Sprintf("names client %q", cl.ID))
		}
	}

	// 3 and 4. Rule, condition, downscoping, claim mapping; delegation.
	notRun := func(why string, policyChecks ...string) {
		for _, n := range policyChecks {
			x.add(Check{Step: StepPolicy, Name: n, Result: NotRun, Detail: why})
		}
		x.add(Check{Step: StepDelegation, Name: "delegation", Result: NotRun, Detail: why})
		if f.ActorToken != "" {
			x.add(Check{Step: StepActor, Name: "actor token", Result: NotRun, Detail: why})
		}
		x.add(Check{Step: StepBinding, Name: "sender constraint", Result: NotRun, Detail: why})
		x.add(Check{Step: StepLifetime, Name: "lifetime", Result: NotRun, Detail: why})
		x.finish()
	}
	if pr == nil || !clientOK {
		why := "no client"
		if pr == nil {
			why = "no subject token to apply it to"
		}
		notRun(why, "rule", "condition", "scopes", "claims")
		return x
	}
	r, err := st.Policy.LookupProfile(cl.ID, pr.Issuer, audience, prof.policyProfile())
	if err != nil {
		x.fail(StepPolicy, "rule", asError(unauthenticated(cl, policyErr(err))))
		notRun("no rule", "condition", "scopes", "claims")
		return x
	}
	x.Rule = r.Name
	x.pass(StepPolicy, "rule", fmt.Sprintf("%q (%s %s)", r.Name, policy.TargetName(r.Profile), r.Audience))
	preq := policy.Request{ClientID: cl.ID, Audience: audience, Scopes: scopes, Profile: prof.policyProfile(), Resource: f.Resource, Context: prof.context, Details: prof.details}
	switch err := r.ConditionFor(ctx, pr, preq); {
	case err != nil:
		x.fail(StepPolicy, "condition", policyErr(err))
	case r.HasCondition():
		x.pass(StepPolicy, "condition", "holds")
	default:
		x.pass(StepPolicy, "condition", "the rule has none")
	}
	scopes, withheld, err := r.GrantScopes(ctx, pr, scopes)
	switch {
	case scopeErr != nil:
		x.add(Check{Step: StepPolicy, Name: "scopes", Result: NotRun, Detail: "the scope parameter is malformed"})
	case err != nil:
		x.fail(StepPolicy, "scopes", policyErr(err))
	default:
		detail := "granted: " + strings.Join(scopes, " ")
		if len(withheld) > 0 {
			detail += "; withheld by scope_conditions: " + strings.Join(withheld, " ")
		}
		x.pass(StepPolicy, "scopes", detail)
	}
	claims, err := r.MapClaims(ctx, pr)
	switch names := r.MappedClaims(); {
	case err != nil:
		x.fail(StepPolicy, "claims", policyErr(err))
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
	grant := policy.Grant{Rule: r.Name, Audience: r.Audience, Scopes: scopes, Lifetime: st.Policy.RuleLifetime(r), Claims: claims, Actor: r.Actor, Binding: r.Binding, Profile: r.Profile}
	clientID := cl.ID
	if cl.Method == api.AuthMethodNone {
		clientID = publicClientID(pr, grant)
	}
	extra := claims
	if r.Profile != config.ProfileAccessToken {
		txn, extra, clientID = explainProfile(ctx, r, pr, preq, &grant, txn, scopes, cl.ID, x)
	}
	act := s.explainDelegation(ctx, st, f, pr, grant, x)
	cnf := explainBinding(grant, pr, cl, req, x)
	if !prof.bindsToken() {
		cnf = nil
	}

	// Lifetime (SPEC §5 step 4).
	now := s.now()
	exp, err := expiry(now, grant.Lifetime, pr.Expiry)
	if err != nil {
		x.fail(StepLifetime, "lifetime", asError(err))
	} else {
		x.pass(StepLifetime, "lifetime", fmt.Sprintf("%s (rule %s, max_lifetime %s, subject token expires %s): expires %s",
			exp.Truncate(time.Second).Sub(now.Truncate(time.Second)), r.Lifetime, st.Policy.MaxLifetime, pr.Expiry.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339)))
	}
	x.finish()
	if x.Err == nil && s.minter != nil {
		// 5. What Mint would sign, without signing it.
		x.Claims, err = s.minter.Preview(prof.mintInput(mint.Input{Subject: pr.Subject, ClientID: clientID, Audience: r.Audience, Scopes: scopes, Expiry: exp, Act: act, Cnf: cnf, Extra: extra}, txn))
		if err != nil {
			x.Err = &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err}
			x.finish()
		}
	}
	return x
}

// explainProfile runs the profile's own policy step (profileGrant, and for a
// Txn-Token the replacement rules) as one check, and returns what the
// token would carry.
func explainProfile(ctx context.Context, r *policy.Rule, pr *issuer.Principal, req policy.Request, g *policy.Grant, txn *txnState, scopes []string, callerID string, x *Explanation) (*txnState, map[string]any, string) {
	clientID := callerID
	if err := r.ProfileGrant(ctx, pr, req, g); err != nil {
		x.fail(StepPolicy, r.Profile, policyErr(err))
		return txn, nil, clientID
	}
	var extra map[string]any
	var err error
	detail := ""
	switch r.Profile {
	case config.ProfileTxnToken:
		if txn != nil {
			txn, err = replace(txn, pr, g, req.Scopes, callerID)
			detail = "replacement"
		} else {
			txn = newTxn(g, callerID)
			detail = "a new transaction"
		}
		if err == nil {
			detail += fmt.Sprintf("; tctx: %s; rctx: %s; req_wl: %s", memberNames(txn.tctx), memberNames(txn.rctx), strings.Join(txn.reqWL, ", "))
		}
	case config.ProfileIDJAG:
		clientID = g.ClientID
		if extra, err = idJAGExtra(pr, g); err == nil {
			detail = fmt.Sprintf("client_id at the authorization server: %q; carried from the ID token: %s", g.ClientID, memberNames(extra))
		}
	}
	if err != nil {
		x.fail(StepPolicy, r.Profile, asError(err))
		return txn, extra, clientID
	}
	x.pass(StepPolicy, r.Profile, detail)
	return txn, extra, clientID
}

func memberNames(m map[string]any) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

func subjectTypeName(urn string) string {
	if urn == api.TokenTypeTxnToken {
		return ProfileTxnToken
	}
	return tokenTypes[urn]
}

// explainBinding runs the exchange's binding decision (bind) for what the
// caller would prove, and says what is required, what is present and what
// the minted token would be bound to (thumbprint prefixes).
func explainBinding(g policy.Grant, pr *issuer.Principal, cl *client.Client, req ExplainRequest, x *Explanation) *mint.Cnf {
	var rec record
	cnf, err := bind(g, pr, cl.ID, cl.Method != api.AuthMethodNone, proofs{jkt: req.DPoPJKT, x5t: req.CertX5T}, &rec)
	required := fmt.Sprintf("rule sender_constraint: %s, bound_subject: %s", g.Binding.Constraint, g.Binding.BoundSubject)
	subject := "subject token unbound"
	if rec.subjectCnf != "" {
		subject = "subject token bound to " + rec.subjectCnf
	}
	present := "caller proves nothing (bearer)"
	if c := short(req.DPoPJKT, req.CertX5T); c != "" {
		present = "caller proves " + c
	}
	if err != nil {
		x.fail(StepBinding, "sender constraint", asError(err))
		return nil
	}
	minted := "minted token: bearer"
	if cnf != nil {
		minted = "minted token bound to " + rec.cnf
	}
	x.pass(StepBinding, "sender constraint", strings.Join([]string{required, subject, present, minted}, "; "))
	return cnf
}

// explainClient looks the named client up in the policy. With no client
// named, the policy's only client is meant, or, in a policy of public
// federation only, an unauthenticated caller.
func explainClient(st *State, req ExplainRequest, x *Explanation) (*client.Client, bool) {
	src := st.Policy.Source
	unauth := req.Unauthenticated || (req.ClientID == "" && len(src.Clients) == 0 && st.Policy.Unauthenticated)
	if unauth {
		if !st.Policy.Unauthenticated {
			x.fail(StepClient, "client", &Error{Code: api.ErrInvalidClient, Reason: "client_auth_failed", BasicChallenge: true,
				Description: "client authentication is required: no rule of the policy has allow_unauthenticated"})
			return nil, false
		}
		x.pass(StepClient, "client", "none: only rules with allow_unauthenticated serve the request")
		return &client.Client{Method: api.AuthMethodNone}, true
	}
	id := req.ClientID
	if id == "" && len(src.Clients) == 1 {
		id = src.Clients[0].ID
	}
	i := slices.IndexFunc(src.Clients, func(c config.Client) bool { return c.ID == id })
	switch {
	case i >= 0:
		detail := fmt.Sprintf("%q", id)
		if req.ClientID == "" {
			detail += " (the policy's only client)"
		}
		x.pass(StepClient, "client", detail)
		method := src.Clients[i].Auth
		if method == "" {
			method = "client_secret_basic or client_secret_post"
		}
		x.add(Check{Step: StepClient, Name: "credentials", Result: NotChecked, Detail: "explain does not authenticate clients (" + method + ")"})
		return &client.Client{ID: id}, true
	case id == "":
		x.fail(StepClient, "client", &Error{Code: api.ErrInvalidClient, Reason: "client_auth_failed",
			Description: fmt.Sprintf("no client named: pass --client (clients: %s)", strings.Join(clientIDs(st), ", "))})
	default:
		x.fail(StepClient, "client", &Error{Code: api.ErrInvalidClient, Reason: "client_auth_failed",
			Description: fmt.Sprintf("unknown client %q (clients: %s)", jws.Clip(id), strings.Join(clientIDs(st), ", "))})
	}
	return nil, false
}

// explainDelegation runs the exchange's delegation step (delegate: the rule's
// delegation mode, the actor token, may_act, actor_require, chain depth) as
// one check, then lists the actor token's own checks. The act claim it
// returns is what the token would carry.
func (s *Service) explainDelegation(ctx context.Context, st *State, f *api.TokenRequest, pr *issuer.Principal, g policy.Grant, x *Explanation) *mint.Act {
	act, err := s.delegate(ctx, st, &issuerForm{f.SubjectToken, f.ActorToken, f.ActorTokenType}, pr, g)
	switch {
	case err != nil:
		x.fail(StepDelegation, "delegation", asError(err))
	case act == nil:
		x.pass(StepDelegation, "delegation", fmt.Sprintf("none: impersonation (rule delegation: %s)", g.Actor.Mode))
	case f.ActorToken == "":
		x.pass(StepDelegation, "delegation", fmt.Sprintf("none; the subject token's act chain (%d deep) is carried over", act.Depth()))
	default:
		x.pass(StepDelegation, "delegation", fmt.Sprintf("actor %q of %q acts for the subject; act chain %d deep", jws.Clip(act.Sub), jws.Clip(act.Iss), act.Depth()))
	}
	if f.ActorToken == "" {
		return act
	}
	// The actor token's checks, for the detail: the verdict is the
	// delegation check's, which ran them in the exchange's order.
	tt, ok := tokenTypes[f.ActorTokenType]
	ex, isExplainer := st.Issuers.(explainer)
	switch {
	case !ok:
		x.add(Check{Step: StepActor, Name: "actor token", Result: NotRun, Detail: "actor_token_type is missing or not supported"})
	case !isExplainer:
		x.add(Check{Step: StepActor, Name: "actor token", Result: NotRun, Detail: "not explained: the issuer registry has no explain mode"})
	default:
		_, checks := ex.Explain(ctx, f.ActorToken, tt)
		for _, c := range checks {
			x.add(issuerCheck(StepActor, c))
		}
	}
	return act
}

// asError is err as an *Error; every refusal of the exchange's steps is one.
// (A function of its own: errors.As's target is then allocated only when
// there is an error.)
func asError(err error) *Error {
	var xe *Error
	if errors.As(err, &xe) {
		return xe
	}
	return &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err}
}

func (s *Service) explainSubject(ctx context.Context, st *State, raw, tt string, refusal func(*issuer.Error) *Error, x *Explanation) *issuer.Principal {
	ex, ok := st.Issuers.(explainer)
	if !ok {
		// A verifier without explain mode: one check for the whole token.
		pr, err := st.Issuers.Verify(ctx, raw, tt)
		var ie *issuer.Error
		if errors.As(err, &ie) {
			x.fail(StepSubject, "subject token", refusal(ie))
			return nil
		}
		if err != nil {
			x.fail(StepSubject, "subject token", &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err})
			return nil
		}
		x.pass(StepSubject, "subject token", "valid")
		return pr
	}
	pr, checks := ex.Explain(ctx, raw, tt)
	for _, c := range checks {
		x.add(issuerCheck(StepSubject, c))
		if c.Err != nil && x.Err == nil {
			// A check that failed, or one that could not run for a refusal
			// (keys unavailable): the exchange's answer.
			x.Err = refusal(c.Err)
		}
	}
	return pr
}

// issuerCheck is one check of issuer.Registry.Explain in explain's terms.
func issuerCheck(step string, c issuer.Check) Check {
	switch {
	case c.NotRun != "":
		return Check{Step: step, Name: c.Name, Result: NotRun, Detail: c.NotRun}
	case c.Err != nil:
		return Check{Step: step, Name: c.Name, Result: Fail, Detail: c.Err.Description}
	}
	return Check{Step: step, Name: c.Name, Result: Pass, Detail: c.Detail}
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

// policyErr maps a policy refusal to the exchange's vocabulary.
func policyErr(err error) *Error {
	var pe *policy.Error
	if !errors.As(err, &pe) {
		return &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err}
	}
	return policyError(pe)
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
