// The JSON summary every interop script prints on stdout, and the helpers
// that fill it: check runs one named check and records its outcome (with
// what it returned, or the error), finish prints the summary and exits 1
// unless every check passed. interop_test.go's runNodeScript reads it.
import { readFileSync } from 'node:fs';

export const summary = { ok: false, versions: versions(), checks: [] };

function versions() {
  const out = { node: process.version };
  for (const p of ['jose', 'openid-client', 'oauth4webapi']) {
    try {
      const url = new URL(`./node_modules/${p}/package.json`, import.meta.url);
      out[p] = JSON.parse(readFileSync(url, 'utf8')).version;
    } catch {
      out[p] = 'unknown';
    }
  }
  return out;
}

// env is the environment variable name, or def; one of them must be set.
export function env(name, def) {
  const v = process.env[name] ?? def;
  if (v === undefined || v === '') throw new Error(`${name} must be set`);
  return v;
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

export async function check(name, fn) {
  try {
    const detail = await fn();
    summary.checks.push({ name, ok: true, ...(detail === undefined ? {} : { detail }) });
    return detail;
  } catch (err) {
    summary.checks.push({ name, ok: false, error: describe(err) });
    return undefined;
  }
}

export function describe(err) {
  const out = { name: err?.name, message: err?.message };
  if (err?.code) out.code = err.code;
  if (err?.error) out.error = err.error;
  if (err?.error_description) out.error_description = err.error_description;
  if (err?.status) out.status = err.status;
  if (err?.cause && typeof err.cause === 'object' && !(err.cause instanceof Response)) {
    out.cause = err.cause.message ?? String(err.cause);
  }
  return out;
}

// finish runs main (if any), records an exception it throws as the failed
// check "setup", prints the summary and exits.
export async function finish(main) {
  try {
    await main?.();
  } catch (err) {
    summary.checks.push({ name: 'setup', ok: false, error: describe(err) });
  }
  summary.ok = summary.checks.length > 0 && summary.checks.every((c) => c.ok);
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  process.exit(summary.ok ? 0 : 1);
}
