//! `/metrics` as Prometheus reads it: checked by the real `promtool` (Debian's `prometheus`
//! package; `.ci/run` installs it), and the series operators alert on.

use std::io::Write;
use std::process::{Command, Stdio};

use http::StatusCode;

use crate::common::*;

/// `promtool check metrics` on `text`: its exit status and what it printed.
fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (apt-get install prometheus; .ci/run does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Regression: promtool refused `smartlink_counter_saves_total` (a type name in a metric
/// name); there were no `process_*` metrics, build info, reload time or queue depth, and one
/// latency histogram mixed microsecond clicks with millisecond API calls.
#[tokio::test]
async fn promtool_accepts_the_metrics_and_every_endpoint_has_its_latency() {
    let s = TestServer::start(TestConfig::new(NETWORK)).await;
    assert_eq!(
        s.get("/sl?id=4", &[DESKTOP]).await.status,
        StatusCode::FOUND
    );
    assert_eq!(
        s.get("/sl?id=4", &[DESKTOP]).await.status,
        StatusCode::FOUND
    );
    assert_eq!(
        s.get("/rd/r.php?sid=1", &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/p?click_id=x", &[]).await.status,
        StatusCode::BAD_REQUEST
    );
    let api = format!("/api/2/offers.json?api_key={API_KEY}");
    assert_eq!(s.get(&api, &[]).await.status, StatusCode::OK);
    let text = s.get("/metrics", &[]).await.body;
    let (ok, said) = promtool(&text);
    assert!(ok && said.trim().is_empty(), "promtool: {said}");

    let count = |endpoint: &str| {
        value(
            &text,
            &format!("smartlink_request_duration_seconds_count{{endpoint=\"{endpoint}\"}}"),
        )
    };
    assert_eq!(count("sl"), Some(2.0), "{text}");
    assert_eq!(count("rd"), Some(1.0));
    assert_eq!(count("p"), Some(1.0));
    assert_eq!(count("api"), Some(1.0));
    assert!(text.contains("smartlink_build_info{version=\""), "{text}");
    for name in [
        "smartlink_state_saves_total",
        "smartlink_state_save_failures_total",
        "smartlink_click_log_queue_depth",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
    ] {
        assert!(value(&text, name).is_some(), "{name} missing:\n{text}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let reloaded = value(&text, "smartlink_last_reload_success_timestamp_seconds").unwrap();
    assert!((now - reloaded).abs() < 60.0, "{reloaded} vs {now}");
    let started = value(&text, "process_start_time_seconds").unwrap();
    assert!(started <= now + 1.0 && now - started < 3600.0, "{started}");
    assert!(!text.contains("counter_save"), "old names are gone");
    s.stop().await;
}

/// promtool is not a rubber stamp: it refuses the name the metrics once had.
#[test]
fn promtool_refuses_a_type_name_in_a_metric_name() {
    let (ok, said) = promtool(
        "# HELP smartlink_counter_saves_total x\n# TYPE smartlink_counter_saves_total counter\nsmartlink_counter_saves_total 1\n",
    );
    assert!(!ok || !said.trim().is_empty(), "{said}");
}
