package inspect

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the report for a person.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s\t%s\n", label, value)
		}
	}
	line("kind", r.kindLine())
	line("idp", r.idpLine())
	line("issuer", r.Issuer)
	line("audience", strings.Join(r.Audience, ", "))
	line("subject", r.Subject)
	line("client", r.ClientID)
	line("scopes", strings.Join(r.Scopes, " "))
	line("roles", strings.Join(r.Roles, " "))
	line("groups", strings.Join(r.Groups, " "))
	if r.IssuedAt != nil {
		line("issued", r.IssuedAt.Format(time.RFC3339))
	}
	line("expires", r.expiryLine())
	line("alg", r.algLine())
	line("typ", r.Typ)
	if b := r.Binding; b != nil {
		if b.Method == "dpop" {
			line("binding", "DPoP-bound (cnf.jkt "+b.Thumbprint+"): the caller must prove the key with a DPoP proof")
		} else {
			line("binding", "certificate-bound (cnf.x5t#S256 "+b.Thumbprint+"): the caller must present that client certificate (mTLS)")
		}
	}
	if len(r.ActorChain) > 0 {
		line("actor chain", actorChain(r.ActorChain))
	}
	for _, m := range r.Malformed {
		line("malformed", m)
	}
	for _, n := range r.Notes {
		line("note", n)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Checks) > 0 || len(r.NotChecked) > 0 {
		fmt.Fprintln(w, "\nchecks")
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range r.Checks {
		mark := "ok"
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", mark, c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(tw, "  \t\tfix: %s\n", c.Fix)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.NotChecked) > 0 {
		flags := map[string]string{checkSig: "--verify", checkIss: "--issuer", checkAud: "--audience"}
		var ns []string
		for _, n := range r.NotChecked {
			ns = append(ns, n+" (give "+flags[n]+")")
		}
		fmt.Fprintf(w, "  not checked: %s\n", strings.Join(ns, ", "))
	}
	_, err := fmt.Fprintf(w, "\nverdict: %s\n", r.verdictLine())
	return err
}

func (r *Report) kindLine() string {
	names := map[string]string{
		KindAccessToken: "access token", KindIDToken: "ID token", KindJWT: "JWT of unknown profile",
		KindTxnToken: "Transaction Token", KindIDJAG: "ID-JAG", KindDPoPProof: "DPoP proof", KindJWE: "JWE", KindOpaque: "opaque",
	}
	return names[r.Kind] + ": " + r.KindDetail
}

func (r *Report) idpLine() string {
	if r.IdPName == "" {
		if r.Kind == KindOpaque || r.Kind == KindJWE {
			return ""
		}
		return "not recognised"
	}
	var ps []string
	for _, k := range slices.Sorted(maps.Keys(r.IdPParams)) {
		ps = append(ps, k+" "+r.IdPParams[k])
	}
	if len(ps) == 0 {
		return r.IdPName
	}
	return r.IdPName + ", " + strings.Join(ps, ", ")
}

func (r *Report) expiryLine() string {
	switch {
	case r.ExpiresAt == nil:
		if r.Kind == KindOpaque || r.Kind == KindJWE {
			return ""
		}
		return "never (no exp)"
	case r.Expired:
		return fmt.Sprintf("%s (expired %s ago)", r.ExpiresAt.Format(time.RFC3339), human(r.now.Sub(*r.ExpiresAt)))
	}
	return fmt.Sprintf("%s (in %s)", r.ExpiresAt.Format(time.RFC3339), human(r.ExpiresAt.Sub(r.now)))
}

func (r *Report) algLine() string {
	if r.Alg == "" {
		return ""
	}
	s := r.Alg
	if r.Kid != "" {
		s += ", kid " + r.Kid
	}
	if r.Kind != KindJWE {
		s += fmt.Sprintf(", signature %d bytes", r.SignatureBytes)
	}
	return s
}

// actorChain is the delegation chain, the current actor first, each
// followed by the one it acts for (RFC 8693 §4.1: a nested act is a prior actor).
func actorChain(as []Actor) string {
	var parts []string
	for _, a := range as {
		s := a.Subject
		if a.ClientID != "" {
			s += " (client " + a.ClientID + ")"
		}
		if a.Issuer != "" {
			s += " of " + a.Issuer
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " <- ") + " (current actor first)"
}

func (r *Report) verdictLine() string {
	switch r.Verdict {
	case Accepted:
		return "accepted: no check fails"
	case NotAToken:
		return "not a token tokex can read: nothing to check"
	}
	var failed []string
	for _, c := range r.Checks {
		if !c.OK {
			failed = append(failed, c.Name)
		}
	}
	return "refused: " + strings.Join(failed, ", ") + " would fail"
}
