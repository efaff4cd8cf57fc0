package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tokex/tokex/api"
	"github.com/tokex/tokex/internal/client"
	"github.com/tokex/tokex/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Secrets chosen to exercise both Basic spellings (RFC 6749 §2.3.1): plain
// unreserved characters, '+', a literal "%2B", ':', a space and non-ASCII.
const (
	plainSecret   = "s3cr3t-._~Secret"
	plusSecret    = "a+b/c=="
	percentSecret = "literally%2Bpercent"
	colonSecret   = "one:two:three"
	spaceSecret   = "with space"
	unicodeSecret = "pässwörd-日本"
	wrongSecret   = "n0t-the-s3cret"
)

func registry() *client.Registry {
	return client.NewRegistry([]config.Client{
		{ID: "orders", SecretSHA256: digest(plainSecret)},
		{ID: "plus", SecretSHA256: digest(plusSecret)},
		{ID: "percent", SecretSHA256: digest(percentSecret)},
		{ID: "colon", SecretSHA256: digest(colonSecret)},
		{ID: "space", SecretSHA256: digest(spaceSecret)},
		{ID: "unicode", SecretSHA256: digest(unicodeSecret)},
		{ID: "svc:a+b", SecretSHA256: digest(plainSecret)},
		{ID: "UPPER", SecretSHA256: digest(plainSecret)},
	}, client.Options{})
}

// basic is what the server passes on for an Authorization: Basic header:
// the user and password exactly as decoded from base64, split at the first ':'.
func basic(user, secret string) client.Credentials {
	return client.Credentials{Basic: true, BasicUser: user, BasicSecret: secret}
}

// encoded is basic with the form-urlencoding of RFC 6749 §2.3.1 applied first.
func encoded(user, secret string) client.Credentials {
	return basic(url.QueryEscape(user), url.QueryEscape(secret))
}

func TestAuthenticate(t *testing.T) {
	r := registry()
	tests := []struct {
		name       string
		creds      client.Credentials
		wantID     string
		wantMethod string
		wantKind   client.Kind // 0: success
		wantBasic  bool        // the error asks for a Basic challenge
	}{
		// client_secret_basic, both spellings.
		{name: "basic plain", creds: basic("orders", plainSecret), wantID: "orders", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic form-urlencoded plain", creds: encoded("orders", plainSecret), wantID: "orders", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic '+' sent raw", creds: basic("plus", plusSecret), wantID: "plus", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic '+' form-urlencoded as %2B", creds: encoded("plus", plusSecret), wantID: "plus", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic literal %2B sent raw", creds: basic("percent", percentSecret), wantID: "percent", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic literal %2B form-urlencoded", creds: encoded("percent", percentSecret), wantID: "percent", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic ':' in the secret sent raw", creds: basic("colon", colonSecret), wantID: "colon", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic ':' in the secret form-urlencoded", creds: encoded("colon", colonSecret), wantID: "colon", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic space sent raw", creds: basic("space", spaceSecret), wantID: "space", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic space form-urlencoded as '+'", creds: encoded("space", spaceSecret), wantID: "space", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic space form-urlencoded as %20", creds: basic("space", "with%20space"), wantID: "space", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic unicode sent raw", creds: basic("unicode", unicodeSecret), wantID: "unicode", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic unicode form-urlencoded", creds: encoded("unicode", unicodeSecret), wantID: "unicode", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic client id with ':' and '+' form-urlencoded", creds: encoded("svc:a+b", plainSecret), wantID: "svc:a+b", wantMethod: api.AuthMethodClientSecretBasic},
		{name: "basic with a matching client_id in the body", wantID: "orders", wantMethod: api.AuthMethodClientSecretBasic,
			creds: client.Credentials{Basic: true, BasicUser: "orders", BasicSecret: plainSecret, PostID: "orders"}},
		{name: "basic encoded id with the decoded client_id in the body", wantID: "svc:a+b", wantMethod: api.AuthMethodClientSecretBasic,
			creds: client.Credentials{Basic: true, BasicUser: url.QueryEscape("svc:a+b"), BasicSecret: plainSecret, PostID: "svc:a+b"}},

		// client_secret_post.
		{name: "post", creds: client.Credentials{PostID: "orders", PostSecret: plainSecret}, wantID: "orders", wantMethod: api.AuthMethodClientSecretPost},
		{name: "post '+' (the form binder already decoded it)", creds: client.Credentials{PostID: "plus", PostSecret: plusSecret}, wantID: "plus", wantMethod: api.AuthMethodClientSecretPost},
		{name: "post unicode", creds: client.Credentials{PostID: "unicode", PostSecret: unicodeSecret}, wantID: "unicode", wantMethod: api.AuthMethodClientSecretPost},

		// Refusals.
		{name: "both methods", wantKind: client.Multiple, wantBasic: true,
			creds: client.Credentials{Basic: true, BasicUser: "orders", BasicSecret: plainSecret, PostID: "orders", PostSecret: plainSecret}},
		{name: "both methods, client_secret only in the body", wantKind: client.Multiple, wantBasic: true,
			creds: client.Credentials{Basic: true, BasicUser: "orders", BasicSecret: plainSecret, PostSecret: plainSecret}},
		{name: "basic wrong secret", creds: basic("orders", wrongSecret), wantKind: client.Failed, wantBasic: true},
		{name: "basic secret of another client", creds: basic("orders", plusSecret), wantKind: client.Failed, wantBasic: true},
		{name: "basic unknown client", creds: basic("nobody", plainSecret), wantKind: client.Failed, wantBasic: true},
		{name: "basic client id in another case", creds: basic("ORDERS", plainSecret), wantKind: client.Failed, wantBasic: true},
		{name: "basic empty secret", creds: basic("orders", ""), wantKind: client.Failed, wantBasic: true},
		{name: "basic empty user and secret", creds: basic("", ""), wantKind: client.Failed, wantBasic: true},
		{name: "basic with a different client_id in the body", wantKind: client.Failed, wantBasic: true,
			creds: client.Credentials{Basic: true, BasicUser: "orders", BasicSecret: plainSecret, PostID: "plus"}},
		{name: "post wrong secret", creds: client.Credentials{PostID: "orders", PostSecret: wrongSecret}, wantKind: client.Failed},
		{name: "post unknown client", creds: client.Credentials{PostID: "nobody", PostSecret: plainSecret}, wantKind: client.Failed},
		{name: "post secret form-urlencoded twice", creds: client.Credentials{PostID: "plus", PostSecret: url.QueryEscape(plusSecret)}, wantKind: client.Failed},
		{name: "post missing secret", creds: client.Credentials{PostID: "orders"}, wantKind: client.Failed},
		{name: "post secret without client_id", creds: client.Credentials{PostSecret: plainSecret}, wantKind: client.Failed},
		{name: "no credentials", creds: client.Credentials{}, wantKind: client.None},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := r.Authenticate(context.Background(), tc.creds)
			if tc.wantKind == 0 {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if cl.ID != tc.wantID || cl.Method != tc.wantMethod {
					t.Errorf("client = %+v, want %s by %s", cl, tc.wantID, tc.wantMethod)
				}
				return
			}
			if err == nil {
				t.Fatalf("Authenticate = %+v, want a refusal", cl)
			}
			if cl != nil {
				t.Errorf("a refusal returned client %+v", cl)
			}
			var ce *client.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *client.Error", err)
			}
			if ce.Kind != tc.wantKind {
				t.Errorf("Kind = %v, want %v (%s)", ce.Kind, tc.wantKind, ce.Description)
			}
			if ce.Basic != tc.wantBasic {
				t.Errorf("Basic = %v, want %v", ce.Basic, tc.wantBasic)
			}
			if ce.Description == "" {
				t.Error("no description")
			}
			for _, s := range []string{plainSecret, plusSecret, unicodeSecret, tc.creds.BasicSecret, tc.creds.PostSecret} {
				if s != "" && len(s) > 3 && strings.Contains(ce.Description, s) {
					t.Errorf("the description echoes a secret: %q", ce.Description)
				}
			}
		})
	}
}

// TestUnknownClientLooksLikeWrongSecret: the answer must not tell an attacker
// which client ids exist.
func TestUnknownClientLooksLikeWrongSecret(t *testing.T) {
	r := registry()
	tests := []struct {
		name    string
		unknown client.Credentials
		wrong   client.Credentials
	}{
		{name: "basic", unknown: basic("nobody", plainSecret), wrong: basic("orders", wrongSecret)},
		{name: "basic form-urlencoded", unknown: encoded("nobody", plainSecret), wrong: encoded("orders", wrongSecret)},
		{name: "post", unknown: client.Credentials{PostID: "nobody", PostSecret: wrongSecret}, wrong: client.Credentials{PostID: "orders", PostSecret: wrongSecret}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errU := r.Authenticate(context.Background(), tc.unknown)
			_, errW := r.Authenticate(context.Background(), tc.wrong)
			var u, w *client.Error
			if !errors.As(errU, &u) || !errors.As(errW, &w) {
				t.Fatalf("errors: %v, %v", errU, errW)
			}
			if *u != *w {
				t.Errorf("unknown client %+v differs from wrong secret %+v", *u, *w)
			}
		})
	}
}

// TestEmptyRegistry: with no clients, nobody authenticates, not even with the
// empty credentials whose digest an unknown client is compared against.
func TestEmptyRegistry(t *testing.T) {
	r := client.NewRegistry(nil, client.Options{})
	for _, c := range []client.Credentials{basic("", ""), basic("orders", plainSecret), {PostID: "orders", PostSecret: plainSecret}} {
		if cl, err := r.Authenticate(context.Background(), c); err == nil {
			t.Errorf("empty registry authenticated %+v", cl)
		}
	}
}
