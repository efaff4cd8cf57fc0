package exchange_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/dpop"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/issuer"
	"github.com/tokex/tokex/internal/mint"
	"github.com/tokex/tokex/internal/replay"
	"github.com/tokex/tokex/internal/testidp"
)

const tokenEndpoint = "https://sts.example.com/token"

const bindingPolicy = `issuer: https://sts.example.com
issuers:
  - {name: corp, issuer_url: "https://idp.example.com", jwks_uri: "https://idp.example.com/jwks"}
clients:
  - {id: orders, secret_sha256: "%[1]s"}
  - {id: nonced, secret_sha256: "%[1]s", dpop_nonce: required}
rules:
  - {name: open, clients: [orders, nonced], issuers: [corp], audience: "https://open.example.com", scopes: [a]}
  - {name: dpop-only, clients: [orders], issuers: [corp], audience: "https://dpop.example.com", scopes: [a], sender_constraint: dpop}
  - {name: mtls-only, clients: [orders], issuers: [corp], audience: "https://mtls.example.com", scopes: [a], sender_constraint: mtls}
  - {name: any-binding, clients: [orders], issuers: [corp], audience: "https://any.example.com", scopes: [a], sender_constraint: any}
  - {name: rebind, clients: [orders], issuers: [corp], audience: "https://rebind.example.com", scopes: [a], bound_subject: rebind}
`

func TestBinding(t *testing.T) {
	key, other := testidp.NewDPoPKey(t, false), testidp.NewDPoPKey(t, true)
	cert, otherCert := testidp.SelfSignedCert(t, pkix.Name{CommonName: "orders"}), testidp.SelfSignedCert(t, pkix.Name{CommonName: "other"})
	x5t := exchange.CertThumbprint(cert)
	bound := func(jkt, x5t string, other ...string) *issuer.Principal {
		p := who("corp", "https://idp.example.com", "alice", nil)
		p.Audience = []string{"https://sts.example.com", "orders"}
		p.Confirmation = issuer.Confirmation{JKT: jkt, X5T: x5t, Other: other}
		return p
	}
	ver := tokenVerifier{
		"plain":      who("corp", "https://idp.example.com", "alice", nil),
		"dpop-bound": bound(key.JKT(), ""),
		"cert-bound": bound("", x5t),
		"jwk-bound":  bound("", "", "jwk"),
		"bound-not-us": func() *issuer.Principal {
			p := bound(key.JKT(), "")
			p.Audience = []string{"https://sts.example.com"}
			return p
		}(),
	}
	sum := sha256.Sum256([]byte(secret))
	p, compiled := compile(t, []byte(fmt.Sprintf(bindingPolicy, hex.EncodeToString(sum[:]))), "")
	ks, set := signingKeys(t)
	clock := func() time.Time { return now }
	nonces := dpop.NewNonces(dpop.NonceOptions{Now: clock})
	st := &exchange.State{Policy: compiled, Clients: client.NewRegistry(p.Clients, client.Options{Issuer: p.Issuer}), Issuers: ver,
		DPoP: dpop.NewVerifier(dpop.Options{Replay: replay.NewMemory(replay.MemoryOptions{Now: clock}), Nonces: nonces, Now: clock})}
	svc := exchange.New(exchange.Options{State: st, Minter: mint.New(p.Issuer, set, clock), Now: clock, TokenEndpoint: tokenEndpoint})
	proof := func(k *testidp.DPoPKey, claims map[string]any) []string {
		return []string{k.Proof(t, "POST", tokenEndpoint, now, nil, claims)}
	}

	tests := []struct {
		name       string
		subject    string
		audience   string
		user       string // client; default orders
		dpop       []string
		cert       *x509.Certificate
		wantType   string // token_type; default Bearer
		wantJKT    string
		wantX5T    string
		wantCode   api.ErrorCode
		wantReason string
	}{
		{name: "bearer", subject: "plain", audience: "https://open.example.com"},
		{name: "a DPoP proof binds even where the rule does not ask", subject: "plain", audience: "https://open.example.com", dpop: proof(key, nil), wantType: "DPoP", wantJKT: key.JKT()},
		{name: "a client certificate binds", subject: "plain", audience: "https://open.example.com", cert: cert, wantX5T: x5t},
		{name: "both bind", subject: "plain", audience: "https://open.example.com", dpop: proof(key, nil), cert: cert, wantType: "DPoP", wantJKT: key.JKT(), wantX5T: x5t},
		{name: "dpop rule with a proof", subject: "plain", audience: "https://dpop.example.com", dpop: proof(key, nil), wantType: "DPoP", wantJKT: key.JKT()},
		{name: "dpop rule without a proof", subject: "plain", audience: "https://dpop.example.com", wantCode: api.ErrInvalidRequest, wantReason: "dpop_proof_required"},
		{name: "dpop rule with a certificate only", subject: "plain", audience: "https://dpop.example.com", cert: cert, wantCode: api.ErrInvalidRequest, wantReason: "dpop_proof_required"},
		{name: "mtls rule with a certificate", subject: "plain", audience: "https://mtls.example.com", cert: cert, wantX5T: x5t},
		{name: "mtls rule without one", subject: "plain", audience: "https://mtls.example.com", dpop: proof(key, nil), wantCode: api.ErrInvalidRequest, wantReason: "client_certificate_required"},
		{name: "any rule with a proof", subject: "plain", audience: "https://any.example.com", dpop: proof(key, nil), wantType: "DPoP", wantJKT: key.JKT()},
		{name: "any rule with nothing", subject: "plain", audience: "https://any.example.com", wantCode: api.ErrInvalidRequest, wantReason: "sender_constraint_required"},
		{name: "invalid proof", subject: "plain", audience: "https://open.example.com", dpop: []string{key.Proof(t, "POST", "https://evil.example.com/token", now, nil, nil)}, wantCode: api.ErrInvalidDPoPProof, wantReason: string(dpop.ReasonURI)},
		{name: "two DPoP headers", subject: "plain", audience: "https://open.example.com", dpop: append(proof(key, nil), proof(key, nil)...), wantCode: api.ErrInvalidDPoPProof, wantReason: string(dpop.ReasonHeader)},

		{name: "DPoP-bound subject, proof with its key: stays bound to it", subject: "dpop-bound", audience: "https://open.example.com", dpop: proof(key, nil), wantType: "DPoP", wantJKT: key.JKT()},
		{name: "DPoP-bound subject without a proof", subject: "dpop-bound", audience: "https://open.example.com", wantCode: api.ErrInvalidRequest, wantReason: "subject_dpop_proof_missing"},
		{name: "DPoP-bound subject, proof with another key", subject: "dpop-bound", audience: "https://open.example.com", dpop: proof(other, nil), wantCode: api.ErrInvalidRequest, wantReason: "subject_dpop_key_mismatch"},
		{name: "DPoP-bound subject, certificate instead of a proof", subject: "dpop-bound", audience: "https://open.example.com", cert: cert, wantCode: api.ErrInvalidRequest, wantReason: "subject_dpop_proof_missing"},
		{name: "certificate-bound subject with its certificate", subject: "cert-bound", audience: "https://open.example.com", cert: cert, wantX5T: x5t},
		{name: "certificate-bound subject without one", subject: "cert-bound", audience: "https://open.example.com", wantCode: api.ErrInvalidRequest, wantReason: "subject_certificate_missing"},
		{name: "certificate-bound subject with another certificate", subject: "cert-bound", audience: "https://open.example.com", cert: otherCert, wantCode: api.ErrInvalidRequest, wantReason: "subject_certificate_mismatch"},
		{name: "subject bound by a method tokex cannot carry", subject: "jwk-bound", audience: "https://open.example.com", dpop: proof(key, nil), wantCode: api.ErrInvalidRequest, wantReason: "subject_binding_unsupported"},
		{name: "rebind: a client the aud names binds to its own key", subject: "dpop-bound", audience: "https://rebind.example.com", dpop: proof(other, nil), wantType: "DPoP", wantJKT: other.JKT()},
		{name: "rebind to the client's certificate", subject: "dpop-bound", audience: "https://rebind.example.com", cert: cert, wantX5T: x5t},
		{name: "rebind without a binding of its own", subject: "dpop-bound", audience: "https://rebind.example.com", wantCode: api.ErrInvalidRequest, wantReason: "binding_required"},
		{name: "rebind by a client the aud does not name", subject: "bound-not-us", audience: "https://rebind.example.com", dpop: proof(other, nil), wantCode: api.ErrInvalidRequest, wantReason: "rebind_not_audience"},

		{name: "nonce required, none sent", user: "nonced", subject: "plain", audience: "https://open.example.com", dpop: proof(key, nil), wantCode: api.ErrUseDPoPNonce, wantReason: string(dpop.ReasonNonce)},
		{name: "nonce required, a fresh one sent", user: "nonced", subject: "plain", audience: "https://open.example.com", dpop: proof(key, map[string]any{"nonce": nonces.Issue()}), wantType: "DPoP", wantJKT: key.JKT()},
		{name: "nonce required, but no proof at all: bearer", user: "nonced", subject: "plain", audience: "https://open.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creds := basic
			if tc.user != "" {
				creds.BasicUser = tc.user
			}
			creds.Presented = tc.cert
			f := api.TokenRequest{GrantType: api.GrantTypeTokenExchange, SubjectToken: tc.subject, SubjectTokenType: api.TokenTypeAccessToken, Audience: tc.audience}
			resp, err := svc.Exchange(context.Background(), exchange.Request{Form: f, Credentials: creds, DPoP: tc.dpop})
			if tc.wantCode != "" {
				xe := wantRefusal(t, resp, err, tc.wantCode, tc.wantReason)
				if (xe.Code == api.ErrUseDPoPNonce) != (xe.DPoPNonce != "") || (xe.DPoPNonce != "" && !nonces.Valid(xe.DPoPNonce)) {
					t.Errorf("DPoPNonce = %q with %s", xe.DPoPNonce, xe.Code)
				}
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			wantType := tc.wantType
			if wantType == "" {
				wantType = "Bearer"
			}
			if resp.TokenType != wantType {
				t.Errorf("token_type = %q, want %q", resp.TokenType, wantType)
			}
			claims := jwt.MapClaims{}
			if _, err := jwt.ParseWithClaims(resp.AccessToken, claims, func(*jwt.Token) (any, error) { return ks.Active().Public(), nil },
				jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(clock)); err != nil {
				t.Fatal(err)
			}
			cnf, _ := claims["cnf"].(map[string]any)
			if tc.wantJKT == "" && tc.wantX5T == "" {
				if claims["cnf"] != nil {
					t.Errorf("cnf = %v, want none", claims["cnf"])
				}
				return
			}
			if got, _ := cnf["jkt"].(string); got != tc.wantJKT {
				t.Errorf("cnf.jkt = %q, want %q", got, tc.wantJKT)
			}
			if got, _ := cnf["x5t#S256"].(string); got != tc.wantX5T {
				t.Errorf("cnf.x5t#S256 = %q, want %q", got, tc.wantX5T)
			}
		})
	}
}
