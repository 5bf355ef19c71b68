//! Landing-page rotation over real HTTP (docs/routing.md#landing-pages): the weighted draw
//! (measured), countries and devices, inactive pages, no qualifying page, campaigns with their
//! own landing page, the click record, the statistics (across a restart), the route
//! explanation and the API's fields and checks.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::common::api::*;
use crate::common::*;

/// Offers: 21 rotates pages 2101 (weight 1) and 2102 (weight 3), 2103 is paused (weight
/// 100); 22 rotates 2201 (GB), 2202 (US, desktop) and 2203 (mobile); 23 does not rotate
/// (active page 2301); 24 rotates, its only page is paused. Smart links 31..34 route to
/// 21..24. Campaigns on offer 21: 41 with its own page 2101, 42 without one, 43 with the
/// paused page 2103.
const NETWORK: &str = include_str!("../fixtures/networks/landing_pages.json");

const NOWHERE: (&str, &str) = ("x-forwarded-for", "10.1.2.3");

fn config() -> TestConfig {
    TestConfig::new(NETWORK).geo("GeoIP2-Country-Test.mmdb")
}

/// The host of a redirect's target.
fn host(location: &str) -> &str {
    location.split('/').nth(2).unwrap_or("")
}

/// `n` clicks on `target` over one connection; the hosts they were sent to, counted.
async fn hosts(s: &TestServer, target: &str, n: usize) -> HashMap<String, usize> {
    let mut c = Client::connect(s.addr).await;
    let mut counts = HashMap::new();
    for _ in 0..n {
        let r = c.send("GET", target, &[DESKTOP, US]).await;
        assert_eq!(r.status, http::StatusCode::FOUND, "{target}: {}", r.body);
        *counts.entry(host(r.location()).to_string()).or_default() += 1;
    }
    counts
}

/// Clicks sent to each landing page of `offer`, from the process's statistics.
fn page_clicks(s: &TestServer, offer: u32) -> Value {
    let snapshot = s.state.snapshot();
    let clock = smartlink::counts::CapClock::now(&snapshot.calendar);
    let stats = smartlink::stats::offers(&snapshot.table, &s.state.counts, &clock);
    let o = stats.iter().find(|o| o.offer_id == offer).expect("offer");
    json!(o.caps.as_ref().expect("lifetime statistics").landing_pages)
}

#[tokio::test]
async fn pages_share_clicks_by_weight_and_inactive_pages_get_none() {
    const N: usize = 2000;
    let s = TestServer::start(config()).await;
    let counts = hosts(&s, "/sl?id=31", N).await;
    let b = counts.get("lp2102.example").copied().unwrap_or(0);
    let a = counts.get("lp2101.example").copied().unwrap_or(0);
    assert_eq!(a + b, N, "only the two active pages: {counts:?}");
    // Weights 1:3: B's share is binomial(N, 3/4), sd = sqrt(N · 3/4 · 1/4) ≈ 19.4; 5 sd is
    // ±97 around 1500 (a fair draw leaves it once in 1.7 million runs). Equal shares
    // (1000) or the paused page's weight counted would be far outside.
    let sd = (N as f64 * 0.75 * 0.25).sqrt();
    assert!(
        (b as f64 - 0.75 * N as f64).abs() <= 5.0 * sd,
        "B got {b} of {N}: {counts:?}"
    );
    // The statistics count every click to the page it was sent to.
    assert_eq!(
        page_clicks(&s, 21),
        json!([{"landing_page_id": 2101, "clicks": a}, {"landing_page_id": 2102, "clicks": b}])
    );
    // They outlive a restart (the counters file).
    let config = s.stop().await;
    let s = TestServer::start_written(config).await;
    assert_eq!(
        page_clicks(&s, 21),
        json!([{"landing_page_id": 2101, "clicks": a}, {"landing_page_id": 2102, "clicks": b}])
    );
    s.stop().await;
}

#[tokio::test]
async fn countries_and_devices_choose_the_page_else_the_offer_url() {
    let s = TestServer::start(config()).await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[GB, DESKTOP], "https://lp2201.example/?c=GB"),
        (&[US, DESKTOP], "https://lp2202.example/?c=US"),
        (&[US, MOBILE], "https://lp2203.example/?d=mobile"),
        // No page for a desktop click from elsewhere: the offer's URL.
        (&[NOWHERE, DESKTOP], "https://o22.example/?c="),
        (
            &[("x-forwarded-for", "89.160.20.128"), DESKTOP],
            "https://o22.example/?c=SE",
        ),
    ];
    // Each page qualifies alone for its clicks: every one of 20 clicks lands there.
    for (headers, want) in cases {
        for _ in 0..20 {
            assert_eq!(click(&s, "/sl?id=32", headers).await, want, "{headers:?}");
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn offers_without_rotation_or_an_active_page_use_their_url() {
    let s = TestServer::start(config()).await;
    for _ in 0..20 {
        assert_eq!(
            click(&s, "/sl?id=33", &[US, DESKTOP]).await,
            "https://o23.example/"
        );
        assert_eq!(
            click(&s, "/sl?id=34", &[US, DESKTOP]).await,
            "https://o24.example/"
        );
    }
    let records = s.records();
    assert_eq!(records.len(), 40);
    assert!(
        records.iter().all(|r| r["landing_page_id"].is_null()),
        "{records:?}"
    );
    // The page of offer 23 is listed (it is active) with no click.
    assert_eq!(
        page_clicks(&s, 23),
        json!([{"landing_page_id": 2301, "clicks": 0}])
    );
    s.stop().await;
}

#[tokio::test]
async fn a_campaigns_own_page_wins_and_the_record_names_the_page() {
    let s = TestServer::start(config()).await;
    // Its own active page, whatever the offer's rotation would draw.
    for _ in 0..30 {
        let to = click(&s, "/rd/r.php?sid=41&aff_id=1", &[US, DESKTOP]).await;
        assert!(to.starts_with("https://lp2101.example/?click="), "{to}");
    }
    // Without one, or with a paused one: the offer's rotation (both active pages appear).
    for campaign in [42, 43] {
        let counts = hosts(&s, &format!("/rd/r.php?sid={campaign}&aff_id=1"), 200).await;
        let mut got: Vec<&str> = counts.keys().map(String::as_str).collect();
        got.sort();
        // P(one page missing in 200 draws) < 0.75^200 + 0.25^200 ≈ 1e-25.
        assert_eq!(got, ["lp2101.example", "lp2102.example"], "{campaign}");
    }
    // Every record names the page its click was sent to, with the click id the URL carries.
    let to = click(&s, "/sl?id=31", &[US, DESKTOP]).await;
    let records = s.records();
    assert_eq!(records.len(), 30 + 400 + 1);
    for r in &records {
        let page = r["landing_page_id"].as_u64().expect("a landing page");
        assert!([2101, 2102].contains(&page), "{r}");
    }
    assert!(
        records[..30].iter().all(|r| r["landing_page_id"] == 2101),
        "{records:?}"
    );
    let last = records.last().unwrap();
    assert_eq!(last["kind"], "smart_link");
    assert_eq!(last["offer_id"], 21);
    let page = last["landing_page_id"].as_u64().unwrap();
    assert_eq!(
        to,
        format!(
            "https://lp{page}.example/?click={}&o=21",
            last["click_id"].as_str().unwrap()
        )
    );
    // The campaign's own page is counted as the page's clicks too.
    let stats = page_clicks(&s, 21);
    let total: u64 = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["clicks"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 431, "{stats}");
    s.stop().await;
}

#[tokio::test]
async fn the_route_explanation_names_the_qualifying_pages() {
    let s = TestServer::start(config()).await;
    let r = ok(&api_get(
        &s,
        "smart_link_route.json",
        &[
            ("smart_link_id", "32"),
            ("ip", "81.2.69.142"),
            ("user_agent", CHROME_WINDOWS),
        ],
    )
    .await);
    let decision = &r["response"]["decision"];
    // A desktop click from GB qualifies for 2201 only.
    assert_eq!(decision["landing_pages"], json!([2201]), "{decision}");
    assert_eq!(decision["landing_page_id"], 2201, "{decision}");
    assert_eq!(decision["url"], "https://lp2201.example/?c=GB");
    let r = ok(&api_get(&s, "smart_link_route.json", &[("smart_link_id", "33")]).await);
    assert_eq!(r["response"]["decision"]["landing_pages"], Value::Null);
    assert_eq!(r["response"]["decision"]["landing_page_id"], Value::Null);
    s.stop().await;
}

#[tokio::test]
async fn the_api_sets_and_lists_weights_countries_devices_and_rotation() {
    let s = TestServer::start(config()).await;
    let r = ok(&api_post(
        &s,
        "offer.json",
        json!({"offer_name": "New", "offer_url": "https://o25.example/",
               "landing_page_rotation": true}),
    )
    .await);
    assert_eq!(r["offer"]["landing_page_rotation"], true);
    let offer = r["offer"]["offer_id"].as_u64().unwrap();
    assert_eq!(offer, 25);
    let r = ok(&api_post(
        &s,
        "landing_page.json",
        json!({"offer_id": offer, "landing_page_name": "FR", "url": "https://lp-fr.example/",
               "landing_page_weight": 7, "countries": ["GB"], "devices": "desktop,tablet"}),
    )
    .await);
    let page = json!({"landing_page_id": 2402, "landing_page_name": "FR", "offer_id": 25,
        "url": "https://lp-fr.example/", "landing_page_status": "active",
        "landing_page_weight": 7, "countries": ["GB"], "devices": ["desktop", "tablet"]});
    assert_eq!(r["landing_page"], page);
    let list = ok(&api_get(&s, "landing_pages.json", &[("offer_id", "25")]).await);
    assert_eq!(items(&list, "landing_pages"), std::slice::from_ref(&page));
    assert_eq!(
        disk_entity(&s, "landing_pages", "landing_page_id", 2402),
        Some(page)
    );
    // A link to the new offer: a GB desktop click lands on the page, a US one does not.
    ok(&api_post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 33, "offer_id": 25, "priority": 0}),
    )
    .await);
    assert_eq!(
        click(&s, "/sl?id=33", &[GB, DESKTOP]).await,
        "https://lp-fr.example/"
    );
    assert_eq!(
        click(&s, "/sl?id=33", &[US, DESKTOP]).await,
        "https://o25.example/"
    );
    // Update: the countries emptied (any country), weight back to the default (not listed).
    let r = ok(&api_post_form(
        &s,
        "update_landing_page.json",
        &[
            ("landing_page_id", "2402"),
            ("countries", ""),
            ("landing_page_weight", "1"),
        ],
    )
    .await);
    assert_eq!(
        r["landing_page"],
        json!({"landing_page_id": 2402, "countries": [], "landing_page_weight": 1})
    );
    let list = ok(&api_get(&s, "landing_pages.json", &[("landing_page_id", "2402")]).await);
    let item = &items(&list, "landing_pages")[0];
    assert!(item.get("countries").is_none() && item.get("landing_page_weight").is_none());
    assert_eq!(item["devices"], json!(["desktop", "tablet"]));
    assert_eq!(
        click(&s, "/sl?id=33", &[US, DESKTOP]).await,
        "https://lp-fr.example/"
    );
    // Rotation off: the offer's URL again; offers.json lists the flag.
    ok(&api_post_form(
        &s,
        "update_offer.json",
        &[("offer_id", "25"), ("landing_page_rotation", "false")],
    )
    .await);
    let list = ok(&api_get(&s, "offers.json", &[("offer_id", "25")]).await);
    assert_eq!(items(&list, "offers")[0]["landing_page_rotation"], false);
    assert_eq!(
        click(&s, "/sl?id=33", &[US, DESKTOP]).await,
        "https://o25.example/"
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_rotation_fields_are_400s_naming_the_field() {
    let s = TestServer::start(config()).await;
    let before = catalog_bytes(&s);
    let page = |extra: Value| {
        let mut body =
            json!({"offer_id": 21, "landing_page_name": "X", "url": "https://x.example/"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (
            "landing_page.json",
            page(json!({"landing_page_weight": 0})),
            "landing_page_weight",
        ),
        (
            "landing_page.json",
            page(json!({"landing_page_weight": 101})),
            "landing_page_weight",
        ),
        (
            "landing_page.json",
            page(json!({"countries": ["UK"]})),
            "countries",
        ),
        (
            "landing_page.json",
            page(json!({"devices": ["phone"]})),
            "devices",
        ),
        ("landing_page.json", page(json!({"os": ["ios"]})), "os"),
        (
            "update_landing_page.json",
            json!({"landing_page_id": 2101, "landing_page_weight": "heavy"}),
            "landing_page_weight",
        ),
        (
            "update_offer.json",
            json!({"offer_id": 21, "landing_page_rotation": "maybe"}),
            "landing_page_rotation",
        ),
        (
            "offer.json",
            json!({"offer_name": "N", "offer_url": "https://n.example/", "landing_page_rotation": 2}),
            "landing_page_rotation",
        ),
    ];
    for (call, body, field) in cases {
        failure(&api_post(&s, call, body.clone()).await, 400, Some(field));
    }
    assert_eq!(catalog_bytes(&s), before, "nothing was written");
    s.stop().await;
}

#[test]
fn check_warns_about_rotation_without_an_active_page() {
    let config = config();
    let path = config.write();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .args(["check", "--config", path.to_str().unwrap()])
        .env_remove(smartlink::settings::ENV_CLICK_SECRET)
        .output()
        .expect("run smartlink");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("rotates landing pages"))
        .collect();
    assert_eq!(
        warnings,
        [
            "warning    offer 24 rotates landing pages but has no active one: its clicks go to its offer_url"
        ],
        "{text}"
    );
}
