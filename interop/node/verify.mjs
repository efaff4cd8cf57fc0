// Interop check: a running tokex (demo mode) against libraries nobody on the
// tokex team wrote: panva's openid-client (discovery, token exchange), jose
// (JWT validation with a remote JWKS) and oauth4webapi (RFC 9068 JWT access
// token validation).
//
//   ISSUER=http://127.0.0.1:8080 CLIENT_ID=demo-client CLIENT_SECRET=demo-secret node verify.mjs
//
// Optional: AUDIENCE (default https://orders.example.com), SUBJECT (the
// expected sub, default alice), SUBJECT_TOKEN (a subject token to exchange;
// default: one from tokex's demo IdP at POST /demo/token). The exchange asks
// for scope orders.read. Prints a JSON summary on stdout; exits 1 on any
// failure.
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader, errors as joseErrors } from 'jose';
import { summary, env, assert, check, finish } from './summary.mjs';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

// expectOAuthError runs fn and requires openid-client to surface the server's
// RFC 6749 §5.2 error as a ResponseBodyError with the given code and status.
// A 401 that carries WWW-Authenticate (RFC 6749 §5.2 requires it for
// client_secret_basic) is surfaced by oauth4webapi as a
// WWWAuthenticateChallengeError instead; its unread response still holds the
// JSON error body, which is checked the same way.
async function expectOAuthError(fn, code, status) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof client.WWWAuthenticateChallengeError) {
      assert(err.status === status, `status ${err.status} != ${status}`);
      const schemes = err.cause.map((c) => c.scheme);
      assert(schemes.includes('basic'), `WWW-Authenticate schemes ${schemes}`);
      const body = await err.response.json();
      assert(body.error === code, `error ${body.error} != ${code}`);
      assert(typeof body.error_description === 'string' && body.error_description.length > 0, 'error_description present');
      return { surfacedAs: err.name, challenges: err.cause, error: body.error, status: err.status, error_description: body.error_description };
    }
    assert(err instanceof client.ResponseBodyError, `expected ResponseBodyError, got ${err?.name}: ${err?.message}`);
    assert(err.error === code, `error ${err.error} != ${code}`);
    assert(err.status === status, `status ${err.status} != ${status}`);
    assert(typeof err.error_description === 'string' && err.error_description.length > 0, 'error_description present');
    return { error: err.error, status: err.status, error_description: err.error_description };
  }
  throw new Error(`expected an ${code} error, the request succeeded`);
}

async function demoToken(issuer, form) {
  const res = await fetch(`${issuer}/demo/token`, { method: 'POST', body: new URLSearchParams(form) });
  const body = await res.json();
  assert(res.ok, `POST /demo/token: ${res.status} ${JSON.stringify(body)}`);
  assert(typeof body.access_token === 'string', 'demo token has access_token');
  return body.access_token;
}

async function main() {
  const issuer = env('ISSUER');
  const clientId = env('CLIENT_ID');
  const clientSecret = env('CLIENT_SECRET');
  const audience = env('AUDIENCE', 'https://orders.example.com');
  const subject = env('SUBJECT', 'alice');
  summary.issuer = issuer;

  // tokex in a test runs on plain http://127.0.0.1; both libraries are
  // HTTPS-only unless told otherwise. This switch changes nothing else.
  const insecure = new URL(issuer).protocol === 'http:';
  const discoveryOpts = (algorithm) => ({ algorithm, execute: insecure ? [client.allowInsecureRequests] : [] });

  // 1. Discovery, both ways: OIDC (/.well-known/openid-configuration) and
  //    RFC 8414 (/.well-known/oauth-authorization-server). openid-client
  //    compares the document's issuer with the issuer it was given exactly.
  const configs = {};
  await check('discovery (openid-client, oidc, client_secret_basic)', async () => {
    const c = await client.discovery(new URL(issuer), clientId, clientSecret, client.ClientSecretBasic(clientSecret), discoveryOpts('oidc'));
    const md = c.serverMetadata();
    assert(md.issuer === issuer, `issuer ${md.issuer} != ${issuer}`);
    assert(typeof md.token_endpoint === 'string', 'token_endpoint');
    assert(typeof md.jwks_uri === 'string', 'jwks_uri');
    assert(md.grant_types_supported?.includes(TOKEN_EXCHANGE), 'grant_types_supported has token-exchange');
    configs.basic = c;
  });
  await check('discovery (openid-client, oauth2 / RFC 8414, client_secret_post)', async () => {
    const c = await client.discovery(new URL(issuer), clientId, clientSecret, client.ClientSecretPost(clientSecret), discoveryOpts('oauth2'));
    assert(c.serverMetadata().issuer === issuer, 'issuer');
    configs.post = c;
  });
  const { basic, post } = configs;
  if (!basic || !post) return;
  const md = basic.serverMetadata();
  summary.metadata = { issuer: md.issuer, token_endpoint: md.token_endpoint, jwks_uri: md.jwks_uri };
  await check('discovery documents are equal', async () => {
    const a = JSON.stringify(basic.serverMetadata());
    const b = JSON.stringify(post.serverMetadata());
    assert(a === b, `openid-configuration ${a} != oauth-authorization-server ${b}`);
  });

  // 2. The exchange with openid-client's genericGrantRequest.
  // SUBJECT_TOKEN: a subject token from elsewhere (tokex with a policy file,
  // no demo IdP); else one from the demo IdP.
  let subjectToken = process.env.SUBJECT_TOKEN || undefined;
  const demo = subjectToken === undefined;
  if (demo) {
    await check('demo subject token (POST /demo/token)', async () => {
      subjectToken = await demoToken(issuer, { sub: subject, scope: 'orders.read orders.write' });
    });
  }
  if (!subjectToken) return;
  const params = {
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience,
    scope: 'orders.read',
  };
  const tokens = {};
  for (const [name, config] of [['client_secret_basic', basic], ['client_secret_post', post]]) {
    await check(`token exchange (openid-client genericGrantRequest, ${name})`, async () => {
      const res = await client.genericGrantRequest(config, TOKEN_EXCHANGE, params);
      assert(typeof res.access_token === 'string' && res.access_token.length > 0, 'access_token');
      // oauth4webapi lower-cases token_type; tokex sends "Bearer".
      assert(res.token_type === 'bearer', `token_type ${res.token_type}`);
      assert(res.issued_token_type === ACCESS_TOKEN_TYPE, `issued_token_type ${res.issued_token_type}`);
      assert(Number.isInteger(res.expires_in) && res.expires_in > 0, `expires_in ${res.expires_in}`);
      assert(res.expiresIn() > 0, 'expiresIn() > 0');
      assert(res.scope === 'orders.read', `scope ${res.scope}`);
      tokens[name] = res.access_token; // kept out of the summary
      return { token_type: res.token_type, issued_token_type: res.issued_token_type, expires_in: res.expires_in, scope: res.scope };
    });
  }

  // Refusals surface as RFC 6749 §5.2 errors the library understands.
  for (const [name, auth] of [['client_secret_basic', client.ClientSecretBasic], ['client_secret_post', client.ClientSecretPost]]) {
    await check(`refusal: wrong client secret (${name}) -> invalid_client (401)`, async () => {
      const bad = await client.discovery(new URL(issuer), clientId, 'wrong-secret', auth('wrong-secret'), discoveryOpts('oidc'));
      return expectOAuthError(() => client.genericGrantRequest(bad, TOKEN_EXCHANGE, params), 'invalid_client', 401);
    });
  }
  if (demo) await check('refusal: ID token as subject -> invalid_request (400)', async () => {
    const idToken = await demoToken(issuer, { sub: subject, kind: 'id_token' });
    return expectOAuthError(
      () => client.genericGrantRequest(basic, TOKEN_EXCHANGE, { ...params, subject_token: idToken }),
      'invalid_request',
      400,
    );
  });
  await check('refusal: unknown audience -> invalid_target (400)', () =>
    expectOAuthError(
      () => client.genericGrantRequest(basic, TOKEN_EXCHANGE, { ...params, audience: 'https://nobody.example.com' }),
      'invalid_target',
      400,
    ));

  const accessToken = tokens.client_secret_basic;
  if (!accessToken) return;

  // 3. Validation with jose: remote JWKS, RFC 9068 typ, issuer, audience,
  //    algorithm, required claims.
  const jwks = createRemoteJWKSet(new URL(md.jwks_uri));
  const verifyOpts = {
    issuer,
    audience,
    typ: 'at+jwt',
    algorithms: ['ES256'],
    requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id', 'scope'],
  };
  for (const [name, tok] of Object.entries(tokens)) {
    await check(`jose jwtVerify (token from ${name})`, async () => {
      const { payload, protectedHeader } = await jwtVerify(tok, jwks, verifyOpts);
      assert(protectedHeader.typ === 'at+jwt', `typ ${protectedHeader.typ}`);
      assert(protectedHeader.alg === 'ES256', `alg ${protectedHeader.alg}`);
      assert(typeof protectedHeader.kid === 'string', 'kid');
      assert(payload.iss === issuer, 'iss');
      assert(payload.sub === subject, `sub ${payload.sub}`);
      assert(payload.client_id === clientId, `client_id ${payload.client_id}`);
      assert(payload.scope === 'orders.read', `scope ${payload.scope}`);
      assert(payload.exp > Math.floor(Date.now() / 1000), 'exp in the future');
      return { header: protectedHeader, claims: payload };
    });
  }
  // The validator must also say no: another audience, another issuer.
  await check('jose rejects the token for another audience', async () => {
    try {
      await jwtVerify(accessToken, jwks, { ...verifyOpts, audience: 'https://inventory.example.com' });
    } catch (err) {
      assert(err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud', `${err.code}: ${err.message}`);
      return err.code;
    }
    throw new Error('accepted a token for another audience');
  });
  await check('jose rejects the token for another issuer (trailing slash)', async () => {
    try {
      await jwtVerify(accessToken, jwks, { ...verifyOpts, issuer: issuer + '/' });
    } catch (err) {
      assert(err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'iss', `${err.code}: ${err.message}`);
      return err.code;
    }
    throw new Error('accepted a token for another issuer');
  });

  // 4. RFC 9068 validation proper: oauth4webapi.validateJwtAccessToken, as a
  //    resource server would call it on an incoming request.
  await check('oauth4webapi validateJwtAccessToken (RFC 9068)', async () => {
    const request = new Request(`${audience}/orders`, { headers: { authorization: `Bearer ${accessToken}` } });
    const claims = await oauth.validateJwtAccessToken(md, request, audience, {
      signingAlgorithms: ['ES256'],
      ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}),
    });
    assert(claims.iss === issuer && claims.client_id === clientId && claims.sub === subject, 'claims');
    return { header: decodeProtectedHeader(accessToken), claims };
  });
}

await finish(main);
