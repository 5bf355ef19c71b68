//! The management API over real HTTP: the seed samples' shapes and values (JSON and
//! form bodies), every filter and page of the list calls, every call beyond the seeds (each
//! write visible to the very next click or list and written to the catalog file), and every
//! failure with its status, its field and the failure envelope.
//!
//! The seed samples are copied in `tests/fixtures/seeds/` (see its README); the network below
//! (`tests/fixtures/networks/seed.json`) holds the entities they show, with the same ids and
//! names. Helpers are in `common::api`; the tests, by family, in `seeds`, `lists`, `writes`
//! and `failures`.

mod batch;
mod failures;
mod lists;
mod seeds;
mod writes;

use serde_json::{Value, json};

use crate::common::*;

/// The public base URL of these servers: the host of the smart-links seed samples.
pub const BASE: &str = "https://track.yourdomain.com";
/// The vanity base URL (campaign links of display type 3).
pub const VANITY: &str = "https://go.mediabridge.example";
/// The host of the campaigns seed samples' tracking links.
pub const SEED_CAMPAIGN_HOST: &str = "https://yourdomain.cakemarketing.com";

/// The network of the seed samples. Affiliate 67890 "MediaBridge Partners"; offer 12345 "Auto
/// Insurance Quote - US" (active, any country and device), offers 1042 and 1043 (active; 1043
/// has a daily conversion cap), 2001 (paused), 2002 (deleted). Landing page 881 "Main LP - US"
/// (offer 12345), 882 (offer 12345, paused), 883 (offer 1042). Creatives 4421 "Banner 300x250"
/// and 4422 (both offer 12345), 4423 (paused) and 4424 (deleted) of offer 1042. Campaign 98001
/// exactly as in the seed; 97001 (paused, a `YYYY-MM-DD HH:MM:SS` date), 97002 (encoded
/// link to landing page 883), 97003 (vanity link, a date with an offset). Smart link 301
/// "Finance Rotator - US" with 3 attachments: 12345 (US mobile) and 1042 (US, CA) at priority
/// 1, 1043 at 2; 204 (a paused offer and 1043 for DE/FR/GB), 205 (1043 alone, its own
/// fallback), 206 (inactive). 98001 and 301 have the largest ids, so the seed samples' creates
/// get 98002 and 302. [`network`] adds filler campaigns and smart links for pagination.
pub const SEED_NETWORK: &str = include_str!("../../fixtures/networks/seed.json");

/// Filler campaigns 90001..=90120 (offers 1042/1043, affiliates 67891/67892, some paused or
/// deleted) and smart links 1..=110 (affiliates 67891/67892, some inactive): more rows than
/// one default page of either list.
pub const FILLER_CAMPAIGNS: u32 = 120;
pub const FILLER_LINKS: u32 = 110;

/// The whole test network: [`SEED_NETWORK`] and the filler, in catalog order.
pub fn seed_network() -> String {
    let mut n: Value = serde_json::from_str(SEED_NETWORK).expect("SEED_NETWORK is JSON");
    let campaigns = n["campaigns"].as_array_mut().expect("campaigns");
    for i in 1..=FILLER_CAMPAIGNS {
        let status = match i % 6 {
            0 => "paused",
            3 => "deleted",
            _ => "active",
        };
        campaigns.push(json!({
            "campaign_id": 90000 + i,
            "offer_id": if i % 2 == 0 { 1042 } else { 1043 },
            "affiliate_id": if i % 3 == 0 { 67892 } else { 67891 },
            "campaign_status": status,
            "date_created": format!("2026-03-{:02}T10:00:00Z", 1 + i % 28),
        }));
    }
    let links = n["smart_links"].as_array_mut().expect("smart_links");
    for i in 1..=FILLER_LINKS {
        links.push(json!({
            "smart_link_id": i,
            "smart_link_name": format!("Filler Link {i}"),
            "affiliate_id": if i % 2 == 1 { 67891 } else { 67892 },
            "smart_link_status": if i % 4 == 0 { "inactive" } else { "active" },
            "offers": [{"offer_id": 1043}],
        }));
    }
    serde_json::to_string_pretty(&n).expect("serialize")
}

pub fn config() -> TestConfig {
    TestConfig::new(&seed_network())
        .server(&format!("public_base_url = {BASE:?}"))
        .server(&format!("vanity_base_url = {VANITY:?}"))
        .geo("GeoIP2-Country-Test.mmdb")
}

pub async fn server() -> TestServer {
    TestServer::start(config()).await
}

/// A seed sample from `tests/fixtures/seeds/`.
pub fn seed(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("seeds/{name}")))
        .unwrap_or_else(|e| panic!("seed fixture {name}: {e}"))
}

pub fn seed_json(name: &str) -> Value {
    serde_json::from_str(&seed(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The method and the target (`/api/2/…`, the test key in place of the placeholder) of a
/// seed sample's request line.
pub fn seed_request(call: &str) -> (String, String) {
    let line = seed(&format!("{call}.request.txt"));
    let (method, url) = line.trim().split_once(' ').expect("METHOD URL");
    let at = url.find("/api/2/").expect("an API URL");
    (
        method.to_string(),
        url[at..].replace("YOUR_API_KEY", API_KEY),
    )
}

/// A seed sample's JSON request body, the test key in place of the placeholder.
pub fn seed_body(call: &str) -> Value {
    let mut body = seed_json(&format!("{call}.request.json"));
    assert_eq!(body["api_key"], "YOUR_API_KEY");
    body["api_key"] = API_KEY.into();
    body
}

/// The same parameters as a form body.
pub fn form_of(body: &Value) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in body.as_object().expect("an object") {
        match v {
            Value::String(s) => q.append_pair(k, s),
            other => q.append_pair(k, &other.to_string()),
        };
    }
    q.finish()
}

/// Sends a seed sample's POST request, as the sample's JSON or as a form.
pub async fn post_seed(s: &TestServer, call: &str, as_form: bool) -> Reply {
    let (method, target) = seed_request(call);
    assert_eq!(method, "POST");
    let body = seed_body(call);
    if as_form {
        s.post_form(&target, &form_of(&body)).await
    } else {
        s.post_json(&target, &body).await
    }
}

/// The seed sample with the campaigns document's host replaced by [`BASE`].
pub fn rebased(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::String(s) if s.starts_with(SEED_CAMPAIGN_HOST) => {
                *s = s.replacen(SEED_CAMPAIGN_HOST, BASE, 1);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            Value::Object(o) => o.values_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// Asserts that `ours` has the shape of the seed sample `seed`: at every object level the same
/// keys in the same order; the same JSON type for every value (integers where the seed has
/// integers); every array item shaped like the seed's first item. `ours` may hold `null` only
/// under a key listed in `nullable`.
#[track_caller]
pub fn assert_shape(ours: &Value, seed: &Value, nullable: &[&str], at: &str) {
    match (ours, seed) {
        (Value::Object(o), Value::Object(s)) => {
            let ours_keys: Vec<&String> = o.keys().collect();
            let seed_keys: Vec<&String> = s.keys().collect();
            assert_eq!(ours_keys, seed_keys, "keys of {at}");
            for (k, sv) in s {
                let ov = &o[k];
                if ov.is_null() && nullable.contains(&k.as_str()) {
                    continue;
                }
                assert_shape(ov, sv, nullable, &format!("{at}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(s)) => {
            let sample = s.first().expect("seed arrays show an item");
            for (i, item) in o.iter().enumerate() {
                assert_shape(item, sample, nullable, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(o), Value::Number(s)) => {
            assert_eq!(
                o.is_f64(),
                s.is_f64(),
                "{at}: {o} and the seed's {s} are not both integers"
            );
        }
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => {}
        (Value::Null, Value::Null) => {}
        _ => panic!("{at}: {ours} is not of the seed's type (seed: {seed})"),
    }
}

/// `YYYY-MM-DD HH:MM:SS`, as a UTC instant.
pub fn parse_cake_date(text: &str) -> jiff::Timestamp {
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text)
        .unwrap_or_else(|e| panic!("{text:?} is not YYYY-MM-DD HH:MM:SS: {e}"))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .expect("UTC")
        .timestamp()
}
