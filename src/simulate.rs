//! `smartlink simulate` (docs/routing.md#offline-evaluation): replays synthetic traffic with
//! known conversion rates, payouts and conversion delays through the real decision code, and
//! prints the EPC each rotation strategy reached, against the oracle that always picks the
//! best offer.
//!
//! A click is decided by `RoutingTable::decide` on a compiled one-link catalog; it converts
//! with its offer's rate, after an exponential delay (cut: a conversion later than the cut
//! never arrives); a conversion is known to a strategy only once it has arrived. Strategies:
//!
//! - `optimized`: the product: `routing::thompson::recompute` over the real hourly counts,
//!   conversions credited to their click's hour.
//! - `static`: a weighted random link, equal weights.
//! - `80/20`: the peers' rule: every recompute, 80 % of the traffic to the offer with the
//!   best EPC of the last 7 days (conversions counted when they arrive, not credited to
//!   their click), 20 % spread evenly over the other offers; and a variant that spreads the
//!   20 % over every offer, the best included (it gets 84 %).
//! - `oracle`: every click to the offer that is best at that moment.
//!
//! EPC at a checkpoint is what the clicks up to it earned in the end (every conversion that
//! arrives, however late), per click. Every strategy sees the same clicks, the same draws
//! for conversion and delay per click position, and runs `seeds` times; the table shows the
//! means.

use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::calendar::Calendar;
use crate::catalog::Catalog;
use crate::conditions::Attributes;
use crate::counts::{CapClock, Counts, Estimate, Hourly, WEIGHT_SCALE, hour_of};
use crate::money::Money;
use crate::routing::thompson::recompute;
use crate::routing::{Context, NoTrace, Outcome, RoutingTable};
use crate::template::Template;
use crate::vocab::{DeviceClass, OsFamily, Screen, Source};

/// One synthetic traffic pattern.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: &'static str,
    /// Each offer's conversion rate, in offer order.
    pub rates: Vec<f64>,
    /// Each offer's payout.
    pub payouts: Vec<Money>,
    /// From this day on (0-based), these rates instead.
    pub change: Option<(u32, Vec<f64>)>,
    pub clicks: usize,
    pub days: u32,
    /// Mean conversion delay, hours (exponential).
    pub delay_mean_hours: f64,
    /// Conversions later than this never arrive.
    pub delay_cut_hours: f64,
}

impl Scenario {
    /// 5 offers converting at 1–5 %, equal payouts, 100k clicks over 30 days, delays
    /// exponential with a 2 h mean, cut at 24 h.
    pub fn default_scenario() -> Scenario {
        Scenario {
            name: "default",
            rates: vec![0.03, 0.01, 0.05, 0.02, 0.04],
            payouts: vec![Money::parse("1").expect("a payout"); 5],
            change: None,
            clicks: 100_000,
            days: 30,
            delay_mean_hours: 2.0,
            delay_cut_hours: 24.0,
        }
    }

    /// The default, but on day 15 the best offer (5 %) and the worst (1 %) trade places.
    pub fn changing() -> Scenario {
        Scenario {
            name: "best offer changes on day 15",
            change: Some((15, vec![0.03, 0.05, 0.01, 0.02, 0.04])),
            ..Scenario::default_scenario()
        }
    }

    fn rates_on(&self, day: u32) -> &[f64] {
        match &self.change {
            Some((from, rates)) if day >= *from => rates,
            _ => &self.rates,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Optimized,
    Static,
    /// 80 % to the best 7-day EPC, 20 % spread over the other offers.
    EightyTwenty,
    /// 80 % to the best, 20 % spread over every offer (the best gets 84 %).
    EightyTwentyAll,
    Oracle,
}

impl Strategy {
    pub const ALL: [Strategy; 5] = [
        Strategy::Optimized,
        Strategy::Static,
        Strategy::EightyTwenty,
        Strategy::EightyTwentyAll,
        Strategy::Oracle,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Optimized => "optimized",
            Strategy::Static => "static weights",
            Strategy::EightyTwenty => "80/20: best 7-day EPC, 20 % to the others",
            Strategy::EightyTwentyAll => "80/20, the 20 % over all offers",
            Strategy::Oracle => "oracle",
        }
    }
}

/// Cumulative EPC after these many clicks.
pub const CHECKPOINTS: [usize; 6] = [1_000, 2_000, 5_000, 10_000, 20_000, 100_000];

/// What one strategy earned over one run.
#[derive(Clone, Debug, Default)]
pub struct Earnings {
    /// Each click's final revenue, in millionths.
    pub per_click: Vec<u64>,
}

impl Earnings {
    /// EPC over clicks `from..to` (0-based positions), in currency units.
    pub fn epc(&self, from: usize, to: usize) -> f64 {
        let to = to.min(self.per_click.len());
        if to <= from {
            return 0.0;
        }
        let sum: u64 = self.per_click[from..to].iter().sum();
        sum as f64 / 1e6 / (to - from) as f64
    }
}

/// Options of a run.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub seeds: u64,
    /// How often (simulated minutes) optimized and 80/20 recompute their weights.
    pub recompute_minutes: u32,
}

/// A click known to be desktop Windows: the simulated link has no conditions.
struct Click;

impl Attributes for Click {
    fn country(&mut self) -> Option<crate::vocab::Country> {
        None
    }
    fn device(&mut self) -> DeviceClass {
        DeviceClass::Desktop
    }
    fn os(&mut self) -> OsFamily {
        OsFamily::Windows
    }
}

/// Link 1 over `n` offers at one priority, with `rotation`.
fn table(n: usize, rotation: &str, payouts: &[Money], counts: &Counts) -> RoutingTable {
    let offers: Vec<String> = (1..=n)
        .map(|i| format!(r#"{{"offer_id":{i},"offer_name":"o{i}","offer_status":"active","offer_url":"https://o{i}.example/","payout":"{}"}}"#, payouts[i - 1]))
        .collect();
    let attachments: Vec<String> = (1..=n)
        .map(|i| format!(r#"{{"offer_id":{i},"offer_weight":1}}"#))
        .collect();
    let json = format!(
        r#"{{"affiliates":[{{"affiliate_id":1,"affiliate_name":"a"}}],"offers":[{}],
        "smart_links":[{{"smart_link_id":1,"smart_link_name":"l","affiliate_id":1,
        "smart_link_status":"active","rotation":"{rotation}","offers":[{}]}}]}}"#,
        offers.join(","),
        attachments.join(","),
    );
    let catalog: Catalog = serde_json::from_str(&json).expect("the simulated catalog parses");
    RoutingTable::compile(
        &crate::catalog::validate(catalog).expect("the simulated catalog is valid"),
        Template::parse("https://fallback.example/").expect("a URL"),
        counts,
    )
}

/// A conversion on its way: arrives at `at` (simulated seconds) for a click made at
/// `click_time` on offer `offer` (0-based).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: std::cmp::Reverse<i64>,
    click_time: i64,
    offer: usize,
}

/// Runs `strategy` on `scenario` with `seed`.
pub fn run(scenario: &Scenario, strategy: Strategy, seed: u64, options: Options) -> Earnings {
    let n = scenario.rates.len();
    let counts = Counts::default();
    let rotation = match strategy {
        Strategy::Static => "random",
        _ => "optimized",
    };
    let table = table(n, rotation, &scenario.payouts, &counts);
    let link = table.link(1).expect("link 1");
    let source = Source::smart_link(1);
    let calendar = Calendar::named("UTC").expect("UTC");
    // Each click position draws the same conversion and delay in every strategy; the
    // decisions draw from their own stream.
    let mut outcomes = StdRng::seed_from_u64(seed);
    let mut decisions = StdRng::seed_from_u64(seed ^ 0x5EED);
    let mut optimizer = StdRng::seed_from_u64(seed ^ 0x0B71);
    // 2026-01-01T00:00:00Z.
    let start: i64 = 1_767_225_600;
    let span = i64::from(scenario.days) * 86_400;
    let step = span as f64 / scenario.clicks as f64;
    let recompute_every = i64::from(options.recompute_minutes.max(1)) * 60;
    let mut next_recompute = start;
    let hourly = Hourly::default();
    let mut pending: BinaryHeap<Pending> = BinaryHeap::new();
    // 80/20: clicks and arrived conversions of the last 7 days, by offer.
    let mut recent_clicks: VecDeque<(i64, usize)> = VecDeque::new();
    let mut recent_conversions: VecDeque<(i64, usize)> = VecDeque::new();
    let mut earnings = Earnings {
        per_click: vec![0; scenario.clicks],
    };
    for k in 0..scenario.clicks {
        let now = start + (k as f64 * step) as i64;
        let day = ((now - start) / 86_400) as u32;
        let rates = scenario.rates_on(day);
        let converts_draw: f64 = outcomes.random();
        let delay_draw: f64 = outcomes.random();
        // Conversions that arrived by now become known.
        while pending.peek().is_some_and(|p| p.at.0 <= now) {
            let p = pending.pop().expect("peeked");
            hourly.add_conversion(
                source,
                Some(p.offer as u32 + 1),
                hour_of(p.click_time),
                crate::counts::Earning {
                    click_time: p.click_time,
                    revenue: scenario.payouts[p.offer],
                    cost: crate::money::Money::ZERO,
                },
            );
            recent_conversions.push_back((p.at.0, p.offer));
        }
        if now >= next_recompute {
            next_recompute = now + recompute_every;
            match strategy {
                Strategy::Optimized => {
                    recompute(&table, &hourly, hour_of(now), &mut optimizer);
                }
                Strategy::EightyTwenty | Strategy::EightyTwentyAll => {
                    let week = now - 7 * 86_400;
                    while recent_clicks.front().is_some_and(|&(t, _)| t < week) {
                        recent_clicks.pop_front();
                    }
                    while recent_conversions.front().is_some_and(|&(t, _)| t < week) {
                        recent_conversions.pop_front();
                    }
                    let best = best_recent_epc(n, &recent_clicks, &recent_conversions, scenario);
                    let others = match strategy {
                        Strategy::EightyTwenty => n - 1,
                        _ => n,
                    };
                    for (i, a) in link.attachments.iter().enumerate() {
                        let explored = if i != best || others == n {
                            0.2 / others.max(1) as f64
                        } else {
                            0.0
                        };
                        let share = explored + if i == best { 0.8 } else { 0.0 };
                        let weight = (share * f64::from(WEIGHT_SCALE)) as u32;
                        a.counters.set_weight(weight, Estimate::default());
                    }
                }
                Strategy::Static | Strategy::Oracle => {}
            }
        }
        let offer = match strategy {
            Strategy::Oracle => best_now(rates, &scenario.payouts),
            _ => {
                let ctx = Context {
                    bots: Screen::Fallback,
                    anonymous: Screen::Route,
                    all_down: crate::settings::AllDown::Ignore,
                    caps: CapClock {
                        calendar: &calendar,
                        now,
                    },
                    count: true,
                };
                match table
                    .decide(link, &ctx, &mut Click, &mut decisions, &mut NoTrace)
                    .outcome
                {
                    Outcome::Routed { attachment, .. } => attachment.offer_id as usize - 1,
                    Outcome::Fallback(_) => unreachable!("every simulated click qualifies"),
                }
            }
        };
        hourly.add_routed(source, offer as u32 + 1, hour_of(now), 1);
        recent_clicks.push_back((now, offer));
        if converts_draw < rates[offer] {
            let delay_hours = -scenario.delay_mean_hours * (1.0 - delay_draw).ln();
            if delay_hours <= scenario.delay_cut_hours {
                earnings.per_click[k] = scenario.payouts[offer].millionths();
                pending.push(Pending {
                    at: std::cmp::Reverse(now + (delay_hours * 3600.0) as i64),
                    click_time: now,
                    offer,
                });
            }
        }
    }
    earnings
}

/// The offer with the best expected EPC at these rates.
fn best_now(rates: &[f64], payouts: &[Money]) -> usize {
    (0..rates.len())
        .max_by(|&a, &b| {
            let v = |i: usize| rates[i] * payouts[i].as_f64();
            v(a).total_cmp(&v(b))
        })
        .unwrap_or(0)
}

/// 80/20's pick: the best EPC of the last 7 days, conversions by arrival (ties: the first).
fn best_recent_epc(
    n: usize,
    clicks: &VecDeque<(i64, usize)>,
    conversions: &VecDeque<(i64, usize)>,
    scenario: &Scenario,
) -> usize {
    let mut c = vec![0u64; n];
    let mut v = vec![0.0f64; n];
    for &(_, o) in clicks {
        c[o] += 1;
    }
    for &(_, o) in conversions {
        v[o] += scenario.payouts[o].as_f64();
    }
    let epc = |i: usize| if c[i] == 0 { 0.0 } else { v[i] / c[i] as f64 };
    let mut best = 0;
    for i in 1..n {
        if epc(i) > epc(best) {
            best = i;
        }
    }
    best
}

/// Every strategy on `scenario`, averaged over the seeds: the markdown table.
pub fn report(scenario: &Scenario, options: Options) -> String {
    let mut mean: Vec<(Strategy, Vec<f64>)> = Vec::new();
    let windows = windows(scenario);
    for strategy in Strategy::ALL {
        let mut sums = vec![0.0; CHECKPOINTS.len() + windows.len()];
        for seed in 0..options.seeds {
            let e = run(scenario, strategy, seed, options);
            for (s, &c) in sums.iter_mut().zip(&CHECKPOINTS) {
                *s += e.epc(0, c);
            }
            for (s, &(_, from, to)) in sums[CHECKPOINTS.len()..].iter_mut().zip(&windows) {
                *s += e.epc(from, to);
            }
        }
        let seeds = options.seeds.max(1) as f64;
        mean.push((strategy, sums.iter().map(|s| s / seeds).collect()));
    }
    let oracle = mean
        .iter()
        .find(|(s, _)| *s == Strategy::Oracle)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Scenario: {} ({} offers, rates {:?}, {} clicks over {} days, delays exponential with a {} h mean cut at {} h; {} seeds, weights recomputed every {} simulated minutes). EPC per click, and as a share of the oracle's.\n",
        scenario.name,
        scenario.rates.len(),
        scenario.rates,
        scenario.clicks,
        scenario.days,
        scenario.delay_mean_hours,
        scenario.delay_cut_hours,
        options.seeds,
        options.recompute_minutes,
    );
    let mut head = String::from("| strategy |");
    let mut rule = String::from("|---|");
    for c in CHECKPOINTS {
        let _ = write!(head, " first {}k |", c / 1000);
        rule.push_str("---:|");
    }
    for (name, _, _) in &windows {
        let _ = write!(head, " {name} |");
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for (strategy, values) in &mean {
        let _ = write!(out, "| {} |", strategy.as_str());
        for (v, o) in values.iter().zip(&oracle) {
            let _ = write!(
                out,
                " {v:.4} ({:.2}×) |",
                if *o > 0.0 { v / o } else { 0.0 }
            );
        }
        out.push('\n');
    }
    out
}

/// The click ranges reported besides the checkpoints: 10k–20k, and after a change.
fn windows(scenario: &Scenario) -> Vec<(String, usize, usize)> {
    let mut w = vec![("clicks 10k–20k".to_string(), 10_000, 20_000)];
    if let Some((day, _)) = scenario.change {
        let from = scenario.clicks * day as usize / scenario.days as usize;
        w.push((format!("after day {day}"), from, scenario.clicks));
        w.push((
            format!("days {day}–{}", day + 3),
            from,
            scenario.clicks * (day as usize + 3) / scenario.days as usize,
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short run: the oracle beats static weights, and EPC is what the clicks earned.
    #[test]
    fn a_short_run_ranks_the_oracle_above_static_weights() {
        let scenario = Scenario {
            clicks: 20_000,
            days: 6,
            ..Scenario::default_scenario()
        };
        let options = Options {
            seeds: 1,
            recompute_minutes: 30,
        };
        let oracle = run(&scenario, Strategy::Oracle, 1, options);
        let fixed = run(&scenario, Strategy::Static, 1, options);
        let optimized = run(&scenario, Strategy::Optimized, 1, options);
        // The oracle's rate is 5 % (minus the conversions cut at 24 h), static weights' 3 %.
        assert!(
            (oracle.epc(0, 20_000) - 0.05).abs() < 0.006,
            "{}",
            oracle.epc(0, 20_000)
        );
        assert!(
            (fixed.epc(0, 20_000) - 0.03).abs() < 0.005,
            "{}",
            fixed.epc(0, 20_000)
        );
        assert!(optimized.epc(10_000, 20_000) > fixed.epc(10_000, 20_000));
    }
}
