//! Tracking links: the URLs the management API hands out for campaigns and smart links
//! (docs/api.md), and the opaque token of encoded campaign links.
//!
//! | link | URL |
//! |---|---|
//! | smart link | `{public_base_url}/sl?id={smart_link_id}&aff_id={affiliate_id}` |
//! | campaign, display type 1 (standard) | `{public_base_url}/rd/r.php?sid={campaign_id}&aff_id={affiliate_id}` |
//! | campaign, display type 2 (encoded) | `{public_base_url}/rd/{token}` |
//! | campaign, display type 3 (vanity) | `{vanity_base_url}/rd/r.php?sid=…&aff_id=…` |
//!
//! The token is not a secret and not a signature: like CAKE's encoded links it only hides
//! the ids from a casual reader (anyone may build the standard link of a campaign). It is
//! 16 base64url characters: campaign id, affiliate id and a 4-byte check that turns a
//! mistyped or truncated token into a `404` rather than another campaign's click.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::catalog::{Campaign, SmartLink};
use crate::settings::Settings;

/// Length of an encoded campaign token.
pub const TOKEN_LEN: usize = 16;

pub fn smart_link_url(settings: &Settings, link: &SmartLink) -> String {
    format!(
        "{}/sl?id={}&aff_id={}",
        settings.server.public_base_url, link.smart_link_id, link.affiliate_id
    )
}

/// The campaign's tracking link in its display link type.
pub fn campaign_url(settings: &Settings, c: &Campaign) -> String {
    match c.display_link_type_id {
        2 => format!(
            "{}/rd/{}",
            settings.server.public_base_url,
            encode_token(c.campaign_id, c.affiliate_id)
        ),
        3 => standard(&settings.server.vanity_base_url, c),
        _ => standard(&settings.server.public_base_url, c),
    }
}

fn standard(base: &str, c: &Campaign) -> String {
    format!(
        "{base}/rd/r.php?sid={}&aff_id={}",
        c.campaign_id, c.affiliate_id
    )
}

fn check(ids: &[u8; 8]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(b"smartlink/rd\0")
        .chain_update(ids)
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The 8 bytes a token carries: campaign id, affiliate id (big-endian).
fn ids(campaign_id: u32, affiliate_id: u32) -> [u8; 8] {
    let mut ids = [0u8; 8];
    ids[..4].copy_from_slice(&campaign_id.to_be_bytes());
    ids[4..].copy_from_slice(&affiliate_id.to_be_bytes());
    ids
}

pub fn encode_token(campaign_id: u32, affiliate_id: u32) -> String {
    let ids = ids(campaign_id, affiliate_id);
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&ids);
    bytes[8..].copy_from_slice(&check(&ids));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `(campaign_id, affiliate_id)` of a token; `None` for anything that is not one.
pub fn decode_token(token: &str) -> Option<(u32, u32)> {
    if token.len() != TOKEN_LEN {
        return None;
    }
    let mut bytes = [0u8; 12];
    let n = URL_SAFE_NO_PAD
        .decode_slice(token.as_bytes(), &mut bytes)
        .ok()?;
    let [c0, c1, c2, c3, a0, a1, a2, a3, k0, k1, k2, k3] = bytes;
    let (campaign, affiliate) = (
        u32::from_be_bytes([c0, c1, c2, c3]),
        u32::from_be_bytes([a0, a1, a2, a3]),
    );
    (n == 12 && check(&ids(campaign, affiliate)) == [k0, k1, k2, k3])
        .then_some((campaign, affiliate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn token_hides_the_ids_and_has_a_fixed_length() {
        let t = encode_token(98001, 67890);
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(!t.contains("98001") && !t.contains("67890"));
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn damaged_tokens_are_refused() {
        let t = encode_token(98001, 67890);
        assert_eq!(decode_token(&t), Some((98001, 67890)));
        assert_eq!(decode_token(&t[..15]), None);
        assert_eq!(decode_token(&format!("{t}A")), None);
        assert_eq!(decode_token("r.php"), None);
        assert_eq!(decode_token("%%%%%%%%%%%%%%%%"), None);
    }

    proptest! {
        #[test]
        fn tokens_round_trip(c: u32, a: u32) {
            prop_assert_eq!(decode_token(&encode_token(c, a)), Some((c, a)));
        }

        #[test]
        fn a_changed_character_is_detected(c: u32, a: u32, at in 0..TOKEN_LEN, to in 0u8..64) {
            let t = encode_token(c, a);
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut changed = t.clone().into_bytes();
            prop_assume!(changed[at] != alphabet[usize::from(to)]);
            changed[at] = alphabet[usize::from(to)];
            let changed = String::from_utf8(changed).unwrap();
            // A 32-bit check: a random change passes with probability 2^-32.
            prop_assert_eq!(decode_token(&changed), None);
        }
    }
}
