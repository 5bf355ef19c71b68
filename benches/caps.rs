//! The cap path of one click: checking an offer that has all five caps (read only), and the
//! check-and-reserve of a daily click cap on one thread and with a second thread reserving
//! on the same offer at the same time (the counter's cache line then moves between cores).
//! The counters are a standalone server's: a place is taken from the lease the reservation
//! file granted and counted under the cap (two compare-and-swaps on the offer's line; before
//! reservations, one). The whole click with caps is measured in `click.rs`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use smartlink::calendar::{Calendar, Period};
use smartlink::catalog::Caps;
use smartlink::counts::{CapClock, CapLimits, Counts, OfferCaps};

/// A cap high enough that no run fills it (reservations keep succeeding).
const CAP: u64 = 1_000_000_000;
/// 2026-11-28T12:00:00Z.
const NOW: i64 = 1_795_867_200;

/// An offer with all five caps, as a standalone server holds it, its lease full.
fn caps() -> OfferCaps {
    let counters = Counts::reserved().offer(1);
    let day = Calendar::named("Europe/Berlin")
        .unwrap()
        .window(Period::Day, NOW)
        .start;
    counters.add_lease(day, CAP as u32);
    OfferCaps {
        limits: CapLimits::of(&Caps {
            daily_clicks: Some(CAP),
            daily_conversions: Some(CAP),
            weekly_conversions: Some(CAP),
            monthly_conversions: Some(CAP),
            total_conversions: Some(CAP),
        }),
        counters,
    }
}

fn bench(c: &mut Criterion) {
    let calendar = Calendar::named("Europe/Berlin").unwrap();
    let clock = CapClock {
        calendar: &calendar,
        now: NOW,
    };
    let mut group = c.benchmark_group("caps");
    let offer = caps();
    group.bench_function("check_five_caps", |b| {
        b.iter(|| black_box(black_box(&offer).reached(&clock)))
    });
    // Fresh counters per sample, so that every reservation succeeds (a full cap would make
    // this measure the cheaper refusal).
    group.bench_function("reserve_one_thread", |b| {
        b.iter_custom(|iters| {
            let fresh = caps();
            let started = Instant::now();
            for _ in 0..iters {
                assert!(black_box(&fresh).reserve_click(&clock));
            }
            started.elapsed()
        })
    });
    group.bench_function("reserve_two_threads_contending", |b| {
        b.iter_custom(|iters| {
            let shared = Arc::new(caps());
            let stop = Arc::new(AtomicBool::new(false));
            let rival = {
                let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let calendar = Calendar::named("Europe/Berlin").unwrap();
                    let clock = CapClock {
                        calendar: &calendar,
                        now: NOW,
                    };
                    while !stop.load(Ordering::Relaxed) {
                        black_box(shared.reserve_click(&clock));
                    }
                })
            };
            // Let the rival get going before timing.
            std::thread::sleep(Duration::from_millis(1));
            let started = Instant::now();
            for _ in 0..iters {
                assert!(black_box(&shared).reserve_click(&clock));
            }
            let elapsed = started.elapsed();
            stop.store(true, Ordering::Relaxed);
            let _ = rival.join();
            elapsed
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
