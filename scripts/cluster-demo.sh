#!/usr/bin/env bash
# A three-node cluster on loopback: one redis-server, three `smartlink serve` nodes sharing it,
# and HAProxy round-robin in front of them. Prints the URLs; Ctrl-C (or SIGTERM) stops all.
#
#   scripts/cluster-demo.sh            # balancer on 127.0.0.1:8080, nodes on 8081-8083
#   BASE_PORT=9000 scripts/cluster-demo.sh
#   NODES=1 NETWORK=my.json scripts/cluster-demo.sh some-command args
#
# With a command, runs it once the cluster is up (with BASE_PORT, REDIS_PORT, NODES and
# CLUSTER_DIR, the directory of the nodes' settings, in its environment) and then stops
# everything, exiting with the command's status (scripts/cluster-load.sh does this).
#
# Needs redis-server and haproxy (apt-get install -y redis-server haproxy). Everything it
# writes (settings, catalog copies, state directories, Redis' append-only file) lives in a
# temporary directory that is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${BASE_PORT:-8080}
redis_port=${REDIS_PORT:-$((base + 99))}
nodes=${NODES:-3}
network=${NETWORK:-config/network.json}
for tool in redis-server haproxy; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y redis-server haproxy" >&2; exit 1; }
done

cargo build --release --quiet
bin=target/release/smartlink
work=$(mktemp -d -t smartlink-cluster.XXXXXX)
pids=()

stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping: the nodes (SIGTERM: drain, give back leases, push counters) and HAProxy, then Redis"
  for pid in "${pids[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:1}"; do wait "$pid" 2>/dev/null || true; done
  kill -TERM "${pids[0]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop INT TERM EXIT

# Redis with an append-only file (what cluster mode needs in production; docs/cluster.md).
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" \
  --save '' --appendonly yes --appendfsync everysec >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

servers=""
for i in $(seq "$nodes"); do
  port=$((base + i))
  dir="$work/node-$i"
  mkdir -p "$dir"
  cp "$network" "$dir/network.json"
  cat >"$dir/smartlink.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
public_base_url = "http://127.0.0.1:$base"
trusted_proxies = ["127.0.0.1/32", "::1/128"]
default_fallback_url = "https://example.com/?src=smartlink&link={smart_link_id}"

[catalog]
path = "$dir/network.json"

[geoip]
database = "$PWD/config/geo/country.mmdb"

[tracking]
click_secret = "demo-click-secret-change-me-0123456789"

[state]
dir = "$dir/data"

[api]
keys = ["demo-api-key"]

[postbacks]
token = "demo-postback-token"

[cluster]
redis_url = "redis://127.0.0.1:$redis_port/0"
node_id = "node-$i"
key_prefix = "demo:"
EOF
  "$bin" serve --config "$dir/smartlink.toml" >"$dir/log" 2>&1 &
  pids+=($!)
  servers+="    server node-$i 127.0.0.1:$port check inter 1s"$'\n'
  # The first node seeds Redis with the catalog; the others apply it.
  for _ in $(seq 100); do grep -q "listening on" "$dir/log" && break; sleep 0.1; done
done

cat >"$work/haproxy.cfg" <<EOF
global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    option http-keep-alive

frontend clicks
    bind 127.0.0.1:$base
    default_backend nodes

backend nodes
    balance roundrobin
    option forwardfor
    option httpchk GET /readyz
$servers
EOF
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)
sleep 0.5
kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/haproxy.log" >&2; echo "haproxy did not start" >&2; exit 1; }

cat <<EOF

smartlink cluster ($nodes nodes, Redis on 127.0.0.1:$redis_port, state in $work)

  balancer   http://127.0.0.1:$base          round robin over the nodes
  nodes      $(for i in $(seq "$nodes"); do printf 'http://127.0.0.1:%s  ' $((base + i)); done)

  click      curl -si 'http://127.0.0.1:$base/sl?id=301&aff_id=67890' -H 'X-Forwarded-For: 8.8.8.8' \\
               -A 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1'
  API write  curl -s -d 'api_key=demo-api-key&affiliate_name=Demo' http://127.0.0.1:$base/api/2/affiliate.json
  on node $nodes  curl -s 'http://127.0.0.1:$((base + nodes))/api/2/affiliates.json?api_key=demo-api-key'
  stats      $bin stats --config $work/node-1/smartlink.toml --link 301
  metrics    curl -s http://127.0.0.1:$((base + 1))/metrics | grep cluster
  Redis      redis-cli -p $redis_port keys 'demo:*'
EOF
if [ $# -gt 0 ]; then
  export BASE_PORT=$base REDIS_PORT=$redis_port NODES=$nodes CLUSTER_DIR=$work
  status=0
  "$@" || status=$?
  stop
  exit "$status"
fi
echo "Ctrl-C stops everything."
wait "${pids[0]}"
