//! The operator console's server side (docs/console.md): its files on the admin listener
//! with their security headers and hashed, immutable names; sign-in, the session cookie and
//! sign-out; the sign-in limit; the anti-CSRF token and `Origin` check of cookie writes;
//! read-only keys; and the API calls its pages read (the network and a link by hour, offer
//! statistics, the audit log, the nodes, smart-link search). The pages themselves are tested
//! in a real browser: `tests/console/`.

use std::io::Read as _;
use std::time::Duration;

use serde_json::{Value, json};
use smartlink::api::calls::CALLS;

use crate::common::*;

pub const CONSOLE: &str = include_str!("../fixtures/networks/console.json");
const READ_KEY: &str = "integration-test-read-key";

/// Settings with an admin key and a read-only key, the GeoIP test database, and `more`.
fn config(more: &[&str]) -> TestConfig {
    let mut c = TestConfig::new(CONSOLE)
        .geo("GeoIP2-Country-Test.mmdb")
        .section(&format!(
            "[api]\nkeys = [{API_KEY:?}]\nread_keys = [{READ_KEY:?}]"
        ));
    for m in more {
        c = c.section(m);
    }
    c
}

/// The value of the series `line` (a name with its labels) in `/metrics`.
async fn metric_line(s: &TestServer, line: &str) -> f64 {
    let r = s.get("/metrics", &[]).await;
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(line).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{line} is not in /metrics"))
}

#[tokio::test]
async fn the_console_is_served_on_the_admin_listener_with_its_security_headers() {
    let s = TestServer::start(config(&[]).server(r#"admin_listen = "127.0.0.1:0""#)).await;
    let admin = s.admin.expect("an admin listener");
    let page = request(admin, "GET", "/console/", &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(page.header("cache-control"), "no-cache");
    let csp = page.header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    // Every file the page names: hashed, immutable, with its type; gzipped when asked.
    let files: Vec<&str> = page
        .body
        .split('"')
        .filter(|p| p.starts_with("/console/assets/"))
        .collect();
    assert_eq!(files.len(), 15, "{}", page.body);
    for file in files {
        let plain = request(admin, "GET", file, &[]).await;
        assert_eq!(plain.status, 200, "{file}");
        assert_eq!(
            plain.header("cache-control"),
            "public, max-age=31536000, immutable",
            "{file}"
        );
        assert!(plain.header("content-security-policy").contains("'self'"));
        let ext = file.rsplit('.').next().unwrap();
        let ty = match ext {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("unexpected file type {other}"),
        };
        assert_eq!(plain.header("content-type"), ty, "{file}");
        let gz = Client::connect(admin)
            .await
            .send("GET", file, &[("accept-encoding", "gzip, br")])
            .await;
        if gz.header("content-encoding") == "gzip" {
            assert_eq!(gz.header("vary"), "accept-encoding");
        }
    }
    // A changed file would have another name: an old name is simply not there.
    let stale = request(admin, "GET", "/console/assets/core.0000000000.js", &[]).await;
    assert_eq!(stale.status, 404);
    assert!(stale.header("content-security-policy").contains("'none'"));
    let redirect = request(admin, "GET", "/console", &[]).await;
    assert_eq!(
        (redirect.status.as_u16(), redirect.location()),
        (308, "/console/")
    );
    let post = request(admin, "POST", "/console/", &[]).await;
    assert_eq!(
        (post.status.as_u16(), post.header("allow")),
        (405, "GET, HEAD")
    );
    // Not on the public listener, which serves clicks only.
    assert_eq!(request(s.addr, "GET", "/console/", &[]).await.status, 404);
    s.stop().await;
}

/// The gzip copy is the file, and smaller.
#[tokio::test]
async fn console_files_are_gzipped_for_clients_that_take_it() {
    let s = TestServer::start(config(&[])).await;
    let page = request(s.addr, "GET", "/console/", &[]).await;
    let core = page
        .body
        .split('"')
        .find(|p| p.starts_with("/console/assets/core."))
        .expect("core.js on the page")
        .to_string();
    let plain = request(s.addr, "GET", &core, &[]).await;
    let raw = {
        use std::io::Write as _;
        let mut stream = std::net::TcpStream::connect(s.addr).unwrap();
        write!(
            stream,
            "GET {core} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut bytes = Vec::new();
        tokio::task::spawn_blocking(move || {
            stream.read_to_end(&mut bytes).unwrap();
            bytes
        })
        .await
        .unwrap()
    };
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let body = &raw[split + 4..];
    assert!(body.len() < plain.body.len() / 2, "gzip pays");
    let mut unpacked = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, plain.body);
    s.stop().await;
}

#[tokio::test]
async fn console_enabled_false_turns_the_console_and_its_sign_in_off() {
    let s = TestServer::start(config(&["[console]\nenabled = false"])).await;
    assert_eq!(request(s.addr, "GET", "/console/", &[]).await.status, 404);
    let r = s
        .post_json("/api/2/sign_in.json", &json!({"api_key": API_KEY}))
        .await;
    failure(&r, 404, None);
    assert!(r.header("set-cookie").is_empty());
    // The API itself is untouched.
    ok(&api_get(&s, "offers.json", &[]).await);
    s.stop().await;
}

#[tokio::test]
async fn a_sign_in_exchanges_a_key_for_a_session_cookie_and_sign_out_revokes_it() {
    let s = TestServer::start(config(&[])).await;
    let r = s
        .post_json("/api/2/sign_in.json", &json!({"api_key": API_KEY}))
        .await;
    let body = ok(&r);
    let cookie = r.header("set-cookie");
    assert!(cookie.starts_with("smartlink_session="), "{cookie}");
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/2/",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert_eq!(body["response"]["role"], "admin");
    assert_eq!(
        body["response"]["key"],
        smartlink::audit::fingerprint(API_KEY)
    );
    assert!(
        !r.body.contains(API_KEY),
        "the key is never echoed: {}",
        r.body
    );
    let session = sign_in(s.addr, API_KEY).await;
    let me = ok(&session.get(s.addr, "session.json", "").await);
    assert_eq!(me["response"]["signed_in"], true);
    assert_eq!(me["response"]["csrf_token"], session.csrf);
    // The cookie stands for the key: reads need no api_key.
    ok(&session.get(s.addr, "offers.json", "").await);
    let out = session.write(s.addr, "sign_out.json", &json!({})).await;
    ok(&out);
    assert!(out.header("set-cookie").contains("Max-Age=0"), "{out:?}");
    let after = ok(&session.get(s.addr, "session.json", "").await);
    assert_eq!(after["response"], json!({"signed_in": false}));
    failure(&session.get(s.addr, "offers.json", "").await, 401, None);
    let write = session
        .write(
            s.addr,
            "update_affiliate.json",
            &json!({"affiliate_id": 100, "affiliate_name": "Signed out"}),
        )
        .await;
    failure(&write, 401, None);
    // A forged or garbled cookie is no session either.
    let forged = request(
        s.addr,
        "GET",
        "/api/2/offers.json",
        &[("cookie", "smartlink_session=AAAA.BBBB")],
    )
    .await;
    failure(&forged, 401, None);
    assert_eq!(
        metric_line(&s, "smartlink_console_sign_ins_total{result=\"signed_in\"}").await,
        2.0
    );
    assert!(
        metric_line(
            &s,
            "smartlink_console_session_refusals_total{reason=\"revoked\"}"
        )
        .await
            >= 2.0
    );
    assert!(
        metric_line(
            &s,
            "smartlink_console_session_refusals_total{reason=\"invalid\"}"
        )
        .await
            >= 1.0
    );
    s.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_secure_over_https_or_when_the_settings_say_so() {
    let sign_in_cookie = async |s: &TestServer, headers: &[(&str, &str)]| {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        let r = Client::connect(s.addr)
            .await
            .send_body(
                "POST",
                "/api/2/sign_in.json",
                &all,
                json!({"api_key": API_KEY}).to_string().as_bytes(),
            )
            .await;
        ok(&r);
        r.header("set-cookie").to_string()
    };
    let s = TestServer::start(config(&[])).await;
    // Loopback is a trusted proxy in the test settings: its word about https counts.
    let https = sign_in_cookie(&s, &[("x-forwarded-proto", "https")]).await;
    assert!(https.ends_with("; Secure"), "{https}");
    assert!(!sign_in_cookie(&s, &[]).await.contains("Secure"));
    s.stop().await;
    let untrusted = TestServer::start(config(&[]).server("trusted_proxies = []")).await;
    let c = sign_in_cookie(&untrusted, &[("x-forwarded-proto", "https")]).await;
    assert!(!c.contains("Secure"), "a client's own header: {c}");
    untrusted.stop().await;
    let always = TestServer::start(config(&["[console]\nsecure_cookie = true"])).await;
    assert!(sign_in_cookie(&always, &[]).await.ends_with("; Secure"));
    always.stop().await;
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_client_and_counted() {
    let s = TestServer::start(config(&["[console]\nsign_in_attempts_per_minute = 3"])).await;
    let attempt = async |key: &str, from: &str| {
        Client::connect(s.addr)
            .await
            .send_body(
                "POST",
                "/api/2/sign_in.json",
                &[
                    ("content-type", "application/json"),
                    ("x-forwarded-for", from),
                ],
                json!({"api_key": key}).to_string().as_bytes(),
            )
            .await
    };
    for _ in 0..3 {
        failure(&attempt("guess", "203.0.113.5").await, 401, Some("api_key"));
    }
    let limited = attempt(API_KEY, "203.0.113.5").await;
    failure(&limited, 429, Some("api_key"));
    assert_eq!(limited.header("retry-after"), "60");
    assert!(limited.header("set-cookie").is_empty());
    ok(&attempt(API_KEY, "203.0.113.6").await);
    assert_eq!(
        metric_line(&s, "smartlink_console_sign_ins_total{result=\"bad_key\"}").await,
        3.0
    );
    assert_eq!(
        metric_line(&s, "smartlink_console_sign_ins_total{result=\"limited\"}").await,
        1.0
    );
    s.stop().await;
}

#[tokio::test]
async fn cookie_writes_need_the_sessions_csrf_token_and_the_consoles_origin() {
    let s = TestServer::start(config(&[])).await;
    let session = sign_in(s.addr, API_KEY).await;
    let other = sign_in(s.addr, API_KEY).await;
    let rename = json!({"affiliate_id": 100, "affiliate_name": "Cross-site"});
    let before = on_disk(&s);
    for (headers, what) in [
        (vec![("origin", "http://localhost")], "no token"),
        (vec![("x-csrf-token", session.csrf.as_str())], "no Origin"),
        (
            vec![
                ("x-csrf-token", session.csrf.as_str()),
                ("origin", "http://evil.example"),
            ],
            "another origin",
        ),
        (
            vec![
                ("x-csrf-token", other.csrf.as_str()),
                ("origin", "http://localhost"),
            ],
            "another session's token",
        ),
    ] {
        let r = session
            .post(s.addr, "update_affiliate.json", &rename, &headers)
            .await;
        failure(&r, 403, None);
        assert!(r.body.contains("X-CSRF-Token"), "{what}: {}", r.body);
    }
    // A cross-site HTML form: form-encoded, the other site's Origin, no token.
    let form = Client::connect(s.addr)
        .await
        .send_body(
            "POST",
            "/api/2/update_affiliate.json",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", &session.cookie),
                ("origin", "https://evil.example"),
            ],
            b"affiliate_id=100&affiliate_name=Cross-site",
        )
        .await;
    failure(&form, 403, None);
    assert_eq!(on_disk(&s), before, "nothing changed");
    assert_eq!(
        metric_line(
            &s,
            "smartlink_console_session_refusals_total{reason=\"csrf\"}"
        )
        .await,
        5.0
    );
    ok(&session
        .write(s.addr, "update_affiliate.json", &rename)
        .await);
    assert_eq!(
        disk_entity(&s, "affiliates", "affiliate_id", 100).unwrap()["affiliate_name"],
        "Cross-site"
    );
    s.stop().await;
}

/// A call of each read, with what it requires.
fn reads() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    CALLS
        .iter()
        .filter(|c| c.method == http::Method::GET && !c.needs_session())
        .map(|c| {
            let args = c
                .params
                .iter()
                .filter(|p| p.presence == smartlink::api::params::Presence::Required)
                .map(|p| match p.name {
                    "smart_link_id" => ("smart_link_id", "301"),
                    "affiliate_id" => ("affiliate_id", "100"),
                    other => panic!("no value for {other} of {}", c.name),
                })
                .collect();
            (c.name, args)
        })
        .collect()
}

#[tokio::test]
async fn read_only_keys_read_everything_and_every_write_is_refused_counted_and_audited() {
    let s = TestServer::start(config(&[])).await;
    for (call, args) in reads() {
        let q = query(Some(READ_KEY), &args);
        ok(&s.get(&format!("/api/2/{call}?{q}"), &[]).await);
    }
    let before = std::fs::read(s.config.catalog_path()).unwrap();
    let writes: Vec<&str> = CALLS
        .iter()
        .filter(|c| c.writes())
        .map(|c| c.name)
        .collect();
    assert!(writes.len() >= 15, "{writes:?}");
    for call in &writes {
        // Refused whatever the parameters: one that checks, one that does not.
        let r = s
            .post_json(
                &format!("/api/2/{call}"),
                &json!({"api_key": READ_KEY, "smart_link_id": 301}),
            )
            .await;
        failure(&r, 403, None);
        assert!(r.body.contains("read-only"), "{call}: {}", r.body);
    }
    let batch = json!({"api_key": READ_KEY, "calls": [
        {"call": "update_affiliate.json", "params": {"affiliate_id": 100, "affiliate_name": "X"}}
    ]});
    failure(&s.post_json("/api/2/batch.json", &batch).await, 403, None);
    // Through the console too.
    let session = sign_in(s.addr, READ_KEY).await;
    let me = ok(&session.get(s.addr, "session.json", "").await);
    assert_eq!(me["response"]["role"], "read_only");
    ok(&session.get(s.addr, "network_stats.json", "").await);
    let r = session
        .write(
            s.addr,
            "update_affiliate.json",
            &json!({"affiliate_id": 100, "affiliate_name": "X"}),
        )
        .await;
    failure(&r, 403, None);
    assert_eq!(
        std::fs::read(s.config.catalog_path()).unwrap(),
        before,
        "nothing changed"
    );
    let refused = writes.len() + 2;
    assert_eq!(
        metric_line(&s, "smartlink_api_read_only_refusals_total ").await,
        refused as f64
    );
    let audit = ok(&api_get(&s, "audit.json", &[("row_limit", "500")]).await);
    let records = audit["response"]["records"].as_array().unwrap();
    assert_eq!(records.len(), refused, "{audit}");
    let fingerprint = smartlink::audit::fingerprint(READ_KEY);
    for r in records {
        assert_eq!(r["refused"], "read_only", "{r}");
        assert_eq!(r["key"], fingerprint.as_str(), "{r}");
    }
    // Newest first: the console's refused write, then the batch with its calls.
    assert_eq!(records[0]["call"], "update_affiliate.json");
    assert_eq!(records[1]["call"], "batch.json");
    assert_eq!(
        records[1]["params"]["calls"][0]["params"]["affiliate_name"],
        "X"
    );
    s.stop().await;
}

/// `n` clicks on `target` from a US desktop and, every fifth, a bot; and one conversion for
/// each routed click of offer 11 among the first four.
async fn traffic(s: &TestServer, target: &str, n: usize) -> usize {
    let mut converted = 0;
    for i in 0..n {
        let ua = if i % 5 == 4 { BOT } else { DESKTOP };
        let to = click(s, target, &[US, ua]).await;
        if i < 4 && to.starts_with("https://o11.example/") {
            let id = query_param(&to, "c").expect("click id");
            let r = s.get(&format!("/p?click_id={id}"), &[]).await;
            assert_eq!(r.body, "{\"status\":\"recorded\"}\n");
            converted += 1;
        }
    }
    converted
}

/// The last 24 hours as `from`/`to` (now's hour and the 23 before it).
fn last_day() -> [(&'static str, String); 2] {
    let hour = utc_hour() as i64;
    let at = |h: i64| jiff::Timestamp::from_second(h * 3600).unwrap().to_string();
    [("from", at(hour - 23)), ("to", at(hour + 1))]
}

async fn swept(s: &TestServer, clicks: u64) {
    let done = eventually(Duration::from_secs(5), async || {
        ok(&api_get(s, "network_stats.json", &[]).await)["response"]["totals"]["clicks"] == clicks
    })
    .await;
    assert!(done, "the saver sweeps the clicks into their hour");
}

#[tokio::test]
async fn network_stats_add_up_to_each_links_statistics_for_the_same_hours() {
    let s = TestServer::start(config(&[])).await;
    let converted = traffic(&s, "/sl?id=301", 40).await
        + traffic(&s, "/sl?id=302", 25).await
        + traffic(&s, "/sl?id=304", 5).await;
    let campaign = click(&s, "/rd/r.php?sid=98001", &[US, DESKTOP]).await;
    assert!(campaign.starts_with("https://o11.example/"), "{campaign}");
    swept(&s, 71).await;
    let [from, to] = last_day();
    let range = [("from", from.1.as_str()), ("to", to.1.as_str())];
    let net = ok(&api_get(&s, "network_stats.json", &range).await)["response"].clone();
    assert_eq!(net["hours"].as_array().unwrap().len(), 24);
    assert_eq!(net["from"], from.1.as_str());
    let sum = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum(&net["clicks"]), 71);
    assert_eq!(net["totals"]["clicks"], 71);
    assert_eq!(sum(&net["conversions"]), converted as u64);
    // Each link's statistics over the same hours, plus the campaign's click.
    let mut clicks = 1;
    let mut routed = 1;
    let mut bots = 0;
    for link in ["301", "302", "303", "304"] {
        let mut args = vec![("smart_link_id", link)];
        args.extend_from_slice(&range);
        let l = ok(&api_get(&s, "smart_link_stats.json", &args).await)["response"].clone();
        clicks += l["clicks"].as_u64().unwrap();
        routed += l["routed"].as_u64().unwrap();
        bots += l["fallback"]["bot"].as_u64().unwrap();
    }
    assert_eq!(net["totals"]["clicks"], clicks);
    assert_eq!(net["totals"]["routed"], routed);
    assert_eq!(sum(&net["routed"]), routed);
    assert_eq!(sum(&net["fallback"]["bot"]), bots);
    assert_eq!(net["totals"]["fallback"]["inactive"], 5);
    let top = net["top_smart_links"].as_array().unwrap();
    let ids: Vec<u64> = top
        .iter()
        .map(|l| l["smart_link_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [301, 302, 304], "by clicks, most first");
    assert_eq!(top[0]["smart_link_name"], "Finance Rotator - US");
    assert_eq!(top[0]["clicks"], 40);
    let offers = net["top_offers"].as_array().unwrap();
    assert_eq!(offers[0]["offer_name"], "Auto Insurance Quote - US");
    let one = ok(&api_get(&s, "network_stats.json", &[("top", "1")]).await);
    assert_eq!(
        one["response"]["top_smart_links"].as_array().unwrap().len(),
        1
    );
    // Ranges that cannot be read name the parameter: 400 for a value that is not a
    // date-time, 422 for two that name no range (from after to, more than 31 days).
    let (day_1, day_2, month_3) = (
        "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z",
        "2026-03-01T00:00:00Z",
    );
    for (args, status, field) in [
        (vec![("from", "yesterday")], 400, "from"),
        (vec![("to", "soon")], 400, "to"),
        (vec![("from", day_2), ("to", day_1)], 422, "from"),
        (vec![("from", day_1), ("to", month_3)], 422, "from"),
        (vec![("top", "0")], 400, "top"),
    ] {
        let r = api_get(&s, "network_stats.json", &args).await;
        failure(&r, status, Some(field));
    }
    s.stop().await;
}

#[tokio::test]
async fn a_links_hourly_series_sum_to_its_statistics_for_the_same_hours() {
    let s = TestServer::start(config(&[])).await;
    traffic(&s, "/sl?id=301", 30).await;
    swept(&s, 30).await;
    let [from, to] = last_day();
    let args = [
        ("smart_link_id", "301"),
        ("from", from.1.as_str()),
        ("to", to.1.as_str()),
    ];
    let hourly = ok(&api_get(&s, "smart_link_hourly.json", &args).await)["response"].clone();
    let stats = ok(&api_get(&s, "smart_link_stats.json", &args).await)["response"].clone();
    let sum = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum(&hourly["clicks"]), stats["clicks"].as_u64().unwrap());
    assert_eq!(sum(&hourly["routed"]), stats["routed"].as_u64().unwrap());
    assert_eq!(
        sum(&hourly["conversions"]),
        stats["conversions"].as_u64().unwrap()
    );
    for reason in ["bot", "no_match", "all_capped", "inactive", "anonymous"] {
        assert_eq!(
            sum(&hourly["fallback"][reason]),
            stats["fallback"][reason],
            "{reason}"
        );
    }
    let series = hourly["offers"].as_array().unwrap();
    let totals = stats["offers"].as_array().unwrap();
    assert_eq!(series.len(), 3);
    for (a, b) in series.iter().zip(totals) {
        assert_eq!(a["offer_id"], b["offer_id"]);
        assert_eq!(sum(&a["routed"]), b["routed"].as_u64().unwrap());
        assert_eq!(sum(&a["conversions"]), b["conversions"].as_u64().unwrap());
    }
    // Default: the last 24 hours.
    let default = ok(&api_get(&s, "smart_link_hourly.json", &[("smart_link_id", "301")]).await);
    assert_eq!(default["response"]["hours"], hourly["hours"]);
    failure(
        &api_get(&s, "smart_link_hourly.json", &[("smart_link_id", "999")]).await,
        404,
        Some("smart_link_id"),
    );
    s.stop().await;
}

#[tokio::test]
async fn offer_stats_give_each_offers_clicks_earnings_and_cap_state() {
    let s = TestServer::start(config(&[])).await;
    let converted = traffic(&s, "/sl?id=301", 20).await;
    let all = ok(&api_get(&s, "offer_stats.json", &[]).await)["response"]["offers"].clone();
    let offers = all.as_array().unwrap();
    assert_eq!(offers.len(), 5);
    let o11 = offers.iter().find(|o| o["offer_id"] == 11).unwrap();
    assert_eq!(o11["offer_name"], "Auto Insurance Quote - US");
    assert_eq!(o11["offer_status"], "active");
    assert_eq!(o11["conversions"], converted);
    let o12 = offers.iter().find(|o| o["offer_id"] == 12).unwrap();
    assert_eq!(
        o12["caps"],
        json!([{"cap": "daily_clicks", "limit": 100, "count": o12["clicks"]}])
    );
    let routed: u64 = offers.iter().map(|o| o["clicks"].as_u64().unwrap()).sum();
    let link = ok(&api_get(&s, "smart_link_stats.json", &[("smart_link_id", "301")]).await);
    assert_eq!(routed, link["response"]["routed"].as_u64().unwrap());
    let one = ok(&api_get(&s, "offer_stats.json", &[("offer_id", "12")]).await);
    assert_eq!(one["response"]["offers"], json!([o12]));
    let ranged = ok(&api_get(&s, "offer_stats.json", &[("from", "2026-01-01T00:00:00Z")]).await);
    assert!(ranged["response"]["offers"][0].get("caps").is_none());
    assert!(ranged["response"]["from"].is_string());
    failure(
        &api_get(&s, "offer_stats.json", &[("offer_id", "99")]).await,
        404,
        Some("offer_id"),
    );
    s.stop().await;
}

#[tokio::test]
async fn the_audit_log_is_read_newest_first_filtered_and_paged() {
    let s = TestServer::start(config(&[])).await;
    for name in ["One", "Two", "Three"] {
        ok(&api_post(
            &s,
            "update_affiliate.json",
            json!({"affiliate_id": 100, "affiliate_name": name}),
        )
        .await);
    }
    ok(&api_post(
        &s,
        "update_offer.json",
        json!({"offer_id": 13, "payout": "0.90"}),
    )
    .await);
    let read = async |args: &[(&str, &str)]| {
        ok(&api_get(&s, "audit.json", args).await)["response"].clone()
    };
    let all = read(&[]).await;
    assert_eq!(all["total_rows"], 4);
    let calls: Vec<&str> = all["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["call"].as_str().unwrap())
        .collect();
    assert_eq!(
        calls,
        [
            "update_offer.json",
            "update_affiliate.json",
            "update_affiliate.json",
            "update_affiliate.json"
        ]
    );
    assert_eq!(all["records"][1]["params"]["affiliate_name"], "Three");
    let affiliates = read(&[
        ("call", "update_affiliate.json"),
        ("row_limit", "1"),
        ("start_at_row", "2"),
    ])
    .await;
    assert_eq!(affiliates["total_rows"], 3);
    assert_eq!(affiliates["records"][0]["params"]["affiliate_name"], "Two");
    let fp = smartlink::audit::fingerprint(API_KEY);
    assert_eq!(read(&[("key", fp.as_str())]).await["total_rows"], 4);
    assert_eq!(read(&[("key", "000000000000")]).await["total_rows"], 0);
    assert_eq!(
        read(&[("since", "2999-01-01T00:00:00Z")]).await["total_rows"],
        0
    );
    assert_eq!(
        read(&[("until", "2999-01-01T00:00:00Z")]).await["total_rows"],
        4
    );
    failure(
        &api_get(&s, "audit.json", &[("since", "last week")]).await,
        400,
        Some("since"),
    );
    s.stop().await;
}

#[tokio::test]
async fn smart_links_are_searched_by_name_or_id_and_paged() {
    let s = TestServer::start(config(&[])).await;
    let search = async |args: &[(&str, &str)]| {
        let v = ok(&api_get(&s, "smart_links.json", args).await);
        (
            ids(&v, "smart_links", "smart_link_id"),
            v["response"]["total_rows"].as_u64().unwrap(),
        )
    };
    assert_eq!(search(&[("search", "ROTATOR")]).await, (vec![301, 304], 2));
    assert_eq!(
        search(&[("search", "rotator"), ("smart_link_status", "active")]).await,
        (vec![301], 1)
    );
    assert_eq!(search(&[("search", "303")]).await, (vec![303], 1));
    assert_eq!(search(&[("search", "nothing like it")]).await, (vec![], 0));
    assert_eq!(
        search(&[("search", "t"), ("row_limit", "1"), ("start_at_row", "1")]).await,
        (vec![302], 3),
        "the page of the matches"
    );
    s.stop().await;
}

#[tokio::test]
async fn an_optimized_links_attachments_show_the_weights_in_force() {
    let s = TestServer::start(config(&[])).await;
    let optimized = ok(&api_get(&s, "smart_link_offers.json", &[("smart_link_id", "303")]).await);
    let shares: Vec<f64> = items(&optimized, "offers")
        .iter()
        .map(|a| a["optimized"]["share"].as_f64().expect("a weight in force"))
        .collect();
    assert_eq!(shares.len(), 2);
    assert!(
        (shares.iter().sum::<f64>() - 1.0).abs() < 1e-3,
        "{shares:?}"
    );
    let random = ok(&api_get(&s, "smart_link_offers.json", &[("smart_link_id", "301")]).await);
    assert!(
        items(&random, "offers")
            .iter()
            .all(|a| a.get("optimized").is_none())
    );
    s.stop().await;
}

/// Standalone, the nodes call says so and lists none.
#[tokio::test]
async fn a_standalone_server_has_no_cluster_nodes() {
    let s = TestServer::start(config(&[])).await;
    let v = ok(&api_get(&s, "cluster_nodes.json", &[]).await);
    assert_eq!(v["response"]["cluster"], false);
    assert_eq!(v["response"]["nodes"], json!([]));
    assert!(v["response"]["this_node"].is_string());
    s.stop().await;
}
