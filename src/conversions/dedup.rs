//! The set of converted click ids (a click id converted again is a duplicate).
//!
//! Keyed by 96 bits unique to each id ([`ClickSigner::dedup_key`]) with the click's time: a
//! 16-byte entry, 28.5 bytes of memory each at 5 million entries (measured, hash table slack
//! included). Entries leave when their click falls out of the attribution
//! window: a postback for a click older than the window is refused as `expired` before it
//! gets here, so an expired entry can never be asked for again. The set also has a hard
//! bound (`tracking.max_tracked_conversions`): when it is full, new conversions are refused
//! (`503`, the advertiser retries) rather than risk counting a duplicate.
//!
//! Owned by the conversion writer thread alone: no lock. Rebuilt at start from the conversion
//! log (`ledger::replay`).
//!
//! [`ClickSigner::dedup_key`]: crate::click_id::ClickSigner::dedup_key

use std::collections::HashMap;

use crate::click_id::DedupKey;

/// What [`Converted::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    New,
    Duplicate,
    /// The set is at its bound; nothing inserted.
    Full,
}

pub struct Converted {
    /// Key → click time (Unix seconds).
    ids: HashMap<DedupKey, u32, foldhash::fast::RandomState>,
    /// Attribution window, seconds.
    window: i64,
    capacity: usize,
}

impl Converted {
    pub fn new(window_secs: i64, capacity: usize) -> Converted {
        Converted {
            ids: HashMap::default(),
            window: window_secs,
            capacity,
        }
    }

    /// Whether a click at `click_time` is still inside the attribution window at `now`.
    pub fn in_window(&self, click_time: i64, now: i64) -> bool {
        click_time >= now - self.window
    }

    pub fn insert(&mut self, key: DedupKey, click_time: u32) -> Insert {
        if self.ids.contains_key(&key) {
            return Insert::Duplicate;
        }
        if self.ids.len() >= self.capacity {
            return Insert::Full;
        }
        self.ids.insert(key, click_time);
        Insert::New
    }

    /// Undoes an insert whose conversion could not be written.
    pub fn remove(&mut self, key: DedupKey) {
        self.ids.remove(&key);
    }

    /// Drops the ids of clicks that left the attribution window; returns how many.
    pub fn expire(&mut self, now: i64) -> usize {
        let before = self.ids.len();
        let oldest = now - self.window;
        self.ids.retain(|_, &mut t| i64::from(t) >= oldest);
        before - self.ids.len()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u32) -> DedupKey {
        [n, 0, 0]
    }

    #[test]
    fn duplicates_are_found_until_their_click_leaves_the_window() {
        let day = 86_400;
        let mut c = Converted::new(30 * day, 10);
        assert_eq!(c.insert(k(1), 1_000_000), Insert::New);
        assert_eq!(c.insert(k(1), 1_000_000), Insert::Duplicate);
        assert_eq!(c.insert(k(2), 1_000_000 + 5 * day as u32), Insert::New);
        assert!(c.in_window(1_000_000, 1_000_000 + 30 * day));
        assert!(!c.in_window(1_000_000, 1_000_001 + 30 * day));
        assert_eq!(c.expire(1_000_001 + 30 * day), 1);
        assert_eq!(c.len(), 1);
        c.remove(k(2));
        assert!(c.is_empty());
    }

    #[test]
    fn a_full_set_refuses_instead_of_forgetting() {
        let mut c = Converted::new(100, 2);
        assert_eq!(c.insert(k(1), 0), Insert::New);
        assert_eq!(c.insert(k(2), 0), Insert::New);
        assert_eq!(c.insert(k(3), 0), Insert::Full);
        assert_eq!(
            c.insert(k(1), 0),
            Insert::Duplicate,
            "known ids still answer duplicate"
        );
    }

    proptest::proptest! {
        /// Against a model set: an id is New exactly once while it stays in the window.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec((0u32..20, 0u32..100), 1..200)) {
            let mut c = Converted::new(1_000, usize::MAX);
            let mut model = std::collections::HashSet::new();
            for (key, t) in ops {
                let expect = if model.insert(key) { Insert::New } else { Insert::Duplicate };
                proptest::prop_assert_eq!(c.insert(k(key), t), expect);
            }
            proptest::prop_assert_eq!(c.len(), model.len());
        }
    }
}
