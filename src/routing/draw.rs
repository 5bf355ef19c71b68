//! The weighted draw shared by the decision (offers) and landing-page rotation (pages).

/// The position in `candidates` of the one drawn by `r` in `0..sum of weights`: each
/// candidate owns as many consecutive values of `r` as its weight, so a uniform `r` picks it
/// with probability `weight / total`. (`r` beyond the total picks the last.)
#[inline]
pub fn pick(candidates: &[(usize, u32)], r: u32) -> usize {
    let mut end = 0;
    for (k, &(_, w)) in candidates.iter().enumerate() {
        end += w;
        if r < end {
            return k;
        }
    }
    candidates.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Over every value of the draw, each candidate is picked exactly `weight` times.
        #[test]
        fn pick_gives_each_candidate_exactly_its_weight(
            weights in proptest::collection::vec(1u32..=100, 1..20)
        ) {
            let candidates: Vec<(usize, u32)> = weights.iter().copied().enumerate().collect();
            let total: u32 = weights.iter().sum();
            let mut hits = vec![0u32; weights.len()];
            for r in 0..total {
                hits[pick(&candidates, r)] += 1;
            }
            proptest::prop_assert_eq!(hits, weights);
        }
    }
}
