//! Affiliate payouts, cost, profit and margin (docs/routing.md#affiliate-payouts): an offer's
//! `affiliate_payout`, overridden by a campaign and by a smart-link attachment, is each
//! conversion's cost; statistics per link, attachment, offer and affiliate show cost, profit
//! and margin exactly, over the lifetime and by hour, through the API and `smartlink stats
//! --affiliate`, the same after a restart; an API write applies to the next conversion; the
//! partner postback's `{payout}` is the conversion's cost.

use serde_json::{Value, json};

use crate::common::api::*;
use crate::common::*;

const PAYOUTS: &str = include_str!("../fixtures/networks/payouts.json");
const READ_KEY: &str = "integration-test-read-key";

fn config() -> TestConfig {
    TestConfig::new(PAYOUTS).section(&format!(
        "[api]\nkeys = [{API_KEY:?}]\nread_keys = [{READ_KEY:?}]"
    ))
}

/// A click on `target` (routed) and its click id.
async fn click_id(s: &TestServer, target: &str) -> String {
    let to = click(s, target, &[("user-agent", CHROME_WINDOWS)]).await;
    query_param(&to, "c").expect("the offer URL carries the click id")
}

async fn convert(s: &TestServer, id: &str, amount: Option<&str>) {
    let amount = amount.map_or(String::new(), |a| format!("&amount={a}"));
    let r = s.get(&format!("/p?click_id={id}{amount}"), &[]).await;
    assert_eq!(r.body, "{\"status\":\"recorded\"}\n");
}

async fn affiliate(s: &TestServer, id: &str, range: &[(&str, &str)]) -> Value {
    let mut params = vec![("affiliate_id", id)];
    params.extend_from_slice(range);
    ok(&api_get(s, "affiliate_stats.json", &params).await)["response"].clone()
}

/// `(revenue, cost, profit)` of a statistics object, and its margin.
fn money(v: &Value) -> ((&str, &str, &str), &Value) {
    let text = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}"));
    (
        (text("revenue"), text("cost"), text("profit")),
        &v["margin"],
    )
}

/// A margin as the answer gives it: a float, read back within a rounding of its value.
fn margin_is(v: &Value, expected: f64) {
    let m = v["margin"]
        .as_f64()
        .unwrap_or_else(|| panic!("margin in {v}"));
    assert!((m - expected).abs() < 1e-12, "{m} is not {expected}");
}

fn hour_text(h: u64) -> String {
    jiff::Timestamp::from_second(h as i64 * 3600)
        .unwrap()
        .to_string()
}

/// Sends the fixture's traffic: two conversions on smart link 50 (its attachment pays the
/// affiliate 6), one on link 60 (offer 52's 2), one on campaign 70 (its own 3), all
/// affiliate 100's; one on campaign 80 (affiliate 200, offer 52's 2).
async fn traffic(s: &TestServer) {
    let a = click_id(s, "/sl?id=50&aff_id=100").await;
    let b = click_id(s, "/sl?id=50&aff_id=100").await;
    let c = click_id(s, "/sl?id=60&aff_id=100").await;
    let d = click_id(s, "/rd/r.php?sid=70&aff_id=100").await;
    let e = click_id(s, "/rd/r.php?sid=80&aff_id=200").await;
    convert(s, &a, None).await; // revenue 10, cost 6
    convert(s, &b, Some("1")).await; // revenue 1, cost 6: a loss
    convert(s, &c, None).await; // revenue 5, cost 2
    convert(s, &d, None).await; // revenue 10, cost 3
    convert(s, &e, None).await; // revenue 5, cost 2
}

/// What `traffic` leaves in every statistic, checked on `s`.
async fn check_totals(s: &TestServer) {
    let link = ok(&api_get(s, "smart_link_stats.json", &[("smart_link_id", "50")]).await);
    let link = &link["response"];
    assert_eq!(money(link).0, ("11.00", "12.00", "-1.00"), "{link}");
    margin_is(link, -1.0 / 11.0);
    assert_eq!(money(&link["offers"][0]).0, ("11.00", "12.00", "-1.00"));

    let offers = ok(&api_get(s, "offer_stats.json", &[]).await);
    let offer = |id: u64| {
        items(&offers["response"], "offers")
            .iter()
            .find(|o| o["offer_id"] == id)
            .cloned()
            .unwrap()
    };
    let o51 = offer(51);
    assert_eq!(money(&o51).0, ("21.00", "15.00", "6.00"), "{o51}");
    margin_is(&o51, 6.0 / 21.0);
    let o52 = offer(52);
    assert_eq!(money(&o52), (("10.00", "4.00", "6.00"), &json!(0.6)));

    let mine = affiliate(s, "100", &[]).await;
    assert_eq!(mine["affiliate_id"], 100);
    assert_eq!(
        (&mine["clicks"], &mine["conversions"]),
        (&json!(4), &json!(4))
    );
    assert_eq!(money(&mine).0, ("26.00", "17.00", "9.00"), "{mine}");
    margin_is(&mine, 9.0 / 26.0);
    let links: Vec<(&str, u64, &str)> = items(&mine, "links")
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap(),
                l["id"].as_u64().unwrap(),
                l["cost"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        links,
        [
            ("smart_link", 50, "12.00"),
            ("smart_link", 60, "2.00"),
            ("campaign", 70, "3.00")
        ]
    );
    let theirs = affiliate(s, "200", &[]).await;
    assert_eq!(money(&theirs), (("5.00", "2.00", "3.00"), &json!(0.6)));
}

#[tokio::test]
async fn cost_profit_and_margin_follow_the_overrides_and_survive_a_restart() {
    let s = TestServer::start(config()).await;
    traffic(&s).await;
    check_totals(&s).await;

    // The record keeps each conversion's cost; the partner postback's {payout} is it.
    let records = s.config.conversion_records();
    let costs: Vec<&str> = records
        .iter()
        .map(|r| r["cost"].as_str().unwrap())
        .collect();
    assert_eq!(costs, ["6.00", "6.00", "2.00", "3.00", "2.00"]);
    assert_eq!(
        records[1]["partner_postback"],
        "http://127.0.0.1:9/pb?p=6.00&a=1"
    );
    assert_eq!(
        records[4]["partner_postback"],
        Value::Null,
        "affiliate 200 has none"
    );
    let metrics = s.get("/metrics", &[]).await.body;
    assert!(metrics.contains("\nsmartlink_cost_total 19\n"), "{metrics}");
    assert!(
        metrics.contains("\nsmartlink_revenue_total 31\n"),
        "{metrics}"
    );

    // By hour: the same sums once the saver put the clicks in their hour.
    let hour = utc_hour();
    let (from, to) = (hour_text(hour - 1), hour_text(hour + 2));
    let range = [("from", from.as_str()), ("to", to.as_str())];
    assert!(
        eventually(std::time::Duration::from_secs(5), async || {
            affiliate(&s, "100", &range).await["routed"] == 4
        })
        .await
    );
    let ranged = affiliate(&s, "100", &range).await;
    assert_eq!(money(&ranged).0, ("26.00", "17.00", "9.00"), "{ranged}");
    assert_eq!(ranged["from"], from.as_str());
    let earlier = affiliate(&s, "100", &[("to", &from)]).await;
    assert_eq!(money(&earlier), (("0.00", "0.00", "0.00"), &Value::Null));
    let series = ok(&api_get(&s, "smart_link_hourly.json", &[("smart_link_id", "50")]).await);
    let cost: Vec<&str> = series["response"]["cost"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .filter(|c| *c != "0.00")
        .collect();
    assert_eq!(cost, ["12.00"]);

    // A read-only key may read it; an unknown affiliate is a 404, a bad id a 400.
    let q = query(Some(READ_KEY), &[("affiliate_id", "100")]);
    let read = ok(&s
        .get(&format!("/api/2/affiliate_stats.json?{q}"), &[])
        .await);
    assert_eq!(read["response"]["cost"], "17.00");
    failure(
        &api_get(&s, "affiliate_stats.json", &[("affiliate_id", "999")]).await,
        404,
        Some("affiliate_id"),
    );
    failure(
        &api_get(&s, "affiliate_stats.json", &[("affiliate_id", "x")]).await,
        400,
        Some("affiliate_id"),
    );

    // After a restart: the same numbers, from the counters file and the hours.
    let config = s.stop().await;
    let s = TestServer::start_written(config).await;
    check_totals(&s).await;
    let ranged = affiliate(&s, "100", &range).await;
    assert_eq!(money(&ranged).0, ("26.00", "17.00", "9.00"), "{ranged}");

    // The command line reads the same from the state directory.
    let config = s.stop().await;
    let cli = command_json(&config.settings_path(), &["stats", "--affiliate", "100"]);
    assert_eq!(money(&cli).0, ("26.00", "17.00", "9.00"), "{cli}");
    assert_eq!(cli["links"].as_array().map(Vec::len), Some(3));
    let cli = command_json(
        &config.settings_path(),
        &["stats", "--affiliate", "200", "--from", &from],
    );
    assert_eq!(money(&cli).0, ("5.00", "2.00", "3.00"), "{cli}");
    let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .arg("--config")
        .arg(config.settings_path())
        .args(["stats", "--affiliate", "999"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("affiliate 999 does not exist"));
}

#[tokio::test]
async fn an_api_write_of_a_payout_applies_to_the_next_conversion() {
    let s = TestServer::start(config()).await;
    let first = click_id(&s, "/sl?id=60&aff_id=100").await;
    convert(&s, &first, None).await;
    // The offer's payout changes, then link 50's attachment drops its own, campaign 70's
    // changes: each applies to the conversions recorded after it, whenever their click was.
    let late = click_id(&s, "/sl?id=60&aff_id=100").await;
    ok(&api_post(
        &s,
        "update_offer.json",
        json!({"offer_id": 52, "affiliate_payout": "2.5"}),
    )
    .await);
    let offers = ok(&api_get(&s, "offers.json", &[("offer_id", "52")]).await);
    assert_eq!(items(&offers, "offers")[0]["affiliate_payout"], "2.50");
    convert(&s, &late, None).await;
    let on_50 = click_id(&s, "/sl?id=50&aff_id=100").await;
    let attached = ok(&api_post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 50, "offer_id": 51, "affiliate_payout": null}),
    )
    .await);
    assert_eq!(attached["response"].get("affiliate_payout"), None);
    convert(&s, &on_50, None).await;
    let on_70 = click_id(&s, "/rd/r.php?sid=70&aff_id=100").await;
    ok(&api_post(
        &s,
        "batch.json",
        json!({"calls": [{"call": "update_campaign.json", "params": {"campaign_id": 70, "affiliate_payout": "0.5"}}]}),
    )
    .await);
    let campaigns = ok(&api_get(&s, "campaigns.json", &[("campaign_id", "70")]).await);
    assert_eq!(
        campaigns["response"]["campaigns"][0]["affiliate_payout"],
        "0.50"
    );
    convert(&s, &on_70, None).await;
    let costs: Vec<String> = s
        .config
        .conversion_records()
        .iter()
        .map(|r| r["cost"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(costs, ["2.00", "2.50", "4.00", "0.50"]);
    let mine = affiliate(&s, "100", &[]).await;
    assert_eq!(money(&mine).0, ("30.00", "9.00", "21.00"), "{mine}");
    // The catalog on disk holds the changes; a payout that is no amount is refused.
    let disk = on_disk(&s);
    assert_eq!(disk["offers"][1]["affiliate_payout"], "2.50");
    assert_eq!(
        disk["smart_links"][0]["offers"][0].get("affiliate_payout"),
        None
    );
    for bad in ["-1", "1.0000001", "x"] {
        failure(
            &api_post(
                &s,
                "update_offer.json",
                json!({"offer_id": 52, "affiliate_payout": bad}),
            )
            .await,
            400,
            Some("affiliate_payout"),
        );
    }
    s.stop().await;
}
