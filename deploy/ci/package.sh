#!/usr/bin/env bash
# CI stage "package": builds the Debian package from the binary cargo built in the profile
# SMARTLINK_CI_PROFILE names (default `release`; `.ci/run` passes `dev`, the tests' build) into
# target/debian, installs it, runs
# `smartlink check` on the installed files and the server as the unit runs it (user smartlink,
# the environment file, the state directory; no systemd runs as PID 1 here), makes a link
# through the API and clicks it, reinstalls it over itself (the settings, secrets and catalog
# are kept), removes it (the state is kept), purges it (nothing is left but the system user,
# which Debian keeps). The unit under systemd is the next stage's (deploy/ci/unit.sh). Needs
# root, cargo-deb, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "package: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
profile=${SMARTLINK_CI_PROFILE:-release}
bin=target/$([ "$profile" = dev ] && echo debug || echo "$profile")/smartlink
[ -x "$bin" ] || fail "$bin is missing: run cargo build --locked --profile $profile first"
for tool in cargo-deb curl python3 setpriv; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done

conf=/etc/smartlink/smartlink.toml
pid=""
work=$(mktemp -d -t smartlink-package.XXXXXX)
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "-- cargo deb"
# --fast: lighter compression (the CI stage's minute, not the package's content).
rm -rf target/debian
cargo deb --no-build --profile "$profile" --fast >/dev/null 2>&1
deb=$(ls target/debian/smartlink_*.deb)
echo "$(basename "$deb"): $(stat -c %s "$deb") bytes"

if dpkg-query -W smartlink >/dev/null 2>&1; then
  dpkg --purge smartlink >/dev/null
fi
for path in /etc/smartlink /var/lib/smartlink /usr/bin/smartlink; do
  [ ! -e "$path" ] || fail "$path exists before the install: not a clean machine"
done

echo "-- dpkg -i"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null
getent passwd smartlink >/dev/null || fail "no smartlink user"
[ "$(getent passwd smartlink | cut -d: -f7)" = /usr/sbin/nologin ] || fail "the smartlink user has a login shell"
mode() { stat -c '%a %U:%G' "$1"; }
[ "$(mode /etc/smartlink/smartlink.env)" = "600 root:root" ] || fail "smartlink.env is $(mode /etc/smartlink/smartlink.env)"
[ "$(mode /var/lib/smartlink)" = "750 smartlink:smartlink" ] || fail "/var/lib/smartlink is $(mode /var/lib/smartlink)"
[ "$(mode /etc/smartlink/catalog)" = "750 smartlink:smartlink" ] || fail "/etc/smartlink/catalog is $(mode /etc/smartlink/catalog)"
grep -q "^SMARTLINK_CLICK_SECRET=[0-9a-f]\{64\}$" /etc/smartlink/smartlink.env || fail "no random click secret"
dpkg-query -W -f='${Conffiles}\n' smartlink | grep -q " $conf " || fail "$conf is not a conffile"
grep -q 'demo' "$conf" && fail "$conf holds a demo value"

# Runs a command as the unit does: user smartlink, the environment file (and nothing else of
# this shell's environment), the state directory as working directory.
unit_env() {
  local vars
  mapfile -t vars < <(grep -E '^[A-Z_]+=' /etc/smartlink/smartlink.env)
  unit_cmd=(env -i -C /var/lib/smartlink PATH=/usr/sbin:/usr/bin:/sbin:/bin "${vars[@]}"
    setpriv --reuid=smartlink --regid=smartlink --init-groups --no-new-privs --)
}
as_unit() { unit_env; "${unit_cmd[@]}" "$@"; }

echo "-- ExecStartPre: smartlink check"
as_unit /usr/bin/smartlink check --config "$conf"

echo "-- ExecStart: smartlink serve"
for port in 8080 8081; do
  ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "127.0.0.1:$port is taken: the installed settings listen there"
done
unit_env
"${unit_cmd[@]}" /usr/bin/smartlink serve --config "$conf" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  as_unit /usr/bin/smartlink ready --config "$conf" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; fail "the server exited"; }
  sleep 0.1
done
as_unit /usr/bin/smartlink ready --config "$conf"
kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; fail "the server exited"; }
[ "$(stat -c %U /proc/$pid)" = smartlink ] || fail "the server does not run as smartlink"

echo "-- a link made through the API (the installed key), and a click on it"
key=$(sed -n 's/^SMARTLINK_API_KEYS=//p' /etc/smartlink/smartlink.env)
api=http://127.0.0.1:8081/api/2
id() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
affiliate=$(curl -sf -d "api_key=$key&affiliate_name=CI" "$api/affiliate.json" | id '["affiliate"]["affiliate_id"]')
offer=$(curl -sf -d "api_key=$key&offer_name=CI&offer_url=https://offer.example/?c={click_id}" "$api/offer.json" | id '["offer"]["offer_id"]')
link=$(curl -sf -d "api_key=$key&affiliate_id=$affiliate&smart_link_name=CI" "$api/smart_link.json" | id '["response"]["smart_link_id"]')
curl -sf -d "api_key=$key&smart_link_id=$link&offer_id=$offer" "$api/smart_link_offer.json" >/dev/null
location=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:8080/sl?id=$link" \
  -A 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36')
case "$location" in
  "302 https://offer.example/?c="*) echo "click: $location" ;;
  *) cat "$work/serve.log"; fail "the click got: $location" ;;
esac
[ "$(stat -c %U /etc/smartlink/catalog/network.json)" = smartlink ] || fail "the catalog written by the API is not smartlink's"

echo "-- ExecReload: smartlink check, then SIGHUP"
as_unit /usr/bin/smartlink check --config "$conf" >/dev/null
/bin/kill -HUP "$pid"
for _ in $(seq 100); do
  curl -s http://127.0.0.1:8081/metrics | grep -q '^smartlink_reloads_total 1$' && break
  sleep 0.1
done
curl -s http://127.0.0.1:8081/metrics | grep -q '^smartlink_reloads_total 1$' || { curl -s http://127.0.0.1:8081/metrics | grep reload; tail -5 "$work/serve.log"; fail "the reload was not applied"; }

echo "-- stop (SIGTERM): drains and exits 0"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || { cat "$work/serve.log"; fail "serve exited $status"; }
grep -q '"clicks":1\|clicks=1' "$work/serve.log" || { cat "$work/serve.log"; fail "the stop did not count the click"; }

echo "-- reinstall over itself: settings, secrets, catalog and state are kept"
echo "# changed by the operator" >>"$conf"
sums() { sha256sum "$conf" /etc/smartlink/smartlink.env /etc/smartlink/catalog/network.json /var/lib/smartlink/counters.json; }
before=$(sums)
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null
[ "$(sums)" = "$before" ] || fail "the reinstall changed the settings, secrets, catalog or counters"

echo "-- dpkg -r: the program goes, the state stays"
dpkg -r smartlink >/dev/null
[ ! -e /usr/bin/smartlink ] || fail "/usr/bin/smartlink is still there after remove"
for path in /var/lib/smartlink/counters.json /etc/smartlink/smartlink.env /etc/smartlink/catalog/network.json "$conf"; do
  [ -e "$path" ] || fail "remove deleted $path"
done

echo "-- dpkg --purge: nothing is left but the system user"
dpkg --purge smartlink >/dev/null
for path in /etc/smartlink /var/lib/smartlink /usr/share/smartlink /usr/share/doc/smartlink \
  /lib/systemd/system/smartlink.service /usr/lib/systemd/system/smartlink.service \
  /etc/systemd/system/multi-user.target.wants/smartlink.service \
  /var/lib/systemd/deb-systemd-helper-enabled/smartlink.service.dsh-also \
  /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/smartlink.service; do
  [ ! -e "$path" ] || fail "$path is left after purge"
done
left=$(find /etc /var /usr /opt /srv /tmp -xdev -user smartlink 2>/dev/null | head -5)
[ -z "$left" ] || fail "files of the smartlink user are left: $left"
! dpkg-query -W smartlink >/dev/null 2>&1 || dpkg-query -W -f='${Status}\n' smartlink | grep -q not-installed \
  || fail "dpkg still knows the package"
echo "package: OK"
