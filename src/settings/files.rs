//! The sections that name files and directories: `[catalog]`, `[geoip]`, `[state]`; and
//! `[log]`, the log level.

use std::path::PathBuf;

use serde::Deserialize;

/// `[catalog]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    path: Option<String>,
    initial: Option<String>,
}

/// `[geoip]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGeoip {
    database: Option<String>,
    asn_database: Option<String>,
    anonymous_database: Option<String>,
}

/// `[state]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    dir: Option<String>,
}

/// `[log]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    level: Option<String>,
}

/// Where the catalog is read from and written to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogFiles {
    /// The catalog: read, and written by the API.
    pub path: PathBuf,
    /// `catalog.initial`: the catalog read while `path` does not exist; the first API write
    /// creates `path` and leaves this file as it is.
    pub initial: Option<PathBuf>,
}

impl Default for CatalogFiles {
    fn default() -> CatalogFiles {
        CatalogFiles {
            path: PathBuf::from("config/network.json"),
            initial: None,
        }
    }
}

/// The MaxMind databases (none by default: no country, ASN or anonymous flag).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Geoip {
    /// Country (and region) database.
    pub database: Option<PathBuf>,
    pub asn_database: Option<PathBuf>,
    pub anonymous_database: Option<PathBuf>,
}

/// `state.dir` when not set.
const STATE_DIR: &str = "data";
/// `log.level` when not set.
const LOG_LEVEL: &str = "info";

impl super::Validator<'_> {
    pub(super) fn catalog(&mut self, raw: RawCatalog) -> CatalogFiles {
        let d = CatalogFiles::default();
        CatalogFiles {
            path: raw.path.map_or(d.path, PathBuf::from),
            initial: raw.initial.map(PathBuf::from),
        }
    }

    pub(super) fn geoip(&mut self, raw: RawGeoip) -> Geoip {
        Geoip {
            database: raw.database.map(PathBuf::from),
            asn_database: raw.asn_database.map(PathBuf::from),
            anonymous_database: raw.anonymous_database.map(PathBuf::from),
        }
    }

    pub(super) fn state(&mut self, raw: RawState) -> PathBuf {
        PathBuf::from(raw.dir.as_deref().unwrap_or(STATE_DIR))
    }

    pub(super) fn log(&mut self, raw: RawLog) -> String {
        let level = raw.level.unwrap_or_else(|| LOG_LEVEL.into());
        if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
            self.fail(
                "log.level",
                format!("{level:?} is not a level or filter (e.g. \"info\", \"smartlink=debug\")"),
            );
        }
        level
    }
}
