//! Click ids: unique, URL-safe, 40 characters, signed with `tracking.click_secret`.
//!
//! A click id carries what a postback needs to attribute a conversion without any lookup:
//! the kind of link, the time, the offer, the smart link or campaign, and the affiliate.
//!
//! Layout (30 bytes, base64url without padding = 40 characters):
//!
//! | bytes  | content                                                    |
//! |--------|------------------------------------------------------------|
//! | 0      | version (high nibble, = 1) and kind (low nibble)           |
//! | 1..5   | click time, Unix seconds, big-endian                       |
//! | 5..9   | offer id (0 = no offer: a fallback click)                  |
//! | 9..13  | smart link id or campaign id                               |
//! | 13..17 | affiliate id                                               |
//! | 17..23 | 48-bit nonce                                               |
//! | 23..30 | first 56 bits of HMAC-SHA256(secret, bytes 0..23)          |
//!
//! Uniqueness: each thread numbers its clicks from a random 48-bit start, so ids of one
//! thread never repeat, and two ids collide only if two threads' sequences overlap *and* the
//! same number is drawn for the same second, offer, link and affiliate.
//! Forgery: 56 bits of HMAC; guessing takes 2^55 requests on average.

use std::cell::Cell;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::vocab::SourceKind;

/// 96 bits unique to one issued id ([`ClickSigner::dedup_key`]): three `u32`s rather than a
/// `u128`, so that an entry of the converted set (key and click time) is 16 bytes, not 32.
pub type DedupKey = [u32; 3];

/// Length of a click id in characters.
pub const CLICK_ID_LEN: usize = 40;
const RAW_LEN: usize = 30;
const SIGNED_LEN: usize = 23;
const VERSION: u8 = 1;
const NONCE_MASK: u64 = (1 << 48) - 1;

/// How far in the future a click id's time may lie, in seconds: the most the clock of the
/// node that issued it may be ahead of the clock of the node that reads it. An id further
/// ahead was not issued by any node of the network (it can only be forged with the secret) and
/// is refused as invalid, so that a leaked secret cannot fill the caps of windows to come.
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;

/// What a click id states about its click.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims {
    pub kind: SourceKind,
    /// Unix seconds.
    pub time: u32,
    /// `None` for a click that went to the fallback URL.
    pub offer_id: Option<u32>,
    /// Smart link id or campaign id, per `kind`.
    pub source_id: u32,
    pub affiliate_id: u32,
}

impl Claims {
    /// Whether the click's time lies more than [`MAX_CLOCK_SKEW_SECS`] after `now` (Unix
    /// seconds): no node issued such an id.
    pub fn is_from_the_future(&self, now: i64) -> bool {
        i64::from(self.time) > now + MAX_CLOCK_SKEW_SECS
    }
}

/// An issued click id (ASCII, URL-safe).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClickId([u8; CLICK_ID_LEN]);

impl ClickId {
    pub fn as_str(&self) -> &str {
        // base64url output is ASCII.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for ClickId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ClickId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid click id. Deliberately coarse: a client learns nothing about
/// which part of a forged id was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClickIdError {
    #[error("click id is malformed")]
    Malformed,
    #[error("click id signature does not verify")]
    BadSignature,
}

/// Issues click ids with the current secret; verifies them with it or a previous one.
#[derive(Clone)]
pub struct ClickSigner {
    /// Keyed once; cloning the keyed state per id skips re-hashing the key.
    mac: Hmac<Sha256>,
    /// `tracking.previous_click_secrets`: ids signed before a rotation still verify.
    previous: Vec<Hmac<Sha256>>,
}

impl fmt::Debug for ClickSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClickSigner(..)")
    }
}

thread_local! {
    static NONCE: Cell<u64> = Cell::new(rand::random::<u64>());
}

fn next_nonce() -> u64 {
    NONCE.with(|n| {
        let v = n.get().wrapping_add(1);
        n.set(v);
        v & NONCE_MASK
    })
}

impl ClickSigner {
    pub fn new(secret: &[u8]) -> ClickSigner {
        ClickSigner::rotated(secret, &[])
    }

    /// A signer that issues with `secret` and also accepts ids signed with `previous` ones.
    pub fn rotated(secret: &[u8], previous: &[Vec<u8>]) -> ClickSigner {
        let key =
            |s: &[u8]| Hmac::<Sha256>::new_from_slice(s).expect("HMAC accepts keys of any length");
        ClickSigner {
            mac: key(secret),
            previous: previous.iter().map(|s| key(s)).collect(),
        }
    }

    /// Issues a new, unique id for a click with these claims.
    pub fn issue(&self, claims: &Claims) -> ClickId {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = VERSION << 4 | claims.kind as u8;
        raw[1..5].copy_from_slice(&claims.time.to_be_bytes());
        raw[5..9].copy_from_slice(&claims.offer_id.unwrap_or(0).to_be_bytes());
        raw[9..13].copy_from_slice(&claims.source_id.to_be_bytes());
        raw[13..17].copy_from_slice(&claims.affiliate_id.to_be_bytes());
        raw[17..23].copy_from_slice(&next_nonce().to_be_bytes()[2..]);
        let tag = self.tag(&raw[..SIGNED_LEN]);
        raw[SIGNED_LEN..].copy_from_slice(&tag[..RAW_LEN - SIGNED_LEN]);
        let mut id = [0u8; CLICK_ID_LEN];
        let written = URL_SAFE_NO_PAD
            .encode_slice(raw, &mut id)
            .expect("30 bytes encode to exactly 40 characters");
        debug_assert_eq!(written, CLICK_ID_LEN);
        ClickId(id)
    }

    /// Checks a click id's form and signature and returns what it states.
    pub fn verify(&self, text: &str) -> Result<Claims, ClickIdError> {
        if text.len() != CLICK_ID_LEN {
            return Err(ClickIdError::Malformed);
        }
        let mut raw = [0u8; RAW_LEN];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut raw) {
            Ok(RAW_LEN) => {}
            _ => return Err(ClickIdError::Malformed),
        }
        let signed_by = |key: &Hmac<Sha256>| {
            let mut mac = key.clone();
            mac.update(&raw[..SIGNED_LEN]);
            mac.verify_truncated_left(&raw[SIGNED_LEN..]).is_ok()
        };
        if !signed_by(&self.mac) && !self.previous.iter().any(signed_by) {
            return Err(ClickIdError::BadSignature);
        }
        let kind = match raw[0] {
            b if b >> 4 != VERSION => return Err(ClickIdError::Malformed),
            b if b & 0xf == SourceKind::SmartLink as u8 => SourceKind::SmartLink,
            b if b & 0xf == SourceKind::Campaign as u8 => SourceKind::Campaign,
            _ => return Err(ClickIdError::Malformed),
        };
        let word = |i: usize| u32::from_be_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        Ok(Claims {
            kind,
            time: word(1),
            offer_id: Some(word(5)).filter(|&o| o != 0),
            source_id: word(9),
            affiliate_id: word(13),
        })
    }

    /// What tells one issued id from every other: its 48-bit nonce and the first 48 bits of
    /// its signature. For a verified id; `None` when `text` is not a click id at all.
    pub fn dedup_key(text: &str) -> Option<DedupKey> {
        let mut raw = [0u8; RAW_LEN];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut raw) {
            Ok(RAW_LEN) => {
                let word =
                    |i: usize| u32::from_be_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
                Some([word(17), word(21), word(25)])
            }
            _ => None,
        }
    }

    fn tag(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claims() -> impl Strategy<Value = Claims> {
        (
            any::<bool>(),
            any::<u32>(),
            proptest::option::of(1u32..),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(
                |(campaign, time, offer_id, source_id, affiliate_id)| Claims {
                    kind: if campaign {
                        SourceKind::Campaign
                    } else {
                        SourceKind::SmartLink
                    },
                    time,
                    offer_id,
                    source_id,
                    affiliate_id,
                },
            )
    }

    #[test]
    fn an_id_more_than_the_skew_ahead_is_from_the_future() {
        let claims = |time| Claims {
            kind: SourceKind::SmartLink,
            time,
            offer_id: None,
            source_id: 1,
            affiliate_id: 1,
        };
        let now = 1_800_000_000;
        let at = |ahead: i64| claims((now + ahead) as u32).is_from_the_future(now);
        assert!(!at(-86_400));
        assert!(!at(0));
        assert!(!at(MAX_CLOCK_SKEW_SECS));
        assert!(at(MAX_CLOCK_SKEW_SECS + 1));
        assert!(claims(u32::MAX).is_from_the_future(now));
    }

    proptest! {
        #[test]
        fn issued_ids_verify_to_their_claims(c in claims()) {
            let s = ClickSigner::new(b"0123456789abcdef");
            let id = s.issue(&c);
            prop_assert_eq!(id.as_str().len(), CLICK_ID_LEN);
            prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            prop_assert_eq!(s.verify(id.as_str()), Ok(c));
        }

        #[test]
        fn any_changed_character_is_rejected(c in claims(), pos in 0..CLICK_ID_LEN, ch in "[A-Za-z0-9_-]") {
            let s = ClickSigner::new(b"0123456789abcdef");
            let id = s.issue(&c);
            let mut text = id.as_str().to_string();
            let ch = ch.chars().next().unwrap();
            prop_assume!(text.as_bytes()[pos] != ch as u8);
            text.replace_range(pos..pos + 1, &ch.to_string());
            prop_assert!(s.verify(&text).is_err());
        }

        #[test]
        fn another_secret_does_not_verify(c in claims()) {
            let id = ClickSigner::new(b"0123456789abcdef").issue(&c);
            prop_assert_eq!(
                ClickSigner::new(b"0123456789abcdeg").verify(id.as_str()),
                Err(ClickIdError::BadSignature)
            );
        }

        #[test]
        fn garbage_is_malformed_not_a_panic(text in "\\PC{0,60}") {
            let s = ClickSigner::new(b"0123456789abcdef");
            prop_assume!(text.len() != CLICK_ID_LEN);
            prop_assert_eq!(s.verify(&text), Err(ClickIdError::Malformed));
        }
    }

    #[test]
    fn ids_of_a_previous_secret_still_verify_after_rotation() {
        let c = Claims {
            kind: SourceKind::Campaign,
            time: 1_800_000_000,
            offer_id: None,
            source_id: 98001,
            affiliate_id: 67890,
        };
        let old = ClickSigner::new(b"old-secret-0123456789");
        let id = old.issue(&c);
        let rotated = ClickSigner::rotated(
            b"new-secret-0123456789",
            &[b"old-secret-0123456789".to_vec()],
        );
        assert_eq!(rotated.verify(id.as_str()), Ok(c));
        assert_eq!(rotated.verify(rotated.issue(&c).as_str()), Ok(c));
        assert_eq!(
            ClickSigner::new(b"new-secret-0123456789").verify(id.as_str()),
            Err(ClickIdError::BadSignature)
        );
        let key = ClickSigner::dedup_key(id.as_str()).unwrap();
        assert_ne!(key, ClickSigner::dedup_key(old.issue(&c).as_str()).unwrap());
        assert_eq!(ClickSigner::dedup_key("short"), None);
    }

    #[test]
    fn ids_for_identical_clicks_are_unique_across_threads() {
        let s = ClickSigner::new(b"0123456789abcdef");
        let c = Claims {
            kind: SourceKind::SmartLink,
            time: 1_800_000_000,
            offer_id: Some(1042),
            source_id: 301,
            affiliate_id: 67890,
        };
        let ids: Vec<ClickId> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| (0..50_000).map(|_| s.issue(&c)).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
