//! Click-cap leases: blocks of an offer's daily click cap handed to nodes, never past the cap.
//!
//! Keys (under the prefix): `lease:<offer id>:<window start>`, the number of clicks granted
//! in that cap window to all nodes together (spent or not); `lease-changes:<offer id>:<window
//! start>`, a hash of each node process's last change (`seq clicks`). A grant moves the count
//! from `g` to at most the cap, atomically (a Lua script), so however many nodes ask at once
//! the clicks granted, and so the clicks routed, never pass the cap. A node gives back what
//! it did not spend. Keys expire two days after they are last written (a window is a day).
//!
//! Every change (a request or a give-back) carries the node's sequence number and is applied
//! once: sent again with the same number it answers what it did the first time, and a
//! change older than the last one applied does nothing. A node sends a change again until
//! it gets the answer, so a change Redis applied after the node stopped waiting (a frozen
//! Redis that wakes up and runs the requests queued in its sockets) reaches it: no grant is
//! made that no node receives.

use std::sync::LazyLock;

use redis::Script;

use super::{Shared, Unavailable, evalsha};

/// Seconds the keys outlive their last change.
const KEEP_SECS: u64 = 2 * 86_400;

/// Applies change `ARGV[2]` of node `ARGV[1]` once: asks for `ARGV[4]` clicks (granting
/// `min(asked, cap - granted)`, none when the cap is reached) or, negative, gives them back
/// (never below zero). Answers the clicks changed and what remains to grant after it
/// (negative when the cap was lowered under the grants). Writes on every call (the
/// expiries), so that a `WAIT` after a repeated change covers the first.
static CHANGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local granted = tonumber(redis.call('GET', KEYS[1]) or '0')
local cap = tonumber(ARGV[3])
local seq = tonumber(ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
local last = redis.call('HGET', KEYS[2], ARGV[1])
if last then
  local s, n = string.match(last, '^(%d+) (-?%d+)$')
  if tonumber(s) == seq then return {tonumber(n), cap - granted} end
  if tonumber(s) > seq then return {0, cap - granted} end
end
local asked = tonumber(ARGV[4])
local n
if asked >= 0 then n = math.max(0, math.min(asked, cap - granted)) else n = -math.min(-asked, granted) end
if n ~= 0 then
  redis.call('INCRBY', KEYS[1], n)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. n)
return {n, cap - granted - n}
",
    )
});

/// One change of a node's lease of an offer's daily click cap in one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub offer: u32,
    /// The window's start (Unix seconds).
    pub window: i64,
    /// This node process's number for the change; larger than any it sent before.
    pub seq: u64,
    /// Clicks asked for (> 0) or given back (< 0).
    pub clicks: i64,
}

/// The answer to a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Clicks granted (0: the cap is reached in this window), or given back (negative).
    pub clicks: i64,
    /// Clicks of the cap still to grant after this change, across the cluster.
    pub left: i64,
}

impl Shared {
    fn lease_key(&self, offer: u32, window: i64) -> String {
        self.key(format_args!("lease:{offer}:{window}"))
    }

    /// Applies `change` to the lease of an offer whose daily click cap is `cap`, once however
    /// often it is sent; answered once a replica holds it (or the primary has none).
    pub async fn change_lease(&self, change: &Change, cap: u64) -> Result<Grant, Unavailable> {
        let (offer, window) = (change.offer, change.window);
        let count = self.lease_key(offer, window);
        let changes = self.key(format_args!("lease-changes:{offer}:{window}"));
        let mut call = evalsha(&CHANGE, &[&count, &changes]);
        call.arg(&self.token)
            .arg(change.seq)
            .arg(cap)
            .arg(change.clicks)
            .arg(KEEP_SECS);
        let (clicks, left): (i64, i64) = self.invoke_replicated(&CHANGE, &call).await?;
        Ok(Grant { clicks, left })
    }

    /// Clicks granted so far in `window` (spent or held), for statistics and tests.
    pub async fn granted(&self, offer: u32, window: i64) -> Result<u64, Unavailable> {
        let n: Option<u64> = self
            .query(redis::cmd("GET").arg(self.lease_key(offer, window)))
            .await?;
        Ok(n.unwrap_or(0))
    }
}
