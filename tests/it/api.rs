//! The management API (SPEC §8) over real HTTP: the seed samples' shapes and values (JSON and
//! form bodies), every filter and page of the list calls, every call beyond the seeds (each
//! write visible to the very next click or list and written to the catalog file), and every
//! failure with its status, its field and the failure envelope.
//!
//! The seed samples are copied in `tests/fixtures/seeds/` (see its README); the network below
//! holds the entities they show, with the same ids and names.

use http::StatusCode;
use serde_json::{Map, Value, json};
use smartlink::api::calls::CALLS;

use crate::common::*;

/// The public base URL of these servers: the host of the smart-links seed samples.
const BASE: &str = "https://track.yourdomain.com";
/// The vanity base URL (campaign links of display type 3).
const VANITY: &str = "https://go.mediabridge.example";
/// The host of the campaigns seed samples' tracking links.
const SEED_CAMPAIGN_HOST: &str = "https://yourdomain.cakemarketing.com";

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
const SEED_NETWORK: &str = r#"{
  "affiliates": [
    {"affiliate_id": 67890, "affiliate_name": "MediaBridge Partners"},
    {"affiliate_id": 67891, "affiliate_name": "Clickstream Media"},
    {"affiliate_id": 67892, "affiliate_name": "Northwind Traffic"}
  ],
  "offers": [
    {"offer_id": 12345, "offer_name": "Auto Insurance Quote - US", "offer_status": "active",
     "offer_url": "https://safedrive.example.com/quote?click={click_id}&aff={affiliate_id}"},
    {"offer_id": 1042, "offer_name": "Personal Loans - US", "offer_status": "active",
     "offer_url": "https://loans.example.com/apply?click={click_id}"},
    {"offer_id": 1043, "offer_name": "Credit Score Check", "offer_status": "active",
     "offer_url": "https://score.example.com/?clk={click_id}", "caps": {"daily_conversions": 100}},
    {"offer_id": 2001, "offer_name": "Crypto Wallet - EU", "offer_status": "paused",
     "offer_url": "https://wallet.example.com/?c={click_id}", "allowed_countries": ["DE", "FR", "GB"]},
    {"offer_id": 2002, "offer_name": "VPN Trial", "offer_status": "deleted",
     "offer_url": "https://vpn.example.com/trial?c={click_id}"}
  ],
  "landing_pages": [
    {"landing_page_id": 881, "landing_page_name": "Main LP - US", "offer_id": 12345,
     "url": "https://safedrive.example.com/quote", "landing_page_status": "active"},
    {"landing_page_id": 882, "landing_page_name": "Old LP - US", "offer_id": 12345,
     "url": "https://safedrive.example.com/old", "landing_page_status": "paused"},
    {"landing_page_id": 883, "landing_page_name": "Loans LP", "offer_id": 1042,
     "url": "https://loans.example.com/lp?click={click_id}", "landing_page_status": "active"}
  ],
  "creatives": [
    {"creative_id": 4421, "creative_name": "Banner 300x250", "creative_type_id": 1,
     "offer_id": 12345, "creative_status": "active", "width": 300, "height": 250},
    {"creative_id": 4422, "creative_name": "Text Link - Quote", "creative_type_id": 2,
     "offer_id": 12345, "creative_status": "active"},
    {"creative_id": 4423, "creative_name": "Email - Loans", "creative_type_id": 3,
     "offer_id": 1042, "creative_status": "paused"},
    {"creative_id": 4424, "creative_name": "Banner 728x90", "creative_type_id": 1,
     "offer_id": 1042, "creative_status": "deleted", "width": 728, "height": 90}
  ],
  "campaigns": [
    {"campaign_id": 98001, "offer_id": 12345, "affiliate_id": 67890, "campaign_status": "active",
     "display_link_type_id": 1, "creative_id": 4421, "landing_page_id": null,
     "sub_affiliate": "email_blast_june", "coupon_code": null, "date_created": "2026-01-15T09:00:00Z"},
    {"campaign_id": 97001, "offer_id": 12345, "affiliate_id": 67890, "campaign_status": "paused",
     "creative_id": 4422, "date_created": "2026-02-01 12:30:00"},
    {"campaign_id": 97002, "offer_id": 1042, "affiliate_id": 67891, "campaign_status": "active",
     "display_link_type_id": 2, "landing_page_id": 883, "date_created": "2026-03-10T08:15:00Z"},
    {"campaign_id": 97003, "offer_id": 1043, "affiliate_id": 67892, "campaign_status": "deleted",
     "display_link_type_id": 3, "date_created": "2026-04-01T02:00:00+02:00"}
  ],
  "smart_links": [
    {"smart_link_id": 301, "smart_link_name": "Finance Rotator - US", "affiliate_id": 67890,
     "smart_link_status": "active", "fallback_url": "https://yourdomain.com/no-offer",
     "offers": [
       {"offer_id": 12345, "offer_weight": 60, "priority": 1, "countries": ["US"], "devices": ["mobile"]},
       {"offer_id": 1042, "offer_weight": 40, "priority": 1, "countries": ["US", "CA"]},
       {"offer_id": 1043, "offer_weight": 1, "priority": 2}
     ]},
    {"smart_link_id": 204, "smart_link_name": "Geo Rotator - Europe", "affiliate_id": 67891,
     "smart_link_status": "active", "fallback_url": "https://clickstream.example.net/fallback",
     "offers": [
       {"offer_id": 2001, "offer_weight": 50, "priority": 1},
       {"offer_id": 1043, "offer_weight": 30, "priority": 1, "countries": ["DE", "FR", "GB"]}
     ]},
    {"smart_link_id": 205, "smart_link_name": "Cap Test", "affiliate_id": 67892,
     "smart_link_status": "active", "fallback_url": "https://fallback.example/cap?l={smart_link_id}",
     "offers": [{"offer_id": 1043}]},
    {"smart_link_id": 206, "smart_link_name": "Paused Push", "affiliate_id": 67890,
     "smart_link_status": "inactive", "offers": [{"offer_id": 1042}]}
  ]
}"#;

/// Filler campaigns 90001..=90120 (offers 1042/1043, affiliates 67891/67892, some paused or
/// deleted) and smart links 1..=110 (affiliates 67891/67892, some inactive): more rows than
/// one default page of either list.
const FILLER_CAMPAIGNS: u32 = 120;
const FILLER_LINKS: u32 = 110;

/// The whole test network: [`SEED_NETWORK`] and the filler, in catalog order.
fn network() -> String {
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

fn config() -> TestConfig {
    TestConfig::new(&network())
        .server(&format!("public_base_url = {BASE:?}"))
        .server(&format!("vanity_base_url = {VANITY:?}"))
        .geo("GeoIP2-Country-Test.mmdb")
}

async fn server() -> TestServer {
    TestServer::start(config()).await
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A query string: `api_key` first (when given), then `params`, form-encoded.
fn query(key: Option<&str>, params: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(key) = key {
        q.append_pair("api_key", key);
    }
    for (k, v) in params {
        q.append_pair(k, v);
    }
    q.finish()
}

/// `GET /api/2/{call}` with the test key and `params`.
async fn get(s: &TestServer, call: &str, params: &[(&str, &str)]) -> Reply {
    let q = query(Some(API_KEY), params);
    s.get(&format!("/api/2/{call}?{q}"), &[]).await
}

/// `POST /api/2/{call}` with a JSON body: `api_key` first, then the members of `params`.
async fn post(s: &TestServer, call: &str, params: Value) -> Reply {
    let mut body = Map::new();
    body.insert("api_key".into(), API_KEY.into());
    body.extend(params.as_object().expect("params are an object").clone());
    s.post_json(&format!("/api/2/{call}"), &Value::Object(body))
        .await
}

/// `POST /api/2/{call}` with a form body: `api_key` first, then `params`.
async fn post_form(s: &TestServer, call: &str, params: &[(&str, &str)]) -> Reply {
    s.post_form(&format!("/api/2/{call}"), &query(Some(API_KEY), params))
        .await
}

/// `POST /api/2/{call}` with these exact body bytes and content type.
async fn post_raw(s: &TestServer, call: &str, content_type: &str, body: &[u8]) -> Reply {
    let headers: Vec<(&str, &str)> = if content_type.is_empty() {
        vec![]
    } else {
        vec![("content-type", content_type)]
    };
    Client::connect(s.addr)
        .await
        .send_body("POST", &format!("/api/2/{call}"), &headers, body)
        .await
}

#[track_caller]
fn parse(r: &Reply) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", r.body))
}

/// A success: `200`, JSON, `"request_status": "Success"` first; the body.
#[track_caller]
fn ok(r: &Reply) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/json");
    let v = parse(r);
    assert_eq!(
        v.as_object()
            .and_then(|o| o.keys().next())
            .map(String::as_str),
        Some("request_status"),
        "{v}"
    );
    assert_eq!(v["request_status"], "Success", "{v}");
    v
}

/// A failure: `status`, JSON, exactly `{"request_status":"Failure","errors":[{"field":…,
/// "message":…},…]}`, the first error about `field`. Returns the body.
#[track_caller]
fn failure(r: &Reply, status: u16, field: Option<&str>) -> Value {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/json", "{}", r.body);
    let v = parse(r);
    let keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["request_status", "errors"], "{v}");
    assert_eq!(v["request_status"], "Failure", "{v}");
    let errors = v["errors"].as_array().expect("errors is an array");
    assert!(!errors.is_empty(), "{v}");
    for e in errors {
        let keys: Vec<&str> = e
            .as_object()
            .expect("an error is an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["field", "message"], "{v}");
        assert!(e["field"].is_string() || e["field"].is_null(), "{v}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    assert_eq!(
        errors[0]["field"],
        field.map_or(Value::Null, Value::from),
        "{v}"
    );
    v
}

/// The `field` of every error of a failure body.
fn fields(v: &Value) -> Vec<Value> {
    v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].clone())
        .collect()
}

/// The items of a list answer (`response.<list>` or `<list>`).
fn items<'v>(v: &'v Value, list: &str) -> &'v [Value] {
    v["response"][list]
        .as_array()
        .or_else(|| v[list].as_array())
        .unwrap_or_else(|| panic!("no list {list:?} in {v}"))
}

/// The `key` of every item of a list answer.
fn ids(v: &Value, list: &str, key: &str) -> Vec<u64> {
    items(v, list)
        .iter()
        .map(|i| i[key].as_u64().expect("an id"))
        .collect()
}

/// The catalog file as it is on disk now.
fn on_disk(s: &TestServer) -> Value {
    let bytes = std::fs::read(s.config.catalog_path()).expect("read catalog");
    serde_json::from_slice(&bytes).expect("the catalog file is JSON")
}

/// The entity `id` of `list` in the catalog file, if it is there.
fn disk_entity(s: &TestServer, list: &str, key: &str, id: u64) -> Option<Value> {
    on_disk(s)[list]
        .as_array()
        .and_then(|l| l.iter().find(|x| x[key] == id).cloned())
}

fn catalog_bytes(s: &TestServer) -> Vec<u8> {
    std::fs::read(s.config.catalog_path()).expect("read catalog")
}

/// A click's redirect target; asserts the `302`.
async fn click(s: &TestServer, target: &str, headers: &[(&str, &str)]) -> String {
    let r = s.get(target, headers).await;
    assert_eq!(r.status, StatusCode::FOUND, "{target}: {}", r.body);
    r.location().to_string()
}

/// A seed sample from `tests/fixtures/seeds/`.
fn seed(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("seeds/{name}")))
        .unwrap_or_else(|e| panic!("seed fixture {name}: {e}"))
}

fn seed_json(name: &str) -> Value {
    serde_json::from_str(&seed(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The method and the target (`/api/2/…`, the test key in place of the placeholder) of a
/// seed sample's request line.
fn seed_request(call: &str) -> (String, String) {
    let line = seed(&format!("{call}.request.txt"));
    let (method, url) = line.trim().split_once(' ').expect("METHOD URL");
    let at = url.find("/api/2/").expect("an API URL");
    (
        method.to_string(),
        url[at..].replace("YOUR_API_KEY", API_KEY),
    )
}

/// A seed sample's JSON request body, the test key in place of the placeholder.
fn seed_body(call: &str) -> Value {
    let mut body = seed_json(&format!("{call}.request.json"));
    assert_eq!(body["api_key"], "YOUR_API_KEY");
    body["api_key"] = API_KEY.into();
    body
}

/// The same parameters as a form body.
fn form_of(body: &Value) -> String {
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
async fn post_seed(s: &TestServer, call: &str, as_form: bool) -> Reply {
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
fn rebased(mut v: Value) -> Value {
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
fn assert_shape(ours: &Value, seed: &Value, nullable: &[&str], at: &str) {
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
fn parse_cake_date(text: &str) -> jiff::Timestamp {
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text)
        .unwrap_or_else(|e| panic!("{text:?} is not YYYY-MM-DD HH:MM:SS: {e}"))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .expect("UTC")
        .timestamp()
}

// ---------------------------------------------------------------------------------------------
// 1. The seed samples.

#[tokio::test]
async fn get_campaigns_answers_the_seed_sample_exactly() {
    let s = server().await;
    let (method, target) = seed_request("campaigns");
    assert_eq!(method, "GET");
    let ours = ok(&s.get(&target, &[]).await);
    let sample = seed_json("campaigns.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, rebased(sample), "values of the seed's campaign 98001");
    assert_eq!(
        ours["response"]["campaigns"][0]["tracking_link"],
        format!("{BASE}/rd/r.php?sid=98001&aff_id=67890")
    );
    assert_eq!(
        ours["response"]["campaigns"][0]["date_created"],
        "2026-01-15T09:00:00Z"
    );
    s.stop().await;
}

#[tokio::test]
async fn get_creatives_answers_with_the_seed_samples_shape_and_values() {
    let s = server().await;
    let (_, target) = seed_request("creatives");
    let ours = ok(&s.get(&target, &[]).await);
    let sample = seed_json("creatives.response.json");
    // Creative 4422 has no size: width and height are null.
    assert_shape(&ours, &sample, &["width", "height"], "");
    assert_eq!(ids(&ours, "creatives", "creative_id"), [4421, 4422]);
    assert_eq!(ours["creatives"][0], sample["creatives"][0]);
    assert_eq!(
        ours["creatives"][1],
        json!({"creative_id": 4422, "creative_name": "Text Link - Quote",
               "creative_type": "Text Link", "offer_id": 12345, "creative_status": "active",
               "width": null, "height": null})
    );
    s.stop().await;
}

#[tokio::test]
async fn get_landing_pages_answers_the_seed_sample_exactly() {
    let s = server().await;
    let (_, target) = seed_request("landing_pages");
    let ours = ok(&s.get(&target, &[]).await);
    let sample = seed_json("landing_pages.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, sample);
    s.stop().await;
}

#[tokio::test]
async fn get_smart_links_answers_the_seed_sample_exactly() {
    let s = server().await;
    let (_, target) = seed_request("smart_links");
    let ours = ok(&s.get(&target, &[]).await);
    let sample = seed_json("smart_links.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, sample);
    // The tracking URL is a link the server answers.
    let url = ours["response"]["smart_links"][0]["tracking_url"]
        .as_str()
        .unwrap();
    let target = url.strip_prefix(BASE).expect("on the public base URL");
    assert!(
        click(&s, target, &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/apply?click=")
    );
    s.stop().await;
}

/// The four POST samples in order (create campaign 98002, update campaign 98001, create smart
/// link 302, attach offer 1042 to it), as JSON or as form bodies; then each change is in the
/// lists, the next clicks and the catalog file.
async fn seed_posts_answer_the_samples(as_form: bool) {
    let s = server().await;
    let before = jiff::Timestamp::now();

    // Create Campaign.
    let ours = ok(&post_seed(&s, "campaign", as_form).await);
    let sample = seed_json("campaign.response.json");
    assert_shape(&ours, &sample, &[], "");
    let created = ours["campaign"]["date_created"]
        .as_str()
        .expect("date_created")
        .to_string();
    let at = parse_cake_date(&created);
    let after = jiff::Timestamp::now();
    assert!(
        at.as_second() >= before.as_second() && at.as_second() <= after.as_second(),
        "{created} is the time of the request"
    );
    let mut expected = rebased(sample);
    expected["campaign"]["date_created"] = created.clone().into();
    assert_eq!(ours, expected);
    assert_eq!(
        ours["campaign"]["tracking_link"],
        format!("{BASE}/rd/r.php?sid=98002&aff_id=67890")
    );

    // Update Campaign.
    let ours = ok(&post_seed(&s, "update_campaign", as_form).await);
    let sample = seed_json("update_campaign.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, sample);

    // Create Smart Link.
    let ours = ok(&post_seed(&s, "smart_link", as_form).await);
    let sample = seed_json("smart_link.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, sample);

    // Add Offer to Smart Link.
    let ours = ok(&post_seed(&s, "smart_link_offer", as_form).await);
    let sample = seed_json("smart_link_offer.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, sample);

    // Every change is in the lists...
    let list = ok(&get(&s, "campaigns.json", &[("campaign_id", "98002")]).await);
    let item = &items(&list, "campaigns")[0];
    assert_eq!(
        (
            &item["offer_id"],
            &item["affiliate_id"],
            &item["campaign_status"],
            &item["creative_id"]
        ),
        (&json!(12345), &json!(67890), &json!("active"), &json!(4421))
    );
    assert_eq!(item["sub_affiliate"], Value::Null);
    assert_eq!(
        item["date_created"],
        at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "lists show the creation time in RFC 3339"
    );
    let list = ok(&get(&s, "campaigns.json", &[("campaign_id", "98001")]).await);
    let item = &items(&list, "campaigns")[0];
    assert_eq!(item["campaign_status"], "paused");
    assert_eq!(item["creative_id"], 4422);
    let list = ok(&get(&s, "smart_links.json", &[("smart_link_id", "302")]).await);
    assert_eq!(
        items(&list, "smart_links")[0],
        json!({"smart_link_id": 302, "smart_link_name": "Finance Rotator - US",
               "affiliate_id": 67890, "smart_link_status": "active",
               "tracking_url": format!("{BASE}/sl?id=302&aff_id=67890"),
               "fallback_url": "https://yourdomain.com/no-offer", "offer_count": 1})
    );
    // ... in the next clicks ...
    assert!(
        click(&s, "/sl?id=302&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/apply?click=")
    );
    assert!(
        click(&s, "/rd/r.php?sid=98002&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://safedrive.example.com/quote?click=")
    );
    assert!(
        click(&s, "/rd/r.php?sid=98001&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://default.example/"),
        "a paused campaign sends its clicks to the default fallback"
    );
    // ... and in the catalog file.
    let c = disk_entity(&s, "campaigns", "campaign_id", 98002).expect("98002 saved");
    assert_eq!(
        (&c["offer_id"], &c["creative_id"]),
        (&json!(12345), &json!(4421))
    );
    assert_eq!(
        c["date_created"]
            .as_str()
            .map(|d| d.parse::<jiff::Timestamp>().ok()),
        Some(Some(at)),
        "the file holds the creation time"
    );
    let c = disk_entity(&s, "campaigns", "campaign_id", 98001).unwrap();
    assert_eq!(
        (&c["campaign_status"], &c["creative_id"]),
        (&json!("paused"), &json!(4422))
    );
    let l = disk_entity(&s, "smart_links", "smart_link_id", 302).expect("302 saved");
    assert_eq!(
        l["offers"],
        json!([{"offer_id": 1042, "offer_weight": 60, "priority": 1}])
    );
    s.stop().await;
}

#[tokio::test]
async fn seed_post_samples_as_json_bodies_answer_the_seed_samples() {
    seed_posts_answer_the_samples(false).await;
}

#[tokio::test]
async fn seed_post_samples_as_form_bodies_answer_the_seed_samples() {
    seed_posts_answer_the_samples(true).await;
}

#[tokio::test]
async fn campaign_tracking_links_follow_their_display_link_type() {
    let s = server().await;
    let list = ok(&get(
        &s,
        "campaigns.json",
        &[
            ("offer_id", "1042"),
            ("affiliate_id", "67891"),
            ("row_limit", "1"),
        ],
    )
    .await);
    let token = smartlink::links::encode_token(97002, 67891);
    assert_eq!(
        items(&list, "campaigns")[0]["tracking_link"],
        format!("{BASE}/rd/{token}"),
        "type 2: the encoded link"
    );
    assert!(
        click(&s, &format!("/rd/{token}"), &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/lp?click="),
        "the encoded link goes to the campaign's landing page"
    );
    let list = ok(&get(&s, "campaigns.json", &[("campaign_id", "97003")]).await);
    assert_eq!(
        items(&list, "campaigns")[0]["tracking_link"],
        format!("{VANITY}/rd/r.php?sid=97003&aff_id=67892"),
        "type 3: the vanity base URL"
    );
    // Created with type 2: the encoded link, from the create answer on.
    let r = ok(&post(
        &s,
        "campaign.json",
        json!({"offer_id": 1042, "affiliate_id": 67892, "display_link_type_id": 2}),
    )
    .await);
    let token = smartlink::links::encode_token(98002, 67892);
    assert_eq!(r["campaign"]["tracking_link"], format!("{BASE}/rd/{token}"));
    assert!(
        click(&s, &format!("/rd/{token}"), &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/apply?click=")
    );
    s.stop().await;
}

#[tokio::test]
async fn list_dates_are_rfc3339_utc_whatever_form_the_catalog_holds() {
    let s = server().await;
    for (id, want) in [
        ("98001", "2026-01-15T09:00:00Z"),
        ("97001", "2026-02-01T12:30:00Z"),
        ("97003", "2026-04-01T00:00:00Z"),
    ] {
        let list = ok(&get(&s, "campaigns.json", &[("campaign_id", id)]).await);
        assert_eq!(items(&list, "campaigns")[0]["date_created"], want, "{id}");
    }
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Filters and pages.

/// The ids of the entities of `list` in the catalog whose fields equal every filter, in
/// catalog order: what a list call must answer.
fn expected_ids(list: &str, key: &str, filters: &[(&str, &str)]) -> Vec<u64> {
    let n: Value = serde_json::from_str(&network()).unwrap();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    n[list]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| filters.iter().all(|(k, v)| text(&x[*k]) == *v))
        .map(|x| x[key].as_u64().unwrap())
        .collect()
}

/// Query parameters.
type Params<'a> = &'a [(&'a str, &'a str)];

/// A list call: its name, the list in the answer and in the catalog, the id key, and the
/// `row_limit` that shows every row (`None`: the call has no pages).
struct List(
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

const CAMPAIGNS: List = List("campaigns.json", "campaigns", "campaign_id", Some("5000"));
const CREATIVES: List = List("creatives.json", "creatives", "creative_id", None);
const PAGES: List = List(
    "landing_pages.json",
    "landing_pages",
    "landing_page_id",
    None,
);
const LINKS: List = List(
    "smart_links.json",
    "smart_links",
    "smart_link_id",
    Some("500"),
);
const OFFERS: List = List("offers.json", "offers", "offer_id", Some("5000"));
const AFFILIATES: List = List(
    "affiliates.json",
    "affiliates",
    "affiliate_id",
    Some("5000"),
);

#[tokio::test]
async fn every_filter_of_every_list_call_selects_the_matching_entities() {
    let s = server().await;
    #[rustfmt::skip]
    let cases: &[(List, Params)] = &[
        (CAMPAIGNS, &[]),
        (CAMPAIGNS, &[("campaign_id", "98001")]),
        (CAMPAIGNS, &[("campaign_id", "90007")]),
        (CAMPAIGNS, &[("campaign_id", "5")]),
        (CAMPAIGNS, &[("offer_id", "12345")]),
        (CAMPAIGNS, &[("offer_id", "1042")]),
        (CAMPAIGNS, &[("affiliate_id", "67892")]),
        (CAMPAIGNS, &[("campaign_status", "active")]),
        (CAMPAIGNS, &[("campaign_status", "paused")]),
        (CAMPAIGNS, &[("campaign_status", "deleted")]),
        (CAMPAIGNS, &[("offer_id", "1043"), ("affiliate_id", "67891"), ("campaign_status", "active")]),
        (CREATIVES, &[]),
        (CREATIVES, &[("creative_id", "4423")]),
        (CREATIVES, &[("creative_id", "9")]),
        (CREATIVES, &[("offer_id", "1042")]),
        (CREATIVES, &[("creative_type_id", "1")]),
        (CREATIVES, &[("creative_type_id", "4")]),
        (CREATIVES, &[("creative_status", "paused")]),
        (CREATIVES, &[("creative_status", "deleted")]),
        (CREATIVES, &[("offer_id", "1042"), ("creative_type_id", "1")]),
        (PAGES, &[]),
        (PAGES, &[("landing_page_id", "883")]),
        (PAGES, &[("offer_id", "12345")]),
        (PAGES, &[("offer_id", "2001")]),
        (PAGES, &[("landing_page_status", "paused")]),
        (LINKS, &[]),
        (LINKS, &[("smart_link_id", "205")]),
        (LINKS, &[("smart_link_id", "999")]),
        (LINKS, &[("affiliate_id", "67890")]),
        (LINKS, &[("affiliate_id", "67892")]),
        (LINKS, &[("smart_link_status", "inactive")]),
        (LINKS, &[("affiliate_id", "67891"), ("smart_link_status", "active")]),
        (OFFERS, &[]),
        (OFFERS, &[("offer_id", "1043")]),
        (OFFERS, &[("offer_status", "active")]),
        (OFFERS, &[("offer_status", "paused")]),
        (OFFERS, &[("offer_status", "deleted")]),
        (AFFILIATES, &[]),
        (AFFILIATES, &[("affiliate_id", "67891")]),
        (AFFILIATES, &[("affiliate_id", "1")]),
    ];
    for (List(call, list, key, all_rows), filters) in cases {
        let want = expected_ids(list, key, filters);
        let mut params = filters.to_vec();
        if let Some(rows) = all_rows {
            params.push(("row_limit", rows));
        }
        let v = ok(&get(&s, call, &params).await);
        assert_eq!(ids(&v, list, key), want, "{call} {filters:?}");
        if all_rows.is_some() {
            assert_eq!(
                v["response"]["total_rows"],
                want.len(),
                "{call} {filters:?}: total_rows"
            );
        }
    }
    // The oracle is not empty-handed: only the six filters on purpose select nothing.
    let empty = cases
        .iter()
        .filter(|(List(_, list, key, _), filters)| expected_ids(list, key, filters).is_empty())
        .count();
    assert_eq!(empty, 6);
    s.stop().await;
}

#[tokio::test]
async fn campaign_pages_count_rows_from_one_with_100_rows_by_default() {
    let s = server().await;
    let all = expected_ids("campaigns", "campaign_id", &[]);
    let total = all.len();
    assert!(total > 100);
    let page = async |params: &[(&str, &str)]| {
        let v = ok(&get(&s, "campaigns.json", params).await);
        assert_eq!(v["response"]["total_rows"], total, "{params:?}: total_rows");
        ids(&v, "campaigns", "campaign_id")
    };
    assert_eq!(page(&[]).await, all[..100], "default: rows 1..=100");
    assert_eq!(page(&[("start_at_row", "1")]).await, all[..100]);
    assert_eq!(page(&[("row_limit", "10")]).await, all[..10]);
    assert_eq!(
        page(&[("start_at_row", "2"), ("row_limit", "3")]).await,
        all[1..4],
        "row 2 is the second campaign"
    );
    assert_eq!(
        page(&[("start_at_row", "101")]).await,
        all[100..],
        "the last page"
    );
    assert_eq!(page(&[("row_limit", "5000")]).await, all);
    assert!(
        page(&[("start_at_row", &(total + 1).to_string())])
            .await
            .is_empty(),
        "past the end: no rows, total_rows still counted"
    );
    // total_rows counts every match of the filters, not the page.
    let matching = expected_ids("campaigns", "campaign_id", &[("affiliate_id", "67891")]);
    let v = ok(&get(
        &s,
        "campaigns.json",
        &[
            ("affiliate_id", "67891"),
            ("start_at_row", "3"),
            ("row_limit", "4"),
        ],
    )
    .await);
    assert_eq!(ids(&v, "campaigns", "campaign_id"), matching[2..6]);
    assert_eq!(v["response"]["total_rows"], matching.len());
    s.stop().await;
}

#[tokio::test]
async fn smart_link_pages_count_rows_from_zero_with_100_rows_by_default() {
    let s = server().await;
    let all = expected_ids("smart_links", "smart_link_id", &[]);
    let total = all.len();
    assert!(total > 100);
    let page = async |params: &[(&str, &str)]| {
        let v = ok(&get(&s, "smart_links.json", params).await);
        assert_eq!(v["response"]["total_rows"], total, "{params:?}: total_rows");
        ids(&v, "smart_links", "smart_link_id")
    };
    assert_eq!(page(&[]).await, all[..100], "default: rows 0..100");
    assert_eq!(page(&[("start_at_row", "0")]).await, all[..100]);
    assert_eq!(
        page(&[("start_at_row", "1"), ("row_limit", "3")]).await,
        all[1..4],
        "row 1 is the second smart link"
    );
    assert_eq!(page(&[("start_at_row", "100")]).await, all[100..]);
    assert_eq!(page(&[("row_limit", "500")]).await, all);
    assert!(
        page(&[("start_at_row", &total.to_string())])
            .await
            .is_empty()
    );
    let matching = expected_ids(
        "smart_links",
        "smart_link_id",
        &[("smart_link_status", "inactive")],
    );
    let v = ok(&get(
        &s,
        "smart_links.json",
        &[
            ("smart_link_status", "inactive"),
            ("start_at_row", "2"),
            ("row_limit", "5"),
        ],
    )
    .await);
    assert_eq!(ids(&v, "smart_links", "smart_link_id"), matching[2..7]);
    assert_eq!(v["response"]["total_rows"], matching.len());
    s.stop().await;
}

#[tokio::test]
async fn offer_and_affiliate_pages_count_rows_from_one() {
    let s = server().await;
    let offers = expected_ids("offers", "offer_id", &[]);
    let v = ok(&get(
        &s,
        "offers.json",
        &[("start_at_row", "2"), ("row_limit", "2")],
    )
    .await);
    assert_eq!(ids(&v, "offers", "offer_id"), offers[1..3]);
    assert_eq!(v["response"]["total_rows"], offers.len());
    let v = ok(&get(&s, "affiliates.json", &[("start_at_row", "3")]).await);
    assert_eq!(ids(&v, "affiliates", "affiliate_id"), [67892]);
    assert_eq!(v["response"]["total_rows"], 3);
    s.stop().await;
}

#[tokio::test]
async fn out_of_range_paging_is_400_naming_the_parameter_not_clamped() {
    let s = server().await;
    for (call, param, value) in [
        ("campaigns.json", "start_at_row", "0"),
        ("campaigns.json", "start_at_row", "-1"),
        ("campaigns.json", "row_limit", "0"),
        ("campaigns.json", "row_limit", "-5"),
        ("campaigns.json", "row_limit", "5001"),
        ("campaigns.json", "row_limit", "99999999999999999999"),
        ("campaigns.json", "start_at_row", "first"),
        ("smart_links.json", "start_at_row", "-1"),
        ("smart_links.json", "row_limit", "0"),
        ("smart_links.json", "row_limit", "501"),
        ("smart_links.json", "row_limit", "5000"),
        ("smart_links.json", "row_limit", "1.5"),
        ("offers.json", "start_at_row", "0"),
        ("offers.json", "row_limit", "5001"),
        ("affiliates.json", "row_limit", "0"),
    ] {
        let r = get(&s, call, &[(param, value)]).await;
        let v = failure(&r, 400, Some(param));
        assert_eq!(fields(&v).len(), 1, "{call} {param}={value}: {v}");
    }
    // The limits themselves are accepted.
    for (call, param, value) in [
        ("campaigns.json", "start_at_row", "1"),
        ("campaigns.json", "row_limit", "5000"),
        ("campaigns.json", "row_limit", "1"),
        ("smart_links.json", "start_at_row", "0"),
        ("smart_links.json", "row_limit", "500"),
        ("smart_links.json", "row_limit", "1"),
    ] {
        ok(&get(&s, call, &[(param, value)]).await);
    }
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. The calls beyond the seeds.

#[tokio::test]
async fn offer_json_creates_an_offer_that_the_next_click_reaches() {
    let s = server().await;
    let r = ok(&post(
        &s,
        "offer.json",
        json!({"offer_name": "Home Warranty", "offer_url": "https://warranty.example.com/?c={click_id}",
               "allowed_countries": ["US"], "allowed_devices": ["desktop"],
               "daily_clicks": 500, "total_conversions": null}),
    )
    .await);
    let offer = json!({"offer_id": 12346, "offer_name": "Home Warranty", "offer_status": "active",
        "offer_url": "https://warranty.example.com/?c={click_id}",
        "allowed_countries": ["US"], "allowed_devices": ["desktop"],
        "caps": {"daily_clicks": 500, "daily_conversions": null, "weekly_conversions": null,
                 "monthly_conversions": null, "total_conversions": null},
        "postback_token": null});
    assert_eq!(r, json!({"request_status": "Success", "offer": offer}));
    let list = ok(&get(&s, "offers.json", &[("offer_id", "12346")]).await);
    assert_eq!(items(&list, "offers"), [offer]);
    let saved = disk_entity(&s, "offers", "offer_id", 12346).expect("saved");
    assert_eq!(saved["caps"]["daily_clicks"], 500);
    assert_eq!(saved["allowed_countries"], json!(["US"]));

    // A form body: lists are comma-separated.
    let r = ok(&post_form(
        &s,
        "offer.json",
        &[
            ("offer_name", "Solar Quotes"),
            ("offer_url", "https://solar.example.com/"),
            ("offer_status", "paused"),
            ("allowed_countries", "US,CA"),
            ("allowed_devices", "mobile,tablet"),
            ("daily_conversions", "10"),
        ],
    )
    .await);
    assert_eq!(r["offer"]["offer_id"], 12347);
    assert_eq!(r["offer"]["offer_status"], "paused");
    assert_eq!(r["offer"]["allowed_countries"], json!(["US", "CA"]));
    assert_eq!(r["offer"]["allowed_devices"], json!(["mobile", "tablet"]));
    assert_eq!(r["offer"]["caps"]["daily_conversions"], 10);

    // Attached to a new smart link, the new offer takes the very next click.
    let link = ok(&post(
        &s,
        "smart_link.json",
        json!({"affiliate_id": 67892, "smart_link_name": "Warranty",
               "fallback_url": "https://fallback.example/w"}),
    )
    .await);
    assert_eq!(link["response"]["smart_link_id"], 302);
    ok(&post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 302, "offer_id": 12346}),
    )
    .await);
    assert!(
        click(&s, "/sl?id=302", &[DESKTOP, US])
            .await
            .starts_with("https://warranty.example.com/?c=")
    );
    assert_eq!(
        click(&s, "/sl?id=302", &[DESKTOP, GB]).await,
        "https://fallback.example/w",
        "the offer's countries hold"
    );
    assert_eq!(
        click(&s, "/sl?id=302", &[MOBILE, US]).await,
        "https://fallback.example/w",
        "the offer's devices hold"
    );
    s.stop().await;
}

#[tokio::test]
async fn update_offer_sets_and_clears_caps_and_the_next_click_obeys() {
    let s = server().await;
    let to_offer = "https://score.example.com/?clk=";
    let fallback = "https://fallback.example/cap?l=205";
    let r = ok(&post_form(
        &s,
        "update_offer.json",
        &[("offer_id", "1043"), ("daily_clicks", "2")],
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "offer": {"offer_id": 1043, "daily_clicks": 2}})
    );
    let caps = |v: &Value| items(v, "offers")[0]["caps"].clone();
    let list = ok(&get(&s, "offers.json", &[("offer_id", "1043")]).await);
    assert_eq!(
        caps(&list),
        json!({"daily_clicks": 2, "daily_conversions": 100, "weekly_conversions": null,
               "monthly_conversions": null, "total_conversions": null}),
        "the other caps keep their values"
    );
    let saved = disk_entity(&s, "offers", "offer_id", 1043).unwrap();
    assert_eq!(saved["caps"]["daily_clicks"], 2);
    assert_eq!(saved["caps"]["daily_conversions"], 100);

    assert!(
        click(&s, "/sl?id=205", &[DESKTOP, US])
            .await
            .starts_with(to_offer)
    );
    assert!(
        click(&s, "/sl?id=205", &[DESKTOP, US])
            .await
            .starts_with(to_offer)
    );
    assert_eq!(
        click(&s, "/sl?id=205", &[DESKTOP, US]).await,
        fallback,
        "the third click of the day is over the cap"
    );

    // null clears the cap (JSON)...
    let r = ok(&post(
        &s,
        "update_offer.json",
        json!({"offer_id": 1043, "daily_clicks": null}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "offer": {"offer_id": 1043, "daily_clicks": null}})
    );
    assert!(
        click(&s, "/sl?id=205", &[DESKTOP, US])
            .await
            .starts_with(to_offer)
    );
    let list = ok(&get(&s, "offers.json", &[("offer_id", "1043")]).await);
    assert_eq!(caps(&list)["daily_clicks"], Value::Null);
    assert_eq!(caps(&list)["daily_conversions"], 100);
    let saved = disk_entity(&s, "offers", "offer_id", 1043).unwrap();
    assert_eq!(saved["caps"]["daily_clicks"], Value::Null);

    // ... and so does an empty form value.
    ok(&post_form(
        &s,
        "update_offer.json",
        &[("offer_id", "1043"), ("daily_conversions", "")],
    )
    .await);
    let list = ok(&get(&s, "offers.json", &[("offer_id", "1043")]).await);
    assert_eq!(caps(&list)["daily_conversions"], Value::Null);

    // Other fields: a new URL is the next click's, a paused offer takes no click.
    ok(&post(
        &s,
        "update_offer.json",
        json!({"offer_id": 1043, "offer_url": "https://score2.example.com/?c={click_id}",
               "offer_name": "Credit Score Check v2"}),
    )
    .await);
    assert!(
        click(&s, "/sl?id=205", &[DESKTOP, US])
            .await
            .starts_with("https://score2.example.com/?c=")
    );
    let r = ok(&post(
        &s,
        "update_offer.json",
        json!({"offer_id": 1043, "offer_status": "paused"}),
    )
    .await);
    assert_eq!(
        r["offer"],
        json!({"offer_id": 1043, "offer_status": "paused"})
    );
    assert_eq!(click(&s, "/sl?id=205", &[DESKTOP, US]).await, fallback);
    let list = ok(&get(&s, "offers.json", &[("offer_id", "1043")]).await);
    let item = &items(&list, "offers")[0];
    assert_eq!(
        (&item["offer_name"], &item["offer_status"]),
        (&json!("Credit Score Check v2"), &json!("paused"))
    );
    assert_eq!(
        disk_entity(&s, "offers", "offer_id", 1043).unwrap()["offer_status"],
        "paused"
    );
    s.stop().await;
}

#[tokio::test]
async fn landing_page_calls_create_and_update_the_pages_campaign_clicks_go_to() {
    let s = server().await;
    let r = ok(&post(
        &s,
        "landing_page.json",
        json!({"offer_id": 12345, "landing_page_name": "Spring LP",
               "url": "https://safedrive.example.com/spring?c={click_id}"}),
    )
    .await);
    let page = json!({"landing_page_id": 884, "landing_page_name": "Spring LP", "offer_id": 12345,
        "url": "https://safedrive.example.com/spring?c={click_id}", "landing_page_status": "active"});
    assert_eq!(
        r,
        json!({"request_status": "Success", "landing_page": page})
    );
    assert_shape(
        &r["landing_page"],
        &seed_json("landing_pages.response.json")["landing_pages"][0],
        &[],
        "landing_page",
    );
    let list = ok(&get(&s, "landing_pages.json", &[("landing_page_id", "884")]).await);
    assert_eq!(items(&list, "landing_pages"), std::slice::from_ref(&page));
    assert_eq!(
        disk_entity(&s, "landing_pages", "landing_page_id", 884),
        Some(page)
    );

    let r = ok(&post(
        &s,
        "update_campaign.json",
        json!({"campaign_id": 98001, "landing_page_id": 884}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "campaign": {"campaign_id": 98001, "landing_page_id": 884}})
    );
    assert!(
        click(&s, "/rd/r.php?sid=98001&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://safedrive.example.com/spring?c=")
    );

    let r = ok(&post_form(
        &s,
        "update_landing_page.json",
        &[
            ("landing_page_id", "884"),
            ("landing_page_name", "Summer LP"),
            ("url", "https://safedrive.example.com/summer?c={click_id}"),
        ],
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "landing_page": {"landing_page_id": 884,
               "landing_page_name": "Summer LP",
               "url": "https://safedrive.example.com/summer?c={click_id}"}})
    );
    assert!(
        click(&s, "/rd/r.php?sid=98001&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://safedrive.example.com/summer?c=")
    );
    let r = ok(&post(
        &s,
        "update_landing_page.json",
        json!({"landing_page_id": 884, "landing_page_status": "paused"}),
    )
    .await);
    assert_eq!(
        r["landing_page"],
        json!({"landing_page_id": 884, "landing_page_status": "paused"})
    );
    let list = ok(&get(
        &s,
        "landing_pages.json",
        &[("landing_page_status", "paused")],
    )
    .await);
    assert_eq!(ids(&list, "landing_pages", "landing_page_id"), [882, 884]);
    let saved = disk_entity(&s, "landing_pages", "landing_page_id", 884).unwrap();
    assert_eq!(
        saved["url"],
        "https://safedrive.example.com/summer?c={click_id}"
    );
    assert_eq!(saved["landing_page_name"], "Summer LP");
    assert_eq!(saved["landing_page_status"], "paused");

    // Clearing the campaign's landing page sends its clicks to the offer again.
    ok(&post(
        &s,
        "update_campaign.json",
        json!({"campaign_id": 98001, "landing_page_id": null}),
    )
    .await);
    assert!(
        click(&s, "/rd/r.php?sid=98001&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://safedrive.example.com/quote?click=")
    );
    assert_eq!(
        disk_entity(&s, "campaigns", "campaign_id", 98001).unwrap()["landing_page_id"],
        Value::Null
    );
    s.stop().await;
}

#[tokio::test]
async fn creative_calls_create_and_update_creatives() {
    let s = server().await;
    let r = ok(&post(
        &s,
        "creative.json",
        json!({"offer_id": 12345, "creative_name": "Email - Quote", "creative_type_id": 3}),
    )
    .await);
    let creative = json!({"creative_id": 4425, "creative_name": "Email - Quote",
        "creative_type": "Email", "offer_id": 12345, "creative_status": "active",
        "width": null, "height": null});
    assert_eq!(
        r,
        json!({"request_status": "Success", "creative": creative})
    );
    assert_shape(
        &r["creative"],
        &seed_json("creatives.response.json")["creatives"][0],
        &["width", "height"],
        "creative",
    );
    let list = ok(&get(&s, "creatives.json", &[("creative_type_id", "3")]).await);
    assert_eq!(ids(&list, "creatives", "creative_id"), [4423, 4425]);
    assert_eq!(
        disk_entity(&s, "creatives", "creative_id", 4425).unwrap()["creative_type_id"],
        3
    );

    let r = ok(&post_form(
        &s,
        "update_creative.json",
        &[
            ("creative_id", "4425"),
            ("creative_type_id", "1"),
            ("width", "728"),
            ("height", "90"),
            ("creative_status", "paused"),
        ],
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "creative": {"creative_id": 4425,
               "creative_type_id": 1, "creative_status": "paused", "width": 728, "height": 90}})
    );
    let list = ok(&get(&s, "creatives.json", &[("creative_id", "4425")]).await);
    assert_eq!(
        items(&list, "creatives")[0],
        json!({"creative_id": 4425, "creative_name": "Email - Quote", "creative_type": "Banner",
               "offer_id": 12345, "creative_status": "paused", "width": 728, "height": 90})
    );
    let r = ok(&post(
        &s,
        "update_creative.json",
        json!({"creative_id": 4425, "width": null, "height": null}),
    )
    .await);
    assert_eq!(r["creative"]["width"], Value::Null);
    let list = ok(&get(&s, "creatives.json", &[("creative_id", "4425")]).await);
    assert_eq!(items(&list, "creatives")[0]["width"], Value::Null);
    assert_eq!(items(&list, "creatives")[0]["height"], Value::Null);
    let saved = disk_entity(&s, "creatives", "creative_id", 4425).unwrap();
    assert_eq!(
        (&saved["width"], &saved["height"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(saved["creative_status"], "paused");

    // A campaign takes a creative of its own offer.
    ok(&post(
        &s,
        "update_campaign.json",
        json!({"campaign_id": 98001, "creative_id": 4422}),
    )
    .await);
    let list = ok(&get(&s, "campaigns.json", &[("campaign_id", "98001")]).await);
    assert_eq!(items(&list, "campaigns")[0]["creative_id"], 4422);
    s.stop().await;
}

#[tokio::test]
async fn affiliate_calls_create_and_rename_affiliates() {
    let s = server().await;
    let r = ok(&post_form(&s, "affiliate.json", &[("affiliate_name", "Bluewave Ads")]).await);
    assert_eq!(
        r,
        json!({"request_status": "Success",
               "affiliate": {"affiliate_id": 67893, "affiliate_name": "Bluewave Ads"}})
    );
    let list = ok(&get(&s, "affiliates.json", &[("affiliate_id", "67893")]).await);
    assert_eq!(
        list,
        json!({"request_status": "Success", "response": {
            "affiliates": [{"affiliate_id": 67893, "affiliate_name": "Bluewave Ads"}],
            "total_rows": 1}})
    );
    assert_eq!(
        disk_entity(&s, "affiliates", "affiliate_id", 67893).unwrap()["affiliate_name"],
        "Bluewave Ads"
    );
    // The new affiliate can have campaigns and smart links at once.
    let c = ok(&post(
        &s,
        "campaign.json",
        json!({"offer_id": 1042, "affiliate_id": 67893}),
    )
    .await);
    assert_eq!(
        c["campaign"]["tracking_link"],
        format!("{BASE}/rd/r.php?sid=98002&aff_id=67893")
    );
    let l = ok(&post(
        &s,
        "smart_link.json",
        json!({"affiliate_id": 67893, "smart_link_name": "Bluewave Rotator"}),
    )
    .await);
    assert_eq!(l["response"]["smart_link_id"], 302);
    assert_eq!(
        click(&s, "/sl?id=302&aff_id=67893", &[DESKTOP, US]).await,
        "https://default.example/?l=302",
        "a link without attachments or fallback: the default fallback"
    );

    let r = ok(&post(
        &s,
        "update_affiliate.json",
        json!({"affiliate_id": 67890, "affiliate_name": "MediaBridge Partners LLC"}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success",
               "affiliate": {"affiliate_id": 67890, "affiliate_name": "MediaBridge Partners LLC"}})
    );
    let list = ok(&get(&s, "campaigns.json", &[("campaign_id", "98001")]).await);
    assert_eq!(
        items(&list, "campaigns")[0]["affiliate_name"],
        "MediaBridge Partners LLC"
    );
    assert_eq!(
        disk_entity(&s, "affiliates", "affiliate_id", 67890).unwrap()["affiliate_name"],
        "MediaBridge Partners LLC"
    );
    s.stop().await;
}

#[tokio::test]
async fn update_smart_link_changes_what_the_next_click_gets() {
    let s = server().await;
    let r = ok(&post(
        &s,
        "update_smart_link.json",
        json!({"smart_link_id": 301, "fallback_url": "https://yourdomain.com/elsewhere",
               "smart_link_status": "inactive"}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "response": {"smart_link_id": 301,
               "fallback_url": "https://yourdomain.com/elsewhere", "smart_link_status": "inactive"}})
    );
    assert_eq!(
        click(&s, "/sl?id=301&aff_id=67890", &[DESKTOP, US]).await,
        "https://yourdomain.com/elsewhere",
        "inactive: the new fallback"
    );
    let list = ok(&get(&s, "smart_links.json", &[("smart_link_id", "301")]).await);
    let item = &items(&list, "smart_links")[0];
    assert_eq!(
        (&item["smart_link_status"], &item["fallback_url"]),
        (
            &json!("inactive"),
            &json!("https://yourdomain.com/elsewhere")
        )
    );
    let saved = disk_entity(&s, "smart_links", "smart_link_id", 301).unwrap();
    assert_eq!(saved["smart_link_status"], "inactive");
    assert_eq!(saved["fallback_url"], "https://yourdomain.com/elsewhere");

    // null clears the fallback: the server's default serves.
    let r = ok(&post(
        &s,
        "update_smart_link.json",
        json!({"smart_link_id": 301, "fallback_url": null}),
    )
    .await);
    assert_eq!(
        r["response"],
        json!({"smart_link_id": 301, "fallback_url": null})
    );
    assert_eq!(
        click(&s, "/sl?id=301", &[DESKTOP, US]).await,
        "https://default.example/?l=301"
    );
    let list = ok(&get(&s, "smart_links.json", &[("smart_link_id", "301")]).await);
    assert_eq!(items(&list, "smart_links")[0]["fallback_url"], Value::Null);
    assert_eq!(
        disk_entity(&s, "smart_links", "smart_link_id", 301).unwrap()["fallback_url"],
        Value::Null
    );

    // Active again (form body), renamed: routed again.
    ok(&post_form(
        &s,
        "update_smart_link.json",
        &[
            ("smart_link_id", "301"),
            ("smart_link_status", "active"),
            ("smart_link_name", "Finance Rotator - US/CA"),
        ],
    )
    .await);
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/apply?click=")
    );
    let list = ok(&get(&s, "smart_links.json", &[("smart_link_id", "301")]).await);
    assert_eq!(
        items(&list, "smart_links")[0]["smart_link_name"],
        "Finance Rotator - US/CA"
    );
    s.stop().await;
}

#[tokio::test]
async fn delete_smart_link_makes_its_link_404() {
    let s = server().await;
    assert_eq!(
        click(&s, "/sl?id=204", &[DESKTOP, GB])
            .await
            .split('?')
            .next(),
        Some("https://score.example.com/")
    );
    let r = ok(&post_form(&s, "delete_smart_link.json", &[("smart_link_id", "204")]).await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "response": {"smart_link_id": 204, "deleted": true}})
    );
    assert_eq!(
        s.get("/sl?id=204", &[DESKTOP, GB]).await.status,
        StatusCode::NOT_FOUND
    );
    let list = ok(&get(&s, "smart_links.json", &[("smart_link_id", "204")]).await);
    assert_eq!(list["response"]["total_rows"], 0);
    assert_eq!(disk_entity(&s, "smart_links", "smart_link_id", 204), None);
    let before = catalog_bytes(&s);
    let r = post(&s, "delete_smart_link.json", json!({"smart_link_id": 204})).await;
    failure(&r, 404, Some("smart_link_id"));
    let r = get(&s, "smart_link_stats.json", &[("smart_link_id", "204")]).await;
    failure(&r, 404, Some("smart_link_id"));
    assert_eq!(catalog_bytes(&s), before);
    s.stop().await;
}

#[tokio::test]
async fn a_deleted_smart_links_id_is_never_given_again() {
    let s = server().await;
    let create = async |name: &str| {
        let r = ok(&post_form(
            &s,
            "smart_link.json",
            &[("affiliate_id", "67890"), ("smart_link_name", name)],
        )
        .await);
        r["response"]["smart_link_id"].as_u64().expect("id")
    };
    let first = create("Short-lived").await;
    let r = s.get(&format!("/sl?id={first}"), &[DESKTOP, US]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    ok(&post(
        &s,
        "delete_smart_link.json",
        json!({"smart_link_id": first}),
    )
    .await);
    let second = create("Successor").await;
    assert_eq!(second, first + 1, "the deleted link's id is not reused");
    // So the new link starts from zero rather than the deleted one's click.
    let stats = ok(&get(
        &s,
        "smart_link_stats.json",
        &[("smart_link_id", &second.to_string())],
    )
    .await);
    assert_eq!(stats["response"]["clicks"], 0);
    s.stop().await;
}

#[tokio::test]
async fn remove_smart_link_offer_detaches_and_the_next_click_skips_it() {
    let s = server().await;
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/")
    );
    let r = ok(&post(
        &s,
        "remove_smart_link_offer.json",
        json!({"smart_link_id": 301, "offer_id": 1042}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success",
               "response": {"smart_link_id": 301, "offer_id": 1042, "removed": true}})
    );
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, US])
            .await
            .starts_with("https://score.example.com/"),
        "priority 2 serves once 1042 is gone"
    );
    let v = ok(&get(&s, "smart_link_offers.json", &[("smart_link_id", "301")]).await);
    assert_eq!(ids(&v, "offers", "offer_id"), [12345, 1043]);
    let v = ok(&get(&s, "smart_links.json", &[("smart_link_id", "301")]).await);
    assert_eq!(items(&v, "smart_links")[0]["offer_count"], 2);
    let saved = disk_entity(&s, "smart_links", "smart_link_id", 301).unwrap();
    let on_file: Vec<&Value> = saved["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["offer_id"])
        .collect();
    assert_eq!(on_file, [&json!(12345), &json!(1043)]);

    let before = catalog_bytes(&s);
    let r = post_form(
        &s,
        "remove_smart_link_offer.json",
        &[("smart_link_id", "301"), ("offer_id", "1042")],
    )
    .await;
    failure(&r, 404, Some("offer_id"));
    let r = post(
        &s,
        "remove_smart_link_offer.json",
        json!({"smart_link_id": 999, "offer_id": 1042}),
    )
    .await;
    failure(&r, 404, Some("smart_link_id"));
    assert_eq!(catalog_bytes(&s), before);
    s.stop().await;
}

#[tokio::test]
async fn attaching_an_attached_offer_updates_it_without_duplicating() {
    let s = server().await;
    let r = ok(&post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 301, "offer_id": 1042, "offer_weight": 10}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "response": {"smart_link_id": 301, "offer_id": 1042,
               "offer_weight": 10, "priority": 1, "added": false}})
    );
    let v = ok(&get(&s, "smart_link_offers.json", &[("smart_link_id", "301")]).await);
    assert_eq!(
        items(&v, "offers"),
        [
            json!({"offer_id": 12345, "offer_weight": 60, "priority": 1, "countries": ["US"], "devices": ["mobile"]}),
            json!({"offer_id": 1042, "offer_weight": 10, "priority": 1, "countries": ["US", "CA"], "devices": []}),
            json!({"offer_id": 1043, "offer_weight": 1, "priority": 2, "countries": [], "devices": []}),
        ],
        "one attachment of 1042, its other fields kept"
    );
    let v = ok(&get(&s, "smart_links.json", &[("smart_link_id", "301")]).await);
    assert_eq!(items(&v, "smart_links")[0]["offer_count"], 3);
    let saved = disk_entity(&s, "smart_links", "smart_link_id", 301).unwrap();
    let of_1042: Vec<&Value> = saved["offers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["offer_id"] == 1042)
        .collect();
    assert_eq!(
        of_1042,
        [&json!({"offer_id": 1042, "offer_weight": 10, "priority": 1, "countries": ["US", "CA"]})]
    );

    // New countries and devices (a form body): the next clicks follow them.
    let r = ok(&post_form(
        &s,
        "smart_link_offer.json",
        &[
            ("smart_link_id", "301"),
            ("offer_id", "1042"),
            ("countries", "GB"),
            ("devices", "desktop"),
        ],
    )
    .await);
    assert_eq!(r["response"]["added"], false);
    assert_eq!(r["response"]["offer_weight"], 10);
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, GB])
            .await
            .starts_with("https://loans.example.com/"),
        "1042 now takes GB desktops at priority 1"
    );
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, US])
            .await
            .starts_with("https://score.example.com/"),
        "and no longer US ones"
    );

    // A new attachment gets weight 1, priority 1, any country and device.
    let r = ok(&post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 205, "offer_id": 12345}),
    )
    .await);
    assert_eq!(
        r["response"],
        json!({"smart_link_id": 205, "offer_id": 12345, "offer_weight": 1, "priority": 1, "added": true})
    );
    let v = ok(&get(&s, "smart_link_offers.json", &[("smart_link_id", "205")]).await);
    assert_eq!(
        items(&v, "offers")[1],
        json!({"offer_id": 12345, "offer_weight": 1, "priority": 1, "countries": [], "devices": []})
    );
    s.stop().await;
}

#[tokio::test]
async fn smart_link_offers_lists_every_attachment_with_its_rule() {
    let s = server().await;
    let v = ok(&get(&s, "smart_link_offers.json", &[("smart_link_id", "301")]).await);
    assert_eq!(
        v,
        json!({"request_status": "Success", "response": {"smart_link_id": 301, "offers": [
            {"offer_id": 12345, "offer_weight": 60, "priority": 1, "countries": ["US"], "devices": ["mobile"]},
            {"offer_id": 1042, "offer_weight": 40, "priority": 1, "countries": ["US", "CA"], "devices": []},
            {"offer_id": 1043, "offer_weight": 1, "priority": 2, "countries": [], "devices": []}
        ]}})
    );
    failure(
        &get(&s, "smart_link_offers.json", &[("smart_link_id", "999")]).await,
        404,
        Some("smart_link_id"),
    );
    failure(
        &get(&s, "smart_link_offers.json", &[]).await,
        400,
        Some("smart_link_id"),
    );
    s.stop().await;
}

#[tokio::test]
async fn offers_and_affiliates_list_every_field() {
    let s = server().await;
    let v = ok(&get(&s, "offers.json", &[("offer_id", "12345")]).await);
    assert_eq!(
        v,
        json!({"request_status": "Success", "response": {"offers": [{
            "offer_id": 12345, "offer_name": "Auto Insurance Quote - US", "offer_status": "active",
            "offer_url": "https://safedrive.example.com/quote?click={click_id}&aff={affiliate_id}",
            "allowed_countries": [], "allowed_devices": [],
            "caps": {"daily_clicks": null, "daily_conversions": null, "weekly_conversions": null,
                     "monthly_conversions": null, "total_conversions": null},
            "postback_token": null}],
            "total_rows": 1}})
    );
    let v = ok(&get(&s, "offers.json", &[("offer_status", "paused")]).await);
    assert_eq!(
        items(&v, "offers")[0]["allowed_countries"],
        json!(["DE", "FR", "GB"])
    );
    let v = ok(&get(&s, "affiliates.json", &[]).await);
    assert_eq!(
        v,
        json!({"request_status": "Success", "response": {"affiliates": [
            {"affiliate_id": 67890, "affiliate_name": "MediaBridge Partners"},
            {"affiliate_id": 67891, "affiliate_name": "Clickstream Media"},
            {"affiliate_id": 67892, "affiliate_name": "Northwind Traffic"}
        ], "total_rows": 3}})
    );
    s.stop().await;
}

/// The `response` of `smart_link_stats.json` for `id`.
async fn stats(s: &TestServer, id: &str) -> Value {
    ok(&get(s, "smart_link_stats.json", &[("smart_link_id", id)]).await)["response"].clone()
}

#[tokio::test]
async fn smart_link_stats_counts_real_clicks() {
    let s = server().await;
    let fresh = stats(&s, "301").await;
    assert_eq!(
        fresh,
        json!({"smart_link_id": 301, "clicks": 0, "routed": 0,
               "fallback": {"no_match": 0, "all_capped": 0, "inactive": 0, "bot": 0},
               "conversions": 0, "fill_rate": null, "offers": [
                   {"offer_id": 12345, "routed": 0, "conversions": 0},
                   {"offer_id": 1042, "routed": 0, "conversions": 0},
                   {"offer_id": 1043, "routed": 0, "conversions": 0}]})
    );
    let mut converted = None;
    for _ in 0..3 {
        let to = click(&s, "/sl?id=301&aff_id=67890", &[DESKTOP, US]).await;
        assert!(to.starts_with("https://loans.example.com/"), "{to}");
        converted = query_param(&to, "click");
    }
    for _ in 0..2 {
        let to = click(&s, "/sl?id=301", &[DESKTOP, GB]).await;
        assert!(to.starts_with("https://score.example.com/"), "{to}");
    }
    assert_eq!(
        click(&s, "/sl?id=301", &[BOT, US]).await,
        "https://yourdomain.com/no-offer"
    );
    // HEAD records nothing; neither do refused clicks.
    let head = request(s.addr, "HEAD", "/sl?id=301", &[DESKTOP, US]).await;
    assert_eq!(head.status, StatusCode::FOUND);
    let wrong = s.get("/sl?id=301&aff_id=67891", &[DESKTOP, US]).await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);

    let want = json!({"smart_link_id": 301, "clicks": 6, "routed": 5,
        "fallback": {"no_match": 0, "all_capped": 0, "inactive": 0, "bot": 1},
        "conversions": 0, "fill_rate": 5.0 / 6.0, "offers": [
            {"offer_id": 12345, "routed": 0, "conversions": 0},
            {"offer_id": 1042, "routed": 3, "conversions": 0},
            {"offer_id": 1043, "routed": 2, "conversions": 0}]});
    assert_eq!(stats(&s, "301").await, want);

    // A conversion of a 1042 click counts for the link and the offer.
    let id = converted.expect("the offer URL carries the click id");
    let p = s.get(&format!("/p?click_id={id}"), &[]).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let mut want = want;
    want["conversions"] = 1.into();
    want["offers"][1]["conversions"] = 1.into();
    let mut last = Value::Null;
    assert!(
        eventually(std::time::Duration::from_secs(5), async || {
            last = stats(&s, "301").await;
            last == want
        })
        .await,
        "{last}"
    );

    // A catalog write keeps the counts.
    ok(&post(
        &s,
        "update_smart_link.json",
        json!({"smart_link_id": 301, "smart_link_name": "Renamed"}),
    )
    .await);
    assert_eq!(stats(&s, "301").await, want);

    // An inactive link's clicks are fallbacks of their own kind.
    click(&s, "/sl?id=206", &[DESKTOP, US]).await;
    let inactive = stats(&s, "206").await;
    assert_eq!(inactive["clicks"], 1);
    assert_eq!(inactive["fallback"]["inactive"], 1);
    assert_eq!(inactive["fill_rate"], 0.0);
    s.stop().await;
}

#[tokio::test]
async fn smart_link_route_explains_the_decision_and_records_nothing() {
    let s = server().await;
    let route = async |params: &[(&str, &str)]| {
        ok(&get(&s, "smart_link_route.json", params).await)["response"].clone()
    };
    let r = route(&[
        ("smart_link_id", "301"),
        ("ip", "216.160.83.56"),
        ("user_agent", CHROME_WINDOWS),
    ])
    .await;
    assert_eq!(r["smart_link_id"], 301);
    assert_eq!(r["smart_link_status"], "active");
    assert_eq!(r["affiliate_id"], 67890);
    assert_eq!(
        r["client"],
        json!({"ip": "216.160.83.56", "country": "US", "device": "desktop", "os": "windows"})
    );
    assert_eq!(r["decision"]["outcome"], "routed");
    assert_eq!(r["decision"]["offer_id"], 1042);
    assert_eq!(r["decision"]["priority"], 1);
    assert_eq!(r["decision"]["fallback_reason"], Value::Null);
    assert!(
        r["decision"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://loans.example.com/apply?click=")),
        "{r}"
    );
    let a = r["attachments"].as_array().expect("attachments");
    assert_eq!(a.len(), 3);
    assert_eq!(
        (&a[0]["offer_id"], &a[0]["result"], &a[0]["reason"]),
        (&json!(12345), &json!("skipped"), &json!("device_mismatch"))
    );
    assert_eq!(
        (&a[1]["offer_id"], &a[1]["result"], &a[1]["probability"]),
        (&json!(1042), &json!("chosen"), &json!(1.0))
    );
    assert_eq!(
        (&a[2]["offer_id"], &a[2]["result"], &a[2]["would_qualify"]),
        (&json!(1043), &json!("not_reached"), &json!(true))
    );

    let r = route(&[
        ("smart_link_id", "301"),
        ("ip", "81.2.69.142"),
        ("user_agent", CHROME_WINDOWS),
    ])
    .await;
    assert_eq!(r["client"]["country"], "GB");
    assert_eq!(r["decision"]["offer_id"], 1043);
    assert_eq!(r["decision"]["priority"], 2);
    assert_eq!(r["attachments"][1]["reason"], "country_mismatch");

    let r = route(&[
        ("smart_link_id", "301"),
        ("ip", "216.160.83.56"),
        ("user_agent", CHROME_WINDOWS),
        ("sec_ch_ua_mobile", "?1"),
    ])
    .await;
    assert_eq!(r["client"]["device"], "mobile");
    // A US mobile client qualifies for both priority-1 offers: one is drawn, 60 to 40.
    let a = &r["attachments"];
    let results = [a[0]["result"].clone(), a[1]["result"].clone()];
    assert!(
        results == [json!("chosen"), json!("qualified")]
            || results == [json!("qualified"), json!("chosen")],
        "{r}"
    );
    assert_eq!(
        (&a[0]["offer_id"], &a[0]["probability"]),
        (&json!(12345), &json!(0.6))
    );
    assert_eq!(
        (&a[1]["offer_id"], &a[1]["probability"]),
        (&json!(1042), &json!(0.4))
    );

    let r = route(&[("smart_link_id", "301"), ("user_agent", GOOGLEBOT)]).await;
    assert_eq!(r["decision"]["outcome"], "fallback");
    assert_eq!(r["decision"]["fallback_reason"], "bot");
    assert_eq!(r["decision"]["url"], "https://yourdomain.com/no-offer");

    let r = route(&[
        ("smart_link_id", "204"),
        ("ip", "81.2.69.142"),
        ("user_agent", CHROME_WINDOWS),
    ])
    .await;
    assert_eq!(r["attachments"][0]["reason"], "offer_paused");

    // Nothing was counted or recorded.
    assert_eq!(stats(&s, "301").await["clicks"], 0);
    assert_eq!(stats(&s, "204").await["clicks"], 0);
    assert!(s.records().is_empty(), "route records no click");

    failure(
        &get(
            &s,
            "smart_link_route.json",
            &[("smart_link_id", "301"), ("ip", "not-an-ip")],
        )
        .await,
        400,
        Some("ip"),
    );
    failure(
        &get(&s, "smart_link_route.json", &[("smart_link_id", "999")]).await,
        404,
        Some("smart_link_id"),
    );
    // A real click is recorded: the check above could have failed.
    click(&s, "/sl?id=301", &[DESKTOP, US]).await;
    assert_eq!(s.records().len(), 1);
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Failures.

#[tokio::test]
async fn a_missing_or_wrong_api_key_is_401_naming_api_key() {
    let s = server().await;
    let before = catalog_bytes(&s);
    let wrong = "not-the-key-4321";
    for target in [
        "/api/2/campaigns.json".to_string(),
        "/api/2/campaigns.json?offer_id=12345".to_string(),
        format!("/api/2/campaigns.json?api_key={wrong}"),
        "/api/2/campaigns.json?api_key=".to_string(),
        format!("/api/2/campaigns.json?api_key={}", API_KEY.to_uppercase()),
        format!("/api/2/campaigns.json?api_key={API_KEY}x"),
        format!("/api/2/campaigns.json?API_KEY={API_KEY}"),
    ] {
        let r = s.get(&target, &[]).await;
        let v = failure(&r, 401, Some("api_key"));
        assert!(!r.body.contains(wrong), "the key is not echoed: {v}");
    }
    let body = json!({"campaign_id": 98001, "campaign_status": "paused"});
    for key in [
        None,
        Some(json!(wrong)),
        Some(json!("")),
        Some(json!(12345)),
        Some(Value::Null),
    ] {
        let mut b = body.clone();
        if let Some(k) = key {
            b["api_key"] = k;
        }
        let r = s.post_json("/api/2/update_campaign.json", &b).await;
        failure(&r, 401, Some("api_key"));
    }
    for form in [
        "campaign_id=98001&campaign_status=paused".to_string(),
        format!("api_key={wrong}&campaign_id=98001&campaign_status=paused"),
    ] {
        let r = s.post_form("/api/2/update_campaign.json", &form).await;
        failure(&r, 401, Some("api_key"));
    }
    assert_eq!(catalog_bytes(&s), before, "refused writes change nothing");
    let list = ok(&get(&s, "campaigns.json", &[("campaign_id", "98001")]).await);
    assert_eq!(items(&list, "campaigns")[0]["campaign_status"], "active");
    s.stop().await;
}

#[tokio::test]
async fn every_call_demands_a_key_and_its_own_method() {
    let s = server().await;
    let before = catalog_bytes(&s);
    assert_eq!(CALLS.len(), 24);
    for call in &CALLS {
        let target = format!("/api/2/{}", call.name);
        let right = call.method.as_str();
        // The right method without a key: 401.
        let r = if right == "GET" {
            s.get(&target, &[]).await
        } else {
            s.post_json(&target, &json!({})).await
        };
        failure(&r, 401, Some("api_key"));
        // Any other method, even with a key: 405 with Allow.
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if method == right {
                continue;
            }
            let r = Client::connect(s.addr)
                .await
                .send_body(
                    method,
                    &format!("{target}?api_key={API_KEY}"),
                    &[("content-type", "application/x-www-form-urlencoded")],
                    format!("api_key={API_KEY}").as_bytes(),
                )
                .await;
            failure(&r, 405, None);
            assert_eq!(r.header("allow"), right, "{method} {target}");
        }
    }
    assert_eq!(catalog_bytes(&s), before);
    s.stop().await;
}

#[tokio::test]
async fn an_unknown_call_is_404() {
    let s = server().await;
    for target in [
        format!("/api/2/nope.json?api_key={API_KEY}"),
        format!("/api/2/campaigns?api_key={API_KEY}"),
        format!("/api/2/Campaigns.json?api_key={API_KEY}"),
        format!("/api/2/campaigns.json/extra?api_key={API_KEY}"),
        format!("/api/2/?api_key={API_KEY}"),
        "/api/2/nope.json".to_string(),
    ] {
        failure(&s.get(&target, &[]).await, 404, None);
    }
    let r = s
        .post_json(
            "/api/2/delete_everything.json",
            &json!({"api_key": API_KEY}),
        )
        .await;
    failure(&r, 404, None);
    s.stop().await;
}

#[tokio::test]
async fn unknown_repeated_and_mistyped_parameters_are_400_naming_the_field() {
    let s = server().await;
    let before = catalog_bytes(&s);
    let long_name = "x".repeat(300);
    #[rustfmt::skip]
    let gets: &[(&str, Params, &str)] = &[
        ("campaigns.json", &[("ofer_id", "12345")], "ofer_id"),
        ("campaigns.json", &[("offer_id", "12345"), ("offer_id", "1042")], "offer_id"),
        ("campaigns.json", &[("api_key", API_KEY)], "api_key"),
        ("campaigns.json", &[("offer_id", "abc")], "offer_id"),
        ("campaigns.json", &[("offer_id", "0")], "offer_id"),
        ("campaigns.json", &[("offer_id", "-3")], "offer_id"),
        ("campaigns.json", &[("offer_id", "12.5")], "offer_id"),
        ("campaigns.json", &[("offer_id", "99999999999")], "offer_id"),
        ("campaigns.json", &[("offer_id", "")], "offer_id"),
        ("campaigns.json", &[("campaign_status", "running")], "campaign_status"),
        ("campaigns.json", &[("campaign_status", "Active")], "campaign_status"),
        ("creatives.json", &[("creative_type_id", "9")], "creative_type_id"),
        ("creatives.json", &[("creative_status", "inactive")], "creative_status"),
        ("landing_pages.json", &[("landing_page_id", "x")], "landing_page_id"),
        ("smart_links.json", &[("smart_link_status", "paused")], "smart_link_status"),
        ("smart_links.json", &[("offer_id", "1042")], "offer_id"),
        ("offers.json", &[("offer_status", "gone")], "offer_status"),
        ("affiliates.json", &[("affiliate_name", "x")], "affiliate_name"),
        ("smart_link_stats.json", &[("smart_link_id", "abc")], "smart_link_id"),
        ("smart_link_route.json", &[("smart_link_id", "301"), ("sec_ch_ua_mobile", "yes")], "sec_ch_ua_mobile"),
    ];
    for (call, params, field) in gets {
        let r = get(&s, call, params).await;
        failure(&r, 400, Some(field));
    }
    #[rustfmt::skip]
    let posts: Vec<(&str, Value, &str)> = vec![
        ("campaign.json", json!({"offer_id": "abc", "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": 12345}), "affiliate_id"),
        ("campaign.json", json!({"offer_id": 1.5, "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": [12345], "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 67890, "display_link_type_id": 4}), "display_link_type_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 67890, "sub_affiliate": 7}), "sub_affiliate"),
        ("update_campaign.json", json!({"campaign_id": 98001, "creative": 4421}), "creative"),
        ("update_campaign.json", json!({"campaign_status": "paused"}), "campaign_id"),
        ("smart_link.json", json!({"affiliate_id": 67890, "smart_link_name": "A", "fallback_url": "ftp://x.example/"}), "fallback_url"),
        ("smart_link.json", json!({"affiliate_id": 67890, "smart_link_name": long_name}), "smart_link_name"),
        ("smart_link.json", json!({"affiliate_id": 67890, "smart_link_name": "A", "fallback_url": "https://x.example/?{nope}"}), "fallback_url"),
        ("smart_link.json", json!({"affiliate_id": 67890, "smart_link_name": "A", "smart_link_status": "paused"}), "smart_link_status"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 1042, "offer_weight": 101}), "offer_weight"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 1042, "offer_weight": 0}), "offer_weight"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 1042, "countries": ["USA"]}), "countries"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 1042, "devices": ["phone"]}), "devices"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 1042, "ofer_weight": 5}), "ofer_weight"),
        ("offer.json", json!({"offer_name": "A", "offer_url": "https://a.example/", "daily_clicks": -1}), "daily_clicks"),
        ("offer.json", json!({"offer_name": "A", "offer_url": "/relative"}), "offer_url"),
        ("update_offer.json", json!({"offer_id": 1043, "weekly_conversions": "many"}), "weekly_conversions"),
        ("creative.json", json!({"offer_id": 12345, "creative_name": "A", "creative_type_id": 5}), "creative_type_id"),
        ("update_creative.json", json!({"creative_id": 4421, "width": 0}), "width"),
        ("landing_page.json", json!({"offer_id": 12345, "landing_page_name": "A"}), "url"),
        ("affiliate.json", json!({}), "affiliate_name"),
    ];
    for (call, params, field) in posts {
        let r = post(&s, call, params.clone()).await;
        failure(&r, 400, Some(field));
    }
    #[rustfmt::skip]
    let forms: &[(&str, Params, &str)] = &[
        ("smart_link_offer.json", &[("smart_link_id", "301"), ("offer_id", "1042"), ("offer_id", "1043")], "offer_id"),
        ("smart_link_offer.json", &[("smart_link_id", "301"), ("offer_id", "1042"), ("offer_weight", "ten")], "offer_weight"),
        ("update_smart_link.json", &[("smart_link_id", "301"), ("smart_link_name", "")], "smart_link_name"),
        ("update_campaign.json", &[("campaign_id", "98001"), ("api_key", API_KEY)], "api_key"),
    ];
    for (call, params, field) in forms {
        let r = post_form(&s, call, params).await;
        failure(&r, 400, Some(field));
    }
    // Every problem at once, each with its field.
    let r = get(
        &s,
        "campaigns.json",
        &[
            ("campaign_status", "x"),
            ("ofer_id", "1"),
            ("offer_id", "y"),
        ],
    )
    .await;
    let v = failure(&r, 400, Some("offer_id"));
    assert_eq!(
        fields(&v),
        [
            json!("offer_id"),
            json!("campaign_status"),
            json!("ofer_id")
        ]
    );
    assert_eq!(
        catalog_bytes(&s),
        before,
        "no refused write changed the file"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_parameter_repeated_in_a_json_body_is_400() {
    let s = server().await;
    let before = catalog_bytes(&s);
    let body =
        format!(r#"{{"api_key":"{API_KEY}","smart_link_id":301,"offer_id":1042,"offer_id":2001}}"#);
    let r = post_raw(
        &s,
        "smart_link_offer.json",
        "application/json",
        body.as_bytes(),
    )
    .await;
    failure(&r, 400, Some("offer_id"));
    let body = format!(r#"{{"api_key":"wrong","api_key":"{API_KEY}","smart_link_id":301}}"#);
    let r = post_raw(
        &s,
        "delete_smart_link.json",
        "application/json",
        body.as_bytes(),
    )
    .await;
    failure(&r, 400, Some("api_key"));
    assert_eq!(catalog_bytes(&s), before);
    s.stop().await;
}

#[tokio::test]
async fn an_update_of_an_unknown_id_is_404_naming_it() {
    let s = server().await;
    let before = catalog_bytes(&s);
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        ("update_campaign.json", json!({"campaign_id": 5, "campaign_status": "paused"}), "campaign_id"),
        ("update_smart_link.json", json!({"smart_link_id": 999, "smart_link_name": "X"}), "smart_link_id"),
        ("delete_smart_link.json", json!({"smart_link_id": 999}), "smart_link_id"),
        ("smart_link_offer.json", json!({"smart_link_id": 999, "offer_id": 1042}), "smart_link_id"),
        ("remove_smart_link_offer.json", json!({"smart_link_id": 999, "offer_id": 1042}), "smart_link_id"),
        ("update_offer.json", json!({"offer_id": 5, "offer_name": "X"}), "offer_id"),
        ("update_landing_page.json", json!({"landing_page_id": 5, "landing_page_name": "X"}), "landing_page_id"),
        ("update_creative.json", json!({"creative_id": 5, "creative_name": "X"}), "creative_id"),
        ("update_affiliate.json", json!({"affiliate_id": 5, "affiliate_name": "X"}), "affiliate_id"),
    ];
    for (call, params, field) in cases {
        let r = post(&s, call, params).await;
        failure(&r, 404, Some(field));
    }
    for call in [
        "smart_link_offers.json",
        "smart_link_stats.json",
        "smart_link_route.json",
    ] {
        failure(
            &get(&s, call, &[("smart_link_id", "999")]).await,
            404,
            Some("smart_link_id"),
        );
    }
    assert_eq!(catalog_bytes(&s), before);
    s.stop().await;
}

#[tokio::test]
async fn writes_the_catalog_refuses_are_422_and_change_nothing() {
    let s = server().await;
    let before = catalog_bytes(&s);
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        ("campaign.json", json!({"offer_id": 2001, "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": 2002, "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": 55555, "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 11111}), "affiliate_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 67890, "creative_id": 4423}), "creative_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 67890, "creative_id": 7777}), "creative_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 67890, "landing_page_id": 883}), "landing_page_id"),
        ("update_campaign.json", json!({"campaign_id": 98001, "creative_id": 4423}), "creative_id"),
        ("update_campaign.json", json!({"campaign_id": 98001, "landing_page_id": 7777}), "landing_page_id"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 55555}), "offer_id"),
        ("smart_link.json", json!({"affiliate_id": 11111, "smart_link_name": "Orphan"}), "affiliate_id"),
        ("landing_page.json", json!({"offer_id": 55555, "landing_page_name": "A", "url": "https://a.example/"}), "offer_id"),
        ("creative.json", json!({"offer_id": 55555, "creative_name": "A", "creative_type_id": 1}), "offer_id"),
        ("update_affiliate.json", json!({"affiliate_id": 67890, "affiliate_name": "   "}), "affiliate_name"),
    ];
    for (call, params, field) in cases {
        let r = post(&s, call, params.clone()).await;
        failure(&r, 422, Some(field));
    }
    assert_eq!(
        catalog_bytes(&s),
        before,
        "the catalog file is byte-identical"
    );
    // Nothing changed for the clicks either.
    let v = ok(&get(&s, "smart_link_offers.json", &[("smart_link_id", "301")]).await);
    assert_eq!(ids(&v, "offers", "offer_id"), [12345, 1042, 1043]);
    let v = ok(&get(&s, "campaigns.json", &[("row_limit", "5000")]).await);
    assert_eq!(
        v["response"]["total_rows"],
        expected_ids("campaigns", "campaign_id", &[]).len()
    );
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/")
    );
    s.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let config = config().section(&format!(
        "[api]\nkeys = [{API_KEY:?}]\nmax_body_bytes = 1024"
    ));
    let s = TestServer::start(config).await;
    let before = catalog_bytes(&s);
    let name = "n".repeat(1100);
    let r = post(
        &s,
        "smart_link.json",
        json!({"affiliate_id": 67890, "smart_link_name": name}),
    )
    .await;
    failure(&r, 413, None);
    let r = post_form(
        &s,
        "smart_link.json",
        &[("affiliate_id", "67890"), ("smart_link_name", &name)],
    )
    .await;
    failure(&r, 413, None);
    assert_eq!(catalog_bytes(&s), before);
    // Under the limit, the same call works.
    let padding = " ".repeat(900);
    let body = format!(
        r#"{{"api_key":"{API_KEY}",{padding}"affiliate_id":67890,"smart_link_name":"Small"}}"#
    );
    assert!(body.len() <= 1024);
    let r = post_raw(&s, "smart_link.json", "application/json", body.as_bytes()).await;
    assert_eq!(ok(&r)["response"]["smart_link_id"], 302);
    s.stop().await;
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let s = server().await;
    let before = catalog_bytes(&s);
    let call = "update_campaign.json";
    for (content_type, body) in [
        ("application/json", "{".to_string()),
        (
            "application/json",
            format!(r#"{{"api_key":"{API_KEY}","campaign_id":98001"#),
        ),
        (
            "application/json",
            format!(r#"{{"api_key":"{API_KEY}","campaign_id":98001,}}"#),
        ),
        ("application/json", "[1, 2]".to_string()),
        ("application/json", "null".to_string()),
        ("application/json", String::new()),
        ("", format!(r#"{{"api_key":"{API_KEY}",campaign_id}}"#)),
        ("text/plain", format!("api_key={API_KEY}&campaign_id=98001")),
    ] {
        let r = post_raw(&s, call, content_type, body.as_bytes()).await;
        failure(&r, 400, None);
    }
    // POST parameters belong in the body.
    let r = s
        .post_form(
            &format!("/api/2/{call}?api_key={API_KEY}"),
            "campaign_id=98001&campaign_status=paused",
        )
        .await;
    failure(&r, 400, None);
    assert_eq!(catalog_bytes(&s), before);
    // Without a Content-Type, a JSON body is read as JSON and a form body as a form.
    let body =
        format!(r#"{{"api_key":"{API_KEY}","campaign_id":98001,"campaign_status":"paused"}}"#);
    ok(&post_raw(&s, call, "", body.as_bytes()).await);
    let body = format!("api_key={API_KEY}&campaign_id=98001&campaign_status=active");
    ok(&post_raw(&s, call, "", body.as_bytes()).await);
    s.stop().await;
}

#[tokio::test]
async fn a_write_after_the_catalog_file_changed_on_disk_is_409() {
    let s = server().await;
    let mut edited = catalog_bytes(&s);
    edited.extend_from_slice(b"\n\n");
    std::fs::write(s.config.catalog_path(), &edited).unwrap();
    let r = post(
        &s,
        "update_campaign.json",
        json!({"campaign_id": 98001, "campaign_status": "paused"}),
    )
    .await;
    failure(&r, 409, None);
    assert_eq!(
        catalog_bytes(&s),
        edited,
        "the hand edit is not overwritten"
    );
    let list = ok(&get(&s, "campaigns.json", &[("campaign_id", "98001")]).await);
    assert_eq!(items(&list, "campaigns")[0]["campaign_status"], "active");
    let metrics = s.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains("smartlink_catalog_write_failures_total 1\n")
            && metrics.contains("smartlink_catalog_writes_total 0\n")
            && metrics.contains("smartlink_error_responses_total{status=\"409\"} 1\n"),
        "{metrics}"
    );
    s.stop().await;
}

/// Regression: `https:///{s1}`, `https:{s1}`, `https:/{s1}` and `https:\\{s1}` passed
/// validation, and with `s1=evil.com` browsers resolved the `Location` to
/// `https://evil.com/`. Refused by the API (400) and by the catalog loader alike.
#[tokio::test]
async fn url_templates_whose_host_a_macro_could_supply_are_refused() {
    let s = server().await;
    for url in [
        "https:///{s1}",
        "https:{s1}",
        "https:/{s1}",
        "https:\\\\{s1}",
    ] {
        let r = post(
            &s,
            "offer.json",
            json!({"offer_name": "Evil", "offer_url": url}),
        )
        .await;
        failure(&r, 400, Some("offer_url"));
        let r = post(
            &s,
            "update_smart_link.json",
            json!({"smart_link_id": 301, "fallback_url": url}),
        )
        .await;
        failure(&r, 400, Some("fallback_url"));
    }
    s.stop().await;
    let network = NETWORK.replace("https://o12.example/?s2={s2}", "https:{s2}");
    assert_ne!(network, NETWORK);
    let config = TestConfig::new(&network);
    let err = match smartlink::state::State::start(&config.write()) {
        Ok(_) => panic!("the catalog must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("offers[1].offer_url"), "{err}");
}
