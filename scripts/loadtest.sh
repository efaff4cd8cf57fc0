#!/usr/bin/env bash
# Load test of the built binary over loopback (issues 2 and 17, "Speed"):
#   wrk, 2 threads x 32 connections, cycling through 2,000 distinct RS256 subject
#   tokens, ES256 minting, TOKEX_LOG_LEVEL=warn, the audit log written to a file.
# Prints exchanges/s, the server's CPU time per exchange (utime + stime from
# /proc over the wrk run / requests answered) as a multiple of the crypto floor
# (BenchmarkCryptoFloor, measured in the same run), the share of the 2-core
# crypto ceiling, p99, failures, peak RSS; then p99 at half that throughput
# under a fixed-rate open-loop load (internal/loadgen, wrk2's method); and checks
# that the audit log has one line per answered exchange after SIGTERM. And
# `loadgen floor` (net/http, the same cryptography and a response of the same
# size, nothing else), the least any exchange over HTTP costs on this machine:
# wrk windows alternating between it and tokex give what tokex adds to it, per
# pair; then its p99 at the same fixed rate.
#
# Settings (environment): DURATION (20s), PORT (18181), TOKENS (2000);
# BIN=path tests that binary instead of building one; FLOOR_NS=n skips the floor
# benchmark; HALF=0 skips the fixed-rate runs; HTTPFLOOR=0 skips the floor
# server, PAIRS (4) and WINDOW (5s) size its alternating windows, FLOOR_PORT
# (PORT+10) is its port; PROFILE=dir also takes a CPU and an
# allocation profile from the admin listener during an extra wrk run (not the
# measured one: profiling costs CPU).
# Needs wrk (apt-get install wrk). Loopback only; bounded duration.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-20s}"
PORT="${PORT:-18181}"
ADMIN_PORT="${ADMIN_PORT:-18182}"
TOKENS="${TOKENS:-2000}"
HALF="${HALF:-1}"
HTTPFLOOR="${HTTPFLOOR:-1}"
FLOOR_PORT="${FLOOR_PORT:-$((PORT + 10))}"
PAIRS="${PAIRS:-4}"
WINDOW="${WINDOW:-5s}"
work=$(mktemp -d)
pid=
fpid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$fpid" ] && kill "$fpid" 2>/dev/null; rm -rf "$work"' EXIT

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
bin="${BIN:-}"
if [ -z "$bin" ]; then
  # As the Dockerfile builds it: the binary's pages are part of the RSS.
  CGO_ENABLED=0 go build -tags nomsgpack -trimpath -ldflags="-s -w" -o "$work/tokex" ./cmd/tokex
  bin="$work/tokex"
fi
go build -o "$work/loadgen" ./internal/loadgen

floor_ns="${FLOOR_NS:-}"
if [ -z "$floor_ns" ]; then
  echo "== crypto floor (BenchmarkCryptoFloor, same run)"
  # The fastest of five runs: the highest ceiling and the lowest floor, so
  # neither the share nor the ratio is flattered by a floor measured while the
  # machine was busy.
  floor_ns=$(go test -run='^$' -bench='^BenchmarkCryptoFloor$' -benchtime=1s -count=5 ./internal/server/ | awk '/^BenchmarkCryptoFloor/ {print $3}' | sort -n | head -1)
  echo "BenchmarkCryptoFloor (fastest of 5): ${floor_ns} ns/op"
fi

pprof=false
[ -n "${PROFILE:-}" ] && pprof=true
TOKEX_ADDR="127.0.0.1:$PORT" TOKEX_ADMIN_ADDR="127.0.0.1:$ADMIN_PORT" TOKEX_ADMIN_PPROF=$pprof TOKEX_LOG_LEVEL=warn \
  "$bin" serve >"$work/audit.log" 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

echo "== minting $TOKENS distinct RS256 subject tokens from the demo IdP"
"$work/loadgen" mint -url "http://127.0.0.1:$PORT" -n "$TOKENS" >"$work/tokens"

if [ -n "${PROFILE:-}" ]; then
  echo "== profiling (extra wrk run, not measured) into $PROFILE"
  mkdir -p "$PROFILE"
  wrk -t2 -c32 -d12s -s scripts/exchange.lua "http://127.0.0.1:$PORT" -- "$work/tokens" >/dev/null &
  wrkpid=$!
  sleep 1
  curl -fs "http://127.0.0.1:$ADMIN_PORT/debug/pprof/allocs" -o "$PROFILE/allocs.before.pb.gz"
  curl -fs "http://127.0.0.1:$ADMIN_PORT/debug/pprof/profile?seconds=10" -o "$PROFILE/cpu.pb.gz"
  curl -fs "http://127.0.0.1:$ADMIN_PORT/debug/pprof/allocs" -o "$PROFILE/allocs.pb.gz"
  wait "$wrkpid"
  cp "$bin" "$PROFILE/tokex"
fi

# utime + stime of the server, in clock ticks (proc(5): fields 14 and 15).
cputicks() { awk '{print $14 + $15}' "/proc/${1:-$pid}/stat"; }
echo "== wrk -t2 -c32 -d$DURATION"
t0=$(cputicks)
wrk -t2 -c32 -d"$DURATION" --latency -s scripts/exchange.lua "http://127.0.0.1:$PORT" -- "$work/tokens" | tee "$work/wrk.out"
t1=$(cputicks)
ticks=$((t1 - t0))
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
# What the RSS is made of now: the Go runtime's memory, and the binary's pages.
rss_parts=$(awk '/RssAnon|RssFile/ {printf "%s %.1f MiB ", $1, $2 / 1024}' "/proc/$pid/status")
result=$(grep '^RESULT' "$work/wrk.out")
# The response body the floor server sends: as long as tokex's.
body_bytes=$(curl -fs -u demo-client:demo-secret "http://127.0.0.1:$PORT/token" \
  -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
  -d subject_token_type=urn:ietf:params:oauth:token-type:access_token \
  -d audience=https://orders.example.com -d scope=orders.read \
  -d subject_token="$(head -1 "$work/tokens")" | wc -c)
rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$result")

rate=
if [ "$HALF" != 0 ]; then
  half=$(python3 -c "print(int(float('$rps') / 2))")
  echo "== fixed rate, open loop: $half/s (half of $rps) for $DURATION"
  rate=$("$work/loadgen" rate -url "http://127.0.0.1:$PORT" -tokens "$work/tokens" -rate "$half" -d "$DURATION" | tee /dev/stderr)
fi

floor_rate= floor_pairs=
if [ "$HTTPFLOOR" != 0 ]; then
  # Both servers up at once; wrk windows alternate between them (tokex first,
  # then the floor first, ...) so that the machine's drift over a minute
  # weighs on both alike, and the ratio is taken per pair.
  "$work/loadgen" floor -addr "127.0.0.1:$FLOOR_PORT" -body "$body_bytes" &
  fpid=$!
  for _ in $(seq 100); do curl -fs -o /dev/null -d subject_token=x "http://127.0.0.1:$FLOOR_PORT/token" && break; sleep 0.1; done
  echo "== HTTP floor (loadgen floor: net/http + the same cryptography, ${body_bytes}-byte body): $PAIRS pairs of wrk windows of $WINDOW"
  window() { # pid port: prints "ticks requests"
    local t0 t1 r
    t0=$(cputicks "$1")
    r=$(wrk -t2 -c32 -d"$WINDOW" -s scripts/exchange.lua "http://127.0.0.1:$2" -- "$work/tokens" | grep '^RESULT')
    t1=$(cputicks "$1")
    echo "$((t1 - t0)) $(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$r")"
  }
  for i in $(seq "$PAIRS"); do
    if [ $((i % 2)) = 1 ]; then
      tw=$(window "$pid" "$PORT"); fw=$(window "$fpid" "$FLOOR_PORT")
    else
      fw=$(window "$fpid" "$FLOOR_PORT"); tw=$(window "$pid" "$PORT")
    fi
    echo "pair $i: tokex $tw, floor $fw (ticks requests)"
    floor_pairs="$floor_pairs $tw $fw"
  done
  if [ -n "$rate" ]; then
    echo "== HTTP floor at the same fixed rate: $half/s for $DURATION"
    floor_rate=$("$work/loadgen" rate -url "http://127.0.0.1:$FLOOR_PORT" -tokens "$work/tokens" -rate "$half" -d "$DURATION" | tee /dev/stderr)
  fi
  kill "$fpid"
  wait "$fpid" 2>/dev/null || true
  fpid=
fi

# A graceful stop must leave one audit line per answered /token request.
kill -TERM "$pid"
wait "$pid" || true
pid=
audit_lines=$(grep -c '"log":"audit"' "$work/audit.log" || true)

python3 - "$floor_ns" "$rps" "$rss_kb" "$ticks" "$(getconf CLK_TCK)" "$audit_lines" "$result" "$rate" "$rss_parts" "$floor_pairs" "$floor_rate" <<'PY'
import statistics, sys
floor_ns, rps, rss_kb, ticks, hz, audit = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
result, rate, rss_parts = sys.argv[7], sys.argv[8], sys.argv[9]
floor_pairs, floor_rate = [int(x) for x in sys.argv[10].split()], sys.argv[11]
fields = dict(kv.split("=") for kv in result.split()[1:])
requests = int(fields["requests"])
cpu_us = ticks / hz / requests * 1e6
ceiling = 2 / (floor_ns / 1e9)
print(f"exchanges/s: {rps:.0f}")
print(f"CPU per exchange (utime+stime / requests): {cpu_us:.1f} us")
print(f"crypto floor: {floor_ns / 1e3:.1f} us; CPU per exchange / floor: {cpu_us / (floor_ns / 1e3):.2f} (target <= 1.5)")
print(f"crypto ceiling (2 cores / floor): {ceiling:.0f}/s; share of ceiling: {rps / ceiling:.3f}")
print(f"p99 at full load: {fields['p99_ms']} ms, failed (non-200 + socket errors): {int(fields['non200']) + int(fields['errors'])}")
print(f"peak RSS: {rss_kb / 1024:.1f} MiB (target < 40); after the run {rss_parts}")
if rate:
    r = dict(kv.split("=") for kv in rate.split()[1:])
    print(f"p99 at half load (fixed rate {r['target_rps']}/s, open loop, from due time): {r['p99_ms']} ms (target < 5), failed {r['failed']}")
    requests += int(r["requests"])
print(f"audit lines after SIGTERM: {audit} for at least {requests} answered exchanges")
if floor_pairs:
    us = lambda t, n: t / hz / n * 1e6
    pairs = [(us(*floor_pairs[i:i + 2]), us(*floor_pairs[i + 2:i + 4])) for i in range(0, len(floor_pairs), 4)]
    tokex_us = statistics.median(p[0] for p in pairs)
    http_us = statistics.median(p[1] for p in pairs)
    ratios = sorted(p[0] / p[1] for p in pairs)
    print(f"HTTP floor (net/http + the same cryptography), alternating windows, medians: {http_us:.1f} us per request, "
          f"{http_us / (floor_ns / 1e3):.2f} x the crypto floor; tokex in the same windows {tokex_us:.1f} us")
    print(f"CPU per exchange / HTTP floor, per pair: {' '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}; "
          f"tokex's own work: {tokex_us - http_us:.1f} us per exchange")
if floor_rate:
    fr = dict(kv.split("=") for kv in floor_rate.split()[1:])
    print(f"p99 at the same fixed rate, HTTP floor: {fr['p99_ms']} ms (tokex {r['p99_ms']} ms)")
PY
