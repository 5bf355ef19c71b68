//! Rules: a compiled set that includes or excludes, an attachment's and its offer's merged
//! once at compile time, and a click tested against them in dimension order.

use super::*;

/// A compiled condition: a set, and whether the click's value must be in it or out of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub set: Set,
    pub exclude: bool,
}

impl Rule {
    /// Tests the click: `Err` says why it is turned away. A value the click does not have
    /// matches no include list and no exclude list.
    #[inline(always)]
    pub(super) fn check<A: Attributes + ?Sized>(
        &self,
        attrs: &mut A,
    ) -> Result<(), (Dimension, Failed)> {
        let failed = match (self.set.holds(attrs), self.exclude) {
            (Some(true), false) | (Some(false) | None, true) => return Ok(()),
            (Some(false), false) => Failed::Mismatch,
            (None, false) => Failed::Unknown,
            (Some(true), true) => Failed::Excluded,
        };
        Err((self.set.dimension(), failed))
    }
}

/// The rules of one attachment (its own and its offer's, merged) or one offer, compiled for
/// the click path.
///
/// The dimensions whose values are a short closed list of words (device class, OS family)
/// are folded into one 64-bit mask of the values a click may have, each dimension its own
/// bits: testing all of them is one AND, whatever the number of rules, and reads no memory
/// outside the attachment. The other rules (countries, ...) are tested one by one, in
/// dimension order, after the mask. The rules as written and merged are kept beside, for
/// explanations and for the reason a click was turned away, which only a failing click reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// One bit per value of each word dimension ([`Dimension::word_bits`]); a bit is set when
    /// a click with that value passes. `u64::MAX`: no word dimension is restricted.
    allowed: u64,
    /// The bits of the word dimensions some rule restricts: only their attributes are asked
    /// for (a device rule does not make the click's OS be worked out).
    restricted: u64,
    /// The rules of the other dimensions, in order.
    sets: Box<[Rule]>,
    /// Every rule, sorted by dimension, includes first.
    all: Box<[Rule]>,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules::new(Vec::new())
    }
}

impl Rules {
    /// The rules of `rules`, sorted by dimension, includes first.
    pub fn new(mut rules: Vec<Rule>) -> Rules {
        rules.sort_by_key(|r| (r.set.dimension(), r.exclude));
        let (mut allowed, mut restricted) = (u64::MAX, 0);
        for r in &rules {
            if let Some((offset, bits)) = r.set.words() {
                let values = u64::from(bits) << offset;
                let dimension = word_mask(r.set.dimension());
                allowed &= if r.exclude {
                    !values
                } else {
                    !dimension | values
                };
                restricted |= dimension;
            }
        }
        Rules {
            allowed,
            restricted,
            sets: rules
                .iter()
                .filter(|r| r.set.words().is_none())
                .cloned()
                .collect(),
            all: rules.into_boxed_slice(),
        }
    }

    /// An attachment's rules with its offer's: both must hold. Include sets of one
    /// dimension are intersected and exclude sets united, once, here.
    pub fn merge(&self, offer: &Rules) -> Rules {
        let mut merged: Vec<Rule> = self.all.to_vec();
        for rule in offer.all.iter() {
            let same = merged
                .iter_mut()
                .find(|r| r.exclude == rule.exclude && r.set.dimension() == rule.set.dimension());
            let combined = same.as_ref().and_then(|r| match rule.exclude {
                false => r.set.intersect(&rule.set),
                true => r.set.union(&rule.set),
            });
            match (same, combined) {
                (Some(r), Some(set)) => r.set = set,
                _ => merged.push(rule.clone()),
            }
        }
        Rules::new(merged)
    }

    /// Tests the click against every rule, word dimensions first; the first that fails says
    /// why. An attribute is asked for only when a rule needs it.
    #[inline]
    pub fn check<A: Attributes + ?Sized>(&self, attrs: &mut A) -> Result<(), (Dimension, Failed)> {
        self.passes(attrs).map_err(|turned| match turned {
            Turned::By(dimension, failed) => (dimension, failed),
            Turned::ByWords => self.why_not(attrs),
        })
    }

    /// As [`Rules::check`], but a click the word mask turns away is told only that: which
    /// rule did is worked out by [`Rules::why_not`], for those who ask (explanations). The
    /// decision of a real click does not.
    #[inline(always)]
    pub fn passes<A: Attributes + ?Sized>(&self, attrs: &mut A) -> Result<(), Turned> {
        if self.restricted != 0 && word_bits(attrs, self.restricted) & !self.allowed != 0 {
            return Err(Turned::ByWords);
        }
        self.sets
            .iter()
            .try_for_each(|r| r.check(attrs).map_err(|(d, f)| Turned::By(d, f)))
    }

    /// Which word rule turned the click away (the mask says only that one did).
    #[cold]
    pub fn why_not<A: Attributes + ?Sized>(&self, attrs: &mut A) -> (Dimension, Failed) {
        self.all
            .iter()
            .filter(|r| r.set.words().is_some())
            .find_map(|r| r.check(attrs).err())
            .unwrap_or((Dimension::Device, Failed::Mismatch))
    }

    /// Every rule, in order (explanations, warnings).
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.all.iter()
    }

    /// The include rule of `d`, if any.
    pub fn include(&self, d: Dimension) -> Option<&Set> {
        self.all
            .iter()
            .find(|r| !r.exclude && r.set.dimension() == d)
            .map(|r| &r.set)
    }
}

/// Why [`Rules::passes`] turned a click away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turned {
    By(Dimension, Failed),
    /// A rule of a word dimension: [`Rules::why_not`] says which.
    ByWords,
}

/// The dimensions whose values are words of the mask ([`Dimension::word_bits`]).
pub(super) const WORD_DIMENSIONS: [Dimension; 3] =
    [Dimension::Device, Dimension::Os, Dimension::Browser];

/// The bits of a word dimension's values in the mask (none for other dimensions).
pub(super) const fn word_mask(d: Dimension) -> u64 {
    match d.word_bits() {
        Some((offset, n)) => ((1u64 << n) - 1) << offset,
        None => 0,
    }
}

/// The click's values of the word dimensions in `restricted`, one bit each in the layout of
/// [`Dimension::word_bits`]; the others are not asked for.
#[inline(always)]
pub(super) fn word_bits<A: Attributes + ?Sized>(attrs: &mut A, restricted: u64) -> u64 {
    let mut bits = 0;
    for d in WORD_DIMENSIONS {
        if let Some((offset, _)) = d.word_bits()
            && restricted & word_mask(d) != 0
        {
            let value = match d {
                Dimension::Device => attrs.device() as u8,
                Dimension::Os => attrs.os() as u8,
                Dimension::Browser => attrs.browser() as u8,
                _ => continue,
            };
            bits |= 1u64 << (offset + u32::from(value));
        }
    }
    bits
}
