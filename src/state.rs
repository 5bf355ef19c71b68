//! Process state shared by every request: the published [`Snapshot`] and what outlives a
//! reload (the device cache, metrics, the click log).
//!
//! The hot path takes one `load()` of the snapshot per request and keeps it to the end of
//! that request; a reload builds a complete new snapshot off to the side and `store`s it, so
//! requests in flight finish on the table they started with and no request ever waits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};

use crate::clicks::{RecordLog, RecordSink};
use crate::client::DeviceClassifier;
use crate::metrics::{External, Metrics};
use crate::snapshot::{LoadError, Snapshot};

pub struct State {
    snapshot: Arc<ArcSwap<Snapshot>>,
    config: PathBuf,
    pub devices: DeviceClassifier,
    pub metrics: Arc<Metrics>,
    pub records: RecordSink,
    log: Mutex<Option<RecordLog>>,
    draining: AtomicBool,
    /// Serialises reloads (never taken by requests).
    reloading: Mutex<()>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(#[from] LoadError),
    #[error("state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl State {
    /// Loads the configuration at `config` and starts the click log.
    pub fn start(config: &Path) -> Result<Arc<State>, StartError> {
        // Calibrate the hot-path clock now rather than on the first click.
        crate::clock::wall(crate::clock::now());
        let snapshot = Snapshot::load(config, 1)?;
        let metrics = Arc::new(Metrics::default());
        let devices = DeviceClassifier::new();
        let state_dir = snapshot.settings.state_dir.clone();
        let (capacity, flush) = (
            snapshot.settings.record_queue_capacity,
            snapshot.settings.record_flush_interval,
        );
        let snapshot = Arc::new(ArcSwap::from_pointee(snapshot));
        let enrich = {
            let snapshot = Arc::clone(&snapshot);
            Box::new(move |r: &mut crate::clicks::ClickRecord| {
                if r.country.is_none()
                    && let Some(geo) = &snapshot.load().geo
                {
                    r.country = geo.country(r.ip);
                }
            })
        };
        let log = RecordLog::start(&state_dir, capacity, flush, Arc::clone(&metrics), enrich)
            .map_err(|source| StartError::StateDir {
                path: state_dir,
                source,
            })?;
        Ok(Arc::new(State {
            snapshot,
            config: config.to_path_buf(),
            devices,
            metrics,
            records: log.sink(),
            log: Mutex::new(Some(log)),
            draining: AtomicBool::new(false),
            reloading: Mutex::new(()),
        }))
    }

    /// The current snapshot; hold it for the whole request.
    #[inline]
    pub fn snapshot(&self) -> Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// Re-reads settings, catalog and GeoIP database and swaps them in; on any error keeps
    /// the current snapshot, counts the failure and returns every problem.
    pub fn reload(&self) -> Result<u64, LoadError> {
        let _serial = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.snapshot.load_full();
        match Snapshot::load(&self.config, current.generation + 1) {
            Ok(next) => {
                for key in next.settings.restart_only_changes(&current.settings) {
                    tracing::warn!(
                        setting = key,
                        "changed in the settings file; takes effect after a restart"
                    );
                }
                let generation = next.generation;
                self.snapshot.store(Arc::new(next));
                self.metrics.reloads.inc();
                tracing::info!(generation, "configuration reloaded");
                Ok(generation)
            }
            Err(e) => {
                self.metrics.reload_failures.inc();
                for problem in &e.problems {
                    tracing::error!(%problem, "reload rejected");
                }
                tracing::error!(
                    generation = current.generation,
                    "reload failed; still serving the previous configuration"
                );
                Err(e)
            }
        }
    }

    /// Marks the process as draining: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Writes every queued click record, fsyncs and stops the writer (at shutdown).
    pub fn stop_records(&self) {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(log) = log {
            log.stop();
        }
    }

    pub fn render_metrics(&self) -> String {
        self.metrics.render(&External {
            table_generation: self.snapshot().generation,
            device_cache_hits: self.devices.cache_hits.get(),
            device_cache_misses: self.devices.cache_misses.get(),
        })
    }
}
