//! Process state shared by every request: the published [`Snapshot`] and what outlives a
//! reload (the device cache, metrics, the click log, the cap counters and their saver, the
//! conversion ledger).
//!
//! The hot path takes one `load()` of the snapshot per request and keeps it to the end of
//! that request; a reload builds a complete new snapshot off to the side and `store`s it, so
//! requests in flight finish on the table they started with and no request ever waits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};

use crate::catalog::validate::Problem;
use crate::catalog::{Catalog, FileStamp};
use crate::clicks::{RecordLog, RecordSink};
use crate::client::DeviceClassifier;
use crate::conversions::{self, Converted, Ledger, LedgerHandle};
use crate::counts::store::StoreError;
use crate::counts::{CapClock, Counts, Saver};
use crate::files::{CommitError, DirLock};
use crate::metrics::{External, Metrics};
use crate::rebuilder::Rebuilder;
use crate::routing::RoutingTable;
use crate::snapshot::{LoadError, Snapshot};

pub struct State {
    snapshot: Arc<ArcSwap<Snapshot>>,
    config: PathBuf,
    pub devices: DeviceClassifier,
    pub metrics: Arc<Metrics>,
    pub records: RecordSink,
    log: Mutex<Option<RecordLog>>,
    pub counts: Arc<Counts>,
    saver: Mutex<Option<Saver>>,
    pub conversions: LedgerHandle,
    ledger: Mutex<Option<Ledger>>,
    draining: AtomicBool,
    /// The state directory's lock, held until the writers stop.
    state_lock: Mutex<Option<DirLock>>,
    /// Runs API writes and reloads, one at a time, at low CPU priority.
    pub rebuilder: Rebuilder,
    /// Serialises reloads (never taken by requests).
    reloading: Mutex<()>,
}

/// Why an edit of the catalog was not applied (nothing was written or swapped).
#[derive(Debug)]
pub enum EditError<E> {
    /// The edit refused itself.
    Rejected(E),
    /// The edited catalog breaks the catalog's rules.
    Invalid(Vec<Problem>),
    /// The catalog file is not the version the running table came from.
    FileChanged,
    /// The file could not be written (disk full, permissions, ...).
    Io(std::io::Error),
    /// The compile of a validated catalog panicked: a bug.
    CompilePanicked,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(#[from] LoadError),
    #[error("state directory {}: {source}", crate::files::Resolved(path))]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("counters: {0}")]
    Counters(#[from] StoreError),
    #[error(
        "state directory {} is in use by another smartlink process (it holds {}/{}); every instance needs a state.dir of its own",
        crate::files::Resolved(.0), .0.display(), crate::files::LOCK_FILE
    )]
    Locked(PathBuf),
}

impl State {
    /// Loads the configuration at `config`, restores counters and converted click ids from
    /// the state directory, and starts the click log, the counter saver and the ledger.
    pub fn start(config: &Path) -> Result<Arc<State>, StartError> {
        // Calibrate the hot-path clock now rather than on the first click.
        crate::clock::wall(crate::clock::now());
        let counts = Arc::new(Counts::default());
        let snapshot = Snapshot::load(config, 1, &counts)?;
        let metrics = Arc::new(Metrics::default());
        metrics.reloaded_now();
        let settings = &snapshot.settings;
        if settings.postback_token.is_none() && settings.postback_networks.is_empty() {
            tracing::warn!(
                offers_with_a_token = snapshot
                    .table
                    .offers()
                    .iter()
                    .filter(|o| o.postback_token.is_some())
                    .count(),
                "postbacks are not protected: anyone who has a click id can record a conversion for it; set postbacks.token and/or postbacks.allowed_networks (README: Postback protection)"
            );
        }
        let devices = DeviceClassifier::new();
        let state_dir = snapshot.settings.state_dir.clone();
        let state_error = |source| StartError::StateDir {
            path: state_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&state_dir).map_err(state_error)?;
        let lock = DirLock::try_lock(&state_dir)
            .map_err(state_error)?
            .ok_or_else(|| StartError::Locked(state_dir.clone()))?;
        let converted = restore(&snapshot, &counts)?;
        let saver = Saver::start(&state_dir, Arc::clone(&counts), Arc::clone(&metrics))
            .map_err(state_error)?;
        let ledger = Ledger::start(
            &state_dir,
            converted,
            snapshot.settings.conversion_log_retention,
            Arc::clone(&counts),
            Arc::clone(&metrics),
        )
        .map_err(state_error)?;
        let (capacity, flush, click_retention) = (
            snapshot.settings.record_queue_capacity,
            snapshot.settings.record_flush_interval,
            snapshot.settings.click_log_retention_hours,
        );
        let snapshot = Arc::new(ArcSwap::from_pointee(snapshot));
        let enrich = {
            let snapshot = Arc::clone(&snapshot);
            Box::new(move |r: &mut crate::clicks::ClickRecord| {
                if r.country.is_none() {
                    r.country = Some(snapshot.load().geo.as_ref().and_then(|g| g.country(r.ip)));
                }
            })
        };
        let log = RecordLog::start(
            &state_dir,
            capacity,
            flush,
            click_retention,
            Arc::clone(&metrics),
            enrich,
        )
        .map_err(state_error)?;
        Ok(Arc::new(State {
            snapshot,
            config: config.to_path_buf(),
            devices,
            metrics,
            records: log.sink(),
            log: Mutex::new(Some(log)),
            counts,
            saver: Mutex::new(Some(saver)),
            conversions: ledger.handle(),
            ledger: Mutex::new(Some(ledger)),
            draining: AtomicBool::new(false),
            state_lock: Mutex::new(Some(lock)),
            rebuilder: Rebuilder::start().map_err(state_error)?,
            reloading: Mutex::new(()),
        }))
    }

    /// The current snapshot; hold it for the whole request.
    #[inline]
    pub fn snapshot(&self) -> Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// The current snapshot, owned: for a request that holds it across an `.await`.
    pub fn snapshot_full(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Re-reads settings, catalog and GeoIP database and swaps them in; on any error keeps
    /// the current snapshot, counts the failure and returns every problem.
    pub fn reload(&self) -> Result<u64, LoadError> {
        let _serial = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.snapshot.load_full();
        match Snapshot::load(&self.config, current.generation + 1, &self.counts) {
            Ok(next) => {
                for key in next.settings.restart_only_changes(&current.settings) {
                    tracing::warn!(
                        setting = key,
                        "changed in the settings file; takes effect after a restart"
                    );
                }
                let generation = next.generation;
                // Counted before the swap: whoever sees the new generation sees the count.
                self.metrics.reloads.inc();
                self.metrics.reloaded_now();
                self.snapshot.store(Arc::new(next));
                retire(current);
                tracing::info!(generation, "configuration reloaded");
                Ok(generation)
            }
            Err(e) => {
                for problem in &e.problems {
                    tracing::error!(%problem, "reload rejected");
                }
                tracing::error!(
                    generation = current.generation,
                    "reload failed; still serving the previous configuration"
                );
                // Counted once every problem is logged: whoever sees the count can read why.
                self.metrics.reload_failures.inc();
                Err(e)
            }
        }
    }

    /// Applies `edit` to a copy of the current catalog and publishes the result: validate as
    /// the loader does → compile, while the new file is written and fsynced beside the
    /// catalog → check the catalog file is still the version being served → rename it in
    /// place → swap. Serialised with other edits and with reloads; requests never wait for it
    /// (they keep reading the snapshot they hold). Nothing is replaced when any step before
    /// the rename fails, and the file is never replaced when someone edited it by hand since
    /// it was loaded (SIGHUP first).
    pub fn edit_catalog<T, E>(
        &self,
        edit: impl FnOnce(&mut Catalog) -> Result<T, E>,
    ) -> Result<T, EditError<E>> {
        let _serial = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.snapshot.load_full();
        let path = &current.settings.catalog_path;
        let unchanged_on_disk = || FileStamp::of(path).ok() == Some(current.catalog_stamp);
        let result = (|| {
            if !unchanged_on_disk() {
                return Err(EditError::FileChanged);
            }
            let mut catalog = Catalog::clone(&current.catalog);
            let answer = edit(&mut catalog).map_err(EditError::Rejected)?;
            let catalog = crate::catalog::validate(catalog).map_err(EditError::Invalid)?;
            // Compile on a second thread while this one writes the file: the two are the
            // bulk of a large write and need nothing from each other.
            let (table, staged) = std::thread::scope(|scope| {
                let compiled = scope.spawn(|| {
                    RoutingTable::compile_after(
                        &catalog,
                        current.settings.default_fallback_url.clone(),
                        &self.counts,
                        &current.table,
                    )
                });
                let staged = crate::catalog::save::stage(path, &catalog);
                (compiled.join(), staged)
            });
            let staged = staged.map_err(EditError::Io)?;
            // A validated catalog always compiles; a panic here is a bug. The staged file is
            // dropped (removed) and nothing changes.
            let table = table.map_err(|_| EditError::CompilePanicked)?;
            // Checked again just before the rename: the window in which a hand edit can be
            // replaced is this check to the rename, not the whole write.
            if !unchanged_on_disk() {
                return Err(EditError::FileChanged);
            }
            let stamp = FileStamp::from(staged.metadata());
            match staged.commit() {
                Ok(()) => {}
                Err(CommitError::NotReplaced(e)) => return Err(EditError::Io(e)),
                // The new catalog is in place, so it is the one to serve; only its
                // durability across a power loss is in doubt.
                Err(CommitError::NotSynced(e)) => tracing::error!(
                    path = %path.display(), error = %e,
                    "catalog replaced but its directory could not be fsynced"
                ),
            }
            let next = current.with_table(catalog, stamp, table);
            let generation = next.generation;
            self.snapshot.store(Arc::new(next));
            retire(Arc::clone(&current));
            tracing::info!(generation, "catalog written by the management API");
            Ok(answer)
        })();
        match &result {
            Ok(_) => self.metrics.catalog_writes.inc(),
            Err(EditError::FileChanged) => {
                self.metrics.catalog_write_failures.inc();
                tracing::warn!(path = %path.display(), "catalog file changed on disk since it was loaded; API write refused until a reload (SIGHUP)");
            }
            Err(EditError::Io(e)) => {
                self.metrics.catalog_write_failures.inc();
                tracing::error!(path = %path.display(), error = %e, "cannot write the catalog; API write refused, previous catalog still served");
            }
            Err(EditError::CompilePanicked) => {
                tracing::error!("the compile of a validated catalog panicked")
            }
            Err(EditError::Rejected(_) | EditError::Invalid(_)) => {}
        }
        result
    }

    /// Marks the process as draining: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// At shutdown, after the last request: answers the queued postbacks, saves the
    /// counters a last time, writes every queued click record and fsyncs.
    pub fn stop_writers(&self) {
        fn take<T>(m: &Mutex<Option<T>>) -> Option<T> {
            m.lock().unwrap_or_else(|e| e.into_inner()).take()
        }
        if let Some(ledger) = take(&self.ledger) {
            ledger.stop();
        }
        if let Some(saver) = take(&self.saver) {
            saver.stop();
        }
        if let Some(log) = take(&self.log) {
            log.stop();
        }
        // Nothing writes to the state directory any more: another process may take it.
        drop(take(&self.state_lock));
    }

    /// The Prometheus text, with the values of `snapshot` (the request's).
    pub fn render_metrics(&self, snapshot: &Snapshot) -> String {
        let clock = CapClock::now(&snapshot.calendar);
        let offers_capped = snapshot
            .table
            .offers()
            .iter()
            .filter(|o| o.caps.as_ref().is_some_and(|c| c.reached(&clock).is_some()))
            .count() as u64;
        let capped_clicks = self.counts.capped_clicks();
        let (clicks_routed, clicks_fell_back) = self.counts.click_totals();
        self.metrics.render(&External {
            clicks_routed,
            clicks_fell_back,
            table_generation: snapshot.generation,
            device_cache_hits: self.devices.cache_hits.get(),
            device_cache_misses: self.devices.cache_misses.get(),
            converted_clicks_tracked: self.conversions.tracked() as u64,
            offers_capped,
            capped_clicks,
        })
    }
}

/// Frees a replaced snapshot off the request path. A large catalog and its table take tens
/// of milliseconds to free; without this, whichever request dropped the last reference (a
/// click that started before the swap) would pay for it. A thread waits until the snapshot's
/// last request has finished, then frees it.
fn retire(old: Arc<Snapshot>) {
    let spawned = std::thread::Builder::new()
        .name("retire".into())
        .spawn(move || {
            while Arc::strong_count(&old) > 1 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            drop(old);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a thread to free the previous snapshot");
    }
}

/// Loads the saved counters into `counts`, then replays the conversion log: the converted
/// click ids inside the attribution window, and the conversions the counters file missed.
/// Also used read-only by `smartlink route` and `smartlink stats`.
pub fn restore(snapshot: &Snapshot, counts: &Counts) -> Result<Converted, StartError> {
    let settings = &snapshot.settings;
    let dir = &settings.state_dir;
    crate::counts::store::load(dir, counts)?;
    let mut converted = Converted::new(
        settings.attribution_window.as_secs() as i64,
        settings.max_tracked_conversions,
    );
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    let replayed = conversions::replay(dir, counts, &snapshot.calendar, &mut converted, now)
        .map_err(|source| StartError::StateDir {
            path: dir.clone(),
            source,
        })?;
    if replayed.counted > 0 || replayed.unreadable > 0 {
        tracing::info!(
            counted = replayed.counted,
            unreadable = replayed.unreadable,
            "conversions replayed from the log"
        );
    }
    Ok(converted)
}
