//! What MaxMind DB files say of an IP address: its country and region, its autonomous system,
//! whether it belongs to an anonymizing network. The only module that knows maxminddb.
//!
//! Three databases, each optional (`[geoip]` in the settings):
//! - the location database (`database`): MaxMind GeoIP2/GeoLite2 Country, City and Enterprise
//!   (`country.iso_code`, else `registered_country.iso_code`; the region is the first of
//!   `subdivisions`, City and Enterprise only) and flat country databases (top-level
//!   `country_code`, e.g. ip-location-db);
//! - the ASN database (`asn_database`): MaxMind GeoLite2/GeoIP2 ASN
//!   (`autonomous_system_number`);
//! - the anonymous-network database (`anonymous_database`): MaxMind GeoIP2 Anonymous IP; an
//!   address is anonymous when flagged as a VPN, a hosting provider, a public proxy or a Tor
//!   exit node (`is_residential_proxy` alone is not: those are households' own connections).
//!
//! At open, every network of the search tree is walked once and each distinct data record is
//! decoded once into the small value routing needs, keyed by its data-section offset. A lookup
//! is then the tree walk plus one hash probe, with no decoding on the hot path; and a database
//! whose data section is corrupt is rejected at open (or reload) instead of failing clicks one
//! by one.
//!
//! The files are memory-mapped. Replace one by renaming a new file over it (what `mv` does),
//! never by rewriting it in place: the old mapping keeps serving until the next reload.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use maxminddb::{LookupResult, MaxMindDbError, Mmap, Reader};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;

use crate::vocab::{Country, Region};

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error(
        "GeoIP database {}: cannot open: {source}",
        crate::files::Resolved(path)
    )]
    Open {
        path: PathBuf,
        source: MaxMindDbError,
    },
    #[error("GeoIP database {path}: corrupt or unreadable: {source}")]
    Corrupt {
        path: PathBuf,
        source: MaxMindDbError,
    },
    #[error(
        "GeoIP database {path}: no record has {expected} (database type {database_type:?}); expected {schema}"
    )]
    Empty {
        path: PathBuf,
        database_type: String,
        expected: &'static str,
        schema: &'static str,
    },
}

/// What `check` reports about a database.
#[derive(Debug, Clone)]
pub struct GeoInfo {
    pub path: PathBuf,
    pub database_type: String,
    pub ip_version: u16,
    pub build_epoch: u64,
    pub networks: usize,
    /// What its records hold, e.g. "250 countries, 3000 regions".
    pub holds: String,
}

/// The value a database's records are decoded into, once per distinct record.
pub trait Schema: Copy + Sized {
    /// What a useful record has, and the schemas accepted, for the error on a database
    /// without any.
    const EXPECTED: &'static str;
    const SCHEMA: &'static str;
    /// The value of a record (`None`: the record says nothing routing uses).
    fn decode(found: &LookupResult<'_, Mmap>) -> Result<Option<Self>, MaxMindDbError>;
    /// What the decoded values hold, for `check`.
    fn describe<'a>(values: impl Iterator<Item = &'a Self>) -> String
    where
        Self: 'a;
}

/// An open MaxMind DB file, its records decoded into `T`.
pub struct Mmdb<T> {
    reader: Reader<Mmap>,
    /// Data-section offset → value of that record (records without one are absent).
    records: FxHashMap<usize, T>,
    info: GeoInfo,
}

/// The location of an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub country: Country,
    /// The first subdivision (ISO 3166-2), from City and Enterprise databases.
    pub region: Option<Region>,
}

/// An autonomous system number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Asn(pub u32);

/// An address of an anonymizing network (VPN, hosting provider, public proxy, Tor exit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anonymous;

pub type LocationDb = Mmdb<Place>;
pub type AsnDb = Mmdb<Asn>;
pub type AnonymousDb = Mmdb<Anonymous>;

/// The databases of one configuration, each optional.
#[derive(Clone, Default)]
pub struct GeoDbs {
    pub location: Option<Arc<LocationDb>>,
    pub asn: Option<Arc<AsnDb>>,
    pub anonymous: Option<Arc<AnonymousDb>>,
}

impl GeoDbs {
    /// Every database configured, opened; the error of each that fails.
    pub fn open(
        location: Option<&Path>,
        asn: Option<&Path>,
        anonymous: Option<&Path>,
    ) -> Result<GeoDbs, Vec<GeoError>> {
        fn one<T: Schema>(path: Option<&Path>, errors: &mut Vec<GeoError>) -> Option<Arc<Mmdb<T>>> {
            Mmdb::open(path?)
                .map(Arc::new)
                .map_err(|e| errors.push(e))
                .ok()
        }
        let mut errors = Vec::new();
        let dbs = GeoDbs {
            location: one(location, &mut errors),
            asn: one(asn, &mut errors),
            anonymous: one(anonymous, &mut errors),
        };
        if errors.is_empty() {
            Ok(dbs)
        } else {
            Err(errors)
        }
    }

    /// Whether the location database has regions (City and Enterprise databases do).
    pub fn has_regions(&self) -> bool {
        self.location
            .as_ref()
            .is_some_and(|db| db.records.values().any(|p| p.region.is_some()))
    }
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

/// The fields any accepted location schema may carry; others are skipped by the decoder.
#[derive(Deserialize)]
struct LocationRecord<'a> {
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow)]
    registered_country: Option<IsoCode<'a>>,
    #[serde(borrow)]
    country_code: Option<&'a str>,
    #[serde(borrow)]
    subdivisions: Option<Vec<IsoCode<'a>>>,
}

impl Schema for Place {
    const EXPECTED: &'static str = "a country code";
    const SCHEMA: &'static str = "a country, city or flat country_code database";

    fn decode(found: &LookupResult<'_, Mmap>) -> Result<Option<Place>, MaxMindDbError> {
        let Some(r) = found.decode::<LocationRecord>()? else {
            return Ok(None);
        };
        let code = r
            .country
            .as_ref()
            .and_then(|c| c.iso_code)
            .or_else(|| r.registered_country.as_ref().and_then(|c| c.iso_code))
            .or(r.country_code);
        let Some(country) = code.and_then(Country::from_code) else {
            return Ok(None);
        };
        // The region belongs to the record's own country, not the registered one.
        let region = r
            .subdivisions
            .as_ref()
            .and_then(|s| s.first())
            .and_then(|s| s.iso_code)
            .filter(|_| r.country.as_ref().and_then(|c| c.iso_code) == Some(country.as_str()))
            .and_then(|sub| Region::of(country, sub));
        Ok(Some(Place { country, region }))
    }

    fn describe<'a>(values: impl Iterator<Item = &'a Place>) -> String {
        let (mut countries, mut regions) = (FxHashSet::default(), FxHashSet::default());
        for p in values {
            countries.insert(p.country);
            regions.extend(p.region);
        }
        format!("{} countries, {} regions", countries.len(), regions.len())
    }
}

#[derive(Deserialize)]
struct AsnRecord {
    autonomous_system_number: Option<u32>,
}

impl Schema for Asn {
    const EXPECTED: &'static str = "an autonomous_system_number";
    const SCHEMA: &'static str = "a GeoLite2-ASN or GeoIP2-ASN database";

    fn decode(found: &LookupResult<'_, Mmap>) -> Result<Option<Asn>, MaxMindDbError> {
        Ok(found
            .decode::<AsnRecord>()?
            .and_then(|r| r.autonomous_system_number)
            .map(Asn))
    }

    fn describe<'a>(values: impl Iterator<Item = &'a Asn>) -> String {
        format!("{} ASNs", values.collect::<FxHashSet<_>>().len())
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AnonymousRecord {
    is_anonymous_vpn: bool,
    is_hosting_provider: bool,
    is_public_proxy: bool,
    is_tor_exit_node: bool,
}

impl Schema for Anonymous {
    const EXPECTED: &'static str = "a VPN, hosting, public proxy or Tor flag";
    const SCHEMA: &'static str = "a GeoIP2-Anonymous-IP database";

    fn decode(found: &LookupResult<'_, Mmap>) -> Result<Option<Anonymous>, MaxMindDbError> {
        Ok(found.decode::<AnonymousRecord>()?.and_then(|r| {
            (r.is_anonymous_vpn || r.is_hosting_provider || r.is_public_proxy || r.is_tor_exit_node)
                .then_some(Anonymous)
        }))
    }

    fn describe<'a>(values: impl Iterator<Item = &'a Anonymous>) -> String {
        format!("{} anonymous-network records", values.count())
    }
}

impl<T: Schema> Mmdb<T> {
    /// Opens, memory-maps and indexes a database. Fails on unreadable or corrupt files and on
    /// files none of whose records has what `T` needs (a database of another kind).
    pub fn open(path: &Path) -> Result<Mmdb<T>, GeoError> {
        // SAFETY: the mapping is read-only; the operator replaces the file by rename (see
        // module docs), so the mapped inode is never modified while this reader exists.
        let reader = unsafe { Reader::open_mmap(path) }.map_err(|source| GeoError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let corrupt = |source| GeoError::Corrupt {
            path: path.to_path_buf(),
            source,
        };
        let mut records = FxHashMap::default();
        let mut seen = FxHashSet::default();
        let mut networks = 0;
        for item in reader.networks(Default::default()).map_err(corrupt)? {
            let found = item.map_err(corrupt)?;
            networks += 1;
            let Some(offset) = found.offset() else {
                continue;
            };
            if !seen.insert(offset) {
                continue;
            }
            if let Some(value) = T::decode(&found).map_err(corrupt)? {
                records.insert(offset, value);
            }
        }
        let meta = reader.metadata();
        let info = GeoInfo {
            path: path.to_path_buf(),
            database_type: meta.database_type.clone(),
            ip_version: meta.ip_version,
            build_epoch: meta.build_epoch,
            networks,
            holds: T::describe(records.values()),
        };
        if records.is_empty() {
            return Err(GeoError::Empty {
                path: path.to_path_buf(),
                database_type: info.database_type,
                expected: T::EXPECTED,
                schema: T::SCHEMA,
            });
        }
        Ok(Mmdb {
            reader,
            records,
            info,
        })
    }

    /// What the database says of `ip`, if anything. IPv4-mapped IPv6 addresses are looked up
    /// as IPv4.
    #[inline]
    pub fn get(&self, ip: IpAddr) -> Option<T> {
        let offset = self.reader.lookup(ip.to_canonical()).ok()?.offset()?;
        self.records.get(&offset).copied()
    }

    pub fn info(&self) -> &GeoInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/geo")
            .join(name)
    }

    fn lookup(db: &LocationDb, ip: &str) -> Option<String> {
        db.get(ip.parse().unwrap()).map(|p| p.country.to_string())
    }

    fn region(db: &LocationDb, ip: &str) -> Option<String> {
        db.get(ip.parse().unwrap())
            .and_then(|p| p.region)
            .map(|r| r.to_string())
    }

    #[test]
    fn country_wins_over_registered_country() {
        // From GeoIP2-Country-Test.json: country GB, registered_country US.
        let db = LocationDb::open(&fixture("GeoIP2-Country-Test.mmdb")).unwrap();
        assert_eq!(lookup(&db, "81.2.69.142").as_deref(), Some("GB"));
        assert_eq!(lookup(&db, "::ffff:81.2.69.142").as_deref(), Some("GB"));
        assert_eq!(lookup(&db, "2001:218::1").as_deref(), Some("JP"));
        // In the tree but with neither country nor registered_country.
        assert_eq!(lookup(&db, "2a02:d500::1"), None);
        assert_eq!(lookup(&db, "10.0.0.1"), None);
    }

    #[test]
    fn registered_country_is_used_when_country_is_absent() {
        let db = LocationDb::open(&fixture("registered-country-only.mmdb")).unwrap();
        assert_eq!(lookup(&db, "198.51.100.7").as_deref(), Some("DE"));
        assert_eq!(lookup(&db, "2001:db8::7").as_deref(), Some("FR"));
    }

    #[test]
    fn flat_country_code_schema() {
        let db = LocationDb::open(&fixture("../../../config/geo/country.mmdb")).unwrap();
        assert_eq!(lookup(&db, "8.8.8.8").as_deref(), Some("US"));
        assert_eq!(lookup(&db, "81.2.69.142").as_deref(), Some("GB"));
        assert!(db.info().networks > 100_000);
    }

    #[test]
    fn a_city_database_gives_the_first_subdivision_as_the_region() {
        // From GeoIP2-City-Test.json.
        let db = LocationDb::open(&fixture("GeoIP2-City-Test.mmdb")).unwrap();
        assert_eq!(lookup(&db, "89.160.20.128").as_deref(), Some("SE"));
        assert_eq!(region(&db, "89.160.20.128").as_deref(), Some("SE-E"));
        assert_eq!(region(&db, "2.125.160.216").as_deref(), Some("GB-ENG"));
        assert_eq!(region(&db, "216.160.83.56").as_deref(), Some("US-WA"));
        assert_eq!(region(&db, "175.16.199.1").as_deref(), Some("CN-22"));
        assert!(db.info().holds.contains("regions"), "{}", db.info().holds);
        let country = LocationDb::open(&fixture("GeoIP2-Country-Test.mmdb")).unwrap();
        assert_eq!(region(&country, "81.2.69.142"), None);
    }

    #[test]
    fn asn_database() {
        // From GeoLite2-ASN-Test.json.
        let db = AsnDb::open(&fixture("GeoLite2-ASN-Test.mmdb")).unwrap();
        assert_eq!(db.get("1.0.0.1".parse().unwrap()), Some(Asn(15169)));
        assert_eq!(db.get("12.81.92.7".parse().unwrap()), Some(Asn(7018)));
        assert_eq!(db.get("10.0.0.1".parse().unwrap()), None);
    }

    #[test]
    fn anonymous_networks_are_vpns_hosting_public_proxies_and_tor_exits() {
        // From GeoIP2-Anonymous-IP-Test.json.
        let db = AnonymousDb::open(&fixture("GeoIP2-Anonymous-IP-Test.mmdb")).unwrap();
        let anonymous = |ip: &str| db.get(ip.parse().unwrap()).is_some();
        assert!(anonymous("1.2.0.1"), "VPN");
        assert!(anonymous("71.160.223.9"), "hosting provider");
        assert!(anonymous("186.30.236.9"), "public proxy");
        assert!(anonymous("65.0.0.1"), "Tor exit");
        assert!(!anonymous("6.1.0.4"), "a residential proxy alone is not");
        assert!(!anonymous("8.8.8.8"));
    }

    #[test]
    fn a_database_of_another_kind_is_refused() {
        let err = AsnDb::open(&fixture("GeoIP2-Country-Test.mmdb"))
            .err()
            .expect("a country database has no ASNs")
            .to_string();
        assert!(err.contains("autonomous_system_number"), "{err}");
        assert!(LocationDb::open(&fixture("GeoLite2-ASN-Test.mmdb")).is_err());
    }

    #[test]
    fn broken_databases_are_rejected_with_the_path() {
        for name in [
            "MaxMind-DB-test-broken-pointers-24.mmdb",
            "MaxMind-DB-test-broken-search-tree-24.mmdb",
            "missing.mmdb",
        ] {
            let err = LocationDb::open(&fixture(name))
                .err()
                .expect(name)
                .to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
