//! One management API write, end to end, on a large network: 10,000 smart links with 10
//! attachments each and 50,000 campaigns (a catalog file of about 20 MB; the run prints its size). The write is
//! `POST /api/2/smart_link_offer.json` over a real loopback connection: parameter check,
//! copy of the catalog, validation, compile of the whole routing table, the file written and
//! fsynced and renamed and its directory fsynced, the swap, the answer.
//! Target (README): ≤ 100 ms median.
//!
//! Then, side by side in one group, one `update_campaign.json` and one `batch.json` of 1,000
//! `update_campaign.json` calls (campaigns spread over the 50,000): the batch's calls are
//! applied to one copy, validated, compiled and saved once. Target (README): the batch ≤ 2×
//! the single write.
//!
//! Then the same in-process click as the `click` bench, measured idle and while a second
//! thread writes through the API without pause, in one run: a write must not slow the clicks
//! served meanwhile beyond noise (no lock is shared; on a 2-core machine the write does
//! compete for CPU and memory bandwidth, which is what this shows).

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use serde_json::{Value, json};
use smartlink::http::router::{Target, respond};
use smartlink::state::State;

#[path = "support/trim.rs"]
mod trim;
use trim::LogTrimmer;

const LINKS: u32 = 10_000;
const ATTACHMENTS: u32 = 10;
const CAMPAIGNS: u32 = 50_000;
const OFFERS: u32 = 500;
const AFFILIATES: u32 = 1_000;
const KEY: &str = "bench-api-key";

fn network() -> Value {
    let offers: Vec<Value> = (1..=OFFERS)
        .map(|o| {
            json!({"offer_id": o, "offer_name": format!("Offer {o}"), "offer_status": "active",
                "offer_url": format!("https://o{o}.example/?c={{click_id}}&s1={{s1}}"),
                "allowed_countries": if o % 3 == 0 { json!(["US", "CA"]) } else { json!([]) }})
        })
        .collect();
    let affiliates: Vec<Value> = (1..=AFFILIATES)
        .map(|a| json!({"affiliate_id": a, "affiliate_name": format!("Affiliate {a}")}))
        .collect();
    let links: Vec<Value> = (1..=LINKS)
        .map(|l| {
            let attachments: Vec<Value> = (0..ATTACHMENTS)
                .map(|i| {
                    json!({"offer_id": (l * 7 + i * 13) % OFFERS + 1, "offer_weight": i * 10 + 1,
                        "priority": i / 4 + 1, "countries": if i % 2 == 0 { json!(["US"]) } else { json!([]) }})
                })
                .collect();
            json!({"smart_link_id": l, "smart_link_name": format!("Link {l}"),
                "affiliate_id": l % AFFILIATES + 1, "smart_link_status": "active",
                "fallback_url": format!("https://fb.example/?l={l}"), "offers": attachments})
        })
        .collect();
    let campaigns: Vec<Value> = (1..=CAMPAIGNS)
        .map(|c| {
            json!({"campaign_id": c, "offer_id": c % OFFERS + 1, "affiliate_id": c % AFFILIATES + 1,
                "campaign_status": "active", "display_link_type_id": 1,
                "sub_affiliate": format!("sub{c}"), "date_created": "2026-01-15T09:00:00Z"})
        })
        .collect();
    json!({"affiliates": affiliates, "offers": offers, "campaigns": campaigns, "smart_links": links})
}

/// A keep-alive HTTP/1.1 connection that posts forms and reads whole answers.
struct Poster {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Poster {
    fn connect(addr: SocketAddr) -> Poster {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Poster {
            stream,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Posts `form` to `path`; returns the status and body.
    fn post(&mut self, path: &str, form: &str) -> (u16, String) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
            form.len()
        );
        self.stream.write_all(head.as_bytes()).expect("write head");
        self.stream.write_all(form.as_bytes()).expect("write body");
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&self.buf);
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if self.buf.len() >= end + 4 + length {
                    let status = text[9..12].parse().unwrap_or(0);
                    return (status, text[end + 4..end + 4 + length].to_string());
                }
            }
        }
    }
}

fn attach(poster: &mut Poster, i: u64) {
    // Alternate the weight so that every write is a real change.
    let form = format!(
        "api_key={KEY}&smart_link_id={}&offer_id={}&offer_weight={}&priority=1",
        5_000 + i % 10,
        (5_000 * 7 + 3) % OFFERS + 1,
        i % 100 + 1
    );
    let (status, body) = poster.post("/api/2/smart_link_offer.json", &form);
    assert_eq!(status, 200, "{body}");
}

/// The status the `i`th write gives its campaigns: alternating, so that every write is a
/// real change.
fn status(i: u64) -> &'static str {
    if i.is_multiple_of(2) {
        "paused"
    } else {
        "active"
    }
}

fn update_campaign(poster: &mut Poster, i: u64) {
    let form = format!(
        "api_key={KEY}&campaign_id={}&campaign_status={}",
        1 + i % 10,
        status(i / 10)
    );
    let (status, body) = poster.post("/api/2/update_campaign.json", &form);
    assert_eq!(status, 200, "{body}");
}

/// A batch of `BATCH` campaign updates, as a form body (the calls as JSON text).
const BATCH: u32 = 1_000;

fn batch_form(i: u64) -> String {
    let calls: Vec<Value> = (0..BATCH)
        .map(|k| {
            json!({"call": "update_campaign.json",
                "params": {"campaign_id": 1 + k * (CAMPAIGNS / BATCH), "campaign_status": status(i)}})
        })
        .collect();
    form_urlencoded::Serializer::new(String::new())
        .append_pair("api_key", KEY)
        .append_pair("calls", &Value::from(calls).to_string())
        .finish()
}

fn batch(poster: &mut Poster, form: &str) {
    let (status, body) = poster.post("/api/2/batch.json", form);
    assert_eq!(status, 200, "{}", &body[..body.len().min(500)]);
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = dir.path().join("network.json");
    std::fs::write(&catalog, network().to_string()).expect("write network");
    let settings = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndefault_fallback_url = \"https://default.example/\"\n\
         runtime = \"shared\"\n\
         [catalog]\npath = {catalog:?}\n[geoip]\ndatabase = {:?}\n\
         [tracking]\nclick_secret = \"bench-secret-0123456789abcdef\"\n\
         [state]\ndir = {:?}\n[api]\nkeys = [\"{KEY}\"]\n[records]\nqueue_capacity = 262144\n",
        root.join("config/geo/country.mmdb"),
        dir.path().join("data"),
    );
    let config = dir.path().join("smartlink.toml");
    std::fs::write(&config, settings).expect("write settings");
    let state = State::start(&config).expect("bench configuration");
    let trimmer = LogTrimmer::start(dir.path().join("data"));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The server on this runtime's one worker (`runtime = "shared"`), as `serve` runs it.
    let listeners = smartlink::server::Listeners {
        public: listener,
        admin: None,
    };
    let server = runtime.spawn(smartlink::server::run(
        Arc::clone(&state),
        listeners,
        async {
            let _ = stopped.await;
        },
    ));

    let mut poster = Poster::connect(addr);
    let mut i = 0u64;
    attach(&mut poster, i);
    let file_bytes = std::fs::metadata(&catalog).map(|m| m.len()).unwrap_or(0);
    eprintln!("catalog file: {:.1} MB", file_bytes as f64 / 1e6);

    let mut group = c.benchmark_group("api_write");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("attach_offer_10k_links_50k_campaigns", |b| {
        b.iter(|| {
            i += 1;
            attach(&mut poster, i);
        })
    });
    group.finish();

    let forms = [batch_form(0), batch_form(1)];
    eprintln!("batch body: {:.1} kB", forms[0].len() as f64 / 1e3);
    let mut group = c.benchmark_group("batch_write");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("single_update_campaign_10k_links", |b| {
        b.iter(|| {
            i += 1;
            update_campaign(&mut poster, i);
        })
    });
    group.bench_function("batch_1000_update_campaign_10k_links", |b| {
        b.iter(|| {
            i += 1;
            batch(&mut poster, &forms[(i % 2) as usize]);
        })
    });
    group.finish();

    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    let click = Request::get("/sl?id=5003&aff_id=4&s1=email_june")
        .header("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
        .header("x-forwarded-for", "8.8.8.8")
        .body(())
        .unwrap();
    let one_click = || {
        black_box(respond(
            &state,
            black_box(&click),
            peer,
            Target::of(click.uri().path()),
            smartlink::clock::now(),
        ))
    };
    let mut group = c.benchmark_group("click_during_api_writes");
    group.bench_function("idle", |b| b.iter(one_click));
    let writing = Arc::new(AtomicBool::new(true));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (writing, writes) = (Arc::clone(&writing), Arc::clone(&writes));
        std::thread::spawn(move || {
            let mut poster = Poster::connect(addr);
            let mut i = 1_000_000u64;
            while writing.load(Ordering::Relaxed) {
                i += 1;
                attach(&mut poster, i);
                writes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    group.bench_function("while_writing", |b| b.iter(one_click));
    writing.store(false, Ordering::Relaxed);
    writer.join().expect("writer");
    group.finish();
    eprintln!(
        "writes while clicks were measured (warm-up included): {}",
        writes.load(Ordering::Relaxed)
    );

    let _ = stop.send(());
    // The server drains and flushes the click log before it returns.
    let _ = runtime.block_on(server);
    trimmer.stop();
    assert_eq!(
        state.metrics.records_dropped.get(),
        0,
        "click records dropped"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
