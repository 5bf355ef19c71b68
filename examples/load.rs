//! A bounded HTTP load generator for a running smartlink: keep-alive connections send
//! smart-link clicks with a mix of real user agents and client addresses (set through
//! `X-Forwarded-For`, so the server must trust the generator's address), then it reports
//! throughput, latency percentiles, status counts and the server's dropped-record counter.
//! It stops by itself after `--seconds` or `--requests`, whichever comes first, and exits
//! non-zero if any request failed or any click record was dropped.
//!
//! ```text
//! cargo run --release --example load -- --addr 127.0.0.1:8080 --connections 32 --seconds 10
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const AGENTS: [&str; 6] = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];
const ADDRESSES: [&str; 6] = [
    "8.8.8.8",
    "81.2.69.142",
    "89.160.20.128",
    "2001:4860:4860::8888",
    "1.1.1.1",
    "203.0.113.9",
];
const TARGETS: [&str; 4] = [
    "/sl?id=301&aff_id=67890&s1=load",
    "/sl?id=302&s1=load&s2=eu",
    "/sl?id=304",
    "/sl?id=301&aff_id=67890",
];

struct Args {
    addr: SocketAddr,
    connections: usize,
    seconds: u64,
    requests: u64,
}

fn args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:8080".parse().expect("address"),
        connections: 32,
        seconds: 10,
        requests: 2_000_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => a.addr = value.parse().expect("--addr host:port"),
            "--connections" => a.connections = value.parse().expect("--connections N"),
            "--seconds" => a.seconds = value.parse().expect("--seconds N"),
            "--requests" => a.requests = value.parse().expect("--requests N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = args();
    let budget = Arc::new(AtomicU64::new(args.requests));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let budget = Arc::clone(&budget);
        let addr = args.addr;
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let mut latencies = Vec::new();
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut i = c;
            while Instant::now() < deadline
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
            {
                i += 7;
                let req = Request::get(TARGETS[i % TARGETS.len()])
                    .header("host", "track.example.com")
                    .header("user-agent", AGENTS[i % AGENTS.len()])
                    .header("x-forwarded-for", ADDRESSES[(i / 3) % ADDRESSES.len()])
                    .body(Empty::<Bytes>::new())
                    .expect("request");
                let sent = Instant::now();
                let status = match sender.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let _ = resp.into_body().collect().await;
                        status
                    }
                    Err(_) => 0,
                };
                latencies.push(sent.elapsed().as_micros() as u32);
                *statuses.entry(status).or_default() += 1;
                if status == 0 {
                    break;
                }
            }
            (latencies, statuses)
        }));
    }
    let mut latencies = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for t in tasks {
        let (l, s) = t.await.expect("task");
        latencies.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{} requests in {:.2}s over {} connections: {:.0} req/s",
        latencies.len(),
        elapsed.as_secs_f64(),
        args.connections,
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency µs: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        latencies.last().copied().unwrap_or(0)
    );
    println!("statuses: {statuses:?} (0 = connection error)");
    let dropped = records_dropped(args.addr).await;
    println!("smartlink_records_dropped_total: {dropped:?}");
    let failed = statuses.iter().any(|(s, _)| *s != 302);
    if failed || dropped != Some(0) {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

async fn records_dropped(addr: SocketAddr) -> Option<u64> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = Request::get("/metrics")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .ok()?;
    let body = sender
        .send_request(req)
        .await
        .ok()?
        .into_body()
        .collect()
        .await
        .ok()?;
    String::from_utf8_lossy(&body.to_bytes())
        .lines()
        .find_map(|l| {
            l.strip_prefix("smartlink_records_dropped_total ")?
                .parse()
                .ok()
        })
}
