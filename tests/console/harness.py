"""What the console's browser tests stand on: a real `smartlink serve` (the debug binary
cargo built) on loopback ports with a temporary configuration, real traffic sent to it, a
small API client, and headless Chromium driven through Playwright.

Nothing here imitates the server: clicks are real redirects, postbacks real conversions,
and every figure a test compares comes from the running server's API.
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.path.join(ROOT, "target", "debug", "smartlink")
NETWORK = os.path.join(ROOT, "tests", "fixtures", "networks", "console.json")
GEO = os.path.join(ROOT, "tests", "fixtures", "geo", "GeoIP2-Country-Test.mmdb")

ADMIN_KEY = "console-test-admin-key"
READ_KEY = "console-test-read-key"
SECRET = "console-test-click-secret-0123456789"

# Addresses of MaxMind's GeoIP2 test database (tests/fixtures/geo).
US = "216.160.83.56"
GB = "81.2.69.142"
DESKTOP = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
           "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

# The flags Chromium runs with: headless, no sandbox (containers), nothing that phones home.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class Server:
    """`smartlink serve` on a temporary configuration: clicks on one loopback port, the API
    and the console on the admin port. `network` is the catalog (a dict)."""

    def __init__(self, network, extra=""):
        self.dir = tempfile.mkdtemp(prefix="smartlink-console-")
        catalog = os.path.join(self.dir, "network.json")
        with open(catalog, "w") as f:
            json.dump(network, f)
        self.config = os.path.join(self.dir, "smartlink.toml")
        with open(self.config, "w") as f:
            f.write(f"""[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
public_base_url = "https://track.example"
default_fallback_url = "https://fallback.example/?l={{smart_link_id}}"
trusted_proxies = ["127.0.0.1/32"]

[catalog]
path = {json.dumps(catalog)}

[geoip]
database = {json.dumps(GEO)}

[tracking]
click_secret = {json.dumps(SECRET)}

[state]
dir = {json.dumps(os.path.join(self.dir, "data"))}

[api]
keys = [{json.dumps(ADMIN_KEY)}]
read_keys = [{json.dumps(READ_KEY)}]

[console]
sign_in_attempts_per_minute = 50
{extra}
""")
        env = dict(os.environ, RUST_LOG="info")
        env.pop("SMARTLINK_API_KEYS", None)
        env.pop("SMARTLINK_CLICK_SECRET", None)
        self.proc = subprocess.Popen([BINARY, "serve", "--config", self.config],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     env=env, text=True)
        self.log = []
        found = {}
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"admin listener \(.*\) on (\S+)", line)
                if m:
                    found["admin"] = m.group(1)
                m = re.search(r"listening on (\S+)", line)
                if m:
                    found["public"] = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or "public" not in found or "admin" not in found:
            self.stop()
            raise RuntimeError("smartlink did not start:\n" + "".join(self.log[-30:]))
        self.public = found["public"]
        self.admin = found["admin"]
        self.console = f"http://{self.admin}/console/"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- HTTP -----------------------------------------------------------------------------

    def request(self, addr, method, target, body=None, headers=None):
        """One request on a new connection: (status, headers as a dict of lists, body)."""
        host, port = addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        hs = {}
        for k, v in r.getheaders():
            hs.setdefault(k.lower(), []).append(v)
        conn.close()
        return r.status, hs, data

    def api(self, call, key=ADMIN_KEY, **params):
        """GET /api/2/{call} with an API key: the parsed answer (must be 200)."""
        q = urllib.parse.urlencode(dict(params, api_key=key))
        status, _, body = self.request(self.admin, "GET", f"/api/2/{call}?{q}")
        answer = json.loads(body)
        if status != 200:
            raise AssertionError(f"{call}: {status} {answer}")
        return answer

    def post(self, call, params, key=ADMIN_KEY, headers=None):
        """POST /api/2/{call} with a JSON body: (status, answer)."""
        body = dict(params)
        if key is not None:
            body["api_key"] = key
        hs = {"Content-Type": "application/json"}
        hs.update(headers or {})
        status, _, data = self.request(self.admin, "POST", f"/api/2/{call}",
                                       json.dumps(body), hs)
        return status, json.loads(data)

    def metric(self, series):
        """The value of one series of /metrics (name and labels as written)."""
        _, _, body = self.request(self.admin, "GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        raise AssertionError(f"{series} is not in /metrics")

    def catalog(self):
        """The catalog as the API lists it (what a change would show in)."""
        return {
            "links": self.api("smart_links.json", row_limit=500)["response"]["smart_links"],
            "offers": self.api("offers.json", row_limit=5000)["response"]["offers"],
            # Without optimized rotation's weights in force: the optimizer moves them.
            "attachments": {l: [{k: v for k, v in a.items() if k != "optimized"}
                                for a in self.api("smart_link_offers.json", smart_link_id=l)["response"]["offers"]]
                            for l in (301, 302, 303, 304)},
            "generation": self.metric("smartlink_table_generation"),
        }


class Clicker:
    """Clicks over one keep-alive connection, from a client address behind the trusted
    proxy (loopback); each answer's Location."""

    def __init__(self, server):
        host, port = server.public.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def click(self, target, ip=US, ua=DESKTOP):
        self.conn.request("GET", target, headers={"X-Forwarded-For": ip, "User-Agent": ua})
        r = self.conn.getresponse()
        r.read()
        return r.status, r.getheader("Location") or ""

    def close(self):
        self.conn.close()


def offer_of(location):
    """The offer a Location goes to (o11.example → 11), or None for a fallback."""
    m = re.match(r"https://o(\d+)\.example/", location)
    return int(m.group(1)) if m else None


def click_id(location):
    return urllib.parse.parse_qs(urllib.parse.urlparse(location).query).get("c", [None])[0]


def send_traffic(server):
    """The traffic every test starts from: desktop clicks from the US and Great Britain on
    the rotator (offer 12 near its daily click cap), bots, phones on the app push, clicks on
    the retired (inactive) link, a campaign's clicks, and conversions with and without an
    amount (40 of the links' clicks, 5 of the campaign's). Returns what was sent, by link."""
    sent = {"clicks": 0, "conversions": 0, "links": {}}
    c = Clicker(server)
    plan = [("/sl?id=301", US, DESKTOP, 110), ("/sl?id=301", GB, DESKTOP, 50),
            ("/sl?id=301", US, BOT, 20), ("/sl?id=302", US, DESKTOP, 60),
            ("/sl?id=303", US, IPHONE, 45), ("/sl?id=303", GB, DESKTOP, 15),
            ("/sl?id=304", US, DESKTOP, 12), ("/rd/r.php?sid=98001", US, DESKTOP, 25)]
    conversions = []
    for target, ip, ua, n in plan:
        for _ in range(n):
            status, to = c.click(target, ip, ua)
            assert status == 302, (target, status)
            sent["clicks"] += 1
            sent["links"][target] = sent["links"].get(target, 0) + 1
            if target.startswith("/rd/"):
                if sent["links"][target] % 5 == 0:
                    conversions.append(click_id(to))
            elif offer_of(to) in (11, 13, 15) and len(conversions) < 40 and sent["clicks"] % 3 == 0:
                conversions.append(click_id(to))
    for i, cid in enumerate(conversions):
        amount = "&amount=4.75" if i % 4 == 0 else ""
        status, _, body = server.request(server.public, "GET", f"/p?click_id={cid}{amount}")
        assert status == 200 and b"recorded" in body, body
        sent["conversions"] += 1
    c.close()
    # The saver sweeps clicks into their hour every second.
    deadline = time.time() + 10
    while time.time() < deadline:
        totals = server.api("network_stats.json")["response"]["totals"]
        if totals["clicks"] == sent["clicks"] and totals["conversions"] == sent["conversions"]:
            return sent
        time.sleep(0.2)
    raise AssertionError(f"the hours hold {totals}, sent {sent}")


def big_network(n):
    """The test network with `n` more smart links (names a search can tell apart)."""
    network = test_network()
    for i in range(n):
        network["smart_links"].append({
            "smart_link_id": 1000 + i,
            "smart_link_name": f"Bulk link {i:05d} - {['US', 'EU', 'APAC', 'LATAM'][i % 4]}",
            "affiliate_id": 100 if i % 2 else 200,
            "smart_link_status": "active" if i % 7 else "inactive",
            "offers": [{"offer_id": [11, 12, 15][i % 3], "offer_weight": 1 + i % 100, "priority": 1},
                       {"offer_id": 13, "offer_weight": 5, "priority": 2}],
        })
    return network


# What the network pays its affiliates (the conversions' cost), beside the offers' payouts of
# tests/fixtures/networks/console.json: each offer's, campaign 98001's own and the own of
# link 301's attachment of offer 13.
AFFILIATE_PAYOUTS = {11: "1.80", 12: "0.90", 13: "0.50", 15: "2.10"}
CAMPAIGN_PAYOUT = "2.00"
ATTACHMENT_PAYOUT = "0.25"


def test_network():
    """The test network (tests/fixtures/networks/console.json) with affiliate payouts."""
    with open(NETWORK) as f:
        network = json.load(f)
    for o in network["offers"]:
        if o["offer_id"] in AFFILIATE_PAYOUTS:
            o["affiliate_payout"] = AFFILIATE_PAYOUTS[o["offer_id"]]
    next(c for c in network["campaigns"] if c["campaign_id"] == 98001)["affiliate_payout"] = CAMPAIGN_PAYOUT
    link = next(l for l in network["smart_links"] if l["smart_link_id"] == 301)
    next(a for a in link["offers"] if a["offer_id"] == 13)["affiliate_payout"] = ATTACHMENT_PAYOUT
    return network


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A small real HTTP destination on a loopback port (an offer's server, an affiliate's
    tracker): answers every request with `status` (which a test may change) and keeps what
    it got. `stop()` closes its port (connections refused); `start()` opens the same port
    again."""

    def __init__(self, status=200):
        self.status = status
        self.requests = []
        self.port = free_port()
        self.httpd = None
        self.start()

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self):
                receiver.requests.append((self.command, self.path))
                body = b"ok\n"
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = answer
            do_HEAD = answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


# Health checks every second (down after 2 failures, up after 1 success; a probe may take
# 800 ms on a loaded machine) and partner postbacks, both allowed to reach the loopback
# receivers.
DESTINATION_SETTINGS = """
[health]
enabled = true
interval_ms = 1000
timeout_ms = 800
down_after = 2
up_after = 1
allowed_networks = ["127.0.0.0/8"]

[partner_postbacks]
connect_timeout_ms = 500
timeout_ms = 1000
retry_initial_ms = 200
allowed_networks = ["127.0.0.0/8"]
"""


class Destinations:
    """The test network with its offers on real loopback receivers, probed by health
    checks, and its affiliates' postback URLs on two more: `offers` (offers 11 and 15 and
    the landing page), `lonely` (offer 13, which a test stops), `refusing` (affiliate 100's
    tracker, answering 410: its deliveries fail at once) and `tracker` (affiliate 200's,
    answering 200). Offer 12 is not checked (`health_check: false`). Traffic: clicks on
    links 302 (affiliate 100) and 303 (affiliate 200), some of them converting."""

    def __init__(self):
        self.offers = Receiver()
        self.lonely = Receiver()
        self.refusing = Receiver(410)
        self.tracker = Receiver()
        network = test_network()
        for o in network["offers"]:
            if o["offer_id"] in (11, 15):
                o["offer_url"] = f"{self.offers.url}/o{o['offer_id']}?c={{click_id}}"
            elif o["offer_id"] == 13:
                o["offer_url"] = f"{self.lonely.url}/o13?c={{click_id}}"
            elif o["offer_id"] == 12:
                o["health_check"] = False
        network["landing_pages"][0]["url"] = f"{self.offers.url}/lp?c={{click_id}}"
        pb = "/pb?conversion={conversion_id}&click={click_id}&amount={amount}"
        for a in network["affiliates"]:
            a["postback_url"] = (self.refusing if a["affiliate_id"] == 100 else self.tracker).url + pb
        self.server = Server(network, DESTINATION_SETTINGS)
        self.conversions = {100: 0, 200: 0}

    def send_traffic(self):
        """Clicks and conversions; waits until every delivery has ended."""
        c = Clicker(self.server)
        ids = {100: [], 200: []}
        for link, affiliate, ua in (("302", 100, DESKTOP), ("303", 200, IPHONE)):
            for _ in range(24):
                status, to = c.click(f"/sl?id={link}", US, ua)
                assert status == 302, status
                if to.startswith("http://127.0.0.1:"):
                    ids[affiliate].append(click_id(to))
        c.close()
        for affiliate, clicks in ids.items():
            for cid in clicks[:4]:
                status, _, body = self.server.request(self.server.public, "GET", f"/p?click_id={cid}&amount=3.10")
                assert status == 200 and b"recorded" in body, body
                self.conversions[affiliate] += 1
        deadline = time.time() + 20
        while time.time() < deadline:
            rows = self.server.api("partner_postbacks.json", row_limit=500)["response"]["partner_postbacks"]
            ended = [r for r in rows if r["status"] != "pending"]
            if len(ended) == sum(self.conversions.values()):
                return rows
            time.sleep(0.2)
        raise AssertionError(f"deliveries did not end: {rows}")

    def stop(self):
        self.server.stop()
        for r in (self.offers, self.lonely, self.refusing, self.tracker):
            r.stop()


# -- The browser ------------------------------------------------------------------------

class Watch:
    """Everything a page does that a test must see: console messages of level warning and
    error, uncaught exceptions, failed requests, answers of 400 and above, and every URL
    requested (none may carry a key). A test that provokes an error answer on purpose (a
    refused save) says so with `expect(status)`."""

    def __init__(self, page):
        self.problems = []
        self.urls = []
        self.expected = set()
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(
            f"failed request: {r.method} {r.url} {r.failure}"))
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("response", self._response)

    def _console(self, m):
        if m.type not in ("error", "warning"):
            return
        # Chromium logs every error answer of a fetch; those the test asked for are fine.
        if any(f"status of {s} " in m.text for s in self.expected):
            return
        self.problems.append(f"console {m.type}: {m.text}")

    def _response(self, r):
        if r.status >= 400 and r.status not in self.expected:
            self.problems.append(f"HTTP {r.status}: {r.request.method} {r.url}")

    def expect(self, *statuses):
        self.expected = set(statuses)

    def take(self):
        problems, self.problems = self.problems, []
        self.expected = set()
        return problems


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def sign_in(page, server, key=ADMIN_KEY):
    page.goto(server.console)
    page.fill("#api-key", key)
    page.click("form.sign-in button[type=submit]")
    page.wait_for_selector(".topbar .role")


def wait_idle(page, selector):
    """Waits for `selector`, then for the page to hold no loading message."""
    page.wait_for_selector(selector)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#main .loading')].every(e => !e.offsetParent)")
