#!/usr/bin/env bash
# Bounded load test over real sockets: starts the release server on the demo network (click
# log in a temporary directory, port 18080), runs examples/load.rs against it for a fixed
# time, stops the server with SIGTERM and checks that it exited 0 and that every answered
# click is in the log. Usage: scripts/load.sh [seconds=10] [connections=32]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
port=18080

cargo build --release --quiet --bin smartlink --example load
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

sed -e "s|^listen = .*|listen = \"127.0.0.1:$port\"|" \
    -e "s|^path = .*|path = \"config/network.json\"|" \
    -e "s|^dir = .*|dir = \"$tmp/data\"|" \
    config/smartlink.toml > "$tmp/smartlink.toml"
RUST_LOG=warn target/release/smartlink serve --config "$tmp/smartlink.toml" &
pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

status=0
target/release/examples/load --addr "127.0.0.1:$port" --connections "$connections" --seconds "$seconds" \
  | tee "$tmp/load.out" || status=$?
answered=$(awk '/ requests in /{print $1}' "$tmp/load.out")

kill -TERM "$pid"
wait "$pid" || { echo "server exited with $?"; status=1; }
pid=
records=$(cat "$tmp"/data/clicks-*.ndjson | wc -l)
echo "click records on disk after shutdown: $records (answered: $answered)"
if [ "$records" != "$answered" ]; then
  echo "every answered click must be on disk"
  status=1
fi
exit "$status"
