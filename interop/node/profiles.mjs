// Interop check of tokex's token profiles with panva's libraries: Transaction
// Tokens (draft-ietf-oauth-transaction-tokens-10) and Identity Assertion JWT
// Authorization Grants (draft-ietf-oauth-identity-assertion-authz-grant-04)
// requested with openid-client, verified with jose, and an ID-JAG redeemed
// with oauth4webapi's JWT bearer grant (RFC 7523 §2.1) at a small resource
// authorization server this script runs itself, as Cross App Access does.
//
//   ISSUER=http://127.0.0.1:8080 CLIENT_ID=orders CLIENT_SECRET=... \
//   SUBJECT_TOKEN=<access token> ID_TOKEN=<ID token whose aud is CLIENT_ID> \
//   TRUST_DOMAIN=https://trust.example.com RESOURCE_AS=https://as.wiki.example \
//   RESOURCE=https://api.wiki.example AS_CLIENT_ID=orders-at-wiki node profiles.mjs
//
// tokex's policy (TestNodeProfiles) has a txn_token rule for TRUST_DOMAIN
// (scopes checkout and refund, tctx {tier: claims.tier}, rctx {req_ip:
// request_context.req_ip}, max_replacements 1) and an id_jag rule for
// RESOURCE_AS (client_id AS_CLIENT_ID, scopes wiki.read and wiki.write,
// resources [RESOURCE]). Prints a JSON summary on stdout; exits 1 on any
// failure.
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import {
  createRemoteJWKSet,
  jwtVerify,
  decodeJwt,
  decodeProtectedHeader,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  EmbeddedJWK,
  SignJWT,
  errors as joseErrors,
} from 'jose';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { summary, env, assert, check, finish } from './summary.mjs';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
const TXN_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:txn_token';
const ID_JAG_TYPE = 'urn:ietf:params:oauth:token-type:id-jag';

// expectRefusal runs fn and returns what it threw, for a check that passes
// because a library or a server says no; test(err) says whether it is the
// right no.
async function expectRefusal(fn, test, what) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert(err !== undefined, `${what}: accepted`);
  assert(test(err), `${what}: wrong refusal ${err?.name} ${err?.code ?? ''} ${err?.error ?? ''}: ${err?.message} ${err?.error_description ?? ''}`);
  const out = { name: err.name, message: err.message };
  for (const k of ['code', 'claim', 'error', 'error_description', 'status']) if (err[k] !== undefined) out[k] = err[k];
  return out;
}

// joseRefuses: jose's jwtVerify refuses token with opts, on claim (or the
// typ header, claim "typ").
const joseRefuses = (token, key, opts, claim) =>
  expectRefusal(() => jwtVerify(token, key, opts), (e) => e instanceof joseErrors.JWTClaimValidationFailed && e.claim === claim, `jose with ${claim} ${JSON.stringify(opts[claim] ?? opts.typ)}`);

// oauthError: openid-client or oauth4webapi surfaced the server's RFC 6749
// §5.2 error code, with a description that matches desc.
const oauthError = (code, desc = /./) => (e) => e instanceof oauth.ResponseBodyError && e.error === code && desc.test(e.error_description);

// startResourceAS runs the token endpoint of the resource authorization
// server asIssuer on a loopback port: it takes the JWT bearer grant with an
// ID-JAG as the assertion and checks it as the ID-JAG draft (§4.4) asks: a
// JWS of the trusted IdP (tokex: its jwks_uri, iss) with typ
// oauth-id-jag+jwt, aud this server's issuer, client_id the client that
// authenticated (client_secret_basic here), unexpired, its jti not seen
// before; with cnf.jkt, a DPoP proof (RFC 9449 §4.3) of that key. It answers
// with an access token of its own (RFC 9068, signed with its own key) for the
// ID-JAG's sub, resource and scope.
async function startResourceAS({ asIssuer, idpIssuer, idpJWKS, clients }) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const seen = new Set();
  let tokenEndpoint;
  const answer = (res, status, body, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
    res.end(JSON.stringify(body));
  };
  const refuse = (res, error, description) => answer(res, 400, { error, error_description: description });

  const server = createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      if (req.method !== 'POST' || req.url !== '/token') return answer(res, 404, { error: 'not_found' });
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));

      // RFC 6749 §2.3.1: client_secret_basic, id and secret form-urlencoded.
      const [scheme, b64] = (req.headers.authorization ?? '').split(' ');
      const [id, secret] = scheme === 'Basic' ? Buffer.from(b64 ?? '', 'base64').toString('utf8').split(':').map((s) => decodeURIComponent(s.replace(/\+/g, ' '))) : [];
      if (id === undefined || clients[id] !== secret) return answer(res, 401, { error: 'invalid_client', error_description: 'unknown client or wrong secret' });
      if (form.get('grant_type') !== JWT_BEARER) return refuse(res, 'unsupported_grant_type', 'only the JWT bearer grant');

      let payload;
      try {
        ({ payload } = await jwtVerify(form.get('assertion') ?? '', idpJWKS, {
          issuer: idpIssuer,
          audience: asIssuer,
          typ: 'oauth-id-jag+jwt',
          algorithms: ['ES256', 'RS256', 'EdDSA'],
          requiredClaims: ['iss', 'sub', 'aud', 'client_id', 'jti', 'exp', 'iat'],
        }));
      } catch (err) {
        return refuse(res, 'invalid_grant', `the assertion is not an ID-JAG for this server: ${err.code}: ${err.message}`);
      }
      if (payload.client_id !== id) return refuse(res, 'invalid_grant', `the ID-JAG was issued for client ${payload.client_id}, not ${id}`);
      if (seen.has(payload.jti)) return refuse(res, 'invalid_grant', 'the ID-JAG was used before');

      let tokenType = 'Bearer';
      if (payload.cnf?.jkt !== undefined) {
        const proof = req.headers.dpop;
        if (typeof proof !== 'string') return refuse(res, 'invalid_dpop_proof', 'the ID-JAG is bound to a key (cnf.jkt): send a DPoP proof of it');
        try {
          const { payload: p, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256', 'RS256', 'EdDSA'], requiredClaims: ['jti', 'htm', 'htu', 'iat'], maxTokenAge: '60s' });
          assert(p.htm === 'POST' && p.htu === tokenEndpoint, `htm ${p.htm}, htu ${p.htu}`);
          const jkt = await calculateJwkThumbprint(protectedHeader.jwk, 'sha256');
          assert(jkt === payload.cnf.jkt, `the proof's key ${jkt} is not the ID-JAG's cnf.jkt ${payload.cnf.jkt}`);
        } catch (err) {
          return refuse(res, 'invalid_dpop_proof', err.message);
        }
        tokenType = 'DPoP';
      }
      seen.add(payload.jti);
      const accessToken = await new SignJWT({ client_id: id, scope: payload.scope, ...(payload.cnf ? { cnf: payload.cnf } : {}) })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
        .setIssuer(asIssuer)
        .setSubject(payload.sub)
        .setAudience(payload.resource ?? asIssuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .setJti(randomUUID())
        .sign(privateKey);
      return answer(res, 200, { access_token: accessToken, token_type: tokenType, expires_in: 300, scope: payload.scope });
    } catch (err) {
      return answer(res, 500, { error: 'server_error', error_description: err.message });
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  tokenEndpoint = `http://127.0.0.1:${server.address().port}/token`;
  return { server, publicKey, metadata: { issuer: asIssuer, token_endpoint: tokenEndpoint } };
}

async function main() {
  const issuer = env('ISSUER');
  const clientId = env('CLIENT_ID');
  const clientSecret = env('CLIENT_SECRET');
  const subjectToken = env('SUBJECT_TOKEN');
  const idToken = env('ID_TOKEN');
  const trustDomain = env('TRUST_DOMAIN');
  const resourceAS = env('RESOURCE_AS');
  const resource = env('RESOURCE');
  const asClientId = env('AS_CLIENT_ID');
  summary.issuer = issuer;

  // tokex in a test runs on plain http://127.0.0.1 (see verify.mjs).
  const insecure = new URL(issuer).protocol === 'http:';
  const config = await client.discovery(new URL(issuer), clientId, clientSecret, client.ClientSecretBasic(clientSecret), {
    execute: insecure ? [client.allowInsecureRequests] : [],
  });
  const md = config.serverMetadata();
  const jwks = createRemoteJWKSet(new URL(md.jwks_uri));
  const exchange = (params, options) => client.genericGrantRequest(config, TOKEN_EXCHANGE, params, options);
  // jose's options for a token tokex minted.
  const tokexOpts = (audience, typ, requiredClaims) => ({ issuer, audience, typ, algorithms: ['ES256'], requiredClaims });
  const jagParams = {
    subject_token: idToken,
    subject_token_type: ID_TOKEN_TYPE,
    requested_token_type: ID_JAG_TYPE,
    audience: resourceAS,
    resource,
    scope: 'wiki.read',
  };
  const x = {
    issuer, clientId, clientSecret, subjectToken, idToken, trustDomain, resourceAS, resource, asClientId,
    insecure, config, md, jwks, exchange, jagParams,
    txnOpts: tokexOpts(trustDomain, 'txntoken+jwt', ['iat', 'exp', 'txn', 'sub', 'scope', 'req_wl', 'jti']),
    jagOpts: tokexOpts(resourceAS, 'oauth-id-jag+jwt', ['iss', 'sub', 'aud', 'client_id', 'jti', 'exp', 'iat']),
    // requestJAG: an ID-JAG from tokex, through openid-client.
    requestJAG: async (options) => {
      const res = await exchange(jagParams, options);
      assert(res.token_type === 'n_a', `token_type ${res.token_type}`);
      assert(res.issued_token_type === ID_JAG_TYPE, `issued_token_type ${res.issued_token_type}`);
      assert(res.scope === 'wiki.read', `scope ${res.scope}`);
      return res;
    },
  };

  await check('metadata: identity_chaining_requested_token_types_supported lists txn_token and id-jag', () => {
    const types = md.identity_chaining_requested_token_types_supported;
    assert(Array.isArray(types) && types.includes(TXN_TOKEN_TYPE) && types.includes(ID_JAG_TYPE), JSON.stringify(types));
    return types;
  });

  const txn = await txnTokens(x);
  const jag = await idJAGs(x);
  if (jag) await crossAppAccess(x, jag, txn);
}

// txnTokens: Transaction Tokens requested with openid-client and
// oauth4webapi, verified with jose; returns the first one.
async function txnTokens({ issuer, clientId, clientSecret, subjectToken, trustDomain, insecure, md, jwks, exchange, txnOpts }) {
  const txnParams = {
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    requested_token_type: TXN_TOKEN_TYPE,
    audience: trustDomain,
    scope: 'checkout refund',
    request_context: JSON.stringify({ req_ip: '203.0.113.7', user_agent: 'interop/profiles.mjs' }),
    request_details: JSON.stringify({ amount: 42 }),
  };
  let txn;
  await check('Txn-Token: openid-client genericGrantRequest (token exchange) accepts token_type N_A', async () => {
    const res = await exchange(txnParams);
    // oauth4webapi lower-cases token_type; openid-client's genericGrantRequest
    // recognizes n_a for the token-exchange grant (and only for it).
    assert(res.token_type === 'n_a', `token_type ${res.token_type}`);
    assert(res.issued_token_type === TXN_TOKEN_TYPE, `issued_token_type ${res.issued_token_type}`);
    assert(Number.isInteger(res.expires_in) && res.expires_in > 0 && res.expires_in <= 60, `expires_in ${res.expires_in}`);
    assert(res.scope === 'checkout refund', `scope ${res.scope}`);
    txn = res.access_token; // kept out of the summary
    return { token_type: res.token_type, issued_token_type: res.issued_token_type, expires_in: res.expires_in, scope: res.scope };
  });

  // oauth4webapi itself, with the metadata openid-client discovered.
  const oc = { client_id: clientId };
  const ocAuth = oauth.ClientSecretBasic(clientSecret);
  const allowHttp = insecure ? { [oauth.allowInsecureRequests]: true } : {};
  const o4wExchange = async (processOptions) => {
    const r = await oauth.genericTokenEndpointRequest(md, oc, ocAuth, TOKEN_EXCHANGE, new URLSearchParams(txnParams), allowHttp);
    return oauth.processGenericTokenEndpointResponse(md, oc, r, processOptions);
  };
  await check('Txn-Token: oauth4webapi processGenericTokenEndpointResponse refuses token_type N_A by default (RFC 6749 §7.1)', () =>
    expectRefusal(() => o4wExchange(), (e) => e instanceof oauth.UnsupportedOperationError && /token_type/.test(e.message), 'oauth4webapi without recognizedTokenTypes'));
  await check('Txn-Token: oauth4webapi accepts token_type N_A with recognizedTokenTypes {n_a}', async () => {
    const res = await o4wExchange({ recognizedTokenTypes: { n_a: () => {} } });
    assert(res.token_type === 'n_a' && res.issued_token_type === TXN_TOKEN_TYPE, `${res.token_type} ${res.issued_token_type}`);
    return { token_type: res.token_type, issued_token_type: res.issued_token_type };
  });
  if (!txn) return undefined;

  const st = decodeJwt(subjectToken);
  let txnClaims;
  await check('Txn-Token: jose jwtVerify (remote JWKS, typ txntoken+jwt, aud the trust domain)', async () => {
    const { payload, protectedHeader } = await jwtVerify(txn, jwks, txnOpts);
    assert(protectedHeader.typ === 'txntoken+jwt', `typ ${protectedHeader.typ}`);
    assert(payload.iss === issuer && payload.aud === trustDomain, `iss ${payload.iss}, aud ${payload.aud}`);
    assert(payload.sub === st.sub, `sub ${payload.sub}`);
    assert(payload.scope === 'checkout refund', `scope ${payload.scope}`);
    assert(payload.req_wl === clientId, `req_wl ${JSON.stringify(payload.req_wl)}`);
    assert(typeof payload.txn === 'string' && payload.txn.length > 0, 'txn');
    assert(isDeepStrictEqual(payload.tctx, { tier: st.tier }), `tctx ${JSON.stringify(payload.tctx)}`);
    // Only the request_context member the rule names.
    assert(isDeepStrictEqual(payload.rctx, { req_ip: '203.0.113.7' }), `rctx ${JSON.stringify(payload.rctx)}`);
    for (const k of ['client_id', 'cnf']) assert(!(k in payload), `claim ${k} in a Txn-Token`);
    assert(payload.exp - payload.iat <= 60, `lifetime ${payload.exp - payload.iat}`);
    txnClaims = payload;
    return { header: protectedHeader, claims: payload };
  });
  await check('Txn-Token: jose refuses it as an access token (typ at+jwt)', () => joseRefuses(txn, jwks, { ...txnOpts, typ: 'at+jwt' }, 'typ'));
  await check('Txn-Token: jose refuses it for another trust domain', () => joseRefuses(txn, jwks, { ...txnOpts, audience: 'https://other-trust.example.com' }, 'aud'));
  await check('Txn-Token: oauth4webapi validateJwtAccessToken refuses it as a Bearer access token (RFC 9068 typ)', () =>
    expectRefusal(
      () => oauth.validateJwtAccessToken(md, new Request(`${trustDomain}/checkout`, { headers: { authorization: `Bearer ${txn}` } }), trustDomain, allowHttp),
      (e) => e instanceof oauth.OperationProcessingError && /typ/.test(e.message),
      'validateJwtAccessToken',
    ));
  await check('Txn-Token replacement (openid-client, subject_token_type txn_token): txn kept, scope narrowed', async () => {
    const res = await exchange({
      subject_token: txn,
      subject_token_type: TXN_TOKEN_TYPE,
      requested_token_type: TXN_TOKEN_TYPE,
      audience: trustDomain,
      scope: 'refund',
      request_details: JSON.stringify({ amount: 7 }),
    });
    assert(res.token_type === 'n_a' && res.issued_token_type === TXN_TOKEN_TYPE, `${res.token_type} ${res.issued_token_type}`);
    const { payload } = await jwtVerify(res.access_token, jwks, txnOpts);
    assert(payload.txn === txnClaims?.txn, `txn ${payload.txn}, want ${txnClaims?.txn}`);
    assert(payload.scope === 'refund', `scope ${payload.scope}`);
    assert(Array.isArray(payload.req_wl) && payload.req_wl.at(-1) === clientId, `req_wl ${JSON.stringify(payload.req_wl)}`);
    assert(payload.exp <= txnClaims.exp, 'outlives the Txn-Token it replaces');
    return { txn: payload.txn, scope: payload.scope, req_wl: payload.req_wl };
  });

  return txn;
}

// idJAGs: the client exchanges the user's ID token for a grant for the
// resource authorization server; returns it.
async function idJAGs({ idToken, resourceAS, resource, asClientId, jwks, exchange, jagParams, jagOpts, txnOpts, requestJAG }) {
  let jag;
  await check('ID-JAG: openid-client genericGrantRequest (token exchange, ID token subject) accepts token_type N_A', async () => {
    const res = await requestJAG();
    jag = res.access_token;
    return { token_type: res.token_type, issued_token_type: res.issued_token_type, expires_in: res.expires_in, scope: res.scope };
  });
  await check('ID-JAG: tokex refuses an authorization server the rule does not name (invalid_target via openid-client)', () =>
    expectRefusal(() => exchange({ ...jagParams, audience: 'https://as.other.example' }), oauthError('invalid_target', /as\.other\.example/), 'another AS'));
  if (!jag) return undefined;

  await check('ID-JAG: jose jwtVerify (remote JWKS, typ oauth-id-jag+jwt, aud the resource AS issuer)', async () => {
    const { payload, protectedHeader } = await jwtVerify(jag, jwks, jagOpts);
    const idc = decodeJwt(idToken);
    assert(protectedHeader.typ === 'oauth-id-jag+jwt', `typ ${protectedHeader.typ}`);
    assert(payload.aud === resourceAS, `aud ${payload.aud}`);
    assert(payload.sub === idc.sub, `sub ${payload.sub}`);
    assert(payload.client_id === asClientId, `client_id ${payload.client_id}`);
    assert(payload.resource === resource && payload.scope === 'wiki.read', `resource ${payload.resource}, scope ${payload.scope}`);
    assert(payload.auth_time === idc.auth_time && payload.acr === idc.acr && isDeepStrictEqual(payload.amr, idc.amr), 'auth_time, acr, amr of the ID token');
    assert(payload.tenant === idc.tid, `tenant ${payload.tenant}, want the ID token's tid ${idc.tid}`);
    for (const k of ['cnf', 'nonce']) assert(!(k in payload), `claim ${k}`);
    return { header: protectedHeader, claims: payload };
  });
  await check('ID-JAG: jose refuses it as an access token (typ at+jwt)', () => joseRefuses(jag, jwks, { ...jagOpts, typ: 'at+jwt' }, 'typ'));
  await check('ID-JAG: jose refuses it as a Txn-Token (typ txntoken+jwt)', () => joseRefuses(jag, jwks, { ...txnOpts, audience: resourceAS }, 'typ'));
  return jag;
}

// crossAppAccess: the resource authorization server redeems the ID-JAG
// (end to end, with and without DPoP); txn is a Txn-Token it must refuse.
async function crossAppAccess({ issuer, idToken, resourceAS, resource, asClientId, config, jwks, jagOpts, requestJAG }, jag, txn) {
  const asSecret = randomUUID();
  const rAS = await startResourceAS({
    asIssuer: resourceAS,
    idpIssuer: issuer,
    idpJWKS: jwks,
    clients: { [asClientId]: asSecret, 'someone-else': 'their-secret' },
  });
  try {
    const bearerGrant = async (assertion, as = asClientId, secret = asSecret, options = {}) => {
      const c = { client_id: as };
      const r = await oauth.genericTokenEndpointRequest(rAS.metadata, c, oauth.ClientSecretBasic(secret), JWT_BEARER, new URLSearchParams({ assertion, scope: 'wiki.read' }), {
        [oauth.allowInsecureRequests]: true,
        ...options,
      });
      return oauth.processGenericTokenEndpointResponse(rAS.metadata, c, r);
    };
    const checkAccessToken = async (res, tokenType) => {
      assert(res.token_type === tokenType, `token_type ${res.token_type}`);
      const { payload } = await jwtVerify(res.access_token, rAS.publicKey, { issuer: resourceAS, audience: resource, typ: 'at+jwt' });
      assert(payload.sub === decodeJwt(idToken).sub && payload.client_id === asClientId && payload.scope === 'wiki.read', JSON.stringify(payload));
      return { token_type: res.token_type, claims: payload };
    };
    await check('XAA: oauth4webapi JWT bearer grant (assertion = the ID-JAG) at the resource AS -> its access token', async () =>
      checkAccessToken(await bearerGrant(jag), 'bearer'));
    await check('XAA: the resource AS refuses the same ID-JAG twice (invalid_grant via oauth4webapi)', () =>
      expectRefusal(() => bearerGrant(jag), oauthError('invalid_grant', /used before/), 'replayed ID-JAG'));
    await check('XAA: the resource AS refuses an ID-JAG presented by another client (client_id)', async () =>
      expectRefusal(async () => bearerGrant((await requestJAG()).access_token, 'someone-else', 'their-secret'), oauthError('invalid_grant', /issued for client/), 'another client'));
    await check('XAA: the resource AS refuses a Txn-Token as the assertion (typ)', () =>
      expectRefusal(() => bearerGrant(txn), oauthError('invalid_grant', /typ/), 'Txn-Token as assertion'));
    await check('XAA: the resource AS refuses the ID token itself as the assertion', () =>
      expectRefusal(() => bearerGrant(idToken), oauthError('invalid_grant'), 'ID token as assertion'));

    // DPoP: openid-client sends a proof with the exchange, tokex binds the
    // ID-JAG to its key (cnf.jkt) and still answers token_type N_A; the
    // resource AS then wants a proof of the same key with the bearer grant.
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey), 'sha256');
    let bound;
    await check('XAA with DPoP: openid-client genericGrantRequest with a DPoP handle -> ID-JAG with cnf.jkt, token_type N_A', async () => {
      const res = await requestJAG({ DPoP: client.getDPoPHandle(config, keyPair) });
      const { payload } = await jwtVerify(res.access_token, jwks, jagOpts);
      assert(payload.cnf?.jkt === jkt, `cnf ${JSON.stringify(payload.cnf)}, want jkt ${jkt}`);
      bound = res.access_token;
      return { token_type: res.token_type, cnf: payload.cnf, header: decodeProtectedHeader(res.access_token) };
    });
    if (bound) {
      await check('XAA with DPoP: the resource AS refuses the bound ID-JAG without a proof', () =>
        expectRefusal(() => bearerGrant(bound), oauthError('invalid_dpop_proof', /send a DPoP proof/), 'no proof'));
      await check('XAA with DPoP: the resource AS refuses a proof of another key', async () => {
        const other = await oauth.generateKeyPair('ES256');
        return expectRefusal(() => bearerGrant(bound, asClientId, asSecret, { DPoP: oauth.DPoP({ client_id: asClientId }, other) }), oauthError('invalid_dpop_proof', /not the ID-JAG's cnf\.jkt/), 'another key');
      });
      await check('XAA with DPoP: oauth4webapi JWT bearer grant with a proof of the key -> DPoP access token', async () =>
        checkAccessToken(await bearerGrant(bound, asClientId, asSecret, { DPoP: oauth.DPoP({ client_id: asClientId }, keyPair) }), 'dpop'));
    }
  } finally {
    rAS.server.closeAllConnections();
    rAS.server.close();
  }
}

await finish(main);
