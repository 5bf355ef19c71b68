//! `GET|POST /p` (docs/routing.md): recorded, duplicate, forged, malformed, bad amounts, expired
//! clicks, rotated secrets, bodies and limits, and the conversion log on disk.

use std::time::{SystemTime, UNIX_EPOCH};

use smartlink::click_id::{Claims, ClickSigner};
use smartlink::vocab::SourceKind;

use crate::caps::CAPPED;
use crate::common::*;

const RECORDED: &str = "{\"status\":\"recorded\"}\n";
const DUPLICATE: &str = "{\"status\":\"duplicate\"}\n";

/// A click id for a click on link 11 (offer 23), made by the server.
async fn click(server: &TestServer) -> String {
    let r = server
        .get("/sl?id=11&aff_id=100", &[("user-agent", CHROME_WINDOWS)])
        .await;
    query_param(r.location(), "c").expect("offer URL carries the click id")
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

#[tokio::test]
async fn a_conversion_is_recorded_once_then_reported_duplicate() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    let id = click(&server).await;
    let first = server
        .get(&format!("/p?click_id={id}&amount=12.50"), &[])
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, RECORDED);
    assert_eq!(first.header("content-type"), "application/json");
    for _ in 0..3 {
        let again = server
            .get(&format!("/p?click_id={id}&amount=99"), &[])
            .await;
        assert_eq!(
            (again.status.as_u16(), again.body.as_str()),
            (200, DUPLICATE)
        );
    }
    // Durable before the answer: the record is on disk without any flush being asked for.
    let records = server.config.conversion_records();
    assert_eq!(records.len(), 1, "duplicates are not recorded");
    let r = &records[0];
    assert_eq!(r["click_id"], id.as_str());
    assert_eq!(r["kind"], "smart_link");
    assert_eq!(r["smart_link_id"], 11);
    assert_eq!(r["affiliate_id"], 100);
    assert_eq!(r["offer_id"], 23);
    assert_eq!(r["amount"], "12.50", "the amount's digits, exactly");
    assert!(r["time"].as_str().unwrap().ends_with('Z'));
    let metrics = server.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains("smartlink_postbacks_total{result=\"recorded\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smartlink_postbacks_total{result=\"duplicate\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smartlink_converted_clicks_tracked 1\n"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn parallel_postbacks_of_one_click_record_it_exactly_once() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    let id = click(&server).await;
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (addr, target) = (server.addr, format!("/p?click_id={id}"));
            tokio::spawn(async move { request(addr, "GET", &target, &[]).await.body })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        bodies.push(t.await.unwrap());
    }
    assert_eq!(bodies.iter().filter(|b| *b == RECORDED).count(), 1);
    assert_eq!(bodies.iter().filter(|b| *b == DUPLICATE).count(), 39);
    assert_eq!(server.config.conversion_records().len(), 1);
    server.stop().await;
}

/// A forged id, or one another network signed, has a click id's form: `422`, as the
/// OpenAPI document says (it was `400` with the malformed ones).
#[tokio::test]
async fn forged_ids_are_422_malformed_and_missing_ids_and_bad_amounts_400() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    let id = click(&server).await;
    let mut forged = id.clone().into_bytes();
    forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let other_secret = ClickSigner::new(b"somebody-elses-secret-0123")
        .issue(&Claims {
            kind: SourceKind::SmartLink,
            time: now(),
            offer_id: Some(23),
            source_id: 11,
            affiliate_id: 100,
        })
        .to_string();
    for target in [
        format!("/p?click_id={forged}"),
        format!("/p?click_id={other_secret}"),
    ] {
        let r = server.get(&target, &[]).await;
        assert_eq!(r.status, 422, "{target}: {}", r.body);
        assert!(r.body.starts_with("{\"status\":\"invalid\""), "{}", r.body);
        assert!(!r.body.contains(&id[..10]), "never an echo of the input");
    }
    for target in [
        "/p?click_id=abc".to_string(),
        format!("/p?click_id={id}x"),
        format!("/p?click_id=%00{}", &id[1..]),
        "/p".to_string(),
        "/p?click_id=".to_string(),
        format!("/p?click_id={id}&amount=-5"),
        format!("/p?click_id={id}&amount=1e9"),
        format!("/p?click_id={id}&amount=12,50"),
        format!("/p?click_id={id}&click_id={forged}"),
    ] {
        let r = server.get(&target, &[]).await;
        assert_eq!(r.status, 400, "{target}: {}", r.body);
        assert!(r.body.starts_with("{\"status\":\"invalid\""), "{}", r.body);
        assert!(!r.body.contains(&id[..10]), "never an echo of the input");
    }
    // Nothing was recorded, and the real id still converts.
    assert!(server.config.conversion_records().is_empty());
    let r = server.get(&format!("/p?click_id={id}"), &[]).await;
    assert_eq!(r.body, RECORDED);
    server.stop().await;
}

#[tokio::test]
async fn post_takes_the_query_or_a_form_body_and_limits_the_body() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    let (a, b) = (click(&server).await, click(&server).await);
    let r = server.post_form(&format!("/p?click_id={a}"), "").await;
    assert_eq!(r.body, RECORDED);
    let r = server
        .post_form(
            "/p",
            &format!("click_id={b}&amount=3.25&payout_currency=EUR"),
        )
        .await;
    assert_eq!(r.body, RECORDED);
    let r = server.post_form("/p", &format!("click_id={b}")).await;
    assert_eq!(r.body, DUPLICATE);
    let big = format!("click_id={b}&pad={}", "x".repeat(10_000));
    assert_eq!(server.post_form("/p", &big).await.status, 413);
    let r = request(server.addr, "PUT", &format!("/p?click_id={a}"), &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), "GET, POST");
    let amounts: Vec<_> = server
        .config
        .conversion_records()
        .iter()
        .map(|r| r["amount"].clone())
        .collect();
    assert_eq!(amounts, [serde_json::Value::Null, "3.25".into()]);
    server.stop().await;
}

/// Regression: a click id whose time lay in the future was recorded (a leaked secret could
/// fill next month's conversion caps today). Beyond the skew it is refused as a forged id is
/// (422, counted as invalid), with a message that names the clock; within it (another node's
/// clock a little ahead) it converts.
#[tokio::test]
async fn a_click_id_from_the_future_is_refused_like_a_forged_click_id() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    let signer = ClickSigner::new(SECRET.as_bytes());
    let ahead = |secs: u32| {
        signer.issue(&Claims {
            kind: SourceKind::SmartLink,
            time: now() + secs,
            offer_id: Some(23),
            source_id: 11,
            affiliate_id: 100,
        })
    };
    let forged = ClickSigner::new(b"somebody-elses-secret-0123").issue(&Claims {
        kind: SourceKind::SmartLink,
        time: now(),
        offer_id: Some(23),
        source_id: 11,
        affiliate_id: 100,
    });
    let refused = server.get(&format!("/p?click_id={forged}"), &[]).await;
    assert_eq!(refused.status, 422);
    let skew = smartlink::click_id::MAX_CLOCK_SKEW_SECS as u32;
    for secs in [skew + 5, 3_600, 30 * 86_400] {
        let r = server
            .get(&format!("/p?click_id={}&amount=5", ahead(secs)), &[])
            .await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (
                refused.status,
                "{\"status\":\"invalid\",\"error\":\"click_id is dated in the future\"}\n"
            ),
            "{secs} s ahead"
        );
    }
    assert!(server.config.conversion_records().is_empty());
    let r = server
        .get(&format!("/p?click_id={}", ahead(skew - 10)), &[])
        .await;
    assert_eq!(r.body, RECORDED, "within the skew");
    server.stop().await;
}

#[tokio::test]
async fn a_click_older_than_the_attribution_window_is_expired_and_not_counted() {
    // The helper writes the [tracking] table itself; add the key to it.
    let config = TestConfig::new(CAPPED);
    let path = config.write();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[tracking]\n", "[tracking]\nattribution_window_days = 7\n");
    std::fs::write(&path, text).unwrap();
    let server = TestServer::start_written(config).await;
    let signer = ClickSigner::new(SECRET.as_bytes());
    let claims = |age_days: u32| Claims {
        kind: SourceKind::SmartLink,
        time: now() - age_days * 86_400,
        offer_id: Some(23),
        source_id: 11,
        affiliate_id: 100,
    };
    let old = signer.issue(&claims(8));
    let r = server.get(&format!("/p?click_id={old}"), &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.body.as_str()),
        (200, "{\"status\":\"expired\"}\n")
    );
    let recent = signer.issue(&claims(6));
    assert_eq!(
        server.get(&format!("/p?click_id={recent}"), &[]).await.body,
        RECORDED
    );
    assert_eq!(server.config.conversion_records().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn ids_signed_with_a_rotated_out_secret_still_convert() {
    let old_secret = "the-previous-secret-0123456789";
    let id = ClickSigner::new(old_secret.as_bytes()).issue(&Claims {
        kind: SourceKind::Campaign,
        time: now(),
        offer_id: Some(22),
        source_id: 98001,
        affiliate_id: 100,
    });
    let config = TestConfig::new(CAPPED);
    let path = config.write();
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "[tracking]\n",
        &format!("[tracking]\nprevious_click_secrets = [{old_secret:?}]\n"),
    );
    std::fs::write(&path, text).unwrap();
    let server = TestServer::start_written(config).await;
    let r = server.get(&format!("/p?click_id={id}"), &[]).await;
    assert_eq!(r.body, RECORDED);
    let record = &server.config.conversion_records()[0];
    assert_eq!(record["kind"], "campaign");
    assert_eq!(record["campaign_id"], 98001);
    server.stop().await;
}

#[tokio::test]
async fn a_full_disk_answers_503_counts_nothing_and_the_retry_succeeds() {
    // The broken file is this hour's: if the hour turns mid-test, start again once.
    for _ in 0..2 {
        let server = TestServer::start(TestConfig::new(CAPPED)).await;
        let id = click(&server).await;
        // Every write to /dev/full fails with ENOSPC: put it where this hour's log goes.
        let hour = now() as u64 / 3600;
        let name = smartlink::files::hourly_name("conversions", hour);
        let path = server.config.state_dir().join(&name);
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let r = server.get(&format!("/p?click_id={id}"), &[]).await;
        if smartlink::files::hourly_name("conversions", now() as u64 / 3600) != name {
            server.stop().await;
            continue;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.header("retry-after"), "1");
        assert_eq!(server.state.counts.offer(23).total_conversions(), 0);
        std::fs::remove_file(&path).unwrap();
        let r = server.get(&format!("/p?click_id={id}"), &[]).await;
        assert_eq!(
            r.body, RECORDED,
            "the id was forgotten with the failed write"
        );
        let metrics = server.get("/metrics", &[]).await.body;
        assert!(
            metrics.contains("smartlink_conversion_write_errors_total 1\n"),
            "{metrics}"
        );
        server.stop().await;
        return;
    }
    panic!("the hour turned during both attempts");
}

#[tokio::test]
async fn conversions_of_fallback_clicks_are_recorded_without_an_offer() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    let signer = ClickSigner::new(SECRET.as_bytes());
    let id = signer.issue(&Claims {
        kind: SourceKind::SmartLink,
        time: now(),
        offer_id: None,
        source_id: 10,
        affiliate_id: 100,
    });
    assert_eq!(
        server.get(&format!("/p?click_id={id}"), &[]).await.body,
        RECORDED
    );
    assert_eq!(
        server.config.conversion_records()[0]["offer_id"],
        serde_json::Value::Null
    );
    let stats = smartlink::stats::link(
        server.state.snapshot().table.link(10).unwrap(),
        &server.state.counts,
    );
    assert_eq!(stats.totals.conversions, 1);
    server.stop().await;
}

/// Regression: anyone could click, copy the click id from the `Location` and post it (a
/// probe used up a 100-conversion cap in seconds). With `postbacks.token` a postback without
/// the token is `401`; an offer's own `postback_token` replaces the network's for its clicks.
#[tokio::test]
async fn a_postback_without_the_token_is_401_and_counts_nothing() {
    let network = CAPPED.replace(
        r#""offer_name": "Overflow", "offer_status": "active","#,
        r#""offer_name": "Overflow", "offer_status": "active", "postback_token": "offer-22-own-token","#,
    );
    let config = TestConfig::new(&network).section("[postbacks]\ntoken = \"network-wide-token\"");
    let server = TestServer::start(config).await;
    let id = click(&server).await;
    let unauthorized = "{\"status\":\"unauthorized\",\"error\":\"token is missing or wrong\"}\n";
    for target in [
        format!("/p?click_id={id}"),
        format!("/p?click_id={id}&token=wrong-token-value"),
        format!("/p?click_id={id}&token=network-wide-toke"),
    ] {
        let r = server.get(&target, &[]).await;
        assert_eq!(
            (r.status.as_u16(), r.body.as_str()),
            (401, unauthorized),
            "{target}"
        );
    }
    assert!(
        server.config.conversion_records().is_empty(),
        "nothing recorded"
    );
    let r = server
        .get(&format!("/p?click_id={id}&token=network-wide-token"), &[])
        .await;
    assert_eq!(r.body, RECORDED);
    // A form body carries the token as well.
    let id2 = click(&server).await;
    let r = server
        .post_form("/p", &format!("click_id={id2}&token=network-wide-token"))
        .await;
    assert_eq!(r.body, RECORDED);

    // Offer 22's clicks need offer 22's token; the network's is not enough.
    let id22 = loop {
        let r = server
            .get("/sl?id=10&aff_id=100", &[("user-agent", CHROME_WINDOWS)])
            .await;
        if r.location().starts_with("https://o22.example/") {
            break query_param(r.location(), "c").unwrap();
        }
    };
    let r = server
        .get(&format!("/p?click_id={id22}&token=network-wide-token"), &[])
        .await;
    assert_eq!(r.status, 401);
    let r = server
        .get(&format!("/p?click_id={id22}&token=offer-22-own-token"), &[])
        .await;
    assert_eq!(r.body, RECORDED);
    let metrics = server.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains("smartlink_postbacks_total{result=\"unauthorized\"} 4\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smartlink_error_responses_total{status=\"401\"} 4\n"),
        "{metrics}"
    );
    server.stop().await;
}

/// With `postbacks.allowed_networks`, a postback from another source address (the client
/// address behind trusted proxies, as for clicks) is `403` and counts nothing.
#[tokio::test]
async fn a_postback_from_outside_the_allowed_networks_is_403() {
    let config = TestConfig::new(CAPPED)
        .section("[postbacks]\nallowed_networks = [\"198.51.100.0/24\", \"2001:db8::/32\"]");
    let server = TestServer::start(config).await;
    let id = click(&server).await;
    let target = format!("/p?click_id={id}");
    for outside in [None, Some("203.0.113.9"), Some("2001:db9::1")] {
        let headers: Vec<(&str, &str)> = outside
            .map(|ip| ("x-forwarded-for", ip))
            .into_iter()
            .collect();
        let r = server.get(&target, &headers).await;
        assert_eq!(r.status, 403, "{outside:?}: {}", r.body);
        assert!(r.body.contains("\"status\":\"forbidden\""), "{}", r.body);
    }
    let r = server
        .get(&target, &[("x-forwarded-for", "198.51.100.77")])
        .await;
    assert_eq!(r.body, RECORDED);
    let metrics = server.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains("smartlink_postbacks_total{result=\"forbidden\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smartlink_error_responses_total{status=\"403\"} 3\n"),
        "{metrics}"
    );
    assert_eq!(server.config.conversion_records().len(), 1);
    server.stop().await;
}
