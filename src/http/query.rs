//! The query string of a tracking link: `id`, `aff_id`, `s1`..`s5` (docs/routing.md).
//!
//! Parsed once, straight from the request target, in one pass. A value without `%` or `+`
//! is borrowed as is; others are decoded as `application/x-www-form-urlencoded` (`+` is a
//! space, invalid UTF-8 becomes U+FFFD). The first occurrence of a parameter counts;
//! parameters we do not know are ignored (but still length-checked).

use std::borrow::Cow;

use super::response::PlainError;
use crate::click_log::SubIds;

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

/// The query parameter that carries a tracking link's id, and the answer when it is bad.
#[derive(Debug, Clone, Copy)]
pub struct IdParam {
    pub name: &'static str,
    pub invalid: PlainError,
}

/// `/sl?id=`
pub const SMART_LINK_ID: IdParam = IdParam {
    name: "id",
    invalid: PlainError::bad_request("id must be a positive integer\n"),
};

/// `/rd/r.php?sid=`
pub const CAMPAIGN_ID: IdParam = IdParam {
    name: "sid",
    invalid: PlainError::bad_request("sid must be a positive integer\n"),
};

/// The parameters of a click.
#[derive(Debug)]
pub struct ClickQuery<'a> {
    /// Present whenever an id parameter was asked for (its absence is an error).
    pub id: Option<Id>,
    pub aff_id: Option<Id>,
    pub subs: SubIds<'a>,
}

/// Parses a tracking-link query whose link id is in the parameter `id_param`; `None` for a
/// link whose id is in its path (`/rd/{token}`).
pub fn parse(query: Option<&str>, id_param: Option<IdParam>) -> Result<ClickQuery<'_>, PlainError> {
    let mut id = None;
    let mut aff_id = None;
    let mut subs: SubIds = Default::default();
    for (key, value) in pairs(query.unwrap_or("")) {
        let (key, value) = (decode(key), decode(value));
        if value.len() > MAX_VALUE_BYTES {
            return Err(PlainError::bad_request(
                "query value longer than 255 bytes\n",
            ));
        }
        match key.as_ref() {
            k if let Some(p) = id_param
                && k == p.name
                && id.is_none() =>
            {
                id = Some(positive(&value).ok_or(p.invalid)?);
            }
            "aff_id" if aff_id.is_none() => {
                aff_id = Some(positive(&value).ok_or(PlainError::bad_request(
                    "aff_id must be a positive integer\n",
                ))?);
            }
            "s1" | "s2" | "s3" | "s4" | "s5" => {
                let slot = &mut subs[usize::from(key.as_bytes()[1] - b'1')];
                if slot.is_none() {
                    *slot = Some(value);
                }
            }
            _ => {}
        }
    }
    if let Some(p) = id_param
        && id.is_none()
    {
        return Err(p.invalid);
    }
    Ok(ClickQuery { id, aff_id, subs })
}

/// The raw `key=value` pairs of a query, split with byte scans (queries are short, and
/// `str::split` costs more in setup than in scanning here). A pair without `=` has an empty
/// value.
fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = Some(query);
    std::iter::from_fn(move || {
        let text = rest?;
        let (pair, next) = match text.bytes().position(|b| b == b'&') {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        };
        rest = next;
        Some(match pair.bytes().position(|b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        })
    })
}

/// Form-decodes `text`, borrowing it when there is nothing to decode.
fn decode(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(text);
    }
    if !text.contains('+') {
        return percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    }
    let spaced = text.replace('+', " ");
    if !spaced.contains('%') {
        return Cow::Owned(spaced);
    }
    Cow::Owned(
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned(),
    )
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
    use crate::vocab::Rejection;

    fn ok(q: &str) -> ClickQuery<'_> {
        parse(Some(q), Some(SMART_LINK_ID)).unwrap()
    }

    fn bad(q: Option<&str>) -> PlainError {
        parse(q, Some(SMART_LINK_ID)).unwrap_err()
    }

    #[test]
    fn parses_id_affiliate_and_sub_ids() {
        let q = ok("id=301&aff_id=67890&s1=a%20b&s2=x+y&s5=%E2%82%AC&s1=ignored&other=1");
        assert_eq!(q.id, Some(Id::Known(301)));
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
            assert!(bad(Some(q)).why == Rejection::BadRequest, "{q}");
        }
        assert!(bad(None).why == Rejection::BadRequest);
        assert_eq!(ok("id=0301").id, Some(Id::Known(301)));
        assert_eq!(ok("id=99999999999999999999999").id, Some(Id::TooLarge));
        assert!(bad(Some("id=1&aff_id=x")).why == Rejection::BadRequest);
    }

    #[test]
    fn decoding_matches_the_form_urlencoded_crate() {
        for q in [
            "s1=a+b%20c",
            "s1=%ZZ%4",
            "s1=%E2%82",
            "s1=%41%42",
            "s1=",
            "s1",
            "s1=a=b",
            "s%31=x",
        ] {
            let query = format!("id=1&{q}");
            let ours = ok(&query).subs[0].clone();
            let theirs = form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "s1")
                .map(|(_, v)| v);
            assert_eq!(ours, theirs, "{q}");
        }
    }

    #[test]
    fn values_over_255_bytes_are_rejected() {
        let v = "a".repeat(255);
        assert_eq!(
            ok(&format!("id=1&s3={v}")).subs[2].as_deref(),
            Some(v.as_str())
        );
        let long = "a".repeat(256);
        assert!(bad(Some(&format!("id=1&s3={long}"))).why == Rejection::BadRequest);
        assert!(bad(Some(&format!("id=1&junk={long}"))).why == Rejection::BadRequest);
        // 86 encoded euro signs decode to 258 bytes.
        let euros = "%E2%82%AC".repeat(86);
        assert!(bad(Some(&format!("id=1&s1={euros}"))).why == Rejection::BadRequest);
    }

    proptest::proptest! {
        /// Whatever the query, parsing answers (a query or a 400) and never panics.
        #[test]
        fn any_query_parses_or_is_rejected(q in "[a-z0-9_=&%+\\PC]{0,400}") {
            match parse(Some(&q), Some(SMART_LINK_ID)) {
                Ok(parsed) => {
                    proptest::prop_assert!(parsed.subs.iter().flatten().all(|v| v.len() <= MAX_VALUE_BYTES));
                }
                Err(r) => proptest::prop_assert!(r.why == Rejection::BadRequest),
            }
        }
    }
}
