//! Where exact rotation has got to (docs/routing.md#rotation): for each qualifying set of a
//! smart link, its run, i.e. the order of one cycle of its clicks and how many clicks have
//! taken a place in it. Kept with the link's counters, outside the routing table, so that a
//! reload, which compiles a new table, continues every run where it was.
//!
//! One run per qualifying set rather than one per link: clicks of different sets interleave
//! (a US click qualifies for a US-only offer, the next click does not), and a single run that
//! restarted whenever the set changed would give nearly every click of mixed traffic the
//! first place of a new run, always the same attachment.
//!
//! A click takes its place with one `fetch_add`: no lock, no retry. A set's first click (per
//! process) computes its order and adds the run with a compare-and-swap of the link's list;
//! its later clicks find it in the list, or in the table when the set is a group's whole set.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::{ArcSwapOption, RefCnt};

/// Most runs kept per smart link. A link whose clicks bring more qualifying sets than this
/// drops the run that began longest ago to make room: that set starts a new run when it comes
/// back. Conditions and caps make a handful of sets in practice.
pub const MAX_RUNS: usize = 32;

/// Identifies a qualifying set: a hash of its offers and weights in order (made by the
/// routing table, the same for the same set in any table), and how many attachments it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetKey {
    pub tag: u64,
    /// Checked with the tag so that even two sets whose hashes collide never read a place
    /// beyond the set.
    pub members: usize,
}

/// The run of one qualifying set.
#[derive(Debug)]
pub struct Run {
    key: SetKey,
    /// One cycle: at each place, the position in the qualifying set of the attachment that
    /// gets that click.
    order: Box<[u16]>,
    /// Places taken since the run began: the next click takes place `taken % order.len()`.
    taken: AtomicU64,
}

impl Run {
    /// Takes the next place: the position in the set of the attachment the click goes to.
    #[inline]
    pub fn take(&self) -> usize {
        self.at(self.taken.fetch_add(1, Ordering::Relaxed))
    }

    /// The position the next click would go to, taking nothing (`HEAD`, explanations).
    #[inline]
    pub fn peek(&self) -> usize {
        self.at(self.taken.load(Ordering::Relaxed))
    }

    /// Attachments in the set.
    #[inline]
    pub fn members(&self) -> usize {
        self.key.members
    }

    #[inline]
    fn at(&self, taken: u64) -> usize {
        usize::from(self.order[(taken % self.order.len() as u64) as usize])
    }
}

/// The runs of one smart link, oldest first.
#[derive(Debug, Default)]
pub struct Runs {
    list: ArcSwapOption<Vec<Arc<Run>>>,
}

impl Runs {
    /// `f` of the run of the set `key`, when there is one.
    #[inline]
    pub fn with<R>(&self, key: SetKey, f: impl FnOnce(&Run) -> R) -> Option<R> {
        find(&self.list.load(), key).map(|r| f(r))
    }

    /// The run of the set `key`; begun with `order` (one cycle, see [`Run`]) when there is
    /// none. Concurrent first clicks of one set agree on one run: each adds its run only to
    /// the list it looked in, and looks again when the list changed meanwhile.
    pub fn run(&self, key: SetKey, order: impl FnOnce() -> Box<[u16]>) -> Arc<Run> {
        let mut current = self.list.load();
        if let Some(run) = find(&current, key) {
            return Arc::clone(run);
        }
        let begun = Arc::new(Run {
            key,
            order: order(),
            taken: AtomicU64::new(0),
        });
        loop {
            let kept = current
                .as_ref()
                .map_or(&[][..], |l| &l[l.len().saturating_sub(MAX_RUNS - 1)..]);
            let mut next = Vec::with_capacity(kept.len() + 1);
            next.extend(kept.iter().cloned());
            next.push(Arc::clone(&begun));
            let previous = self.list.compare_and_swap(&current, Some(Arc::new(next)));
            if RefCnt::as_ptr(&*previous) == RefCnt::as_ptr(&*current) {
                return begun;
            }
            current = previous;
            if let Some(run) = find(&current, key) {
                return Arc::clone(run);
            }
        }
    }
}

/// The run of the set `key` in `list`.
fn find(list: &Option<Arc<Vec<Arc<Run>>>>, key: SetKey) -> Option<&Arc<Run>> {
    list.as_ref()?.iter().find(|r| r.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tag: u64) -> SetKey {
        SetKey { tag, members: 2 }
    }

    #[test]
    fn a_run_goes_round_its_order_and_peeking_takes_nothing() {
        let runs = Runs::default();
        let run = runs.run(key(1), || Box::new([0, 1, 0]));
        assert_eq!(run.peek(), 0);
        assert_eq!(run.peek(), 0);
        let taken: Vec<usize> = (0..7).map(|_| run.take()).collect();
        assert_eq!(taken, [0, 1, 0, 0, 1, 0, 0]);
        assert_eq!(run.peek(), 1);
        // The same set finds the same run (its order is not computed again).
        let again = runs.run(key(1), || unreachable!("the run exists"));
        assert!(Arc::ptr_eq(&run, &again));
        assert_eq!(runs.with(key(1), Run::take), Some(1));
        assert_eq!(runs.with(SetKey { tag: 1, members: 3 }, Run::take), None);
    }

    #[test]
    fn the_oldest_run_gives_way_beyond_the_limit() {
        let runs = Runs::default();
        for tag in 0..=MAX_RUNS as u64 {
            runs.run(key(tag), || Box::new([0]));
        }
        assert_eq!(runs.with(key(0), Run::peek), None, "dropped");
        for tag in 1..=MAX_RUNS as u64 {
            assert_eq!(runs.with(key(tag), Run::peek), Some(0), "kept {tag}");
        }
    }

    #[test]
    fn racing_first_clicks_of_a_set_share_one_run() {
        let runs = Arc::new(Runs::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let runs = Arc::clone(&runs);
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        runs.run(key(i % 8), || Box::new([0, 1])).take();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for tag in 0..8 {
            let run = runs.run(key(tag), || unreachable!("every run exists"));
            assert_eq!(run.taken.load(Ordering::Relaxed), 500, "set {tag}");
        }
    }
}
