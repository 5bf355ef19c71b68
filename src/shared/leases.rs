//! Click-cap leases: blocks of an offer's daily click cap handed to nodes, never past the cap.
//!
//! Key (under the prefix): `lease:<offer id>:<window start>`, the number of clicks granted
//! in that cap window to all nodes together (spent or not). A grant moves it from `g` to at
//! most the cap, atomically (a Lua script), so however many nodes ask at once the clicks
//! granted, and so the clicks routed, never pass the cap. A node gives back what it did not
//! spend. Keys expire two days after they are last written (a window is a day).

use std::sync::LazyLock;

use redis::Script;

use super::{Shared, Unavailable};

/// Seconds a lease key outlives its last grant.
const KEEP_SECS: u64 = 2 * 86_400;

/// Grants `min(ARGV[2], cap - granted)` clicks (none when the cap is reached); answers the
/// grant and what remains after it (negative when the cap was lowered under the grants).
static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local granted = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = tonumber(ARGV[1]) - granted
local n = math.min(tonumber(ARGV[2]), left)
if n <= 0 then return {0, left} end
redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {n, left - n}
",
    )
});

/// Gives back `ARGV[1]` unspent clicks (never below zero).
static GIVE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local granted = tonumber(redis.call('GET', KEYS[1]) or '0')
if granted == 0 then return 0 end
local n = math.min(tonumber(ARGV[1]), granted)
redis.call('DECRBY', KEYS[1], n)
return n
",
    )
});

/// The answer to a lease request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Clicks granted (0: the cap is reached in this window).
    pub clicks: u32,
    /// Clicks of the cap still to grant after this one, across the cluster.
    pub left: i64,
}

impl Shared {
    fn lease_key(&self, offer: u32, window: i64) -> String {
        self.key(format_args!("lease:{offer}:{window}"))
    }

    /// Asks for `want` clicks of `offer`'s daily click cap `cap` in the window starting at
    /// `window` (Unix seconds).
    pub async fn lease(
        &self,
        offer: u32,
        window: i64,
        cap: u64,
        want: u32,
    ) -> Result<Grant, Unavailable> {
        let mut call = LEASE.prepare_invoke();
        call.key(self.lease_key(offer, window))
            .arg(cap)
            .arg(want)
            .arg(KEEP_SECS);
        let (clicks, left): (u32, i64) = self.invoke(&call).await?;
        Ok(Grant { clicks, left })
    }

    /// Gives back `clicks` unspent clicks of a lease of `offer` in `window`.
    pub async fn give_back(&self, offer: u32, window: i64, clicks: u32) -> Result<(), Unavailable> {
        let mut call = GIVE_BACK.prepare_invoke();
        call.key(self.lease_key(offer, window)).arg(clicks);
        self.invoke::<u32>(&call).await.map(drop)
    }

    /// Clicks granted so far in `window` (spent or held), for statistics and tests.
    pub async fn granted(&self, offer: u32, window: i64) -> Result<u64, Unavailable> {
        let n: Option<u64> = self
            .query(redis::cmd("GET").arg(self.lease_key(offer, window)))
            .await?;
        Ok(n.unwrap_or(0))
    }
}
