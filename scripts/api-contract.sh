#!/usr/bin/env bash
# The API contract: schemathesis generates requests from the OpenAPI document the demo server
# serves (/api/2/openapi.json) and checks every answer against it: a request the document
# calls valid is accepted (or refused for what only the server knows: 404, 422), one it calls
# invalid is refused, every status, header and body is documented. Fixed seed, bounded cases:
# the same requests every run. Exits non-zero on any failure.
#
# Usage: scripts/api-contract.sh [EXAMPLES_PER_OPERATION=40] [SEED=1] [st run options...]
# (e.g. `--include-path /api/2/offer.json` for one operation, `--report ndjson`)
# Needs `st` (schemathesis) on PATH or in $ST; `.ci/run` installs it in a virtual
# environment. Builds and runs target/debug/smartlink on a copy of config/ (port chosen by
# the system), so the repository's files are not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-40}
seed=${2:-1}
st=${ST:-st}
root=$PWD

cargo build --locked --quiet --bin smartlink
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP PIPE

cp -r config "$work/config"
sed -i 's|^listen = .*|listen = "127.0.0.1:0"|' "$work/config/smartlink.toml"
: >"$work/server.log"
(cd "$work" && RUST_LOG=warn,smartlink::server=info exec "$root/target/debug/smartlink" >"$work/server.log" 2>&1) &
pid=$!
addr=
for _ in $(seq 200); do
  addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$work/server.log" | head -1)
  [ -n "$addr" ] && break
  sleep 0.05
done
[ -n "$addr" ] || { echo "the demo server did not start:"; cat "$work/server.log"; exit 1; }

# Run from the scratch directory: schemathesis keeps its caches in the working directory.
cd "$work"
"$st" --config-file "$root/scripts/api-contract.toml" run "http://$addr/api/2/openapi.json" \
  --checks all --seed "$seed" --max-examples "$examples" \
  --phases examples,coverage,fuzzing,stateful --no-color "${@:3}"
