//! Which destinations are down: one flag per offer or landing page that health checks
//! watch, the bit the decision reads beside an offer's caps. Set only by the health prober
//! (`health`), off the click path; read with one relaxed load. Like every count it outlives
//! reloads, keyed by the destination's stable id.

use std::sync::atomic::{AtomicBool, Ordering};

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
