//! Targeting conditions over HTTP and in the route explanation: `os` / `exclude_os`,
//! `exclude_countries`, `exclude_devices`, and their offer twins (`allowed_os`,
//! `blocked_countries`). Network: `tests/fixtures/networks/conditions.json`.

use http::StatusCode;

use crate::common::*;

const NETWORK: &str = include_str!("../fixtures/networks/conditions.json");

const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36";
const MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
/// An address the GeoIP test database has no record of.
const NOWHERE: (&str, &str) = ("x-forwarded-for", "10.1.2.3");

async fn server() -> TestServer {
    TestServer::start(TestConfig::new(NETWORK).geo("GeoIP2-Country-Test.mmdb")).await
}

async fn host(s: &TestServer, link: u32, headers: &[(&str, &str)]) -> String {
    let r = s.get(&format!("/sl?id={link}"), headers).await;
    assert_eq!(r.status, StatusCode::FOUND);
    crate::caps::host(r.location()).to_string()
}

/// The attachments of `link` as `smart_link_offers.json` lists them.
async fn listed_offers(s: &TestServer, link: u32) -> serde_json::Value {
    let target = format!("/api/2/smart_link_offers.json?api_key={API_KEY}&smart_link_id={link}");
    let r = s.get(&target, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    v["response"]["offers"].clone()
}

#[tokio::test]
async fn os_and_exclude_os_choose_the_offer() {
    let s = server().await;
    assert_eq!(host(&s, 21, &[MOBILE, US]).await, "o31.example", "iOS");
    assert_eq!(
        host(&s, 21, &[DESKTOP, US]).await,
        "o32.example",
        "Windows is not Android"
    );
    assert_eq!(
        host(&s, 21, &[("user-agent", ANDROID), US]).await,
        "o39.example"
    );
    let r = s.get("/sl?id=21", &[MOBILE]).await;
    assert_eq!(r.location(), "https://o31.example/?os=ios");
    s.stop().await;
}

#[tokio::test]
async fn excluded_countries_and_devices_are_turned_away() {
    let s = server().await;
    assert_eq!(host(&s, 22, &[DESKTOP, US]).await, "o33.example");
    assert_eq!(
        host(&s, 22, &[DESKTOP, GB]).await,
        "o34.example",
        "GB excluded"
    );
    assert_eq!(
        host(&s, 22, &[DESKTOP, NOWHERE]).await,
        "o33.example",
        "an unknown country is in no exclude list"
    );
    assert_eq!(
        host(&s, 22, &[("user-agent", IPAD), GB]).await,
        "o39.example",
        "GB excluded, then tablets excluded"
    );
    s.stop().await;
}

#[tokio::test]
async fn an_offers_own_conditions_hold_for_every_link() {
    let s = server().await;
    assert_eq!(host(&s, 23, &[DESKTOP, US]).await, "o35.example");
    assert_eq!(
        host(&s, 23, &[("user-agent", MAC), US]).await,
        "o35.example"
    );
    assert_eq!(
        host(&s, 23, &[DESKTOP, GB]).await,
        "o39.example",
        "blocked_countries"
    );
    assert_eq!(
        host(&s, 23, &[MOBILE, US]).await,
        "o39.example",
        "allowed_os"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_explanation_names_the_condition_that_failed() {
    let s = server().await;
    let route = async |link: &str, ua: &str, ip: &str| {
        let target = format!(
            "/api/2/smart_link_route.json?api_key={API_KEY}&smart_link_id={link}&user_agent={}&ip={ip}",
            form_urlencoded::byte_serialize(ua.as_bytes()).collect::<String>()
        );
        let r = s.get(&target, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["response"].clone()
    };
    let r = route("21", ANDROID, "216.160.83.56").await;
    let a = &r["attachments"];
    assert_eq!(a[0]["reason"], "os_mismatch", "{r}");
    assert_eq!(a[0]["os"], serde_json::json!(["ios"]));
    assert_eq!(a[1]["reason"], "os_excluded");
    assert_eq!(a[1]["exclude_os"], serde_json::json!(["android"]));
    assert_eq!(a[2]["result"], "chosen");
    let r = route("22", CHROME_WINDOWS, "81.2.69.142").await;
    assert_eq!(r["attachments"][0]["reason"], "country_excluded", "{r}");
    let r = route("23", CHROME_WINDOWS, "81.2.69.142").await;
    assert_eq!(r["attachments"][0]["reason"], "country_excluded", "{r}");
    assert_eq!(
        r["attachments"][0]["allowed_os"],
        serde_json::Value::Null,
        "reported under the attachment's names"
    );
    assert_eq!(
        r["attachments"][0]["os"],
        serde_json::json!(["windows", "macos"])
    );
    assert_eq!(
        r["attachments"][0]["exclude_countries"],
        serde_json::json!(["GB"])
    );
    s.stop().await;
}

#[test]
fn route_on_the_command_line_names_the_condition_too() {
    let config = TestConfig::new(NETWORK).geo("GeoIP2-Country-Test.mmdb");
    let path = config.write();
    let (_, reasons) = route(
        &path,
        IPAD,
        "22",
        &["--header", "X-Forwarded-For: 81.2.69.142"],
    );
    assert_eq!(reasons, ["country_excluded", "device_excluded", "chosen"]);
}

#[tokio::test]
async fn the_api_sets_and_lists_the_conditions() {
    let s = server().await;
    let post = async |call: &str, body: serde_json::Value| {
        let mut body = body;
        body["api_key"] = API_KEY.into();
        s.post_json(&format!("/api/2/{call}"), &body).await
    };
    let r = post(
        "smart_link_offer.json",
        serde_json::json!({"smart_link_id": 21, "offer_id": 39, "os": ["linux", "chromeos"],
                           "exclude_countries": "GB,DE"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let listed = listed_offers(&s, 21).await;
    let a = &listed[2];
    assert_eq!(
        *a,
        serde_json::json!({"offer_id": 39, "offer_weight": 1, "priority": 3, "devices": [],
            "os": ["linux", "chromeos"], "countries": [], "exclude_countries": ["GB", "DE"]})
    );
    let r = post(
        "update_offer.json",
        serde_json::json!({"offer_id": 39, "blocked_os": ["ios"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The next click sees the offer's new condition: an iPhone is turned away from 39.
    assert_eq!(host(&s, 21, &[MOBILE, US]).await, "o31.example");
    let r = post(
        "smart_link_offer.json",
        serde_json::json!({"smart_link_id": 21, "offer_id": 39, "os": ["beos"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("\"field\":\"os\""), "{}", r.body);
    let saved = std::fs::read_to_string(s.config.catalog_path()).unwrap();
    assert!(saved.contains("\"blocked_os\":[\"ios\"]"), "{saved}");
    s.stop().await;
}

/// Address ranges, languages and referrer domains. Network:
/// `tests/fixtures/networks/targeting.json`.
mod targeting {
    use super::*;

    const NETWORK: &str = include_str!("../fixtures/networks/targeting.json");

    async fn server() -> TestServer {
        TestServer::start(TestConfig::new(NETWORK).geo("GeoIP2-Country-Test.mmdb")).await
    }

    fn from(ip: &str) -> (&'static str, String) {
        ("x-forwarded-for", ip.to_string())
    }

    async fn host_of(s: &TestServer, link: u32, headers: &[(&str, &str)]) -> String {
        let mut all = vec![DESKTOP];
        all.extend_from_slice(headers);
        host(s, link, &all).await
    }

    /// A desktop click on `link` with `header` set to each value goes to its host.
    async fn expect_hosts(s: &TestServer, link: u32, header: &str, cases: &[(&str, &str)]) {
        for (value, expected) in cases {
            assert_eq!(
                host_of(s, link, &[(header, value)]).await,
                *expected,
                "{header}: {value}"
            );
        }
    }

    #[tokio::test]
    async fn ip_ranges_include_and_exclude_ipv4_and_ipv6() {
        let s = server().await;
        for (ip, expected) in [
            ("10.1.2.3", "o41.example"),
            ("2001:db8::5", "o41.example"),
            ("::ffff:10.9.9.9", "o41.example"),
            ("81.2.69.142", "o42.example"),
            ("216.160.83.56", "o49.example"),
            ("11.0.0.1", "o42.example"),
        ] {
            let (name, value) = from(ip);
            assert_eq!(host_of(&s, 31, &[(name, &value)]).await, expected, "{ip}");
        }
        s.stop().await;
    }

    #[tokio::test]
    async fn languages_follow_the_highest_q_entry() {
        let s = server().await;
        expect_hosts(
            &s,
            32,
            "accept-language",
            &[
                ("fr-CH, fr;q=0.9, en;q=0.8", "o42.example"),
                ("en-US,en;q=0.9,de;q=0.8", "o49.example"),
                ("de;q=0.5, en;q=0.4", "o42.example"),
                ("en;q=0, de", "o42.example"),
                ("es", "o43.example"),
                ("*", "o43.example"),
            ],
        )
        .await;
        assert_eq!(
            host_of(&s, 32, &[]).await,
            "o43.example",
            "no language: no include list holds it, no exclude list either"
        );
        s.stop().await;
    }

    #[tokio::test]
    async fn referrer_domains_match_their_subdomains_only() {
        let s = server().await;
        expect_hosts(
            &s,
            33,
            "referer",
            &[
                ("https://www.example.com/page?x=1", "o43.example"),
                ("http://EXAMPLE.com./", "o43.example"),
                ("https://example.com.evil.net/", "o41.example"),
                ("https://notexample.com/", "o41.example"),
                ("https://sub.bad.example/x", "o49.example"),
            ],
        )
        .await;
        assert_eq!(host_of(&s, 33, &[]).await, "o41.example", "no referrer");
        s.stop().await;
    }

    #[tokio::test]
    async fn an_offers_ranges_and_languages_hold_for_every_link() {
        let s = server().await;
        let (name, office) = from("203.0.113.7");
        assert_eq!(
            host_of(&s, 34, &[(name, &office), ("accept-language", "de")]).await,
            "o49.example",
            "blocked_ip_ranges"
        );
        assert_eq!(
            host_of(&s, 34, &[US, ("accept-language", "de-DE")]).await,
            "o44.example"
        );
        assert_eq!(
            host_of(&s, 34, &[US, ("accept-language", "fr")]).await,
            "o49.example",
            "allowed_languages"
        );
        s.stop().await;
    }

    #[tokio::test]
    async fn the_api_sets_and_lists_them() {
        let s = server().await;
        let body = serde_json::json!({"api_key": API_KEY, "smart_link_id": 34, "offer_id": 49,
            "ip_ranges": "192.168.0.0/16,fd00::/8", "exclude_languages": ["ru"],
            "referrer_domains": ["news.example"]});
        let r = s.post_json("/api/2/smart_link_offer.json", &body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let listed = listed_offers(&s, 34).await;
        let a = &listed[1];
        assert_eq!(
            a["ip_ranges"],
            serde_json::json!(["192.168.0.0/16", "fd00::/8"]),
            "{a}"
        );
        assert_eq!(a["exclude_languages"], serde_json::json!(["ru"]), "{a}");
        assert_eq!(
            a["referrer_domains"],
            serde_json::json!(["news.example"]),
            "{a}"
        );
        let (name, lan) = from("192.168.1.20");
        assert_eq!(
            host_of(
                &s,
                34,
                &[(name, &lan), ("referer", "https://news.example/a")]
            )
            .await,
            "o49.example",
            "the next click routes on them"
        );
        let bad = serde_json::json!({"api_key": API_KEY, "offer_id": 49,
            "blocked_ip_ranges": ["10.0.0.0/33"]});
        let r = s.post_json("/api/2/update_offer.json", &bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(
            r.body.contains("\"field\":\"blocked_ip_ranges\""),
            "{}",
            r.body
        );
        s.stop().await;
    }

    #[test]
    fn the_explanation_names_the_new_conditions() {
        let config = TestConfig::new(NETWORK).geo("GeoIP2-Country-Test.mmdb");
        let path = config.write();
        let reasons = |link: &str, headers: &[&str]| {
            let args: Vec<&str> = headers.iter().flat_map(|h| ["--header", h]).collect();
            route(&path, CHROME_WINDOWS, link, &args).1
        };
        assert_eq!(
            reasons("31", &["X-Forwarded-For: 216.160.83.56"]),
            ["ip_range_mismatch", "ip_range_excluded", "chosen"]
        );
        assert_eq!(
            reasons("32", &["Accept-Language: en-GB"]),
            ["language_mismatch", "language_excluded", "chosen"]
        );
        assert_eq!(
            reasons("32", &[]),
            ["unknown_language", "chosen", "not_reached"]
        );
        assert_eq!(
            reasons("33", &["Referer: https://a.bad.example/"]),
            ["referrer_mismatch", "referrer_excluded", "chosen"]
        );
    }

    #[test]
    fn malformed_values_are_errors_with_their_place() {
        let bad = NETWORK
            .replace("\"10.0.0.0/8\"", "\"10.0.0.0/33\"")
            .replace("\"2001:db8::/32\"", "\"10.0.0.1/8\"")
            .replace("[\"de\", \"fr\"]", "[\"DE\", \"fra\"]")
            .replace("[\"example.com\"]", "[\"https://example.com/\"]");
        let config = TestConfig::new(&bad);
        let path = config.write();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartlink"))
            .args(["check", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for expected in [
            "smart_links[0].offers[0].ip_ranges[0]",
            "smart_links[0].offers[0].ip_ranges[1]",
            "host bits set: the network is 10.0.0.0/8",
            "smart_links[1].offers[0].languages[0]",
            "smart_links[1].offers[0].languages[1]",
            "smart_links[2].offers[0].referrer_domains[0]",
        ] {
            assert!(text.contains(expected), "{expected} in:\n{text}");
        }
    }
}
