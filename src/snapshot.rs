//! A [`Snapshot`]: everything a click reads that comes from configuration, built whole from
//! the files and published through `ArcSwap` by `state`.
//!
//! Pipeline: settings file → [`Settings`] → catalog file → [`ValidCatalog`] → compiled
//! [`RoutingTable`]; GeoIP files → [`GeoDbs`]. Any error anywhere fails the whole load, with
//! every problem found listed; nothing is half-applied.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::calendar::Calendar;
use crate::catalog::{self, FileStamp, ValidCatalog};
use crate::click_id::ClickSigner;
use crate::click_log::SubIds;
use crate::client::{ClickFacts, ClientAttrs, DeviceClassifier, GeoDbs, TrustedProxies};
use crate::counts::{CapClock, Counts};
use crate::routing::{Context, RoutingTable};
use crate::settings::Settings;

/// One immutable generation of configuration.
pub struct Snapshot {
    /// 1 for the table loaded at start, +1 per successful reload.
    pub generation: u64,
    pub settings: Settings,
    pub catalog: Arc<ValidCatalog>,
    /// The version of the catalog file `catalog` was read from or written to.
    pub catalog_stamp: FileStamp,
    /// Cluster mode: the generation of the shared catalog `catalog` is; 0 while the node
    /// serves its file and has not yet heard from Redis (and always when standalone).
    pub catalog_generation: u64,
    pub table: RoutingTable,
    /// Shared with the snapshots that API writes derive from this one.
    pub geo: GeoDbs,
    pub signer: ClickSigner,
    pub proxies: TrustedProxies,
    /// Cap windows in `tracking.timezone` (shared with conversions being counted).
    pub calendar: Arc<Calendar>,
}

/// Everything wrong with a configuration, one located message per problem.
#[derive(Debug)]
pub struct LoadError {
    pub problems: Vec<String>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s):", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Where a load takes its catalog from.
#[derive(Clone, Copy)]
pub enum CatalogFrom<'a> {
    /// The file the settings name.
    File,
    /// The catalog of this snapshot (cluster mode: the shared catalog is the truth, the file
    /// only its copy).
    Kept(&'a Snapshot),
}

impl Snapshot {
    /// Loads settings from `config`, then the catalog (from `from`) and GeoIP database they
    /// name; the table takes its counters from `counts`.
    pub fn load(
        config: &Path,
        generation: u64,
        counts: &Counts,
        from: CatalogFrom,
    ) -> Result<Snapshot, LoadError> {
        let mut problems = Vec::new();
        let settings = match Settings::load(config) {
            Ok(s) => Some(s),
            Err(invalid) => {
                problems.extend(invalid.errors.iter().map(ToString::to_string));
                // Go on with the rest so that one run reports every problem.
                invalid.partial.map(|s| *s)
            }
        };
        let Some(settings) = settings else {
            return Err(LoadError { problems });
        };
        let catalog = match from {
            CatalogFrom::File => catalog::load(settings.catalog_source())
                .map_err(|errors| problems.extend(errors.iter().map(ToString::to_string)))
                .ok()
                .map(|(catalog, stamp)| (Arc::new(catalog), stamp, 0)),
            CatalogFrom::Kept(s) => Some((
                Arc::clone(&s.catalog),
                s.catalog_stamp,
                s.catalog_generation,
            )),
        };
        let geo = GeoDbs::open(
            settings.geoip.database.as_deref(),
            settings.geoip.asn_database.as_deref(),
            settings.geoip.anonymous_database.as_deref(),
        )
        .map_err(|errors| problems.extend(errors.iter().map(ToString::to_string)))
        .unwrap_or_default();
        match (problems.is_empty(), catalog) {
            (true, Some((catalog, catalog_stamp, catalog_generation))) => {
                let table = compile(&settings, &catalog, counts, None);
                let calendar = Calendar::new(settings.tracking.time_zone.clone());
                Ok(Snapshot::assemble(
                    generation,
                    settings,
                    (catalog, catalog_stamp, catalog_generation),
                    table,
                    geo,
                    Arc::new(calendar),
                ))
            }
            _ => Err(LoadError { problems }),
        }
    }

    /// The next generation with `catalog` (saved as `stamp`; shared generation
    /// `catalog_generation`) and its compiled `table` in place of this one's; settings, GeoIP
    /// database and calendar are shared.
    pub fn with_table(
        &self,
        catalog: Arc<ValidCatalog>,
        stamp: FileStamp,
        catalog_generation: u64,
        table: RoutingTable,
    ) -> Snapshot {
        Snapshot::assemble(
            self.generation + 1,
            self.settings.clone(),
            (catalog, stamp, catalog_generation),
            table,
            self.geo.clone(),
            Arc::clone(&self.calendar),
        )
    }

    /// The attributes of a client at `peer` sending `headers` with sub ids `subs`, at `now`
    /// (Unix seconds), computed lazily.
    pub fn client_attrs<'a>(
        &'a self,
        peer: std::net::IpAddr,
        headers: &'a http::HeaderMap,
        subs: &'a SubIds<'a>,
        now: i64,
        devices: &'a DeviceClassifier,
    ) -> ClientAttrs<'a> {
        let facts = ClickFacts {
            subs,
            calendar: &self.calendar,
            now,
        };
        ClientAttrs::new(
            self.proxies.client_ip(peer, headers),
            headers,
            facts,
            &self.geo,
            devices,
        )
    }

    /// The decision context of a click at `now` (Unix seconds); `count`: a real click.
    pub fn context(&self, now: i64, count: bool) -> Context<'_> {
        Context {
            bots: self.settings.routing.bots,
            anonymous: self.settings.routing.anonymous,
            all_down: self.settings.health.all_down,
            caps: CapClock {
                calendar: &self.calendar,
                now,
            },
            count,
        }
    }

    fn assemble(
        generation: u64,
        settings: Settings,
        (catalog, catalog_stamp, catalog_generation): (Arc<ValidCatalog>, FileStamp, u64),
        table: RoutingTable,
        geo: GeoDbs,
        calendar: Arc<Calendar>,
    ) -> Snapshot {
        Snapshot {
            generation,
            calendar,
            signer: ClickSigner::rotated(
                &settings.tracking.click_secret,
                &settings.tracking.previous_click_secrets,
            ),
            proxies: TrustedProxies::new(
                settings.server.trusted_proxies.clone(),
                settings.server.client_ip_header,
            ),
            settings,
            catalog,
            catalog_stamp,
            catalog_generation,
            table,
            geo,
        }
    }
}

/// The routing table of `catalog` under `settings`, its counters from `counts` (or, for those
/// it has, from `previous`: an edit of the table served), each destination health checks
/// watch given its down flag.
pub fn compile(
    settings: &Settings,
    catalog: &ValidCatalog,
    counts: &Counts,
    previous: Option<&RoutingTable>,
) -> RoutingTable {
    let fallback = settings.server.default_fallback_url.clone();
    let mut table = match previous {
        Some(previous) => RoutingTable::compile_after(catalog, fallback, counts, previous),
        None => RoutingTable::compile(catalog, fallback, counts),
    };
    if settings.health.enabled {
        table.watch_destinations(catalog, counts);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_time_zone_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("network.json");
        std::fs::write(&catalog, "{}").unwrap();
        let config = dir.path().join("smartlink.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\ndefault_fallback_url = \"https://f.example/\"\n[catalog]\npath = {catalog:?}\n\
                 [tracking]\nclick_secret = \"0123456789abcdef0123\"\ntimezone = \"Mars/Olympus\"\n"
            ),
        )
        .unwrap();
        let Err(e) = Snapshot::load(&config, 1, &Counts::default(), CatalogFrom::File) else {
            panic!("an unknown zone is refused");
        };
        let zone = e
            .problems
            .iter()
            .filter(|p| p.contains("tracking.timezone"));
        assert_eq!(zone.count(), 1, "{e}");
    }
}
