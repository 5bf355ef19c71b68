#!/usr/bin/env python3
"""Propagation of API writes across a running cluster: 100 writes (a new affiliate each) on
node 1, one at a time; after each, waits until every other node serves the new generation
and reads its smartlink_cluster_catalog_propagation_seconds (the time from the commit in
Redis to the swap on that node, measured by the node). Prints p50, p90 and max over the
writes, and fails if any node took over 1 s.

    scripts/cluster-demo.sh python3 scripts/cluster-propagation.py [writes=100]
"""
import os, re, sys, time, urllib.request

base, nodes = int(os.environ["BASE_PORT"]), int(os.environ["NODES"])
writes = int(sys.argv[1]) if len(sys.argv) > 1 else 100


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))


GEN, DELAY = "smartlink_cluster_catalog_generation", "smartlink_cluster_catalog_propagation_seconds"
delays = []
for i in range(writes):
    body = f"api_key=demo-api-key&affiliate_name=Propagation {i}".encode()
    answer = urllib.request.urlopen(f"http://127.0.0.1:{base + 1}/api/2/affiliate.json", body, timeout=5).read()
    assert b'"Success"' in answer, answer
    generation = metric(base + 1, GEN)
    for node in range(2, nodes + 1):
        deadline = time.monotonic() + 5
        while metric(base + node, GEN) < generation:
            assert time.monotonic() < deadline, f"node {node} never applied generation {generation}"
            time.sleep(0.002)
        delays.append(metric(base + node, DELAY) * 1000)
delays.sort()
pick = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]
print(f"propagation over {writes} writes to {nodes - 1} nodes ({len(delays)} swaps): "
      f"p50 {pick(0.5):.0f} ms, p90 {pick(0.9):.0f} ms, max {delays[-1]:.0f} ms")
sys.exit(1 if delays[-1] > 1000 else 0)
