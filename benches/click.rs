//! One whole smart-link click through the service without a socket: query parsing,
//! snapshot load, client IP behind a trusted proxy, device (cached), GeoIP, decision, click
//! id, URL, response headers, and the click record queued for the log writer. Compares a
//! routed click on the demo network with the same click on an uncapped twin of its link, a
//! bot sent to the fallback and a 404. Both offers the routed click on link 301 can reach
//! have caps (1042 a daily conversion cap, 1043 a daily click cap, raised here to 10^9 so
//! that it never fills during the run): every routed click checks caps, and those drawn for
//! 1043 (40% by weight) take a place from the lease the reservation thread keeps filled on
//! disk and count it under the cap (two compare-and-swaps). Link 305, added here, has
//! the same attachments on copies of those offers without caps (2042, 2043), so the two
//! routed cases differ only by the caps. A campaign click (`/rd/r.php`, campaign 98001 on
//! offer 1042, with its `sub_affiliate` as `s1`) goes through the same steps without the
//! smart link's draw. Link 306, added here, is link 301 with an OS, a schedule and an
//! excluded address range on every attachment (`routed_us_iphone_with_conditions`; target
//! ≤ 1.1× `routed_us_iphone`). Link 307, added here, is link 305 on copies of its offers with
//! landing-page rotation over three pages each (weights 1, 2, 3; no rule: the A/B case), to
//! compare with `routed_us_iphone_no_caps` (`routed_us_iphone_landing_pages`). The click
//! id's length follows the affiliate's click id it carries (`s2`, by default): the routed
//! click without sub ids (a 40-character id) and with a 36-character one (a UUID: 40 + 1 +
//! 48 characters) show what carrying it costs.
//! Target (README): ≤ 1 µs median; no click record may be dropped during the run.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use smartlink::http::router::{Target, respond};
use smartlink::state::State;

#[path = "support/demo.rs"]
mod demo;
#[path = "support/trim.rs"]
mod trim;
use trim::LogTrimmer;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut network = demo::network();
    // Offer 1043's click cap (50 000) raised so that it never fills during the run.
    demo::set_daily_click_cap(&mut network, 1043, 1_000_000_000);
    let network = with_landing_pages_twin(with_conditions_twin(with_uncapped_twin(network)));
    let config = demo::write(dir.path(), &network, "");
    let state = State::start(&config).expect("demo configuration");
    let trimmer = LogTrimmer::start(dir.path().join("data"));
    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    let (request, iphone) = (demo::click, demo::IPHONE);
    let cases = [
        (
            "routed_us_iphone",
            request("/sl?id=301&aff_id=67890&s1=email_june&s2=abc", iphone),
        ),
        (
            "routed_us_iphone_no_sub_ids",
            request("/sl?id=301&aff_id=67890", iphone),
        ),
        (
            "routed_us_iphone_transaction_id",
            request(
                "/sl?id=301&aff_id=67890&s1=email_june&s2=3f2c9a4e-8b1d-4c6f-9e2a-7d5b0c1e4f3a",
                iphone,
            ),
        ),
        (
            "routed_us_iphone_with_conditions",
            request("/sl?id=306&aff_id=67890&s1=email_june&s2=abc", iphone),
        ),
        (
            "routed_us_iphone_no_caps",
            request("/sl?id=305&aff_id=67890&s1=email_june&s2=abc", iphone),
        ),
        (
            "routed_us_iphone_landing_pages",
            request("/sl?id=307&aff_id=67890&s1=email_june&s2=abc", iphone),
        ),
        (
            "campaign_link_us_iphone",
            request("/rd/r.php?sid=98001&aff_id=67890&s2=abc", iphone),
        ),
        (
            "bot_to_fallback",
            request(
                "/sl?id=301&aff_id=67890",
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            ),
        ),
        (
            "unknown_link_404",
            request("/sl?id=999&aff_id=67890", iphone),
        ),
    ];
    let mut group = c.benchmark_group("whole_click_in_process");
    for (name, req) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                black_box(respond(
                    &state,
                    black_box(req),
                    peer,
                    Target::of(req.uri().path()),
                    smartlink::clock::now(),
                ))
            })
        });
    }
    group.finish();

    state.stop_writers();
    trimmer.stop();
    let dropped = state.metrics.records_dropped.get();
    eprintln!(
        "click records: {} written, {dropped} dropped",
        state.metrics.records_written.get()
    );
    assert_eq!(
        dropped, 0,
        "the click log fell behind: records were dropped"
    );
}

/// Adds offers 2042 and 2043 (1042 and 1043 without caps) and link 305 (link 301 on them).
fn with_uncapped_twin(mut network: serde_json::Value) -> serde_json::Value {
    let twin = |id: u64| id + 1000;
    let offers = network["offers"].as_array_mut().expect("offers");
    let copies: Vec<_> = offers
        .iter()
        .filter(|o| o["offer_id"] == 1042 || o["offer_id"] == 1043)
        .map(|o| {
            let mut copy = o.clone();
            copy["offer_id"] = twin(o["offer_id"].as_u64().unwrap()).into();
            copy.as_object_mut().unwrap().remove("caps");
            copy
        })
        .collect();
    assert_eq!(copies.len(), 2);
    offers.extend(copies);
    copy_of_301(&mut network, 305, |a| {
        let id = a["offer_id"].as_u64().unwrap();
        if id == 1042 || id == 1043 {
            a["offer_id"] = twin(id).into();
        }
    });
    network
}

/// Adds link 306: link 301 with three more conditions on every attachment, each of which
/// the benchmarked click passes (OS, a schedule of every day, an excluded address range).
fn with_conditions_twin(mut network: serde_json::Value) -> serde_json::Value {
    copy_of_301(&mut network, 306, |a| {
        a["os"] = serde_json::json!(["ios", "android", "windows", "macos"]);
        a["schedule"] = serde_json::json!([{"from": "00:00", "to": "24:00"}]);
        a["exclude_ip_ranges"] = serde_json::json!(["10.0.0.0/8", "192.168.0.0/16"]);
    });
    network
}

/// Adds offers 3042 and 3043 (2042 and 2043 with landing-page rotation), three active
/// landing pages for each, and link 307 (link 305 on them).
fn with_landing_pages_twin(mut network: serde_json::Value) -> serde_json::Value {
    let twin = |id: u64| id + 1000;
    let offers = network["offers"].as_array_mut().expect("offers");
    let copies: Vec<_> = offers
        .iter()
        .filter(|o| o["offer_id"] == 2042 || o["offer_id"] == 2043)
        .map(|o| {
            let mut copy = o.clone();
            copy["offer_id"] = twin(o["offer_id"].as_u64().unwrap()).into();
            copy["landing_page_rotation"] = true.into();
            copy
        })
        .collect();
    assert_eq!(copies.len(), 2);
    offers.extend(copies);
    let pages = network["landing_pages"]
        .as_array_mut()
        .expect("landing pages");
    for offer in [3042u64, 3043] {
        for weight in 1..=3u64 {
            let id = offer * 10 + weight;
            pages.push(serde_json::json!({
                "landing_page_id": id, "landing_page_name": format!("LP {id}"),
                "offer_id": offer, "landing_page_status": "active", "landing_page_weight": weight,
                "url": format!("https://lp{id}.example.com/?click={{click_id}}&s1={{s1}}"),
            }));
        }
    }
    copy_of_301(&mut network, 307, |a| {
        let id = a["offer_id"].as_u64().unwrap();
        if id == 1042 || id == 1043 {
            a["offer_id"] = (id + 2000).into();
        }
    });
    network
}

/// Adds a copy of link 301 as link `id`, each attachment changed by `edit`.
fn copy_of_301(network: &mut serde_json::Value, id: u64, edit: impl FnMut(&mut serde_json::Value)) {
    let links = network["smart_links"].as_array_mut().expect("links");
    let mut link = links
        .iter()
        .find(|l| l["smart_link_id"] == 301)
        .expect("link 301")
        .clone();
    link["smart_link_id"] = id.into();
    link["offers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .for_each(edit);
    links.push(link);
}

criterion_group!(benches, bench);
criterion_main!(benches);
