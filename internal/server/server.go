package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/exchange"
	"github.com/tokex/tokex/internal/jsonenc"
	"github.com/tokex/tokex/internal/keys"
)

// DefaultMaxBodyBytes caps a /token request body unless Options say otherwise:
// three tokens of issuer.MaxTokenBytes and change.
const DefaultMaxBodyBytes = 64 << 10

// Options build the handler.
type Options struct {
	Exchange       *exchange.Service
	Keys           *atomic.Pointer[keys.Set]
	Issuer         string // tokex's issuer URL (metadata issuer, iss of tokens)
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider // otelgin's HTTP server metrics; nil: the global one
	// Ready reports readiness checks; nil means always ready.
	Ready func() (bool, map[string]string)
	// Demo, when set, serves POST /demo/token (demo mode only).
	Demo http.HandlerFunc
	// MaxBodyBytes caps a /token body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// AuthMetadata returns the metadata's token_endpoint_auth_methods_supported
	// and token_endpoint_auth_signing_alg_values_supported under the running
	// policy (it changes on reload); nil, or nil methods, means the two client
	// secret methods.
	AuthMetadata func() (methods, signingAlgs []string)
	// DPoPAlgorithms are the DPoP proof algorithms under the running policy
	// (dpop_signing_alg_values_supported); nil: none advertised.
	DPoPAlgorithms func() []string
	// CertBoundTokens advertises tls_client_certificate_bound_access_tokens.
	CertBoundTokens bool
	// ClientCerts: where client certificates come from (RFC 8705); nil:
	// certificates of tokex's TLS listener that the TLS stack verified.
	ClientCerts *ClientCerts
}

// New builds the HTTP handler.
func New(o Options) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	// gin trusts X-Forwarded-For from anyone by default: a client could name
	// any address as its own in spans. Only the peer's address counts.
	if err := r.SetTrustedProxies(nil); err != nil {
		panic(err) // nil is always accepted
	}
	r.Use(recovery(o.Logger))
	if o.TracerProvider != nil {
		opts := []otelgin.Option{otelgin.WithTracerProvider(o.TracerProvider)}
		if o.MeterProvider != nil {
			opts = append(opts, otelgin.WithMeterProvider(httpMeterProvider{o.MeterProvider}))
		}
		r.Use(otelgin.Middleware("tokex", opts...))
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	h := &handlers{o: o, tooLarge: fmt.Sprintf("the request body is larger than %d bytes", o.MaxBodyBytes)}

	mount := func(g gin.IRoutes) {
		g.POST("/token", h.token)
		g.GET("/.well-known/jwks.json", h.jwks)
		g.GET("/.well-known/oauth-authorization-server", h.serveMetadata)
		g.GET("/.well-known/openid-configuration", h.serveMetadata)
		if o.Demo != nil {
			g.POST("/demo/token", gin.WrapF(o.Demo))
		}
	}
	mount(r)
	r.GET("/.well-known/oauth-authorization-server/*issuerPath", h.serveMetadataPath)
	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	if p := issuerPath(o.Issuer); p != "" {
		// The metadata advertises <issuer>/token and <issuer>/.well-known/...,
		// and OIDC discovery appends to the issuer: serve them under the
		// issuer's path too, as well as at the root for proxies that strip it.
		mount(r.Group(p))
	}
	r.NoRoute(func(c *gin.Context) {
		writeError(c, http.StatusNotFound, api.ErrInvalidRequest, "no such endpoint")
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, api.ErrInvalidRequest, "method not allowed")
	})
	return r
}

type handlers struct {
	o        Options
	tooLarge string
}

// status maps OAuth error codes to HTTP statuses: the one table (RFC 6749 §5.2).
func status(code api.ErrorCode) int {
	switch code {
	case api.ErrInvalidClient:
		return http.StatusUnauthorized
	case api.ErrTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	case api.ErrServerError:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// dpopHeaderKey is the DPoP header (RFC 9449 §4.1) as net/http stores it:
// looked up directly, not canonicalized on every request.
var dpopHeaderKey = http.CanonicalHeaderKey(api.HeaderDPoP)

func (h *handlers) token(c *gin.Context) {
	// refuse answers a request the pipeline cannot even read, and audits it.
	refuse := func(status int, code api.ErrorCode, reason, desc string) {
		h.o.Exchange.Refused(c.Request.Context(), &exchange.Error{Code: code, Reason: reason, Description: desc})
		writeError(c, status, code, desc)
	}
	// RFC 9110 §15.5.14: a declared length over the cap is refused before
	// anything else, without reading the body (the client may never send it).
	if c.Request.ContentLength > h.o.MaxBodyBytes {
		h.tooLargeBody(c, refuse)
		return
	}
	// RFC 6749 §3.2: the token endpoint takes a form body.
	if !isForm(c.GetHeader("Content-Type")) {
		refuse(http.StatusBadRequest, api.ErrInvalidRequest, "bad_content_type", "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	if q := c.Request.URL.RawQuery; q != "" {
		// Tokens and secrets in a URL end up in access logs.
		if vs, err := url.ParseQuery(q); err != nil || hasTokenParam(vs) {
			refuse(http.StatusBadRequest, api.ErrInvalidRequest, "parameters_in_url", "parameters must be sent in the request body, not the URL")
			return
		}
	}
	body, err := readBody(http.MaxBytesReader(c.Writer, c.Request.Body, h.o.MaxBodyBytes), c.Request.ContentLength, h.o.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.tooLargeBody(c, refuse) // a chunked body past the cap
			return
		}
		refuse(http.StatusBadRequest, api.ErrInvalidRequest, "unreadable_body", "the request body could not be read")
		return
	}
	form, err := BindTokenRequest(body)
	if err != nil {
		refuse(http.StatusBadRequest, api.ErrInvalidRequest, "malformed_form", err.Error()) // formError text is client-safe
		return
	}
	creds := client.Credentials{PostID: form.ClientID, PostSecret: form.ClientSecret,
		Assertion: form.ClientAssertion, AssertionType: form.ClientAssertionType}
	creds.Cert, creds.Presented = h.o.ClientCerts.certs(c.Request)
	if authz := c.GetHeader("Authorization"); authz != "" {
		user, pass, ok := c.Request.BasicAuth()
		if !ok {
			c.Header("WWW-Authenticate", `Basic realm="tokex"`)
			refuse(http.StatusUnauthorized, api.ErrInvalidClient, "client_auth_failed", "the Authorization header must be HTTP Basic client credentials")
			return
		}
		creds.Basic, creds.BasicUser, creds.BasicSecret = true, user, pass
	}
	resp, err := h.o.Exchange.Exchange(c.Request.Context(), exchange.Request{Form: form, Credentials: creds, DPoP: c.Request.Header[dpopHeaderKey]})
	if err != nil {
		var xe *exchange.Error
		if !errors.As(err, &xe) {
			writeError(c, http.StatusInternalServerError, api.ErrServerError, "internal error")
			return
		}
		code := status(xe.Code)
		switch {
		case xe.BasicChallenge:
			c.Header("WWW-Authenticate", `Basic realm="tokex"`)
		case xe.RetryAfter > 0:
			code = tooManyRequests(c, xe.RetryAfter)
		case xe.Code == api.ErrTemporarilyUnavailable:
			c.Header("Retry-After", retryAfterSeconds)
		case xe.DPoPNonce != "":
			c.Header(api.HeaderDPoPNonce, xe.DPoPNonce) // RFC 9449 §8
		}
		desc := xe.Description
		if xe.Code == api.ErrServerError {
			desc = "internal error"
		}
		writeError(c, code, xe.Code, desc)
		return
	}
	noStore(c)
	writeBody(c, http.StatusOK, tokenResponseJSON(resp))
}

// tooLargeBody answers 413 (RFC 9110 §15.5.14) and closes the connection: the
// rest of the body is never read, so the connection cannot carry another
// request, and net/http would otherwise wait to drain it before answering.
func (h *handlers) tooLargeBody(c *gin.Context, refuse func(int, api.ErrorCode, string, string)) {
	c.Header("Connection", "close")
	refuse(http.StatusRequestEntityTooLarge, api.ErrInvalidRequest, "body_too_large", h.tooLarge)
}

// tokenResponseJSON is resp as encoding/json writes it (TestTokenResponseJSON
// holds the two equal), without its reflection: this runs on every exchange.
func tokenResponseJSON(r *api.TokenResponse) []byte {
	b := make([]byte, 0, len(r.AccessToken)+len(r.Scope)+160)
	b = append(b, '{')
	b = jsonenc.Compact(jsonenc.Member(b, "access_token"), r.AccessToken) // minted by tokex
	b = jsonenc.String(jsonenc.Member(b, "issued_token_type"), r.IssuedTokenType)
	b = jsonenc.String(jsonenc.Member(b, "token_type"), r.TokenType)
	b = jsonenc.Int(jsonenc.Member(b, "expires_in"), r.ExpiresIn)
	b = jsonenc.String(jsonenc.Member(b, "scope"), r.Scope)
	return append(b, '}')
}

// retryAfterSeconds is the Retry-After of a 503: about when an upstream's keys
// are tried again.
const retryAfterSeconds = "5"

// isForm reports whether a Content-Type is the form media type; the exact
// value most clients send is taken without parsing (RFC 9110 §8.3.1).
func isForm(contentType string) bool {
	const form = "application/x-www-form-urlencoded"
	if contentType == form {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == form
}

// readBody reads the whole body, sized by Content-Length when it is given, so a
// typical request costs one buffer instead of io.ReadAll's doublings.
func readBody(r io.Reader, contentLength, limit int64) (string, error) {
	size := 1024
	if contentLength > 0 && contentLength <= limit {
		size = int(contentLength) + 1 // +1: reaching EOF needs one more Read
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			// buf is never written again: the string shares its bytes (as
			// strings.Builder does) instead of copying a body of tokens.
			return unsafe.String(unsafe.SliceData(buf), len(buf)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

func hasTokenParam(vs url.Values) bool {
	for _, p := range []string{api.ParamSubjectToken, api.ParamActorToken, api.ParamClientSecret, api.ParamClientAssertion, api.ParamGrantType} {
		if _, ok := vs[p]; ok {
			return true
		}
	}
	return false
}

func (h *handlers) jwks(c *gin.Context) {
	ks := h.o.Keys.Load()
	// max-age is half of the key set's min_next, so a next key is in every
	// downstream cache before it signs (keys.Set.MaxAge).
	c.Header("Cache-Control", "public, max-age="+strconv.Itoa(int(ks.MaxAge()/time.Second)))
	c.Header("ETag", ks.ETag())
	if match := c.GetHeader("If-None-Match"); match != "" && etagMatches(match, ks.ETag()) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/jwk-set+json", ks.JWKS())
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func (h *handlers) buildMetadata() api.ServerMetadata {
	algs := []string{}
	for _, k := range h.o.Keys.Load().Keys() {
		if !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	var methods, signingAlgs []string
	if h.o.AuthMetadata != nil {
		methods, signingAlgs = h.o.AuthMetadata()
	}
	if methods == nil {
		methods = []string{api.AuthMethodClientSecretBasic, api.AuthMethodClientSecretPost}
	}
	var dpopAlgs []string
	if h.o.DPoPAlgorithms != nil {
		dpopAlgs = h.o.DPoPAlgorithms()
	}
	return api.ServerMetadata{
		Issuer:                            h.o.Issuer,
		TokenEndpoint:                     h.o.Issuer + "/token",
		JWKSURI:                           h.o.Issuer + "/.well-known/jwks.json",
		ResponseTypesSupported:            []string{}, // RFC 8414 §2: required; tokex has no authorization endpoint
		GrantTypesSupported:               []string{api.GrantTypeTokenExchange, api.GrantTypeJWTBearer},
		TokenEndpointAuthMethodsSupported: methods,
		TokenEndpointAuthSigningAlgValuesSupported: signingAlgs,
		IDTokenSigningAlgValuesSupported:           algs,
		SubjectTypesSupported:                      []string{"public"},
		DPoPSigningAlgValuesSupported:              dpopAlgs,
		TLSClientCertificateBoundAccessTokens:      h.o.CertBoundTokens,
	}
}

func (h *handlers) serveMetadata(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	// Built per request: the policy and the key set can be reloaded, and
	// discovery is fetched rarely (max-age below).
	c.Data(http.StatusOK, "application/json", mustJSON(h.buildMetadata()))
}

// serveMetadataPath serves RFC 8414 §3.1 metadata for an issuer with a path:
// /.well-known/oauth-authorization-server/<path>.
func (h *handlers) serveMetadataPath(c *gin.Context) {
	if p := issuerPath(h.o.Issuer); p == "" || c.Param("issuerPath") != p {
		writeError(c, http.StatusNotFound, api.ErrInvalidRequest, "no such endpoint")
		return
	}
	h.serveMetadata(c)
}

// issuerPath is the path of the issuer URL without a trailing '/', or "".
func issuerPath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

func (h *handlers) healthz(c *gin.Context) {
	writeJSON(c, http.StatusOK, api.HealthResponse{Status: "ok"})
}

func (h *handlers) readyz(c *gin.Context) {
	ok, checks := true, map[string]string(nil)
	if h.o.Ready != nil {
		ok, checks = h.o.Ready()
	}
	if !ok {
		writeJSON(c, http.StatusServiceUnavailable, api.HealthResponse{Status: "unavailable", Checks: checks})
		return
	}
	writeJSON(c, http.StatusOK, api.HealthResponse{Status: "ready", Checks: checks})
}

// Header values set on every /token answer; never modified.
var (
	hdrNoStore  = []string{"no-store"}
	hdrNoCache  = []string{"no-cache"}
	hdrJSONType = []string{"application/json"}
)

func noStore(c *gin.Context) {
	// RFC 6749 §5.1. Assigned, not Set: these run on every exchange.
	h := c.Writer.Header()
	h["Cache-Control"] = hdrNoStore
	h["Pragma"] = hdrNoCache
}

func writeError(c *gin.Context, code int, e api.ErrorCode, desc string) {
	noStore(c)
	writeJSON(c, code, api.ErrorResponse{Error: e, ErrorDescription: desc})
}

func writeJSON(c *gin.Context, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.Data(http.StatusInternalServerError, "application/json", []byte(`{"error":"server_error"}`))
		return
	}
	writeBody(c, code, b)
}

// writeBody writes a JSON body.
func writeBody(c *gin.Context, code int, body []byte) {
	c.Writer.Header()["Content-Type"] = hdrJSONType
	c.Status(code)
	_, _ = c.Writer.Write(body)
}

func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				if log != nil {
					log.Error("panic in handler", "path", c.FullPath(), "panic", p)
				}
				c.Abort()
				writeError(c, http.StatusInternalServerError, api.ErrServerError, "internal error")
			}
		}()
		c.Next()
	}
}

// httpMeterProvider gives otelgin the real instruments except the request and
// response body size histograms, which the HTTP semantic conventions mark
// Development (http.server.request.duration is the Stable one): two more
// histogram updates per exchange for bodies that are capped anyway.
type httpMeterProvider struct{ metric.MeterProvider }

func (p httpMeterProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return httpMeter{p.MeterProvider.Meter(name, opts...)}
}

type httpMeter struct{ metric.Meter }

// droppedHTTPMetrics are the instruments httpMeter hands out as no-ops.
var droppedHTTPMetrics = []string{"http.server.request.body.size", "http.server.response.body.size"}

func (m httpMeter) Int64Histogram(name string, opts ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	if slices.Contains(droppedHTTPMetrics, name) {
		return noop.Int64Histogram{}, nil
	}
	return m.Meter.Int64Histogram(name, opts...)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
