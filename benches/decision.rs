//! Compares the routing decision for one smart link with 10 attachments over 3 priorities
//! when the first priority decides, when the walk falls through to the second or the third,
//! and when nothing qualifies (fallback); each case's outcome is checked before it is timed. Client attributes are precomputed so that only the
//! decision is measured. Target (README): ≤ 50 ns median. The `exact_` cases are the same
//! link with exact rotation: in priorities 1 and 2 the click qualifies for some of the
//! group (its run is looked up by the set's key), in priority 3 for all of it (the run the
//! table holds). Group `decision_10_attachments_3_conditions_each`: the same cases with a
//! country, an OS and a schedule condition on every attachment (target ≤ 60 ns). The
//! `optimized_` cases are the same link with optimized rotation: a weighted draw over the
//! weights the optimizer publishes (target: the same ≤ 50 ns as static weights).
//! Group `decision_10_attachments_3_priorities_health_on`: the first group's cases with
//! destination health checks on (every offer watched, none down): the decision reads one
//! down flag per matched attachment beside its caps; without health checks no attachment has
//! a flag (the first group), which must cost nothing.
//! Group `conditions`: one `ip_ranges` rule of 10 000 IPv4 networks tested against a client
//! address (in one, and in none; target ≤ 50 ns), and the `Accept-Language` parse of a
//! typical browser header (target ≤ 100 ns).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use smartlink::calendar::Calendar;
use smartlink::catalog::Catalog;
use smartlink::counts::{CapClock, Counts};
use smartlink::routing::{Attributes, Context, NoTrace, Outcome, RoutingTable};
use smartlink::template::Template;
use smartlink::vocab::Screen;
use smartlink::vocab::{Country, DeviceClass, OsFamily};

/// Priority 1: four country-targeted offers; priority 2: three device-targeted offers;
/// priority 3: three offers for France. Weights vary.
const ATTACHMENTS: [&str; 10] = [
    r#"{"offer_id":1,"priority":1,"offer_weight":40,"countries":["US","CA"]}"#,
    r#"{"offer_id":2,"priority":1,"offer_weight":30,"countries":["US"],"devices":["mobile"]}"#,
    r#"{"offer_id":3,"priority":1,"offer_weight":20,"countries":["GB","IE"]}"#,
    r#"{"offer_id":4,"priority":1,"offer_weight":10,"countries":["DE","AT","CH"]}"#,
    r#"{"offer_id":5,"priority":2,"offer_weight":50,"devices":["mobile","tablet"]}"#,
    r#"{"offer_id":6,"priority":2,"offer_weight":30,"devices":["desktop"]}"#,
    r#"{"offer_id":7,"priority":2,"offer_weight":20,"devices":["tablet"]}"#,
    r#"{"offer_id":8,"priority":3,"offer_weight":60,"countries":["FR"]}"#,
    r#"{"offer_id":9,"priority":3,"offer_weight":30,"countries":["FR"]}"#,
    r#"{"offer_id":10,"priority":3,"offer_weight":10,"countries":["FR"],"devices":["other"]}"#,
];

/// The same, with three conditions on every attachment: a country list (priority 2's take
/// every country a case uses), an OS list and a weekday schedule.
const WITH_CONDITIONS: [&str; 10] = [
    r#"{"offer_id":1,"priority":1,"offer_weight":40,"countries":["US","CA"],"os":["ios","android","other"],"schedule":[{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"20:00"}]}"#,
    r#"{"offer_id":2,"priority":1,"offer_weight":30,"countries":["US"],"os":["ios","other"],"schedule":[{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"20:00"}]}"#,
    r#"{"offer_id":3,"priority":1,"offer_weight":20,"countries":["GB","IE"],"os":["ios","other"],"schedule":[{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"20:00"}]}"#,
    r#"{"offer_id":4,"priority":1,"offer_weight":10,"countries":["DE","AT","CH"],"os":["android","other"],"schedule":[{"from":"06:00","to":"23:00"}]}"#,
    r#"{"offer_id":5,"priority":2,"offer_weight":50,"countries":["BR","FR","US","JP"],"os":["ios","other"],"schedule":[{"days":["sat","sun"],"from":"00:00","to":"24:00"}]}"#,
    r#"{"offer_id":6,"priority":2,"offer_weight":30,"countries":["BR","US"],"os":["windows","other"],"schedule":[{"from":"10:00","to":"14:00"}]}"#,
    r#"{"offer_id":7,"priority":2,"offer_weight":20,"countries":["BR","US"],"os":["ios","other"],"schedule":[{"from":"22:00","to":"06:00"}]}"#,
    r#"{"offer_id":8,"priority":3,"offer_weight":60,"countries":["FR"],"os":["macos","other"],"schedule":[{"from":"00:00","to":"24:00"}]}"#,
    r#"{"offer_id":9,"priority":3,"offer_weight":30,"countries":["FR"],"os":["linux","other"],"schedule":[{"from":"00:00","to":"24:00"}]}"#,
    r#"{"offer_id":10,"priority":3,"offer_weight":10,"countries":["FR"],"os":["other"],"schedule":[{"from":"00:00","to":"24:00"}]}"#,
];

/// Link 1 draws among `attachments` at random, link 2 (the same attachments) rotates
/// exactly, link 3 draws over optimized weights.
fn table(attachments: &[&str], health: bool) -> RoutingTable {
    let offers: Vec<String> = (1..=10)
        .map(|i| format!(r#"{{"offer_id":{i},"offer_name":"o{i}","offer_status":"active","offer_url":"https://o{i}.example/?c={{click_id}}"}}"#))
        .collect();
    let attachments = attachments.join(",");
    let json = format!(
        r#"{{"affiliates":[{{"affiliate_id":1,"affiliate_name":"a"}}],"offers":[{}],
        "smart_links":[{{"smart_link_id":1,"smart_link_name":"l","affiliate_id":1,
        "smart_link_status":"active","offers":[{attachments}]}},
        {{"smart_link_id":2,"smart_link_name":"x","affiliate_id":1,
        "smart_link_status":"active","rotation":"exact","offers":[{attachments}]}},
        {{"smart_link_id":3,"smart_link_name":"o","affiliate_id":1,
        "smart_link_status":"active","rotation":"optimized","offers":[{attachments}]}}]}}"#,
        offers.join(","),
    );
    let catalog: Catalog = serde_json::from_str(&json).expect("catalog");
    let catalog = smartlink::catalog::validate(catalog).expect("valid");
    let counts = Counts::default();
    let mut table = RoutingTable::compile(
        &catalog,
        Template::parse("https://fallback.example/").unwrap(),
        &counts,
    );
    if health {
        table.watch_destinations(&catalog, &counts);
    }
    table
}

/// A click's attributes, known in advance; its time is a Tuesday, 12:00.
struct Known(Option<Country>, DeviceClass);

impl Attributes for Known {
    fn country(&mut self) -> Option<Country> {
        self.0
    }
    fn device(&mut self) -> DeviceClass {
        self.1
    }
    fn os(&mut self) -> OsFamily {
        OsFamily::Other
    }
    fn week_minute(&mut self) -> Option<u16> {
        Some(1440 + 12 * 60)
    }
}

fn bench(c: &mut Criterion) {
    for (group, attachments, health) in [
        ("decision_10_attachments_3_priorities", &ATTACHMENTS, false),
        (
            "decision_10_attachments_3_conditions_each",
            &WITH_CONDITIONS,
            false,
        ),
        (
            "decision_10_attachments_3_priorities_health_on",
            &ATTACHMENTS,
            true,
        ),
    ] {
        decisions(c, group, &table(attachments, health));
    }
}

/// The four cases on `table`'s two links, checked, then timed.
fn decisions(c: &mut Criterion, group: &str, table: &RoutingTable) {
    let mut rng = SmallRng::seed_from_u64(7);
    let calendar = Calendar::named("UTC").unwrap();
    let ctx = Context {
        bots: Screen::Fallback,
        anonymous: Screen::Route,
        all_down: smartlink::settings::AllDown::Ignore,
        caps: CapClock {
            calendar: &calendar,
            now: 1_795_867_200,
        },
        count: true,
    };
    let mut group = c.benchmark_group(group);
    for (link, rotation) in [(1, ""), (2, "exact_"), (3, "optimized_")] {
        let link = table.link(link).unwrap();
        for (case, country, device, priority) in [
            ("priority_1_decides", "US", DeviceClass::Mobile, Some(1)),
            ("falls_to_priority_2", "BR", DeviceClass::Desktop, Some(2)),
            ("falls_to_priority_3", "FR", DeviceClass::Other, Some(3)),
            ("nothing_qualifies", "JP", DeviceClass::Other, None),
        ] {
            let name = format!("{rotation}{case}");
            let country = Country::from_code(country);
            let outcome = table
                .decide(
                    link,
                    &ctx,
                    &mut Known(country, device),
                    &mut rng,
                    &mut NoTrace,
                )
                .outcome;
            let decided = match outcome {
                Outcome::Routed { attachment, .. } => Some(attachment.priority),
                Outcome::Fallback(_) => None,
            };
            assert_eq!(decided, priority, "{name}");
            group.bench_function(name, |b| {
                b.iter(|| {
                    let mut attrs = Known(country, device);
                    let decision =
                        table.decide(black_box(link), &ctx, &mut attrs, &mut rng, &mut NoTrace);
                    black_box(matches!(decision.outcome, Outcome::Routed { .. }))
                })
            });
        }
    }
    group.finish();
}

/// A click that has only an address.
struct FromAddress(std::net::IpAddr);

impl Attributes for FromAddress {
    fn country(&mut self) -> Option<Country> {
        None
    }
    fn device(&mut self) -> DeviceClass {
        DeviceClass::Desktop
    }
    fn os(&mut self) -> OsFamily {
        OsFamily::Windows
    }
    fn ip(&mut self) -> Option<std::net::IpAddr> {
        Some(self.0)
    }
}

fn conditions(c: &mut Criterion) {
    use smartlink::conditions::{Dimension, Rule, Rules};
    // 10 000 disjoint /24 networks spread over the IPv4 space.
    let nets: Vec<serde_json::Value> = (0..10_000u32)
        .map(|i| {
            let a = std::net::Ipv4Addr::from(i.wrapping_mul(2_654_435_761) & 0xffff_ff00);
            format!("{a}/24").into()
        })
        .collect();
    let inside: std::net::IpAddr = nets[7_777]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let set = Dimension::IpRange
        .parse(&serde_json::Value::from(nets))
        .expect("networks")
        .remove(0);
    let rules = Rules::new(vec![Rule {
        set,
        exclude: false,
    }]);
    let outside: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    assert!(rules.check(&mut FromAddress(inside)).is_ok());
    assert!(rules.check(&mut FromAddress(outside)).is_err());
    let mut group = c.benchmark_group("conditions");
    for (name, ip) in [
        ("ip_ranges_10000_inside", inside),
        ("ip_ranges_10000_outside", outside),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(rules.check(&mut FromAddress(black_box(ip))).is_ok()))
        });
    }
    let header = b"en-US,en;q=0.9,de-DE;q=0.8,de;q=0.7,fr;q=0.6";
    assert_eq!(
        smartlink::vocab::Language::preferred(header).map(|l| l.as_str().to_string()),
        Some("en".to_string())
    );
    group.bench_function("accept_language_typical", |b| {
        b.iter(|| black_box(smartlink::vocab::Language::preferred(black_box(header))))
    });
    group.finish();
}

criterion_group!(benches, bench, conditions);
criterion_main!(benches);
