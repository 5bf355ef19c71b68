#!/usr/bin/env python3
"""CI stage "dashboard": every query of deploy/grafana/smartlink.json returns data.

Starts a real redis-server, a real smartlink node in cluster mode on it (the binary of SMARTLINK_CI_PROFILE,
the demo catalog and GeoIP database) and a real Prometheus (Debian's `prometheus`) scraping the
node every second with deploy/prometheus/smartlink-rules.yml loaded; puts a short bounded
load on the node (routed and bot clicks, unknown links, campaign clicks, postbacks, API reads
and a write, a SIGHUP reload); then asks Prometheus's HTTP API every query of every panel and
every variable of the dashboard, the variables filled in as Grafana would ("All"). A query
that returns nothing (a metric that does not exist, a label that is never set) fails the
stage, and so does a rule group Prometheus could not load. Stops everything it started.

    python3 deploy/ci/dashboard.py [LOAD_SECONDS]
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The binary cargo built in the profile SMARTLINK_CI_PROFILE names (default release; .ci/run
# passes dev, the tests' build).
PROFILE = os.environ.get("SMARTLINK_CI_PROFILE", "release")
BINARY = ROOT / "target" / ("debug" if PROFILE == "dev" else PROFILE) / "smartlink"
DASHBOARD = ROOT / "deploy/grafana/smartlink.json"
RULES = ROOT / "deploy/prometheus/smartlink-rules.yml"
# Grafana's "All" for a variable with allValue ".+", and its $__rate_interval for a 1 s
# scrape interval (four scrapes), rounded up.
SUBSTITUTIONS = {
    "$__rate_interval": "15s",
    "$job": ".+",
    "$node": ".+",
    "$instance": ".+",
}
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
API_KEY = "ci-api-key"
TOKEN = "ci-postback-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"dashboard: {what} did not come up within {seconds} s")


def substitute(text):
    for name, value in SUBSTITUTIONS.items():
        text = text.replace(name, value)
    if "$" in text.replace("{{", "").replace("}}", ""):
        sys.exit(f"dashboard: a variable is left in {text!r}")
    return text


class Node:
    """A smartlink node in cluster mode; its public and admin addresses from its log."""

    def __init__(self, work, redis_port):
        catalog = work / "network.json"
        shutil.copy(ROOT / "config/network.json", catalog)
        settings = work / "smartlink.toml"
        settings.write_text(
            f"""[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
trusted_proxies = ["127.0.0.1/32"]
default_fallback_url = "https://fallback.example/?l={{smart_link_id}}"

[catalog]
path = "{catalog}"

[geoip]
database = "{ROOT / 'config/geo/country.mmdb'}"

[tracking]
click_secret = "ci-dashboard-click-secret-0123456789"

[state]
dir = "{work / 'state'}"

[api]
keys = ["{API_KEY}"]

[postbacks]
token = "{TOKEN}"

[cluster]
redis_url = "redis://127.0.0.1:{redis_port}/0"
node_id = "ci-node-1"
key_prefix = "ci-dashboard:"
"""
        )
        self.log = open(work / "smartlink.log", "w+")
        self.process = subprocess.Popen(
            [str(BINARY), "serve", "--config", str(settings)],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self.public = self.admin = None

        def started():
            self.log.seek(0)
            text = self.log.read()
            if self.process.poll() is not None:
                sys.exit(f"dashboard: smartlink exited:\n{text}")
            admin = re.search(r"admin listener \(API, metrics, health\) on (\S+)", text)
            public = re.search(r"listening on (\S+)", text)
            if admin and public:
                self.admin, self.public = admin.group(1), public.group(1)
                return True
            return False

        wait_for("smartlink", started)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def load(node, seconds):
    """Four clients for `seconds`: every endpoint, every outcome the dashboard shows."""
    stop = time.monotonic() + seconds
    counts = {"requests": 0, "conversions": 0}
    lock = threading.Lock()

    def client(kind):
        public = http.client.HTTPConnection(node.public, timeout=10)
        admin = http.client.HTTPConnection(node.admin, timeout=10)
        n = 0
        while time.monotonic() < stop:
            n += 1
            if kind == "routed":
                public.request(
                    "GET",
                    "/sl?id=301&aff_id=67890&s1=ci",
                    headers={"User-Agent": IPHONE, "X-Forwarded-For": "8.8.8.8"},
                )
                r = public.getresponse()
                r.read()
                location = r.getheader("location") or ""
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
                ids = [v[0] for v in query.values() if re.fullmatch(r"[A-Za-z0-9_-]{30,}", v[0])]
                if ids and n % 10 == 0:
                    public.request("GET", f"/p?click_id={ids[0]}&amount=1.50&token={TOKEN}")
                    answer = public.getresponse().read()
                    if b"recorded" in answer:
                        with lock:
                            counts["conversions"] += 1
            elif kind == "mixed":
                for target, headers in (
                    ("/sl?id=301", {"User-Agent": "curl/8.0"}),
                    ("/sl?id=999999", {"User-Agent": CHROME}),
                    ("/rd/r.php?sid=98001&aff_id=67890", {"User-Agent": CHROME, "X-Forwarded-For": "8.8.8.8"}),
                    ("/p?click_id=forged&token=" + TOKEN, {}),
                ):
                    public.request("GET", target, headers=headers)
                    public.getresponse().read()
            else:
                admin.request("GET", f"/api/2/campaigns.json?api_key={API_KEY}&offer_id=1042")
                admin.getresponse().read()
                if n == 1:
                    body = urllib.parse.urlencode({"api_key": API_KEY, "affiliate_name": "CI"})
                    admin.request(
                        "POST",
                        "/api/2/affiliate.json",
                        body=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                    )
                    admin.getresponse().read()
                    node.process.send_signal(signal.SIGHUP)
                time.sleep(0.05)
            with lock:
                counts["requests"] += 1

    threads = [
        threading.Thread(target=client, args=(kind,))
        for kind in ("routed", "routed", "mixed", "api")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def prometheus_get(port, path, params):
    url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    for tool in ("redis-server", "prometheus"):
        if shutil.which(tool) is None:
            sys.exit(f"dashboard: {tool} is missing")
    if not BINARY.exists():
        sys.exit(f"dashboard: {BINARY} is missing: run cargo build --locked --profile {PROFILE} first")
    dashboard = json.loads(DASHBOARD.read_text())
    work = Path(tempfile.mkdtemp(prefix="smartlink-dashboard."))
    processes = []
    node = None
    try:
        redis_port = free_port()
        processes.append(
            subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(work)],
                stdout=subprocess.DEVNULL,
            )
        )

        def redis_up():
            with socket.create_connection(("127.0.0.1", redis_port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        wait_for("redis-server", redis_up)
        node = Node(work, redis_port)

        prom_port = free_port()
        (work / "prometheus.yml").write_text(
            f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {RULES}
scrape_configs:
  - job_name: smartlink
    static_configs:
      - targets: ["{node.admin}"]
"""
        )
        processes.append(
            subprocess.Popen(
                ["prometheus", f"--config.file={work / 'prometheus.yml'}",
                 f"--storage.tsdb.path={work / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                stdout=subprocess.DEVNULL,
                stderr=open(work / "prometheus.log", "w"),
            )
        )
        wait_for(
            "prometheus",
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/-/ready", timeout=1).status == 200,
        )

        counts = load(node, seconds)
        print(f"load: {counts['requests']} request rounds, {counts['conversions']} conversions in {seconds:.0f} s")
        time.sleep(3)  # the last scrapes

        failures = []
        groups = prometheus_get(prom_port, "/api/v1/rules", {})["data"]["groups"]
        rules = [r for g in groups if g["name"] == "smartlink" for r in g["rules"]]
        if not rules or any(r.get("health") != "ok" for r in rules):
            failures.append(f"the smartlink rule group is not loaded and healthy: {rules}")
        print(f"rules: {len(rules)} alerting rules loaded and evaluated")

        for variable in dashboard["templating"]["list"]:
            if variable["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.*), (\w+)\)", variable["definition"])
            selector, label = substitute(m.group(1)), m.group(2)
            values = prometheus_get(prom_port, f"/api/v1/label/{label}/values", {"match[]": selector})["data"]
            print(f"variable {variable['name']}: {values}")
            if not values:
                failures.append(f"variable {variable['name']}: no values for {selector}")

        queries = 0
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                queries += 1
                expr = substitute(target["expr"])
                answer = prometheus_get(prom_port, "/api/v1/query", {"query": expr})
                result = answer.get("data", {}).get("result", [])
                if answer.get("status") != "success" or not result:
                    failures.append(f"panel {panel['title']!r}: no data for {expr}")
                else:
                    print(f"ok  {panel['title']}: {len(result)} series  {expr[:90]}")
        if failures:
            print("\n".join(failures), file=sys.stderr)
            sys.exit(f"dashboard: {len(failures)} of {queries} queries or checks returned nothing")
        print(f"dashboard: OK, {queries} queries of {len(dashboard['panels'])} panels and rows return data")
    finally:
        if node is not None:
            node.stop()
        for p in reversed(processes):
            p.terminate()
            p.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
