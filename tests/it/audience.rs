//! Targeting on what the GeoIP databases, the user agent, the query and the clock say of a
//! click: `regions` (a City database), `browsers`, `asns` (`geoip.asn_database`), `params`
//! (sub ids), `schedule` (in `tracking.timezone`) and anonymous traffic
//! (`geoip.anonymous_database`, `exclude_anonymous`, `routing.anonymous`), over HTTP, in
//! the route explanation and in `smartlink check`. Network: links 35–39 of
//! `tests/fixtures/networks/targeting.json`.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

const NETWORK: &str = include_str!("../fixtures/networks/targeting.json");
const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";

fn config() -> TestConfig {
    TestConfig::new(NETWORK).geo("GeoIP2-City-Test.mmdb")
}

/// The host a desktop Chrome click on `target` from `ip` is sent to.
async fn host_from(s: &TestServer, target: &str, ip: &str) -> String {
    host_with(s, target, &[DESKTOP, ("x-forwarded-for", ip)]).await
}

async fn host_with(s: &TestServer, target: &str, headers: &[(&str, &str)]) -> String {
    let r = s.get(target, headers).await;
    assert_eq!(r.status, StatusCode::FOUND, "{target}: {}", r.body);
    crate::caps::host(r.location()).to_string()
}

#[tokio::test]
async fn regions_are_the_first_subdivision_of_a_city_database() {
    let s = TestServer::start(config()).await;
    for (ip, expected) in [
        ("216.160.83.56", "o41.example"), // US-WA
        ("81.2.69.142", "o49.example"),   // GB-ENG: excluded from 42
        ("89.160.20.128", "o42.example"), // SE-E
        ("10.1.2.3", "o42.example"),      // no record: no include holds, no exclude either
    ] {
        assert_eq!(host_from(&s, "/sl?id=35", ip).await, expected, "{ip}");
    }
    s.stop().await;
}

#[tokio::test]
async fn browsers_from_the_user_agent() {
    let s = TestServer::start(config()).await;
    for (ua, expected) in [
        (FIREFOX, "o41.example"),
        (EDGE, "o41.example"),
        (CHROME_WINDOWS, "o49.example"),
        (SAFARI_MAC, "o42.example"),
        (IPHONE, "o42.example"),
    ] {
        let got = host_with(&s, "/sl?id=36", &[("user-agent", ua)]).await;
        assert_eq!(got, expected, "{ua}");
    }
    s.stop().await;
}

#[tokio::test]
async fn asns_need_the_asn_database() {
    let s = TestServer::start(config().geoip("asn_database", "GeoLite2-ASN-Test.mmdb")).await;
    for (ip, expected) in [
        ("1.0.0.1", "o41.example"),    // AS15169
        ("12.81.92.7", "o49.example"), // AS7018, excluded from 42
        ("10.1.2.3", "o42.example"),   // no record
    ] {
        assert_eq!(host_from(&s, "/sl?id=37", ip).await, expected, "{ip}");
    }
    s.stop().await;
    // Without the database no click has an ASN: the include never holds, the exclude never
    // turns a click away.
    let s = TestServer::start(config()).await;
    assert_eq!(host_from(&s, "/sl?id=37", "1.0.0.1").await, "o42.example");
    assert_eq!(
        host_from(&s, "/sl?id=37", "12.81.92.7").await,
        "o42.example"
    );
    s.stop().await;
}

#[tokio::test]
async fn params_match_exact_values_and_prefixes_of_sub_ids() {
    let s = TestServer::start(config()).await;
    for (query, expected) in [
        ("s1=fb", "o41.example"),
        ("s1=google_search", "o41.example"),
        ("s1=google", "o41.example"),
        ("s1=go", "o42.example"),
        ("s1=FB", "o42.example"),
        ("s1=fb&s2=botfarm", "o41.example"),
        ("s2=botfarm", "o49.example"),
        ("s2=bo", "o42.example"),
        ("s1=", "o42.example"),
        ("", "o42.example"),
    ] {
        let target = format!("/sl?id=38&{query}");
        assert_eq!(
            host_with(&s, &target, &[DESKTOP]).await,
            expected,
            "{query}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn anonymous_clicks_skip_excluding_attachments_and_offers() {
    let s =
        TestServer::start(config().geoip("anonymous_database", "GeoIP2-Anonymous-IP-Test.mmdb"))
            .await;
    // 1.2.0.1 is a VPN, 71.160.223.9 a hosting provider, 65.0.0.1 a Tor exit: attachment
    // 41 and offer 45 exclude them. 6.1.0.4 is only a residential proxy: not anonymous.
    for (ip, expected) in [
        ("1.2.0.1", "o49.example"),
        ("71.160.223.9", "o49.example"),
        ("65.0.0.1", "o49.example"),
        ("6.1.0.4", "o41.example"),
        ("8.8.8.8", "o41.example"),
    ] {
        assert_eq!(host_from(&s, "/sl?id=39", ip).await, expected, "{ip}");
    }
    s.stop().await;
}

#[tokio::test]
async fn anonymous_clicks_go_to_the_fallback_when_configured_and_are_counted_apart() {
    let s = TestServer::start(
        config()
            .geoip("anonymous_database", "GeoIP2-Anonymous-IP-Test.mmdb")
            .section("[routing]\nanonymous = \"fallback\""),
    )
    .await;
    let r = s
        .get("/sl?id=39", &[DESKTOP, ("x-forwarded-for", "186.30.236.9")])
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(crate::caps::host(r.location()), "default.example");
    assert_eq!(host_from(&s, "/sl?id=39", "8.8.8.8").await, "o41.example");
    let stats = smartlink::stats::link(s.state.snapshot().table.link(39).unwrap(), &s.state.counts);
    assert_eq!(
        (
            stats.totals.clicks,
            stats.totals.routed,
            stats.totals.fallback.anonymous
        ),
        (2, 1, 1)
    );
    let metrics = s.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains("smartlink_clicks_total{outcome=\"fallback\",reason=\"anonymous\"} 1\n"),
        "{metrics}"
    );
    let records = s.records();
    assert!(
        records.iter().any(|r| r["fallback_reason"] == "anonymous"),
        "{records:?}"
    );
    s.stop().await;
}

/// A `schedule` window of `minutes` minutes starting `offset` minutes from `now`, in
/// `zone`, as the catalog writes it.
fn window(zone: &str, now: jiff::Timestamp, offset: i64, minutes: i64) -> Value {
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let start = (now + jiff::SignedDuration::from_mins(offset)).to_zoned(tz.clone());
    let end = (now + jiff::SignedDuration::from_mins(offset + minutes)).to_zoned(tz);
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [start.weekday().to_monday_zero_offset() as usize];
    json!({"days": [day], "from": start.strftime("%H:%M").to_string(), "to": end.strftime("%H:%M").to_string()})
}

#[tokio::test]
async fn schedules_route_on_the_current_local_time_and_change_through_the_api() {
    let zone = "Asia/Kolkata";
    let now = jiff::Timestamp::now();
    let network = json!({
        "affiliates": [{"affiliate_id": 1, "affiliate_name": "A"}],
        "offers": [
            {"offer_id": 1, "offer_name": "Now", "offer_status": "active", "offer_url": "https://now.example/"},
            {"offer_id": 2, "offer_name": "Later", "offer_status": "active", "offer_url": "https://later.example/"},
            {"offer_id": 3, "offer_name": "Any time", "offer_status": "active", "offer_url": "https://any.example/"}
        ],
        "smart_links": [{"smart_link_id": 1, "smart_link_name": "L", "affiliate_id": 1,
            "smart_link_status": "active", "offers": [
                {"offer_id": 1, "priority": 1, "schedule": [window(zone, now, -30, 60)]},
                {"offer_id": 2, "priority": 2, "schedule": [window(zone, now, 120, 60)]},
                {"offer_id": 3, "priority": 3}
            ]}]
    });
    let s = TestServer::start(
        TestConfig::new(&network.to_string()).tracking(&format!("timezone = {zone:?}")),
    )
    .await;
    assert_eq!(host_with(&s, "/sl?id=1", &[DESKTOP]).await, "now.example");
    // Move offer 1's window two hours into the past (JSON text, as a form body sends it).
    let past = Value::from(vec![window(zone, now, -180, 60)]).to_string();
    let form = format!(
        "api_key={API_KEY}&smart_link_id=1&offer_id=1&schedule={}",
        percent_encoding::utf8_percent_encode(&past, percent_encoding::NON_ALPHANUMERIC)
    );
    let r = s.post_form("/api/2/smart_link_offer.json", &form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(host_with(&s, "/sl?id=1", &[DESKTOP]).await, "any.example");
    let listed = s
        .get(
            &format!("/api/2/smart_link_offers.json?api_key={API_KEY}&smart_link_id=1"),
            &[],
        )
        .await;
    let listed: Value = serde_json::from_str(&listed.body).unwrap();
    let text = listed.to_string();
    assert!(text.contains(&past[1..past.len() - 1]), "{text}");
    s.stop().await;
}

#[test]
fn schedules_are_local_wall_clock_windows_across_dst_and_midnight() {
    let network = json!({
        "affiliates": [{"affiliate_id": 1, "affiliate_name": "A"}],
        "offers": [
            {"offer_id": 1, "offer_name": "Early Sunday", "offer_status": "active", "offer_url": "https://one.example/"},
            {"offer_id": 2, "offer_name": "Saturday night", "offer_status": "active", "offer_url": "https://two.example/"},
            {"offer_id": 3, "offer_name": "Any time", "offer_status": "active", "offer_url": "https://any.example/"}
        ],
        "smart_links": [{"smart_link_id": 1, "smart_link_name": "L", "affiliate_id": 1,
            "smart_link_status": "active", "offers": [
                {"offer_id": 1, "priority": 1, "schedule": [{"days": ["sun"], "from": "03:00", "to": "04:00"}]},
                {"offer_id": 2, "priority": 2, "schedule": [
                    {"days": ["sat"], "from": "22:00", "to": "02:00"},
                    {"days": ["sun"], "from": "23:00", "to": "00:30"}
                ]},
                {"offer_id": 3, "priority": 3}
            ]}]
    });
    let config = TestConfig::new(&network.to_string()).tracking("timezone = \"America/New_York\"");
    let path = config.write();
    // 2026-03-08 is a Sunday: at 07:00 UTC New York goes from 02:00 EST to 03:00 EDT.
    for (at, offer) in [
        ("2026-03-08T06:30:00Z", 2), // Sunday 01:30 EST: Saturday's window, across midnight
        ("2026-03-08T07:30:00Z", 1), // Sunday 03:30 EDT (08:30 UTC would be EST 03:30)
        ("2026-03-08T08:30:00Z", 3), // Sunday 04:30 EDT
        ("2026-03-08T02:30:00Z", 3), // Saturday 21:30 EST
        ("2026-03-09T04:15:00Z", 2), // Monday 00:15 EDT: Sunday's window runs into Monday
        ("2026-03-09T04:45:00Z", 3), // Monday 00:45 EDT
    ] {
        let (chosen, _) = route(&path, CHROME_WINDOWS, "1", &["--at", at]);
        assert_eq!(chosen, offer, "{at}");
    }
    let (_, reasons) = route(
        &path,
        CHROME_WINDOWS,
        "1",
        &["--at", "2026-03-08T02:30:00Z"],
    );
    assert_eq!(reasons, ["outside_schedule", "outside_schedule", "chosen"]);
}

#[test]
fn the_explanation_names_the_failed_condition() {
    let config = config()
        .geoip("asn_database", "GeoLite2-ASN-Test.mmdb")
        .geoip("anonymous_database", "GeoIP2-Anonymous-IP-Test.mmdb");
    let path = config.write();
    let xff = |ip: &str| format!("X-Forwarded-For: {ip}");
    let cases: [(&str, Vec<String>, [&str; 3]); 6] = [
        (
            "35",
            vec!["--header".into(), xff("81.2.69.142")],
            ["region_mismatch", "region_excluded", "chosen"],
        ),
        (
            "35",
            vec!["--header".into(), xff("10.1.2.3")],
            ["unknown_region", "chosen", "not_reached"],
        ),
        (
            "36",
            vec![],
            ["browser_mismatch", "browser_excluded", "chosen"],
        ),
        (
            "37",
            vec!["--header".into(), xff("12.81.92.7")],
            ["asn_mismatch", "asn_excluded", "chosen"],
        ),
        (
            "38",
            vec![
                "--sub".into(),
                "s1=go".into(),
                "--sub".into(),
                "s2=bot1".into(),
            ],
            ["param_mismatch", "param_excluded", "chosen"],
        ),
        (
            "39",
            vec!["--header".into(), xff("1.2.0.1")],
            ["anonymous_excluded", "anonymous_excluded", "chosen"],
        ),
    ];
    for (link, args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, reasons) = route(&path, CHROME_WINDOWS, link, &args);
        assert_eq!(reasons, expected, "link {link} {args:?}");
    }
    let (_, reasons) = route(&path, CHROME_WINDOWS, "38", &[]);
    assert_eq!(reasons[0], "missing_param");
}

/// `smartlink check` on `network` (a City database, plus `config`'s): exit code and output.
fn check(network: &str, config: impl FnOnce(TestConfig) -> TestConfig) -> (Option<i32>, String) {
    let config = config(TestConfig::new(network));
    let path = config.write();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .args(["check", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn check_refuses_malformed_values_with_their_place() {
    let bad = NETWORK
        .replace("\"US-WA\", \"US-CA\"", "\"US-XX\", \"USA-CA\"")
        .replace("[\"firefox\", \"edge\"]", "[\"netscape\"]")
        .replace("[15169]", "[0, \"ASX\"]")
        .replace("{\"s1\": [\"fb\", \"google*\"]}", "{\"s9\": [\"x\"], \"s1\": [\"\"]}")
        .replace("\"10.0.0.0/8\"", "\"10.0.0.0/33\"")
        .replace(
            "{\"offer_id\": 49, \"priority\": 3}\n    ]},\n    {\"smart_link_id\": 39",
            "{\"offer_id\": 49, \"priority\": 3, \"schedule\": [{\"days\": [\"mon\"], \"from\": \"25:00\", \"to\": \"10:61\"}, {\"days\": [\"monday\"], \"from\": \"09:00\", \"to\": \"10:00\"}]}\n    ]},\n    {\"smart_link_id\": 39",
        )
        .replace("\"exclude_anonymous\": true}", "\"exclude_anonymous\": \"yes\"}");
    let (code, text) = check(&bad, |c| c.geo("GeoIP2-City-Test.mmdb"));
    assert_eq!(code, Some(1), "{text}");
    for expected in [
        "smart_links[4].offers[0].regions[0]: \"US-XX\" is not an ISO 3166-2 subdivision code",
        "smart_links[4].offers[0].regions[1]",
        "smart_links[5].offers[0].browsers[0]: \"netscape\" is not a browser family",
        "smart_links[6].offers[0].asns[0]",
        "smart_links[6].offers[0].asns[1]",
        "smart_links[7].offers[0].params.s9",
        "smart_links[7].offers[0].params.s1[0]",
        "smart_links[0].offers[0].ip_ranges[0]",
        "smart_links[7].offers[2].schedule[0]: from: \"25:00\" is not a time of day",
        "smart_links[7].offers[2].schedule[1]: days",
        "smart_links[8].offers[0].exclude_anonymous: must be true or false",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
}

#[test]
fn check_warns_about_conditions_that_can_never_match() {
    let network = NETWORK
        .replace(
            "{\"offer_id\": 49, \"priority\": 3}\n    ]},\n    {\"smart_link_id\": 37",
            "{\"offer_id\": 49, \"priority\": 3, \"schedule\": [{\"from\": \"10:00\", \"to\": \"10:00\"}]}\n    ]},\n    {\"smart_link_id\": 37",
        )
        .replace(
            "{\"offer_id\": 45, \"priority\": 2}",
            "{\"offer_id\": 45, \"priority\": 2, \"browsers\": [\"firefox\"]}",
        );
    // A Country database: no regions; no ASN or anonymous database.
    let (code, text) = check(&network, |c| c.geo("GeoIP2-Country-Test.mmdb"));
    assert_eq!(code, Some(0), "{text}");
    for expected in [
        "smart link 35 never routes to offer 41: its regions never matches: the GeoIP database has no regions",
        "smart link 35, offer 42: its exclude_regions never turns a click away",
        "smart link 37 never routes to offer 41: its asns never matches: no geoip.asn_database is configured",
        "smart link 39, offer 41: its exclude_anonymous never turns a click away: no geoip.anonymous_database",
        "smart link 36 never routes to offer 49: its schedule has no time in it",
        "smart link 39 never routes to offer 45: its browsers and the offer's allowed_browsers have nothing in common",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
    // An attachment whose own offer excludes every value it includes.
    let excluded = NETWORK.replace(
        "{\"offer_id\": 45, \"priority\": 2}",
        "{\"offer_id\": 45, \"priority\": 2, \"only_anonymous\": true}",
    );
    let (code, text) = check(&excluded, |c| {
        c.geo("GeoIP2-City-Test.mmdb")
            .geoip("anonymous_database", "GeoIP2-Anonymous-IP-Test.mmdb")
    });
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(
            "smart link 39 never routes to offer 45: every value of its only_anonymous is excluded"
        ),
        "{text}"
    );
    // The City database has regions: no region warning, and the summary counts them.
    assert!(!text.contains("regions never matches"), "{text}");
    let regions = text
        .split(" regions")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse::<u32>().ok());
    assert!(regions.is_some_and(|n| n > 0), "{text}");
}

#[tokio::test]
async fn the_api_sets_and_lists_the_new_conditions() {
    let s = TestServer::start(config()).await;
    let body = json!({"api_key": API_KEY, "smart_link_id": 34, "offer_id": 49,
            "regions": "US-CA,GB-ENG", "browsers": ["safari"], "asns": [15169, "AS7018"],
            "params": {"s3": ["news*"]}, "exclude_anonymous": true,
            "schedule": [{"days": ["mon", "fri"], "from": "09:00", "to": "17:30"}]});
    let r = s.post_json("/api/2/smart_link_offer.json", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let listed = s
        .get(
            &format!("/api/2/smart_link_offers.json?api_key={API_KEY}&smart_link_id=34"),
            &[],
        )
        .await;
    let listed: Value = serde_json::from_str(&listed.body).unwrap();
    let a = listed["response"]["offers"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["offer_id"] == 49))
        .cloned()
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(a["regions"], json!(["US-CA", "GB-ENG"]), "{a}");
    assert_eq!(a["browsers"], json!(["safari"]), "{a}");
    assert_eq!(a["asns"], json!([15169, "AS7018"]), "{a}");
    assert_eq!(a["params"], json!({"s3": ["news*"]}), "{a}");
    assert_eq!(a["exclude_anonymous"], true, "{a}");
    assert_eq!(a["schedule"][0]["to"], "17:30", "{a}");
    // A region code of the documented form that ISO 3166-2 does not assign: 422.
    let bad = json!({"api_key": API_KEY, "offer_id": 49, "allowed_regions": ["US-XX"]});
    let r = s.post_json("/api/2/update_offer.json", &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("\"field\":\"allowed_regions\""),
        "{}",
        r.body
    );
    for (field, value) in [
        ("allowed_regions", json!(["US-X_"])),
        ("allowed_params", json!({"s6": ["x"]})),
        (
            "allowed_schedule",
            json!([{"from": "25:00", "to": "10:00"}]),
        ),
        ("blocked_asns", json!([-1])),
        ("exclude_anonymous", json!("perhaps")),
    ] {
        let bad = json!({"api_key": API_KEY, "offer_id": 49, field: value});
        let r = s.post_json("/api/2/update_offer.json", &bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.body);
        assert!(
            r.body.contains(&format!("\"field\":\"{field}\"")),
            "{}",
            r.body
        );
    }
    s.stop().await;
}

/// A blocking desktop click on `target` from `ip`: status and `Location`.
fn redirect(addr: std::net::SocketAddr, target: &str, ip: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\nUser-Agent: {CHROME_WINDOWS}\r\nX-Forwarded-For: {ip}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let status = reply.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let location = reply
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or_default()
        .to_string();
    (status, location)
}

#[test]
fn sighup_reopens_the_asn_database_and_keeps_the_old_one_when_the_new_is_bad() {
    let mut config = config();
    let db = config.dir.path().join("asn.mmdb");
    std::fs::copy(fixture("geo/GeoLite2-ASN-Test.mmdb"), &db).unwrap();
    config.geo_more.push(format!("asn_database = {db:?}"));
    let bin = Binary::start(&config.write());
    let host = || {
        let (status, location) = redirect(bin.addr, "/sl?id=37", "1.0.0.1");
        assert_eq!(status, 302);
        crate::caps::host(&location).to_string()
    };
    assert_eq!(host(), "o41.example", "AS15169");
    let replace = |with: &str| {
        let tmp = config.dir.path().join("new.mmdb");
        std::fs::copy(fixture(with), &tmp).unwrap();
        std::fs::rename(&tmp, &db).unwrap();
        bin.signal(libc::SIGHUP);
    };
    // A database of another kind, then a corrupt one: each reload fails, the old one serves.
    replace("geo/GeoIP2-Country-Test.mmdb");
    assert!(wait_for(Duration::from_secs(10), || metric(
        bin.addr,
        "smartlink_reload_failures_total"
    ) == Some(1.0)));
    assert!(
        bin.log().contains("autonomous_system_number"),
        "{}",
        bin.log()
    );
    replace("geo/MaxMind-DB-test-broken-pointers-24.mmdb");
    assert!(wait_for(Duration::from_secs(10), || metric(
        bin.addr,
        "smartlink_reload_failures_total"
    ) == Some(2.0)));
    assert_eq!(host(), "o41.example");
    // The ISP database (same schema) has no record of 1.0.0.1: after the reload it has no ASN.
    replace("geo/GeoIP2-ISP-Test.mmdb");
    assert!(wait_for(Duration::from_secs(10), || metric(
        bin.addr,
        "smartlink_table_generation"
    ) == Some(2.0)));
    assert_eq!(host(), "o42.example");
}
