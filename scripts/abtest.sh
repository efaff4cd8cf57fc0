#!/usr/bin/env bash
# A/B of two tokex binaries under scripts/loadtest.sh's load, interleaved in
# one run (the machine is shared: only alternation makes them comparable).
#   scripts/abtest.sh A_BINARY B_BINARY [ROUNDS]
# Each round runs both (order alternating) for DURATION (8s) and takes the
# server's CPU time per exchange; prints both medians and the median of the
# per-round ratios B/A (below 1: B is cheaper). Extra environment (GOGC, ...)
# reaches both binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
a=$(realpath "$1") b=$(realpath "$2") rounds="${3:-5}"
export DURATION="${DURATION:-8s}" HALF=0 FLOOR_NS=1 TOKENS="${TOKENS:-2000}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cpu() { BIN="$1" ./scripts/loadtest.sh 2>&1 | tee -a "$out" | awk '/^CPU per exchange/ {print $(NF-1)}'; }
rss() { grep '^peak RSS' "$out" | tail -1 | awk '{print $3}'; }
results=()
for r in $(seq "$rounds"); do
  if (( r % 2 )); then ca=$(cpu "$a"); ra=$(rss); cb=$(cpu "$b"); rb=$(rss)
  else cb=$(cpu "$b"); rb=$(rss); ca=$(cpu "$a"); ra=$(rss); fi
  echo "round $r: A $ca us (RSS $ra MiB), B $cb us (RSS $rb MiB)"
  results+=("$ca $cb")
done
printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics as s
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
a, b = [r[0] for r in rows], [r[1] for r in rows]
print(f"median CPU per exchange: A {s.median(a):.1f} us, B {s.median(b):.1f} us; median ratio B/A {s.median([y / x for x, y in rows]):.3f}")'
