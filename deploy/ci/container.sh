#!/usr/bin/env bash
# CI stage "container": builds the image from Containerfile with podman, on a base image
# bootstrapped from Debian's packages (no image registry is reachable: deploy/ci/base-image.sh,
# mmdebstrap --variant=minbase bookworm, then podman import; kept between runs) and the binary
# cargo built in the profile SMARTLINK_CI_PROFILE names (default `release`; `.ci/run` passes
# `dev`, the tests' build), then runs it with a config volume and a state volume:
# /healthz, the health check, a click, `podman stop` drains and exits 0, a restart keeps the
# counters. Needs root, podman, runc, mmdebstrap, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "container: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (rootful podman)"
profile=${SMARTLINK_CI_PROFILE:-release}
bin=target/$([ "$profile" = dev ] && echo debug || echo "$profile")/smartlink
[ -x "$bin" ] || fail "$bin is missing: run cargo build --locked --profile $profile first"
for tool in podman runc mmdebstrap strip curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done
export CONTAINERS_CONF=$PWD/deploy/ci/containers.conf

image=localhost/smartlink:ci
name=smartlink-ci
state=smartlink-ci-state
work=""
dangling() { podman images -q --filter dangling=true | sort; }
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  podman volume rm -f "$state" >/dev/null 2>&1 || true
  podman rmi -f "$image" >/dev/null 2>&1 || true
  # The build's stage images, untagged once the image is gone (and only those).
  comm -13 <(echo "$before") <(dangling) | xargs -r podman rmi -f >/dev/null 2>&1 || true
  [ -z "$work" ] || rm -rf "$work"
}
before=$(dangling)
cleanup # what an interrupted run left
trap cleanup EXIT
work=$(mktemp -d -t smartlink-container.XXXXXX)
# podman logs its healthcheck timers' failure (no systemd here) on every run; CI calls the
# health check itself.
quiet() { grep -v 'unable to get systemd connection' || true; }

echo "-- base image (deploy/ci/base-image.sh)"
base=$(bash deploy/ci/base-image.sh)

echo "-- podman build (BINARY=prebuilt: $bin, stripped)"
ctx=$work/context
mkdir -p "$ctx/target/release" "$ctx/deploy/container" "$ctx/deploy/debian"
strip -o "$ctx/target/release/smartlink" "$bin"
cp deploy/container/smartlink.toml "$ctx/deploy/container/"
cp deploy/debian/network.json "$ctx/deploy/debian/"
podman build --quiet --format docker --build-arg BINARY=prebuilt --build-arg BASE="$base" \
  -f Containerfile -t "$image" "$ctx" >/dev/null

inspect() { podman image inspect --format "$1" "$image"; }
[ "$(inspect '{{.Config.User}}')" = "10001:10001" ] || fail "runs as $(inspect '{{.Config.User}}')"
[ "$(inspect '{{.Config.StopSignal}}')" = SIGTERM ] || fail "stop signal $(inspect '{{.Config.StopSignal}}')"
inspect '{{json .Config.ExposedPorts}}' | grep -q '"8080/tcp"' || fail "8080 is not exposed"
inspect '{{json .Config.ExposedPorts}}' | grep -q '"8081/tcp"' || fail "8081 is not exposed"
inspect '{{json .Config.Volumes}}' | grep -q '"/var/lib/smartlink"' || fail "no state volume"
inspect '{{json .Config.Healthcheck.Test}}' | grep -q '"/usr/bin/smartlink","ready"' || fail "the health check is not smartlink ready"
root=$(podman image mount "$image")
files=$(cd "$root" && find . -type f -o -type l | sort)
podman image unmount "$image" >/dev/null
echo "image files:" $files
echo "$files" | grep -qE '/(sh|bash|dash|curl|busybox)$' && fail "the image holds a shell or curl"
echo "image size: $(inspect '{{.Size}}') bytes"

echo "-- run: a config volume (settings, the demo catalog) and a state volume"
conf=$work/config
mkdir -p "$conf/catalog"
cp deploy/container/smartlink.toml "$conf/"
cp config/network.json "$conf/catalog/network.json"
chown -R 10001:10001 "$conf/catalog"
podman volume create "$state" >/dev/null
read -r port admin < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
podman run -d --name "$name" -p "127.0.0.1:$port:8080" -p "127.0.0.1:$admin:8081" \
  -v "$conf:/etc/smartlink" -v "$state:/var/lib/smartlink" \
  -e SMARTLINK_CLICK_SECRET=ci-click-secret-0123456789 -e SMARTLINK_API_KEYS=ci-api-key \
  -e SMARTLINK_POSTBACK_TOKEN=ci-postback-token \
  --stop-timeout 30 "$image" 2>&1 >/dev/null | quiet

up() {
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" = 200 ] && return 0
    sleep 0.1
  done
  podman logs "$name" 2>&1 | quiet
  fail "/healthz does not answer"
}
clicks() {
  curl -s "http://127.0.0.1:$admin/metrics" |
    awk '/^smartlink_clicks_total/ { n += $2 } END { print n + 0 }'
}
up
podman healthcheck run "$name" 2>&1 | quiet
[ "$(podman inspect --format '{{.State.Health.Status}}' "$name")" = healthy ] || fail "the health check does not pass"

status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/sl?id=301&aff_id=67890" \
  -A 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36')
[ "$status" = 302 ] || fail "the click got $status"
[ "$(clicks)" = 1 ] || fail "the click is not counted: $(clicks)"

echo "-- podman stop: drains and exits 0"
podman stop -t 30 "$name" 2>&1 >/dev/null | quiet
[ "$(podman inspect --format '{{.State.ExitCode}}' "$name")" = 0 ] || fail "exit code $(podman inspect --format '{{.State.ExitCode}}' "$name")"
podman logs "$name" 2>&1 | grep -q 'stopped clicks=1' || { podman logs "$name" 2>&1 | quiet; fail "no clean stop in the log"; }

echo "-- podman start: the counters are kept on the state volume"
podman start "$name" 2>&1 >/dev/null | quiet
up
[ "$(clicks)" = 1 ] || fail "after the restart the clicks are $(clicks), not 1"
podman stop -t 30 "$name" 2>&1 >/dev/null | quiet
echo "container: OK"
