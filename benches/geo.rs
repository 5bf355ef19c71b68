//! Compares GeoIP country lookups: IPv4 and IPv6 on the real flat database the demo ships
//! (`config/geo/country.mmdb`, 400k networks), and IPv4 on MaxMind's official GeoIP2 Country
//! test database (the nested `country.iso_code` schema), and an ASN lookup on MaxMind's ASN
//! test database. Target (README): IPv4 ≤ 130 ns.

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use smartlink::client::geo::{AsnDb, LocationDb};

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let real = LocationDb::open(&root.join("config/geo/country.mmdb")).expect("demo database");
    let maxmind = LocationDb::open(&root.join("tests/fixtures/geo/GeoIP2-Country-Test.mmdb"))
        .expect("MaxMind test database");
    let mut group = c.benchmark_group("geo_lookup");
    let cases: [(&str, &LocationDb, &str); 5] = [
        ("flat_ipv4", &real, "81.2.69.142"),
        ("flat_ipv4_mapped_ipv6", &real, "::ffff:81.2.69.142"),
        ("flat_ipv6", &real, "2001:4860:4860::8888"),
        ("flat_ipv4_no_record", &real, "10.1.2.3"),
        ("maxmind_ipv4", &maxmind, "81.2.69.142"),
    ];
    for (name, db, ip) in cases {
        let ip: IpAddr = ip.parse().unwrap();
        group.bench_function(name, |b| b.iter(|| black_box(db.get(black_box(ip)))));
    }
    let asn = AsnDb::open(&root.join("tests/fixtures/geo/GeoLite2-ASN-Test.mmdb"))
        .expect("MaxMind ASN test database");
    let ip: IpAddr = "12.81.92.7".parse().unwrap();
    group.bench_function("maxmind_asn_ipv4", |b| {
        b.iter(|| black_box(asn.get(black_box(ip))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
