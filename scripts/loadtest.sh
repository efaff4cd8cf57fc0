#!/usr/bin/env bash
# Load test of the built binary over loopback (issue 2, "Speed"):
#   wrk, 2 threads x 32 connections, cycling through 2,000 distinct RS256 subject
#   tokens, ES256 minting, TOKEX_LOG_LEVEL=warn (the audit log is still written).
# Prints exchanges/s, the share of the 2-core crypto ceiling (2 / BenchmarkCryptoFloor,
# measured in the same run), p99 latency, failed requests and peak RSS.
# Needs wrk (apt-get install wrk). Loopback only; bounded duration.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-20s}"
PORT="${PORT:-18181}"
TOKENS="${TOKENS:-2000}"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
go build -o "$work/tokex" ./cmd/tokex

echo "== crypto floor (BenchmarkCryptoFloor, same run)"
# The fastest of five runs: the highest ceiling, so the share is never flattered
# by a floor measured while the machine was busy.
floor_ns=$(go test -run='^$' -bench='^BenchmarkCryptoFloor$' -benchtime=1s -count=5 ./internal/server/ | awk '/^BenchmarkCryptoFloor/ {print $3}' | sort -n | head -1)
echo "BenchmarkCryptoFloor (fastest of 5): ${floor_ns} ns/op"

TOKEX_ADDR="127.0.0.1:$PORT" TOKEX_ADMIN_ADDR=127.0.0.1:0 TOKEX_LOG_LEVEL=warn "$work/tokex" serve >/dev/null 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

echo "== minting $TOKENS distinct RS256 subject tokens from the demo IdP"
{
  echo "tokens = {"
  for i in $(seq "$TOKENS"); do
    tok=$(curl -fs -X POST "http://127.0.0.1:$PORT/demo/token" -d "sub=user-$i" -d "scope=orders.read" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    echo "\"$tok\","
  done
  echo "}"
  cat <<'LUA'
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic ZGVtby1jbGllbnQ6ZGVtby1zZWNyZXQ="
request = function()
  n = n + 1
  local body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange" ..
    "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token" ..
    "&audience=https%3A%2F%2Forders.example.com&scope=orders.read" ..
    "&subject_token=" .. tokens[(n % #tokens) + 1]
  return wrk.format(nil, "/token", nil, body)
end
local failed = 0
response = function(status, headers, body)
  if status ~= 200 then failed = failed + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f non200=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
} > "$work/exchange.lua"

echo "== wrk -t2 -c32 -d$DURATION"
wrk -t2 -c32 -d"$DURATION" --latency -s "$work/exchange.lua" "http://127.0.0.1:$PORT" | tee "$work/wrk.out"
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")

result=$(grep '^RESULT' "$work/wrk.out")
rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$result")
python3 - "$floor_ns" "$rps" "$rss_kb" "$result" <<'PY'
import sys
floor_ns, rps, rss_kb, result = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ceiling = 2 / (floor_ns / 1e9)
fields = dict(kv.split("=") for kv in result.split()[1:])
print(f"exchanges/s: {rps:.0f}")
print(f"crypto ceiling (2 cores / floor): {ceiling:.0f}/s")
print(f"share of ceiling: {rps / ceiling:.3f} (target >= 0.30)")
print(f"p99: {fields['p99_ms']} ms, failed (non-200 + socket errors): {int(fields['non200']) + int(fields['errors'])}")
print(f"peak RSS: {rss_kb / 1024:.1f} MiB")
PY
