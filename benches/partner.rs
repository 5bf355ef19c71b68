//! The postback answer with partner postbacks on and off, in process: `GET /p` through the
//! real handler and the real ledger (conversion log fsynced in `state.dir`), for a click of
//! an affiliate that has a `postback_url` (on: the delivery URL is rendered and written in
//! the conversion's line, and handed to the sender) and with `[partner_postbacks] enabled =
//! false` (off). Each iteration is a new click id. Target (README): on ≤ 1.2× off.
//!
//! On a disk both are dominated by the fsync of the conversion log (milliseconds, and as
//! noisy as the disk), which is the same with postbacks on and off; `state.dir` is therefore
//! on tmpfs (`/dev/shm`) when there is one, so that what is timed is the difference: the
//! rendering, the longer line and the hand-over.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use smartlink::click_id::{Claims, ClickSigner};
use smartlink::state::State;
use smartlink::vocab::SourceKind;

// Only the network and settings of the demo: its clicks are not used here.
#[path = "support/demo.rs"]
#[allow(dead_code)]
mod demo;

fn state(dir: &std::path::Path, enabled: bool) -> Arc<State> {
    let mut network = demo::network();
    network["affiliates"][0]["postback_url"] = serde_json::json!(
        "https://tracker.example/pb?cid={conversion_id}&c={click_id}&p={payout}&a={amount}&o={offer_name}"
    );
    let config = demo::write(
        dir,
        &network,
        &format!("\n[partner_postbacks]\nenabled = {enabled}\n"),
    );
    State::start(&config).expect("starts")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let signer = ClickSigner::new(b"demo-click-secret-change-me-0123456789");
    let mut group = c.benchmark_group("postback");
    for enabled in [false, true] {
        let dir = match std::path::Path::new("/dev/shm") {
            shm if shm.is_dir() => tempfile::tempdir_in(shm),
            _ => tempfile::tempdir(),
        }
        .unwrap();
        let state = state(dir.path(), enabled);
        let name = if enabled {
            "partner_postbacks_on"
        } else {
            "partner_postbacks_off"
        };
        // The answer is checked once before timing: recorded, and with the delivery written.
        let mut n = 0u32;
        let mut post = || {
            n += 1;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as u32;
            let id = signer.issue(&Claims {
                kind: SourceKind::SmartLink,
                time: now - n % 3600,
                offer_id: Some(1042),
                source_id: 301,
                affiliate_id: 67890,
            });
            let req = Request::get(format!(
                "/p?click_id={}&amount=12.50&token=demo-postback-token",
                id.as_str()
            ))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
            runtime.block_on(smartlink::http::postback::postback(
                Arc::clone(&state),
                req,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                smartlink::clock::now(),
            ))
        };
        let first = post();
        assert_eq!(first.status(), 200);
        let logs: String = std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("conversions-"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        assert_eq!(logs.contains("\"partner_postback\":"), enabled, "{logs}");
        group.bench_function(name, |b| b.iter(|| black_box(post())));
        state.stop_writers();
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
