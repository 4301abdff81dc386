#!/usr/bin/env bash
# Slot-preview throughput of the BFF against a bare Starlette route answering one Redis GET,
# measured in the same run (the machines are shared and noisy: compare the ratio).
#
#   bench/slots.sh [seconds-per-run]
#
# Starts the sandbox, one BFF process and the bare route on loopback ports, warms the slot
# cache, then runs wrk at 8 and 256 connections against each, printing requests/s and latency.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/bootstrap.sh"
cd "$ROOT"
ensure_services
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }

DURATION="${1:-10}"
# One wrk thread: on two cores, the server takes one; two wrk threads fighting over the other
# put their own scheduling stalls (seconds) into the p99 of whichever server runs faster.
WRK_THREADS="${WRK_THREADS:-1}"
SANDBOX_PORT=18081 BFF_PORT=18080 BARE_PORT=18090
export BFF_INSTACART_BASE_URL="http://127.0.0.1:$SANDBOX_PORT"
export BFF_DATABASE_URL="${BFF_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/postgres}"
# Real Redis, not development mode's in-process one; the token below must pass the server.
export BFF_REDIS_URL="${BFF_REDIS_URL:-redis://127.0.0.1:6379/0}"
export BFF_AUTH_JWT_SECRET="${BFF_AUTH_JWT_SECRET:-dev-only-jwt-secret-change-me-in-production}"
export BFF_ACCESS_LOG=false BFF_LOG_LEVEL=WARNING BFF_RECONCILER_ENABLED=false
export BFF_CACHE_NAMESPACE="bench-$$"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
"$VENV/bin/python" -m sandbox --port $SANDBOX_PORT --log-level warning >/dev/null 2>&1 & pids+=($!)
"$VENV/bin/python" -m app serve --port $BFF_PORT >/dev/null 2>&1 & pids+=($!)
"$VENV/bin/python" -m bench.bare_route --port $BARE_PORT >/dev/null 2>&1 & pids+=($!)
for url in "http://127.0.0.1:$BFF_PORT/readyz" "http://127.0.0.1:$BARE_PORT/slots"; do
  for _ in $(seq 1 100); do curl -sf -o /dev/null "$url" && break; sleep 0.1; done
done

BENCH_TOKEN="$("$VENV/bin/python" -m app token --user bench-user --ttl 3600)"
export BENCH_TOKEN
SLOTS="http://127.0.0.1:$BFF_PORT/v1/stores/store-sf-001/slots?fulfillment=delivery&postal_code=94105&address_line_1=101%20Spear%20St"
curl -sf -o /dev/null -H "Authorization: Bearer $BENCH_TOKEN" "$SLOTS"  # warm the cache

run() {  # name url connections
  local out rps p50 p90 p99 errors timeouts
  out="$(wrk -t"$WRK_THREADS" -c"$3" -d"${DURATION}s" --latency -s bench/auth_header.lua "$2")"
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p90="$(awk '$1 == "90%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  timeouts="$(awk '/Socket errors/ {print $NF}' <<<"$out")"
  printf '%-5s %4s conns %9s req/s  p50 %8s  p90 %8s  p99 %8s  non-2xx %s  timeouts %s\n' \
    "$1" "$3" "$rps" "$p50" "$p90" "$p99" "${errors:-0}" "${timeouts:-0}"
  echo "$rps" >"/tmp/bench-$1-$3"
}

echo "slot previews, warm cache, ${DURATION}s per run, $(nproc) cores"
for conns in 8 256; do
  run bare "http://127.0.0.1:$BARE_PORT/slots" "$conns"
  run bff "$SLOTS" "$conns"
  awk -v a="$(cat /tmp/bench-bff-$conns)" -v b="$(cat /tmp/bench-bare-$conns)" \
    'BEGIN {printf "ratio  %5s conns  bff/bare = %.2f\n", "'"$conns"'", a / b}'
done
