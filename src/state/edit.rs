//! Changing the catalog being served: API writes (`edit_catalog`) and, in cluster mode,
//! applying and seeding the shared catalog.
//!
//! Standalone, the catalog file is the truth: an edit is validated, compiled while the new
//! file is written beside the old one, and renamed over it only if nobody edited the file by
//! hand since it was loaded. In cluster mode (docs/cluster.md) the shared catalog in Redis
//! is the truth and the file is this node's copy: an edit is applied to the newest shared
//! catalog and committed with compare-and-set (re-applied to a newer one on conflict), and
//! only then compiled in, written to the file and swapped. Every path runs on the rebuilder
//! thread, serialised by the reload lock; requests never wait for it.

use std::sync::Arc;

use super::{EditError, State, retire};
use crate::audit::Change;
use crate::catalog::{Catalog, FileStamp, ValidCatalog};
use crate::files::CommitError;
use crate::redis::catalog::{Fetched, IdMarks, Published};
use crate::redis::{Shared, Unavailable};
use crate::routing::RoutingTable;
use crate::snapshot::Snapshot;
use crate::vocab::Entity;

/// Commits tried before an API write gives up on concurrent writes (`409`).
const ATTEMPTS: usize = 8;

impl State {
    /// Applies `edit` to a copy of the current catalog and publishes the result (see the
    /// module's text), then appends `change` to the audit log. `edit` may run more than once
    /// in cluster mode (once per conflicting commit), each time on a newer catalog. Nothing
    /// is replaced (or audited) when any step fails.
    pub fn edit_catalog<T, E>(
        &self,
        change: &Change,
        edit: impl Fn(&mut Catalog) -> Result<T, E>,
    ) -> Result<T, EditError<E>> {
        let _serial = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let result = match &self.shared {
            None => self.edit_file(&edit),
            Some(shared) => self.edit_shared(shared, &edit),
        };
        let path = self.snapshot().settings.catalog.path.clone();
        match &result {
            Ok(_) => {
                self.metrics.catalog_writes.inc();
                // Under the reload lock still: the generation is the one this edit made.
                self.audit(change);
            }
            Err(EditError::FileChanged) => {
                self.metrics.catalog_write_failures.inc();
                tracing::warn!(path = %path.display(), "catalog file changed on disk since it was loaded; API write refused until a reload (SIGHUP)");
            }
            Err(EditError::Io(e)) => {
                self.metrics.catalog_write_failures.inc();
                tracing::error!(path = %path.display(), error = %e, "cannot write the catalog; API write refused, previous catalog still served");
            }
            Err(EditError::Unavailable(e)) => {
                self.metrics.catalog_write_failures.inc();
                tracing::warn!(error = %e, "API write refused: the shared catalog cannot be reached");
            }
            Err(EditError::Conflict) => {
                self.metrics.catalog_write_failures.inc();
                tracing::warn!(
                    attempts = ATTEMPTS,
                    "API write refused: other nodes kept committing first"
                );
            }
            Err(EditError::CompilePanicked) => {
                tracing::error!("the compile of a validated catalog panicked")
            }
            Err(EditError::Rejected(_) | EditError::Invalid(_)) => {}
        }
        result
    }

    /// Standalone: the catalog file is the truth.
    fn edit_file<T, E>(
        &self,
        edit: &impl Fn(&mut Catalog) -> Result<T, E>,
    ) -> Result<T, EditError<E>> {
        let current = self.snapshot.load_full();
        let path = &current.settings.catalog.path;
        // The file the table came from: `catalog.initial` until the first write.
        let unchanged_on_disk =
            || FileStamp::of(current.settings.catalog_source()).ok() == Some(current.catalog_stamp);
        if !unchanged_on_disk() {
            return Err(EditError::FileChanged);
        }
        let mut catalog = Catalog::clone(&current.catalog);
        let answer = edit(&mut catalog).map_err(EditError::Rejected)?;
        let catalog = crate::catalog::validate(catalog).map_err(EditError::Invalid)?;
        // Compile on a second thread while this one writes the file: the two are the bulk
        // of a large write and need nothing from each other.
        let (table, staged) = std::thread::scope(|scope| {
            let compiled = scope.spawn(|| self.compile(&catalog, &current));
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
            // The new catalog is in place, so it is the one to serve; only its durability
            // across a power loss is in doubt.
            Err(CommitError::NotSynced(e)) => tracing::error!(
                path = %path.display(), error = %e,
                "catalog replaced but its directory could not be fsynced"
            ),
        }
        self.swap(
            &current,
            current.with_table(Arc::new(catalog), stamp, 0, table),
        );
        tracing::info!("catalog written by the management API");
        Ok(answer)
    }

    /// Cluster mode: the shared catalog is the truth; commit with compare-and-set.
    fn edit_shared<T, E>(
        &self,
        shared: &Shared,
        edit: &impl Fn(&mut Catalog) -> Result<T, E>,
    ) -> Result<T, EditError<E>> {
        let unavailable = |e: Unavailable| EditError::Unavailable(e.0);
        for _ in 0..ATTEMPTS {
            let current = self.snapshot.load_full();
            let head = shared
                .block_on(shared.catalog_head())
                .map_err(unavailable)?;
            let marks = shared.block_on(shared.id_marks()).map_err(unavailable)?;
            *self.id_marks.lock().unwrap_or_else(|e| e.into_inner()) = marks;
            // The newest shared catalog: the one served, unless another node committed one
            // this node has not applied yet. (None in Redis: this commit seeds it.)
            let base = match head {
                Some(h) if h.generation != current.catalog_generation => {
                    let Some(fetched) = shared
                        .block_on(shared.fetch_catalog())
                        .map_err(unavailable)?
                    else {
                        continue;
                    };
                    Arc::new(parse_shared(&fetched).map_err(|problems| {
                        EditError::Unavailable(format!(
                            "the shared catalog (generation {}) is invalid: {}",
                            fetched.head.generation,
                            problems.join("; ")
                        ))
                    })?)
                }
                _ => Arc::clone(&current.catalog),
            };
            let mut catalog = Catalog::clone(&base);
            let answer = edit(&mut catalog).map_err(EditError::Rejected)?;
            let catalog = crate::catalog::validate(catalog).map_err(EditError::Invalid)?;
            let json = crate::catalog::save::render(&catalog).map_err(EditError::Io)?;
            let expected = head.map_or(0, |h| h.generation);
            let marks = self.marks_of(&catalog);
            // Compile while Redis commits: both take a while on a large network.
            let (table, published) = std::thread::scope(|scope| {
                let compiled = scope.spawn(|| self.compile(&catalog, &current));
                let published = shared.block_on(shared.publish_catalog(
                    expected,
                    current.catalog_generation + 1,
                    &json,
                    &marks,
                ));
                (compiled.join(), published)
            });
            match published.map_err(unavailable)? {
                Published::Committed(generation) => {
                    let table = table.map_err(|_| EditError::CompilePanicked)?;
                    self.install(&current, Arc::new(catalog), &json, generation, table);
                    tracing::info!(
                        generation,
                        "catalog committed to the cluster by the management API"
                    );
                    return Ok(answer);
                }
                Published::Conflict(newer) => {
                    tracing::debug!(newer, "catalog commit lost to another node; re-applying");
                }
            }
        }
        Err(EditError::Conflict)
    }

    /// Cluster mode: serves `fetched`, the shared catalog, unless it is the one served.
    /// Returns its generation, or every problem of an invalid shared catalog (the current
    /// one is kept).
    pub fn apply_shared(&self, fetched: &Fetched) -> Result<u64, Vec<String>> {
        let _serial = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.snapshot.load_full();
        let generation = fetched.head.generation;
        if generation == current.catalog_generation {
            return Ok(generation);
        }
        let catalog = parse_shared(fetched).inspect_err(|problems| {
            for problem in problems {
                tracing::error!(generation, %problem, "shared catalog rejected");
            }
            self.metrics.reload_failures.inc();
        })?;
        let table = self.compile(&catalog, &current);
        self.install(
            &current,
            Arc::new(catalog),
            &fetched.json,
            generation,
            table,
        );
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let delay = (now_ms - fetched.head.committed_ms).max(0) as u64;
        self.metrics
            .cluster
            .catalog_delay_ms
            .store(delay, std::sync::atomic::Ordering::Relaxed);
        self.metrics.reloads.inc();
        self.metrics.reloaded_now();
        tracing::info!(generation, delay_ms = delay, "shared catalog applied");
        Ok(generation)
    }

    /// Cluster mode, Redis holds no catalog: publishes the one served as the first
    /// generation (after the one it had, if Redis lost its data). Another node seeding at
    /// the same moment wins or loses the compare-and-set; the loser applies the winner's.
    pub fn seed_shared(&self, shared: &Shared) -> Result<Published, Unavailable> {
        let _serial = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.snapshot.load_full();
        let json = crate::catalog::save::render(&current.catalog)
            .map_err(|e| Unavailable(format!("cannot render the catalog: {e}")))?;
        let marks = self.marks_of(&current.catalog);
        let published = shared.block_on(shared.publish_catalog(
            0,
            current.catalog_generation + 1,
            &json,
            &marks,
        ))?;
        if let Published::Committed(generation) = published {
            let table = self.compile(&current.catalog, &current);
            self.install(
                &current,
                Arc::clone(&current.catalog),
                &json,
                generation,
                table,
            );
            tracing::info!(
                generation,
                "Redis held no catalog: seeded it with this node's"
            );
        }
        Ok(published)
    }

    /// The largest id of `entity` any node committed or this node counted, beyond those of
    /// the catalog: a create call never hands it out again (an entity created with it would
    /// inherit counts).
    pub fn retired_id(&self, entity: Entity) -> u32 {
        let counted = match entity {
            Entity::Offer => self.counts.offer_ids().max(),
            Entity::Campaign => self
                .counts
                .source_ids(crate::vocab::SourceKind::Campaign)
                .max(),
            Entity::SmartLink => self
                .counts
                .source_ids(crate::vocab::SourceKind::SmartLink)
                .max(),
            Entity::LandingPage => self.counts.landing_page_ids().max(),
            Entity::Affiliate | Entity::Creative => None,
        };
        let marks = self.id_marks.lock().unwrap_or_else(|e| e.into_inner());
        let shared = Entity::ALL
            .iter()
            .position(|e| *e == entity)
            .map_or(0, |i| marks[i]);
        counted.unwrap_or(0).max(shared)
    }

    /// The id marks a commit of `catalog` raises the shared ones to.
    fn marks_of(&self, catalog: &Catalog) -> IdMarks {
        Entity::ALL.map(|e| catalog.largest_id(e).max(self.retired_id(e)))
    }

    fn compile(&self, catalog: &ValidCatalog, current: &Snapshot) -> RoutingTable {
        crate::snapshot::compile(
            &current.settings,
            catalog,
            &self.counts,
            Some(&current.table),
        )
    }

    /// Cluster mode: serves `catalog` (shared generation `generation`, as `json`), keeping
    /// a copy in the catalog file for a start while Redis is down.
    fn install(
        &self,
        current: &Arc<Snapshot>,
        catalog: Arc<ValidCatalog>,
        json: &[u8],
        generation: u64,
        table: RoutingTable,
    ) {
        let path = &current.settings.catalog.path;
        let stamp = match crate::files::stage(path, json).map(|staged| {
            let stamp = FileStamp::from(staged.metadata());
            staged.commit().map(|()| stamp)
        }) {
            Ok(Ok(stamp)) => stamp,
            Ok(Err(CommitError::NotSynced(_))) => {
                FileStamp::of(path).unwrap_or(current.catalog_stamp)
            }
            Ok(Err(CommitError::NotReplaced(e))) | Err(e) => {
                self.metrics.catalog_write_failures.inc();
                tracing::error!(path = %path.display(), error = %e, generation, "cannot keep a copy of the shared catalog; serving it anyway (a start while Redis is down would serve the older copy)");
                current.catalog_stamp
            }
        };
        self.metrics
            .cluster
            .catalog_generation
            .store(generation, std::sync::atomic::Ordering::Relaxed);
        self.swap(
            current,
            current.with_table(catalog, stamp, generation, table),
        );
    }

    /// Publishes `next` in place of `current`.
    fn swap(&self, current: &Arc<Snapshot>, next: Snapshot) {
        self.reserve_for(&next);
        self.snapshot.store(Arc::new(next));
        retire(Arc::clone(current));
    }
}

/// The shared catalog parsed and validated as a file would be.
fn parse_shared(fetched: &Fetched) -> Result<ValidCatalog, Vec<String>> {
    let label = format!("shared catalog generation {}", fetched.head.generation);
    let text = std::str::from_utf8(&fetched.json).map_err(|e| vec![format!("{label}: {e}")])?;
    crate::catalog::load::parse(std::path::Path::new(&label), text)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}
