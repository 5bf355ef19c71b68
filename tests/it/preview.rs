//! The change preview (`preview.json`, `smartlink preview`): real clicks are sent and logged
//! first, then a change is previewed against them, and nothing changes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// Sends `n` clicks to `target` with `headers` on one connection; returns the redirects'
/// hosts.
async fn clicks(s: &TestServer, n: usize, target: &str, headers: &[(&str, &str)]) -> Vec<String> {
    let mut c = Client::connect(s.addr).await;
    let mut hosts = Vec::with_capacity(n);
    for _ in 0..n {
        let r = c.send("GET", target, headers).await;
        assert_eq!(r.status, 302, "{target}: {}", r.body);
        hosts.push(r.location().split('/').nth(2).unwrap_or("").to_string());
    }
    hosts
}

/// Previews `calls` (a batch's calls) with more `params`; the answer, after checking that
/// the catalog on disk did not change and the log is written.
async fn preview(s: &TestServer, calls: Value, params: Value) -> Value {
    s.state.records.sync();
    let before = catalog_bytes(s);
    let mut body = json!({ "calls": calls });
    body.as_object_mut()
        .unwrap()
        .extend(params.as_object().unwrap().clone());
    let answer = ok(&api_post(s, "preview.json", body).await);
    assert_eq!(catalog_bytes(s), before, "a preview changes nothing");
    answer
}

/// The part of the answer about smart link `id`.
fn link(answer: &Value, id: u64) -> &Value {
    answer["smart_links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["smart_link_id"] == id)
        .unwrap_or_else(|| panic!("smart link {id} in {answer:#}"))
}

/// Clicks by offer id (`"o11"`) or fallback reason on side `side` (`"before"`, `"after"`).
fn by_outcome(link: &Value, side: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for o in link["offers"].as_array().unwrap() {
        out.insert(format!("o{}", o["offer_id"]), o[side].as_u64().unwrap());
    }
    for f in link["fallbacks"].as_array().unwrap() {
        out.insert(
            f["reason"].as_str().unwrap().to_string(),
            f[side].as_u64().unwrap(),
        );
    }
    out.retain(|_, n| *n > 0);
    out
}

/// What the log recorded for smart link `id`, by offer (`"o11"`) or fallback reason.
fn logged(s: &TestServer, id: u64) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in s.records().iter().filter(|r| r["smart_link_id"] == id) {
        let key = match r["offer_id"].as_u64() {
            Some(o) => format!("o{o}"),
            None => r["fallback_reason"].as_str().unwrap().to_string(),
        };
        *out.entry(key).or_default() += 1;
    }
    out
}

/// The moved clicks as `"from>to": n` (`o11>o12`, `o15>no_match`).
fn moved(link: &Value) -> BTreeMap<String, u64> {
    let name = |w: &Value| match w["offer_id"].as_u64() {
        Some(o) => format!("o{o}"),
        None => w["fallback"].as_str().unwrap().to_string(),
    };
    link["moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                format!("{}>{}", name(&m["from"]), name(&m["to"])),
                m["clicks"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Every replayed click's "before" is the decision the log recorded, and nothing was left
/// out.
#[track_caller]
fn before_is_the_log(answer: &Value, s: &TestServer, id: u64, clicks: u64) {
    let l = link(answer, id);
    assert_eq!(l["replayed"], clicks, "{l:#}");
    assert_eq!(l["before_as_logged"], clicks, "{l:#}");
    assert_eq!(by_outcome(l, "before"), logged(s, id), "{l:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_change_moves_the_expected_share() {
    const N: usize = 1200;
    let s = TestServer::start(TestConfig::new(NETWORK)).await;
    clicks(&s, N, "/sl?id=4", &[DESKTOP]).await;
    // 60/30/10 becomes 10/30/60.
    let answer = preview(
        &s,
        json!([
            {"call": "smart_link_offer.json", "params": {"smart_link_id": 4, "offer_id": 11, "offer_weight": 10}},
            {"call": "smart_link_offer.json", "params": {"smart_link_id": 4, "offer_id": 17, "offer_weight": 60}},
        ]),
        json!({}),
    )
    .await;
    assert_eq!(answer["records"]["replayed"], N as u64, "{answer:#}");
    assert_eq!(answer["records"]["unreadable"], 0);
    assert_eq!(answer["cluster"], Value::Null);
    let touched: Vec<u64> = answer["smart_links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["smart_link_id"].as_u64().unwrap())
        .collect();
    assert_eq!(touched, [4], "only link 4 changes");
    let l = link(&answer, 4);
    let share = |side: &str, offer: &str| {
        by_outcome(l, side).get(offer).copied().unwrap_or(0) as f64 / N as f64
    };
    // Each share within 5 standard deviations of its weight (sd <= 0.015 at N = 1200).
    for (side, expected) in [("before", [0.6, 0.3, 0.1]), ("after", [0.1, 0.3, 0.6])] {
        for (offer, p) in ["o11", "o12", "o17"].into_iter().zip(expected) {
            let got = share(side, offer);
            let sd = (p * (1.0 - p) / N as f64).sqrt();
            assert!(
                (got - p).abs() < 5.0 * sd,
                "{side} {offer}: {got} vs {p}: {l:#}"
            );
        }
    }
    // One draw per click for both tables: a click moves where its draw falls in the new
    // bands. Before, 11 holds [0, 60), 12 [60, 90), 17 [90, 100); after, 11 [0, 10),
    // 12 [10, 40), 17 [40, 100): 30 % move 11 → 12, 20 % 11 → 17, 30 % 12 → 17.
    let m = moved(l);
    assert_eq!(m.len(), 3, "{m:?}");
    for (cell, p) in [("o11>o12", 0.3), ("o11>o17", 0.2), ("o12>o17", 0.3)] {
        let got = m.get(cell).copied().unwrap_or(0) as f64 / N as f64;
        let sd = (p * (1.0 - p) / N as f64).sqrt();
        assert!((got - p).abs() < 5.0 * sd, "{cell}: {got} vs {p}: {m:?}");
    }
    assert_eq!(l["fill_rate"], json!({"before": 1.0, "after": 1.0}));
    // Nothing changed: the clicks still follow 60/30/10.
    let hosts = clicks(&s, 200, "/sl?id=4", &[DESKTOP]).await;
    assert!(hosts.iter().filter(|h| *h == "o11.example").count() > 80);
}

/// Link 7: offer 12 at priority 1, offer 17 at priority 2, no conditions.
const COUNTRIES: &str = r#"{
  "affiliates": [{"affiliate_id": 100, "affiliate_name": "A"}],
  "offers": [
    {"offer_id": 12, "offer_name": "Twelve", "offer_status": "active", "offer_url": "https://o12.example/"},
    {"offer_id": 17, "offer_name": "Seventeen", "offer_status": "active", "offer_url": "https://o17.example/"}
  ],
  "smart_links": [
    {"smart_link_id": 7, "smart_link_name": "C", "affiliate_id": 100, "smart_link_status": "active",
     "offers": [{"offer_id": 12, "priority": 1}, {"offer_id": 17, "priority": 2}]}
  ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_country_condition_moves_exactly_the_clicks_from_that_country() {
    let s = TestServer::start(TestConfig::new(COUNTRIES).geo("GeoIP2-Country-Test.mmdb")).await;
    clicks(&s, 20, "/sl?id=7", &[US, DESKTOP]).await;
    clicks(&s, 15, "/sl?id=7", &[GB, MOBILE]).await;
    // No address the database knows.
    clicks(&s, 5, "/sl?id=7", &[DESKTOP]).await;
    let answer = preview(
        &s,
        json!([{"call": "smart_link_offer.json",
                "params": {"smart_link_id": 7, "offer_id": 12, "exclude_countries": ["GB"]}}]),
        json!({"hours": 1}),
    )
    .await;
    before_is_the_log(&answer, &s, 7, 40);
    let l = link(&answer, 7);
    assert_eq!(moved(l), BTreeMap::from([("o12>o17".to_string(), 15)]));
    assert_eq!(
        by_outcome(l, "after"),
        BTreeMap::from([("o12".to_string(), 25), ("o17".to_string(), 15)])
    );
    // Only the country of each record decided: the records carry it.
    let records = s.records();
    assert_eq!(records.iter().filter(|r| r["country"] == "GB").count(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_an_offer_sends_its_clicks_to_the_next_priority_or_the_fallback() {
    let s = TestServer::start(TestConfig::new(NETWORK).geo("GeoIP2-Country-Test.mmdb")).await;
    // Link 1: US → 11 (priority 1), GB → 13 (2), the rest → 12 (3).
    clicks(&s, 12, "/sl?id=1", &[US, DESKTOP]).await;
    clicks(&s, 7, "/sl?id=1", &[GB, DESKTOP]).await;
    clicks(&s, 4, "/sl?id=1", &[DESKTOP]).await;
    // Link 5: offer 15 for handhelds; desktops fall back.
    clicks(&s, 9, "/sl?id=5", &[MOBILE]).await;
    clicks(&s, 3, "/sl?id=5", &[DESKTOP]).await;
    let answer = preview(
        &s,
        json!([
            {"call": "update_offer.json", "params": {"offer_id": 11, "offer_status": "paused"}},
            {"call": "update_offer.json", "params": {"offer_id": 15, "offer_status": "paused"}},
        ]),
        json!({}),
    )
    .await;
    before_is_the_log(&answer, &s, 1, 23);
    before_is_the_log(&answer, &s, 5, 12);
    // US clicks skip the paused 11 and GB-only 13: they go to 12.
    let one = link(&answer, 1);
    assert_eq!(moved(one), BTreeMap::from([("o11>o12".to_string(), 12)]));
    assert_eq!(one["fill_rate"], json!({"before": 1.0, "after": 1.0}));
    let five = link(&answer, 5);
    assert_eq!(
        moved(five),
        BTreeMap::from([("o15>no_match".to_string(), 9)])
    );
    assert_eq!(
        by_outcome(five, "after"),
        BTreeMap::from([("no_match".to_string(), 12)])
    );
    assert_eq!(five["fill_rate"], json!({"before": 0.75, "after": 0.0}));
    // Link 4 holds offer 11 too, but had no clicks.
    assert_eq!(link(&answer, 4)["replayed"], 0);
    // `--link`: one link only.
    let only = preview(
        &s,
        json!([{"call": "update_offer.json", "params": {"offer_id": 11, "offer_status": "paused"}}]),
        json!({"smart_link_id": 5}),
    )
    .await;
    assert_eq!(only["smart_links"].as_array().unwrap().len(), 1);
    assert_eq!(moved(link(&only, 5)), BTreeMap::new());
}

/// Link 8: offer 21 with a daily click cap of 5 at priority 1, offer 22 at priority 2, and
/// offer 23 for sub id s1=fb at priority 0.
const CAPPED: &str = r#"{
  "affiliates": [{"affiliate_id": 100, "affiliate_name": "A"}],
  "offers": [
    {"offer_id": 21, "offer_name": "Capped", "offer_status": "active", "offer_url": "https://o21.example/",
     "caps": {"daily_clicks": 5}},
    {"offer_id": 22, "offer_name": "Next", "offer_status": "active", "offer_url": "https://o22.example/"},
    {"offer_id": 23, "offer_name": "Fb", "offer_status": "active", "offer_url": "https://o23.example/"}
  ],
  "smart_links": [
    {"smart_link_id": 8, "smart_link_name": "Caps", "affiliate_id": 100, "smart_link_status": "active",
     "offers": [
       {"offer_id": 23, "priority": 0, "params": {"s1": ["fb"]}, "browsers": ["chrome"]},
       {"offer_id": 21, "priority": 1},
       {"offer_id": 22, "priority": 2}
     ]}
  ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_are_replayed_as_they_stood_and_the_before_is_what_the_log_recorded() {
    let s = TestServer::start(TestConfig::new(CAPPED)).await;
    clicks(&s, 3, "/sl?id=8&s1=fb", &[DESKTOP]).await;
    clicks(&s, 2, "/sl?id=8&s1=fb", &[MOBILE]).await;
    clicks(&s, 9, "/sl?id=8&s1=tw", &[DESKTOP]).await;
    clicks(&s, 2, "/sl?id=8", &[BOT]).await;
    // A torn line at the end of the log is counted, never replayed.
    s.state.records.sync();
    let log = s.config.log_files("clicks-").pop().unwrap();
    let whole = std::fs::read(&log).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(b"{\"time\":\"2026-");
    std::fs::write(&log, torn).unwrap();
    // The cap goes from 5 to 8.
    let answer = preview(
        &s,
        json!([{"call": "update_offer.json", "params": {"offer_id": 21, "daily_clicks": 8}}]),
        json!({}),
    )
    .await;
    assert_eq!(answer["records"]["unreadable"], 1, "{answer:#}");
    std::fs::write(&log, whole).unwrap();
    before_is_the_log(&answer, &s, 8, 16);
    let l = link(&answer, 8);
    // 3 Chrome fb clicks to 23; the mobile fb clicks (Safari) and the tw clicks share the
    // cap, 5 then 8; bots fall back (`[routing] bots` defaults to "fallback").
    let before = by_outcome(l, "before");
    assert_eq!(before["o23"], 3, "{l:#}");
    assert_eq!(before["o21"], 5, "{l:#}");
    assert_eq!(before["bot"], 2, "{l:#}");
    assert_eq!(moved(l), BTreeMap::from([("o22>o21".to_string(), 3)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_that_breaks_the_catalog_names_the_call_and_bad_parameters_are_refused() {
    let s = TestServer::start(TestConfig::new(NETWORK)).await;
    let r = api_post(
        &s,
        "preview.json",
        json!({"calls": [
            {"call": "update_offer.json", "params": {"offer_id": 12, "offer_name": "x"}},
            {"call": "smart_link_offer.json", "params": {"smart_link_id": 1, "offer_id": 999}},
        ]}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("calls[1]"), "{}", r.body);
    let pause = json!([{"call": "update_offer.json", "params": {"offer_id": 12, "offer_status": "paused"}}]);
    let r = api_post(&s, "preview.json", json!({"calls": pause, "hours": 0})).await;
    failure(&r, 400, Some("hours"));
    let r = api_post(
        &s,
        "preview.json",
        json!({"calls": [{"call": "preview.json"}]}),
    )
    .await;
    failure(&r, 400, Some("calls[0].call"));
    // Not a write: nothing is audited, nothing changes.
    let answer = ok(&api_post(&s, "preview.json", json!({"calls": pause})).await);
    assert_eq!(answer["records"]["replayed"], 0, "{answer:#}");
    assert!(!s.config.state_dir().join("audit.log").exists());
    let offers = ok(&api_get(&s, "offers.json", &[("offer_id", "12")]).await);
    assert_eq!(items(&offers, "offers")[0]["offer_status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_previews_a_catalog_file() {
    let s = TestServer::start(TestConfig::new(NETWORK)).await;
    clicks(&s, 30, "/sl?id=4", &[DESKTOP]).await;
    let config = s.stop().await;
    // Link 4 loses offer 17; link 1 is untouched.
    let changed = NETWORK.replace(
        r#"{"offer_id": 17, "offer_weight": 10}"#,
        r#"{"offer_id": 12, "offer_weight": 10, "priority": 9}"#,
    );
    let changed = changed.replacen(r#"{"offer_id": 12, "offer_weight": 30},"#, "", 1);
    let file = config.dir.path().join("changed.json");
    std::fs::write(&file, changed).unwrap();
    let answer = command_json(
        &config.settings_path(),
        &[
            "preview",
            file.to_str().unwrap(),
            "--hours",
            "2",
            "--link",
            "4",
        ],
    );
    let l = link(&answer, 4);
    assert_eq!(l["replayed"], 30, "{answer:#}");
    let after = by_outcome(l, "after");
    assert_eq!(after.get("o17"), None, "{l:#}");
    assert_eq!(after.values().sum::<u64>(), 30);
    assert_eq!(answer["smart_links"].as_array().unwrap().len(), 1);
}

/// `[preview] max_records` keeps the newest records; the clicks of the day before them still
/// count toward the click cap the replay starts from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_records_keeps_the_newest_and_the_day_s_earlier_clicks_fill_the_cap() {
    let s = TestServer::start(TestConfig::new(CAPPED).section("[preview]\nmax_records = 3")).await;
    // Five clicks fill offer 21's cap, the next three go to 22.
    let hosts = clicks(&s, 8, "/sl?id=8&s1=tw", &[DESKTOP]).await;
    assert_eq!(
        hosts[4..],
        ["o21.example", "o22.example", "o22.example", "o22.example"]
    );
    let answer = preview(
        &s,
        json!([{"call": "update_offer.json", "params": {"offer_id": 21, "daily_clicks": 7}}]),
        json!({}),
    )
    .await;
    assert_eq!(answer["records"]["read"], 3, "{answer:#}");
    assert_eq!(answer["records"]["capped"], true);
    let l = link(&answer, 8);
    assert_eq!(l["replayed"], 3, "{l:#}");
    assert_eq!(l["before_as_logged"], 3, "the cap starts full: {l:#}");
    // Raised to 7: two of the three find a place.
    assert_eq!(moved(l), BTreeMap::from([("o22>o21".to_string(), 2)]));
}

/// Cluster mode: each node previews its own log and says which share of the cluster's clicks
/// that is (every node's pushed hours).
#[test]
fn in_cluster_mode_a_preview_covers_this_node_s_log_with_its_share() {
    use crate::common::cluster::{Redis, nodes};
    let redis = Redis::start();
    let nodes = nodes(include_str!("../fixtures/networks/cluster.json"), &redis, 2);
    for (node, n) in [(&nodes[0], 5), (&nodes[1], 15)] {
        for _ in 0..n {
            assert_eq!(get(node.addr(), "/sl?id=42").unwrap().0, 302);
        }
    }
    let calls = json!([{"call": "update_offer.json",
                        "params": {"offer_id": 33, "offer_status": "paused"}}])
    .to_string();
    let preview = || {
        let form = query(Some(API_KEY), &[("calls", &calls)]);
        let (status, v) =
            blocking_post_form(nodes[0].addr(), "/api/2/preview.json", &form).expect("answered");
        assert_eq!(status, 200, "{v}");
        v
    };
    // Nodes push their hours every second; the log is flushed within one.
    assert!(
        wait_for(Duration::from_secs(5), || {
            let v = preview();
            v["cluster"]["cluster_clicks"] == 20 && link(&v, 42)["replayed"] == 5
        }),
        "{:#}",
        preview()
    );
    let v = preview();
    assert_eq!(
        v["cluster"],
        json!({"covers": "this node's click log only", "node": "node-0",
               "node_clicks": 5, "cluster_clicks": 20, "node_share": 0.25})
    );
    let l = link(&v, 42);
    assert_eq!(moved(l), BTreeMap::from([("o33>no_match".to_string(), 5)]));
}
