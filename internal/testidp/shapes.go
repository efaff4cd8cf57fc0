package testidp

import (
	"strings"
	"time"
)

// Claim shapes of the identity providers tokex federates, as their
// documentation describes them, with made-up values. Sign them with the IdP's
// own keys: the iss is the real IdP's, so a test routes them to an issuer whose
// keys are swapped for this IdP's.

// EntraTenant is a made-up Entra ID tenant id (a GUID, as tid always is).
const EntraTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// EntraGraphAppID is Microsoft Graph's application id, the aud of a v2.0 Graph token.
const EntraGraphAppID = "00000003-0000-0000-c000-000000000000"

func (p *IdP) stamp(c map[string]any) map[string]any {
	now := p.cfg.now()
	c["iat"], c["nbf"], c["exp"] = now.Unix(), now.Unix(), now.Add(time.Hour).Unix()
	return c
}

// EntraV2Access is a Microsoft Entra ID v2.0 access token for the API whose
// client id is apiClientID (v2.0 tokens carry the client id as aud).
// https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
func (p *IdP) EntraV2Access(tenant, apiClientID string) map[string]any {
	return p.stamp(map[string]any{
		"iss":                "https://login.microsoftonline.com/" + tenant + "/v2.0",
		"aud":                apiClientID,
		"tid":                tenant,
		"oid":                "00000000-0000-0000-66f3-3332eca7ea81",
		"sub":                "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", // pairwise: differs per app
		"azp":                "6e74172b-be56-4843-9ff4-e66a39bb12e3",
		"azpacr":             "1",
		"scp":                "Inventory.Read",
		"roles":              []string{"Inventory.Reader"},
		"name":               "Abe Lincoln",
		"preferred_username": "abeli@microsoft.com",
		"rh":                 "I",
		"uti":                "fqiBqXLPj0eQa82S-IYFAA",
		"ver":                "2.0",
		"aio":                "AXQAi/8IAAAAtAaZLo3ChMif6KOnttRB7eBq4/DccQzjcJGxPYy/C3jDaNGxXd6wNIIVGRghNRnwJ1lOcAnNZcjvkoyrFxCttv33140RioOFJ4bCCGVuoCag1uOTT22222gHwLPYQ/uf79QX+0KIijdrmp69RctzmQ==",
	})
}

// EntraV1Access is the v1.0 shape of the same token (iss sts.windows.net,
// appid instead of azp, the App ID URI as aud), what an app registration
// without accessTokenAcceptedVersion: 2 gets.
// https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
func (p *IdP) EntraV1Access(tenant, appIDURI string) map[string]any {
	return p.stamp(map[string]any{
		"iss":         "https://sts.windows.net/" + tenant + "/",
		"aud":         appIDURI,
		"tid":         tenant,
		"oid":         "00000000-0000-0000-66f3-3332eca7ea81",
		"sub":         "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
		"appid":       "6e74172b-be56-4843-9ff4-e66a39bb12e3",
		"appidacr":    "1",
		"scp":         "Inventory.Read",
		"unique_name": "abeli@microsoft.com",
		"upn":         "abeli@microsoft.com",
		"ver":         "1.0",
	})
}

// EntraGraphAccess is an access token for Microsoft Graph, which clients
// mistakenly send to their own APIs; sign it with Header("nonce", ...) as
// Entra ID does.
// https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-tokens
func (p *IdP) EntraGraphAccess(tenant string) map[string]any {
	c := p.EntraV2Access(tenant, EntraGraphAppID)
	c["scp"] = "User.Read openid profile"
	return c
}

// Auth0Access is an Auth0 access token for an API (audience) requested along
// with openid: aud is a list with the userinfo endpoint, and iss ends with '/'.
// https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles
func (p *IdP) Auth0Access(domain, audience string) map[string]any {
	return p.stamp(map[string]any{
		"iss":         "https://" + domain + "/",
		"sub":         "auth0|5f7c8ec7c33c6c004bbafe82",
		"aud":         []string{audience, "https://" + domain + "/userinfo"},
		"azp":         "my_client_id",
		"scope":       "openid profile read:inventory",
		"permissions": []string{"read:inventory"},
		"gty":         "password",
	})
}

// OktaAccess is an access token of an Okta custom authorization server
// (issuer https://{org}.okta.com/oauth2/{id}).
// https://developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/#access-token
func (p *IdP) OktaAccess(issuerURL, audience string) map[string]any {
	return p.stamp(map[string]any{
		"ver": 1,
		"jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
		"iss": issuerURL,
		"aud": audience,
		"cid": "0oa1pjhkqcNfzCmPl0h8",
		"uid": "00uid4BxXw6I6TV4m0g3",
		"scp": []string{"inventory.read"},
		"sub": "john.doe@example.com",
	})
}

// CognitoAccess is an AWS Cognito user pool access token: no aud, the app
// client id in client_id, token_use access.
// https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html
func (p *IdP) CognitoAccess(region, poolID, clientID string) map[string]any {
	return p.stamp(map[string]any{
		"iss":            "https://cognito-idp." + region + ".amazonaws.com/" + poolID,
		"sub":            "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"client_id":      clientID,
		"token_use":      "access",
		"scope":          "inventory/read",
		"auth_time":      p.cfg.now().Unix(),
		"username":       "my-test-user",
		"origin_jti":     "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"event_id":       "cccccccc-dddd-eeee-ffff-aaaaaaaaaaaa",
		"version":        2,
		"cognito:groups": []string{"inventory-readers"},
		"jti":            "bbbbbbbb-cccc-dddd-eeee-ffffffffffff",
	})
}

// CognitoID is the ID token of the same sign-in: aud is the app client id,
// token_use id. Clients send it by mistake.
// https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html
func (p *IdP) CognitoID(region, poolID, clientID string) map[string]any {
	return p.stamp(map[string]any{
		"iss":              "https://cognito-idp." + region + ".amazonaws.com/" + poolID,
		"sub":              "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"aud":              clientID,
		"token_use":        "id",
		"auth_time":        p.cfg.now().Unix(),
		"cognito:username": "my-test-user",
		"email":            "test@example.com",
		"email_verified":   true,
		"origin_jti":       "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"event_id":         "cccccccc-dddd-eeee-ffff-aaaaaaaaaaaa",
		"jti":              "dddddddd-eeee-ffff-aaaa-bbbbbbbbbbbb",
	})
}

// GoogleID is a Google-signed ID token of a service account with a custom
// audience, as the metadata server or `gcloud auth print-identity-token
// --audiences` issue (Google access tokens are opaque, not JWTs).
// https://cloud.google.com/docs/authentication/token-types#id
// https://developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload
func (p *IdP) GoogleID(audience, serviceAccount string) map[string]any {
	return p.stamp(map[string]any{
		"iss":            "https://accounts.google.com",
		"aud":            audience,
		"azp":            "112233445566778899000",
		"sub":            "112233445566778899000",
		"email":          serviceAccount,
		"email_verified": true,
	})
}

// GitHubActions is a GitHub Actions OIDC token for a workflow run on
// repository (owner/name) at refs/heads/main.
// https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect#understanding-the-oidc-token
func (p *IdP) GitHubActions(repository, audience string) map[string]any {
	owner, _, _ := strings.Cut(repository, "/")
	return p.stamp(map[string]any{
		"iss":                   "https://token.actions.githubusercontent.com",
		"aud":                   audience,
		"sub":                   "repo:" + repository + ":ref:refs/heads/main",
		"jti":                   "example-id",
		"ref":                   "refs/heads/main",
		"sha":                   "example-sha",
		"repository":            repository,
		"repository_owner":      owner,
		"repository_owner_id":   "65",
		"repository_id":         "74",
		"repository_visibility": "private",
		"run_id":                "example-run-id",
		"run_number":            "10",
		"run_attempt":           "2",
		"runner_environment":    "github-hosted",
		"actor":                 "octocat",
		"actor_id":              "12",
		"workflow":              "example-workflow",
		"workflow_ref":          repository + "/.github/workflows/deploy.yml@refs/heads/main",
		"job_workflow_ref":      repository + "/.github/workflows/deploy.yml@refs/heads/main",
		"head_ref":              "",
		"base_ref":              "",
		"event_name":            "push",
		"ref_type":              "branch",
		"environment":           "prod",
	})
}

// Kubernetes is a bound (projected) service account token of pod in namespace.
// https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-token-volume
func (p *IdP) Kubernetes(issuerURL, namespace, serviceAccount, audience string) map[string]any {
	return p.stamp(map[string]any{
		"iss": issuerURL,
		"aud": []string{audience},
		"sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
		"jti": "8b7f5c1e-2d1a-4a57-9a35-6f2b1c7d9e01",
		"kubernetes.io": map[string]any{
			"namespace":      namespace,
			"serviceaccount": map[string]any{"name": serviceAccount, "uid": "a7d5b1c4-65b6-4f4e-9d1a-0c9e6a0f1b2c"},
			"pod":            map[string]any{"name": serviceAccount + "-7d4b9c6f5-x2x8k", "uid": "1f3e6a2b-5c4d-4e8f-9a0b-7c6d5e4f3a2b"},
			"node":           map[string]any{"name": "node-1", "uid": "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"},
		},
	})
}
