package issuer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/tokex/tokex/internal/condition"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/jws"
)

// setup is what is built once per configured issuer and shared by the
// verifiers of a template's tenants: the compiled `validate` rules and
// `subject` expression, and the HTTP transport (with the issuer's ca_file).
type setup struct {
	rules   []claimRule
	subject cel.Program // nil: the sub claim
	prefix  string
	base    http.RoundTripper
	err     error // the config could not be built: every token is refused
}

type claimRule struct {
	prg     cel.Program
	message string
}

// newSetup compiles what config validation has already checked; an error
// here means a policy that skipped validation, and fails closed.
func (r *Registry) newSetup(cfg config.Issuer) *setup {
	c := &setup{prefix: cfg.SubjectPrefix, base: r.opts.Transport}
	if cfg.CAFile != "" {
		pool, msg := config.ReadCAFile(cfg.CAFile)
		if msg != "" {
			c.err = fmt.Errorf("ca_file: %s", msg)
			return c
		}
		var t *http.Transport
		if bt, ok := r.opts.Transport.(*http.Transport); ok {
			t = bt.Clone()
		} else {
			t = http.DefaultTransport.(*http.Transport).Clone()
		}
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		t.TLSClientConfig.RootCAs = pool
		c.base = t
		r.extraTransports = append(r.extraTransports, t)
	}
	if len(cfg.Validations) == 0 && strings.TrimSpace(cfg.Subject) == "" {
		return c
	}
	env, err := condition.NewEnv()
	if err != nil {
		c.err = err
		return c
	}
	for i, r := range cfg.Validations {
		prg, err := condition.Compile(env, r.Expr)
		if err != nil {
			c.err = fmt.Errorf("validate[%d]: %w", i, err)
			return c
		}
		c.rules = append(c.rules, claimRule{prg: prg, message: r.Message})
	}
	if strings.TrimSpace(cfg.Subject) != "" {
		if c.subject, err = condition.CompileString(env, cfg.Subject); err != nil {
			c.err = fmt.Errorf("subject: %w", err)
		}
	}
	return c
}

// checkRules runs the validate rules, in order: the first that does not hold
// refuses the token with its message.
func (c *setup) checkRules(ctx context.Context, p *Principal) error {
	if len(c.rules) == 0 {
		return nil
	}
	claims, err := claimsOf(p)
	if err != nil {
		return err
	}
	for _, r := range c.rules {
		// A rule that cannot be evaluated (a missing claim) does not hold.
		if ok, err := condition.EvalBool(ctx, r.prg, claims); !ok {
			return refuse(ReasonClaimRule, err, "%s", r.message)
		}
	}
	return nil
}

// setSubject sets the subject of p: the subject expression's value (the sub
// claim without one), after subject_prefix.
func (c *setup) setSubject(ctx context.Context, cfg config.Issuer, p *Principal) error {
	if c.subject != nil {
		claims, err := claimsOf(p)
		if err != nil {
			return err
		}
		s, err := condition.EvalString(ctx, c.subject, claims)
		if err != nil || s == "" {
			return refuse(ReasonMissingClaim, err, "issuer %q takes the subject from %s, which gives no value for this token", cfg.Name, jws.Clip(cfg.Subject))
		}
		p.Subject = s
	}
	p.Subject = c.prefix + p.Subject
	return nil
}

func claimsOf(p *Principal) (map[string]any, error) {
	claims, err := p.Claims()
	if err != nil {
		return nil, refuse(ReasonMalformed, err, "the token's claims could not be decoded")
	}
	return claims, nil
}

func (v *verifier) graphError(err error) error {
	return refuse(ReasonAudience, err, "audience not accepted: this token was issued for https://graph.microsoft.com; request a token for %s instead (scope %s/.default)",
		v.audienceHint(), strings.TrimSuffix(v.audienceHint(), "/"))
}

// audienceHint is the audience a client should request tokens for.
func (v *verifier) audienceHint() string {
	if len(v.cfg.Audiences) == 0 {
		return "tokex"
	}
	return v.cfg.Audiences[0]
}
