//! The management API: filters and pages.

use serde_json::Value;

use super::*;
use crate::common::*;

/// The ids of the entities of `list` in the catalog whose fields equal every filter, in
/// catalog order: what a list call must answer.
pub fn expected_ids(list: &str, key: &str, filters: &[(&str, &str)]) -> Vec<u64> {
    let n: Value = serde_json::from_str(&seed_network()).unwrap();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    n[list]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| filters.iter().all(|(k, v)| text(&x[*k]) == *v))
        .map(|x| x[key].as_u64().unwrap())
        .collect()
}

/// Query parameters.
pub type Params<'a> = &'a [(&'a str, &'a str)];

/// A list call: its name, the list in the answer and in the catalog, the id key, and the
/// `row_limit` that shows every row (`None`: the call has no pages).
struct List(
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

const CAMPAIGNS: List = List("campaigns.json", "campaigns", "campaign_id", Some("5000"));
const CREATIVES: List = List("creatives.json", "creatives", "creative_id", None);
const PAGES: List = List(
    "landing_pages.json",
    "landing_pages",
    "landing_page_id",
    None,
);
const LINKS: List = List(
    "smart_links.json",
    "smart_links",
    "smart_link_id",
    Some("500"),
);
const OFFERS: List = List("offers.json", "offers", "offer_id", Some("5000"));
const AFFILIATES: List = List(
    "affiliates.json",
    "affiliates",
    "affiliate_id",
    Some("5000"),
);

#[tokio::test]
async fn every_filter_of_every_list_call_selects_the_matching_entities() {
    let s = server().await;
    #[rustfmt::skip]
    let cases: &[(List, Params)] = &[
        (CAMPAIGNS, &[]),
        (CAMPAIGNS, &[("campaign_id", "98001")]),
        (CAMPAIGNS, &[("campaign_id", "90007")]),
        (CAMPAIGNS, &[("campaign_id", "5")]),
        (CAMPAIGNS, &[("offer_id", "12345")]),
        (CAMPAIGNS, &[("offer_id", "1042")]),
        (CAMPAIGNS, &[("affiliate_id", "67892")]),
        (CAMPAIGNS, &[("campaign_status", "active")]),
        (CAMPAIGNS, &[("campaign_status", "paused")]),
        (CAMPAIGNS, &[("campaign_status", "deleted")]),
        (CAMPAIGNS, &[("offer_id", "1043"), ("affiliate_id", "67891"), ("campaign_status", "active")]),
        (CREATIVES, &[]),
        (CREATIVES, &[("creative_id", "4423")]),
        (CREATIVES, &[("creative_id", "9")]),
        (CREATIVES, &[("offer_id", "1042")]),
        (CREATIVES, &[("creative_type_id", "1")]),
        (CREATIVES, &[("creative_type_id", "4")]),
        (CREATIVES, &[("creative_status", "paused")]),
        (CREATIVES, &[("creative_status", "deleted")]),
        (CREATIVES, &[("offer_id", "1042"), ("creative_type_id", "1")]),
        (PAGES, &[]),
        (PAGES, &[("landing_page_id", "883")]),
        (PAGES, &[("offer_id", "12345")]),
        (PAGES, &[("offer_id", "2001")]),
        (PAGES, &[("landing_page_status", "paused")]),
        (LINKS, &[]),
        (LINKS, &[("smart_link_id", "205")]),
        (LINKS, &[("smart_link_id", "999")]),
        (LINKS, &[("affiliate_id", "67890")]),
        (LINKS, &[("affiliate_id", "67892")]),
        (LINKS, &[("smart_link_status", "inactive")]),
        (LINKS, &[("affiliate_id", "67891"), ("smart_link_status", "active")]),
        (OFFERS, &[]),
        (OFFERS, &[("offer_id", "1043")]),
        (OFFERS, &[("offer_status", "active")]),
        (OFFERS, &[("offer_status", "paused")]),
        (OFFERS, &[("offer_status", "deleted")]),
        (AFFILIATES, &[]),
        (AFFILIATES, &[("affiliate_id", "67891")]),
        (AFFILIATES, &[("affiliate_id", "1")]),
    ];
    for (List(call, list, key, all_rows), filters) in cases {
        let want = expected_ids(list, key, filters);
        let mut params = filters.to_vec();
        if let Some(rows) = all_rows {
            params.push(("row_limit", rows));
        }
        let v = ok(&api_get(&s, call, &params).await);
        assert_eq!(ids(&v, list, key), want, "{call} {filters:?}");
        if all_rows.is_some() {
            assert_eq!(
                v["response"]["total_rows"],
                want.len(),
                "{call} {filters:?}: total_rows"
            );
        }
    }
    // The oracle is not empty-handed: only the six filters on purpose select nothing.
    let empty = cases
        .iter()
        .filter(|(List(_, list, key, _), filters)| expected_ids(list, key, filters).is_empty())
        .count();
    assert_eq!(empty, 6);
    s.stop().await;
}

#[tokio::test]
async fn campaign_pages_count_rows_from_one_with_100_rows_by_default() {
    let s = server().await;
    let all = expected_ids("campaigns", "campaign_id", &[]);
    let total = all.len();
    assert!(total > 100);
    let page = async |params: &[(&str, &str)]| {
        let v = ok(&api_get(&s, "campaigns.json", params).await);
        assert_eq!(v["response"]["total_rows"], total, "{params:?}: total_rows");
        ids(&v, "campaigns", "campaign_id")
    };
    assert_eq!(page(&[]).await, all[..100], "default: rows 1..=100");
    assert_eq!(page(&[("start_at_row", "1")]).await, all[..100]);
    assert_eq!(page(&[("row_limit", "10")]).await, all[..10]);
    assert_eq!(
        page(&[("start_at_row", "2"), ("row_limit", "3")]).await,
        all[1..4],
        "row 2 is the second campaign"
    );
    assert_eq!(
        page(&[("start_at_row", "101")]).await,
        all[100..],
        "the last page"
    );
    assert_eq!(page(&[("row_limit", "5000")]).await, all);
    assert!(
        page(&[("start_at_row", &(total + 1).to_string())])
            .await
            .is_empty(),
        "past the end: no rows, total_rows still counted"
    );
    // total_rows counts every match of the filters, not the page.
    let matching = expected_ids("campaigns", "campaign_id", &[("affiliate_id", "67891")]);
    let v = ok(&api_get(
        &s,
        "campaigns.json",
        &[
            ("affiliate_id", "67891"),
            ("start_at_row", "3"),
            ("row_limit", "4"),
        ],
    )
    .await);
    assert_eq!(ids(&v, "campaigns", "campaign_id"), matching[2..6]);
    assert_eq!(v["response"]["total_rows"], matching.len());
    s.stop().await;
}

#[tokio::test]
async fn smart_link_pages_count_rows_from_zero_with_100_rows_by_default() {
    let s = server().await;
    let all = expected_ids("smart_links", "smart_link_id", &[]);
    let total = all.len();
    assert!(total > 100);
    let page = async |params: &[(&str, &str)]| {
        let v = ok(&api_get(&s, "smart_links.json", params).await);
        assert_eq!(v["response"]["total_rows"], total, "{params:?}: total_rows");
        ids(&v, "smart_links", "smart_link_id")
    };
    assert_eq!(page(&[]).await, all[..100], "default: rows 0..100");
    assert_eq!(page(&[("start_at_row", "0")]).await, all[..100]);
    assert_eq!(
        page(&[("start_at_row", "1"), ("row_limit", "3")]).await,
        all[1..4],
        "row 1 is the second smart link"
    );
    assert_eq!(page(&[("start_at_row", "100")]).await, all[100..]);
    assert_eq!(page(&[("row_limit", "500")]).await, all);
    assert!(
        page(&[("start_at_row", &total.to_string())])
            .await
            .is_empty()
    );
    let matching = expected_ids(
        "smart_links",
        "smart_link_id",
        &[("smart_link_status", "inactive")],
    );
    let v = ok(&api_get(
        &s,
        "smart_links.json",
        &[
            ("smart_link_status", "inactive"),
            ("start_at_row", "2"),
            ("row_limit", "5"),
        ],
    )
    .await);
    assert_eq!(ids(&v, "smart_links", "smart_link_id"), matching[2..7]);
    assert_eq!(v["response"]["total_rows"], matching.len());
    s.stop().await;
}

#[tokio::test]
async fn offer_and_affiliate_pages_count_rows_from_one() {
    let s = server().await;
    let offers = expected_ids("offers", "offer_id", &[]);
    let v = ok(&api_get(
        &s,
        "offers.json",
        &[("start_at_row", "2"), ("row_limit", "2")],
    )
    .await);
    assert_eq!(ids(&v, "offers", "offer_id"), offers[1..3]);
    assert_eq!(v["response"]["total_rows"], offers.len());
    let v = ok(&api_get(&s, "affiliates.json", &[("start_at_row", "3")]).await);
    assert_eq!(ids(&v, "affiliates", "affiliate_id"), [67892]);
    assert_eq!(v["response"]["total_rows"], 3);
    s.stop().await;
}

#[tokio::test]
async fn out_of_range_paging_is_400_naming_the_parameter_not_clamped() {
    let s = server().await;
    for (call, param, value) in [
        ("campaigns.json", "start_at_row", "0"),
        ("campaigns.json", "start_at_row", "-1"),
        ("campaigns.json", "row_limit", "0"),
        ("campaigns.json", "row_limit", "-5"),
        ("campaigns.json", "row_limit", "5001"),
        ("campaigns.json", "row_limit", "99999999999999999999"),
        ("campaigns.json", "start_at_row", "first"),
        ("smart_links.json", "start_at_row", "-1"),
        ("smart_links.json", "row_limit", "0"),
        ("smart_links.json", "row_limit", "501"),
        ("smart_links.json", "row_limit", "5000"),
        ("smart_links.json", "row_limit", "1.5"),
        ("offers.json", "start_at_row", "0"),
        ("offers.json", "row_limit", "5001"),
        ("affiliates.json", "row_limit", "0"),
    ] {
        let r = api_get(&s, call, &[(param, value)]).await;
        let v = failure(&r, 400, Some(param));
        assert_eq!(fields(&v).len(), 1, "{call} {param}={value}: {v}");
    }
    // The limits themselves are accepted.
    for (call, param, value) in [
        ("campaigns.json", "start_at_row", "1"),
        ("campaigns.json", "row_limit", "5000"),
        ("campaigns.json", "row_limit", "1"),
        ("smart_links.json", "start_at_row", "0"),
        ("smart_links.json", "row_limit", "500"),
        ("smart_links.json", "row_limit", "1"),
    ] {
        ok(&api_get(&s, call, &[(param, value)]).await);
    }
    s.stop().await;
}
