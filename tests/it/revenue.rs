//! Revenue and hourly statistics (docs/operations.md#statistics): a conversion earns its
//! postback's amount or its offer's payout, exactly; statistics over `from`/`to` hours; a late
//! conversion lands in its click's hour; hours survive a restart without counting anything
//! twice.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use smartlink::click_id::{Claims, ClickSigner};
use smartlink::vocab::SourceKind;

use crate::common::api::*;
use crate::common::*;

pub const EARNING: &str = include_str!("../fixtures/networks/earning.json");

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `2026-12-01T18:00:00Z` for hour `h` (hours since the epoch).
fn hour_text(h: i64) -> String {
    jiff::Timestamp::from_second(h * 3600).unwrap().to_string()
}

async fn click_id(s: &TestServer, link: u32) -> String {
    let to = click(
        s,
        &format!("/sl?id={link}&aff_id=100"),
        &[("user-agent", CHROME_WINDOWS)],
    )
    .await;
    query_param(&to, "c").expect("the offer URL carries the click id")
}

async fn convert(s: &TestServer, id: &str, amount: Option<&str>) {
    let amount = amount.map_or(String::new(), |a| format!("&amount={a}"));
    let r = s.get(&format!("/p?click_id={id}{amount}"), &[]).await;
    assert_eq!(r.body, "{\"status\":\"recorded\"}\n");
}

async fn stats(s: &TestServer, link: u32, range: &[(&str, &str)]) -> Value {
    let id = link.to_string();
    let mut params = vec![("smart_link_id", id.as_str())];
    params.extend_from_slice(range);
    ok(&api_get(s, "smart_link_stats.json", &params).await)["response"].clone()
}

/// Waits until the saver has swept `routed` clicks of link `link` into the hours around
/// now.
async fn swept(s: &TestServer, link: u32, routed: u64) {
    let hour = now() / 3600;
    let (from, to) = (hour_text(hour - 1), hour_text(hour + 2));
    let range = [("from", from.as_str()), ("to", to.as_str())];
    assert!(
        eventually(Duration::from_secs(5), async || stats(s, link, &range)
            .await["routed"]
            == routed)
        .await,
        "clicks reach their hour within a few seconds"
    );
}

#[tokio::test]
async fn revenue_is_the_amount_or_else_the_offers_payout_exactly() {
    let s = TestServer::start(TestConfig::new(EARNING)).await;
    let ids = [
        click_id(&s, 30).await,
        click_id(&s, 30).await,
        click_id(&s, 30).await,
        click_id(&s, 30).await,
    ];
    convert(&s, &ids[0], Some("10")).await;
    convert(&s, &ids[1], None).await;
    convert(&s, &ids[2], Some("0.1")).await;
    let lifetime = stats(&s, 30, &[]).await;
    // 10 + 2.50 + 0.1 over 4 routed clicks: no binary floating point on the way.
    assert_eq!(lifetime["revenue"], "12.60", "{lifetime}");
    assert_eq!(lifetime["epc"], "3.15", "{lifetime}");
    assert_eq!(lifetime["conversions"], 3);
    assert_eq!(lifetime["conversion_rate"], 0.75);
    let offer = &lifetime["offers"][0];
    assert_eq!(
        (&offer["offer_id"], &offer["revenue"], &offer["epc"]),
        (
            &Value::from(31),
            &Value::from("12.60"),
            &Value::from("3.15")
        )
    );
    // The record says what was counted: the payout when no amount was given.
    let records = s.config.conversion_records();
    let revenue: Vec<&str> = records
        .iter()
        .map(|r| r["revenue"].as_str().unwrap())
        .collect();
    assert_eq!(revenue, ["10.00", "2.50", "0.10"]);
    assert_eq!(records[1]["amount"], Value::Null);
    // A payout changed through the API applies to the next conversion, not the counted ones.
    ok(&api_post(
        &s,
        "update_offer.json",
        serde_json::json!({"offer_id": 31, "payout": "1.25"}),
    )
    .await);
    convert(&s, &ids[3], None).await;
    assert_eq!(stats(&s, 30, &[]).await["revenue"], "13.85");
    // The dashboard's conversions and revenue: the same totals in /metrics.
    let metrics = s.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains("\nsmartlink_conversions_total 4\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nsmartlink_revenue_total 13.85\n"),
        "{metrics}"
    );
    let offers = ok(&api_get(&s, "offers.json", &[("offer_id", "31")]).await);
    assert_eq!(items(&offers, "offers")[0]["payout"], "1.25");
    // A payout that is not an exact decimal is refused.
    for bad in ["1.0000001", "-1", "1e3", "abc"] {
        let r = api_post(
            &s,
            "update_offer.json",
            serde_json::json!({"offer_id": 31, "payout": bad}),
        )
        .await;
        failure(&r, 400, Some("payout"));
    }
    s.stop().await;
}

#[tokio::test]
async fn statistics_cover_the_hours_from_from_up_to_to() {
    let s = TestServer::start(TestConfig::new(EARNING)).await;
    for _ in 0..5 {
        click_id(&s, 30).await;
    }
    swept(&s, 30, 5).await;
    let hour = now() / 3600;
    let before = hour_text(hour - 1);
    let this = hour_text(hour - 1);
    let after = hour_text(hour + 2);
    let empty = stats(&s, 30, &[("from", &hour_text(hour - 48)), ("to", &before)]).await;
    assert_eq!(
        (&empty["clicks"], &empty["routed"]),
        (&Value::from(0), &Value::from(0))
    );
    assert_eq!(empty["epc"], Value::Null, "no routed click: no EPC");
    let some = stats(&s, 30, &[("from", &this), ("to", &after)]).await;
    assert_eq!(some["clicks"], 5);
    assert_eq!(some["from"], this.as_str());
    assert_eq!(some["to"], after.as_str());
    // `to` alone: from the oldest hour kept.
    assert_eq!(stats(&s, 30, &[("to", &after)]).await["routed"], 5);
    // Errors name the parameter.
    let r = api_get(
        &s,
        "smart_link_stats.json",
        &[("smart_link_id", "30"), ("from", "yesterday")],
    )
    .await;
    failure(&r, 400, Some("from"));
    let r = api_get(
        &s,
        "smart_link_stats.json",
        &[("smart_link_id", "30"), ("from", &after), ("to", &this)],
    )
    .await;
    // Two date-times as documented, naming no hour between them: 422.
    failure(&r, 422, Some("from"));
    s.stop().await;
}

#[tokio::test]
async fn a_late_conversion_is_credited_to_its_clicks_hour_and_survives_a_restart_once() {
    let s = TestServer::start(TestConfig::new(EARNING)).await;
    // A click made five hours ago (its id, signed with the server's secret, says so).
    let hour = now() / 3600;
    let claims = Claims {
        kind: SourceKind::SmartLink,
        time: ((hour - 5) * 3600 + 120) as u32,
        offer_id: Some(31),
        source_id: 30,
        affiliate_id: 100,
    };
    let old = ClickSigner::new(SECRET.as_bytes()).issue(&claims);
    convert(&s, old.as_str(), Some("4.00")).await;
    let fresh = click_id(&s, 30).await;
    convert(&s, &fresh, None).await;
    swept(&s, 30, 1).await;
    let at = |h: i64| (hour_text(h), hour_text(h + 1));
    let (from, to) = at(hour - 5);
    let range = [("from", from.as_str()), ("to", to.as_str())];
    let then = stats(&s, 30, &range).await;
    assert_eq!(
        (&then["conversions"], &then["revenue"], &then["routed"]),
        (&Value::from(1), &Value::from("4.00"), &Value::from(0)),
        "{then}"
    );
    let (from_now, _) = at(hour - 1);
    let later = hour_text(hour + 2);
    let recent = [("from", from_now.as_str()), ("to", later.as_str())];
    let now_stats = stats(&s, 30, &recent).await;
    assert_eq!(
        (&now_stats["conversions"], &now_stats["revenue"]),
        (&Value::from(1), &Value::from("2.50"))
    );
    // After a restart: the clicks from the hour files, the conversions from the log, once.
    let config = s.stop().await;
    let s = TestServer::start_written(config).await;
    assert_eq!(stats(&s, 30, &range).await["conversions"], 1);
    let again = stats(&s, 30, &recent).await;
    assert_eq!(
        (&again["routed"], &again["conversions"], &again["revenue"]),
        (&Value::from(1), &Value::from(1), &Value::from("2.50")),
        "{again}"
    );
    let lifetime = stats(&s, 30, &[]).await;
    assert_eq!(
        (&lifetime["conversions"], &lifetime["revenue"]),
        (&Value::from(2), &Value::from("6.50"))
    );
    // The hour files are on disk, one per hour with counts, each a whole JSON document.
    let files: Vec<_> = std::fs::read_dir(s.config.state_dir().join("hours"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    for f in &files {
        let doc: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        assert!(doc["hour"].is_u64(), "{}", f.display());
    }
    s.stop().await;
}

#[test]
fn the_stats_command_takes_from_and_to() {
    let config = TestConfig::new(EARNING);
    let path = config.write();
    let hour = now() / 3600;
    let (from, to) = (hour_text(hour - 2), hour_text(hour + 1));
    let v = command_json(
        &path,
        &["stats", "--link", "30", "--from", &from, "--to", &to],
    );
    assert_eq!(v["from"], hour_text(hour - 2).as_str());
    assert_eq!(v["clicks"], 0);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .args([
            "--config",
            path.to_str().unwrap(),
            "stats",
            "--from",
            "soon",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("--from") && stderr.contains("RFC 3339"),
        "{stderr}"
    );
}

/// Regression: a postback's `amount` was accepted up to 999999999999.999999, but a revenue
/// total of 13 digits made `counters.json` unreadable: two such postbacks, and `smartlink
/// stats` exited 1 and `smartlink serve` refused to start. Now every total of accepted amounts
/// is written as text that reads back whatever its size, and an amount beyond the bound is a
/// `400` that names it.
#[test]
fn two_postbacks_of_the_largest_amount_leave_state_that_serve_and_stats_read_back() {
    const LARGEST: &str = "999999999999.999999";
    let config = TestConfig::new(crate::caps::CAPPED);
    let path = config.write();
    let mut bin = Binary::start(&path);
    for _ in 0..2 {
        let (_, location) = get(bin.addr, "/sl?id=11").expect("click");
        let id = query_param(&location, "c").expect("click id");
        let (status, answer) =
            blocking_post_form(bin.addr, "/p", &format!("click_id={id}&amount={LARGEST}"))
                .expect("postback");
        assert_eq!((status, answer["status"].as_str()), (200, Some("recorded")));
    }
    // (Offer 23 is capped after two conversions: the next click goes to offer 21.)
    let (_, location) = get(bin.addr, "/sl?id=12").expect("click");
    let id = query_param(&location, "c").expect("click id");
    let (status, answer) = blocking_post_form(
        bin.addr,
        "/p",
        &format!("click_id={id}&amount=1000000000000"),
    )
    .expect("postback");
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains(LARGEST),
        "the answer names the bound: {answer}"
    );
    // Once saved (every second), the running server's files read back.
    let counters = config.state_dir().join("counters.json");
    assert!(wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&counters).is_ok_and(|t| t.contains("1999999999999.999998"))
    }));
    let total = |v: &Value| with_offer(v, 23)["revenue"].clone();
    assert_eq!(
        total(&command_json(&path, &["stats"])),
        "1999999999999.999998"
    );
    bin.signal(libc::SIGTERM);
    assert_eq!(bin.exit_code(Duration::from_secs(20)), Some(0));
    // And a restart serves, with the same total, from the file and from the hours.
    let mut again = Binary::start(&path);
    let (_, body) = get(
        again.addr,
        &format!("/api/2/smart_link_stats.json?api_key={API_KEY}&smart_link_id=11"),
    )
    .expect("stats");
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        stats["response"]["revenue"], "1999999999999.999998",
        "{stats}"
    );
    again.signal(libc::SIGTERM);
    assert_eq!(again.exit_code(Duration::from_secs(20)), Some(0));
    let hour = now() / 3600;
    let (from, to) = (hour_text(hour - 1), hour_text(hour + 1));
    let v = command_json(
        &path,
        &["stats", "--link", "11", "--from", &from, "--to", &to],
    );
    assert_eq!(v["revenue"], "1999999999999.999998");
}

fn with_offer(stats: &Value, id: u64) -> &Value {
    stats["offers"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["offer_id"] == id))
        .unwrap_or_else(|| panic!("no offer {id} in {stats}"))
}
