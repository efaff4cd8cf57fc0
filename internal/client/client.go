package client

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/jws"
	"github.com/tokex/tokex/internal/replay"
)

// Client is an authenticated caller.
type Client struct {
	ID     string
	Method string // one of the api.AuthMethod* values
}

type entry struct {
	id     string
	auth   string // config.Auth*; "" for either secret method
	digest [sha256.Size]byte

	kf keyfunc.Keyfunc // private_key_jwt: this client's keys only

	subjectDN, sanDNS string // tls_client_auth
	pinned            []pin  // self_signed_tls_client_auth
}

// Options tune the registry; zero values take safe defaults.
type Options struct {
	// Issuer is tokex's issuer URL: a client assertion's aud must be it or
	// its token endpoint (RFC 7523 §3 item 3).
	Issuer string
	// Replay remembers assertion jti values; default an in-memory cache.
	Replay replay.Cache
	Now    func() time.Time
	Logger *slog.Logger
	// Transport fetches jwks_uri documents; default a clone of http.DefaultTransport.
	Transport http.RoundTripper
}

// Registry holds the configured clients.
type Registry struct {
	byID    map[string]*entry
	methods []string
	opts    Options
	auds    []string
	// validator checks an assertion's time claims and audience (RFC 7523 §3).
	validator *jwt.Validator
	headers   jws.HeaderCache
	cancel    context.CancelFunc
}

// NewRegistry builds the registry from validated config. Clients with a
// jwks_uri get their own key fetcher each (never one pool for several clients:
// one client's key must never authenticate another); Close stops them.
func NewRegistry(cs []config.Client, o Options) *Registry {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Replay == nil {
		o.Replay = replay.NewMemory(replay.MemoryOptions{Now: o.Now})
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registry{byID: make(map[string]*entry, len(cs)), opts: o, cancel: cancel}
	if o.Issuer != "" {
		r.auds = []string{o.Issuer, o.Issuer + "/token"}
	}
	r.validator = jwt.NewValidator(jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(AssertionLeeway), jwt.WithTimeFunc(o.Now), jwt.WithAudience(r.auds...))
	for _, c := range cs {
		e := &entry{id: c.ID, auth: c.Auth, subjectDN: c.TLSClientAuthSubjectDN, sanDNS: c.TLSClientAuthSANDNS}
		if c.UsesSecret() {
			b, _ := hex.DecodeString(c.SecretSHA256) // validated by config
			copy(e.digest[:], b)
		}
		if c.Auth == config.AuthPrivateKeyJWT {
			e.kf = r.keyfunc(ctx, c)
		}
		if c.Auth == config.AuthSelfSignedTLSClientAuth {
			var err error
			if e.pinned, err = pins(c.JWKS); err != nil {
				// Fails closed: no certificate matches an empty pin list.
				r.opts.Logger.Error("client keys: inline jwks cannot be used", "client_id", c.ID, "error", err)
			}
		}
		r.byID[c.ID] = e
		for _, m := range methodsOf(c.Auth) {
			if !slices.Contains(r.methods, m) {
				r.methods = append(r.methods, m)
			}
		}
	}
	return r
}

// Close stops fetching clients' keys.
func (r *Registry) Close() {
	if r.cancel != nil {
		r.cancel()
	}
}

// Methods are the authentication methods configured clients use, for the
// metadata's token_endpoint_auth_methods_supported (RFC 8414 §2).
func (r *Registry) Methods() []string { return slices.Clone(r.methods) }

// SigningAlgorithms are the client assertion algorithms tokex accepts, or nil
// when no client uses private_key_jwt (RFC 8414 §2:
// token_endpoint_auth_signing_alg_values_supported).
func (r *Registry) SigningAlgorithms() []string {
	if !slices.Contains(r.methods, api.AuthMethodPrivateKeyJWT) {
		return nil
	}
	return slices.Clone(config.SupportedAlgorithms)
}

func methodsOf(auth string) []string {
	switch auth {
	case "":
		return []string{api.AuthMethodClientSecretBasic, api.AuthMethodClientSecretPost}
	default:
		return []string{auth}
	}
}

// Credentials are what the request carried.
type Credentials struct {
	Basic                  bool // an Authorization: Basic header was sent
	BasicUser, BasicSecret string
	PostID, PostSecret     string // client_id and client_secret form fields
	// Assertion and AssertionType are client_assertion and
	// client_assertion_type (RFC 7523 §2.2).
	Assertion, AssertionType string
	// Cert is the TLS client certificate, set only when its chain verified
	// against TOKEX_TLS_CLIENT_CA (RFC 8705 §2.1).
	Cert *x509.Certificate
	// Presented is the client certificate of the mTLS connection whether or
	// not a CA vouches for it: the handshake proved its key, which is all
	// self_signed_tls_client_auth (RFC 8705 §2.2) and certificate-bound
	// tokens (§3) need.
	Presented *x509.Certificate
}

// Kind classifies a failed authentication.
type Kind int

// Failure kinds.
const (
	Failed      Kind = iota + 1 // invalid_client
	Multiple                    // more than one method: invalid_request
	None                        // no credentials at all: invalid_client, unless a rule serves unauthenticated callers
	Unavailable                 // the check cannot be made now (keys, replay cache): temporarily_unavailable
)

// Error is a failed client authentication; Description is safe for clients.
type Error struct {
	Kind        Kind
	Description string
	Basic       bool   // the client tried HTTP Basic: answer with a Basic challenge
	Reason      string // stable name of the failed check, for audit; "" for the generic one
	Err         error  // cause, for logs
}

func (e *Error) Error() string { return e.Description }
func (e *Error) Unwrap() error { return e.Err }

func failed(c Credentials, desc string) *Error {
	return &Error{Kind: Failed, Description: desc, Basic: c.Basic}
}

func failedf(c Credentials, reason, format string, args ...any) *Error {
	return &Error{Kind: Failed, Description: fmt.Sprintf(format, args...), Basic: c.Basic, Reason: reason}
}

// dummy keeps the work for an unknown client equal to that for a known one.
var dummy = &entry{}

// Authenticate checks the credentials against the registry. Exactly one method
// may be used (RFC 6749 §2.3), and it must be the one configured for the client.
func (r *Registry) Authenticate(ctx context.Context, c Credentials) (*Client, error) {
	var used []string
	if c.Basic {
		used = append(used, "HTTP Basic")
	}
	if c.PostSecret != "" {
		used = append(used, "client_secret in the body")
	}
	if c.Assertion != "" || c.AssertionType != "" {
		used = append(used, "client_assertion")
	}
	if len(used) > 1 {
		return nil, &Error{Kind: Multiple, Basic: c.Basic, Reason: "multiple_auth_methods",
			Description: fmt.Sprintf("the request uses %d client authentication methods (%s); use exactly one", len(used), strings.Join(used, ", "))}
	}
	switch {
	case c.Basic:
		return r.basic(c)
	case c.PostSecret != "":
		return r.post(c)
	case len(used) == 1:
		return r.assertion(ctx, c)
	case c.PostID == "":
		if c.Presented != nil {
			return nil, failedf(c, "missing_client_id", "a TLS client certificate was presented without client_id: tls_client_auth needs client_id in the body (RFC 8705 §2)")
		}
		return nil, &Error{Kind: None, Description: "client authentication is required: send HTTP Basic credentials, client_id and client_secret, a client_assertion, or client_id with a TLS client certificate"}
	}
	return r.tlsClientAuth(c)
}

func (r *Registry) basic(c Credentials) (*Client, error) {
	if c.PostID != "" && c.PostID != c.BasicUser && c.PostID != unescape(c.BasicUser) {
		return nil, failed(c, "client_id in the body does not match the HTTP Basic client id")
	}
	// RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. Many
	// clients skip that step; accept both spellings.
	for _, id := range []string{unescape(c.BasicUser), c.BasicUser} {
		if err := r.secretMethod(c, id, api.AuthMethodClientSecretBasic); err != nil {
			return nil, err
		}
	}
	if cl := r.check(unescape(c.BasicUser), unescape(c.BasicSecret)); cl != nil {
		return &Client{ID: cl.id, Method: api.AuthMethodClientSecretBasic}, nil
	}
	if cl := r.check(c.BasicUser, c.BasicSecret); cl != nil {
		return &Client{ID: cl.id, Method: api.AuthMethodClientSecretBasic}, nil
	}
	return nil, failed(c, "client authentication failed: unknown client or wrong secret")
}

func (r *Registry) post(c Credentials) (*Client, error) {
	if c.PostID == "" {
		return nil, failed(c, "client authentication is required: send HTTP Basic credentials or client_id and client_secret")
	}
	if err := r.secretMethod(c, c.PostID, api.AuthMethodClientSecretPost); err != nil {
		return nil, err
	}
	if cl := r.check(c.PostID, c.PostSecret); cl != nil {
		return &Client{ID: cl.id, Method: api.AuthMethodClientSecretPost}, nil
	}
	return nil, failed(c, "client authentication failed: unknown client or wrong secret")
}

// secretMethod refuses a known client that is not configured for method.
func (r *Registry) secretMethod(c Credentials, id, method string) error {
	e, ok := r.byID[id]
	if !ok || e.auth == "" || e.auth == method {
		return nil
	}
	return failedf(c, "auth_method_not_allowed", "client %q is configured for %s, not %s", jws.Clip(id), e.auth, method)
}

func (r *Registry) check(id, secret string) *entry {
	e, ok := r.byID[id]
	if !ok {
		e = dummy
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], e.digest[:]) == 1 && ok && (e.auth == "" || e.auth == config.AuthClientSecretBasic || e.auth == config.AuthClientSecretPost) {
		return e
	}
	return nil
}

func unescape(s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}
