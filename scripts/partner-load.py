#!/usr/bin/env python3
"""Partner postback numbers on one node, over real sockets (docs/performance.md#partner-postbacks).

Starts the release server on the demo network (state in a temporary directory) with affiliate
67890's postback_url pointing at a local receiver (nginx answering 204, one access-log line a
request), and:

1. memory: with the receiver's port closed (every attempt refused, retried much later), posts
   N conversions of real clicks and reads the server's resident memory before and after; the
   same with partner postbacks off. (on - off) / N is the memory a pending delivery costs.
2. throughput: kill -9 the server holding the N pending deliveries, start the receiver,
   restart the server and time the N arrivals: deliveries per second one node sustains to a
   fast local receiver (every ended delivery is an fsynced line of the delivery log).

Bounded: N conversions (default 20,000), each stage stops by itself within its timeout.
Usage: scripts/partner-load.py [N]
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
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/smartlink")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
THREADS = 8
RUNNING = []  # servers to stop whatever happens
# A real browser's: a client without one is routed as a bot (to the fallback).
UA = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NginxReceiver:
    """nginx answering 204, one access-log line a request: a receiver faster than the sender."""

    def __init__(self, port, work):
        os.makedirs(os.path.join(work, "logs"), exist_ok=True)
        self.log = os.path.join(work, "logs", "access.log")
        conf = os.path.join(work, "nginx.conf")
        open(conf, "w").write(
            f"""worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format cid '$msec $arg_cid';
    access_log {self.log} cid;
    client_body_temp_path {work}/body;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ return 204; }}
    }}
}}
"""
        )
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", work])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("nginx did not start")

    def arrivals(self):
        """Distinct conversion ids, requests, and the wall-clock time of the last one."""
        ids, requests, last = set(), 0, None
        if os.path.exists(self.log):
            for line in open(self.log):
                at, _, cid = line.strip().partition(" ")
                ids.add(cid)
                requests += 1
                last = float(at)
        return ids, requests, last

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


class Server:
    def __init__(self, tmp, port, enabled):
        self.port = port
        self.config = os.path.join(tmp, "smartlink.toml")
        text = open(os.path.join(ROOT, "config/smartlink.toml")).read()
        text = re.sub(r'(?m)^listen = .*', f'listen = "127.0.0.1:{port}"', text)
        text = re.sub(r'(?m)^public_base_url = .*', f'public_base_url = "http://127.0.0.1:{port}"', text)
        text = re.sub(r'(?m)^path = "data/network.json"', f'path = "{tmp}/network.json"', text)
        text = re.sub(r'(?m)^initial = .*', "", text)
        text = re.sub(r'(?m)^dir = .*', f'dir = "{tmp}/data"', text)
        text = re.sub(r'(?m)^database = "config/', f'database = "{ROOT}/config/', text)
        text += (
            "\n[partner_postbacks]\n"
            f"enabled = {'true' if enabled else 'false'}\n"
            'allowed_networks = ["127.0.0.0/8"]\n'
            # A refused attempt comes back after 10 minutes: the deliveries stay pending.
            "retry_initial_ms = 600000\nretry_max_interval_ms = 600000\n"
            "concurrency = 64\nper_host = 16\n"
        )
        open(self.config, "w").write(text)
        self.proc = None
        RUNNING.append(self)

    def start(self):
        self.proc = subprocess.Popen(
            [BIN, "serve", "--config", self.config],
            env=dict(os.environ, RUST_LOG="error"),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("server did not get ready in 30 s")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def click_ids(port, n):
    """n real clicks of smart link 301 (a loopback client routes to offer 1044)."""

    def work(count):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        out = []
        for _ in range(count):
            c.request("GET", "/sl?id=301&aff_id=67890", headers=UA)
            r = c.getresponse()
            r.read()
            m = re.search(r"clk=([A-Za-z0-9_\-.]+)", r.getheader("Location") or "")
            if r.status != 302 or not m:
                raise RuntimeError(f"click answered {r.status} {r.getheader('Location')}")
            out.append(m.group(1))
        return out

    with ThreadPoolExecutor(THREADS) as pool:
        parts = pool.map(work, [n // THREADS + (i < n % THREADS) for i in range(THREADS)])
    return [i for p in parts for i in p]


def convert(port, ids):
    def work(chunk):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for cid in chunk:
            c.request("GET", f"/p?click_id={cid}&amount=12.50&token=demo-postback-token")
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                raise RuntimeError(f"conversion answered {r.status} {body[:200]!r}")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, [ids[i::THREADS] for i in range(THREADS)]))


def network(tmp, receiver_port):
    net = json.load(open(os.path.join(ROOT, "config/network.json")))
    for a in net["affiliates"]:
        if a["affiliate_id"] == 67890:
            a["postback_url"] = f"http://127.0.0.1:{receiver_port}/pb?cid={{conversion_id}}&p={{payout}}"
    json.dump(net, open(os.path.join(tmp, "network.json"), "w"))


def memory(enabled, receiver_port):
    """Resident KiB grown over N conversions, and the server still holding them (or None)."""
    tmp = tempfile.mkdtemp(prefix="smartlink-partner-")
    network(tmp, receiver_port)
    server = Server(tmp, free_port(), enabled)
    server.start()
    ids = click_ids(server.port, N)
    # Warm the conversion path (buffers, first log file) before the baseline.
    convert(server.port, ids[:100])
    time.sleep(0.5)
    before = rss_kib(server.proc.pid)
    t = time.monotonic()
    convert(server.port, ids[100:])
    took = time.monotonic() - t
    time.sleep(1.0)
    after = rss_kib(server.proc.pid)
    return after - before, took, server, tmp


def main():
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--bin", "smartlink"], cwd=ROOT, check=True)
    receiver_port = free_port()  # closed until the throughput stage: attempts are refused

    grown_off, took_off, server, tmp = memory(False, receiver_port)
    server.stop()
    shutil.rmtree(tmp)
    grown_on, took_on, server, tmp = memory(True, receiver_port)
    pending = N - 100
    print(f"conversions: {pending} in {took_off:.2f} s (postbacks off), {took_on:.2f} s (on, receiver refusing)")
    print(f"resident memory grown over {pending} conversions: off {grown_off} KiB, on {grown_on} KiB")
    print(f"memory per pending delivery: {(grown_on - grown_off) * 1024 / pending:.0f} B")

    server.kill9()
    receiver = NginxReceiver(receiver_port, os.path.join(tmp, "nginx"))
    t = time.time()
    server.start()
    deadline = time.monotonic() + 300
    ids, requests, last = receiver.arrivals()
    while len(ids) < N and time.monotonic() < deadline:
        time.sleep(0.2)
        ids, requests, last = receiver.arrivals()
    took = (last or time.time()) - t
    print(
        f"after kill -9 and restart: {len(ids)} of {N} conversions delivered "
        f"({requests} requests) in {took:.2f} s (server start included): "
        f"{len(ids) / took:.0f} deliveries/s"
    )
    server.stop()
    receiver.stop()
    shutil.rmtree(tmp)
    if len(ids) != N:
        raise SystemExit("not every conversion was delivered")


if __name__ == "__main__":
    try:
        main()
    finally:
        for s in RUNNING:
            if s.proc and s.proc.poll() is None:
                s.proc.kill()
