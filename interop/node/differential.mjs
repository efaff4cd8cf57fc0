// Differential check, the second opinion: panva's jose verifies a batch of
// tokens with a local JWKS and the same policy as tokex. Reads one JSON
// document on stdin:
//
//   {"jwks": {...}, "issuer": "...", "audience": "...", "algorithms": ["RS256", "ES256"],
//    "clockTolerance": 30, "currentDate": 1790000000, "requiredClaims": ["exp", "sub"],
//    "tokens": ["...", ...]}
//
// and writes a JSON array on stdout, one {ok, code, message} per token, in
// order (code and message are jose's error's, absent when ok). currentDate
// is in seconds. Used by interop/differential_test.go.
import { createLocalJWKSet, jwtVerify } from 'jose';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const jwks = createLocalJWKSet(req.jwks);
const opts = {
  issuer: req.issuer,
  audience: req.audience,
  algorithms: req.algorithms,
  clockTolerance: req.clockTolerance,
  currentDate: new Date(req.currentDate * 1000),
  requiredClaims: req.requiredClaims,
};

const out = [];
for (const token of req.tokens) {
  try {
    await jwtVerify(token, jwks, opts);
    out.push({ ok: true });
  } catch (err) {
    out.push({ ok: false, code: err?.code ?? err?.name ?? 'error', message: String(err?.message ?? err) });
  }
}
process.stdout.write(JSON.stringify(out));
