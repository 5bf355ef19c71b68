#!/usr/bin/env bash
# The Debian base image of the CI stages "container" and "systemd unit", made once and kept
# in podman's store: no image registry is reachable, so it is bootstrapped from Debian's
# packages (mmdebstrap --variant=minbase bookworm, plus systemd-sysv to boot systemd as PID 1
# in the unit stage) and imported. The container image's runtime stage takes only the C
# libraries from it. Prints the image's name.
set -euo pipefail
export CONTAINERS_CONF=${CONTAINERS_CONF:-$(cd "$(dirname "$0")" && pwd)/containers.conf}
base=localhost/smartlink-ci-base:bookworm
if ! podman image exists "$base"; then
  work=$(mktemp -d -t smartlink-base.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  mmdebstrap --variant=minbase --include=systemd-sysv --quiet bookworm "$work/base.tar" >&2
  podman import --quiet "$work/base.tar" "$base" >/dev/null
fi
echo "$base"
