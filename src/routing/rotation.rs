//! Exact rotation (docs/routing.md#rotation): the clicks of each qualifying set follow a fixed
//! order, one cycle of `total` places holding each attachment exactly its weight times, such
//! that after every click each attachment's count is within one click of
//! `clicks × weight / total`. Where each set's run has got to is kept outside the table
//! (`counts::runs`); this module makes the order and picks a click's attachment.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::{BuildHasher, Hasher};

use crate::counts::{Run, Runs, SetKey};

/// The places of one cycle of exact rotation over attachments of `weights` (in the qualifying
/// set's order), each place naming an attachment by its position in the set.
///
/// Not nginx's smooth weighted round-robin: that gives each attachment its weight per cycle,
/// but not the bound after every click (weights 1, 1, 1, 6, 6: after 10 clicks it has given
/// the last one 3, a whole click short of 10 × 6 / 15 = 4). Instead, with `T` the total and
/// `c` the places an attachment of weight `w` has had: its next place keeps every count
/// within one click of its share when it comes no earlier than place `⌊c·T/w⌋` and no later
/// than `⌈(c+1)·T/w⌉ − 1` (places from 0). Giving each place to the attachment whose window
/// closes first among those whose window is open (earliest deadline first; ties to the
/// lowest position, so the order is a function of the set alone) meets every window whenever
/// some order does, and one does: Tijdeman (1980, "the chairman assignment problem") shows a
/// sequence within `1 − 1/(2k − 2)` of every share for `k` attachments. `O(T log k)`.
pub struct Schedule {
    weights: Box<[u32]>,
    total: u64,
    /// Places each attachment has had so far.
    had: Box<[u32]>,
    /// (the place from which its next click may come, position) of attachments waiting.
    waiting: BinaryHeap<Reverse<(u64, u16)>>,
    /// (the last place its next click may come at, position) of attachments whose window
    /// is open.
    open: BinaryHeap<Reverse<(u64, u16)>>,
    place: u64,
}

impl Schedule {
    /// The order of `weights` (1..=100 each, at most 1000 of them, as validation allows).
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Schedule {
        let weights: Box<[u32]> = weights.into_iter().collect();
        Schedule {
            total: weights.iter().map(|&w| u64::from(w)).sum(),
            had: vec![0; weights.len()].into(),
            waiting: (0..weights.len()).map(|i| Reverse((0, i as u16))).collect(),
            open: BinaryHeap::with_capacity(weights.len()),
            place: 0,
            weights,
        }
    }
}

impl Iterator for Schedule {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        if self.place == self.total {
            return None;
        }
        while let Some(&Reverse((from, i))) = self.waiting.peek()
            && from <= self.place
        {
            self.waiting.pop();
            let w = u64::from(self.weights[usize::from(i)]);
            let c = u64::from(self.had[usize::from(i)]);
            self.open
                .push(Reverse((((c + 1) * self.total).div_ceil(w) - 1, i)));
        }
        let Reverse((_, i)) = self
            .open
            .pop()
            .expect("an order within one click of every share exists (Tijdeman)");
        let had = &mut self.had[usize::from(i)];
        *had += 1;
        let w = self.weights[usize::from(i)];
        if *had < w {
            let from = u64::from(*had) * self.total / u64::from(w);
            self.waiting.push(Reverse((from, i)));
        }
        self.place += 1;
        Some(i)
    }
}

/// The key of the qualifying set `members` (the `(offer id, weight)` of attachments of one
/// group, in order): a hash of them, which a reloaded table computes the same, so that the
/// set's run continues.
pub fn set_key(members: impl Iterator<Item = (u32, u32)>) -> SetKey {
    let mut hasher = foldhash::fast::FixedState::default().build_hasher();
    let mut count = 0;
    for (offer_id, weight) in members {
        hasher.write_u64(u64::from(offer_id) << 32 | u64::from(weight));
        count += 1;
    }
    SetKey {
        tag: hasher.finish(),
        members: count,
    }
}

/// The position in `candidates` (the `(offer id, weight)` of the qualifying attachments of one
/// group, in order) of the attachment exact rotation gives this click: the next place of the
/// link's run (in `runs`) of that set, taken when `take` (a counted click), only looked at
/// otherwise. `whole` is the run of the group's attachments that can qualify in this table,
/// found at compile: the set most clicks have skips the lookup of its run.
pub fn place<C>(runs: &Runs, whole: Option<&Run>, candidates: C, take: bool) -> usize
where
    C: ExactSizeIterator<Item = (u32, u32)> + Clone,
{
    // Candidates are some of the group's attachments that can qualify: as many means all.
    if let Some(run) = whole
        && run.members() == candidates.len()
    {
        return if take { run.take() } else { run.peek() };
    }
    let key = set_key(candidates.clone());
    let weights = || candidates.clone().map(|(_, w)| w);
    if take {
        runs.with(key, Run::take)
            .unwrap_or_else(|| runs.run(key, || Schedule::new(weights()).collect()).take())
    } else {
        // An explanation does not begin a run: a set without one would start at its first
        // place.
        runs.with(key, Run::peek)
            .unwrap_or_else(|| Schedule::new(weights()).next().map_or(0, usize::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(weights: &[u32]) -> Vec<u16> {
        Schedule::new(weights.iter().copied()).collect()
    }

    /// After every place of `cycles` cycles of `weights`' order, each count is within one
    /// click of its share; each cycle gives each attachment exactly its weight.
    fn check_bound(weights: &[u32], cycles: usize) -> Result<(), String> {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let cycle = order(weights);
        if cycle.len() as u64 != total {
            return Err(format!("a cycle of {} places, not {total}", cycle.len()));
        }
        let mut counts = vec![0u64; weights.len()];
        for (n, &i) in cycle.iter().cycle().take(cycles * cycle.len()).enumerate() {
            counts[usize::from(i)] += 1;
            let clicks = n as u64 + 1;
            for (k, (&c, &w)) in counts.iter().zip(weights).enumerate() {
                // |c − clicks·w/T| < 1, in integers.
                if (c * total).abs_diff(clicks * u64::from(w)) >= total {
                    return Err(format!("attachment {k} has {c} after {clicks} clicks"));
                }
            }
        }
        Ok(())
    }

    #[test]
    fn three_two_one_and_the_weights_smooth_round_robin_gets_wrong() {
        assert_eq!(order(&[3, 2, 1]), [0, 1, 0, 1, 0, 2]);
        assert_eq!(check_bound(&[1, 1, 1, 6, 6], 2), Ok(()));
        assert_eq!(order(&[7]), [0; 7]);
    }

    #[test]
    fn the_largest_sets_validation_allows_are_within_the_bound() {
        let weights: Vec<u32> = (0..1000).map(|i| 1 + (i * 37) % 100).collect();
        assert_eq!(check_bound(&weights, 1), Ok(()));
        assert_eq!(check_bound(&[100; 1000], 1), Ok(()));
    }

    proptest::proptest! {
        #[test]
        fn every_prefix_is_within_one_click_of_every_share(
            weights in proptest::collection::vec(1u32..=100, 1..=40)
        ) {
            proptest::prop_assert_eq!(check_bound(&weights, 2), Ok(()));
        }
    }
}
