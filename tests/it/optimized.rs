//! `rotation = "optimized"` (docs/routing.md#optimized-rotation) over HTTP: traffic moves to
//! the offer that converts within seconds of the evidence, the other keeps its floor, the
//! explanation shows the weights in force and the estimates, and a changed offer set keeps
//! what was learned.

use std::time::Duration;

use serde_json::{Value, json};

use crate::caps::host;
use crate::common::api::*;
use crate::common::*;
use crate::revenue::EARNING;

/// Optimized weights recomputed every 200 ms instead of 10 s: the same code, sooner.
fn config() -> TestConfig {
    TestConfig::new(EARNING).section("[routing]\noptimize_interval_ms = 200")
}

/// `n` clicks on link 40; every click routed to offer 32 converts. Returns the clicks each
/// offer got: (32, 33).
async fn clicks(s: &TestServer, n: usize) -> (u64, u64) {
    let mut client = Client::connect(s.addr).await;
    let (mut a, mut b) = (0, 0);
    for _ in 0..n {
        let r = client
            .send(
                "GET",
                "/sl?id=40&aff_id=100",
                &[("user-agent", CHROME_WINDOWS)],
            )
            .await;
        assert_eq!(r.status, 302);
        match host(r.location()) {
            "o32.example" => {
                a += 1;
                let id = query_param(r.location(), "c").unwrap();
                let p = client.send("GET", &format!("/p?click_id={id}"), &[]).await;
                assert_eq!(p.body, "{\"status\":\"recorded\"}\n");
            }
            "o33.example" => b += 1,
            other => panic!("unexpected destination {other}"),
        }
    }
    (a, b)
}

async fn route(s: &TestServer) -> Value {
    let r = api_get(
        s,
        "smart_link_route.json",
        &[("smart_link_id", "40"), ("user_agent", CHROME_WINDOWS)],
    )
    .await;
    ok(&r)["response"].clone()
}

fn share(report: &Value, offer: u64) -> f64 {
    report["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["offer_id"] == offer)
        .and_then(|a| a["optimized"]["share"].as_f64())
        .unwrap_or_else(|| panic!("no optimized share for {offer}: {report}"))
}

#[tokio::test]
async fn traffic_moves_to_the_converting_offer_and_the_other_keeps_its_floor() {
    let s = TestServer::start(config()).await;
    // Before any evidence: the weights' shares (1:1).
    let first = route(&s).await;
    assert_eq!(first["rotation"], "optimized");
    assert_eq!(first["optimize_min_share"], 0.1);
    assert_eq!(first["optimize_window_hours"], 168);
    assert!((share(&first, 32) - 0.5).abs() < 0.01, "{first}");
    // Evidence: 300 clicks, offer 32 converting every time, offer 33 never.
    let (a, b) = clicks(&s, 300).await;
    assert!(a > 0 && b > 0);
    let moved = eventually(Duration::from_secs(30), async || {
        let r = route(&s).await;
        share(&r, 32) >= 0.78
    })
    .await;
    assert!(
        moved,
        "the weights follow the evidence: {}",
        route(&s).await
    );
    let report = route(&s).await;
    let floor = share(&report, 33);
    assert!(floor >= 0.1 - 1e-9, "the floor holds: {report}");
    let estimate = report["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["offer_id"] == 32)
        .map(|a| a["optimized"]["estimate"].clone())
        .unwrap();
    assert!(estimate["clicks"].as_u64().unwrap() > 0, "{estimate}");
    assert!(estimate["conversions"].as_u64().unwrap() > 0, "{estimate}");
    assert!(estimate["epc"].as_f64().unwrap() > 0.5, "{estimate}");
    // The next 1000 clicks follow the weights in force (0.78 or more for offer 32, at least
    // 0.1 for offer 33): bounds 5 standard deviations wide.
    let (a, b) = clicks(&s, 1000).await;
    assert!(a >= 710, "offer 32 took {a} of 1000");
    assert!(b >= 50, "offer 33 kept its floor: {b} of 1000");
    s.stop().await;
}

fn estimated_clicks(report: &Value, offer: u64) -> u64 {
    report["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["offer_id"] == offer)
        .and_then(|a| a["optimized"]["estimate"]["clicks"].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_changed_offer_set_keeps_what_was_learned_for_the_offers_that_remain() {
    let s = TestServer::start(config()).await;
    clicks(&s, 300).await;
    // Every click swept into its hour and read by a recompute.
    let mut before = Value::Null;
    assert!(
        eventually(Duration::from_secs(30), async || {
            before = route(&s).await;
            estimated_clicks(&before, 32) + estimated_clicks(&before, 33) == 300
        })
        .await,
        "{before}"
    );
    let learned = (estimated_clicks(&before, 32), estimated_clicks(&before, 33));
    // A third offer joins the link: offers 32 and 33 keep their evidence, and 32 stays well
    // ahead of 33 (the newcomer, with no clicks yet, is explored).
    ok(&api_post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 40, "offer_id": 31, "offer_weight": 1}),
    )
    .await);
    let mut last = Value::Null;
    assert!(
        eventually(Duration::from_secs(30), async || {
            last = route(&s).await;
            last["attachments"].as_array().unwrap().len() == 3
                && last["attachments"][2]["optimized"]["estimate"].is_object()
        })
        .await,
        "{last}"
    );
    assert_eq!(
        (estimated_clicks(&last, 32), estimated_clicks(&last, 33)),
        learned,
        "{last}"
    );
    assert!(share(&last, 32) > 2.0 * share(&last, 33), "{last}");
    assert!(share(&last, 31) >= 0.1 - 1e-9, "{last}");
    s.stop().await;
}
