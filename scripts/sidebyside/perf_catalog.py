#!/usr/bin/env python3
"""Writes the catalog the server benchmarks route on (scripts/sidebyside/sidebyside.sh, scripts/server-bench.sh): smart link 901
with 10 attachments over 3 priorities, geo + device conditions, click caps large enough never
to bind during a run (so every click reserves)."""
import json, sys
out = sys.argv[1]
offers, atts = [], []
for i in range(10):
    oid = 5000 + i
    offers.append({
        "offer_id": oid, "offer_name": "perf offer %d" % i, "offer_status": "active",
        "offer_url": "https://o%d.example.com/l?c={click_id}&a={affiliate_id}&s1={s1}&g={country}&d={device}" % i,
        "allowed_countries": ["US", "CA", "GB", "DE"] if i % 2 == 0 else [],
        "allowed_devices": ["desktop", "mobile", "tablet"],
        "caps": {"daily_clicks": 1000000000, "daily_conversions": 1000},
    })
    pr = 1 + i // 4          # priorities 1,1,1,1,2,2,2,2,3,3
    a = {"offer_id": oid, "offer_weight": 10 + i * 7, "priority": pr}
    if i in (0, 1):
        a["countries"] = ["FR"]          # priority 1 partly disqualified by geo
    if i in (2,):
        a["devices"] = ["desktop"]       # and by device
    atts.append(a)
cat = {
    "affiliates": [{"affiliate_id": 777, "affiliate_name": "Perf Affiliate"}],
    "offers": offers, "landing_pages": [], "creatives": [], "campaigns": [],
    "smart_links": [{"smart_link_id": 901, "smart_link_name": "perf", "affiliate_id": 777,
                     "smart_link_status": "active", "fallback_url": "https://fb.example.com/",
                     "offers": atts}],
}
json.dump(cat, open(out, "w"), indent=1)
