#!/usr/bin/env bash
# Server benchmarks over real sockets, bounded in time, in one run (docs/performance.md):
#   protocols  the same routed click over HTTP/1.1 and HTTP/2 cleartext (h2load for both, 64
#              connections; HTTP/2 with 1 and 16 streams per connection): req/s, server CPU
#              per request, latency
#   swaps      wrk keep-alive p50, p99 and max with an API read every 100 ms, then with an
#              API write every 100 ms (each write a catalog compile and swap)
# The server (release build, the catalog of scripts/sidebyside/perf_catalog.py) is pinned to core 0 and
# the client to core 1, as in a side-by-side run. Usage:
#   scripts/server-bench.sh [protocols|swaps|all] [ROUNDS=3] [SECONDS=6]
# Needs h2load (nghttp2-client) and wrk (apt-get install -y nghttp2-client wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}; rounds=${2:-3}; secs=${3:-6}
for tool in h2load wrk; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install -y nghttp2-client wrk" >&2; exit 1; }
done
cargo build --release --locked --quiet --bin smartlink
work=$(mktemp -d -t smartlink-bench.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
python3 scripts/sidebyside/perf_catalog.py "$work/network.json"
port=18190
cat >"$work/smartlink.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
trusted_proxies = ["127.0.0.1/32"]
default_fallback_url = "https://example.com/"
[catalog]
path = "$work/network.json"
[geoip]
database = "$PWD/config/geo/country.mmdb"
[tracking]
click_secret = "server-bench-secret-0123456789abcdef"
[state]
dir = "$work/data"
[api]
keys = ["bench-key"]
TOML
UA='Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1'
url="http://127.0.0.1:$port/sl?id=901&aff_id=777&s1=perf"
start() {
  rm -rf "$work/data"
  RUST_LOG=warn taskset -c 0 target/release/smartlink serve --config "$work/smartlink.toml" 2>>"$work/err" &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return; sleep 0.1; done
  echo "server did not start" >&2; cat "$work/err" >&2; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid"; pid=; }
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
per_request() { awk -v a="$1" -v b="$2" -v n="$3" -v t="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", (b-a)/t/n*1e6}'; }

protocols() {
  echo "== HTTP/1.1 against HTTP/2 (h2load, 64 connections, ${secs}s each)"
  for r in $(seq "$rounds"); do
    for p in h1 h2-m1 h2-m16; do
      case $p in
        h1) args=(--h1 -m 1) ;; h2-m1) args=(-m 1) ;; h2-m16) args=(-m 16) ;;
      esac
      start
      taskset -c 1 h2load "${args[@]}" -c 64 -D 2 -H "x-forwarded-for: 8.8.8.8" -H "user-agent: $UA" "$url" >/dev/null
      t0=$(ticks)
      out=$(taskset -c 1 h2load "${args[@]}" -c 64 -D "$secs" -H "x-forwarded-for: 8.8.8.8" -H "user-agent: $UA" "$url")
      t1=$(ticks)
      stop
      done_n=$(echo "$out" | awk '/^requests:/{print $8}')
      rps=$(echo "$out" | awk '/^finished in/{printf "%d", $4}')
      mean=$(echo "$out" | awk '/^time for request:/{print $6}')
      codes=$(echo "$out" | sed -n 's/^status codes: //p')
      printf '%-7s round %d  %7s req/s  mean %-9s  %5s us CPU/request  (%s)\n' \
        "$p" "$r" "$rps" "$mean" "$(per_request "$t0" "$t1" "$done_n")" "$codes"
    done
  done
}

swaps() {
  echo "== wrk keep-alive (64 connections, ${secs}s): latency with an API read, then an API write, every 100 ms"
  for r in $(seq "$rounds"); do
    for calls in reads writes; do
      start
      taskset -c 1 wrk -t1 -c64 -d2s -H 'X-Forwarded-For: 8.8.8.8' -H "User-Agent: $UA" "$url" >/dev/null
      # One keep-alive client on the load generator's core, so that both runs disturb the
      # client side alike; only the writes compile and swap a table.
      taskset -c 1 python3 - "$port" "$calls" "$secs" <<'PY' &
import http.client, sys, time
port, calls, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
end, n = time.monotonic() + secs, 0
while time.monotonic() < end:
    n += 1
    if calls == "writes":
        conn.request("POST", "/api/2/affiliate.json", f"api_key=bench-key&affiliate_name=swap-{n}",
                     {"content-type": "application/x-www-form-urlencoded"})
    else:
        conn.request("GET", "/api/2/affiliates.json?api_key=bench-key")
    conn.getresponse().read()
    time.sleep(0.1)
PY
      caller=$!
      out=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" --latency -H 'X-Forwarded-For: 8.8.8.8' -H "User-Agent: $UA" "$url")
      wait "$caller"
      generation=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^smartlink_table_generation /{print $2}')
      stop
      printf '%-7s round %d  %7s req/s  p50 %-8s p99 %-8s max %-8s  table generation %s\n' "$calls" "$r" \
        "$(echo "$out" | awk '/Requests\/sec/{printf "%d", $2}')" \
        "$(echo "$out" | awk '$1=="50%"{print $2}')" "$(echo "$out" | awk '$1=="99%"{print $2}')" \
        "$(echo "$out" | awk '/Latency/ && !/Distribution/{print $4}')" "$generation"
    done
  done
}

case $what in
  protocols) protocols ;;
  swaps) swaps ;;
  all) protocols; swaps ;;
  *) echo "usage: $0 [protocols|swaps|all] [ROUNDS] [SECONDS]" >&2; exit 64 ;;
esac
