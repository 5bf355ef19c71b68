//! The audit log: one record per catalog change (an API write, a batch, a changed file at
//! SIGHUP; `push` is in `cluster`), the key named by its fingerprint only, and what
//! `smartlink audit` prints of it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;
use smartlink::audit::{Record, fingerprint};

use crate::common::*;

fn records(config: &TestConfig) -> Vec<Record> {
    let read = smartlink::audit::read(&config.state_dir()).expect("the audit log reads");
    assert!(read.skipped.is_empty(), "torn lines {:?}", read.skipped);
    read.records
}

fn log_text(config: &TestConfig) -> String {
    std::fs::read_to_string(smartlink::audit::path(&config.state_dir())).unwrap_or_default()
}

/// `smartlink audit --config SETTINGS ARGS`.
fn audit(settings: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .arg("audit")
        .arg("--config")
        .arg(settings)
        .args(args)
        .output()
        .expect("smartlink audit runs")
}

fn stdout_lines(o: &Output) -> Vec<String> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_api_write_and_batch_is_one_record_naming_the_key_by_its_fingerprint() {
    let s = crate::api::server().await;
    let node = s.state.snapshot().settings.node();
    ok(&api_post(
        &s,
        "update_campaign.json",
        json!({"campaign_id": 98001, "creative_id": 4422}),
    )
    .await);
    // Refused writes change nothing and are not audited.
    let r = api_post(&s, "update_campaign.json", json!({"campaign_id": 424242})).await;
    failure(&r, 404, Some("campaign_id"));
    let r = api_post(
        &s,
        "batch.json",
        json!({"calls": [{"call": "update_campaign.json", "params": {"campaign_id": 424242}}]}),
    )
    .await;
    failure(&r, 404, Some("calls[0].campaign_id"));
    ok(&api_post(
        &s,
        "batch.json",
        json!({"calls": [
            {"call": "update_campaign.json", "params": {"campaign_id": 97001, "campaign_status": "active"}},
            {"call": "affiliate.json", "params": {"affiliate_name": "Audited"}},
        ]}),
    )
    .await);

    let records = records(&s.config);
    assert_eq!(records.len(), 2, "{records:?}");
    let key = fingerprint(API_KEY);
    let (single, batch) = (&records[0], &records[1]);
    assert_eq!(single.call, "update_campaign.json");
    assert_eq!(single.key.as_deref(), Some(key.as_str()));
    assert_eq!(single.node, node);
    assert_eq!(
        single.params,
        json!({"campaign_id": 98001, "creative_id": 4422})
    );
    assert_eq!(single.generation, 2);
    assert_eq!(batch.call, "batch.json");
    assert_eq!(
        batch.params,
        json!({"calls": [
            {"call": "update_campaign.json", "params": {"campaign_id": 97001, "campaign_status": "active"}},
            {"call": "affiliate.json", "params": {"affiliate_name": "Audited"}},
        ]})
    );
    assert_eq!(batch.generation, 3);
    assert_eq!(batch.generation, s.state.snapshot().generation);
    let since = |r: &Record| r.time.parse::<jiff::Timestamp>().expect("RFC 3339");
    assert!(since(single) <= since(batch));
    assert!(
        !log_text(&s.config).contains(API_KEY),
        "the key itself is never written"
    );

    // What `smartlink audit` prints.
    let settings = s.config.settings_path();
    let all = stdout_lines(&audit(&settings, &[]));
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all[0].contains(&format!("key {key}"))
            && all[0].contains("generation 2")
            && all[0].contains("update_campaign.json")
            && all[0].contains(r#"{"campaign_id":98001,"creative_id":4422}"#),
        "{all:?}"
    );
    let json_lines = stdout_lines(&audit(&settings, &["--call", "batch.json", "--json"]));
    assert_eq!(json_lines.len(), 1);
    let printed: Record = serde_json::from_str(&json_lines[0]).expect("a record");
    assert_eq!(&printed, batch);
    assert_eq!(stdout_lines(&audit(&settings, &["--key", &key])).len(), 2);
    assert!(stdout_lines(&audit(&settings, &["--key", "000000000000"])).is_empty());
    assert!(stdout_lines(&audit(&settings, &["--since", "2999-01-01T00:00:00Z"])).is_empty());
    let until = stdout_lines(&audit(&settings, &["--until", &batch.time, "--json"]));
    assert!(until.len() <= 1, "until is exclusive: {until:?}");
    let bad = audit(&settings, &["--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
    s.stop().await;
}

#[test]
fn a_catalog_changed_at_sighup_is_audited_an_unchanged_one_is_not_and_a_torn_line_is_skipped() {
    let config = TestConfig::new(NETWORK);
    let path = config.write();
    let bin = Binary::start(&path);
    let addr = bin.addr;
    let at_generation = |g: f64| {
        wait_for(Duration::from_secs(10), || {
            metric(addr, "smartlink_table_generation") == Some(g)
        })
    };

    // Reloaded, but the same catalog: nothing to audit.
    bin.signal(libc::SIGHUP);
    assert!(at_generation(2.0));
    assert!(records(&config).is_empty());

    std::fs::write(
        config.catalog_path(),
        NETWORK.replace(
            r#""smart_link_status": "inactive""#,
            r#""smart_link_status": "active""#,
        ),
    )
    .unwrap();
    bin.signal(libc::SIGHUP);
    assert!(at_generation(3.0));
    // The record is appended just after the swap the metric shows.
    assert!(wait_for(Duration::from_secs(10), || !records(&config).is_empty()));
    let records_now = records(&config);
    assert_eq!(records_now.len(), 1, "{records_now:?}");
    let r = &records_now[0];
    assert_eq!(r.call, "SIGHUP");
    assert_eq!(r.key, None);
    assert_eq!(r.generation, 3);
    assert_eq!(r.params, json!({"file": config.catalog_path()}));

    // A torn line (a crash mid-append) is skipped with a warning; the next write is whole.
    let log = smartlink::audit::path(&config.state_dir());
    let mut torn = std::fs::read(&log).unwrap();
    torn.extend_from_slice(br#"{"time":"2026-01-01T00:00:00.000Z","key":"#);
    std::fs::write(&log, torn).unwrap();
    let (status, body) = blocking_post_form(
        addr,
        "/api/2/update_smart_link.json",
        &format!("api_key={API_KEY}&smart_link_id=2&smart_link_name=Renamed"),
    )
    .expect("answered");
    assert_eq!(status, 200, "{body}");
    let out = audit(&path, &["--json"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let last: Record = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(last.call, "update_smart_link.json");
    assert_eq!(last.generation, 4);
    assert_eq!(last.key, Some(fingerprint(API_KEY)));
    assert!(!std::fs::read_to_string(&log).unwrap().contains(API_KEY));
}
