package client

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/url"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/config"
)

// Client is an authenticated caller.
type Client struct {
	ID     string
	Method string // api.AuthMethodClientSecretBasic or api.AuthMethodClientSecretPost
}

type entry struct {
	id     string
	digest [sha256.Size]byte
}

// Registry holds the configured clients.
type Registry struct {
	byID map[string]*entry
}

// NewRegistry builds the registry from validated config.
func NewRegistry(cs []config.Client) *Registry {
	r := &Registry{byID: make(map[string]*entry, len(cs))}
	for _, c := range cs {
		e := &entry{id: c.ID}
		b, _ := hex.DecodeString(c.SecretSHA256) // validated by config
		copy(e.digest[:], b)
		r.byID[c.ID] = e
	}
	return r
}

// Credentials are what the request carried.
type Credentials struct {
	Basic                  bool // an Authorization: Basic header was sent
	BasicUser, BasicSecret string
	PostID, PostSecret     string // client_id and client_secret form fields
}

// Kind classifies a failed authentication.
type Kind int

// Failure kinds.
const (
	Failed   Kind = iota + 1 // invalid_client
	Multiple                 // more than one method: invalid_request
)

// Error is a failed client authentication; Description is safe for clients.
type Error struct {
	Kind        Kind
	Description string
	Basic       bool // the client tried HTTP Basic: answer with a Basic challenge
}

func (e *Error) Error() string { return e.Description }

func failed(c Credentials, desc string) *Error {
	return &Error{Kind: Failed, Description: desc, Basic: c.Basic}
}

// dummy keeps the work for an unknown client equal to that for a known one.
var dummy = &entry{}

// Authenticate checks the credentials against the registry.
func (r *Registry) Authenticate(c Credentials) (*Client, error) {
	if c.Basic && (c.PostSecret != "") {
		return nil, &Error{Kind: Multiple, Basic: true, Description: "the request uses two client authentication methods (HTTP Basic and client_secret in the body); use one"}
	}
	if c.Basic {
		if c.PostID != "" && c.PostID != c.BasicUser && c.PostID != unescape(c.BasicUser) {
			return nil, failed(c, "client_id in the body does not match the HTTP Basic client id")
		}
		// RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. Many
		// clients skip that step; accept both spellings.
		if cl := r.check(unescape(c.BasicUser), unescape(c.BasicSecret)); cl != nil {
			return &Client{ID: cl.id, Method: api.AuthMethodClientSecretBasic}, nil
		}
		if cl := r.check(c.BasicUser, c.BasicSecret); cl != nil {
			return &Client{ID: cl.id, Method: api.AuthMethodClientSecretBasic}, nil
		}
		return nil, failed(c, "client authentication failed: unknown client or wrong secret")
	}
	if c.PostID == "" {
		return nil, failed(c, "client authentication is required: send HTTP Basic credentials or client_id and client_secret")
	}
	if c.PostSecret == "" {
		return nil, failed(c, "client authentication failed: client_secret is missing")
	}
	if cl := r.check(c.PostID, c.PostSecret); cl != nil {
		return &Client{ID: cl.id, Method: api.AuthMethodClientSecretPost}, nil
	}
	return nil, failed(c, "client authentication failed: unknown client or wrong secret")
}

func (r *Registry) check(id, secret string) *entry {
	e, ok := r.byID[id]
	if !ok {
		e = dummy
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], e.digest[:]) == 1 && ok {
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
