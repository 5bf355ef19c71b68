//! Device class and OS family over a table of real, modern user agents
//! (`tests/fixtures/user_agents.tsv`: browsers, tablets, in-app browsers, TVs, bots, client
//! hints), through the classifier and over HTTP.

use http::StatusCode;
use smartlink::client::{Device, DeviceClassifier};
use smartlink::vocab::DeviceClass;

use crate::common::*;

struct Row {
    device: String,
    os: String,
    ch_mobile: Option<String>,
    ch_platform: Option<String>,
    user_agent: Option<String>,
    note: String,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(fixture("user_agents.tsv")).expect("table");
    let field = |s: &str| (s != "-").then(|| s.to_string());
    text.lines()
        .skip(1)
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 6, "six columns: {l}");
            Row {
                device: f[0].into(),
                os: f[1].into(),
                ch_mobile: field(f[2]),
                ch_platform: field(f[3]),
                user_agent: field(f[4]),
                note: f[5].into(),
            }
        })
        .collect()
}

#[test]
fn every_user_agent_in_the_table_is_classified_as_expected() {
    let classifier = DeviceClassifier::new();
    let rows = rows();
    assert!(rows.len() >= 90, "the table has {} rows", rows.len());
    let mut wrong = Vec::new();
    for r in &rows {
        let Device {
            class: device, os, ..
        } = classifier.classify(
            r.user_agent.as_deref().map(str::as_bytes),
            r.ch_mobile.as_deref().map(str::as_bytes),
            r.ch_platform.as_deref().map(str::as_bytes),
        );
        let os_ok = r.os == "*" || os.as_str() == r.os;
        if device.as_str() != r.device || !os_ok {
            wrong.push(format!(
                "{}: expected {}/{}, got {}/{}",
                r.note,
                r.device,
                r.os,
                device.as_str(),
                os.as_str()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} misclassified:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    for class in DeviceClass::ALL {
        assert!(
            rows.iter().any(|r| r.device == class.as_str()),
            "no {class:?} row"
        );
    }
}

#[test]
fn a_repeated_user_agent_is_served_from_the_cache_with_the_same_answer() {
    let classifier = DeviceClassifier::new();
    let rows = rows();
    let first: Vec<Device> = rows
        .iter()
        .map(|r| classifier.classify(r.user_agent.as_deref().map(str::as_bytes), None, None))
        .collect();
    let misses = classifier.cache_misses.get();
    let second: Vec<Device> = rows
        .iter()
        .map(|r| classifier.classify(r.user_agent.as_deref().map(str::as_bytes), None, None))
        .collect();
    assert_eq!(first, second);
    assert_eq!(classifier.cache_misses.get(), misses, "no second parse");
    assert!(classifier.cache_hits.get() >= (rows.len() - 1) as u64);
}

#[tokio::test]
async fn device_rules_route_over_http_with_client_hints() {
    let s = TestServer::start(TestConfig::new(NETWORK)).await;
    // Link 5 takes mobile and tablet only.
    let reduced = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("user-agent", IPHONE)], "https://o15.example/?d=mobile"),
        (&[("user-agent", IPAD)], "https://o15.example/?d=tablet"),
        (
            &[
                ("user-agent", reduced),
                ("sec-ch-ua-mobile", "?1"),
                ("sec-ch-ua-platform", "\"Android\""),
            ],
            "https://o15.example/?d=mobile",
        ),
        (
            &[("user-agent", CHROME_WINDOWS), ("sec-ch-ua-mobile", "?0")],
            "https://default.example/?l=5",
        ),
    ];
    for (headers, want) in cases {
        let r = s.get("/sl?id=5", headers).await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.location(), want, "{headers:?}");
    }
    s.stop().await;
}
