#!/usr/bin/env bash
# Side-by-side server cost of one routed click, in one run on this machine:
#   hyper    constant 302 (baseline-302/, hyper 1.x, current_thread): the floor for a hyper server
#   nginx    one worker, `return 302`: what operators would put there instead
#   smartlink  a real routed click: US iPhone via X-Forwarded-For, smart link with 10 attachments
#            over 3 priorities, geo + device conditions, click caps reserved, click logged
# Every server is pinned to core 0 and wrk to core 1, each gets the same request with the same
# headers, over 64 keep-alive connections, and (mode pipe16) pipelined 16 deep so the client is
# not the limit. The figure that carries across machines is server CPU time per request
# (utime+stime of the whole process / requests answered); its ratio to the baseline, taken
# within each round and then the median over rounds, is the result. Absolute req/s on these
# shared 2-core machines varies by ±30 % from run to run: compare ratios, not times.
#
# Usage, from the project root:  scripts/sidebyside/sidebyside.sh [ROUNDS=5] [SECONDS=8]
# (docs/performance.md has the numbers and what they mean)
# Env: SMARTLINK_BIN (default target/release/smartlink, built if missing), MODES ("keepalive
# pipe16"), SERVERS ("hyper nginx smartlink"), SMARTLINK_ARGS (extra args after `serve`),
# EXTRA_TOML (a file appended to the generated settings, e.g. a [cluster] section).
# Needs wrk and nginx (installed with apt-get when missing) and a free core pair.
set -u
here=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${1:-5}; DUR=${2:-8}s
MODES=${MODES:-"keepalive pipe16"}
SERVERS=${SERVERS:-"hyper nginx smartlink"}
BIN=${SMARTLINK_BIN:-target/release/smartlink}
command -v wrk >/dev/null && command -v nginx >/dev/null || {
  apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq wrk nginx-light >/dev/null 2>&1; }
[ -x "$BIN" ] || cargo build --release --locked --quiet || exit 1
base_target=${BASELINE_TARGET:-/tmp/smartlink-baseline-302}
(cd "$here/baseline-302" && CARGO_TARGET_DIR=$base_target cargo build --release --locked --quiet) || exit 1
HYPER=$base_target/release/baseline-302
GEO=${GEO:-config/geo/country.mmdb}
work=$(mktemp -d /tmp/sidebyside.XXXX)
trap 'rm -rf "$work"' EXIT
TCK=$(getconf CLK_TCK)
UA='Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1'
PATHQ="/sl?id=901&aff_id=777&s1=perf"
python3 "$here/perf_catalog.py" "$work/network.json"
mkdir -p "$work/data" "$work/ngx/logs" "$work/ngx/tmp"
cat > "$work/smartlink.toml" <<TOML
[server]
listen = "127.0.0.1:18090"
trusted_proxies = ["127.0.0.1/32"]
default_fallback_url = "https://example.com/"
[catalog]
path = "$work/network.json"
[geoip]
database = "$(realpath "$GEO")"
[tracking]
click_secret = "sidebyside-secret-0123456789abcdef"
[state]
dir = "$work/data"
TOML
[ -n "${EXTRA_TOML:-}" ] && cat "$EXTRA_TOML" >> "$work/smartlink.toml"
sed -e "s|@WORK@|$work/ngx|g" "$here/nginx.conf" > "$work/ngx/nginx.conf"
cat > "$work/pipe.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, tonumber(args[1]) do r[i] = wrk.format(nil, args[2]) end
  req = table.concat(r)
end
request = function() return req end
LUA
ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
results="$work/results"; : > "$results"
for mode in $MODES; do
 for r in $(seq 1 "$ROUNDS"); do
  for srv in $SERVERS; do
    case $srv in
      hyper) port=18092; taskset -c 0 "$HYPER" ct $port 2>/dev/null & pid=$! ;;
      nginx) port=18091; taskset -c 0 nginx -c "$work/ngx/nginx.conf" 2>/dev/null & pid=$! ;;
      smartlink) port=18090; rm -rf "$work/data"; mkdir -p "$work/data"
        RUST_LOG=warn taskset -c 0 "$BIN" serve --config "$work/smartlink.toml" ${SMARTLINK_ARGS:-} 2>>"$work/smartlink.err" & pid=$! ;;
    esac
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    mpid=$pid
    if [ "$srv" = nginx ]; then sleep 0.3; mpid=$(ps --ppid "$pid" -o pid= | head -1 | tr -d ' '); fi
    url="http://127.0.0.1:$port$PATHQ"
    first=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 8.8.8.8' -A "$UA" "$url")
    if [ "$mode" = pipe16 ]; then args=(-s "$work/pipe.lua" "$url" -- 16 "$PATHQ"); else args=("$url"); fi
    taskset -c 1 wrk -t1 -c64 -d2s -H 'X-Forwarded-For: 8.8.8.8' -H "User-Agent: $UA" "${args[@]}" >/dev/null 2>&1
    t0=$(ticks "$mpid")
    out=$(taskset -c 1 wrk -t1 -c64 -d"$DUR" --latency -H 'X-Forwarded-For: 8.8.8.8' -H "User-Agent: $UA" "${args[@]}" 2>&1)
    t1=$(ticks "$mpid")
    if [ "$srv" = nginx ]; then kill -QUIT "$pid"; else kill -TERM "$pid"; fi
    wait "$pid" 2>/dev/null
    reqs=$(echo "$out" | awk '/requests in/{print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/{printf "%d", $2}')
    p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    bad=$(echo "$out" | awk '/Non-2xx/{print $5}')
    us=$(awk -v a="$t0" -v b="$t1" -v t="$TCK" -v n="${reqs:-0}" 'BEGIN{ if (n>0) printf "%.2f", (b-a)/t/n*1e6; else print "nan"}')
    note=""
    [ "$first" = 302 ] || note="first answer $first (want 302)"
    [ -n "$bad" ] && note="$note non-3xx answers: $bad"
    if [ "$srv" = smartlink ]; then
      recs=$(cat "$work"/data/clicks-*.ndjson 2>/dev/null | wc -l)
      note="$note records=$recs"
    fi
    printf '%-9s %-9s round %d  %8s req/s  p99 %-8s  %6s us CPU/request  %s\n' "$srv" "$mode" "$r" "$rps" "$p99" "$us" "$note"
    echo "$mode $r $srv $us" >> "$results"
    sleep 1
  done
 done
done
echo
echo "median over rounds of (server CPU per request / hyper constant-302's, same round):"
python3 - "$results" <<'PY'
import sys, statistics, collections
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = collections.defaultdict(dict)
for mode, r, srv, us in rows:
    by[(mode, r)][srv] = float(us) if us != "nan" else None
for mode in dict.fromkeys(m for m, _ in by):
    for srv in ("nginx", "smartlink"):
        ratios = [v[srv] / v["hyper"] for (m, _), v in by.items()
                  if m == mode and v.get(srv) and v.get("hyper")]
        if ratios:
            print("  %-9s %-9s %.2fx  (rounds: %s)" % (mode, srv, statistics.median(ratios),
                  " ".join("%.2f" % x for x in ratios)))
PY
