//! Country from GeoIP over HTTP: MaxMind's official test databases (country beats
//! registered_country), a registered-country-only record, IPv6, and the real flat database.

use crate::common::*;

/// Offer 21 for GB, offer 22 for US, offer 23 for DE, all priority 1; offer 24 for any
/// country at priority 2.
const GEO_NETWORK: &str = include_str!("../fixtures/networks/geo.json");

async fn location_for(s: &TestServer, ip: &str) -> String {
    let r = s
        .get(
            "/sl?id=7",
            &[("user-agent", CHROME_WINDOWS), ("x-forwarded-for", ip)],
        )
        .await;
    r.location().to_string()
}

#[tokio::test]
async fn maxmind_country_database_prefers_country_over_registered_country() {
    let s = TestServer::start(TestConfig::new(GEO_NETWORK).geo("GeoIP2-Country-Test.mmdb")).await;
    // (address, country, registered_country) from GeoIP2-Country-Test.json.
    for (ip, want) in [
        ("81.2.69.142", "https://gb.example/?c=GB"), // GB, registered US
        ("216.160.83.56", "https://us.example/?c=US"), // US, registered GB
        ("89.160.20.128", "https://any.example/?c=SE"), // SE, registered DE
        ("2001:218::1", "https://any.example/?c=JP"),
        ("::ffff:81.2.69.142", "https://gb.example/?c=GB"),
        ("2a02:d500::1", "https://any.example/?c="), // in the tree, no country at all
        ("192.0.2.1", "https://any.example/?c="),    // not in the database
    ] {
        assert_eq!(location_for(&s, ip).await, want, "{ip}");
    }
    s.stop().await;
}

#[tokio::test]
async fn geolite_and_city_databases_work_too() {
    for db in ["GeoLite2-Country-Test.mmdb", "GeoIP2-City-Test.mmdb"] {
        let s = TestServer::start(TestConfig::new(GEO_NETWORK).geo(db)).await;
        assert_eq!(
            location_for(&s, "81.2.69.142").await,
            "https://gb.example/?c=GB",
            "{db}"
        );
        assert_eq!(
            location_for(&s, "216.160.83.56").await,
            "https://us.example/?c=US",
            "{db}"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn registered_country_is_used_when_a_record_has_no_country() {
    let s =
        TestServer::start(TestConfig::new(GEO_NETWORK).geo("registered-country-only.mmdb")).await;
    assert_eq!(
        location_for(&s, "198.51.100.7").await,
        "https://de.example/?c=DE"
    );
    assert_eq!(
        location_for(&s, "2001:db8::42").await,
        "https://de.example/?c=FR"
    );
    assert_eq!(
        location_for(&s, "203.0.113.5").await,
        "https://any.example/?c=JP"
    );
    s.stop().await;
}

#[tokio::test]
async fn real_flat_country_code_database_ipv4_and_ipv6() {
    let s = TestServer::start(TestConfig::new(GEO_NETWORK).geo("country.mmdb")).await;
    assert_eq!(
        location_for(&s, "8.8.8.8").await,
        "https://us.example/?c=US"
    );
    assert_eq!(
        location_for(&s, "2001:4860:4860::8888").await,
        "https://us.example/?c=US"
    );
    assert_eq!(
        location_for(&s, "81.2.69.142").await,
        "https://gb.example/?c=GB"
    );
    s.stop().await;
}

#[tokio::test]
async fn without_a_database_no_country_rule_matches() {
    let s = TestServer::start(TestConfig::new(GEO_NETWORK)).await;
    assert_eq!(
        location_for(&s, "81.2.69.142").await,
        "https://any.example/?c="
    );
    s.stop().await;
}
