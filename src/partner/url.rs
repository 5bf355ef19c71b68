//! The URL of one partner postback: the postback URL template of the click's campaign or
//! smart link, else of its affiliate, rendered with the conversion's values when the
//! conversion is recorded (docs/api.md#partner-postbacks).
//!
//! A conversion knows what its click id carries (the smart link or campaign, the affiliate,
//! the offer, the click's time, the affiliate's own click id: `{transaction_id}`) and what its
//! postback said; it does not know the click's other sub ids, country, device or OS, which
//! live only in the click log of the node that took the click: those macros render empty
//! (documented).

use crate::catalog::ValidCatalog;
use crate::click_id::ClickSigner;
use crate::conversions::Conversion;
use crate::template::{Macro, MacroValues, PostbackMacro, push_encoded, push_number};
use crate::vocab::{Source, SourceKind};

/// The conversion id of `c`: 24 hex digits unique to its click (a click converts once), the
/// same on every attempt: the receiver's idempotency key.
pub fn conversion_id(c: &Conversion) -> String {
    let [a, b, d] = c.key();
    format!("{a:08x}{b:08x}{d:08x}")
}

/// The partner postback URL a conversion `c` fires, or `None` when its click's campaign,
/// smart link and affiliate have none.
pub fn render(catalog: &ValidCatalog, c: &Conversion) -> Option<String> {
    let template = catalog
        .parsed
        .postback_urls
        .of(c.source(), c.claims.affiliate_id)?;
    let mut values = Values {
        source: c.source(),
        affiliate_id: c.claims.affiliate_id,
        offer_id: c.claims.offer_id,
        offer_name: offer_name(catalog, c.claims.offer_id),
        conversion: Some(c),
    };
    Some(template.render(&mut values))
}

/// What a conversion of a click from `source` of `affiliate_id` on `offer_id` would fire,
/// with the values only a conversion has left as `{macro}` (`smartlink route`).
pub fn preview(
    catalog: &ValidCatalog,
    source: Source,
    affiliate_id: u32,
    offer_id: Option<u32>,
) -> Option<String> {
    let template = catalog.parsed.postback_urls.of(source, affiliate_id)?;
    let mut values = Values {
        source,
        affiliate_id,
        offer_id,
        offer_name: offer_name(catalog, offer_id),
        conversion: None,
    };
    Some(template.render(&mut values))
}

fn offer_name(catalog: &ValidCatalog, offer_id: Option<u32>) -> Option<&str> {
    let id = offer_id?;
    catalog
        .offers
        .iter()
        .find(|o| o.offer_id == id)
        .map(|o| o.offer_name.as_str())
}

struct Values<'a> {
    source: Source,
    affiliate_id: u32,
    offer_id: Option<u32>,
    offer_name: Option<&'a str>,
    /// `None` for a preview.
    conversion: Option<&'a Conversion>,
}

impl MacroValues for Values<'_> {
    fn write_value(&mut self, m: Macro, out: &mut String) {
        match m {
            Macro::SmartLinkId if self.source.kind == SourceKind::SmartLink => {
                push_number(out, self.source.id)
            }
            Macro::CampaignId if self.source.kind == SourceKind::Campaign => {
                push_number(out, self.source.id)
            }
            Macro::AffiliateId => push_number(out, self.affiliate_id),
            Macro::OfferId => {
                if let Some(id) = self.offer_id {
                    push_number(out, id)
                }
            }
            Macro::Postback(PostbackMacro::OfferName) => {
                if let Some(name) = self.offer_name {
                    push_encoded(out, name)
                }
            }
            // Not known to a conversion (see the module's doc).
            Macro::SmartLinkId
            | Macro::CampaignId
            | Macro::Sub(_)
            | Macro::Country
            | Macro::Device
            | Macro::Os => {}
            Macro::ClickId | Macro::Postback(_) => match self.conversion {
                Some(c) => conversion_value(c, m, out),
                None => {
                    out.push('{');
                    out.push_str(name(m));
                    out.push('}');
                }
            },
        }
    }
}

fn conversion_value(c: &Conversion, m: Macro, out: &mut String) {
    match m {
        // base64url and `.`: only unreserved characters.
        Macro::ClickId => out.push_str(&c.click_id),
        Macro::Postback(PostbackMacro::TransactionId) => {
            if let Some(t) = ClickSigner::transaction_id(&c.click_id) {
                push_encoded(out, &t)
            }
        }
        Macro::Postback(PostbackMacro::ConversionId) => out.push_str(&conversion_id(c)),
        // What the network pays the affiliate for it (docs/routing.md#affiliate-payouts).
        Macro::Postback(PostbackMacro::Payout) => out.push_str(&c.cost.to_string()),
        Macro::Postback(PostbackMacro::Amount) => {
            if let Some(a) = &c.amount {
                out.push_str(a.as_str())
            }
        }
        Macro::Postback(PostbackMacro::ConversionTime) => {
            out.push_str(itoa::Buffer::new().format(c.time_secs()))
        }
        _ => {}
    }
}

/// The name of a macro a preview leaves in place.
fn name(m: Macro) -> &'static str {
    match m {
        Macro::ClickId => "click_id",
        Macro::Postback(PostbackMacro::ConversionId) => "conversion_id",
        Macro::Postback(PostbackMacro::TransactionId) => "transaction_id",
        Macro::Postback(PostbackMacro::Payout) => "payout",
        Macro::Postback(PostbackMacro::Amount) => "amount",
        Macro::Postback(PostbackMacro::ConversionTime) => "conversion_time",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, validate};
    use crate::conversions::Amount;

    fn catalog(affiliate_url: &str, link_url: Option<&str>) -> ValidCatalog {
        let mut c: Catalog = serde_json::from_str(
            r#"{"affiliates":[{"affiliate_id":1,"affiliate_name":"a"}],
                "offers":[{"offer_id":7,"offer_name":"Big & Co","offer_status":"active","offer_url":"https://o.example/"}],
                "smart_links":[{"smart_link_id":3,"smart_link_name":"l","affiliate_id":1,"smart_link_status":"active"}]}"#,
        )
        .unwrap();
        c.affiliates[0].postback_url = Some(affiliate_url.into());
        c.smart_links[0].postback_url = link_url.map(Into::into);
        validate::validate(c).unwrap()
    }

    #[test]
    fn renders_the_conversion_and_prefers_the_link_s_own_url() {
        let mut c = Conversion::sample(1_795_860_000, 1_795_867_200_123);
        c.amount = Some(Amount::parse("12.50").unwrap());
        let url = "https://t.example/pb?cid={conversion_id}&c={click_id}&o={offer_id}&n={offer_name}&a={amount}&p={payout}&t={conversion_time}&s={s1}&x={transaction_id}";
        let rendered = render(&catalog(url, None), &c).unwrap();
        assert_eq!(
            rendered,
            format!(
                "https://t.example/pb?cid={}&c={}&o=7&n=Big%20%26%20Co&a=12.50&p=0.00&t=1795867200&s=&x=",
                conversion_id(&c),
                c.click_id
            )
        );
        assert_eq!(conversion_id(&c).len(), 24);
        let own = render(
            &catalog(url, Some("https://own.example/?l={smart_link_id}")),
            &c,
        );
        assert_eq!(own.as_deref(), Some("https://own.example/?l=3"));
        let shown = preview(&catalog(url, None), c.source(), 1, Some(7)).unwrap();
        assert!(
            shown.starts_with("https://t.example/pb?cid={conversion_id}&c={click_id}&o=7&"),
            "{shown}"
        );
    }

    #[test]
    fn payout_is_the_conversion_s_affiliate_payout() {
        let mut c = Conversion::sample(1_795_860_000, 1_795_867_200_123);
        c.cost = crate::money::Money::parse("3.5").unwrap();
        let rendered = render(&catalog("https://t.example/pb?p={payout}", None), &c);
        assert_eq!(rendered.as_deref(), Some("https://t.example/pb?p=3.50"));
    }

    #[test]
    fn the_transaction_id_is_the_one_the_click_id_carries_encoded() {
        let url = "https://t.example/pb?tid={transaction_id}&s={s2}";
        let mut c = Conversion::sample(1_795_860_000, 1_795_867_200_123);
        let catalog = catalog(url, None);
        assert_eq!(
            render(&catalog, &c).as_deref(),
            Some("https://t.example/pb?tid=&s=")
        );
        c.click_id = ClickSigner::new(b"0123456789abcdef")
            .issue_carrying(&c.claims, Some("abc-123_XYZ é&x=1"))
            .as_str()
            .into();
        assert_eq!(
            render(&catalog, &c).as_deref(),
            Some("https://t.example/pb?tid=abc-123_XYZ%20%C3%A9%26x%3D1&s=")
        );
        let shown = preview(&catalog, c.source(), 1, Some(7)).unwrap();
        assert_eq!(shown, "https://t.example/pb?tid={transaction_id}&s=");
    }

    proptest::proptest! {
        /// Whatever the values of a conversion (amount, offer name), its delivery URL keeps
        /// the origin of its template.
        #[test]
        fn a_delivery_url_never_leaves_its_origin(
            name in "\\PC{0,40}",
            amount in proptest::option::of("[0-9]{1,12}(\\.[0-9]{1,6})?"),
            path in "[a-z/?#&=]{0,10}",
        ) {
            let template = format!("https://t.example:8443/{path}{{offer_name}}{{amount}}{{conversion_id}}{{click_id}}");
            let mut catalog = catalog(&template, None);
            let mut raw = (*catalog).clone();
            raw.offers[0].offer_name = name;
            catalog = validate::validate(raw).unwrap_or(catalog);
            let mut c = Conversion::sample(1_795_860_000, 1_795_867_200_123);
            c.amount = amount.map(|a| Amount::parse(&a).unwrap());
            let url = url::Url::parse(&render(&catalog, &c).unwrap()).unwrap();
            proptest::prop_assert_eq!(url.scheme(), "https");
            proptest::prop_assert_eq!(url.host_str(), Some("t.example"));
            proptest::prop_assert_eq!(url.port(), Some(8443));
            proptest::prop_assert_eq!(url.username(), "");
        }
    }
}
