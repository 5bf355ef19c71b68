//! Nothing the server accepts makes a file it cannot read back (docs/operations.md#money-range
//! and #state-directory-and-persistence): a property test over hostile inputs at and beyond
//! their bounds (amounts, payouts, names, URLs, sub ids, user agents). Whatever the API and the
//! postback accept is saved (the catalog as the API writes it, the audit log, the click and
//! conversion logs, the counters, hour and reservation files), and then every file is read
//! back: by the readers themselves and by a restart, whose statistics must be exact.

use proptest::prelude::*;
use serde_json::{Value, json};
use smartlink::counts::Counts;
use smartlink::money::{Money, Total};

use crate::common::*;

/// A postback amount: the bound itself, near it, anything of the grammar, and beyond it.
fn amount() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("999999999999.999999".to_string()),
        Just("999999999999".to_string()),
        Just("0.000001".to_string()),
        "[0-9]{1,12}(\\.[0-9]{1,6})?",
        "[1-9][0-9]{12,19}(\\.[0-9]{1,6})?",
        "[0-9]{1,12}\\.[0-9]{7,9}",
        "-?[0-9]{0,3}[.,e][0-9]{0,3}",
    ]
}

/// A name: any characters (control characters, quotes, backslashes, line separators), at
/// and beyond 255 bytes.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{1,40}",
        "[\\x00-\\x1f\"\\\\\u{2028}\u{fffd}]{1,20}",
        Just("n".repeat(255)),
        Just("é".repeat(128)),
        "\\PC{200,260}",
    ]
}

/// An offer URL: a template with every macro-like shape, at and beyond the API's length,
/// that ends with the click id (`cid=`, found again from the end).
fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9%/._~?&=-]{0,2000}",
        "\\?x=[a-zA-Z0-9{}_]{0,40}",
        "\\PC{0,60}",
    ]
    .prop_map(|p| format!("https://o.example/{p}&cid={{click_id}}"))
}

#[derive(Debug, Clone)]
struct Case {
    amounts: Vec<String>,
    payout: String,
    names: [String; 3],
    url: String,
    sub_id: String,
    user_agent: String,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(amount(), 1..6),
        amount(),
        [name(), name(), name()],
        url(),
        "\\PC{0,300}|[\\x00-\\x1f]{1,10}",
        "[ -~]{1,500}",
    )
        .prop_map(|(amounts, payout, names, url, sub_id, user_agent)| Case {
            amounts,
            payout,
            names,
            url,
            sub_id,
            user_agent,
        })
}

/// An API write; `Some(answer)` when it was accepted, `None` when it was refused with a
/// `400` or `422` (anything else fails the test).
async fn write(s: &TestServer, call: &str, params: Value) -> Option<Value> {
    let r = api_post(s, call, params).await;
    match r.status.as_u16() {
        200 => Some(parse(&r)),
        400 | 422 => None,
        other => panic!("{call}: {other} {}", r.body),
    }
}

/// What the case got accepted, to be found again after the restart.
#[derive(Default)]
struct Accepted {
    writes: usize,
    revenue: Total,
    recorded: usize,
    names: Vec<String>,
}

async fn run(case: &Case) {
    let server = TestServer::start(TestConfig::new(NETWORK)).await;
    let mut accepted = Accepted::default();
    let mut accept = |written: &Option<Value>, name: Option<&String>| {
        if written.is_some() {
            accepted.writes += 1;
            accepted.names.extend(name.cloned());
        }
    };
    let w = write(
        &server,
        "affiliate.json",
        json!({"affiliate_name": case.names[0]}),
    )
    .await;
    accept(&w, Some(&case.names[0]));
    // An offer with the case's URL and payout; if either is refused, one with plain ones.
    let mut payout = Money::parse(&case.payout).ok();
    let w = write(
        &server,
        "offer.json",
        json!({"offer_name": "Bounds", "offer_url": case.url, "payout": case.payout}),
    )
    .await;
    accept(&w, None);
    let w = match w {
        Some(w) => w,
        None => {
            payout = Some(Money::MAX);
            let w = write(
                &server,
                "offer.json",
                json!({"offer_name": "Bounds", "offer_url": "https://o.example/?cid={click_id}",
                       "payout": Money::MAX.to_string()}),
            )
            .await
            .expect("a plain offer is accepted");
            accept(&Some(w.clone()), None);
            w
        }
    };
    let payout = payout.expect("the offer's payout was accepted");
    let offer_id = w["offer"]["offer_id"].as_u64().expect("offer id");
    let w = write(
        &server,
        "update_offer.json",
        json!({"offer_id": offer_id, "offer_name": case.names[1]}),
    )
    .await;
    accept(&w, Some(&case.names[1]));
    let w = write(
        &server,
        "smart_link.json",
        json!({"affiliate_id": 100, "smart_link_name": case.names[2],
               "fallback_url": "https://fb.example/"}),
    )
    .await;
    accept(&w, Some(&case.names[2]));
    let w = match w {
        Some(w) => w,
        None => {
            let w = write(
                &server,
                "smart_link.json",
                json!({"affiliate_id": 100, "smart_link_name": "Bounds"}),
            )
            .await
            .expect("a plain smart link is accepted");
            accept(&Some(w.clone()), None);
            w
        }
    };
    let link = w["response"]["smart_link_id"].as_u64().expect("link id");
    let w = write(
        &server,
        "smart_link_offer.json",
        json!({"smart_link_id": link, "offer_id": offer_id}),
    )
    .await;
    assert!(w.is_some(), "the attachment is accepted");
    accept(&w, None);

    // Clicks with the sub id (refused beyond 255 bytes: then without it) and the user
    // agent, then a postback per amount and one without.
    let sub: String = form_urlencoded::byte_serialize(case.sub_id.as_bytes()).collect();
    let mut target = format!("/sl?id={link}&aff_id=100&s1={sub}");
    let ua = [("user-agent", case.user_agent.as_str())];
    let refused = server.get(&target, &ua).await;
    let sub_id = match refused.status.as_u16() {
        302 => Some(case.sub_id.as_str()),
        400 if case.sub_id.len() > 255 => {
            target = format!("/sl?id={link}&aff_id=100");
            None
        }
        other => panic!("a click: {other} {}", refused.body),
    };
    let mut amounts: Vec<Option<&String>> = case.amounts.iter().map(Some).collect();
    amounts.push(None);
    for amount in amounts {
        let r = server.get(&target, &ua).await;
        assert_eq!(r.status, 302, "{}", r.body);
        let Some(id) = r.location().rsplit_once("cid=").map(|(_, c)| c.to_string()) else {
            // A bot user agent goes to the fallback: no click id to convert.
            continue;
        };
        let query = match amount {
            Some(a) => format!(
                "click_id={id}&amount={}",
                form_urlencoded::byte_serialize(a.as_bytes()).collect::<String>()
            ),
            None => format!("click_id={id}"),
        };
        let p = server.get(&format!("/p?{query}"), &[]).await;
        match (amount.map(|a| Money::parse(a)), p.status.as_u16()) {
            (Some(Ok(m)), 200) => accepted.revenue = accepted.revenue + m,
            (None, 200) => accepted.revenue = accepted.revenue + payout,
            (Some(Err(_)), 400) => {
                assert!(p.body.contains("999999999999.999999"), "{}", p.body);
                continue;
            }
            (_, status) => panic!("{amount:?}: {status} {}", p.body),
        }
        assert_eq!(p.body, "{\"status\":\"recorded\"}\n");
        accepted.recorded += 1;
    }
    let config = server.stop().await;

    // Every file read back by its own reader.
    let dir = config.state_dir();
    let counts = Counts::default();
    assert!(smartlink::counts::store::load(&dir, &counts).expect("counters.json reads back"));
    smartlink::counts::reserve::load(&dir, &counts).expect("reservations.json reads back");
    let hours = std::fs::read_dir(dir.join("hours")).map_or(0, |d| d.count());
    let loaded = smartlink::counts::store::load_hours(&dir, counts.hourly(), 0);
    assert_eq!(loaded, hours, "every hour file reads back");
    let audit = smartlink::audit::read(&dir).expect("audit.log reads");
    assert!(audit.skipped.is_empty(), "lines {:?}", audit.skipped);
    assert_eq!(audit.records.len(), accepted.writes);
    let (catalog, _) = smartlink::catalog::load::load(&config.catalog_path())
        .unwrap_or_else(|e| panic!("the catalog the API saved reads back: {e:?}"));
    let text = serde_json::to_string(&*catalog).unwrap();
    for name in &accepted.names {
        assert!(
            text.contains(&serde_json::to_string(name).unwrap()),
            "{name:?} is in the catalog"
        );
    }
    // (Each line of a log parses, or `click_records` panics.)
    let clicks = config.click_records();
    assert!(
        clicks.iter().all(|c| c["s1"].as_str() == sub_id),
        "s1 round trips"
    );
    assert_eq!(config.conversion_records().len(), accepted.recorded);

    // And a restart reads them all: statistics exact, from the counters and from the hours.
    let server = TestServer::start(config).await;
    let link = u32::try_from(link).unwrap();
    let stats = smartlink::stats::link(
        server.state.snapshot().table.link(link).unwrap(),
        &server.state.counts,
    );
    assert_eq!(stats.totals.revenue, accepted.revenue);
    assert_eq!(stats.totals.conversions, accepted.recorded as u64);
    let hour = utc_hour() as i64 * 3600;
    let from = jiff::Timestamp::from_second(hour - 3600)
        .unwrap()
        .to_string();
    let to = jiff::Timestamp::from_second(hour + 3600)
        .unwrap()
        .to_string();
    let r = api_get(
        &server,
        "smart_link_stats.json",
        &[
            ("smart_link_id", &link.to_string()),
            ("from", &from),
            ("to", &to),
        ],
    )
    .await;
    assert_eq!(ok(&r)["response"]["revenue"], accepted.revenue.to_string());
    server.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_state_file_the_server_writes_from_accepted_input_reads_back(case in case()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(&case));
    }
}
