//! The demo network and settings (`config/`) in a temporary directory, for the benchmarks
//! that run whole clicks: the network as given, the settings pointed at it, at the demo's
//! GeoIP file and at a state directory inside `dir`, with `extra` settings appended.

use std::path::{Path, PathBuf};

use http::Request;

/// A real iPhone's user agent: a mobile click the demo's rules route.
pub const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

/// The demo network's JSON, to edit.
pub fn network() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("config/network.json")).expect("demo network");
    serde_json::from_str(&text).expect("demo JSON")
}

/// Writes `network` and the demo settings (plus `extra`) into `dir`; returns the settings'
/// path.
pub fn write(dir: &Path, network: &serde_json::Value, extra: &str) -> PathBuf {
    let root = root();
    std::fs::write(dir.join("network.json"), network.to_string()).expect("write network");
    let settings = std::fs::read_to_string(root.join("config/smartlink.toml"))
        .expect("demo settings")
        // Both the catalog and the file read before the first write.
        .replace(
            "data/network.json",
            &dir.join("network.json").display().to_string(),
        )
        .replace(
            "config/network.json",
            &dir.join("network.json").display().to_string(),
        )
        .replace(
            "config/geo/country.mmdb",
            &root.join("config/geo/country.mmdb").display().to_string(),
        )
        .replace("dir = \"data\"", &format!("dir = {:?}", dir.join("data")))
        // A deeper queue rides out the stalls the log trimmer causes (a truncate
        // holds the file's lock while it frees ~60 MB of page cache).
        + "\n[records]\nqueue_capacity = 262144\n"
        + extra;
    let config = dir.join("smartlink.toml");
    std::fs::write(&config, settings).expect("write settings");
    config
}

/// A click from a US address behind the demo's trusted proxy.
pub fn click(target: &str, ua: &str) -> Request<()> {
    Request::get(target)
        .header("host", "track.example.com")
        .header("user-agent", ua)
        .header("x-forwarded-for", "8.8.8.8")
        .header("accept", "text/html,application/xhtml+xml")
        .header("accept-language", "en-US,en;q=0.9")
        .body(())
        .unwrap()
}

/// Gives the offer `id` of `network` a daily click cap of `cap`.
pub fn set_daily_click_cap(network: &mut serde_json::Value, id: u64, cap: u64) {
    let offer = network["offers"]
        .as_array_mut()
        .expect("offers")
        .iter_mut()
        .find(|o| o["offer_id"] == id)
        .expect("the offer");
    offer["caps"]["daily_clicks"] = cap.into();
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
