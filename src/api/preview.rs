//! `preview.json`: the calls of a batch, previewed against this node's click log; nothing
//! changes and nothing is audited (docs/api.md#change-preview).
//!
//! The calls are checked and applied to a copy of the catalog served exactly as `batch.json`
//! would (the same checks, the same `422` naming the call that breaks the catalog), then the
//! copy is validated and compiled, never saved or swapped; `preview` replays the log through
//! both tables. Runs on a blocking thread, one preview at a time (another gets `503`): it
//! reads up to `[preview] max_records` records.

use std::sync::TryLockError;

use serde_json::Value;

use super::batch;
use super::error::ApiError;
use super::fields::{CALLS_LIST, HOURS, SMART_LINK_ID};
use super::params::Args;
use crate::catalog::Catalog;
use crate::preview::{ClusterShare, Scope};
use crate::state::State;

/// The period previewed when `hours` is not given.
pub const DEFAULT_HOURS: u32 = 24;

pub fn run(state: &State, args: &Args) -> Result<Value, ApiError> {
    let calls = batch::check(args.get(CALLS_LIST).unwrap_or_default())?;
    // One at a time per server (its `State`, not the process: tests run several servers).
    let _running = match state.previewing.try_lock() {
        Ok(guard) => guard,
        // A preview that panicked left nothing half-done behind.
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return Err(ApiError::preview_running()),
    };
    let snapshot = state.snapshot_full();
    let mut catalog = Catalog::clone(&snapshot.catalog);
    batch::apply(state, &mut catalog, &calls)?;
    let changed = crate::catalog::validate(catalog)
        .map_err(|problems| batch::attribute(state, &calls, &problems))?;
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    let hours = args.get(HOURS).unwrap_or(DEFAULT_HOURS);
    let scope = Scope {
        from: now - i64::from(hours) * 3600,
        to: now + 1,
        link: args.get(SMART_LINK_ID),
        max_records: snapshot.settings.preview.max_records,
    };
    let cluster = state
        .shared
        .as_ref()
        .map(|shared| shared.block_on(ClusterShare::of(shared, scope.from)));
    crate::preview::run(
        &snapshot,
        &state.counts,
        &changed,
        &snapshot.settings.state_dir,
        &scope,
        cluster.as_ref(),
    )
    .map_err(|e| {
        tracing::error!(error = %e, "a change preview cannot read the click log");
        ApiError::internal()
    })
}
