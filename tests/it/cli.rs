//! `smartlink check`, `route` and `serve` on an invalid configuration, as a user runs them.

use std::process::{Command, Output};

use crate::common::*;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .args(args)
        .env_remove(smartlink::settings::ENV_CLICK_SECRET)
        .output()
        .expect("run smartlink")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_accepts_a_valid_configuration_with_a_summary() {
    let config = TestConfig::new(NETWORK).geo("GeoIP2-Country-Test.mmdb");
    let path = config.write();
    let out = run(&["check", "--config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("7 offers (5 active, 1 paused, 1 deleted)"),
        "{t}"
    );
    assert!(t.contains("GeoIP2-Country"), "{t}");
    assert!(
        t.contains("smart link 3 never routes to offer 14: its offer is paused"),
        "{t}"
    );
    assert!(t.trim_end().ends_with("OK"), "{t}");
}

#[test]
fn check_names_the_sentinels_a_node_follows_and_refuses_them_without_a_master_name() {
    let sentinels =
        "[cluster]\nsentinels = [\"10.0.0.5:26379\", \"10.0.0.6:26379\"]\nnode_id = \"edge-1\"";
    let config =
        TestConfig::new(NETWORK).section(&format!("{sentinels}\nsentinel_master = \"smartlink\""));
    let path = config.write();
    let out = run(&["check", "--config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(r#"cluster    node "edge-1", cluster.sentinels 10.0.0.5:26379, 10.0.0.6:26379 (master "smartlink")"#),
        "{t}"
    );
    let config = TestConfig::new(NETWORK).section(sentinels);
    let path = config.write();
    let out = run(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("cluster.sentinel_master"),
        "{}",
        text(&out)
    );
}

#[test]
fn check_lists_every_problem_with_its_location_and_exits_1() {
    let network = NETWORK
        .replace(
            r#""offer_status": "paused""#,
            r#""offer_status": "stopped""#,
        )
        .replace(r#""offer_weight": 30"#, r#""offer_weight": 300"#)
        .replace(r#""countries": ["US"]"#, r#""countries": ["UK"]"#);
    let config = TestConfig::new(&network)
        .server(r#"trusted_proxies = ["10.0.0.0/33"]"#)
        .section("[routing]\nbots = \"sometimes\"")
        .geo("MaxMind-DB-test-broken-search-tree-24.mmdb");
    let path = config.write();
    let out = run(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    for expected in [
        "server.trusted_proxies[0]",
        "routing.bots",
        "network.json:12: offers[3].offer_status: unknown variant `stopped`",
        "smart_links[0].offers[0].countries[0]: \"UK\" is not an ISO 3166-1 alpha-2 country code (the ISO code of the United Kingdom is GB)",
        "smart_links[3].offers[1].offer_weight: 300 is out of range 1..=100",
        "MaxMind-DB-test-broken-search-tree-24.mmdb",
        "problem(s); configuration rejected",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
}

#[test]
fn serve_refuses_an_invalid_configuration_with_exit_64() {
    let config = TestConfig::new("{\"offers\": [}");
    let path = config.write();
    let out = run(&["serve", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(text(&out).contains("network.json:1"), "{}", text(&out));
}

#[test]
fn route_explains_the_decision_as_json() {
    let config = TestConfig::new(NETWORK).geo("GeoIP2-Country-Test.mmdb");
    let path = config.write();
    let out = run(&[
        "route",
        "--config",
        path.to_str().unwrap(),
        "--link",
        "1",
        "--ua",
        CHROME_WINDOWS,
        "--header",
        "X-Forwarded-For: 81.2.69.142",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["client"]["country"], "GB");
    assert_eq!(v["client"]["device"], "desktop");
    assert_eq!(v["decision"]["outcome"], "routed");
    assert_eq!(v["decision"]["offer_id"], 13);
    assert_eq!(v["decision"]["url"], "https://o13.example/");
    let atts = v["attachments"].as_array().unwrap();
    assert_eq!(atts[0]["result"], "skipped");
    assert_eq!(atts[0]["reason"], "country_mismatch");
    assert_eq!(atts[1]["result"], "chosen");
    assert_eq!(atts[1]["probability"], 1.0);
    assert_eq!(atts[2]["result"], "not_reached");
    assert_eq!(atts[2]["would_qualify"], true);
    assert!(config.click_records().is_empty(), "route records nothing");

    let out = run(&[
        "route",
        "--config",
        path.to_str().unwrap(),
        "--link",
        "3",
        "--ua",
        CHROME_WINDOWS,
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"]["fallback_reason"], "no_match");
    let reasons: Vec<&str> = v["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reason"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        reasons,
        ["offer_paused", "offer_deleted", "device_mismatch"]
    );

    let out = run(&["route", "--config", path.to_str().unwrap(), "--link", "42"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("smart link 42 does not exist"));
}

#[tokio::test]
async fn route_reports_a_capped_offer_and_which_cap_from_the_saved_counters() {
    let network = crate::caps::CAPPED.replace("\"daily_clicks\": 25", "\"daily_clicks\": 3");
    let server = TestServer::start(TestConfig::new(&network)).await;
    let hosts = crate::caps::clicks(server.addr, "/sl?id=10", 5, 1).await;
    assert_eq!(hosts.iter().filter(|h| *h == "o21.example").count(), 3);
    let config = server.stop().await;
    let path = config.settings_path();
    let state_before = state_files(&config);
    let out = run(&[
        "route",
        "--config",
        path.to_str().unwrap(),
        "--link",
        "12",
        "--ua",
        CHROME_WINDOWS,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["decision"]["outcome"], "fallback");
    assert_eq!(v["decision"]["fallback_reason"], "all_capped");
    let a = &v["attachments"][0];
    assert_eq!(a["result"], "skipped");
    assert_eq!(a["reason"], "capped");
    assert_eq!(a["cap"], "daily_clicks");

    let out = run(&["stats", "--config", path.to_str().unwrap(), "--link", "10"]);
    assert!(out.status.success(), "{}", text(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(s["clicks"], 5);
    assert_eq!(s["offers"][0]["routed"], 3);
    assert_eq!(s["offers"][1]["routed"], 2);
    assert_eq!(s["fill_rate"], 1.0);
    let out = run(&["stats", "--config", path.to_str().unwrap(), "--link", "99"]);
    assert_eq!(out.status.code(), Some(1));
    // route and stats read the state directory; they write nothing to it.
    assert_eq!(state_files(&config), state_before);
    assert_eq!(config.click_records().len(), 5);
}

/// Every file of the state directory with its bytes.
fn state_files(config: &TestConfig) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(config.state_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_file())
        .map(|e| (e.file_name(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

/// Regression: `smartlink stats | head -1` and `route … | head` panicked (exit 101) when the
/// reader closed the pipe.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let config = TestConfig::new(NETWORK);
    let path = config.write();
    let path = path.to_str().unwrap();
    for args in [
        vec!["stats", "--config", path],
        vec!["route", "--config", path, "--link", "1"],
        vec!["check", "--config", path],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smartlink"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run smartlink");
        // The reader goes away before the command writes.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// Regression: `smartlink --config PATH` (the documented form) was refused.
#[test]
fn config_may_come_before_or_after_the_command() {
    let config = TestConfig::new(NETWORK);
    let path = config.write();
    let path = path.to_str().unwrap();
    for args in [
        vec!["--config", path, "check"],
        vec!["check", "--config", path],
    ] {
        let out = run(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    // No command: serve. An invalid configuration proves which file it read.
    let bad = TestConfig::new("{\"offers\": [}");
    let bad_path = bad.write();
    let out = run(&["--config", bad_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(text(&out).contains("network.json:1"), "{}", text(&out));
}

/// Regression: two misspelt settings keys showed one problem.
#[test]
fn check_reports_every_unknown_settings_key() {
    let config = TestConfig::new(NETWORK)
        .server("trusted_proxy = []")
        .section("[routing]\nbot = \"route\"");
    let path = config.write();
    let out = run(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("server.trusted_proxy: unknown field"), "{t}");
    assert!(t.contains("routing.bot: unknown field"), "{t}");
}

/// A relative path that does not resolve says which directory it was resolved against.
#[test]
fn a_missing_relative_path_names_the_directory_it_was_resolved_in() {
    let config = TestConfig::new(NETWORK);
    let path = config.write();
    let settings = std::fs::read_to_string(&path).unwrap().replace(
        &format!("{:?}", config.catalog_path()),
        "\"no/such/network.json\"",
    );
    std::fs::write(&path, settings).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .args(["check", "--config", path.to_str().unwrap()])
        .current_dir(config.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    let dir = config.dir.path().canonicalize().unwrap();
    assert!(
        t.contains(&format!(
            "no/such/network.json (relative to {})",
            dir.display()
        )),
        "{t}"
    );
}
