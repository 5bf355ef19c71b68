//! Process state shared by every request: the published [`Snapshot`] and what outlives a
//! reload (the device cache, metrics, the click log, the cap counters and their saver, the
//! conversion ledger, the console's sessions; in cluster mode the handle on Redis). Changes of
//! the catalog are in `edit`; standalone, the thread that reserves click caps' leases on disk
//! is `reserver`.
//!
//! The hot path takes one `load()` of the snapshot per request and keeps it to the end of
//! that request; a reload builds a complete new snapshot off to the side and `store`s it, so
//! requests in flight finish on the table they started with and no request ever waits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};

mod edit;
mod reserver;

use self::reserver::Reserver;
use crate::audit::Change;
use crate::catalog::validate::Problem;
use crate::click_log::{RecordLog, RecordSink};
use crate::client::DeviceClassifier;
use crate::conversions::{self, Conversion, Converted, Ledger, Queue, Recorder};
use crate::partner::Deliveries;

type PartnerInbox = tokio::sync::mpsc::UnboundedReceiver<Conversion>;
use crate::counts::store::StoreError;
use crate::counts::{CapClock, Counts, Saver};
use crate::files::DirLock;
use crate::metrics::{ClusterValues, External, Metrics};
use crate::rebuilder::Rebuilder;
use crate::redis::Shared;
use crate::redis::catalog::IdMarks;
use crate::settings::Settings;
use crate::snapshot::{CatalogFrom, LoadError, Snapshot};

pub struct State {
    snapshot: Arc<ArcSwap<Snapshot>>,
    config: PathBuf,
    pub devices: DeviceClassifier,
    pub metrics: Arc<Metrics>,
    pub records: RecordSink,
    log: Mutex<Option<RecordLog>>,
    pub counts: Arc<Counts>,
    saver: Mutex<Option<Saver>>,
    /// Standalone: click-cap leases reserved on disk ahead of the clicks.
    reserver: Mutex<Option<Reserver>>,
    pub conversions: Recorder,
    ledger: Mutex<Option<Ledger>>,
    /// Partner postbacks not yet delivered; the sender task takes `partner_inbox`.
    pub partner: Arc<Deliveries>,
    partner_inbox: Mutex<Option<PartnerInbox>>,
    /// Cluster mode: the state the nodes share in Redis.
    pub shared: Option<Arc<Shared>>,
    /// Cluster mode: the id high-water marks last read from Redis.
    id_marks: Mutex<IdMarks>,
    draining: AtomicBool,
    /// The state directory's lock, held until the writers stop.
    state_lock: Mutex<Option<DirLock>>,
    /// Runs API writes and reloads, one at a time, at low CPU priority.
    pub rebuilder: Rebuilder,
    /// Serialises reloads (never taken by requests).
    reloading: Mutex<()>,
    /// Console sessions: how they are signed, the sign-outs seen here, the sign-in limit.
    pub sessions: crate::console::session::Sessions,
    /// Held while a change preview runs: one at a time, so that a key holder cannot keep
    /// every core replaying logs (`api::preview`).
    pub previewing: Mutex<()>,
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
    /// Cluster mode: Redis did not answer (or holds an invalid catalog); retry later.
    Unavailable(String),
    /// Cluster mode: other nodes committed first on every attempt.
    Conflict,
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
    #[error("state file {0}")]
    Counters(#[from] StoreError),
    #[error("cluster: {0}")]
    Cluster(String),
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
        // Click caps are spent from leases, granted by Redis in cluster mode and by the
        // reservation file standalone; known before the table is compiled. (Invalid
        // settings are reported by the load that follows.)
        let clustered = Settings::load(config).is_ok_and(|s| s.cluster.is_some());
        let counts = Arc::new(if clustered {
            Counts::leased()
        } else {
            Counts::reserved()
        });
        let snapshot = Snapshot::load(config, 1, &counts, CatalogFrom::File)?;
        let metrics = Arc::new(Metrics::default());
        metrics.reloaded_now();
        let settings = &snapshot.settings;
        if settings.postbacks.token.is_none() && settings.postbacks.allowed_networks.is_empty() {
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
        let partner = Arc::new(
            Deliveries::new(
                &state_dir,
                snapshot.settings.partner_postbacks.clone(),
                snapshot.settings.records.conversion_log_retention.as_secs() / 3600,
            )
            .map_err(state_error)?,
        );
        let (partner_tx, partner_rx) = tokio::sync::mpsc::unbounded_channel();
        let ledger = Ledger::start(
            &state_dir,
            converted,
            snapshot.settings.records.conversion_log_retention,
            Arc::clone(&counts),
            Arc::clone(&metrics),
            Some(partner_tx),
        )
        .map_err(state_error)?;
        let shared = match &snapshot.settings.cluster {
            Some(cluster) => Some(Arc::new(
                Shared::open(cluster, Arc::clone(&metrics))
                    .map_err(|e| StartError::Cluster(e.0))?,
            )),
            None => {
                if std::env::var_os(crate::settings::ENV_REDIS_URL).is_some() {
                    tracing::warn!(
                        "{} is set but the settings have no [cluster] section: running standalone",
                        crate::settings::ENV_REDIS_URL
                    );
                }
                None
            }
        };
        let conversions = match &shared {
            Some(shared) => Recorder::clustered(
                ledger.handle(),
                Arc::clone(shared),
                Arc::new(Queue::open(&state_dir).map_err(state_error)?),
                snapshot.settings.tracking.attribution_window,
            ),
            None => Recorder::standalone(ledger.handle()),
        };
        let (capacity, flush, click_retention) = (
            snapshot.settings.records.queue_capacity,
            snapshot.settings.records.flush_interval,
            snapshot.settings.records.click_log_retention_hours,
        );
        let snapshot = Arc::new(ArcSwap::from_pointee(snapshot));
        let reserver = match &shared {
            Some(_) => None,
            None => Some(
                Reserver::start(&state_dir, Arc::clone(&snapshot), Arc::clone(&metrics))
                    .map_err(state_error)?,
            ),
        };
        let enrich = {
            let snapshot = Arc::clone(&snapshot);
            Box::new(move |r: &mut crate::click_log::ClickRecord| {
                crate::client::complete(r, &snapshot.load().geo)
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
            reserver: Mutex::new(reserver),
            conversions,
            ledger: Mutex::new(Some(ledger)),
            partner,
            partner_inbox: Mutex::new(Some(partner_rx)),
            shared,
            id_marks: Mutex::new(IdMarks::default()),
            draining: AtomicBool::new(false),
            state_lock: Mutex::new(Some(lock)),
            rebuilder: Rebuilder::start().map_err(state_error)?,
            reloading: Mutex::new(()),
            sessions: crate::console::session::Sessions::new(clustered),
            previewing: Mutex::new(()),
        }))
    }

    /// Starts the partner postback sender (once; `None` after), which runs until `stop`.
    pub fn start_partner_postbacks(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let inbox = self
            .partner_inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        Some(tokio::spawn(crate::partner::sender::run(
            Arc::clone(&self.partner),
            inbox,
            Arc::clone(&self.metrics),
            stop,
        )))
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
    /// the current snapshot, counts the failure and returns every problem. In cluster mode
    /// the catalog is kept (the file is only this node's copy) and the newest shared one is
    /// fetched right after.
    pub fn reload(&self) -> Result<u64, LoadError> {
        let _serial = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.snapshot.load_full();
        let from = match &self.shared {
            Some(shared) => {
                shared.check_catalog_now();
                CatalogFrom::Kept(&current)
            }
            None => CatalogFrom::File,
        };
        match Snapshot::load(&self.config, current.generation + 1, &self.counts, from) {
            Ok(next) => {
                let catalog_changed = **next.catalog != **current.catalog;
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
                let catalog_path = next.settings.catalog.path.clone();
                self.reserve_for(&next);
                self.snapshot.store(Arc::new(next));
                retire(current);
                tracing::info!(generation, "configuration reloaded");
                if catalog_changed {
                    self.audit(&Change {
                        key: None,
                        call: "SIGHUP".into(),
                        params: serde_json::json!({"file": catalog_path}),
                    });
                }
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

    /// Appends `change` to the audit log with the catalog generation now served; a failure
    /// is logged and counted, and the change stays (it is served already).
    fn audit(&self, change: &Change) {
        self.append_audit(change, None);
    }

    /// Appends a write refused for `why` (nothing changed) to the audit log: a read-only
    /// key's write (`api::access`). Blocks for the append's fsync.
    pub fn audit_refusal(&self, change: &Change, why: &str) {
        self.append_audit(change, Some(why));
    }

    fn append_audit(&self, change: &Change, refused: Option<&str>) {
        let snapshot = self.snapshot.load();
        let generation = match self.shared {
            Some(_) => snapshot.catalog_generation,
            None => snapshot.generation,
        };
        let node = snapshot.settings.node();
        let record = match refused {
            None => change.record(&node, generation),
            Some(why) => change.refusal(&node, generation, why),
        };
        if let Err(e) = crate::audit::append(&snapshot.settings.state_dir, &record) {
            self.metrics.audit_write_failures.inc();
            tracing::error!(error = %e, call = %record.call, generation, "cannot append to the audit log; the change is served but not audited");
        }
    }

    /// Standalone: reserves click-cap leases for the capped offers of `next`, before it is
    /// served (so that the next click on an offer just capped, or whose cap was raised,
    /// finds its lease).
    fn reserve_for(&self, next: &Snapshot) {
        if let Some(r) = &*self.reserver.lock().unwrap_or_else(|e| e.into_inner()) {
            r.prepare(next);
        }
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
        if let Some(reserver) = take(&self.reserver) {
            reserver.stop();
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
        let (mut offers_capped, mut offers_near_cap) = (0, 0);
        for caps in snapshot
            .table
            .offers()
            .iter()
            .filter_map(|o| o.caps.as_ref())
        {
            if caps.reached(&clock).is_some() {
                offers_capped += 1;
            } else if caps.near(&clock) {
                offers_near_cap += 1;
            }
        }
        let capped_clicks = self.counts.capped_clicks();
        let (clicks_routed, clicks_fell_back) = self.counts.click_totals();
        let (conversions, revenue, cost) = self.counts.conversion_totals();
        let (partner_pending, partner_failed, partner_oldest) = {
            let book = self.partner.book();
            let (pending, failed) = book.counts();
            let now_ms = crate::clock::unix_secs(std::time::SystemTime::now()) * 1000;
            let oldest = book
                .oldest_pending_ms()
                .map_or(0, |ms| (now_ms - ms).max(0) as u64 / 1000);
            (pending, failed, oldest)
        };
        self.metrics.render(&External {
            clicks_routed,
            clicks_fell_back,
            conversions,
            revenue: revenue.as_f64(),
            cost: cost.as_f64(),
            node: snapshot.settings.node(),
            table_generation: snapshot.generation,
            device_cache_hits: self.devices.cache_hits.get(),
            device_cache_misses: self.devices.cache_misses.get(),
            converted_clicks_tracked: self.conversions.tracked() as u64,
            offers_capped,
            offers_near_cap,
            capped_clicks,
            partner_postbacks_pending: partner_pending as u64,
            partner_postbacks_failed: partner_failed as u64,
            partner_postbacks_oldest_pending_secs: partner_oldest,
            destinations_down: snapshot.table.destinations_down(),
            cluster: self.shared.as_ref().map(|shared| ClusterValues {
                redis_up: shared.is_up(),
                clicks_without_lease: snapshot
                    .table
                    .offers()
                    .iter()
                    .filter_map(|o| o.caps.as_ref())
                    .map(|c| c.counters.clicks_without_lease())
                    .sum(),
                postbacks_queued: self.conversions.queued(),
            }),
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

/// Counts the current window of every daily click cap of the table from the click log, when
/// there is a counters file but no reservations file (it was moved aside, or the state was
/// written by a build without it): the counters file may miss the last second of clicks
/// before an unclean stop, the log does not (except the records still queued then).
fn recount_click_caps(snapshot: &Snapshot, counts: &Counts) -> Result<(), StartError> {
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    let day = snapshot
        .calendar
        .window(crate::calendar::Period::Day, now)
        .start;
    let capped: std::collections::HashSet<u32> = snapshot
        .table
        .offers()
        .iter()
        .filter(|o| {
            o.caps
                .as_ref()
                .is_some_and(|c| c.limits.get(crate::vocab::CapKind::DailyClicks).is_some())
        })
        .map(|o| o.id)
        .collect();
    if capped.is_empty() {
        return Ok(());
    }
    let dir = &snapshot.settings.state_dir;
    let started = std::time::Instant::now();
    let logged = crate::click_log::writer::routed_since(dir, day, &capped).map_err(|source| {
        StartError::StateDir {
            path: dir.clone(),
            source,
        }
    })?;
    for (&offer, &n) in &logged {
        counts.offer(offer).daily_clicks_at_least(day, n);
    }
    tracing::warn!(
        offers = capped.len(),
        clicks = logged.values().sum::<u64>(),
        ms = started.elapsed().as_millis() as u64,
        "no {}: today's click caps counted from the click log",
        crate::counts::reserve::FILE_NAME
    );
    Ok(())
}

/// Loads the saved counters and hours' clicks into `counts`, then replays the conversion
/// log: the converted click ids inside the attribution window, the conversions the counters
/// file missed, and the conversions of the hours kept. Also used read-only by
/// `smartlink route` and `smartlink stats`.
pub fn restore(snapshot: &Snapshot, counts: &Counts) -> Result<Converted, StartError> {
    let settings = &snapshot.settings;
    let dir = &settings.state_dir;
    let had_counters = crate::counts::store::load(dir, counts)?;
    // (In cluster mode the click caps' counts are in Redis.)
    if !crate::counts::reserve::load(dir, counts)? && had_counters && settings.cluster.is_none() {
        recount_click_caps(snapshot, counts)?;
    }
    let mut converted = Converted::new(
        settings.tracking.attribution_window.as_secs() as i64,
        settings.tracking.max_tracked_conversions,
    );
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    let oldest =
        crate::counts::hour_of(now).saturating_sub(crate::counts::hourly::RETENTION_HOURS - 1);
    crate::counts::store::load_hours(dir, counts.hourly(), oldest);
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
