//! The weighted draw, measured: clicks over HTTP against a 60/30/10 link, checked with a
//! chi-square goodness-of-fit test.

use std::collections::HashMap;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_shares_follow_the_weights() {
    const N: usize = 6000;
    let s = TestServer::start(TestConfig::new(NETWORK)).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let addr = s.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            let mut hosts = Vec::with_capacity(N / 4);
            for _ in 0..N / 4 {
                let r = c
                    .send("GET", "/sl?id=4", &[("user-agent", CHROME_WINDOWS)])
                    .await;
                let host = r.location().split('/').nth(2).unwrap_or("").to_string();
                hosts.push(host);
            }
            hosts
        }));
    }
    for t in tasks {
        for host in t.await.unwrap() {
            *counts.entry(host).or_default() += 1;
        }
    }
    let expected = [
        ("o11.example", 0.6),
        ("o12.example", 0.3),
        ("o17.example", 0.1),
    ];
    assert_eq!(counts.values().sum::<usize>(), N);
    assert_eq!(counts.len(), 3, "{counts:?}");
    let chi2: f64 = expected
        .iter()
        .map(|(host, p)| {
            let e = p * N as f64;
            let o = counts.get(*host).copied().unwrap_or(0) as f64;
            (o - e).powi(2) / e
        })
        .sum();
    // Two degrees of freedom: P(chi2 > 27.63) = 1e-6, so a fair draw fails once in a million
    // runs, while uniform shares (2000 each) would score about 3,300.
    assert!(chi2 < 27.63, "chi2 = {chi2:.2}, counts {counts:?}");
    s.stop().await;
}
