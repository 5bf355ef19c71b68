//! Country of an IP address from a MaxMind DB file. The only module that knows maxminddb.
//!
//! Accepted schemas: MaxMind GeoIP2/GeoLite2 Country, City and Enterprise (`country.iso_code`,
//! else `registered_country.iso_code`) and flat country databases (top-level `country_code`,
//! e.g. ip-location-db). IPv4 and IPv6.
//!
//! At open, every network of the search tree is walked once and each distinct data record is
//! decoded once into a [`Country`], keyed by its data-section offset. A lookup is then the
//! tree walk plus one hash probe, with no decoding on the hot path; and a database whose data
//! section is corrupt is rejected at open (or reload) instead of failing clicks one by one.
//!
//! The file is memory-mapped. Replace it by renaming a new file over it (what `mv` does),
//! never by rewriting it in place: the old mapping keeps serving until the next reload.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{MaxMindDbError, Mmap, Reader};
use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::vocab::Country;

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
        "GeoIP database {path}: no record has a country code (database type {database_type:?}); expected a country, city or flat country_code database"
    )]
    NoCountries {
        path: PathBuf,
        database_type: String,
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
    pub countries: usize,
}

/// An open GeoIP database.
pub struct GeoDb {
    reader: Reader<Mmap>,
    /// Data-section offset → country of that record (records without one are absent).
    countries: FxHashMap<usize, Country>,
    info: GeoInfo,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

/// The fields any accepted schema may carry; others are skipped by the decoder.
#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow)]
    registered_country: Option<IsoCode<'a>>,
    #[serde(borrow)]
    country_code: Option<&'a str>,
}

impl CountryRecord<'_> {
    fn country(&self) -> Option<Country> {
        let code = self
            .country
            .as_ref()
            .and_then(|c| c.iso_code)
            .or_else(|| self.registered_country.as_ref().and_then(|c| c.iso_code))
            .or(self.country_code)?;
        Country::from_code(code)
    }
}

impl GeoDb {
    /// Opens, memory-maps and indexes a database. Fails on unreadable, corrupt or
    /// country-less files.
    pub fn open(path: &Path) -> Result<GeoDb, GeoError> {
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
        let mut countries = FxHashMap::default();
        let mut seen = FxHashMap::default();
        let mut networks = 0;
        for item in reader.networks(Default::default()).map_err(corrupt)? {
            let found = item.map_err(corrupt)?;
            networks += 1;
            let Some(offset) = found.offset() else {
                continue;
            };
            if seen.insert(offset, ()).is_some() {
                continue;
            }
            let record: Option<CountryRecord> = found.decode().map_err(corrupt)?;
            if let Some(c) = record.and_then(|r| r.country()) {
                countries.insert(offset, c);
            }
        }
        let meta = reader.metadata();
        let info = GeoInfo {
            path: path.to_path_buf(),
            database_type: meta.database_type.clone(),
            ip_version: meta.ip_version,
            build_epoch: meta.build_epoch,
            networks,
            countries: countries
                .values()
                .collect::<std::collections::HashSet<_>>()
                .len(),
        };
        if countries.is_empty() {
            return Err(GeoError::NoCountries {
                path: path.to_path_buf(),
                database_type: info.database_type,
            });
        }
        Ok(GeoDb {
            reader,
            countries,
            info,
        })
    }

    /// The country of `ip`, if the database knows one. IPv4-mapped IPv6 addresses are looked
    /// up as IPv4.
    #[inline]
    pub fn country(&self, ip: IpAddr) -> Option<Country> {
        let offset = self.reader.lookup(ip.to_canonical()).ok()?.offset()?;
        self.countries.get(&offset).copied()
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

    fn lookup(db: &GeoDb, ip: &str) -> Option<String> {
        db.country(ip.parse().unwrap()).map(|c| c.to_string())
    }

    #[test]
    fn country_wins_over_registered_country() {
        // From GeoIP2-Country-Test.json: country GB, registered_country US.
        let db = GeoDb::open(&fixture("GeoIP2-Country-Test.mmdb")).unwrap();
        assert_eq!(lookup(&db, "81.2.69.142").as_deref(), Some("GB"));
        assert_eq!(lookup(&db, "::ffff:81.2.69.142").as_deref(), Some("GB"));
        assert_eq!(lookup(&db, "2001:218::1").as_deref(), Some("JP"));
        // In the tree but with neither country nor registered_country.
        assert_eq!(lookup(&db, "2a02:d500::1"), None);
        assert_eq!(lookup(&db, "10.0.0.1"), None);
    }

    #[test]
    fn registered_country_is_used_when_country_is_absent() {
        let db = GeoDb::open(&fixture("registered-country-only.mmdb")).unwrap();
        assert_eq!(lookup(&db, "198.51.100.7").as_deref(), Some("DE"));
        assert_eq!(lookup(&db, "2001:db8::7").as_deref(), Some("FR"));
    }

    #[test]
    fn flat_country_code_schema() {
        let db = GeoDb::open(&fixture("../../../config/geo/country.mmdb")).unwrap();
        assert_eq!(lookup(&db, "8.8.8.8").as_deref(), Some("US"));
        assert_eq!(lookup(&db, "81.2.69.142").as_deref(), Some("GB"));
        assert!(db.info().networks > 100_000);
    }

    #[test]
    fn city_database_is_accepted() {
        let db = GeoDb::open(&fixture("GeoIP2-City-Test.mmdb")).unwrap();
        assert_eq!(lookup(&db, "89.160.20.128").as_deref(), Some("SE"));
    }

    #[test]
    fn broken_databases_are_rejected_with_the_path() {
        for name in [
            "MaxMind-DB-test-broken-pointers-24.mmdb",
            "MaxMind-DB-test-broken-search-tree-24.mmdb",
            "missing.mmdb",
        ] {
            let err = GeoDb::open(&fixture(name)).err().expect(name).to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
