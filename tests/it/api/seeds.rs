//! The management API: the seed samples.

use serde_json::{Value, json};

use super::*;
use crate::common::*;

#[tokio::test]
async fn get_campaigns_answers_the_seed_sample_exactly() {
    let s = server().await;
    let (method, target) = seed_request("campaigns");
    assert_eq!(method, "GET");
    let ours = ok(&s.get(&target, &[]).await);
    let sample = seed_json("campaigns.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, rebased(sample), "values of the seed's campaign 98001");
    assert_eq!(
        ours["response"]["campaigns"][0]["tracking_link"],
        format!("{BASE}/rd/r.php?sid=98001&aff_id=67890")
    );
    assert_eq!(
        ours["response"]["campaigns"][0]["date_created"],
        "2026-01-15T09:00:00Z"
    );
    s.stop().await;
}

#[tokio::test]
async fn get_creatives_answers_with_the_seed_samples_shape_and_values() {
    let s = server().await;
    let (_, target) = seed_request("creatives");
    let ours = ok(&s.get(&target, &[]).await);
    let sample = seed_json("creatives.response.json");
    // Creative 4422 has no size: width and height are null.
    assert_shape(&ours, &sample, &["width", "height"], "");
    assert_eq!(ids(&ours, "creatives", "creative_id"), [4421, 4422]);
    assert_eq!(ours["creatives"][0], sample["creatives"][0]);
    assert_eq!(
        ours["creatives"][1],
        json!({"creative_id": 4422, "creative_name": "Text Link - Quote",
               "creative_type": "Text Link", "offer_id": 12345, "creative_status": "active",
               "width": null, "height": null})
    );
    s.stop().await;
}

#[tokio::test]
async fn get_landing_pages_answers_the_seed_sample_exactly() {
    let s = server().await;
    let (_, target) = seed_request("landing_pages");
    let ours = ok(&s.get(&target, &[]).await);
    let sample = seed_json("landing_pages.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, sample);
    s.stop().await;
}

#[tokio::test]
async fn get_smart_links_answers_the_seed_sample_exactly() {
    let s = server().await;
    let (_, target) = seed_request("smart_links");
    let ours = ok(&s.get(&target, &[]).await);
    let sample = seed_json("smart_links.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, sample);
    // The tracking URL is a link the server answers.
    let url = ours["response"]["smart_links"][0]["tracking_url"]
        .as_str()
        .unwrap();
    let target = url.strip_prefix(BASE).expect("on the public base URL");
    assert!(
        click(&s, target, &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/apply?click=")
    );
    s.stop().await;
}

/// The four POST samples in order (create campaign 98002, update campaign 98001, create smart
/// link 302, attach offer 1042 to it), as JSON or as form bodies; then each change is in the
/// lists, the next clicks and the catalog file.
async fn seed_posts_answer_the_samples(as_form: bool) {
    let s = server().await;
    let before = jiff::Timestamp::now();

    // Create Campaign.
    let ours = ok(&post_seed(&s, "campaign", as_form).await);
    let sample = seed_json("campaign.response.json");
    assert_shape(&ours, &sample, &[], "");
    let created = ours["campaign"]["date_created"]
        .as_str()
        .expect("date_created")
        .to_string();
    let at = parse_cake_date(&created);
    let after = jiff::Timestamp::now();
    assert!(
        at.as_second() >= before.as_second() && at.as_second() <= after.as_second(),
        "{created} is the time of the request"
    );
    let mut expected = rebased(sample);
    expected["campaign"]["date_created"] = created.clone().into();
    assert_eq!(ours, expected);
    assert_eq!(
        ours["campaign"]["tracking_link"],
        format!("{BASE}/rd/r.php?sid=98002&aff_id=67890")
    );

    // Update Campaign.
    let ours = ok(&post_seed(&s, "update_campaign", as_form).await);
    let sample = seed_json("update_campaign.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, sample);

    // Create Smart Link.
    let ours = ok(&post_seed(&s, "smart_link", as_form).await);
    let sample = seed_json("smart_link.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, sample);

    // Add Offer to Smart Link.
    let ours = ok(&post_seed(&s, "smart_link_offer", as_form).await);
    let sample = seed_json("smart_link_offer.response.json");
    assert_shape(&ours, &sample, &[], "");
    assert_eq!(ours, sample);

    // Every change is in the lists...
    let list = ok(&api_get(&s, "campaigns.json", &[("campaign_id", "98002")]).await);
    let item = &items(&list, "campaigns")[0];
    assert_eq!(
        (
            &item["offer_id"],
            &item["affiliate_id"],
            &item["campaign_status"],
            &item["creative_id"]
        ),
        (&json!(12345), &json!(67890), &json!("active"), &json!(4421))
    );
    assert_eq!(item["sub_affiliate"], Value::Null);
    assert_eq!(
        item["date_created"],
        at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "lists show the creation time in RFC 3339"
    );
    let list = ok(&api_get(&s, "campaigns.json", &[("campaign_id", "98001")]).await);
    let item = &items(&list, "campaigns")[0];
    assert_eq!(item["campaign_status"], "paused");
    assert_eq!(item["creative_id"], 4422);
    let list = ok(&api_get(&s, "smart_links.json", &[("smart_link_id", "302")]).await);
    assert_eq!(
        items(&list, "smart_links")[0],
        json!({"smart_link_id": 302, "smart_link_name": "Finance Rotator - US",
               "affiliate_id": 67890, "smart_link_status": "active",
               "tracking_url": format!("{BASE}/sl?id=302&aff_id=67890"),
               "fallback_url": "https://yourdomain.com/no-offer", "offer_count": 1})
    );
    // ... in the next clicks ...
    assert!(
        click(&s, "/sl?id=302&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/apply?click=")
    );
    assert!(
        click(&s, "/rd/r.php?sid=98002&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://safedrive.example.com/quote?click=")
    );
    assert!(
        click(&s, "/rd/r.php?sid=98001&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://default.example/"),
        "a paused campaign sends its clicks to the default fallback"
    );
    // ... and in the catalog file.
    let c = disk_entity(&s, "campaigns", "campaign_id", 98002).expect("98002 saved");
    assert_eq!(
        (&c["offer_id"], &c["creative_id"]),
        (&json!(12345), &json!(4421))
    );
    assert_eq!(
        c["date_created"]
            .as_str()
            .map(|d| d.parse::<jiff::Timestamp>().ok()),
        Some(Some(at)),
        "the file holds the creation time"
    );
    let c = disk_entity(&s, "campaigns", "campaign_id", 98001).unwrap();
    assert_eq!(
        (&c["campaign_status"], &c["creative_id"]),
        (&json!("paused"), &json!(4422))
    );
    let l = disk_entity(&s, "smart_links", "smart_link_id", 302).expect("302 saved");
    assert_eq!(
        l["offers"],
        json!([{"offer_id": 1042, "offer_weight": 60, "priority": 1}])
    );
    s.stop().await;
}

#[tokio::test]
async fn seed_post_samples_as_json_bodies_answer_the_seed_samples() {
    seed_posts_answer_the_samples(false).await;
}

#[tokio::test]
async fn seed_post_samples_as_form_bodies_answer_the_seed_samples() {
    seed_posts_answer_the_samples(true).await;
}

#[tokio::test]
async fn campaign_tracking_links_follow_their_display_link_type() {
    let s = server().await;
    let list = ok(&api_get(
        &s,
        "campaigns.json",
        &[
            ("offer_id", "1042"),
            ("affiliate_id", "67891"),
            ("row_limit", "1"),
        ],
    )
    .await);
    let token = smartlink::links::encode_token(97002, 67891);
    assert_eq!(
        items(&list, "campaigns")[0]["tracking_link"],
        format!("{BASE}/rd/{token}"),
        "type 2: the encoded link"
    );
    assert!(
        click(&s, &format!("/rd/{token}"), &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/lp?click="),
        "the encoded link goes to the campaign's landing page"
    );
    let list = ok(&api_get(&s, "campaigns.json", &[("campaign_id", "97003")]).await);
    assert_eq!(
        items(&list, "campaigns")[0]["tracking_link"],
        format!("{VANITY}/rd/r.php?sid=97003&aff_id=67892"),
        "type 3: the vanity base URL"
    );
    // Created with type 2: the encoded link, from the create answer on.
    let r = ok(&api_post(
        &s,
        "campaign.json",
        json!({"offer_id": 1042, "affiliate_id": 67892, "display_link_type_id": 2}),
    )
    .await);
    let token = smartlink::links::encode_token(98002, 67892);
    assert_eq!(r["campaign"]["tracking_link"], format!("{BASE}/rd/{token}"));
    assert!(
        click(&s, &format!("/rd/{token}"), &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/apply?click=")
    );
    s.stop().await;
}

#[tokio::test]
async fn list_dates_are_rfc3339_utc_whatever_form_the_catalog_holds() {
    let s = server().await;
    for (id, want) in [
        ("98001", "2026-01-15T09:00:00Z"),
        ("97001", "2026-02-01T12:30:00Z"),
        ("97003", "2026-04-01T00:00:00Z"),
    ] {
        let list = ok(&api_get(&s, "campaigns.json", &[("campaign_id", id)]).await);
        assert_eq!(items(&list, "campaigns")[0]["date_created"], want, "{id}");
    }
    s.stop().await;
}
