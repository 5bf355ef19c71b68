#!/usr/bin/env python3
"""Takes the screenshots of docs/console.md: every page of the console at desktop and phone
width, on a real server that received the tests' traffic (tests/console/harness.py). The
figures are real; all traffic is from the last minutes, so the charts show one hour of it.

    python3 tests/console/screenshots.py     # writes docs/console/*.png
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as H  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

OUT = os.path.join(H.ROOT, "docs", "console")

# (file name, hash route, what to do once the page is there)
PAGES = [
    ("overview", "#/", None),
    ("smart-links", "#/links", None),
    ("smart-link", "#/links/301", None),
    ("smart-link-edit", "#/links/301/edit", None),
    ("smart-link-edit-error", "#/links/301/edit", "bad_url"),
    ("smart-link-preview", "#/links/302/edit", "preview"),
    ("explain", "#/explain?link=301", "explain"),
    ("offers", "#/offers", None),
    ("offer", "#/offers/12", None),
    ("campaigns", "#/campaigns", None),
    ("campaign", "#/campaigns/98001", None),
    ("affiliates", "#/affiliates", None),
    ("affiliate", "#/affiliates/100", None),
    ("audit", "#/audit", None),
]


def act(page, what):
    if what == "bad_url":
        page.fill("input[data-field=fallback_url]", "https://{s1}.example.com/landing")
        page.click("form button[type=submit]")
        page.wait_for_selector("input[data-field=fallback_url][aria-invalid=true]")
    elif what == "preview":
        page.fill("li[data-offer-id='11'] input[data-field=offer_weight]", "20")
        page.click("form button[type=submit]")
        page.wait_for_selector("section.preview:not([hidden]) h2")
    elif what == "explain":
        page.fill("input[data-field=ip]", H.US)
        page.click("form button[type=submit]")
        page.wait_for_selector(".decision")
    page.evaluate("document.activeElement && document.activeElement.blur()")


# (file name, hash route, what to wait for) on the Destinations server.
DESTINATION_PAGES = [
    ("health", "#/health?refresh=0", "#main table"),
    ("postbacks", "#/postbacks?refresh=0", "#main table"),
    ("offer-health", "#/offers/13", ".health-line"),
]


def destinations():
    """The Destinations network with its traffic, offer 13's receiver stopped (down) and
    one failed delivery retried to delivered."""
    d = H.Destinations()
    rows = d.send_traffic()
    d.lonely.stop()
    d.refusing.status = 200
    failed = next(r for r in rows if r["status"] == "failed")
    d.server.post("retry_partner_postback.json", {"conversion_id": failed["conversion_id"]})
    deadline = time.time() + 10
    while time.time() < deadline:
        health = d.server.api("destination_health.json")["destinations"]
        delivered = d.server.api("partner_postbacks.json", status="delivered")["response"]["total_rows"]
        if any(x["id"] == 13 and x["state"] == "down" for x in health) and delivered > d.conversions[200]:
            return d
        time.sleep(0.2)
    raise AssertionError("offer 13 is not down, or the retry was not delivered")


def shots(browser, d):
    try:
        for width, height, tag in ((1280, 860, "desktop"), (390, 844, "phone")):
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            H.sign_in(page, d.server)
            for name, hash_, ready in DESTINATION_PAGES:
                page.goto(d.server.console + hash_)
                H.wait_idle(page, ready)
                page.wait_for_timeout(300)
                page.screenshot(path=os.path.join(OUT, f"{name}-{tag}.png"), full_page=True)
            context.close()
    finally:
        d.stop()


def main():
    root = H.ROOT
    subprocess.run(["cargo", "build", "--locked", "--bin", "smartlink"], cwd=root, check=True)
    os.makedirs(OUT, exist_ok=True)
    server = H.Server(H.test_network())
    try:
        H.send_traffic(server)
        # One change, so that the audit log has a record of each kind.
        server.post("update_offer.json", {"offer_id": 13, "payout": "0.85"})
        server.post("update_offer.json", {"offer_id": 13}, key=H.READ_KEY)
        # A postback URL, set after the traffic (no delivery is made to it).
        server.post("update_affiliate.json", {"affiliate_id": 100, "postback_url":
                    "https://tracker.northwind.example/pb?cid={conversion_id}&amount={amount}"})
        with sync_playwright() as p:
            browser = H.launch(p)
            for width, height, tag in ((1280, 860, "desktop"), (390, 844, "phone")):
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                page.goto(server.console)
                page.wait_for_selector("#api-key")
                page.screenshot(path=os.path.join(OUT, f"sign-in-{tag}.png"))
                H.sign_in(page, server)
                for name, hash_, what in PAGES:
                    page.goto(server.console + hash_)
                    H.wait_idle(page, "#main h1")
                    page.wait_for_timeout(300)
                    if what:
                        act(page, what)
                    page.screenshot(path=os.path.join(OUT, f"{name}-{tag}.png"), full_page=True)
                # An affiliate's statistics (affiliate_stats.json), the section alone.
                page.goto(server.console + "#/affiliates/100")
                H.wait_idle(page, ".affiliate-stats .tile")
                page.locator(".affiliate-stats").screenshot(path=os.path.join(OUT, f"affiliate-stats-{tag}.png"))
                context.close()
            # Destination health and partner postbacks, on a network of loopback receivers
            # with one destination stopped and failed deliveries to one affiliate.
            shots(browser, destinations())
            # The read-only role: the same form, nothing to save.
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            page = context.new_page()
            H.sign_in(page, server, H.READ_KEY)
            page.goto(server.console + "#/links/302/edit")
            H.wait_idle(page, "#main h1")
            page.screenshot(path=os.path.join(OUT, "read-only-desktop.png"), full_page=True)
            context.close()
            browser.close()
    finally:
        server.stop()
    print("wrote", len(os.listdir(OUT)), "screenshots to", OUT)


if __name__ == "__main__":
    main()
