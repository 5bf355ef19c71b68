//! The shared catalog: the authoritative network JSON, its generation and the id high-water
//! marks, committed with compare-and-set and announced on a channel.
//!
//! Keys (under the prefix): `catalog`, a hash of `generation`, `json` (the catalog file's
//! bytes), `committed_ms` (Unix milliseconds) and `node` (who committed it); `ids`, a hash of
//! the largest id ever committed per kind of entity, so that a deleted entity's id is never
//! handed out again by any node. Every commit is `PUBLISH`ed on the channel `catalog`.

use futures_util::StreamExt;
use redis::Script;
use std::sync::LazyLock;

use super::{Shared, Unavailable};
use crate::vocab::Entity;

/// The generation of the shared catalog and when it was committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub generation: u64,
    pub committed_ms: i64,
}

/// The shared catalog as stored.
#[derive(Debug)]
pub struct Fetched {
    pub head: Head,
    pub json: Vec<u8>,
}

/// What a compare-and-set commit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// Committed as this generation.
    Committed(u64),
    /// Another commit came first: the shared catalog is at this generation now.
    Conflict(u64),
}

/// The largest id committed per kind of entity, in [`Entity::ALL`] order.
pub type IdMarks = [u32; Entity::ALL.len()];

/// Commits a catalog if the generation is still `ARGV[1]` (0: there is none), as generation
/// `max(current + 1, ARGV[2])`; raises the id marks (pairs from `ARGV[6]`); announces it.
static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')
if current ~= tonumber(ARGV[1]) then return {0, current} end
local next = math.max(current + 1, tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'generation', next, 'json', ARGV[3], 'committed_ms', ARGV[4], 'node', ARGV[5])
for i = 6, #ARGV, 2 do
  local mark = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > mark then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
redis.call('PUBLISH', KEYS[3], next)
return {1, next}
",
    )
});

impl Shared {
    fn catalog_key(&self) -> String {
        self.key(format_args!("catalog"))
    }

    /// The channel commits are announced on (the generation as payload).
    pub fn catalog_channel(&self) -> String {
        self.key(format_args!("catalog"))
    }

    /// The shared catalog's generation; `None` when Redis holds no catalog.
    pub async fn catalog_head(&self) -> Result<Option<Head>, Unavailable> {
        let (generation, committed): (Option<u64>, Option<i64>) = self
            .query(
                redis::cmd("HMGET")
                    .arg(self.catalog_key())
                    .arg("generation")
                    .arg("committed_ms"),
            )
            .await?;
        Ok(generation.map(|generation| Head {
            generation,
            committed_ms: committed.unwrap_or(0),
        }))
    }

    /// The shared catalog; `None` when Redis holds none.
    pub async fn fetch_catalog(&self) -> Result<Option<Fetched>, Unavailable> {
        let (generation, committed, json): (Option<u64>, Option<i64>, Option<Vec<u8>>) = self
            .query(
                redis::cmd("HMGET")
                    .arg(self.catalog_key())
                    .arg("generation")
                    .arg("committed_ms")
                    .arg("json"),
            )
            .await?;
        Ok(match (generation, json) {
            (Some(generation), Some(json)) => Some(Fetched {
                head: Head {
                    generation,
                    committed_ms: committed.unwrap_or(0),
                },
                json,
            }),
            _ => None,
        })
    }

    /// The id marks; zeros when none was committed.
    pub async fn id_marks(&self) -> Result<IdMarks, Unavailable> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.key(format_args!("ids")));
        for e in Entity::ALL {
            cmd.arg(e.as_str());
        }
        let marks: Vec<Option<u32>> = self.query(&cmd).await?;
        let mut out = [0; Entity::ALL.len()];
        for (slot, mark) in out.iter_mut().zip(marks) {
            *slot = mark.unwrap_or(0);
        }
        Ok(out)
    }

    /// Commits `json` as the next generation if the shared one is still `expected` (0: Redis
    /// holds none), at least as generation `floor`, raising the id marks to `ids`.
    pub async fn publish_catalog(
        &self,
        expected: u64,
        floor: u64,
        json: &[u8],
        ids: &IdMarks,
    ) -> Result<Published, Unavailable> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut call = PUBLISH.prepare_invoke();
        call.key(self.catalog_key())
            .key(self.key(format_args!("ids")))
            .key(self.catalog_channel())
            .arg(expected)
            .arg(floor)
            .arg(json)
            .arg(now_ms)
            .arg(&self.node);
        for (e, id) in Entity::ALL.iter().zip(ids) {
            call.arg(e.as_str()).arg(*id);
        }
        let (committed, generation): (u8, u64) = self.invoke(&call).await?;
        Ok(if committed == 1 {
            Published::Committed(generation)
        } else {
            Published::Conflict(generation)
        })
    }

    /// Announced generations, until the subscription's connection drops (then `None`).
    pub async fn watch_catalog(
        &self,
    ) -> Result<impl futures_util::Stream<Item = u64> + use<>, Unavailable> {
        let client = self.client()?;
        let connect = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(self.catalog_channel()).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(super::TIMEOUT, connect)
            .await
            .map_err(|_| Unavailable("no answer to SUBSCRIBE".into()))?
            .map_err(|e| Unavailable(e.to_string()))?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|m| std::future::ready(m.get_payload::<u64>().ok())))
    }
}
