// Interop check of DPoP (RFC 9449) at tokex's token endpoint with panva's
// oauth4webapi as the client and jose to check the result: a running tokex
// in demo mode, whose demo policy has demo-dpop-client (nonces required,
// rule sender_constraint: dpop) next to demo-client (no nonces).
//
//   ISSUER=http://127.0.0.1:8080 CLIENT_SECRET=demo-secret node dpop.mjs
//
// Prints a JSON summary on stdout; exits 1 on any failure.
import * as oauth from 'oauth4webapi';
import { calculateJwkThumbprint, exportJWK, createRemoteJWKSet, jwtVerify } from 'jose';
import { assert, check, finish } from './summary.mjs';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const ISSUER = process.env.ISSUER;
const SECRET = process.env.CLIENT_SECRET;
const AUDIENCE = process.env.AUDIENCE ?? 'https://orders.example.com';
const insecure = { [oauth.allowInsecureRequests]: true };

async function subjectToken(sub) {
  const r = await fetch(`${ISSUER}/demo/token`, { method: 'POST', body: new URLSearchParams({ sub, scope: 'orders.read orders.write' }) });
  assert(r.ok, `demo IdP answered ${r.status}`);
  return (await r.json()).access_token;
}

function exchangeParams(subject) {
  return { subject_token: subject, subject_token_type: ACCESS_TOKEN_TYPE, audience: AUDIENCE, scope: 'orders.read' };
}

const issuer = new URL(ISSUER);
const as = await oauth.discoveryRequest(issuer, insecure).then((r) => oauth.processDiscoveryResponse(issuer, r));
const jwks = createRemoteJWKSet(new URL(as.jwks_uri));

await check('metadata lists dpop_signing_alg_values_supported', () => {
  assert(Array.isArray(as.dpop_signing_alg_values_supported) && as.dpop_signing_alg_values_supported.includes('ES256'), JSON.stringify(as.dpop_signing_alg_values_supported));
  return as.dpop_signing_alg_values_supported;
});

// One exchange with a DPoP handle; a use_dpop_nonce answer is retried once,
// as RFC 9449 §8 asks (oauth4webapi keeps the nonce from DPoP-Nonce).
async function dpopExchange(clientID, keyPair) {
  const client = { client_id: clientID };
  const DPoP = oauth.DPoP(client, keyPair);
  const subject = await subjectToken('alice');
  let challenged = false;
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(SECRET), TOKEN_EXCHANGE, exchangeParams(subject), { DPoP, ...insecure });
    try {
      return { result: await oauth.processGenericTokenEndpointResponse(as, client, response), challenged };
    } catch (err) {
      if (attempt === 0 && oauth.isDPoPNonceError(err)) {
        challenged = true;
        continue;
      }
      throw err;
    }
  }
  throw new Error('no token after the nonce challenge');
}

async function checkBound(result, keyPair) {
  assert(result.token_type === 'dpop', `token_type ${result.token_type}, want DPoP`);
  const { payload, protectedHeader } = await jwtVerify(result.access_token, jwks, { issuer: as.issuer, audience: AUDIENCE, typ: 'at+jwt' });
  const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey), 'sha256');
  assert(payload.cnf?.jkt === jkt, `cnf.jkt ${payload.cnf?.jkt}, want the key's thumbprint ${jkt}`);
  return { alg: protectedHeader.alg, cnf: payload.cnf, scope: payload.scope };
}

for (const alg of ['ES256', 'RS256', 'EdDSA']) {
  await check(`demo-client, ${alg} DPoP key: DPoP-bound token, cnf.jkt is the key's thumbprint`, async () => {
    const keyPair = await oauth.generateKeyPair(alg);
    const { result, challenged } = await dpopExchange('demo-client', keyPair);
    assert(!challenged, 'demo-client needs no nonce but was challenged');
    return checkBound(result, keyPair);
  });
}

await check('demo-dpop-client: use_dpop_nonce challenge honoured, then a bound token', async () => {
  const keyPair = await oauth.generateKeyPair('ES256');
  const { result, challenged } = await dpopExchange('demo-dpop-client', keyPair);
  assert(challenged, 'the first request was not challenged for a nonce');
  return checkBound(result, keyPair);
});

await check('demo-dpop-client without DPoP: refused, the rule wants a proof', async () => {
  const client = { client_id: 'demo-dpop-client' };
  const response = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(SECRET), TOKEN_EXCHANGE, exchangeParams(await subjectToken('alice')), insecure);
  try {
    await oauth.processGenericTokenEndpointResponse(as, client, response);
  } catch (err) {
    assert(err.error === 'invalid_request' && /DPoP proof/.test(err.error_description), `${err.error}: ${err.error_description}`);
    return { error: err.error, error_description: err.error_description };
  }
  throw new Error('a bearer request was granted by a sender_constraint: dpop rule');
});

await finish();
