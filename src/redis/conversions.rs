//! Conversions across nodes: one claim per click id, and the cap-window totals.
//!
//! Keys (under the prefix): `claim:<click key>` — `pending:<node token>` while the claiming
//! node writes the conversion to its log (expires after [`PENDING_SECS`], so a node that
//! dies mid-write does not hold the id), then `done` for as long as the click can convert;
//! `conversions:<offer id>:<day|week|month>:<window start>` and
//! `conversions:<offer id>:total`, the cluster's conversions per cap window, incremented
//! with the `done` in one script, so a conversion is in the totals exactly when it is done.

use std::sync::LazyLock;

use redis::Script;

use super::{Shared, Unavailable, evalsha};
use crate::click_id::DedupKey;

/// Seconds a pending claim holds a click id.
pub const PENDING_SECS: u64 = 30;

static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v then
  if v == 'done' then return 'done' end
  if v == 'pending:' .. ARGV[1] then return 'mine' end
  return 'pending'
end
redis.call('SET', KEYS[1], 'pending:' .. ARGV[1], 'EX', ARGV[2])
return 'claimed'
",
    )
});

/// Marks the claim done (unless another node took it over after it expired) and counts the
/// conversion in the window totals `KEYS[2..]`, each kept `ARGV[i + 1]` seconds (0: always).
static COMMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v and v ~= 'pending:' .. ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'done', 'EX', ARGV[2])
for i = 2, #KEYS do
  redis.call('INCR', KEYS[i])
  local keep = tonumber(ARGV[i + 1])
  if keep > 0 then redis.call('EXPIRE', KEYS[i], keep) end
end
return 1
",
    )
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == 'pending:' .. ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// What a claim found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This node may record the conversion (the id was free, or held by this process).
    Claimed,
    /// Recorded already, by some node.
    Done,
    /// Another node is recording it now.
    Pending,
}

/// The cap windows a conversion counts in (their starts, Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    pub day: i64,
    pub week: i64,
    pub month: i64,
}

/// The cluster's conversions of one offer: in the day, week and month windows, and in all.
pub type Totals = [u64; 4];

impl Shared {
    fn claim_key(&self, key: DedupKey) -> String {
        self.key(format_args!(
            "claim:{:08x}{:08x}{:08x}",
            key[0], key[1], key[2]
        ))
    }

    /// The keys of `offer`'s totals in `windows`, with how long each is kept.
    fn total_keys(&self, offer: u32, windows: &Windows) -> [(String, u64); 4] {
        [
            (
                self.key(format_args!("conversions:{offer}:day:{}", windows.day)),
                2 * 86_400,
            ),
            (
                self.key(format_args!("conversions:{offer}:week:{}", windows.week)),
                8 * 86_400,
            ),
            (
                self.key(format_args!("conversions:{offer}:month:{}", windows.month)),
                32 * 86_400,
            ),
            (self.key(format_args!("conversions:{offer}:total")), 0),
        ]
    }

    /// Claims the click id `key` for this node.
    pub async fn claim(&self, key: DedupKey) -> Result<Claim, Unavailable> {
        let mut call = CLAIM.prepare_invoke();
        call.key(self.claim_key(key))
            .arg(&self.token)
            .arg(PENDING_SECS);
        let answer: String = self.invoke(&call).await?;
        Ok(match answer.as_str() {
            "claimed" | "mine" => Claim::Claimed,
            "done" => Claim::Done,
            _ => Claim::Pending,
        })
    }

    /// Marks the claimed id recorded, kept `keep_secs` (the attribution window), and counts
    /// it in the totals of `offer` (`None`: the click went to the fallback, no offer's caps).
    /// `false` when another node took the id over meanwhile (this node's claim expired).
    /// Answered once a replica holds it (or the primary has none): a failover then keeps it.
    pub async fn commit(
        &self,
        key: DedupKey,
        keep_secs: u64,
        offer: Option<(u32, Windows)>,
    ) -> Result<bool, Unavailable> {
        let claim = self.claim_key(key);
        let totals = offer.map(|(offer, windows)| self.total_keys(offer, &windows));
        let mut keys = vec![claim.as_str()];
        keys.extend(totals.iter().flatten().map(|(key, _)| key.as_str()));
        let mut call = evalsha(&COMMIT, &keys);
        call.arg(&self.token).arg(keep_secs);
        for (_, keep) in totals.iter().flatten() {
            call.arg(keep);
        }
        let committed: u8 = self.invoke_replicated(&COMMIT, &call).await?;
        Ok(committed == 1)
    }

    /// Gives up this node's claim of `key` (its conversion could not be written).
    pub async fn release(&self, key: DedupKey) -> Result<(), Unavailable> {
        let mut call = RELEASE.prepare_invoke();
        call.key(self.claim_key(key)).arg(&self.token);
        self.invoke::<u8>(&call).await.map(drop)
    }

    /// The cluster's totals of each offer in its windows, in order.
    pub async fn conversion_totals(
        &self,
        offers: &[(u32, Windows)],
    ) -> Result<Vec<Totals>, Unavailable> {
        if offers.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for (offer, windows) in offers {
            for (key, _) in self.total_keys(*offer, windows) {
                cmd.arg(key);
            }
        }
        let values: Vec<Option<u64>> = self.query(&cmd).await?;
        Ok(values
            .chunks(4)
            .map(|c| std::array::from_fn(|i| c.get(i).copied().flatten().unwrap_or(0)))
            .collect())
    }
}
