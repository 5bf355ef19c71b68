#!/usr/bin/env bash
# Cluster load, bounded: the load generator (examples/load.rs) against one node alone, one
# node behind HAProxy, then three nodes behind HAProxy round robin (scripts/cluster-demo.sh
# starts them on a real redis-server), with offer 1043's daily click cap lowered to CAP so that it fills
# during the run. Prints, for each: clicks/s and latency percentiles, offer 1043's clicks
# across the cluster against its cap, and the Redis commands (all, and lease traffic alone)
# per 1,000 clicks on the capped offer.
#
#   scripts/cluster-load.sh [seconds=10] [connections=32]      CAP=20000 by default
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--measure" ]; then
  # Inside scripts/cluster-demo.sh: the cluster is up.
  target=$((BASE_PORT + ${TARGET_OFFSET:-0}))
  target/release/examples/load --addr "127.0.0.1:$target" \
    --connections "$CONNECTIONS" --seconds "$RUN_SECONDS" | tee "$CLUSTER_DIR/load.out"
  sleep 1.5 # the nodes push their counters every second
  target/release/smartlink stats --config "$CLUSTER_DIR/node-1/smartlink.toml" >"$CLUSTER_DIR/stats.json"
  for i in $(seq "$NODES"); do
    curl -fs "http://127.0.0.1:$((BASE_PORT + i))/metrics"
  done >"$CLUSTER_DIR/metrics.txt"
  python3 - "$CLUSTER_DIR" "$CAP" <<'PY'
import json, re, sys
work, cap = sys.argv[1], int(sys.argv[2])
stats = json.load(open(f"{work}/stats.json"))
offer = next(o for o in stats["offers"] if o["offer_id"] == 1043)
total = lambda name: sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", open(f"{work}/metrics.txt").read(), re.M))
commands = total("smartlink_cluster_redis_commands_total")
leases = total("smartlink_cluster_lease_requests_total")
clicks = offer["clicks"] + offer["capped_clicks"]
print(f"offer 1043: {offer['clicks']} clicks routed across the cluster, cap {cap}"
      f" ({'exact' if offer['clicks'] == cap else 'NOT exact' if offer['clicks'] > cap else 'not reached'}),"
      f" {offer['capped_clicks']} turned away by the cap")
print(f"Redis: {commands:.0f} commands in all ({1000 * commands / max(clicks, 1):.1f} per 1,000 clicks on offer 1043),"
      f" lease requests {leases:.0f} ({1000 * leases / max(clicks, 1):.2f} per 1,000 clicks on offer 1043)")
if offer["clicks"] > cap:
    sys.exit("the cap was overshot")
PY
  exit
fi

seconds=${1:-10}
connections=${2:-32}
cap=${CAP:-20000}
cargo build --release --quiet --bin smartlink --example load
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s/\"daily_clicks\": 50000/\"daily_clicks\": $cap/" config/network.json >"$tmp/network.json"
grep -q "\"daily_clicks\": $cap" "$tmp/network.json"
export RUN_SECONDS=$seconds CONNECTIONS=$connections CAP=$cap NETWORK=$tmp/network.json
filter() { grep -v '^  \|^$\|^smartlink cluster'; }
echo "== one node alone"
NODES=1 TARGET_OFFSET=1 BASE_PORT=18180 scripts/cluster-demo.sh "$0" --measure | filter
echo "== one node behind HAProxy"
NODES=1 TARGET_OFFSET=0 BASE_PORT=18280 scripts/cluster-demo.sh "$0" --measure | filter
echo "== three nodes behind HAProxy"
NODES=3 TARGET_OFFSET=0 BASE_PORT=18380 scripts/cluster-demo.sh "$0" --measure | filter
