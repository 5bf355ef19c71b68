//! Runs in-process smart-link clicks for a profiler, e.g.
//! `valgrind --tool=callgrind target/release/examples/click_profile 100000`
//! (instruction counts are repeatable where wall-clock timings on a shared machine are not).

use std::net::IpAddr;
use std::path::Path;

use http::Request;
use smartlink::http::service::respond;
use smartlink::state::State;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = std::fs::read_to_string(root.join("config/smartlink.toml"))
        .expect("demo settings")
        .replace(
            "config/network.json",
            &root.join("config/network.json").display().to_string(),
        )
        .replace(
            "config/geo/country.mmdb",
            &root.join("config/geo/country.mmdb").display().to_string(),
        )
        .replace(
            "dir = \"data\"",
            &format!("dir = {:?}", dir.path().join("data")),
        );
    let config = dir.path().join("smartlink.toml");
    std::fs::write(&config, settings).expect("write settings");
    let state = State::start(&config).expect("demo configuration");
    let req = Request::get("/sl?id=301&aff_id=67890&s1=email_june&s2=abc")
        .header("host", "track.example.com")
        .header("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
        .header("x-forwarded-for", "8.8.8.8")
        .header("accept", "text/html,application/xhtml+xml")
        .header("accept-language", "en-US,en;q=0.9")
        .body(())
        .expect("request");
    let peer: IpAddr = "127.0.0.1".parse().expect("ip");
    let mut routed = 0;
    for _ in 0..n {
        let resp = respond(&state, std::hint::black_box(&req), peer);
        routed += usize::from(resp.status() == 302);
    }
    state.stop_records();
    eprintln!(
        "{routed} redirects, {} records dropped",
        state.metrics.records_dropped.get()
    );
}
