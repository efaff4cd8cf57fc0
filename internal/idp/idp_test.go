package idp

import "testing"

func TestRecognise(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]any
		claims map[string]any
		self   string
		want   string // shape ID, "" for none
		params map[string]string
	}{
		{name: "graph by url", claims: map[string]any{"iss": "https://sts.windows.net/t1/", "aud": "https://graph.microsoft.com"}, want: "graph"},
		{name: "graph by app id", claims: map[string]any{"iss": "https://login.microsoftonline.com/t1/v2.0", "aud": []any{"00000003-0000-0000-c000-000000000000"}}, want: "graph"},
		{name: "entra v1", claims: map[string]any{"iss": "https://sts.windows.net/t1/", "aud": "api://x"}, want: "entra_v1", params: map[string]string{"tenant": "t1"}},
		{name: "entra v2", claims: map[string]any{"iss": "https://login.microsoftonline.com/t1/v2.0"}, want: "entra_v2", params: map[string]string{"tenant": "t1"}},
		{name: "entra v1 without slash is not v1", claims: map[string]any{"iss": "https://sts.windows.net/t1"}},
		{name: "auth0 regional", claims: map[string]any{"iss": "https://dev-x.eu.auth0.com/"}, want: "auth0", params: map[string]string{"tenant": "dev-x.eu"}},
		{name: "okta custom", claims: map[string]any{"iss": "https://acme.okta.com/oauth2/default"}, want: "okta", params: map[string]string{"org": "acme", "server": "default"}},
		{name: "okta org", claims: map[string]any{"iss": "https://acme.okta.com"}, want: "okta_org"},
		{name: "cognito id", claims: map[string]any{"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", "token_use": "id"}, want: "cognito_id", params: map[string]string{"region": "eu-west-1", "pool": "eu-west-1_abc"}},
		{name: "cognito access", claims: map[string]any{"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", "token_use": "access"}, want: "cognito_access"},
		{name: "google", claims: map[string]any{"iss": "accounts.google.com"}, want: "google"},
		{name: "github", claims: map[string]any{"iss": "https://token.actions.githubusercontent.com"}, want: "github_actions"},
		{name: "kubernetes claim", claims: map[string]any{"iss": "https://oidc.eks.example.com/id/X", "kubernetes.io": map[string]any{}}, want: "kubernetes"},
		{name: "kubernetes sub", claims: map[string]any{"iss": "https://container.googleapis.com/v1/projects/p", "sub": "system:serviceaccount:ns:sa"}, want: "kubernetes"},
		{name: "tokex", header: map[string]any{"typ": "at+jwt"}, claims: map[string]any{"iss": "https://sts.example.com", "client_id": "c"}, self: "https://sts.example.com", want: "tokex"},
		{name: "tokex without --issuer", header: map[string]any{"typ": "at+jwt"}, claims: map[string]any{"iss": "https://sts.example.com", "client_id": "c"}},
		{name: "unknown", claims: map[string]any{"iss": "https://idp.example.com"}},
		{name: "no iss", claims: map[string]any{"sub": "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := Recognise(Token{Header: tc.header, Claims: tc.claims}, tc.self)
			if ok != (tc.want != "") || m.Shape.ID != tc.want {
				t.Fatalf("Recognise = %q, %v; want %q", m.Shape.ID, ok, tc.want)
			}
			for k, v := range tc.params {
				if m.Params[k] != v {
					t.Errorf("param %s = %q, want %q", k, m.Params[k], v)
				}
			}
		})
	}
}

func TestIDTokenTell(t *testing.T) {
	tests := []struct {
		name     string
		c        IDTokenClaims
		accepted []string
		want     string
	}{
		{name: "cognito", c: IDTokenClaims{TokenUse: "id"}, want: "token_use is id"},
		{name: "nonce", c: IDTokenClaims{Nonce: true}, want: "it carries a nonce claim"},
		{name: "at_hash", c: IDTokenClaims{AtHash: true}, want: "it carries an at_hash claim"},
		{name: "aud is azp", c: IDTokenClaims{Azp: "c1", Audience: []string{"c1"}}, want: `its audience is the client id "c1"`},
		{name: "aud is azp but accepted", c: IDTokenClaims{Azp: "c1", Audience: []string{"c1"}}, accepted: []string{"c1"}},
		{name: "access token", c: IDTokenClaims{Azp: "c1", Audience: []string{"api"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IDTokenTell(tc.c, tc.accepted); got != tc.want {
				t.Errorf("IDTokenTell = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGraphToken(t *testing.T) {
	for _, aud := range [][]string{{"https://graph.microsoft.com"}, {"x", "https://graph.microsoft.com/"}, {"00000003-0000-0000-c000-000000000000"}} {
		if !GraphToken(aud) {
			t.Errorf("GraphToken(%q) = false", aud)
		}
	}
	if GraphToken([]string{"api://x"}) || GraphToken(nil) {
		t.Error("GraphToken of another audience is true")
	}
}
