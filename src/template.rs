//! URL templates with `{macro}` placeholders (docs/routing.md).
//!
//! A template is parsed and validated once, when the routing table is compiled; rendering a
//! click's URL walks the pre-split parts and appends, with no parsing and one allocation.
//! Every substituted value is percent-encoded (RFC 3986: only unreserved characters are kept),
//! so a value can never add a `&`, a `#` or a new path segment to the URL.

use std::fmt;
use std::ops::Range;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 3986 §2.3: everything but ALPHA / DIGIT / "-" / "." / "_" / "~" is encoded.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A placeholder a template may use.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Macro {
    ClickId,
    SmartLinkId,
    CampaignId,
    AffiliateId,
    OfferId,
    /// `s1`..`s5`, stored as 0..=4.
    Sub(u8),
    Country,
    Device,
    Os,
    /// The macros of partner postback URLs only ([`Template::parse_postback`]).
    Postback(PostbackMacro),
}

/// The macros a partner postback URL may use beyond a click's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PostbackMacro {
    ConversionId,
    TransactionId,
    Payout,
    Amount,
    OfferName,
    ConversionTime,
}

impl Macro {
    /// Every macro name, as written between braces.
    pub const NAMES: [&'static str; 13] = [
        "click_id",
        "smart_link_id",
        "campaign_id",
        "affiliate_id",
        "offer_id",
        "s1",
        "s2",
        "s3",
        "s4",
        "s5",
        "country",
        "device",
        "os",
    ];

    pub fn from_name(name: &str) -> Option<Macro> {
        Some(match name {
            "click_id" => Macro::ClickId,
            "smart_link_id" => Macro::SmartLinkId,
            "campaign_id" => Macro::CampaignId,
            "affiliate_id" => Macro::AffiliateId,
            "offer_id" => Macro::OfferId,
            "s1" => Macro::Sub(0),
            "s2" => Macro::Sub(1),
            "s3" => Macro::Sub(2),
            "s4" => Macro::Sub(3),
            "s5" => Macro::Sub(4),
            "country" => Macro::Country,
            "device" => Macro::Device,
            "os" => Macro::Os,
            _ => return None,
        })
    }

    /// The names only partner postback URLs may use.
    pub const POSTBACK_NAMES: [&'static str; 6] = [
        "conversion_id",
        "transaction_id",
        "payout",
        "amount",
        "offer_name",
        "conversion_time",
    ];

    /// A click macro, or one of [`Macro::POSTBACK_NAMES`].
    pub fn from_postback_name(name: &str) -> Option<Macro> {
        if let Some(m) = Macro::from_name(name) {
            return Some(m);
        }
        Some(Macro::Postback(match name {
            "conversion_id" => PostbackMacro::ConversionId,
            "transaction_id" => PostbackMacro::TransactionId,
            "payout" => PostbackMacro::Payout,
            "amount" => PostbackMacro::Amount,
            "offer_name" => PostbackMacro::OfferName,
            "conversion_time" => PostbackMacro::ConversionTime,
            _ => return None,
        }))
    }
}

/// Why a URL template was rejected. Positions are byte offsets into the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("is empty")]
    Empty,
    #[error(
        "has a character that is not printable ASCII at byte {0}; percent-encode it (e.g. a space as %20)"
    )]
    InvalidChar(usize),
    #[error("has a '{{' at byte {0} that is never closed")]
    Unclosed(usize),
    #[error("has a '}}' at byte {0} with no '{{' before it")]
    StrayClose(usize),
    #[error("uses an unknown macro {{{0}}}; known: {known}", known = Macro::NAMES.join(", "))]
    UnknownMacro(String),
    #[error("uses an unknown macro {{{0}}}; known: {known}", known = Macro::NAMES.iter().chain(&Macro::POSTBACK_NAMES).copied().collect::<Vec<_>>().join(", "))]
    UnknownPostbackMacro(String),
    #[error(
        "uses a macro in the scheme or host; macros may only appear in the path, query or fragment"
    )]
    MacroInAuthority,
    #[error("is not an absolute http(s) URL with a host: {0}")]
    NotHttpUrl(String),
    #[error(
        "must start with http:// or https:// and a host, ended by '/', '?' or '#' before any macro (e.g. https://offer.example/?s1={{s1}}), so that no macro value can change where the redirect goes"
    )]
    NoFixedOrigin,
}

#[derive(Clone, Debug)]
enum Part {
    Literal(Range<u32>),
    Macro(Macro),
}

/// A parsed, validated URL template.
#[derive(Clone, Debug)]
pub struct Template {
    source: Box<str>,
    parts: Box<[Part]>,
    literal_len: usize,
}

/// Supplies macro values while a template renders. Implementations append the *raw* value
/// with [`push_encoded`] (or digits, which need no encoding) and may compute it lazily.
pub trait MacroValues {
    fn write_value(&mut self, m: Macro, out: &mut String);
}

/// Appends `value` percent-encoded per RFC 3986 (unreserved characters kept).
pub fn push_encoded(out: &mut String, value: &str) {
    out.extend(utf8_percent_encode(value, NOT_UNRESERVED));
}

/// Appends the decimal digits of `n`.
pub fn push_number(out: &mut String, n: u32) {
    out.push_str(itoa::Buffer::new().format(n));
}

impl Template {
    /// Parses and validates a template: printable ASCII only, balanced braces, known macros,
    /// macros only after the authority, and an absolute `http`/`https` URL with a host.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        Template::parse_with(source, false)
    }

    /// Parses a partner postback URL: the rules of [`Template::parse`], with the macros of
    /// [`Macro::POSTBACK_NAMES`] allowed too.
    pub fn parse_postback(source: &str) -> Result<Template, TemplateError> {
        Template::parse_with(source, true)
    }

    fn parse_with(source: &str, postback: bool) -> Result<Template, TemplateError> {
        if source.is_empty() {
            return Err(TemplateError::Empty);
        }
        if let Some(pos) = source.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(TemplateError::InvalidChar(pos));
        }
        let mut parts = Vec::new();
        let mut literal_len = 0;
        let mut rest_start = 0;
        let bytes = source.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' => {
                    let close = source[i..]
                        .find('}')
                        .map(|off| i + off)
                        .ok_or(TemplateError::Unclosed(i))?;
                    let name = &source[i + 1..close];
                    if let Some(nested) = name.find('{') {
                        return Err(TemplateError::Unclosed(i + 1 + nested));
                    }
                    let m = match postback {
                        false => Macro::from_name(name)
                            .ok_or_else(|| TemplateError::UnknownMacro(name.to_string()))?,
                        true => Macro::from_postback_name(name)
                            .ok_or_else(|| TemplateError::UnknownPostbackMacro(name.to_string()))?,
                    };
                    if rest_start < i {
                        parts.push(Part::Literal(rest_start as u32..i as u32));
                        literal_len += i - rest_start;
                    }
                    parts.push(Part::Macro(m));
                    i = close + 1;
                    rest_start = i;
                }
                b'}' => return Err(TemplateError::StrayClose(i)),
                _ => i += 1,
            }
        }
        if rest_start < bytes.len() {
            parts.push(Part::Literal(rest_start as u32..bytes.len() as u32));
            literal_len += bytes.len() - rest_start;
        }
        let template = Template {
            source: source.into(),
            parts: parts.into_boxed_slice(),
            literal_len,
        };
        template.check_url_shape()?;
        Ok(template)
    }

    /// The URL must be absolute http(s) with a host, and no macro value may change its
    /// scheme, user info, host or port: an affiliate controls `s1`..`s5`, and a macro that
    /// could move the host would turn the redirect into an open redirect. Checked on the
    /// template's structure: before the first macro the text must hold the whole origin,
    /// `http://` or `https://`, a non-empty authority without `\\`, and the `/`, `?` or `#`
    /// that ends it. (Browsers resolve `https:{s1}`, `https:/{s1}`, `https:///{s1}` and
    /// `https:\\{s1}` with `s1=evil.example` to `https://evil.example/`: none has a fixed
    /// authority.) Then renderings with different values must all parse to that origin.
    fn check_url_shape(&self) -> Result<(), TemplateError> {
        let source = &*self.source;
        let fixed = &source[..source.find('{').unwrap_or(source.len())];
        let has_macro = fixed.len() < source.len();
        let Some((scheme, rest)) = fixed.split_once(':') else {
            return Err(if has_macro {
                TemplateError::MacroInAuthority
            } else {
                TemplateError::NotHttpUrl("no scheme".into())
            });
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(TemplateError::NotHttpUrl(format!("scheme {scheme:?}")));
        }
        let Some(after_slashes) = rest.strip_prefix("//") else {
            return Err(TemplateError::NoFixedOrigin);
        };
        let authority_len = after_slashes
            .find(['/', '?', '#'])
            .unwrap_or(after_slashes.len());
        let authority = &after_slashes[..authority_len];
        let ends_before_macro = authority_len < after_slashes.len() || !has_macro;
        if !ends_before_macro {
            return Err(TemplateError::MacroInAuthority);
        }
        if authority.is_empty() || authority.contains('\\') {
            return Err(TemplateError::NoFixedOrigin);
        }
        // A name is letters, digits, dots and hyphens (the URL parser lets `*`, `!` and the
        // like through); an IPv6 literal is bracketed.
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if !host.starts_with('[')
            && !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(TemplateError::NotHttpUrl(format!(
                "host {name:?} has characters other than letters, digits, '.' and '-'"
            )));
        }
        let origin_end = scheme.len() + 3 + authority_len;
        let origin = url::Url::parse(&source[..origin_end])
            .map_err(|e| TemplateError::NotHttpUrl(e.to_string()))?;
        let same_origin = |u: &url::Url| {
            u.scheme() == origin.scheme()
                && u.username() == origin.username()
                && u.password() == origin.password()
                && u.host() == origin.host()
                && u.port() == origin.port()
        };
        for sample in SAMPLES {
            let rendered = self.render(&mut Sample(sample));
            match url::Url::parse(&rendered) {
                Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) && same_origin(&u) => {}
                Ok(_) => return Err(TemplateError::NoFixedOrigin),
                Err(e) => return Err(TemplateError::NotHttpUrl(e.to_string())),
            }
        }
        Ok(())
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the template contains the macro (used to decide, at compile time, which client
    /// attributes a click may need).
    pub fn uses(&self, m: Macro) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Macro(x) if *x == m))
    }

    /// Renders the URL. One allocation, sized for the literal text plus typical values.
    pub fn render<V: MacroValues + ?Sized>(&self, values: &mut V) -> String {
        let mut out = String::with_capacity(self.literal_len + 16 * self.parts.len());
        for part in self.parts.iter() {
            match part {
                Part::Literal(r) => out.push_str(&self.source[r.start as usize..r.end as usize]),
                Part::Macro(m) => values.write_value(*m, &mut out),
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Macro values used only to check a template: every value is percent-encoded, so these
/// (unreserved characters, a host name, dots, nothing) are what a client can put there.
const SAMPLES: [&str; 4] = ["x", "", "evil.example", "..~-_0"];

struct Sample(&'static str);

impl MacroValues for Sample {
    fn write_value(&mut self, _: Macro, out: &mut String) {
        push_encoded(out, self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Values;
    impl MacroValues for Values {
        fn write_value(&mut self, m: Macro, out: &mut String) {
            match m {
                Macro::ClickId => out.push_str("abc-_"),
                Macro::OfferId => push_number(out, 1042),
                Macro::Sub(0) => push_encoded(out, "a b&c=d/é#"),
                Macro::Country => out.push_str("US"),
                _ => {}
            }
        }
    }

    struct Any(String);
    impl MacroValues for Any {
        fn write_value(&mut self, _: Macro, out: &mut String) {
            push_encoded(out, &self.0);
        }
    }

    #[test]
    fn renders_literals_and_encoded_values() {
        let t = Template::parse("https://x.example/q?c={click_id}&o={offer_id}&s1={s1}&s2={s2}")
            .unwrap();
        assert_eq!(
            t.render(&mut Values),
            "https://x.example/q?c=abc-_&o=1042&s1=a%20b%26c%3Dd%2F%C3%A9%23&s2="
        );
        assert!(t.uses(Macro::ClickId));
        assert!(!t.uses(Macro::Country));
    }

    #[test]
    fn keeps_exactly_the_unreserved_characters() {
        let mut out = String::new();
        push_encoded(&mut out, "AZaz09-._~!*'();:@&=+$,/?#[]%");
        assert_eq!(
            out,
            "AZaz09-._~%21%2A%27%28%29%3B%3A%40%26%3D%2B%24%2C%2F%3F%23%5B%5D%25"
        );
    }

    #[test]
    fn template_without_macros_renders_itself() {
        let t = Template::parse("https://example.com/no-offer").unwrap();
        assert_eq!(t.render(&mut Values), "https://example.com/no-offer");
    }

    #[test]
    fn rejects_malformed_templates_with_a_reason() {
        let cases: [(&str, TemplateError); 11] = [
            ("", TemplateError::Empty),
            ("https://x.example/a b", TemplateError::InvalidChar(19)),
            ("https://x.example/é", TemplateError::InvalidChar(18)),
            ("https://x.example/?a={s1", TemplateError::Unclosed(21)),
            ("https://x.example/?a=s1}", TemplateError::StrayClose(23)),
            ("https://x.example/?a={{s1}", TemplateError::Unclosed(22)),
            (
                "https://x.example/?a={sub1}",
                TemplateError::UnknownMacro("sub1".into()),
            ),
            ("https://{s1}.example/", TemplateError::MacroInAuthority),
            ("https://x.example{s1}/", TemplateError::MacroInAuthority),
            ("https://x.example:{s1}/", TemplateError::MacroInAuthority),
            ("https://u:{s1}@x.example/", TemplateError::MacroInAuthority),
        ];
        for (src, want) in cases {
            assert_eq!(Template::parse(src).unwrap_err(), want, "{src}");
        }
        for not_http in [
            "ftp://x.example/",
            "/relative?c={click_id}",
            "https://",
            "mailto:a@b",
        ] {
            assert!(
                matches!(
                    Template::parse(not_http),
                    Err(TemplateError::NotHttpUrl(_)
                        | TemplateError::MacroInAuthority
                        | TemplateError::NoFixedOrigin)
                ),
                "{not_http} accepted"
            );
        }
    }

    /// Regression: each of these spellings once passed validation, and with `s1=evil.example`
    /// a browser resolved the `Location` to `https://evil.example/`.
    #[test]
    fn a_macro_cannot_supply_the_host_however_the_slashes_are_spelt() {
        for src in [
            "https:///{s1}",
            "https:{s1}",
            "https:/{s1}",
            "https:\\\\{s1}",
            "https:\\/{s1}",
            "https:/\\{s1}",
            "HTTPS:{s1}",
            "http:{s1}/path",
            "https://\\{s1}",
            "https://good.example\\{s1}",
        ] {
            assert!(
                matches!(
                    Template::parse(src),
                    Err(TemplateError::NoFixedOrigin | TemplateError::MacroInAuthority)
                ),
                "{src} accepted"
            );
        }
        for ok in [
            "https://good.example/{s1}",
            "https://good.example?{s1}",
            "https://good.example#{s1}",
            "HTTPS://good.example:8443/a/{s1}",
            "https://user@good.example/{s1}",
            "http://[::1]:8080/{s1}",
        ] {
            assert!(Template::parse(ok).is_ok(), "{ok} refused");
        }
        // Found by the API contract check: the URL parser takes `*` in a host name.
        for bad in [
            "https://a3.u1hpo.dev*",
            "https://a*b.example/{s1}",
            "https://x!.example:81/",
        ] {
            assert!(
                matches!(Template::parse(bad), Err(TemplateError::NotHttpUrl(_))),
                "{bad} accepted"
            );
        }
    }

    proptest::proptest! {
        /// Whatever the spelling of its start, an accepted template keeps one origin (scheme,
        /// user info, host, port) for every macro value.
        #[test]
        fn no_macro_value_moves_an_accepted_template_elsewhere(
            scheme in "(https?|HTTPS|Http)",
            slashes in "[/\\\\]{0,3}",
            host in "[a-z.@:0-9]{0,8}",
            rest in "[/?#a-z.{}s1\\\\]{0,12}",
            value in "[a-zA-Z0-9._~-]{0,20}",
        ) {
            let src = format!("{scheme}:{slashes}{host}{rest}");
            if let Ok(t) = Template::parse(&src) {
                let origin = |v: &str| {
                    let u = url::Url::parse(&t.render(&mut Any(v.to_string()))).unwrap();
                    (u.scheme().to_string(), u.username().to_string(), u.password().map(str::to_string),
                     u.host_str().map(str::to_string), u.port())
                };
                proptest::prop_assert_eq!(origin(&value), origin("x"), "{}", src);
            }
        }

        /// Any accepted template renders to an absolute http(s) URL whatever the values.
        #[test]
        fn accepted_templates_render_valid_urls(
            path in "[a-z/{}_.?&=%0-9]{0,40}",
            value in "\\PC{0,30}",
        ) {
            if let Ok(t) = Template::parse(&format!("https://x.example/{path}")) {
                let url = t.render(&mut Any(value));
                proptest::prop_assert!(url::Url::parse(&url).is_ok(), "{}", url);
                proptest::prop_assert!(url.bytes().all(|b| (0x21..=0x7e).contains(&b)));
            }
        }
    }
}
