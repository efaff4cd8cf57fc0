package exchange

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/dpop"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/policy"
)

// proofs is what the caller proved possession of: a DPoP key (RFC 9449)
// and/or a TLS client certificate (RFC 8705).
type proofs struct {
	jkt string // the DPoP proof key's thumbprint; "" without a proof
	x5t string // the client certificate's SHA-256 thumbprint; "" without one
}

// checkDPoP validates the request's DPoP proof, if it carries a DPoP header
// (RFC 9449 §4.3); a request without one proves no key (nil). On a shared
// store the proof's jti is left to flush, with the exchange's rate limits.
func (s *Service) checkDPoP(ctx context.Context, st *State, req *Request, clientID string) (*dpop.Proof, error) {
	if len(req.DPoP) == 0 {
		return nil, nil
	}
	_, span := s.step(ctx, "tokex.dpop")
	defer span.End()
	if st.DPoP == nil {
		return nil, fail(span, refuse(api.ErrInvalidDPoPProof, string(dpop.ReasonHeader), "DPoP is not enabled on this server"))
	}
	p, err := st.DPoP.Verify(ctx, dpop.Request{Headers: req.DPoP, Method: http.MethodPost, URL: s.tokenEndpoint,
		NeedNonce: st.Policy.DPoPNonceRequired(clientID), DeferReplay: st.Shared != nil})
	if err != nil {
		var de *dpop.Error
		if !errors.As(err, &de) {
			return nil, fail(span, &Error{Code: api.ErrServerError, Reason: "internal", Description: "internal error", Err: err})
		}
		return nil, fail(span, dpopError(st, de))
	}
	return p, nil
}

// dpopError is the answer to a refused DPoP proof.
func dpopError(st *State, de *dpop.Error) *Error {
	xe := &Error{Code: api.ErrInvalidDPoPProof, Reason: string(de.Reason), Description: de.Description, Err: de.Err}
	switch de.Reason {
	case dpop.ReasonNonce:
		// RFC 9449 §8: the challenge carries the nonce to retry with.
		xe.Code, xe.DPoPNonce = api.ErrUseDPoPNonce, st.DPoP.Nonce()
	case dpop.ReasonUnavailable:
		xe.Code = api.ErrTemporarilyUnavailable // fail closed: never accept a proof unchecked
	}
	return xe
}

// CertThumbprint is the x5t#S256 of a certificate (RFC 8705 §3.1).
func CertThumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// bind decides the cnf of the minted token from the rule's
// sender_constraint, the subject token's own binding and what the caller
// proved. A bound subject token never loses its binding: by default the
// caller proves the subject's key and the minted token stays bound to it;
// with bound_subject: rebind, a client the subject's aud names binds it to
// its own key instead.
func bind(g policy.Grant, pr *issuer.Principal, clientID string, authenticated bool, pf proofs, rec *record) (*mint.Cnf, error) {
	b := g.Binding
	sub := pr.Confirmation
	rec.subjectCnf = short(sub.JKT, sub.X5T)
	if len(sub.Other) > 0 {
		return nil, refuse(api.ErrInvalidRequest, "subject_binding_unsupported",
			"subject_token is bound by cnf.%s, which tokex cannot carry into the token it mints: present a token bound with jkt (DPoP) or x5t#S256 (mTLS), or an unbound one", sub.Other[0])
	}
	if sub.JKT != "" || sub.X5T != "" {
		switch b.BoundSubject {
		case config.BoundSubjectRebind:
			if !authenticated || !slices.Contains(pr.Audience, clientID) {
				return nil, refuse(api.ErrInvalidRequest, "rebind_not_audience",
					"subject_token is sender-constrained and rule %q rebinds it only for a client its aud names; client %q is not among them", g.Rule, clientID)
			}
			if pf.jkt == "" && pf.x5t == "" {
				return nil, refuse(api.ErrInvalidRequest, "binding_required",
					"subject_token is sender-constrained: rule %q rebinds it to the caller's own key, so send a DPoP proof or call over mTLS with a client certificate", g.Rule)
			}
			rec.binding = "rebind"
		default:
			if sub.JKT != "" {
				switch {
				case pf.jkt == "":
					return nil, refuse(api.ErrInvalidRequest, "subject_dpop_proof_missing",
						"subject_token is DPoP-bound (cnf.jkt %s): send a DPoP proof signed with the key it is bound to", prefix(sub.JKT))
				case pf.jkt != sub.JKT:
					return nil, refuse(api.ErrInvalidRequest, "subject_dpop_key_mismatch",
						"the DPoP proof's key (jkt %s) is not the key subject_token is bound to (jkt %s)", prefix(pf.jkt), prefix(sub.JKT))
				}
			}
			if sub.X5T != "" {
				switch {
				case pf.x5t == "":
					return nil, refuse(api.ErrInvalidRequest, "subject_certificate_missing",
						"subject_token is bound to a client certificate (cnf.x5t#S256 %s): call over mTLS with that certificate", prefix(sub.X5T))
				case pf.x5t != sub.X5T:
					return nil, refuse(api.ErrInvalidRequest, "subject_certificate_mismatch",
						"the client certificate (x5t#S256 %s) is not the one subject_token is bound to (%s)", prefix(pf.x5t), prefix(sub.X5T))
				}
			}
		}
	}
	switch b.Constraint {
	case config.SenderConstraintDPoP:
		if pf.jkt == "" {
			return nil, refuse(api.ErrInvalidRequest, "dpop_proof_required", "rule %q mints DPoP-bound tokens only: send a DPoP proof (RFC 9449) in the DPoP header", g.Rule)
		}
	case config.SenderConstraintMTLS:
		if pf.x5t == "" {
			return nil, refuse(api.ErrInvalidRequest, "client_certificate_required", "rule %q mints certificate-bound tokens only: call over mTLS with a client certificate (RFC 8705)", g.Rule)
		}
	case config.SenderConstraintAny:
		if pf.jkt == "" && pf.x5t == "" {
			return nil, refuse(api.ErrInvalidRequest, "sender_constraint_required", "rule %q mints sender-constrained tokens only: send a DPoP proof, or call over mTLS with a client certificate", g.Rule)
		}
	}
	if pf.jkt == "" && pf.x5t == "" {
		rec.binding = "none"
		return nil, nil
	}
	if rec.binding == "" {
		rec.binding = "bound"
	}
	rec.cnf = short(pf.jkt, pf.x5t)
	return &mint.Cnf{JKT: pf.jkt, X5T: pf.x5t}, nil
}

// short names a binding in audit events: a prefix of each thumbprint, enough
// to match a token to a key, never the whole.
func short(jkt, x5t string) string {
	switch {
	case jkt != "" && x5t != "":
		return "jkt:" + prefix(jkt) + " x5t:" + prefix(x5t)
	case jkt != "":
		return "jkt:" + prefix(jkt)
	case x5t != "":
		return "x5t:" + prefix(x5t)
	}
	return ""
}

func prefix(s string) string {
	if len(s) > 8 {
		return s[:8] + "…"
	}
	return s
}
