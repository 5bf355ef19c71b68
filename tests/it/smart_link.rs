//! `GET /sl`: every routing rule and macro of docs/routing.md, over real HTTP.

use std::time::Duration;

use http::StatusCode;

use crate::common::*;

async fn server() -> TestServer {
    TestServer::start(TestConfig::new(NETWORK).geo("GeoIP2-Country-Test.mmdb")).await
}

#[tokio::test]
async fn bad_ids_are_400_with_a_short_body_that_echoes_nothing() {
    let s = server().await;
    for target in [
        "/sl",
        "/sl?id=",
        "/sl?id=0",
        "/sl?id=-3",
        "/sl?id=abc%3Cscript%3E",
        "/sl?id=1&aff_id=%3Cscript%3E",
        "/sl?aff_id=100",
    ] {
        let r = s.get(target, &[DESKTOP]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{target}");
        assert!(
            r.body.len() < 80 && !r.body.contains("script") && !r.body.contains("abc"),
            "{target}: {}",
            r.body
        );
        assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
    }
    s.stop().await;
}

#[tokio::test]
async fn unknown_link_or_wrong_affiliate_is_404() {
    let s = server().await;
    for target in [
        "/sl?id=999",
        "/sl?id=1&aff_id=200",
        "/sl?id=99999999999999999999",
        "/sl?id=1&aff_id=99999999999999",
    ] {
        let r = s.get(target, &[DESKTOP]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{target}");
    }
    let r = s.get("/sl?id=1&aff_id=100", &[DESKTOP, US]).await;
    assert_eq!(r.status, StatusCode::FOUND, "matching aff_id routes");
    let r = s.get("/sl?id=1&aff_id=0100", &[DESKTOP, US]).await;
    assert_eq!(
        r.status,
        StatusCode::FOUND,
        "leading zeros are the same number"
    );
    s.stop().await;
}

#[tokio::test]
async fn inactive_link_redirects_to_its_fallback() {
    let s = server().await;
    let r = s.get("/sl?id=2", &[DESKTOP, US]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.location(), "https://fb2.example/");
    let rec = s.records();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["fallback"], true);
    assert_eq!(rec[0]["fallback_reason"], "inactive");
    s.stop().await;
}

#[tokio::test]
async fn priorities_are_walked_in_ascending_order() {
    let s = server().await;
    // US qualifies at priority 1 (offer 11).
    let r = s.get("/sl?id=1", &[DESKTOP, US]).await;
    assert!(
        r.location().starts_with("https://o11.example/"),
        "{}",
        r.location()
    );
    // GB: priority 1 needs US; priority 2 is offer 13 (GB only).
    let r = s.get("/sl?id=1", &[DESKTOP, GB]).await;
    assert_eq!(r.location(), "https://o13.example/");
    // Sweden: neither; priority 3 has no conditions.
    let r = s
        .get("/sl?id=1", &[DESKTOP, ("x-forwarded-for", "89.160.20.128")])
        .await;
    assert_eq!(r.location(), "https://o12.example/?s2=");
    // No GeoIP record: an unknown country matches no country list, but "any" still does.
    let r = s
        .get("/sl?id=1", &[DESKTOP, ("x-forwarded-for", "10.1.2.3")])
        .await;
    assert_eq!(r.location(), "https://o12.example/?s2=");
    let rec = s.records();
    assert_eq!(
        rec.iter()
            .map(|r| r["priority"].as_i64())
            .collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3), Some(3)]
    );
    s.stop().await;
}

#[tokio::test]
async fn nothing_qualifying_goes_to_the_link_fallback_then_the_default() {
    let s = server().await;
    // Link 3: paused and deleted offers at priority 1; tablets only at 2; no fallback_url.
    let r = s.get("/sl?id=3", &[DESKTOP, US]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.location(), "https://default.example/?l=3");
    let r = s.get("/sl?id=3", &[("user-agent", IPAD), US]).await;
    assert_eq!(r.location(), "https://o15.example/?d=tablet");
    let rec = s.records();
    assert_eq!(rec[0]["fallback_reason"], "no_match");
    assert_eq!(rec[0]["offer_id"], serde_json::Value::Null);
    assert_eq!(rec[1]["offer_id"], 15);
    s.stop().await;
}

#[tokio::test]
async fn bots_go_to_the_fallback_unless_routing_them_is_enabled() {
    let s = server().await;
    for ua in [Some(GOOGLEBOT), Some("curl/8.5.0"), Some(""), None] {
        let mut headers = vec![US];
        if let Some(ua) = ua {
            headers.push(("user-agent", ua));
        }
        let r = s.get("/sl?id=4&s1=x", &headers).await;
        assert_eq!(r.location(), "https://default.example/?l=4", "{ua:?}");
    }
    let rec = s.records();
    assert!(
        rec.iter()
            .all(|r| r["fallback_reason"] == "bot" && r["device"] == "bot")
    );
    s.stop().await;

    let routed =
        TestServer::start(TestConfig::new(NETWORK).section("[routing]\nbots = \"route\"")).await;
    let r = routed.get("/sl?id=4", &[("user-agent", GOOGLEBOT)]).await;
    assert!(
        !r.location().starts_with("https://default.example/"),
        "{}",
        r.location()
    );
    // A bot is still a bot: a mobile-only rule does not take it.
    let r = routed.get("/sl?id=5", &[("user-agent", GOOGLEBOT)]).await;
    assert_eq!(r.location(), "https://default.example/?l=5");
    routed.stop().await;
}

#[tokio::test]
async fn redirect_is_302_no_store_empty_body_on_a_kept_alive_connection() {
    let s = server().await;
    let mut c = Client::connect(s.addr).await;
    for _ in 0..3 {
        let r = c.send("GET", "/sl?id=1", &[DESKTOP, US]).await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.header("cache-control"), "no-store");
        assert_eq!(r.header("content-length"), "0");
        assert!(r.body.is_empty());
        assert!(c.is_open(), "the connection stays open");
    }
    s.stop().await;
}

#[tokio::test]
async fn http2_cleartext_is_served() {
    let s = server().await;
    let mut c = Client::connect_h2(s.addr).await;
    let r = c.send("GET", "/sl?id=1", &[DESKTOP, GB]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.location(), "https://o13.example/");
    let r = c.send("HEAD", "/sl?id=1", &[DESKTOP, GB]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    s.stop().await;
}

#[tokio::test]
async fn head_answers_the_same_but_records_nothing() {
    let s = server().await;
    let mut c = Client::connect(s.addr).await;
    let r = c.send("HEAD", "/sl?id=1&s1=a", &[DESKTOP, US]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("cache-control"), "no-store");
    let location = r.location().to_string();
    assert!(
        location.starts_with("https://o11.example/c?click=&s1=a"),
        "no click id for HEAD: {location}"
    );
    let r = c.send("GET", "/sl?id=1&s1=a", &[DESKTOP, US]).await;
    assert!(r.location().starts_with("https://o11.example/c?click="));
    let rec = s.records();
    assert_eq!(rec.len(), 1, "only the GET is a click: {rec:?}");
    assert_eq!(s.state.counts.clicks(), 1);
    s.stop().await;
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let s = server().await;
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = request(s.addr, method, "/sl?id=1", &[]).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.header("allow"), "GET, HEAD");
    }
    assert!(s.records().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn macros_are_filled_and_percent_encoded() {
    let s = server().await;
    let r = s
        .get(
            "/sl?id=1&s1=a%20b%26c%3Dd%2F%C3%A9&s2=ignored",
            &[("user-agent", IPHONE), US],
        )
        .await;
    let url = r.location();
    assert!(url.starts_with("https://o11.example/c?click="), "{url}");
    assert!(
        url.ends_with("&s1=a%20b%26c%3Dd%2F%C3%A9&c=US&d=mobile&os=ios&o=11&l=1&a=100&camp="),
        "{url}"
    );
    let click_id = query_param(url, "click").unwrap();
    // 40 characters, then `.` and `s2` (`partner_postbacks.transaction_id_param`'s default)
    // in base64url: "ignored" is 7 bytes, 10 characters.
    assert_eq!(click_id.len(), 40 + 1 + 10, "{click_id}");
    assert_eq!(
        smartlink::click_id::ClickSigner::transaction_id(&click_id).as_deref(),
        Some("ignored")
    );
    let rec = &s.records()[0];
    assert_eq!(rec["click_id"], click_id.as_str());
    assert_eq!(rec["s1"], "a b&c=d/é");
    assert_eq!(rec["s2"], "ignored");
    // The click id verifies with the configured secret and names the click.
    let claims = smartlink::click_id::ClickSigner::new(SECRET.as_bytes())
        .verify(&click_id)
        .unwrap();
    assert_eq!(
        (claims.offer_id, claims.source_id, claims.affiliate_id),
        (Some(11), 1, 100)
    );
    s.stop().await;
}

#[tokio::test]
async fn fallback_url_macros_leave_inapplicable_values_empty() {
    let s = server().await;
    let r = s
        .get("/sl?id=1&s1=%2B1", &[("user-agent", GOOGLEBOT)])
        .await;
    assert_eq!(r.location(), "https://fb1.example/?l=1&s1=%2B1&o=");
    s.stop().await;
}

#[tokio::test]
async fn query_values_over_255_bytes_are_400() {
    let s = server().await;
    let ok = format!("/sl?id=1&s1={}", "a".repeat(255));
    assert_eq!(s.get(&ok, &[DESKTOP]).await.status, StatusCode::FOUND);
    let long = format!("/sl?id=1&s1={}", "a".repeat(256));
    assert_eq!(
        s.get(&long, &[DESKTOP]).await.status,
        StatusCode::BAD_REQUEST
    );
    s.stop().await;
}

#[tokio::test]
async fn every_get_click_gets_one_complete_record() {
    let s = server().await;
    s.get("/sl?id=1&s1=one&s5=five", &[("user-agent", IPHONE), GB])
        .await;
    s.get("/sl?id=3", &[DESKTOP, US]).await;
    s.get("/sl?id=999", &[DESKTOP]).await; // 404: not a click
    let rec = s.records();
    assert_eq!(rec.len(), 2);
    let r = &rec[0];
    for key in [
        "time",
        "click_id",
        "kind",
        "smart_link_id",
        "affiliate_id",
        "offer_id",
        "fallback",
        "priority",
        "country",
        "device",
        "os",
        "ip",
        "user_agent",
        "s1",
        "s2",
        "s3",
        "s4",
        "s5",
    ] {
        assert!(r.get(key).is_some(), "record lacks {key}: {r}");
    }
    assert_eq!(r["kind"], "smart_link");
    assert_eq!(r["ip"], "81.2.69.142");
    assert_eq!(r["country"], "GB");
    assert_eq!(
        (r["device"].as_str(), r["os"].as_str()),
        (Some("mobile"), Some("ios"))
    );
    assert_eq!(
        (r["s1"].as_str(), r["s5"].as_str()),
        (Some("one"), Some("five"))
    );
    // Link 3's priority-1 rules need no attributes and its priority-2 rule only the
    // device: the country was not needed to route, and the writer filled it in.
    assert_eq!(rec[1]["country"], "US");
    assert_eq!(rec[1]["fallback_reason"], "no_match");
    s.stop().await;
}

#[tokio::test]
async fn records_are_flushed_within_a_second_without_being_asked() {
    let s = server().await;
    s.get("/sl?id=1", &[DESKTOP, US]).await;
    let config = &s.config;
    let found = eventually(Duration::from_millis(2500), async || {
        !config.click_records().is_empty()
    })
    .await;
    assert!(
        found,
        "no record reached the disk within the flush interval"
    );
    s.stop().await;
}

/// Regression: the catalog refused `priority: 0`. Priorities are any signed 32-bit integer,
/// lower first, 0 and negative values included.
#[tokio::test]
async fn zero_and_negative_priorities_are_walked_first() {
    let network = NETWORK.replace(
        r#"{"offer_id": 11, "priority": 1, "countries": ["US"]},
       {"offer_id": 13, "priority": 2},
       {"offer_id": 12, "priority": 3}"#,
        r#"{"offer_id": 11, "priority": 0, "countries": ["US"]},
       {"offer_id": 13, "priority": -2147483648, "countries": ["GB"]},
       {"offer_id": 12, "priority": 2147483647}"#,
    );
    assert_ne!(network, NETWORK);
    let s = TestServer::start(TestConfig::new(&network).geo("GeoIP2-Country-Test.mmdb")).await;
    let r = s.get("/sl?id=1", &[DESKTOP, GB]).await;
    assert_eq!(r.location(), "https://o13.example/");
    let r = s.get("/sl?id=1", &[DESKTOP, US]).await;
    assert!(
        r.location().starts_with("https://o11.example/"),
        "{}",
        r.location()
    );
    let r = s.get("/sl?id=1", &[DESKTOP]).await;
    assert_eq!(r.location(), "https://o12.example/?s2=");
    let rec = s.records();
    let priorities: Vec<_> = rec.iter().map(|r| r["priority"].as_i64()).collect();
    assert_eq!(priorities, [Some(-2147483648), Some(0), Some(2147483647)]);
    s.stop().await;
}

/// Click logs are kept `records.click_log_retention_hours`; older hourly files are deleted
/// whole, off the request path, at start and at each new hour.
#[tokio::test]
async fn click_logs_older_than_the_retention_are_deleted() {
    let config = TestConfig::new(NETWORK).section("[records]\nclick_log_retention_hours = 24");
    std::fs::create_dir_all(config.state_dir()).unwrap();
    let hour = utc_hour();
    let dir = config.state_dir();
    let file = |ago: u64| dir.join(smartlink::files::hourly_name("clicks", hour - ago));
    for ago in [200, 24, 23] {
        std::fs::write(file(ago), "{}\n").unwrap();
    }
    let s = TestServer::start(config).await;
    assert_eq!(
        s.get("/sl?id=4", &[DESKTOP]).await.status,
        StatusCode::FOUND
    );
    s.state.records.sync();
    let gone = |ago: u64| !file(ago).exists();
    assert!(
        eventually(Duration::from_secs(5), async || gone(200) && gone(24)).await,
        "expired files deleted"
    );
    assert!(file(23).exists(), "inside the 24 hours: kept");
    s.stop().await;
}
