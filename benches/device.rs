//! Compares device classification of a user agent served from the cache (the common case:
//! traffic repeats user agents) with a cache miss (woothee plus our corrections), for a
//! desktop browser, a phone, an in-app browser and a bot. Target (README): cached ≤ 40 ns.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use smartlink::client::DeviceClassifier;

const AGENTS: [(&str, &str); 4] = [
    (
        "chrome_windows",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
    (
        "safari_iphone",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    ),
    (
        "instagram_android",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/128.0.6613.127 Mobile Safari/537.36 Instagram 346.0.0.34.84 Android (34/14; 420dpi; 1080x2400; Google/google; Pixel 8; shiba; shiba; en_US; 635893386)",
    ),
    (
        "googlebot",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ),
];

fn bench(c: &mut Criterion) {
    let classifier = DeviceClassifier::new();
    let mut group = c.benchmark_group("device_classification");
    for (name, ua) in AGENTS {
        classifier.classify(Some(ua.as_bytes()), None, None);
        group.bench_function(format!("cached/{name}"), |b| {
            b.iter(|| black_box(classifier.classify(Some(black_box(ua).as_bytes()), None, None)))
        });
        group.bench_function(format!("uncached/{name}"), |b| {
            b.iter(|| black_box(classifier.parse(black_box(ua))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
