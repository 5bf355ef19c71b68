//! Optimized rotation's recompute (docs/performance.md): the weights of 1,000 optimized
//! smart links with 10 attachments each at one priority, from a week of hourly counts
//! (every attachment with clicks and conversions in each of 168 hours), as the optimizer
//! task does every 10 s off the click path. Also one link's share computation alone, and
//! the saver's sweep of 100,000 routes' clicks into their hour (once a second).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use smartlink::catalog::Catalog;
use smartlink::counts::{Counts, hour_of};
use smartlink::money::{Money, Total};
use smartlink::routing::RoutingTable;
use smartlink::routing::thompson::{Arm, recompute, shares};
use smartlink::template::Template;
use smartlink::vocab::Source;

const LINKS: u32 = 1_000;
const ATTACHMENTS: u32 = 10;

fn network(counts: &Counts) -> RoutingTable {
    let offers: Vec<String> = (1..=ATTACHMENTS)
        .map(|i| format!(r#"{{"offer_id":{i},"offer_name":"o{i}","offer_status":"active","offer_url":"https://o{i}.example/","payout":"1.50"}}"#))
        .collect();
    let attachments: Vec<String> = (1..=ATTACHMENTS)
        .map(|i| format!(r#"{{"offer_id":{i},"offer_weight":{}}}"#, i * 10))
        .collect();
    let links: Vec<String> = (1..=LINKS)
        .map(|l| format!(r#"{{"smart_link_id":{l},"smart_link_name":"l{l}","affiliate_id":1,"smart_link_status":"active","rotation":"optimized","offers":[{}]}}"#, attachments.join(",")))
        .collect();
    let json = format!(
        r#"{{"affiliates":[{{"affiliate_id":1,"affiliate_name":"a"}}],"offers":[{}],"smart_links":[{}]}}"#,
        offers.join(","),
        links.join(","),
    );
    let catalog: Catalog = serde_json::from_str(&json).expect("catalog");
    RoutingTable::compile(
        &smartlink::catalog::validate(catalog).expect("valid"),
        Template::parse("https://fallback.example/").unwrap(),
        counts,
    )
}

fn bench(c: &mut Criterion) {
    let counts = Counts::default();
    let table = network(&counts);
    let now = hour_of(1_795_867_200);
    let hourly = counts.hourly();
    for l in 1..=LINKS {
        let source = Source::smart_link(l);
        for o in 1..=ATTACHMENTS {
            for h in now - 167..=now {
                hourly.add_routed(source, o, h, 20 + u64::from(o));
                if (h + o) % 3 == 0 {
                    let earning = smartlink::counts::Earning {
                        click_time: i64::from(h) * 3600,
                        revenue: Money::parse("1.50").unwrap(),
                        cost: Money::ZERO,
                    };
                    hourly.add_conversion(source, Some(o), h, earning);
                }
            }
        }
    }
    let mut rng = StdRng::seed_from_u64(7);
    assert_eq!(recompute(&table, hourly, now, &mut rng), LINKS as usize);
    let mut group = c.benchmark_group("optimize");
    group.sample_size(10);
    group.bench_function("recompute_1000_links_10_attachments", |b| {
        b.iter(|| black_box(recompute(&table, hourly, now, &mut rng)))
    });
    let arms: Vec<Arm> = (1..=ATTACHMENTS)
        .map(|o| Arm {
            weight: o * 10,
            clicks: 168 * (20 + u64::from(o)),
            conversions: 56,
            revenue: Total::parse("84").unwrap(),
            payout: Money::parse("1.50").unwrap(),
        })
        .collect();
    group.bench_function("shares_10_attachments", |b| {
        b.iter(|| black_box(shares(black_box(&arms), 0.05, &mut rng)))
    });
    let sweep_counts = Counts::default();
    let routes: Vec<_> = (0..100_000u32)
        .map(|i| sweep_counts.route(Source::smart_link(i / 10 + 1), i % 10 + 1))
        .collect();
    group.bench_function("sweep_100000_routes", |b| {
        b.iter(|| {
            for r in routes.iter().step_by(7) {
                r.click_routed();
            }
            sweep_counts.sweep(black_box(now));
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
