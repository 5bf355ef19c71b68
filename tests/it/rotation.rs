//! Exact rotation over HTTP (docs/routing.md#rotation): each qualifying set's clicks stay
//! within one click of every offer's share after each click, and whole cycles give exactly
//! the weights; sets that interleave, a cap that fills, a write mid-run, explanations and
//! `HEAD` requests; `rotation` in the management API.

use serde_json::{Value, json};

use crate::common::*;

/// Link 1: offers 31/32/33 weighted 3/2/1, exact. Link 2: the same, 33 for mobiles only.
/// Link 3: offer 34 (a daily click cap of 6), 32 and 33 weighted 3/2/1. Link 4: link 1's
/// offers with random rotation.
const NETWORK: &str = include_str!("../fixtures/networks/rotation.json");

async fn server() -> TestServer {
    TestServer::start(TestConfig::new(NETWORK)).await
}

/// The offer a redirect goes to (`https://o31.example/` → 31).
#[track_caller]
fn offer_of(location: &str) -> u32 {
    location
        .strip_prefix("https://o")
        .and_then(|rest| rest.split('.').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not an offer's URL: {location:?}"))
}

/// The clicks of one qualifying set: each click's offer is one of it, and after every click
/// every offer is within one click of `clicks × weight / total`.
struct Run {
    /// (offer id, weight), and the clicks each offer got.
    offers: Vec<(u32, u64, u64)>,
    clicks: u64,
}

impl Run {
    fn of(weights: &[(u32, u64)]) -> Run {
        Run {
            offers: weights.iter().map(|&(o, w)| (o, w, 0)).collect(),
            clicks: 0,
        }
    }

    #[track_caller]
    fn add(&mut self, offer: u32) {
        let total: u64 = self.offers.iter().map(|o| o.1).sum();
        let entry = self.offers.iter_mut().find(|o| o.0 == offer);
        entry
            .unwrap_or_else(|| panic!("offer {offer} is not in the set"))
            .2 += 1;
        self.clicks += 1;
        for &(o, w, got) in &self.offers {
            assert!(
                (got * total).abs_diff(self.clicks * w) < total,
                "offer {o}: {got} of {} clicks",
                self.clicks
            );
        }
    }

    /// The clicks each offer got, in the set's order.
    fn counts(&self) -> Vec<u64> {
        self.offers.iter().map(|o| o.2).collect()
    }
}

/// A click's offer.
async fn click_offer(c: &mut Client, target: &str, headers: &[(&str, &str)]) -> u32 {
    let r = c.send("GET", target, headers).await;
    assert_eq!(r.status, 302, "{target}");
    offer_of(r.location())
}

#[tokio::test]
async fn sixty_clicks_on_weights_3_2_1_go_30_20_10() {
    let s = server().await;
    let mut c = Client::connect(s.addr).await;
    let mut run = Run::of(&[(31, 3), (32, 2), (33, 1)]);
    for _ in 0..60 {
        run.add(click_offer(&mut c, "/sl?id=1", &[DESKTOP]).await);
    }
    assert_eq!(run.counts(), [30, 20, 10]);
    let records = s.records();
    assert_eq!(records.len(), 60);
    assert_eq!(
        records.iter().filter(|r| r["offer_id"] == 33).count(),
        10,
        "the records say the same"
    );
    s.stop().await;
}

#[tokio::test]
async fn interleaved_qualifying_sets_each_keep_their_own_exact_run() {
    let s = server().await;
    let mut c = Client::connect(s.addr).await;
    let mut desktop = Run::of(&[(31, 3), (32, 2)]);
    let mut mobile = Run::of(&[(31, 3), (32, 2), (33, 1)]);
    // 5 desktop then 6 mobile clicks, ten times: the sets change every few clicks.
    for i in 0..110 {
        if i % 11 < 5 {
            desktop.add(click_offer(&mut c, "/sl?id=2", &[DESKTOP]).await);
        } else {
            mobile.add(click_offer(&mut c, "/sl?id=2", &[MOBILE]).await);
        }
    }
    assert_eq!(desktop.counts(), [30, 20]);
    assert_eq!(mobile.counts(), [30, 20, 10]);
    s.stop().await;
}

#[tokio::test]
async fn a_cap_that_fills_starts_a_run_of_the_offers_left() {
    let s = server().await;
    let mut c = Client::connect(s.addr).await;
    let mut before = Run::of(&[(34, 3), (32, 2), (33, 1)]);
    while before.counts()[0] < 6 {
        before.add(click_offer(&mut c, "/sl?id=3", &[DESKTOP]).await);
    }
    // Offer 34 took its sixth place at the 11th click (places 0, 2, 4, 6, 8, 10 of 3:2:1).
    assert_eq!(before.counts(), [6, 4, 1]);
    let mut after = Run::of(&[(32, 2), (33, 1)]);
    for _ in 0..30 {
        after.add(click_offer(&mut c, "/sl?id=3", &[DESKTOP]).await);
    }
    assert_eq!(after.counts(), [20, 10]);
    s.stop().await;
}

#[tokio::test]
async fn writes_mid_run_keep_the_run_and_a_new_weight_starts_a_new_one() {
    let s = server().await;
    let mut c = Client::connect(s.addr).await;
    let mut run = Run::of(&[(31, 3), (32, 2), (33, 1)]);
    let generation = || s.state.snapshot().generation;
    let first = generation();
    for _ in 0..25 {
        run.add(click_offer(&mut c, "/sl?id=1", &[DESKTOP]).await);
    }
    // The link itself is recompiled (renamed), then the whole table for another link.
    ok(&api_post(
        &s,
        "update_smart_link.json",
        json!({"smart_link_id": 1, "smart_link_name": "Renamed"}),
    )
    .await);
    for _ in 0..20 {
        run.add(click_offer(&mut c, "/sl?id=1", &[DESKTOP]).await);
    }
    ok(&api_post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 4, "offer_id": 33, "offer_weight": 5}),
    )
    .await);
    assert_eq!(generation(), first + 2, "two tables compiled mid-run");
    for _ in 0..15 {
        run.add(click_offer(&mut c, "/sl?id=1", &[DESKTOP]).await);
    }
    assert_eq!(run.counts(), [30, 20, 10]);

    // Another weight is another set: its run begins.
    ok(&api_post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 1, "offer_id": 33, "offer_weight": 2}),
    )
    .await);
    let mut run = Run::of(&[(31, 3), (32, 2), (33, 2)]);
    for _ in 0..14 {
        run.add(click_offer(&mut c, "/sl?id=1", &[DESKTOP]).await);
    }
    assert_eq!(run.counts(), [6, 4, 4]);
    s.stop().await;
}

#[tokio::test]
async fn explanations_and_head_requests_show_the_next_place_and_take_none() {
    let s = server().await;
    let mut c = Client::connect(s.addr).await;
    let mut run = Run::of(&[(31, 3), (32, 2), (33, 1)]);
    for _ in 0..60 {
        let route = ok(&api_get(
            &s,
            "smart_link_route.json",
            &[("smart_link_id", "1"), ("user_agent", CHROME_WINDOWS)],
        )
        .await);
        assert_eq!(route["response"]["rotation"], "exact");
        let next = route["response"]["decision"]["offer_id"].clone();
        let head = c.send("HEAD", "/sl?id=1", &[DESKTOP]).await;
        assert_eq!(json!(offer_of(head.location())), next, "HEAD");
        let offer = click_offer(&mut c, "/sl?id=1", &[DESKTOP]).await;
        assert_eq!(
            json!(offer),
            next,
            "the click goes where the explanation said"
        );
        run.add(offer);
    }
    assert_eq!(run.counts(), [30, 20, 10]);
    assert_eq!(s.records().len(), 60, "only the GETs are clicks");
    s.stop().await;
}

/// `rotation` of smart link `id` as `smart_links.json` lists it (absent: `Null`), as
/// `smart_link_offers.json` answers it, and in the catalog file.
async fn shown(s: &TestServer, id: &str) -> (Value, Value, Value) {
    let list = ok(&api_get(s, "smart_links.json", &[("smart_link_id", id)]).await);
    let offers = ok(&api_get(s, "smart_link_offers.json", &[("smart_link_id", id)]).await);
    let disk = disk_entity(s, "smart_links", "smart_link_id", id.parse().unwrap()).unwrap();
    (
        items(&list, "smart_links")[0]["rotation"].clone(),
        offers["response"]["rotation"].clone(),
        disk["rotation"].clone(),
    )
}

#[tokio::test]
async fn the_api_sets_and_shows_rotation_and_refuses_other_values() {
    let s = server().await;
    let created = ok(&api_post(
        &s,
        "smart_link.json",
        json!({"affiliate_id": 100, "smart_link_name": "New", "rotation": "exact"}),
    )
    .await);
    assert_eq!(created["response"]["smart_link_id"], 5);
    assert_eq!(created["response"]["rotation"], "exact");
    // The catalog file, as the API wrote it, and the seed-shaped list leave the default out.
    assert_eq!(
        shown(&s, "4").await,
        (Value::Null, json!("random"), Value::Null)
    );
    assert_eq!(
        shown(&s, "5").await,
        (json!("exact"), json!("exact"), json!("exact"))
    );
    let updated = ok(&api_post_form(
        &s,
        "update_smart_link.json",
        &[("smart_link_id", "5"), ("rotation", "random")],
    )
    .await);
    assert_eq!(
        updated["response"],
        json!({"smart_link_id": 5, "rotation": "random"})
    );
    assert_eq!(
        shown(&s, "5").await,
        (Value::Null, json!("random"), Value::Null)
    );
    let plain = ok(&api_post(
        &s,
        "smart_link.json",
        json!({"affiliate_id": 100, "smart_link_name": "Plain"}),
    )
    .await);
    assert!(
        plain["response"].get("rotation").is_none(),
        "the seed's shape: {plain}"
    );

    for (call, args) in [
        (
            "smart_link.json",
            json!({"affiliate_id": 100, "smart_link_name": "N", "rotation": "weighted"}),
        ),
        (
            "update_smart_link.json",
            json!({"smart_link_id": 1, "rotation": "Exact"}),
        ),
    ] {
        let v = failure(&api_post(&s, call, args).await, 400, Some("rotation"));
        assert_eq!(
            v["errors"][0]["message"], "must be one of: random, exact, optimized",
            "{call}"
        );
    }
    assert_eq!(shown(&s, "1").await.1, "exact", "nothing changed");
    s.stop().await;
}
