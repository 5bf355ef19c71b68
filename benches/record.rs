//! Measures the click log writer's cost per record: completing its address's GeoIP
//! attributes (the country and region alone, as a writer with only a location database does;
//! then with the ASN and anonymous-IP databases too), formatting one JSON line, and formatting
//! plus writing it to a file in 1 MiB batches. Read it against one click's cost, measured by
//! `benches/click.rs`: the writer runs on one thread for all request threads, so it must stay
//! well below the click's cost or records are dropped under full load. Prints the line's
//! size once.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use smartlink::click_id::{Claims, ClickSigner};
use smartlink::click_log::record::TimeFormat;
use smartlink::click_log::{ClickRecord, RecordText};
use smartlink::client::GeoDbs;
use smartlink::vocab::SourceKind;
use smartlink::vocab::{Browser, Country, DeviceClass, Language, OsFamily, Region};

fn record() -> ClickRecord {
    let signer = ClickSigner::new(b"demo-click-secret-change-me-0123456789");
    let claims = Claims {
        kind: SourceKind::SmartLink,
        time: 1_795_000_000,
        offer_id: Some(1042),
        source_id: 301,
        affiliate_id: 67890,
    };
    ClickRecord {
        time: SystemTime::now(),
        click_id: signer.issue(&claims),
        kind: SourceKind::SmartLink,
        source_id: 301,
        affiliate_id: 67890,
        offer_id: Some(1042),
        landing_page_id: None,
        priority: Some(1),
        fallback: None,
        ip: "8.8.8.8".parse().unwrap(),
        country: Some(Country::from_code("US")),
        region: Region::from_code("US-CA"),
        asn: Some(Some(15169)),
        anonymous: Some(Some(false)),
        device: DeviceClass::Mobile,
        os: OsFamily::Ios,
        browser: Browser::Safari,
        language: Language::from_code("en"),
        text: RecordText::new(
            Some(b"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
            &[Some("email_june".into()), Some("abc".into()), None, None, None],
            Some("news.example.com"),
        ),
    }
}

fn bench(c: &mut Criterion) {
    let mut r = record();
    let mut clock = TimeFormat::default();
    let mut group = c.benchmark_group("click_log_per_record");
    let mut line = Vec::with_capacity(1024);
    r.write_line(&mut line, &mut clock);
    eprintln!("one record: {} bytes a line", line.len());
    // An address the City test database places (GB, ENG), looked up as the writer does when
    // routing did not ask for it.
    let geo_file = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/geo")
            .join(name)
    };
    let city = geo_file("GeoIP2-City-Test.mmdb");
    let location_only = GeoDbs::open(Some(&city), None, None).unwrap();
    let all = GeoDbs::open(
        Some(&city),
        Some(&geo_file("GeoLite2-ASN-Test.mmdb")),
        Some(&geo_file("GeoIP2-Anonymous-IP-Test.mmdb")),
    )
    .unwrap();
    r.ip = "81.2.69.142".parse().unwrap();
    for (name, geo) in [
        ("complete_location_only", &location_only),
        ("complete_all_databases", &all),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                (r.country, r.asn, r.anonymous) = (None, None, None);
                smartlink::client::complete(black_box(&mut r), geo);
                black_box(r.country)
            })
        });
    }
    group.bench_function("json_line", |b| {
        b.iter(|| {
            line.clear();
            black_box(&r).write_line(&mut line, &mut clock);
            black_box(line.len())
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(dir.path().join("clicks.ndjson")).unwrap();
    let mut batch = Vec::with_capacity(2 << 20);
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("json_line_and_file_write", |b| {
        b.iter(|| {
            black_box(&r).write_line(&mut batch, &mut clock);
            if batch.len() >= 1 << 20 {
                file.write_all(&batch).unwrap();
                batch.clear();
                // Keep the file small: the page cache, not the disk, is what a flush hits.
                file.set_len(0).unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
