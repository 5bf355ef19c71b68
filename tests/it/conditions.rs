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
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .args([
            "route",
            "--config",
            path.to_str().unwrap(),
            "--link",
            "22",
            "--ua",
            IPAD,
        ])
        .args(["--header", "X-Forwarded-For: 81.2.69.142"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reasons: Vec<_> = v["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["reason"]
                .as_str()
                .unwrap_or(a["result"].as_str().unwrap())
                .to_string()
        })
        .collect();
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
    let r = s
        .get(
            &format!("/api/2/smart_link_offers.json?api_key={API_KEY}&smart_link_id=21"),
            &[],
        )
        .await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let a = &v["response"]["offers"][2];
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
