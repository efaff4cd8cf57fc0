package exchange

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/dpop"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/policy"
	"github.com/tokex/tokex/internal/ratelimit"
	"github.com/tokex/tokex/internal/replay"
	"github.com/tokex/tokex/internal/scope"
	"github.com/tokex/tokex/internal/telemetry"
)

// Request is one token request: the form and the credentials the transport saw.
type Request struct {
	Form        api.TokenRequest
	Credentials client.Credentials
	// DPoP holds every value of the DPoP header (RFC 9449 §4.1); nil without one.
	DPoP []string
}

// Verifier validates subject tokens; *issuer.Registry is the production one.
type Verifier interface {
	Verify(ctx context.Context, raw, tokenType string) (*issuer.Principal, error)
}

// State is everything the policy file defines, swapped as one (on reload).
type State struct {
	Policy  *policy.Policy
	Clients *client.Registry
	Issuers Verifier
	Limits  *Limits // nil: no rate limits
	// DPoP checks DPoP proofs (RFC 9449); nil: a request with a proof is refused.
	DPoP *dpop.Verifier
	// Assertions records the jtis of jwt-bearer assertions (RFC 7523 §3);
	// nil: an assertion with a jti is refused (it cannot be checked).
	Assertions replay.Cache
	// Shared is the shared store's limiter (nil on one replica): DPoP proof
	// jtis are recorded in it, in the same round trip as the rate limits.
	Shared ratelimit.Batcher
}

// Options build a Service.
type Options struct {
	State  *State
	Minter *mint.Minter
	Audit  *slog.Logger     // one event per exchange; required
	Tracer trace.Tracer     // default: no-op
	Meter  metric.Meter     // default: no metrics
	Now    func() time.Time // default: time.Now
	// TokenEndpoint is the URL DPoP proofs must name in htu (RFC 9449 §4.3):
	// the metadata's token_endpoint, from the configured issuer, never from
	// request headers.
	TokenEndpoint string
}

// Service runs exchanges.
type Service struct {
	state   atomic.Pointer[State]
	minter  *mint.Minter
	audit   *slog.Logger
	tracer  trace.Tracer
	now     func() time.Time
	metrics *metrics
	// tokenEndpoint is the htu of DPoP proofs.
	tokenEndpoint string
}

// New builds a Service.
func New(o Options) *Service {
	s := &Service{minter: o.Minter, audit: o.Audit, tracer: o.Tracer, now: o.Now, tokenEndpoint: o.TokenEndpoint}
	if s.tracer == nil {
		s.tracer = noop.NewTracerProvider().Tracer("")
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.audit == nil {
		s.audit = slog.New(slog.DiscardHandler)
	}
	if o.Meter != nil {
		s.metrics = newMetrics(o.Meter)
	}
	s.state.Store(o.State)
	return s
}

// SetState swaps the policy-derived state atomically; in-flight exchanges
// finish with the state they started with.
func (s *Service) SetState(st *State) { s.state.Store(st) }

// State is the current state.
func (s *Service) State() *State { return s.state.Load() }

// Span and audit attribute keys: stable names shared by traces and logs.
const (
	AttrClientID  = "tokex.client_id"
	AttrIssuer    = "tokex.issuer"
	AttrRule      = "tokex.rule"
	AttrAudience  = "tokex.audience"
	AttrOutcome   = "tokex.outcome"
	AttrErrorCode = "tokex.error_code"
	AttrReason    = "tokex.reason"
	AttrProfile   = "tokex.profile" // token_exchange, jwt_bearer, txn_token, id_jag (jwtbearer.go, profile.go)
)

// record collects what the audit event and the root span report.
type record struct {
	clientID, issuer, subject, rule, audience, scope, jti, reason string
	actor                                                         string
	binding, cnf, subjectCnf                                      string // sender constraint (binding.go)
	profile                                                       string // ProfileTokenExchange, ProfileJWTBearer, ProfileTxnToken, ProfileIDJAG
	txn                                                           string // a Txn-Token's transaction
	code                                                          api.ErrorCode
	expiresAt                                                     time.Time
}

// Exchange runs one token exchange (RFC 8693 §2). The error, if any, is an *Error.
func (s *Service) Exchange(ctx context.Context, req Request) (*api.TokenResponse, error) {
	start := time.Now()
	// The transport's server span (otelgin) is the exchange's root when there is
	// one: a second span per request would only repeat it.
	span := trace.SpanFromContext(ctx)
	if !span.SpanContext().IsValid() {
		ctx, span = s.tracer.Start(ctx, "tokex.exchange")
		defer span.End()
	}
	var rec record
	resp, err := s.run(ctx, req, &rec)
	var xe *Error
	if err != nil {
		xe = asError(err)
		rec.code, rec.reason = xe.Code, xe.Reason
	}
	s.finish(ctx, span, &rec, xe)
	s.metrics.record(ctx, &rec, xe, time.Since(start))
	if xe != nil {
		return nil, xe
	}
	return resp, nil
}

// Refused records an exchange the transport refused before the pipeline could
// run (unreadable form, wrong content type, parameters in the URL): every
// exchange, accepted or refused, has one audit event (SPEC §5).
func (s *Service) Refused(ctx context.Context, e *Error) {
	span := trace.SpanFromContext(ctx)
	if !span.SpanContext().IsValid() {
		ctx, span = s.tracer.Start(ctx, "tokex.exchange")
		defer span.End()
	}
	rec := &record{code: e.Code, reason: e.Reason}
	s.finish(ctx, span, rec, e)
	s.metrics.record(ctx, rec, e, 0)
}

func (s *Service) run(ctx context.Context, req Request, rec *record) (*api.TokenResponse, error) {
	st := s.state.Load()
	f := &req.Form

	// 1. Client authentication (RFC 6749 §2.3).
	cl, err := s.authenticate(ctx, st, req.Credentials)
	if err != nil {
		return nil, err
	}
	rec.clientID = cl.ID
	var takes pending
	if st.Limits != nil {
		if err := st.Limits.client(ctx, cl.ID, &takes); err != nil {
			return nil, err
		}
	}

	// The profile's own step: a JWT bearer request names its token
	// differently; everything after is the one pipeline.
	rec.profile = ProfileTokenExchange
	if f.GrantType == api.GrantTypeJWTBearer {
		rec.profile = ProfileJWTBearer
		if err := jwtBearer(f); err != nil {
			return nil, err
		}
	}

	// Request checks (RFC 8693 §2.1), then the profile's own: what
	// requested_token_type asks for.
	if err := checkRequest(f); err != nil {
		return nil, err
	}
	prof, err := requestProfile(f, rec.profile)
	rec.profile = prof.name
	if err != nil {
		return nil, err
	}
	// A DPoP proof is checked before the subject token: a request for a
	// nonce (RFC 9449 §8) costs no token validation.
	var pf proofs
	proof, err := s.checkDPoP(ctx, st, &req, cl.ID)
	if err != nil {
		return nil, err
	}
	if proof != nil {
		pf.jkt = proof.JKT
		if st.Shared != nil {
			takes.first(proofTake(cl.ID, proof, s.now()), "dpop")
		}
	}
	if !st.Limits.subjectOn(cl.ID) {
		if err := s.flush(ctx, st, &takes); err != nil {
			return nil, err
		}
	}
	// RFC 8705 §3: a token is bound to the certificate of the mTLS
	// connection, whichever way the client authenticated.
	if c := req.Credentials.Presented; c != nil {
		pf.x5t = CertThumbprint(c)
	}
	audience, err := prof.target(f)
	if err != nil {
		return nil, err
	}
	rec.audience = audience
	scopes, err := requestedScopes(f)
	if err != nil {
		return nil, err
	}

	// 2. Subject token validation: a Txn-Token presented for replacement is
	// tokex's own.
	pr, txn, err := s.validate(ctx, st, f)
	if err != nil {
		return nil, err
	}
	rec.issuer, rec.subject = pr.Issuer, pr.Subject
	if err := prof.checkSubject(pr, cl.ID); err != nil {
		return nil, err
	}
	if st.Limits != nil {
		if err := st.Limits.subject(ctx, cl.ID, pr.Issuer, pr.Subject, &takes); err != nil {
			return nil, err
		}
	}
	if err := s.flush(ctx, st, &takes); err != nil {
		return nil, err
	}

	// 3 and 4. Rule, condition, downscoping.
	grant, err := s.decide(ctx, st, pr, policy.Request{ClientID: cl.ID, Audience: audience, Scopes: scopes,
		Profile: prof.policyProfile(), Resource: f.Resource, Context: prof.context, Details: prof.details})
	rec.rule = grant.Rule
	if err != nil {
		return nil, unauthenticated(cl, err)
	}
	act, err := s.delegate(ctx, st, &issuerForm{f.SubjectToken, f.ActorToken, f.ActorTokenType}, pr, grant)
	if err != nil {
		return nil, err
	}
	if act != nil {
		rec.actor = act.Sub
	}
	clientID := cl.ID
	if cl.Method == api.AuthMethodNone {
		clientID = publicClientID(pr, grant)
	}
	rec.audience = grant.Audience
	rec.scope = strings.Join(grant.Scopes, " ")

	extra := grant.Claims
	switch prof.name {
	case ProfileTxnToken:
		if txn != nil {
			txn, err = replace(txn, pr, &grant, scopes, cl.ID)
		} else {
			txn = newTxn(&grant, cl.ID)
		}
		if err != nil {
			return nil, err
		}
		rec.txn = txn.txn
	case ProfileIDJAG:
		if extra, err = idJAGExtra(pr, &grant); err != nil {
			return nil, err
		}
	}

	cnf, err := bind(grant, pr, clientID, cl.Method != api.AuthMethodNone, pf, rec)
	if err != nil {
		return nil, err
	}
	if prof.name == ProfileIDJAG {
		// The ID-JAG names the caller as the resource AS knows it; bind
		// (rebind) judged the caller as tokex knows it.
		clientID = grant.ClientID
	}
	if !prof.bindsToken() {
		cnf, rec.binding, rec.cnf = nil, "none", ""
	}
	// Last before minting: a request the policy refuses does not use up the
	// assertion; of concurrent ones, the store lets exactly one through.
	if rec.profile == ProfileJWTBearer {
		if err := s.replayAssertion(ctx, st, pr); err != nil {
			return nil, err
		}
	}

	// Lifetime = min(rule, max_lifetime, time left on the subject token): the
	// minted token never outlives its subject token.
	exp, err := expiry(s.now(), grant.Lifetime, pr.Expiry)
	if err != nil {
		return nil, err
	}

	// 5. Mint (RFC 9068).
	tok, err := s.mint(ctx, prof.mintInput(mint.Input{Subject: pr.Subject, ClientID: clientID, Audience: grant.Audience, Scopes: grant.Scopes, Expiry: exp, Act: act, Cnf: cnf, Extra: extra}, txn))
	if err != nil {
		return nil, err
	}
	rec.jti, rec.expiresAt = tok.JTI, tok.ExpiresAt

	// 6. Response (RFC 8693 §2.2.1); a DPoP-bound token is of type DPoP
	// (RFC 9449 §5), a certificate-bound one stays Bearer (RFC 8705 §3); a
	// Txn-Token or ID-JAG is not an access token: N_A.
	tokenType := api.TokenTypeBearer
	switch {
	case prof.name == ProfileTxnToken || prof.name == ProfileIDJAG:
		tokenType = api.TokenTypeNA
	case cnf != nil && cnf.JKT != "":
		tokenType = api.TokenTypeDPoP
	}
	return &api.TokenResponse{
		AccessToken:     tok.Raw,
		IssuedTokenType: prof.issuedType(),
		TokenType:       tokenType,
		ExpiresIn:       int64(tok.ExpiresAt.Sub(tok.IssuedAt) / time.Second),
		Scope:           rec.scope,
	}, nil
}

func (s *Service) authenticate(ctx context.Context, st *State, c client.Credentials) (*client.Client, error) {
	_, span := s.step(ctx, "tokex.client_auth")
	defer span.End()
	cl, err := st.Clients.Authenticate(ctx, c)
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) {
			switch ce.Kind {
			case client.Multiple:
				return nil, fail(span, &Error{Code: api.ErrInvalidRequest, Reason: "multiple_auth_methods", Description: ce.Description})
			case client.Unavailable:
				return nil, fail(span, &Error{Code: api.ErrTemporarilyUnavailable, Reason: ce.Reason, Description: ce.Description, Err: ce.Err})
			case client.None:
				if st.Policy.Unauthenticated {
					// Public federation: rules with allow_unauthenticated decide.
					return &client.Client{Method: api.AuthMethodNone}, nil
				}
			}
		}
		desc, reason := "client authentication failed", "client_auth_failed"
		if ce != nil {
			desc = ce.Description
			if ce.Reason != "" {
				reason = ce.Reason
			}
		}
		// RFC 6749 §5.2: invalid_client; SPEC §5.1: always 401 with a challenge.
		return nil, fail(span, &Error{Code: api.ErrInvalidClient, Reason: reason, Description: desc, BasicChallenge: true, Err: errorsCause(ce)})
	}
	return cl, nil
}

// tokenTypes maps RFC 8693 §3 URNs to the short names of the policy.
var tokenTypes = map[string]string{
	api.TokenTypeAccessToken: "access_token",
	api.TokenTypeJWT:         "jwt",
	api.TokenTypeIDToken:     "id_token",
}

func checkRequest(f *api.TokenRequest) error {
	switch {
	case f.GrantType == "":
		return refuse(api.ErrInvalidRequest, "missing_parameter", "grant_type is required")
	case f.GrantType != api.GrantTypeTokenExchange && f.GrantType != api.GrantTypeJWTBearer:
		return refuse(api.ErrUnsupportedGrantType, "unsupported_grant_type", "grant_type must be %s or %s", api.GrantTypeTokenExchange, api.GrantTypeJWTBearer)
	case f.SubjectToken == "":
		return refuse(api.ErrInvalidRequest, "missing_parameter", "subject_token is required")
	case f.SubjectTokenType == "":
		return refuse(api.ErrInvalidRequest, "missing_parameter", "subject_token_type is required")
	}
	if _, ok := tokenTypes[f.SubjectTokenType]; !ok && f.SubjectTokenType != api.TokenTypeTxnToken {
		return refuse(api.ErrInvalidRequest, "unsupported_token_type", "subject_token_type %q is not supported; use %s, %s, %s or %s",
			jws.Clip(f.SubjectTokenType), api.TokenTypeAccessToken, api.TokenTypeJWT, api.TokenTypeIDToken, api.TokenTypeTxnToken)
	}
	switch f.RequestedTokenType {
	case "", api.TokenTypeAccessToken, api.TokenTypeTxnToken, api.TokenTypeIDJAG:
	default:
		return refuse(api.ErrInvalidRequest, "unsupported_token_type", "requested_token_type %q is not supported; tokex issues %s, %s and %s",
			jws.Clip(f.RequestedTokenType), api.TokenTypeAccessToken, api.TokenTypeTxnToken, api.TokenTypeIDJAG)
	}
	if f.ActorTokenType != "" && f.ActorToken == "" {
		// RFC 8693 §2.1: actor_token_type is required when actor_token is present and must not be sent without it.
		return refuse(api.ErrInvalidRequest, "invalid_parameter", "actor_token_type given without actor_token")
	}
	return nil
}

// requestedScopes reads the scope parameter (RFC 6749 §3.3): malformed or
// too many values are invalid_scope (RFC 6749 §5.2), refused before the
// subject token is verified.
func requestedScopes(f *api.TokenRequest) ([]string, error) {
	scopes, err := scope.Parse(f.Scope)
	if err != nil {
		var se *scope.Error
		errors.As(err, &se)
		reason := "malformed_scope"
		if se.Kind == scope.TooMany {
			reason = "too_many_scopes"
		}
		return nil, &Error{Code: api.ErrInvalidScope, Reason: reason, Description: se.Description}
	}
	return scopes, nil
}

func (s *Service) validate(ctx context.Context, st *State, f *api.TokenRequest) (*issuer.Principal, *txnState, error) {
	ctx, span := s.step(ctx, "tokex.subject_validation")
	defer span.End()
	var pr *issuer.Principal
	var txn *txnState
	var err error
	if f.SubjectTokenType == api.TokenTypeTxnToken {
		pr, txn, err = s.verifyTxnToken(f.SubjectToken)
	} else {
		pr, err = st.Issuers.Verify(ctx, f.SubjectToken, tokenTypes[f.SubjectTokenType])
	}
	if err != nil {
		var ie *issuer.Error
		if !errors.As(err, &ie) {
			return nil, nil, fail(span, &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err})
		}
		return nil, nil, fail(span, tokenRefusal(f.GrantType)(ie))
	}
	return pr, txn, nil
}

func (s *Service) decide(ctx context.Context, st *State, pr *issuer.Principal, req policy.Request) (policy.Grant, error) {
	ctx, span := s.step(ctx, "tokex.policy")
	defer span.End()
	g, err := st.Policy.Evaluate(ctx, pr, req)
	if err != nil {
		var pe *policy.Error
		if !errors.As(err, &pe) {
			return g, fail(span, &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err})
		}
		return g, fail(span, policyError(pe))
	}
	return g, nil
}

// expiry = now + min(rule lifetime, max_lifetime), capped by the subject
// token's expiry: the minted token never outlives its subject token.
func expiry(now time.Time, lifetime time.Duration, subjectExpiry time.Time) (time.Time, error) {
	exp := now.Add(lifetime)
	if !subjectExpiry.IsZero() && subjectExpiry.Before(exp) {
		exp = subjectExpiry
	}
	if exp.Truncate(time.Second).Sub(now.Truncate(time.Second)) < time.Second {
		return exp, refuse(api.ErrInvalidRequest, string(issuer.ReasonExpired), "the subject token expires in less than a second; obtain a fresh one")
	}
	return exp, nil
}

// subjectError maps a refused subject token to the exchange's vocabulary.
func subjectError(ie *issuer.Error) *Error { return tokenError(ie, "subject_token", "") }

// tokenError maps a refused subject or actor token (param) to the exchange's
// vocabulary; reasonPrefix tells an actor token's refusals apart.
func tokenError(ie *issuer.Error, param, reasonPrefix string) *Error {
	code := api.ErrInvalidRequest // RFC 8693 §2.2.2
	if ie.Reason == issuer.ReasonKeysUnavailable {
		code = api.ErrTemporarilyUnavailable
	}
	return &Error{Code: code, Reason: reasonPrefix + string(ie.Reason), Description: param + ": " + ie.Description, Err: ie.Err}
}

// policyError maps a policy refusal to the exchange's vocabulary.
func policyError(pe *policy.Error) *Error {
	x := &Error{Description: pe.Description, Err: pe.Err}
	switch pe.Kind {
	case policy.NoRule:
		x.Code, x.Reason = api.ErrInvalidTarget, "no_rule" // RFC 8693 §2.2.2
	case policy.Condition:
		x.Code, x.Reason = api.ErrInvalidRequest, "condition_not_met" // unacceptable under policy
	case policy.Mapping:
		x.Code, x.Reason = api.ErrInvalidRequest, "claim_mapping_failed" // the subject's claims do not fit the rule
	default:
		x.Code, x.Reason = api.ErrInvalidScope, "no_scope"
	}
	return x
}

func (s *Service) mint(ctx context.Context, in mint.Input) (mint.Token, error) {
	_, span := s.step(ctx, "tokex.mint")
	defer span.End()
	tok, err := s.minter.Mint(in)
	if err != nil {
		return tok, fail(span, &Error{Code: api.ErrServerError, Reason: "signing_failed", Description: "internal error", Err: err})
	}
	return tok, nil
}

// step starts the span of one step. Under a root span that is not recorded
// (no exporter: the default) children would not be recorded either, so none is
// started: trace context still flows, at no cost per step.
func (s *Service) step(ctx context.Context, name string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, noop.Span{}
	}
	return s.tracer.Start(ctx, name)
}

func fail(span trace.Span, e *Error) *Error {
	span.SetAttributes(attribute.String(AttrErrorCode, string(e.Code)), attribute.String(AttrReason, e.Reason))
	span.SetStatus(codes.Error, e.Reason)
	return e
}

func (s *Service) finish(ctx context.Context, span trace.Span, rec *record, xe *Error) {
	outcome := "granted"
	if xe != nil {
		outcome = "refused"
	}
	if xe != nil {
		span.SetStatus(codes.Error, xe.Reason)
	}
	if span.IsRecording() {
		// The exchange's attributes go on its root span in one call: step
		// spans carry only what failed. (Built only for a recording span: the
		// array escapes to the heap.)
		attrs := [7]attribute.KeyValue{
			attribute.String(AttrOutcome, outcome),
			attribute.String(AttrClientID, rec.clientID),
			attribute.String(AttrIssuer, rec.issuer),
			attribute.String(AttrRule, rec.rule),
			attribute.String(AttrAudience, rec.audience),
		}
		n := 5
		if xe != nil {
			attrs[5], attrs[6] = attribute.String(AttrErrorCode, string(xe.Code)), attribute.String(AttrReason, xe.Reason)
			n = 7
		}
		span.SetAttributes(attrs[:n]...)
	}
	if !s.audit.Enabled(ctx, slog.LevelInfo) {
		return
	}
	var buf [20]slog.Attr // on the stack: Record.AddAttrs copies
	log := append(buf[:0],
		slog.String("outcome", outcome),
		slog.String("client_id", rec.clientID),
		slog.String("issuer", rec.issuer),
		slog.String("subject", rec.subject),
		slog.String("rule", rec.rule),
		slog.String("audience", rec.audience),
		slog.String("scope", rec.scope),
		slog.String("jti", rec.jti),
	)
	if xe != nil {
		if rec.actor != "" {
			log = append(log, slog.String("actor", rec.actor))
		}
		log = append(log, slog.String("error", string(xe.Code)), slog.String("reason", xe.Reason), slog.String("error_description", xe.Description))
		if xe.Err != nil && xe.Code == api.ErrServerError {
			log = append(log, slog.String("cause", xe.Err.Error()))
		}
	} else {
		if rec.actor != "" {
			log = append(log, slog.String("actor", rec.actor))
		}
		log = append(log, slog.Time("expires_at", rec.expiresAt))
	}
	if rec.profile != "" {
		log = append(log, slog.String("profile", rec.profile))
	}
	if rec.txn != "" {
		log = append(log, slog.String("txn", rec.txn))
	}
	// The binding decision (RFC 9449, RFC 8705): thumbprint prefixes only.
	if rec.binding != "" && rec.binding != "none" {
		log = append(log, slog.String("binding", rec.binding), slog.String("cnf", rec.cnf))
	}
	if rec.subjectCnf != "" {
		log = append(log, slog.String("subject_cnf", rec.subjectCnf))
	}
	if sc := span.SpanContext(); sc.HasTraceID() {
		log = append(log, slog.String("trace_id", sc.TraceID().String()))
	}
	// The handler directly, not Logger.LogAttrs: the logger would walk the
	// stack for a source position the audit event never shows. A failing
	// audit writer cannot be answered from here.
	now := time.Now()
	if h, ok := s.audit.Handler().(*telemetry.AuditHandler); ok {
		_ = h.HandleAttrs(ctx, now, slog.LevelInfo, "exchange", log)
		return
	}
	r := slog.NewRecord(now, slog.LevelInfo, "exchange", 0)
	r.AddAttrs(log...)
	_ = s.audit.Handler().Handle(ctx, r)
}
