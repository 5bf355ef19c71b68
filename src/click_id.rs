//! Click ids: unique, URL-safe, signed with `tracking.click_secret`.
//!
//! A click id carries what a postback needs to attribute a conversion without any lookup:
//! the kind of link, the time, the offer, the smart link or campaign, the affiliate, and the
//! affiliate's own click id when the tracking link brought one (the sub id that
//! `partner_postbacks.transaction_id_param` names): a conversion may reach another node than
//! its click, so whatever its partner postback's `{transaction_id}` needs travels in the id.
//!
//! Version 1, a click without the affiliate's click id: 30 bytes, base64url without padding
//! = 40 characters.
//!
//! | bytes  | content                                                    |
//! |--------|------------------------------------------------------------|
//! | 0      | version (high nibble: 1, or 2 with a transaction id) and kind (low nibble) |
//! | 1..5   | click time, Unix seconds, big-endian                       |
//! | 5..9   | offer id (0 = no offer: a fallback click)                  |
//! | 9..13  | smart link id or campaign id                               |
//! | 13..17 | affiliate id                                               |
//! | 17..23 | 48-bit nonce                                               |
//! | 23..30 | first 56 bits of HMAC-SHA256(secret, bytes 0..23 ‖ transaction id) |
//!
//! Version 2, a click that brought the affiliate's click id (the *transaction id*, 1 to
//! [`MAX_TRANSACTION_ID_LEN`] bytes): the same 40 characters, whose signature also covers the
//! transaction id, then `.` and the transaction id in base64url without padding: 42 to
//! [`MAX_CLICK_ID_LEN`] characters, every one of them unreserved in a URL (`A-Z a-z 0-9 - _ .`),
//! so that `{click_id}` needs no escaping. A longer value is not carried at all (cutting an
//! idempotency key would make another one): its click gets a version 1 id. A version 1 id
//! stays exactly what it always was, so ids issued before version 2 still verify.
//!
//! Uniqueness: each thread numbers its clicks from a random 48-bit start, so ids of one
//! thread never repeat, and two ids collide only if two threads' sequences overlap *and* the
//! same number is drawn for the same second, offer, link and affiliate.
//! Forgery: 56 bits of HMAC; guessing takes 2^55 requests on average. The id is signed, not
//! encrypted: whoever sees it can read what it carries.

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

/// Length of a click id without a transaction id (version 1) in characters; the first
/// characters of every click id.
pub const CLICK_ID_LEN: usize = 40;
/// The most bytes of an affiliate's click id a click id carries.
pub const MAX_TRANSACTION_ID_LEN: usize = 64;
/// Characters of the longest transaction id in base64url.
const MAX_TAIL_LEN: usize = (MAX_TRANSACTION_ID_LEN * 4).div_ceil(3);
/// Length of the longest click id in characters (127).
pub const MAX_CLICK_ID_LEN: usize = CLICK_ID_LEN + 1 + MAX_TAIL_LEN;
/// Between the signed 40 characters and the transaction id.
const SEPARATOR: u8 = b'.';
const RAW_LEN: usize = 30;
const SIGNED_LEN: usize = 23;
const PLAIN: u8 = 1;
const CARRYING: u8 = 2;
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

/// An issued click id (ASCII, URL-safe), in place: issuing one allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClickId {
    /// The id, then zeros.
    text: [u8; MAX_CLICK_ID_LEN],
    len: u8,
}

impl ClickId {
    pub fn as_str(&self) -> &str {
        // base64url and the separator are ASCII.
        std::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or("")
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

/// A click id's text in its parts: the 30 signed bytes and the transaction id (empty for
/// version 1), decoded in place. Only the form is checked, not the signature.
struct Decoded {
    raw: [u8; RAW_LEN],
    /// Room for base64's estimate of the longest tail (66), of which at most 64 are used.
    transaction: [u8; MAX_TAIL_LEN.div_ceil(4) * 3],
    transaction_len: usize,
}

impl Decoded {
    fn read(text: &str) -> Option<Decoded> {
        let bytes = text.as_bytes();
        let (head, tail) = match bytes.len() {
            CLICK_ID_LEN => (bytes, None),
            n if n > CLICK_ID_LEN + 1
                && n <= MAX_CLICK_ID_LEN
                && bytes[CLICK_ID_LEN] == SEPARATOR =>
            {
                (&bytes[..CLICK_ID_LEN], Some(&bytes[CLICK_ID_LEN + 1..]))
            }
            _ => return None,
        };
        let mut d = Decoded {
            raw: [0; RAW_LEN],
            transaction: [0; MAX_TAIL_LEN.div_ceil(4) * 3],
            transaction_len: 0,
        };
        // The engine refuses non-zero trailing bits: one id has one text.
        match URL_SAFE_NO_PAD.decode_slice(head, &mut d.raw) {
            Ok(RAW_LEN) => {}
            _ => return None,
        }
        if let Some(tail) = tail {
            match URL_SAFE_NO_PAD.decode_slice(tail, &mut d.transaction) {
                Ok(n) if (1..=MAX_TRANSACTION_ID_LEN).contains(&n) => d.transaction_len = n,
                _ => return None,
            }
        }
        Some(d)
    }

    fn transaction(&self) -> &[u8] {
        &self.transaction[..self.transaction_len]
    }
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

    /// Issues a new, unique id for a click with these claims and no transaction id.
    pub fn issue(&self, claims: &Claims) -> ClickId {
        self.issue_carrying(claims, None)
    }

    /// Issues a new, unique id for a click with these claims that carries `transaction_id`,
    /// the affiliate's own click id, when it is given, not empty and at most
    /// [`MAX_TRANSACTION_ID_LEN`] bytes long (else the id carries none).
    pub fn issue_carrying(&self, claims: &Claims, transaction_id: Option<&str>) -> ClickId {
        let carried = transaction_id
            .map(str::as_bytes)
            .filter(|t| (1..=MAX_TRANSACTION_ID_LEN).contains(&t.len()));
        let version = if carried.is_some() { CARRYING } else { PLAIN };
        let mut raw = [0u8; RAW_LEN];
        raw[0] = version << 4 | claims.kind as u8;
        raw[1..5].copy_from_slice(&claims.time.to_be_bytes());
        raw[5..9].copy_from_slice(&claims.offer_id.unwrap_or(0).to_be_bytes());
        raw[9..13].copy_from_slice(&claims.source_id.to_be_bytes());
        raw[13..17].copy_from_slice(&claims.affiliate_id.to_be_bytes());
        raw[17..23].copy_from_slice(&next_nonce().to_be_bytes()[2..]);
        let mut mac = self.mac.clone();
        mac.update(&raw[..SIGNED_LEN]);
        mac.update(carried.unwrap_or_default());
        let tag: [u8; 32] = mac.finalize().into_bytes().into();
        raw[SIGNED_LEN..].copy_from_slice(&tag[..RAW_LEN - SIGNED_LEN]);
        let mut id = ClickId {
            text: [0; MAX_CLICK_ID_LEN],
            len: CLICK_ID_LEN as u8,
        };
        let written = URL_SAFE_NO_PAD
            .encode_slice(raw, &mut id.text)
            .expect("30 bytes encode to exactly 40 characters");
        debug_assert_eq!(written, CLICK_ID_LEN);
        if let Some(t) = carried {
            id.text[CLICK_ID_LEN] = SEPARATOR;
            let written = URL_SAFE_NO_PAD
                .encode_slice(t, &mut id.text[CLICK_ID_LEN + 1..])
                .expect("64 bytes encode to at most 86 characters");
            id.len = (CLICK_ID_LEN + 1 + written) as u8;
        }
        id
    }

    /// Checks a click id's form and signature and returns what it states.
    pub fn verify(&self, text: &str) -> Result<Claims, ClickIdError> {
        let d = Decoded::read(text).ok_or(ClickIdError::Malformed)?;
        let raw = &d.raw;
        let signed_by = |key: &Hmac<Sha256>| {
            let mut mac = key.clone();
            mac.update(&raw[..SIGNED_LEN]);
            mac.update(d.transaction());
            mac.verify_truncated_left(&raw[SIGNED_LEN..]).is_ok()
        };
        if !signed_by(&self.mac) && !self.previous.iter().any(signed_by) {
            return Err(ClickIdError::BadSignature);
        }
        let version = if d.transaction_len == 0 {
            PLAIN
        } else {
            CARRYING
        };
        let kind = match raw[0] {
            b if b >> 4 != version => return Err(ClickIdError::Malformed),
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
    /// its signature (the same 96 bits whether or not it carries a transaction id). For a
    /// verified id; `None` when `text` is not a click id at all.
    pub fn dedup_key(text: &str) -> Option<DedupKey> {
        let raw = Decoded::read(text)?.raw;
        let word = |i: usize| u32::from_be_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        Some([word(17), word(21), word(25)])
    }

    /// The affiliate's click id a verified click id carries; `None` when it carries none
    /// (or `text` is not a click id).
    pub fn transaction_id(text: &str) -> Option<String> {
        let d = Decoded::read(text)?;
        match d.transaction() {
            [] => None,
            t => String::from_utf8(t.to_vec()).ok(),
        }
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
        fn garbage_is_refused_not_a_panic(text in "\\PC{0,140}") {
            let s = ClickSigner::new(b"0123456789abcdef");
            prop_assume!(text.len() != CLICK_ID_LEN);
            prop_assert!(s.verify(&text).is_err());
            // Neither reading panics either.
            let _ = (ClickSigner::transaction_id(&text), ClickSigner::dedup_key(&text));
        }

        /// Any transaction id of 1 to 64 bytes comes back from the id as it went in; the id
        /// stays URL-safe and its dedup key is that of its first 40 characters.
        #[test]
        fn a_transaction_id_round_trips(c in claims(), t in transaction_id()) {
            let s = ClickSigner::new(b"0123456789abcdef");
            let id = s.issue_carrying(&c, Some(&t));
            let text = id.as_str();
            prop_assert!(text.len() > CLICK_ID_LEN + 1 && text.len() <= MAX_CLICK_ID_LEN);
            prop_assert!(url_safe(text), "{}", text);
            prop_assert_eq!(s.verify(text), Ok(c));
            prop_assert_eq!(ClickSigner::transaction_id(text), Some(t));
            let key = ClickSigner::dedup_key(text);
            prop_assert!(key.is_some());
            prop_assert_eq!(key, ClickSigner::dedup_key(&text[..CLICK_ID_LEN]));
        }

        /// One byte of the transaction id changed (and the id re-encoded, so that its form is
        /// right) fails the signature; so does any changed character anywhere in the id.
        #[test]
        fn a_changed_transaction_id_or_character_is_refused(
            c in claims(),
            t in transaction_id(),
            at in any::<proptest::sample::Index>(),
            xor in 1u8..,
            ch in "[A-Za-z0-9_.-]",
        ) {
            let s = ClickSigner::new(b"0123456789abcdef");
            let id = s.issue_carrying(&c, Some(&t)).as_str().to_string();
            let mut bytes = t.into_bytes();
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            let forged = format!("{}.{}", &id[..CLICK_ID_LEN], URL_SAFE_NO_PAD.encode(&bytes));
            prop_assert_eq!(s.verify(&forged), Err(ClickIdError::BadSignature));
            let pos = at.index(id.len());
            let ch = ch.chars().next().unwrap();
            prop_assume!(id.as_bytes()[pos] != ch as u8);
            let mut changed = id.clone();
            changed.replace_range(pos..pos + 1, &ch.to_string());
            prop_assert!(s.verify(&changed).is_err(), "{} -> {}", id, changed);
        }

        /// A version 2 id cut to its first 40 characters, or a version 1 id given a
        /// transaction id, is refused.
        #[test]
        fn versions_cannot_be_swapped(c in claims(), t in transaction_id()) {
            let s = ClickSigner::new(b"0123456789abcdef");
            let carrying = s.issue_carrying(&c, Some(&t));
            prop_assert!(s.verify(&carrying.as_str()[..CLICK_ID_LEN]).is_err());
            let plain = s.issue(&c);
            let grown = format!("{plain}.{}", URL_SAFE_NO_PAD.encode(t.as_bytes()));
            prop_assert!(s.verify(&grown).is_err());
        }
    }

    fn transaction_id() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{1,64}",
            "\\PC{1,16}",
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ]
    }

    fn url_safe(text: &str) -> bool {
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    }

    #[test]
    fn no_empty_or_over_long_transaction_id_is_carried() {
        let s = ClickSigner::new(b"0123456789abcdef");
        let c = Claims {
            kind: SourceKind::SmartLink,
            time: 1_800_000_000,
            offer_id: Some(7),
            source_id: 3,
            affiliate_id: 1,
        };
        for t in [
            None,
            Some(""),
            Some(&*"x".repeat(MAX_TRANSACTION_ID_LEN + 1)),
        ] {
            let id = s.issue_carrying(&c, t);
            assert_eq!(id.as_str().len(), CLICK_ID_LEN, "{t:?}");
            assert_eq!(ClickSigner::transaction_id(id.as_str()), None);
            assert_eq!(s.verify(id.as_str()), Ok(c));
        }
        let longest = "é".repeat(MAX_TRANSACTION_ID_LEN / 2);
        let id = s.issue_carrying(&c, Some(&longest));
        assert_eq!(id.as_str().len(), MAX_CLICK_ID_LEN);
        assert_eq!(ClickSigner::transaction_id(id.as_str()), Some(longest));
        // A separator with nothing after it, or the tail of a 65-byte value: not a click id.
        let head = &id.as_str()[..CLICK_ID_LEN];
        let too_long = URL_SAFE_NO_PAD.encode([b'x'; MAX_TRANSACTION_ID_LEN + 1]);
        for text in [format!("{head}."), format!("{head}.{too_long}")] {
            assert_eq!(s.verify(&text), Err(ClickIdError::Malformed), "{text}");
        }
    }

    /// An id made as version 1 ids always were (30 bytes, the HMAC of the first 23) still
    /// verifies: ids in flight before version 2 keep converting.
    #[test]
    fn a_version_1_id_made_the_old_way_still_verifies() {
        let secret = b"0123456789abcdef";
        let mut raw = [0u8; RAW_LEN];
        raw[0] = 0x10 | SourceKind::Campaign as u8;
        raw[1..5].copy_from_slice(&1_800_000_000u32.to_be_bytes());
        raw[5..9].copy_from_slice(&1042u32.to_be_bytes());
        raw[9..13].copy_from_slice(&98001u32.to_be_bytes());
        raw[13..17].copy_from_slice(&67890u32.to_be_bytes());
        raw[17..23].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(&raw[..23]);
        raw[23..].copy_from_slice(&mac.finalize().into_bytes()[..7]);
        let text = URL_SAFE_NO_PAD.encode(raw);
        assert_eq!(
            ClickSigner::new(secret).verify(&text),
            Ok(Claims {
                kind: SourceKind::Campaign,
                time: 1_800_000_000,
                offer_id: Some(1042),
                source_id: 98001,
                affiliate_id: 67890,
            })
        );
        assert_eq!(ClickSigner::transaction_id(&text), None);
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
