//! Recording one conversion: standalone, the ledger's answer; in cluster mode
//! (docs/cluster.md), a claim of the click id in Redis around the ledger's write, so that
//! one postback per click is recorded across every node.
//!
//! Cluster mode, per postback: claim the id (`redis::conversions`) → the ledger makes the
//! conversion durable in this node's log and counts it → commit the claim, which adds it to
//! the cluster's cap-window totals. A claim held by another node that is writing the same id
//! is waited for (at most [`PENDING_WAIT`]), so parallel copies get `duplicate`, not a retry.
//! When the ledger fails (disk), the claim is released and the answer is `unavailable`.
//! When Redis does not answer, the conversion goes to the node's durable [`Queue`] and the
//! answer is `queued`; [`Recorder::drain`] applies the queue the same way once Redis is back.
//! A conversion whose commit did not reach Redis is queued too (it is recorded; the queue
//! makes the cluster hear of it): the ledger then finds it a local duplicate, and the
//! commit is what remains to do.

use std::sync::Arc;
use std::time::Duration;

use super::ledger::{Answer, LedgerHandle};
use super::queue::Queue;
use super::record::Conversion;
use crate::calendar::{Calendar, Period};
use crate::redis::Shared;
use crate::redis::conversions::{Claim, Windows};

/// Longest wait for another node's pending claim of the same click id.
pub const PENDING_WAIT: Duration = Duration::from_secs(1);

pub struct Recorder {
    ledger: LedgerHandle,
    cluster: Option<Cluster>,
}

struct Cluster {
    shared: Arc<Shared>,
    queue: Arc<Queue>,
    /// How long a recorded id stays claimed: the attribution window.
    keep_secs: u64,
}

/// What became of one conversion in cluster mode.
enum Applied {
    Answered(Answer),
    /// Redis did not answer: queue it (or leave it queued).
    Unreachable,
    /// Recorded on this node, but the cluster has not heard of it: queue it.
    NotCommitted,
}

impl Recorder {
    pub fn standalone(ledger: LedgerHandle) -> Recorder {
        Recorder {
            ledger,
            cluster: None,
        }
    }

    pub fn clustered(
        ledger: LedgerHandle,
        shared: Arc<Shared>,
        queue: Arc<Queue>,
        attribution_window: Duration,
    ) -> Recorder {
        Recorder {
            ledger,
            cluster: Some(Cluster {
                shared,
                queue,
                keep_secs: attribution_window.as_secs(),
            }),
        }
    }

    /// Click ids in the node's converted set.
    pub fn tracked(&self) -> usize {
        self.ledger.tracked()
    }

    /// Postbacks waiting in the queue (cluster mode).
    pub fn queued(&self) -> u64 {
        self.cluster.as_ref().map_or(0, |c| c.queue.len())
    }

    /// Records `conversion` (if new), counting it in the windows of `calendar`.
    pub async fn record(&self, conversion: Conversion, calendar: Arc<Calendar>) -> Answer {
        let Some(cluster) = &self.cluster else {
            return self.ledger.record(conversion, calendar).await;
        };
        let applied = if cluster.shared.is_up() {
            self.apply(cluster, &conversion, calendar, true).await
        } else {
            Applied::Unreachable
        };
        match applied {
            Applied::Answered(answer) => answer,
            Applied::Unreachable => queue(cluster, conversion, Answer::Queued).await,
            Applied::NotCommitted => queue(cluster, conversion, Answer::Recorded).await,
        }
    }

    /// Applies the queued postbacks, front first, while Redis answers; returns how many were
    /// taken off the queue.
    pub async fn drain(&self, calendar: &Arc<Calendar>) -> usize {
        let Some(cluster) = &self.cluster else {
            return 0;
        };
        let queue = Arc::clone(&cluster.queue);
        let entries = match tokio::task::spawn_blocking(move || queue.entries()).await {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read the postback queue");
                return 0;
            }
            Err(_) => return 0,
        };
        let mut done = 0;
        for entry in entries {
            if let Some(conversion) = entry {
                match self
                    .apply(cluster, &conversion, Arc::clone(calendar), false)
                    .await
                {
                    Applied::Answered(Answer::Unavailable | Answer::Queued)
                    | Applied::Unreachable
                    | Applied::NotCommitted => break,
                    Applied::Answered(Answer::Recorded | Answer::Duplicate) => {}
                }
            }
            done += 1;
        }
        let queue = Arc::clone(&cluster.queue);
        match tokio::task::spawn_blocking(move || queue.remove_first(done)).await {
            Ok(Ok(())) => {
                if done > 0 {
                    tracing::info!(
                        applied = done,
                        left = cluster.queue.len(),
                        "queued postbacks applied"
                    );
                }
                done
            }
            Ok(Err(e)) => {
                // They stay queued; applying them again finds them done.
                tracing::error!(error = %e, "cannot rewrite the postback queue");
                0
            }
            Err(_) => 0,
        }
    }

    /// Claim → ledger → commit for one conversion. `wait`: wait for another node's pending
    /// claim (a live postback); the queue's drain leaves such an entry for its next round.
    async fn apply(
        &self,
        cluster: &Cluster,
        conversion: &Conversion,
        calendar: Arc<Calendar>,
        wait: bool,
    ) -> Applied {
        let shared = &cluster.shared;
        let key = conversion.key();
        let deadline = tokio::time::Instant::now() + PENDING_WAIT;
        loop {
            match shared.claim(key).await {
                Err(_) => return Applied::Unreachable,
                Ok(Claim::Done) => return Applied::Answered(Answer::Duplicate),
                Ok(Claim::Claimed) => break,
                Ok(Claim::Pending) if wait && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Ok(Claim::Pending) => return Applied::Answered(Answer::Unavailable),
            }
        }
        let now = conversion.time_secs();
        let windows = Windows {
            day: calendar.window(Period::Day, now).start,
            week: calendar.window(Period::Week, now).start,
            month: calendar.window(Period::Month, now).start,
        };
        let offer = conversion.claims.offer_id.map(|o| (o, windows));
        let answer = self.ledger.record(conversion.clone(), calendar).await;
        match answer {
            // A local duplicate with a claim granted: this node wrote it, but the commit
            // never reached Redis (a crash, or Redis gone in between). Commit it now.
            Answer::Recorded | Answer::Duplicate => {
                match shared.commit(key, cluster.keep_secs, offer).await {
                    Ok(true) => Applied::Answered(answer),
                    Ok(false) => {
                        tracing::error!(click_id = %conversion.click_id, "conversion recorded here after another node took over its expired claim; it may be counted twice");
                        Applied::Answered(answer)
                    }
                    Err(_) => Applied::NotCommitted,
                }
            }
            Answer::Unavailable | Answer::Queued => {
                let _ = shared.release(key).await;
                Applied::Answered(Answer::Unavailable)
            }
        }
    }
}

/// Puts `conversion` in the queue and answers `answer`; `unavailable` when even the queue
/// cannot be written (disk).
async fn queue(cluster: &Cluster, conversion: Conversion, answer: Answer) -> Answer {
    let queue = Arc::clone(&cluster.queue);
    match tokio::task::spawn_blocking(move || queue.push(&conversion)).await {
        Ok(Ok(())) => answer,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot write the postback queue; postback answered 503");
            Answer::Unavailable
        }
        Err(_) => Answer::Unavailable,
    }
}
