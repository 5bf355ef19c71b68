//! A [`Snapshot`]: everything a click reads that comes from configuration, built whole from
//! the files and published through `ArcSwap` by `state`.
//!
//! Pipeline: settings file → [`Settings`] → catalog file → validated `Catalog` → compiled
//! [`RoutingTable`]; GeoIP file → [`GeoDb`]. Any error anywhere fails the whole load, with
//! every problem found listed; nothing is half-applied.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::caps::{Calendar, Registry};
use crate::catalog::{self, Catalog, FileStamp};
use crate::clicks::ClickSigner;
use crate::client::{GeoDb, TrustedProxies};
use crate::routing::RoutingTable;
use crate::settings::Settings;

/// One immutable generation of configuration.
pub struct Snapshot {
    /// 1 for the table loaded at start, +1 per successful reload.
    pub generation: u64,
    pub settings: Settings,
    pub catalog: Catalog,
    /// The version of the catalog file `catalog` was read from or written to.
    pub catalog_stamp: FileStamp,
    pub table: RoutingTable,
    /// Shared with the snapshots that API writes derive from this one.
    pub geo: Option<Arc<GeoDb>>,
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

impl Snapshot {
    /// Loads settings from `config`, then the catalog and GeoIP database they name; the table
    /// takes its counters from `registry`.
    pub fn load(
        config: &Path,
        generation: u64,
        registry: &Registry,
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
        let catalog = catalog::load(&settings.catalog_path)
            .map_err(|errors| problems.extend(errors.iter().map(ToString::to_string)))
            .ok();
        let geo = match &settings.geoip_database {
            Some(path) => GeoDb::open(path)
                .map(|g| Some(Arc::new(g)))
                .map_err(|e| problems.push(e.to_string()))
                .unwrap_or(None),
            None => None,
        };
        let table = catalog.as_ref().and_then(|(c, _)| {
            RoutingTable::compile(c, settings.default_fallback_url.clone(), registry)
                .map_err(|e| problems.push(e.to_string()))
                .ok()
        });
        let calendar = Calendar::named(&settings.timezone)
            .map_err(|e| problems.push(format!("tracking.timezone: {e}")))
            .ok();
        match (problems.is_empty(), catalog, table, calendar) {
            (true, Some((catalog, catalog_stamp)), Some(table), Some(calendar)) => {
                Ok(Snapshot::assemble(
                    generation,
                    settings,
                    catalog,
                    catalog_stamp,
                    table,
                    geo,
                    Arc::new(calendar),
                ))
            }
            _ => Err(LoadError { problems }),
        }
    }

    /// The next generation with `catalog` (saved as `stamp`) and its compiled `table` in
    /// place of this one's; settings, GeoIP database and calendar are shared.
    pub fn with_table(&self, catalog: Catalog, stamp: FileStamp, table: RoutingTable) -> Snapshot {
        Snapshot::assemble(
            self.generation + 1,
            self.settings.clone(),
            catalog,
            stamp,
            table,
            self.geo.clone(),
            Arc::clone(&self.calendar),
        )
    }

    fn assemble(
        generation: u64,
        settings: Settings,
        catalog: Catalog,
        catalog_stamp: FileStamp,
        table: RoutingTable,
        geo: Option<Arc<GeoDb>>,
        calendar: Arc<Calendar>,
    ) -> Snapshot {
        Snapshot {
            generation,
            calendar,
            signer: ClickSigner::rotated(&settings.click_secret, &settings.previous_click_secrets),
            proxies: TrustedProxies::new(
                settings.trusted_proxies.clone(),
                settings.client_ip_header,
            ),
            settings,
            catalog,
            catalog_stamp,
            table,
            geo,
        }
    }
}
