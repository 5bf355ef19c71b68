//! The query string of a tracking link: `id`, `aff_id`, `s1`..`s5` (SPEC §5, §6).
//!
//! Parsed once, straight from the request target; values are percent-decoded (`+` is a
//! space) and borrowed unless decoding had to change them. The first occurrence of a
//! parameter counts; parameters we do not know are ignored.

use std::borrow::Cow;

use super::response::Reject;
use crate::clicks::SubIds;

/// Longest accepted query value, in bytes after decoding.
pub const MAX_VALUE_BYTES: usize = 255;

/// A parsed positive integer parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Known(u32),
    /// A positive integer too large to be any id: matches nothing.
    TooLarge,
}

impl Id {
    pub fn matches(self, id: u32) -> bool {
        self == Id::Known(id)
    }
}

/// The parameters of a click.
#[derive(Debug)]
pub struct ClickQuery {
    pub id: Id,
    pub aff_id: Option<Id>,
    pub subs: SubIds,
}

/// Parses a tracking-link query whose link id is in the parameter `id_param`.
pub fn parse(query: Option<&str>, id_param: &str) -> Result<ClickQuery, Reject> {
    let mut id = None;
    let mut aff_id = None;
    let mut subs: SubIds = Default::default();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if value.len() > MAX_VALUE_BYTES {
            return Err(Reject::BadRequest("query value longer than 255 bytes\n"));
        }
        match key.as_ref() {
            k if k == id_param && id.is_none() => {
                id = Some(
                    positive(&value)
                        .ok_or(Reject::BadRequest("id must be a positive integer\n"))?,
                );
            }
            "aff_id" if aff_id.is_none() => {
                aff_id = Some(
                    positive(&value)
                        .ok_or(Reject::BadRequest("aff_id must be a positive integer\n"))?,
                );
            }
            "s1" | "s2" | "s3" | "s4" | "s5" => {
                let slot = &mut subs[usize::from(key.as_bytes()[1] - b'1')];
                if slot.is_none() {
                    *slot = Some(match value {
                        Cow::Borrowed(v) => v.into(),
                        Cow::Owned(v) => v.into_boxed_str(),
                    });
                }
            }
            _ => {}
        }
    }
    let id = id.ok_or(Reject::BadRequest("id must be a positive integer\n"))?;
    Ok(ClickQuery { id, aff_id, subs })
}

/// ASCII digits, not all zero. Leading zeros are accepted (`0301` is 301).
fn positive(text: &str) -> Option<Id> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = text.trim_start_matches('0');
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse::<u32>().map_or(Id::TooLarge, Id::Known))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> ClickQuery {
        parse(Some(q), "id").unwrap()
    }

    fn bad(q: Option<&str>) -> Reject {
        parse(q, "id").unwrap_err()
    }

    #[test]
    fn parses_id_affiliate_and_sub_ids() {
        let q = ok("id=301&aff_id=67890&s1=a%20b&s2=x+y&s5=%E2%82%AC&s1=ignored&other=1");
        assert_eq!(q.id, Id::Known(301));
        assert_eq!(q.aff_id, Some(Id::Known(67890)));
        assert_eq!(q.subs[0].as_deref(), Some("a b"));
        assert_eq!(q.subs[1].as_deref(), Some("x y"));
        assert_eq!(q.subs[2], None);
        assert_eq!(q.subs[4].as_deref(), Some("€"));
    }

    #[test]
    fn id_must_be_a_positive_integer() {
        for q in [
            "", "id=", "id=0", "id=000", "id=-1", "id=+1", "id=1.5", "id=abc", "id=1%00",
            "aff_id=1",
        ] {
            assert!(matches!(bad(Some(q)), Reject::BadRequest(_)), "{q}");
        }
        assert!(matches!(bad(None), Reject::BadRequest(_)));
        assert_eq!(ok("id=0301").id, Id::Known(301));
        assert_eq!(ok("id=99999999999999999999999").id, Id::TooLarge);
        assert!(matches!(bad(Some("id=1&aff_id=x")), Reject::BadRequest(_)));
    }

    #[test]
    fn values_over_255_bytes_are_rejected() {
        let v = "a".repeat(255);
        assert_eq!(
            ok(&format!("id=1&s3={v}")).subs[2].as_deref(),
            Some(v.as_str())
        );
        let long = "a".repeat(256);
        assert!(matches!(
            bad(Some(&format!("id=1&s3={long}"))),
            Reject::BadRequest(_)
        ));
        assert!(matches!(
            bad(Some(&format!("id=1&junk={long}"))),
            Reject::BadRequest(_)
        ));
        // 86 encoded euro signs decode to 258 bytes.
        let euros = "%E2%82%AC".repeat(86);
        assert!(matches!(
            bad(Some(&format!("id=1&s1={euros}"))),
            Reject::BadRequest(_)
        ));
    }
}
