#!/usr/bin/env bash
# CI stage "alerting rules": promtool checks deploy/prometheus/smartlink-rules.yml and runs its
# unit tests (a test that fires each alert and one that does not), and every alert's
# runbook_url names a heading of docs/operations.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

rules=deploy/prometheus/smartlink-rules.yml
promtool check rules "$rules"
promtool test rules deploy/prometheus/smartlink-rules.test.yml

# Every alert has a test that fires it.
for alert in $(sed -n 's/^ *- alert: //p' "$rules"); do
  grep -q "alertname: $alert$" deploy/prometheus/smartlink-rules.test.yml \
    || { echo "rules: $alert has no test" >&2; exit 1; }
done

# Each runbook_url is docs/operations.md#ANCHOR, and ANCHOR is a heading there (GitHub's
# anchors: lower case, spaces to dashes, punctuation dropped).
anchors=$(sed -n 's/^#\{1,6\} //p' docs/operations.md | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9 _-]//g; s/ /-/g')
for url in $(sed -n 's/^ *runbook_url: "\(.*\)"$/\1/p' "$rules"); do
  [ "${url%%#*}" = docs/operations.md ] || { echo "rules: $url is not in docs/operations.md" >&2; exit 1; }
  grep -qx "${url#*#}" <<<"$anchors" || { echo "rules: no heading for $url in docs/operations.md" >&2; exit 1; }
done
echo "rules: OK, $(grep -c '^ *- alert:' "$rules") alerts, each tested and with a runbook"
