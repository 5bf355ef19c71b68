#!/usr/bin/env bash
# CI stage "systemd unit": systemd-analyze rates deploy/systemd/smartlink.service (OK or
# better), then the package of the "package" stage (target/debian) is installed with apt in a
# container that boots systemd as PID 1 (podman --systemd=always on deploy/ci/base-image.sh:
# Debian minbase with systemd-sysv; the CI machine itself runs no systemd), where
# `systemd-analyze verify` checks the installed unit and the hardened unit runs for real: the
# package starts it (Type=notify: active once READY=1), an API write and a click inside its
# sandbox, `systemctl reload` (check, SIGHUP, RELOADING=1 then READY=1), a reload refused by
# the check before any signal, `systemctl stop` (drain, exit 0), a start that keeps the
# counters. Needs root, podman, runc, mmdebstrap, systemd-analyze, curl; the container shares
# the host's network, so 127.0.0.1:8080 and :8081 must be free.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "unit: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (rootful podman)"
for tool in podman runc mmdebstrap systemd-analyze curl; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done
export CONTAINERS_CONF=$PWD/deploy/ci/containers.conf
unit=deploy/systemd/smartlink.service
deb=$(ls target/debian/smartlink_*.deb 2>/dev/null) || fail "no package in target/debian: run deploy/ci/package.sh first"
name=smartlink-ci-systemd

echo "-- systemd-analyze security --offline=true"
report=$(systemd-analyze security --offline=true --threshold=20 "$unit" 2>&1) \
  || { echo "$report"; fail "the unit's exposure is above 2.0"; }
rating=$(grep -o 'Overall exposure level for smartlink.service: .*' <<<"$report")
echo "$rating"
case "$rating" in
  *" OK "* | *" SAFE "*) ;;
  *) fail "the unit is not rated OK or better" ;;
esac

base=$(bash deploy/ci/base-image.sh)
cleanup() { podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; }
cleanup
trap cleanup EXIT
for port in 8080 8081; do
  ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "127.0.0.1:$port is taken: the installed settings listen there"
done

echo "-- boot systemd in a container"
podman run -d --name "$name" --privileged --systemd=always --network host \
  -v "$PWD/target/debian:/pkg:ro" "$base" /sbin/init >/dev/null
inside() { podman exec "$name" "$@"; }
for _ in $(seq 100); do
  case "$(inside systemctl is-system-running 2>/dev/null || true)" in running | degraded) break ;; esac
  sleep 0.1
done

echo "-- apt-get install ./$(basename "$deb") (its dependencies from Debian)"
inside apt-get update -qq
inside env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "/pkg/$(basename "$deb")" >/dev/null
echo "-- systemd-analyze verify (the installed unit)"
inside systemd-analyze verify /lib/systemd/system/smartlink.service

active() { [ "$(inside systemctl is-active smartlink || true)" = active ]; }
status_text() { inside systemctl show -p StatusText --value smartlink; }
metric() { curl -s http://127.0.0.1:8081/metrics | awk -v name="$1" '$1 == name { print $2 }'; }
for _ in $(seq 100); do active && break; sleep 0.1; done
active || { inside journalctl -u smartlink --no-pager; fail "the package did not start the service"; }
case "$(status_text)" in "listening on 127.0.0.1:8080"*) echo "started: $(status_text)" ;; *) fail "status: $(status_text)" ;; esac

echo "-- in the sandbox: a link made through the API (the catalog rewritten), a click"
key=$(inside sed -n 's/^SMARTLINK_API_KEYS=//p' /etc/smartlink/smartlink.env)
api=http://127.0.0.1:8081/api/2
post() { curl -sf -d "api_key=$key&$2" "$api/$1" >/dev/null || fail "$1 failed"; }
post affiliate.json "affiliate_name=CI"
post offer.json "offer_name=CI&offer_url=https://offer.example/?c={click_id}"
post smart_link.json "affiliate_id=1&smart_link_name=CI"
post smart_link_offer.json "smart_link_id=1&offer_id=1"
click=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:8080/sl?id=1" \
  -A 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36')
case "$click" in "302 https://offer.example/?c="*) echo "click: $click" ;; *) fail "the click got: $click" ;; esac

echo "-- systemctl reload: check, SIGHUP; RELOADING=1, then READY=1"
inside systemctl reload smartlink
for _ in $(seq 50); do [ "$(metric smartlink_reloads_total)" = 1 ] && break; sleep 0.1; done
[ "$(metric smartlink_reloads_total)" = 1 ] || fail "the reload was not applied"
case "$(status_text)" in "serving generation"*) echo "reloaded: $(status_text)" ;; *) fail "status: $(status_text)" ;; esac

echo "-- a catalog that does not validate: systemctl reload fails before any signal"
inside cp /etc/smartlink/catalog/network.json /tmp/network.json
inside sh -c 'echo "{" > /etc/smartlink/catalog/network.json'
! inside systemctl reload smartlink 2>/dev/null || fail "the reload of an invalid catalog succeeded"
active || fail "the refused reload stopped the service"
[ "$(metric smartlink_reload_failures_total)" = 0 ] || fail "the server was signalled"
inside cp /tmp/network.json /etc/smartlink/catalog/network.json

echo "-- systemctl stop: STOPPING=1, drain, exit 0"
inside systemctl stop smartlink
[ "$(inside systemctl show -p Result --value smartlink)" = success ] || fail "stop: $(inside systemctl show -p Result --value smartlink)"
inside journalctl -u smartlink --no-pager -o cat | grep -q 'stopped clicks=1' || fail "no clean stop in the journal"

echo "-- systemctl start: the counters are kept"
inside systemctl start smartlink
active || fail "the service did not start again"
[ "$(metric smartlink_clicks_total{outcome=\"routed\"})" = 1 ] || fail "the click count is not kept"
inside systemctl stop smartlink
echo "unit: OK"
