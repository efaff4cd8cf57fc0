#!/usr/bin/env bash
# A/B of two tokex binaries under scripts/loadtest.sh's load, both at the same
# time: each binary serves its own wrk (1 thread x 16 connections) in the same
# windows, so whatever else runs on the machine weighs on both alike (run one
# after the other, the same binary measured 134-237 us per exchange on a
# shared host). Per window, the server's CPU time (utime + stime) over the
# requests it answered; prints each window, the medians and the median of the
# per-window ratios B/A (below 1: B is cheaper).
#   scripts/abtest.sh A_BINARY B_BINARY [WINDOWS]
# With RATE=n, each binary gets n exchanges/s from internal/loadgen instead of
# wrk's closed loop: the same load for both, so that neither is cheaper per
# exchange only because it got more of the machine and batched more.
# Environment: DURATION per window (10s), TOKENS (1000), RATE; other variables
# (GOGC, GOMEMLIMIT, ...) reach both binaries; A_ENV/B_ENV ("K=V ...") only one.
set -euo pipefail
cd "$(dirname "$0")/.."
a=$(realpath "$1") b=$(realpath "$2") windows="${3:-8}"
DURATION="${DURATION:-10s}" TOKENS="${TOKENS:-1000}"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
go build -o "$work/loadgen" ./internal/loadgen

# start NAME BINARY PORT EXTRA_ENV: runs the binary, mints its subject tokens.
start() {
  env ${4:-} TOKEX_ADDR="127.0.0.1:$3" TOKEX_ADMIN_ADDR=off TOKEX_LOG_LEVEL=warn "$2" serve >"$work/$1.audit" 2>"$work/$1.stderr" &
  pids+=($!)
  echo $! >"$work/$1.pid"
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$3/readyz" >/dev/null && break; sleep 0.1; done
  "$work/loadgen" mint -url "http://127.0.0.1:$3" -n "$TOKENS" >"$work/$1.tokens"
}
start A "$a" 18281 "${A_ENV:-}"
start B "$b" 18291 "${B_ENV:-}"
cputicks() { awk '{print $14 + $15}' "/proc/$(cat "$work/$1.pid")/stat"; }
hz=$(getconf CLK_TCK)
: >"$work/rows"
for w in $(seq "$windows"); do
  a0=$(cputicks A) b0=$(cputicks B)
  loads=()
  for x in A B; do
    port=18281
    [ "$x" = B ] && port=18291
    if [ -n "${RATE:-}" ]; then
      "$work/loadgen" rate -url "http://127.0.0.1:$port" -tokens "$work/$x.tokens" -rate "$RATE" -d "$DURATION" >"$work/$x.out" &
    else
      wrk -t1 -c16 -d"$DURATION" -s scripts/exchange.lua "http://127.0.0.1:$port" -- "$work/$x.tokens" >"$work/$x.out" &
    fi
    loads+=($!)
  done
  wait "${loads[@]}"
  a1=$(cputicks A) b1=$(cputicks B)
  ra=$(sed -nE 's/^(RESULT|RATE) requests=([0-9]+).*/\2/p' "$work/A.out")
  rb=$(sed -nE 's/^(RESULT|RATE) requests=([0-9]+).*/\2/p' "$work/B.out")
  python3 -c "
a, b = ($a1 - $a0) / $hz / $ra * 1e6, ($b1 - $b0) / $hz / $rb * 1e6
print(f'window $w: A {a:.1f} us ($ra requests), B {b:.1f} us ($rb requests), B/A {b / a:.3f}')
open('$work/rows', 'a').write(f'{a} {b}\n')"
done
for x in A B; do echo "$x peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$(cat "$work/$x.pid")/status")"; done
python3 - "$work/rows" <<'PY'
import sys, statistics as s
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
a, b = [r[0] for r in rows], [r[1] for r in rows]
rat = sorted(y / x for x, y in rows)
print(f"median CPU per exchange: A {s.median(a):.1f} us, B {s.median(b):.1f} us; "
      f"B/A per window {rat[0]:.3f}..{rat[-1]:.3f}, median {s.median(rat):.3f}")
PY
