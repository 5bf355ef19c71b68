//! Which destinations are down: one flag per offer or landing page that health checks
//! watch, the bit the decision reads beside an offer's caps, and what the last checks found
//! of each (for listings and, in cluster mode, for the other nodes). Set only by the health
//! prober (`health`), off the click path; a click reads the flag with one relaxed load and
//! never touches the [`Board`]'s lock. Like every count it outlives reloads, keyed by the
//! destination's stable id.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::vocab::Destination;

/// Whether one destination is down now.
#[derive(Debug, Default)]
pub struct DownFlag(AtomicBool);

impl DownFlag {
    #[inline]
    pub fn is_down(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the flag; true when that changed it.
    pub fn set(&self, down: bool) -> bool {
        self.0.swap(down, Ordering::Relaxed) != down
    }
}

/// What the checks of one destination found so far. In cluster mode the node that probed
/// writes it to Redis as JSON and every node applies it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub down: bool,
    /// Consecutive failed checks (0 after a success).
    pub failures: u32,
    /// Consecutive successful checks (0 after a failure).
    pub successes: u32,
    /// When the last check ended, Unix milliseconds.
    pub checked_ms: i64,
    /// How long the last check took, milliseconds.
    pub latency_ms: u64,
    /// The HTTP status of the last answer (none: no answer).
    pub http_status: Option<u16>,
    /// Why the last failed check failed (kept until a later failure replaces it).
    pub last_error: Option<String>,
    /// The node that made the last check.
    pub node: String,
}

/// The latest [`Status`] of every destination checked since the process started. Its lock
/// is taken by the prober, the listings and the metrics, never by a click.
#[derive(Debug, Default)]
pub struct Board(Mutex<BTreeMap<Destination, Status>>);

impl Board {
    /// The status of `d`, if it was ever checked.
    pub fn get(&self, d: Destination) -> Option<Status> {
        self.lock().get(&d).cloned()
    }

    /// Every checked destination's status.
    pub fn all(&self) -> BTreeMap<Destination, Status> {
        self.lock().clone()
    }

    pub fn set(&self, d: Destination, status: Status) {
        self.lock().insert(d, status);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Destination, Status>> {
        // A panic while holding it leaves a whole map behind: keep using it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
