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
use crate::catalog::{self, Catalog};
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
    pub table: RoutingTable,
    pub geo: Option<GeoDb>,
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
                .map(Some)
                .map_err(|e| problems.push(e.to_string()))
                .unwrap_or(None),
            None => None,
        };
        let table = catalog.as_ref().and_then(|c| {
            RoutingTable::compile(c, settings.default_fallback_url.clone(), registry)
                .map_err(|e| problems.push(e.to_string()))
                .ok()
        });
        let calendar = Calendar::named(&settings.timezone)
            .map_err(|e| problems.push(format!("tracking.timezone: {e}")))
            .ok();
        match (problems.is_empty(), catalog, table, calendar) {
            (true, Some(catalog), Some(table), Some(calendar)) => Ok(Snapshot {
                generation,
                calendar: Arc::new(calendar),
                signer: ClickSigner::rotated(
                    &settings.click_secret,
                    &settings.previous_click_secrets,
                ),
                proxies: TrustedProxies::new(
                    settings.trusted_proxies.clone(),
                    settings.client_ip_header,
                ),
                settings,
                catalog,
                table,
                geo,
            }),
            _ => Err(LoadError { problems }),
        }
    }
}
