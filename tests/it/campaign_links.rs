//! Campaign tracking links over real HTTP: `/rd/r.php?sid=…&aff_id=…` and `/rd/{token}`
//! (docs/api.md, docs/routing.md, docs/operations.md). Every campaign
//! state, the macros of a campaign click, `sub_affiliate`, the encoded form and every bad
//! link, the offer's click cap (also under parallel clicks), the offer's country and device
//! rules, HEAD, other methods, bots, and links handed out by the management API.

use http::StatusCode;
use serde_json::{Value, json};
use smartlink::click_id::ClickSigner;
use smartlink::links::encode_token;
use smartlink::vocab::SourceKind;

use crate::common::*;

/// Where campaign clicks go when they are not routed; every value a campaign click has.
const FALLBACK: &str = "https://fallback.example/?camp={campaign_id}&a={affiliate_id}&o={offer_id}&click={click_id}&s1={s1}";
/// The public base URL, and the vanity base URL of display type 3.
const BASE: &str = "http://track.campaigns.test";
const VANITY: &str = "http://go.vanity.test";

/// Affiliates 100 and 200. Offers: 11 (every macro in its URL), 12 (plain), 13 paused, 14
/// deleted, 15 (US only), 16 (daily click cap 3), 17 (daily conversion cap 1), 18 (mobile
/// only). Landing pages: 801 (offer 12, active), 802 (offer 11, paused).
///
/// Campaigns (affiliate 100 unless said): 5001 active on 12 with landing page 801; 5002
/// active on 11, no landing page; 5003 active on 11 with the paused landing page 802; 5004
/// paused; 5005 deleted; 5006 active on the paused offer 13; 5007 active on the deleted offer
/// 14; 5008 (affiliate 200) on the US-only offer 15; 5009 (affiliate 200) on the click-capped
/// offer 16; 5010 (affiliate 200) display type 2; 5011 (affiliate 200) display type 3; 5012 on
/// 12 with a `sub_affiliate`; 5013 on the conversion-capped offer 17; 5014 on the mobile-only
/// offer 18.
const NETWORK: &str = include_str!("../fixtures/networks/campaigns.json");

const SE: (&str, &str) = ("x-forwarded-for", "89.160.20.128");
/// No record in the test database: the country is unknown.
const NOWHERE: (&str, &str) = ("x-forwarded-for", "10.1.2.3");

fn config() -> TestConfig {
    TestConfig::new(NETWORK)
        .server(&format!("default_fallback_url = {FALLBACK:?}"))
        .server(&format!("public_base_url = {BASE:?}"))
        .server(&format!("vanity_base_url = {VANITY:?}"))
        .geo("GeoIP2-Country-Test.mmdb")
}

async fn server() -> TestServer {
    TestServer::start(config()).await
}

/// The standard link of a campaign.
fn link(campaign: u32, affiliate: u32) -> String {
    format!("/rd/r.php?sid={campaign}&aff_id={affiliate}")
}

/// The fallback URL rendered for a campaign click.
fn fallback(campaign: u32, affiliate: u32, click_id: &str, s1: &str) -> String {
    format!("https://fallback.example/?camp={campaign}&a={affiliate}&o=&click={click_id}&s1={s1}")
}

/// A click that must be answered `302`; its `Location`.
#[track_caller]
fn found(r: &Reply, target: &str) -> String {
    assert_eq!(r.status, StatusCode::FOUND, "{target}: {}", r.body);
    assert_eq!(r.header("cache-control"), "no-store", "{target}");
    assert!(r.body.is_empty(), "{target}: {}", r.body);
    r.location().to_string()
}

/// The one record with this click id.
#[track_caller]
fn record<'r>(records: &'r [Value], click_id: &str) -> &'r Value {
    let found: Vec<&Value> = records
        .iter()
        .filter(|r| r["click_id"] == click_id)
        .collect();
    assert_eq!(found.len(), 1, "one record of {click_id}: {records:?}");
    found[0]
}

/// Asserts the campaign fields of a click record.
#[track_caller]
fn assert_campaign_record(
    r: &Value,
    campaign: u32,
    affiliate: u32,
    offer: Option<u32>,
    reason: Option<&str>,
) {
    assert_eq!(r["kind"], "campaign", "{r}");
    assert_eq!(r["campaign_id"], campaign, "{r}");
    assert!(r.get("smart_link_id").is_none(), "{r}");
    assert_eq!(r["affiliate_id"], affiliate, "{r}");
    assert_eq!(r["offer_id"], offer.map_or(Value::Null, Value::from), "{r}");
    assert_eq!(r["fallback"], reason.is_some(), "{r}");
    assert_eq!(
        r.get("fallback_reason").cloned(),
        reason.map(Value::from),
        "{r}"
    );
    assert_eq!(r["priority"], Value::Null, "{r}");
    let id = r["click_id"].as_str().unwrap_or("");
    assert!(
        ClickSigner::new(SECRET.as_bytes()).verify(id).is_ok(),
        "a click id this network signed: {r}"
    );
}

/// The click id in a redirect's `click` parameter (empty when none was issued).
#[track_caller]
fn click_id_in(location: &str) -> String {
    query_param(location, "click").unwrap_or_else(|| panic!("no click parameter: {location}"))
}

/// `location` with its click id (if any) removed: what a HEAD answers.
fn without_click_id(location: &str, click_id: &str) -> String {
    location.replacen(&format!("click={click_id}"), "click=", 1)
}

// ---------------------------------------------------------------------------------------------
// 1. Every campaign state.

#[tokio::test]
async fn active_campaigns_on_active_offers_route_and_record_their_clicks() {
    let s = server().await;

    // (campaign, where it goes; `{id}` is the click id).
    let cases = [
        // With an active landing page: the landing page, with the campaign's values.
        (5001, "https://lp801.example/?click={id}&camp=5001&o=12&s1="),
        // Without a landing page: the offer's URL.
        (
            5002,
            "https://o11.example/c?click={id}&camp=5002&a=100&o=11&s1=&s2=&c=US&d=desktop&l=",
        ),
        // With a paused landing page: the offer's URL.
        (
            5003,
            "https://o11.example/c?click={id}&camp=5003&a=100&o=11&s1=&s2=&c=US&d=desktop&l=",
        ),
    ];
    let mut ids = Vec::new();
    for (campaign, expected) in cases {
        let target = link(campaign, 100);
        let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
        let id = click_id_in(&to);
        assert_eq!(to, expected.replace("{id}", &id), "campaign {campaign}");
        ids.push(id);
    }
    let [id, id2, id3] = <[String; 3]>::try_from(ids).expect("three clicks");
    // Without aff_id: the standard link still routes.
    let target = "/rd/r.php?sid=5001";
    let to = found(&s.get(target, &[DESKTOP, US]).await, target);
    let id4 = click_id_in(&to);
    assert!(to.starts_with("https://lp801.example/?click="), "{to}");

    let records = s.records();
    assert_eq!(records.len(), 4, "{records:?}");
    assert_campaign_record(record(&records, &id), 5001, 100, Some(12), None);
    assert_campaign_record(record(&records, &id2), 5002, 100, Some(11), None);
    assert_campaign_record(record(&records, &id3), 5003, 100, Some(11), None);
    assert_campaign_record(record(&records, &id4), 5001, 100, Some(12), None);
    let r = record(&records, &id2);
    assert_eq!(
        (&r["country"], &r["device"], &r["ip"]),
        (&json!("US"), &json!("desktop"), &json!("216.160.83.56"))
    );
    assert_eq!(r["user_agent"], CHROME_WINDOWS);
    s.stop().await;
}

#[tokio::test]
async fn inactive_campaigns_and_campaigns_on_inactive_offers_go_to_the_fallback_unrecorded() {
    let s = server().await;
    for (campaign, why) in [
        (5004, "paused campaign"),
        (5005, "deleted campaign"),
        (5006, "active campaign on a paused offer"),
        (5007, "active campaign on a deleted offer"),
    ] {
        for target in [
            link(campaign, 100),
            format!("{}&s1=x%20y", link(campaign, 100)),
            format!("/rd/{}", encode_token(campaign, 100)),
        ] {
            let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
            let s1 = if target.contains("s1=") { "x%20y" } else { "" };
            assert_eq!(
                to,
                fallback(campaign, 100, "", s1),
                "{why}: {target}: the default fallback, and no click id"
            );
        }
    }
    assert!(
        s.records().is_empty(),
        "no click record for an inactive campaign or offer: {:?}",
        s.records()
    );
    // Not recorded, but counted: 4 campaigns × 3 links.
    let metrics = s.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains("smartlink_clicks_total{outcome=\"fallback\",reason=\"inactive\"} 12\n"),
        "{metrics}"
    );
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Macros, click ids and postbacks.

#[tokio::test]
async fn macros_are_filled_percent_encoded_and_the_click_id_is_the_records() {
    let s = server().await;
    let target =
        "/rd/r.php?sid=5002&aff_id=100&s1=a%20b%26c%3Dd%2F%C3%A9&s2=x+y~z.-_&s3=three&s5=five";
    let to = found(&s.get(target, &[MOBILE, GB]).await, target);
    let id = click_id_in(&to);
    assert_eq!(
        to,
        format!(
            "https://o11.example/c?click={id}&camp=5002&a=100&o=11\
             &s1=a%20b%26c%3Dd%2F%C3%A9&s2=x%20y~z.-_&c=GB&d=mobile&l="
        ),
        "percent-encoded values; no smart link id for a campaign"
    );
    // It carries `s2` after a `.` (`partner_postbacks.transaction_id_param`).
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'),
        "URL-safe click id: {id}"
    );
    let records = s.records();
    assert_eq!(records.len(), 1);
    let r = record(&records, &id);
    assert_campaign_record(r, 5002, 100, Some(11), None);
    assert_eq!(r["s1"], "a b&c=d/é");
    assert_eq!(r["s2"], "x y~z.-_");
    assert_eq!(r["s3"], "three");
    assert_eq!(r["s4"], Value::Null);
    assert_eq!(r["s5"], "five");
    assert_eq!(
        (&r["country"], &r["device"]),
        (&json!("GB"), &json!("mobile"))
    );
    // The click id is signed, and names the campaign click.
    let claims = ClickSigner::new(SECRET.as_bytes()).verify(&id).unwrap();
    assert_eq!(claims.kind, SourceKind::Campaign);
    assert_eq!(
        (claims.source_id, claims.affiliate_id, claims.offer_id),
        (5002, 100, Some(11))
    );
    // Two clicks, two ids.
    let again = found(&s.get(target, &[MOBILE, GB]).await, target);
    assert_ne!(click_id_in(&again), id);
    s.stop().await;
}

#[tokio::test]
async fn a_campaign_click_converts_once_and_counts_against_its_offers_conversion_cap() {
    let s = server().await;
    let target = link(5013, 100);
    let first = found(&s.get(&target, &[DESKTOP, US]).await, &target);
    assert!(first.starts_with("https://o17.example/?click="), "{first}");
    let id = click_id_in(&first);
    let second = found(&s.get(&target, &[DESKTOP, US]).await, &target);
    let id2 = click_id_in(&second);
    assert!(second.starts_with("https://o17.example/"), "{second}");

    let p = s.get(&format!("/p?click_id={id}&amount=2.50"), &[]).await;
    assert_eq!(
        (p.status.as_u16(), p.body.as_str()),
        (200, "{\"status\":\"recorded\"}\n")
    );
    let p = s.get(&format!("/p?click_id={id}"), &[]).await;
    assert_eq!(
        (p.status.as_u16(), p.body.as_str()),
        (200, "{\"status\":\"duplicate\"}\n")
    );
    let conversions = s.config.conversion_records();
    assert_eq!(conversions.len(), 1, "{conversions:?}");
    let c = &conversions[0];
    assert_eq!(c["click_id"], id.as_str());
    assert_eq!(c["kind"], "campaign");
    assert_eq!(c["campaign_id"], 5013);
    assert_eq!(c["affiliate_id"], 100);
    assert_eq!(c["offer_id"], 17);
    assert_eq!(c["amount"], "2.50");

    // Offer 17's daily conversion cap (1) is reached: the next click goes to the fallback.
    let r = s.get(&target, &[DESKTOP, US]).await;
    let to = found(&r, &target);
    let capped_id = click_id_in(&to);
    assert_eq!(to, fallback(5013, 100, &capped_id, ""));
    let records = s.records();
    assert_campaign_record(
        record(&records, &capped_id),
        5013,
        100,
        None,
        Some("all_capped"),
    );
    // A click made before the cap was reached still converts.
    let p = s.get(&format!("/p?click_id={id2}"), &[]).await;
    assert_eq!(p.body, "{\"status\":\"recorded\"}\n");
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. sub_affiliate.

#[tokio::test]
async fn sub_affiliate_is_the_default_s1_and_the_links_own_s1_wins() {
    let s = server().await;
    let target = link(5012, 100);
    let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
    let id = click_id_in(&to);
    assert_eq!(
        to,
        format!("https://o12.example/?click={id}&s1=email%20blast%2Fjune&s2="),
        "sub_affiliate fills s1, percent-encoded"
    );
    let target = format!("{}&s2=two", link(5012, 100));
    let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
    let id2 = click_id_in(&to);
    assert_eq!(
        to,
        format!("https://o12.example/?click={id2}&s1=email%20blast%2Fjune&s2=two"),
        "another sub-id leaves the default s1"
    );
    let target = format!("{}&s1=mine", link(5012, 100));
    let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
    let id3 = click_id_in(&to);
    assert_eq!(to, format!("https://o12.example/?click={id3}&s1=mine&s2="));
    // The same through the encoded link.
    let target = format!("/rd/{}", encode_token(5012, 100));
    let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
    let id4 = click_id_in(&to);
    assert_eq!(
        to,
        format!("https://o12.example/?click={id4}&s1=email%20blast%2Fjune&s2=")
    );
    // A campaign without sub_affiliate has no s1.
    let target = link(5001, 100);
    let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
    assert!(to.ends_with("&s1="), "{to}");

    let records = s.records();
    assert_eq!(record(&records, &id)["s1"], "email blast/june");
    assert_eq!(record(&records, &id2)["s1"], "email blast/june");
    assert_eq!(record(&records, &id2)["s2"], "two");
    assert_eq!(record(&records, &id3)["s1"], "mine");
    assert_eq!(record(&records, &id4)["s1"], "email blast/june");
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. The encoded form, and every bad link.

#[tokio::test]
async fn the_encoded_link_routes_like_the_standard_link() {
    let s = server().await;
    for (campaign, affiliate, headers) in [
        (5001, 100, [DESKTOP, US]),
        (5002, 100, [MOBILE, GB]),
        (5010, 200, [DESKTOP, US]),
        (5008, 200, [DESKTOP, US]),
        (5008, 200, [DESKTOP, GB]),
    ] {
        let token = encode_token(campaign, affiliate);
        let standard = format!("{}&s1=a%2Bb&s3=c", link(campaign, affiliate));
        for encoded in [
            format!("/rd/{token}?s1=a%2Bb&s3=c"),
            format!("/rd/{token}?aff_id={affiliate}&s1=a%2Bb&s3=c"),
        ] {
            let a = found(&s.get(&standard, &headers).await, &standard);
            let b = found(&s.get(&encoded, &headers).await, &encoded);
            let (ida, idb) = (click_id_in(&a), click_id_in(&b));
            assert_eq!(
                without_click_id(&a, &ida),
                without_click_id(&b, &idb),
                "{encoded} goes where {standard} goes"
            );
            let records = s.records();
            let (ra, rb) = (record(&records, &ida), record(&records, &idb));
            for key in [
                "kind",
                "campaign_id",
                "affiliate_id",
                "offer_id",
                "fallback",
                "fallback_reason",
                "country",
                "device",
                "s1",
                "s3",
            ] {
                assert_eq!(ra.get(key), rb.get(key), "{key} of {encoded}");
            }
            assert_eq!(rb["campaign_id"], campaign);
            assert_eq!(rb["s1"], "a+b");
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn bad_campaign_links_are_4xx_with_short_bodies_and_record_nothing() {
    let s = server().await;
    let token = encode_token(5002, 100);
    let mut damaged = token.clone().into_bytes();
    damaged[5] = if damaged[5] == b'A' { b'B' } else { b'A' };
    let damaged = String::from_utf8(damaged).unwrap();
    let cases: Vec<(String, u16)> = vec![
        // The standard form.
        ("/rd/r.php".into(), 400),
        ("/rd/r.php?aff_id=100".into(), 400),
        ("/rd/r.php?sid=".into(), 400),
        ("/rd/r.php?sid=0".into(), 400),
        ("/rd/r.php?sid=-5002".into(), 400),
        ("/rd/r.php?sid=5002.0".into(), 400),
        ("/rd/r.php?sid=abc%3Cscript%3E".into(), 400),
        ("/rd/r.php?sid=%205002".into(), 400),
        ("/rd/r.php?sid=5002&aff_id=abc%3Cscript%3E".into(), 400),
        ("/rd/r.php?sid=5002&aff_id=0".into(), 400),
        (format!("/rd/r.php?sid=5002&s1={}", "a".repeat(256)), 400),
        ("/rd/r.php?sid=999".into(), 404),
        ("/rd/r.php?sid=99999999999999999999".into(), 404),
        ("/rd/r.php?sid=5002&aff_id=200".into(), 404),
        ("/rd/r.php?sid=5002&aff_id=99999999999999".into(), 404),
        ("/rd/r.php?sid=5008&aff_id=100".into(), 404),
        // The encoded form.
        (format!("/rd/{}", &token[..15]), 404),
        (format!("/rd/{token}A"), 404),
        (format!("/rd/{token}/"), 404),
        (format!("/rd/{damaged}"), 404),
        (format!("/rd/{}", token.to_ascii_uppercase()), 404),
        (format!("/rd/{}", encode_token(999, 100)), 404),
        (format!("/rd/{}", encode_token(5002, 200)), 404),
        (format!("/rd/{token}?aff_id=200"), 404),
        (format!("/rd/{token}?aff_id=abc"), 400),
        (format!("/rd/{token}?s1={}", "a".repeat(256)), 400),
        // Nothing else is under /rd/.
        ("/rd/".into(), 404),
        ("/rd".into(), 404),
        ("/rd/r.php/5002".into(), 404),
        ("/rd/R.PHP?sid=5002".into(), 404),
        ("/rd/r.asp?sid=5002".into(), 404),
        (format!("/rd/x/{token}"), 404),
        ("/rd/click?sid=5002&aff_id=100".into(), 404),
    ];
    for (target, status) in &cases {
        let r = s.get(target, &[DESKTOP, US]).await;
        assert_eq!(r.status.as_u16(), *status, "{target}: {}", r.body);
        assert_eq!(r.location(), "", "{target}");
        assert!(
            r.body.len() < 80 && !r.body.contains("script") && !r.body.contains("abc"),
            "{target}: {}",
            r.body
        );
    }
    assert!(s.records().is_empty(), "{:?}", s.records());
    assert_eq!(s.state.counts.clicks(), 0);
    // The good forms of the same links still route.
    for target in [
        link(5002, 100),
        "/rd/r.php?sid=05002&aff_id=0100".into(),
        format!("/rd/{token}"),
        format!("/rd/{token}?aff_id=100"),
    ] {
        let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
        assert!(
            to.starts_with("https://o11.example/c?click="),
            "{target}: {to}"
        );
    }
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. The offer's click cap.

#[tokio::test]
async fn a_click_cap_of_3_routes_3_then_sends_clicks_to_the_fallback() {
    let s = server().await;
    let target = link(5009, 200);
    let token = format!("/rd/{}", encode_token(5009, 200));
    let mut routed = Vec::new();
    for t in [&target, &token, &target] {
        let to = found(&s.get(t, &[DESKTOP, US]).await, t);
        assert!(to.starts_with("https://o16.example/?click="), "{t}: {to}");
        routed.push(click_id_in(&to));
    }
    let mut capped = Vec::new();
    for t in [&target, &token, &target] {
        let to = found(&s.get(t, &[DESKTOP, US]).await, t);
        let id = click_id_in(&to);
        assert_eq!(to, fallback(5009, 200, &id, ""), "{t}: capped");
        capped.push(id);
    }
    let records = s.records();
    assert_eq!(records.len(), 6, "{records:?}");
    for id in &routed {
        assert_campaign_record(record(&records, id), 5009, 200, Some(16), None);
    }
    for id in &capped {
        assert_campaign_record(record(&records, id), 5009, 200, None, Some("all_capped"));
    }
    // The cap is the offer's: a HEAD now also goes to the fallback.
    let r = request(s.addr, "HEAD", &target, &[DESKTOP, US]).await;
    assert_eq!(found(&r, &target), fallback(5009, 200, "", ""));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_30_parallel_clicks_exactly_3_are_routed() {
    let s = server().await;
    let token = encode_token(5009, 200);
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let addr = s.addr;
            // Both forms of the link share the offer's cap.
            let target = if i % 2 == 0 {
                link(5009, 200)
            } else {
                format!("/rd/{token}")
            };
            tokio::spawn(async move {
                let r = request(addr, "GET", &target, &[DESKTOP, US]).await;
                assert_eq!(r.status, StatusCode::FOUND, "{target}");
                r.location().to_string()
            })
        })
        .collect();
    let mut locations = Vec::new();
    for t in tasks {
        locations.push(t.await.expect("client task"));
    }
    let routed: Vec<&String> = locations
        .iter()
        .filter(|l| l.starts_with("https://o16.example/"))
        .collect();
    assert_eq!(routed.len(), 3, "exactly the cap: {locations:?}");
    assert_eq!(
        locations
            .iter()
            .filter(|l| l.starts_with("https://fallback.example/?camp=5009&a=200&o=&click="))
            .count(),
        27
    );
    let records = s.records();
    assert_eq!(records.len(), 30);
    assert_eq!(records.iter().filter(|r| r["offer_id"] == 16).count(), 3);
    assert_eq!(
        records
            .iter()
            .filter(|r| r["fallback_reason"] == "all_capped")
            .count(),
        27
    );
    for l in routed {
        let id = click_id_in(l);
        assert_campaign_record(record(&records, &id), 5009, 200, Some(16), None);
    }
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 6. The offer's country and device rules.

#[tokio::test]
async fn the_offers_allowed_countries_and_devices_apply_to_campaign_clicks() {
    let s = server().await;
    let target = link(5008, 200);
    let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
    let us = click_id_in(&to);
    assert_eq!(to, format!("https://o15.example/?c=US&click={us}"));
    let mut turned_away = Vec::new();
    for (ip, country) in [(GB, json!("GB")), (SE, json!("SE")), (NOWHERE, Value::Null)] {
        let to = found(&s.get(&target, &[DESKTOP, ip]).await, &target);
        let id = click_id_in(&to);
        assert_eq!(to, fallback(5008, 200, &id, ""), "{ip:?}");
        turned_away.push((id, country));
    }
    // Offer 18 takes mobile clicks only.
    let target = link(5014, 100);
    let to = found(&s.get(&target, &[MOBILE, GB]).await, &target);
    assert_eq!(to, "https://o18.example/?d=mobile");
    let to = found(&s.get(&target, &[DESKTOP, GB]).await, &target);
    let desktop = click_id_in(&to);
    assert_eq!(to, fallback(5014, 100, &desktop, ""));

    let records = s.records();
    assert_eq!(records.len(), 6, "{records:?}");
    assert_campaign_record(record(&records, &us), 5008, 200, Some(15), None);
    for (id, country) in &turned_away {
        let r = record(&records, id);
        assert_campaign_record(r, 5008, 200, None, Some("no_match"));
        assert_eq!(&r["country"], country, "{r}");
    }
    assert_campaign_record(
        record(&records, &desktop),
        5014,
        100,
        None,
        Some("no_match"),
    );
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. HEAD and other methods.

#[tokio::test]
async fn head_answers_the_same_redirect_records_nothing_and_takes_no_cap_place() {
    let s = server().await;
    let mut c = Client::connect(s.addr).await;
    for target in [
        format!("{}&s1=a%20b", link(5002, 100)),
        format!("/rd/{}?s1=a%20b", encode_token(5002, 100)),
    ] {
        let head = c.send("HEAD", &target, &[DESKTOP, US]).await;
        let head = found(&head, &target);
        assert_eq!(click_id_in(&head), "", "no click id for HEAD: {head}");
        let get = c.send("GET", &target, &[DESKTOP, US]).await;
        let get = found(&get, &target);
        let id = click_id_in(&get);
        assert!(!id.is_empty());
        assert_eq!(head, without_click_id(&get, &id), "{target}");
    }
    for target in [link(5001, 100), link(5004, 100), link(5008, 200)] {
        let head = c.send("HEAD", &target, &[DESKTOP, GB]).await;
        let head = found(&head, &target);
        let get = c.send("GET", &target, &[DESKTOP, GB]).await;
        let get = found(&get, &target);
        assert_eq!(head, without_click_id(&get, &click_id_in(&get)), "{target}");
    }
    assert_eq!(s.records().len(), 4, "only the GETs of active campaigns");

    // HEAD takes no place under offer 16's click cap of 3.
    let target = link(5009, 200);
    for _ in 0..10 {
        let r = c.send("HEAD", &target, &[DESKTOP, US]).await;
        assert_eq!(found(&r, &target), "https://o16.example/?click=");
    }
    for i in 0..3 {
        let r = c.send("GET", &target, &[DESKTOP, US]).await;
        assert!(
            found(&r, &target).starts_with("https://o16.example/?click="),
            "GET {i} after the HEADs"
        );
    }
    let r = c.send("GET", &target, &[DESKTOP, US]).await;
    assert!(
        found(&r, &target).starts_with("https://fallback.example/"),
        "the 4th GET is capped"
    );
    assert_eq!(s.records().len(), 8);
    s.stop().await;
}

#[tokio::test]
async fn other_methods_are_405_with_allow_get_head() {
    let s = server().await;
    let token = encode_token(5002, 100);
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        for target in [link(5002, 100), format!("/rd/{token}")] {
            let r = request(s.addr, method, &target, &[DESKTOP, US]).await;
            assert_eq!(
                r.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {target}"
            );
            assert_eq!(r.header("allow"), "GET, HEAD", "{method} {target}");
            assert_eq!(r.location(), "");
        }
    }
    let r = s.post_form(&link(5009, 200), "sid=5009&aff_id=200").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(s.records().is_empty());
    // No cap place was taken either: 3 GETs are routed.
    for _ in 0..3 {
        let target = link(5009, 200);
        let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
        assert!(to.starts_with("https://o16.example/"), "{to}");
    }
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 8. Bots.

#[tokio::test]
async fn bots_go_to_the_fallback_are_recorded_and_take_no_cap_place() {
    let s = server().await;
    let mut bot_ids = Vec::new();
    for target in [
        link(5002, 100),
        format!("/rd/{}", encode_token(5001, 100)),
        format!("{}&s1=crawl", link(5009, 200)),
        link(5009, 200),
        link(5009, 200),
        link(5009, 200),
    ] {
        let to = found(&s.get(&target, &[BOT, US]).await, &target);
        let id = click_id_in(&to);
        assert!(
            to.starts_with("https://fallback.example/?camp="),
            "{target}: {to}"
        );
        assert!(to.contains(&format!("&o=&click={id}&")), "{to}");
        bot_ids.push(id);
    }
    // The three places of offer 16 are all still free.
    let target = link(5009, 200);
    for _ in 0..3 {
        let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
        assert!(to.starts_with("https://o16.example/"), "{to}");
    }
    let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
    assert!(to.starts_with("https://fallback.example/"), "{to}");

    let records = s.records();
    assert_eq!(records.len(), 10);
    let expected = [(5002, 100), (5001, 100), (5009, 200), (5009, 200)];
    for (id, (campaign, affiliate)) in bot_ids.iter().zip(expected) {
        let r = record(&records, id);
        assert_campaign_record(r, campaign, affiliate, None, Some("bot"));
        assert_eq!(r["device"], "bot");
        assert_eq!(r["user_agent"], GOOGLEBOT);
    }
    assert_eq!(record(&records, &bot_ids[2])["s1"], "crawl");
    s.stop().await;

    // Where a setting routes bots, they reach the offer but still take no cap place.
    let s = TestServer::start(config().section("[routing]\nbots = \"route\"")).await;
    for _ in 0..5 {
        let to = found(&s.get(&target, &[BOT, US]).await, &target);
        assert!(to.starts_with("https://o16.example/?click="), "{to}");
    }
    for _ in 0..3 {
        let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
        assert!(to.starts_with("https://o16.example/"), "{to}");
    }
    let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
    assert!(to.starts_with("https://fallback.example/"), "{to}");
    let records = s.records();
    assert_eq!(
        records
            .iter()
            .filter(|r| r["device"] == "bot" && r["offer_id"] == 16 && r["fallback"] == false)
            .count(),
        5,
        "{records:?}"
    );
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 9. Links handed out by the management API.

/// The request target (path and query) of a tracking link on `base`.
#[track_caller]
fn target_of(tracking_link: &Value, base: &str) -> String {
    let url = tracking_link.as_str().expect("tracking_link is a string");
    url.strip_prefix(base)
        .unwrap_or_else(|| panic!("{url} is not on {base}"))
        .to_string()
}

#[tokio::test]
async fn tracking_links_from_the_api_route_and_a_pause_is_visible_to_the_next_click() {
    let s = server().await;
    for (display, base) in [(None, BASE), (Some(2), BASE), (Some(3), VANITY)] {
        let mut params = json!({"offer_id": 11, "affiliate_id": 200, "sub_affiliate": "api"});
        if let Some(d) = display {
            params["display_link_type_id"] = d.into();
        }
        let created = ok(&api_post(&s, "campaign.json", params).await);
        let campaign = created["campaign"]["campaign_id"].as_u64().unwrap() as u32;
        let target = target_of(&created["campaign"]["tracking_link"], base);
        match display {
            Some(2) => assert_eq!(target, format!("/rd/{}", encode_token(campaign, 200))),
            _ => assert_eq!(target, link(campaign, 200)),
        }
        let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
        let id = click_id_in(&to);
        assert_eq!(
            to,
            format!(
                "https://o11.example/c?click={id}&camp={campaign}&a=200&o=11&s1=api&s2=&c=US&d=desktop&l="
            ),
            "{display:?}: {target}"
        );
        let before = s.records();
        assert_campaign_record(record(&before, &id), campaign, 200, Some(11), None);

        // Paused through the API: the very next click goes to the fallback, unrecorded.
        let updated = ok(&api_post(
            &s,
            "update_campaign.json",
            json!({"campaign_id": campaign, "campaign_status": "paused"}),
        )
        .await);
        assert_eq!(updated["campaign"]["campaign_id"], campaign);
        let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
        assert_eq!(to, fallback(campaign, 200, "", "api"), "{display:?}");
        assert_eq!(s.records().len(), before.len(), "no record once paused");
        // And active again.
        ok(&api_post(
            &s,
            "update_campaign.json",
            json!({"campaign_id": campaign, "campaign_status": "active"}),
        )
        .await);
        let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
        assert!(to.starts_with("https://o11.example/c?click="), "{to}");
    }

    // The catalog's campaigns of display types 1, 2 and 3, as the list call hands them out.
    for (campaign, base, want) in [
        (5001, BASE, link(5001, 100)),
        (5010, BASE, format!("/rd/{}", encode_token(5010, 200))),
        (5011, VANITY, link(5011, 200)),
    ] {
        let r = s
            .get(
                &format!("/api/2/campaigns.json?api_key={API_KEY}&campaign_id={campaign}"),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        let item = &v["response"]["campaigns"][0];
        let target = target_of(&item["tracking_link"], base);
        assert_eq!(target, want);
        let to = found(&s.get(&target, &[DESKTOP, US]).await, &target);
        let expected_host = if campaign == 5001 {
            "https://lp801.example/"
        } else {
            "https://o12.example/"
        };
        assert!(to.starts_with(expected_host), "{campaign}: {to}");
    }
    s.stop().await;
}
