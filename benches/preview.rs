//! Measures a change preview over one million click records: reading the click log, rebuilding
//! each click's attributes from its record and deciding it in the table in force and the
//! changed one (`preview::run`, as `preview.json` and `smartlink preview` call it). The log is
//! written first with the real record writer (about 480 bytes a line, attributes varied) for
//! 20 smart links of 3 to 5 offers with country and device conditions and one capped offer;
//! the change touches every link (an offer paused, weights changed, a country condition
//! added). The figure is in docs/performance.md. Files come from the page cache, as they do
//! for a log written in the last hours.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use smartlink::click_id::{Claims, ClickSigner};
use smartlink::click_log::record::TimeFormat;
use smartlink::click_log::{ClickRecord, RecordText};
use smartlink::counts::Counts;
use smartlink::preview::Scope;
use smartlink::snapshot::{CatalogFrom, Snapshot};
use smartlink::vocab::{Browser, Country, DeviceClass, Language, OsFamily, Region, SourceKind};

const RECORDS: u64 = 1_000_000;
const LINKS: u32 = 20;
const COUNTRIES: [&str; 6] = ["US", "GB", "DE", "FR", "BR", "IN"];

/// 60 offers (offer 7 capped at 50,000 clicks a day); link `l` routes to offers `2l-1`,
/// `2l`, `2l+1` (US and GB only at priority 1, by weight) and `l % 5 + 50` for mobile at 2.
fn network(changed: bool) -> Value {
    let offers: Vec<Value> = (1..=60)
        .map(|id| {
            let mut o = json!({
                "offer_id": id, "offer_name": format!("o{id}"),
                "offer_status": if changed && id % 6 == 0 { "paused" } else { "active" },
                "offer_url": format!("https://o{id}.example/?c={{click_id}}"),
            });
            if id == 7 {
                o["caps"] = json!({"daily_clicks": 50_000});
            }
            o
        })
        .collect();
    let links: Vec<Value> = (1..=LINKS)
        .map(|l| {
            let countries = if changed {
                json!(["US", "GB", "DE"])
            } else {
                json!(["US", "GB"])
            };
            json!({
                "smart_link_id": l, "smart_link_name": format!("l{l}"), "affiliate_id": 1,
                "smart_link_status": "active",
                "offers": [
                    {"offer_id": 2 * l - 1, "priority": 1, "countries": countries,
                     "offer_weight": if changed { 20 } else { 60 }},
                    {"offer_id": 2 * l, "priority": 1, "countries": countries, "offer_weight": 30},
                    {"offer_id": 2 * l + 1, "priority": 1, "exclude_countries": ["IN"], "offer_weight": 10},
                    {"offer_id": l % 5 + 50, "priority": 2, "devices": ["mobile", "tablet"]},
                ],
            })
        })
        .collect();
    json!({
        "affiliates": [{"affiliate_id": 1, "affiliate_name": "a"}],
        "offers": offers,
        "smart_links": links,
    })
}

/// Writes the settings, the catalog and a click log of `RECORDS` records of the last hour.
fn setup(dir: &Path) -> std::path::PathBuf {
    let catalog = dir.join("network.json");
    std::fs::write(&catalog, network(false).to_string()).unwrap();
    let state = dir.join("data");
    std::fs::create_dir_all(&state).unwrap();
    let config = dir.join("smartlink.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndefault_fallback_url = \"https://f.example/\"\n\
             [catalog]\npath = {catalog:?}\n[tracking]\nclick_secret = \"bench-click-secret-0123456789abcdef\"\n\
             [state]\ndir = {state:?}\n[preview]\nmax_records = {RECORDS}\n"
        ),
    )
    .unwrap();
    let signer = ClickSigner::new(b"bench-click-secret-0123456789abcdef");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = now - 3000;
    let mut clock = TimeFormat::default();
    let mut out = Vec::with_capacity(64 << 20);
    let mut file_hour = None;
    let mut file: Option<std::fs::File> = None;
    let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
    for i in 0..RECORDS {
        let t = start + i * 2900 / RECORDS;
        let hour = t / 3600;
        if file_hour != Some(hour) {
            use std::io::Write;
            if let Some(f) = &mut file {
                f.write_all(&out).unwrap();
                out.clear();
            }
            file_hour = Some(hour);
            file = Some(
                std::fs::File::create(state.join(smartlink::files::hourly_name("clicks", hour)))
                    .unwrap(),
            );
        }
        let link = (i % u64::from(LINKS)) as u32 + 1;
        let country = COUNTRIES[(i / 7 % 6) as usize];
        let claims = Claims {
            kind: SourceKind::SmartLink,
            time: t as u32,
            offer_id: Some(2 * link - 1),
            source_id: link,
            affiliate_id: 1,
        };
        let r = ClickRecord {
            time: UNIX_EPOCH + Duration::from_millis(t * 1000 + i % 1000),
            click_id: signer.issue(&claims),
            kind: SourceKind::SmartLink,
            source_id: link,
            affiliate_id: 1,
            offer_id: Some(2 * link - 1),
            landing_page_id: None,
            priority: Some(1),
            fallback: None,
            ip: format!("81.2.{}.{}", i / 256 % 256, i % 256)
                .parse()
                .unwrap(),
            country: Some(Country::from_code(country)),
            region: Region::from_code("GB-ENG"),
            asn: Some(Some(15169)),
            anonymous: Some(Some(false)),
            device: if i % 3 == 0 {
                DeviceClass::Desktop
            } else {
                DeviceClass::Mobile
            },
            os: OsFamily::Ios,
            browser: Browser::Safari,
            language: Language::from_code("en"),
            text: RecordText::new(
                Some(ua.as_bytes()),
                &[
                    Some("email_june".into()),
                    Some("abc".into()),
                    None,
                    None,
                    None,
                ],
                Some("news.example.com"),
            ),
        };
        r.write_line(&mut out, &mut clock);
    }
    use std::io::Write;
    file.unwrap().write_all(&out).unwrap();
    config
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let counts = Counts::default();
    let snapshot = Snapshot::load(&config, 1, &counts, CatalogFrom::File).unwrap();
    let changed: smartlink::catalog::Catalog = serde_json::from_value(network(true)).unwrap();
    let changed = smartlink::catalog::validate(changed).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let scope = Scope {
        from: now - 24 * 3600,
        to: now + 1,
        link: None,
        max_records: RECORDS,
    };
    let state_dir = dir.path().join("data");
    let once =
        smartlink::preview::run(&snapshot, &counts, &changed, &state_dir, &scope, None).unwrap();
    assert_eq!(once["records"]["replayed"], RECORDS, "{once:#}");
    let mut group = c.benchmark_group("preview");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("one_million_records", |b| {
        b.iter(|| {
            black_box(
                smartlink::preview::run(&snapshot, &counts, &changed, &state_dir, &scope, None)
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
