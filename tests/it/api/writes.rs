//! The management API: the calls beyond the seeds.

use http::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::common::*;

#[tokio::test]
async fn offer_json_creates_an_offer_that_the_next_click_reaches() {
    let s = server().await;
    let r = ok(&api_post(
        &s,
        "offer.json",
        json!({"offer_name": "Home Warranty", "offer_url": "https://warranty.example.com/?c={click_id}",
               "allowed_countries": ["US"], "allowed_devices": ["desktop"],
               "daily_clicks": 500, "total_conversions": null}),
    )
    .await);
    let offer = json!({"offer_id": 12346, "offer_name": "Home Warranty", "offer_status": "active",
        "offer_url": "https://warranty.example.com/?c={click_id}",
        "allowed_countries": ["US"], "allowed_devices": ["desktop"],
        "caps": {"daily_clicks": 500, "daily_conversions": null, "weekly_conversions": null,
                 "monthly_conversions": null, "total_conversions": null},
        "postback_token": null, "payout": "0.00", "affiliate_payout": "0.00", "landing_page_rotation": false,
        "health_check": true, "health_check_url": null});
    assert_eq!(r, json!({"request_status": "Success", "offer": offer}));
    let list = ok(&api_get(&s, "offers.json", &[("offer_id", "12346")]).await);
    assert_eq!(items(&list, "offers"), [offer]);
    let saved = disk_entity(&s, "offers", "offer_id", 12346).expect("saved");
    assert_eq!(saved["caps"]["daily_clicks"], 500);
    assert_eq!(saved["allowed_countries"], json!(["US"]));

    // A form body: lists are comma-separated.
    let r = ok(&api_post_form(
        &s,
        "offer.json",
        &[
            ("offer_name", "Solar Quotes"),
            ("offer_url", "https://solar.example.com/"),
            ("offer_status", "paused"),
            ("allowed_countries", "US,CA"),
            ("allowed_devices", "mobile,tablet"),
            ("daily_conversions", "10"),
        ],
    )
    .await);
    assert_eq!(r["offer"]["offer_id"], 12347);
    assert_eq!(r["offer"]["offer_status"], "paused");
    assert_eq!(r["offer"]["allowed_countries"], json!(["US", "CA"]));
    assert_eq!(r["offer"]["allowed_devices"], json!(["mobile", "tablet"]));
    assert_eq!(r["offer"]["caps"]["daily_conversions"], 10);

    // Attached to a new smart link, the new offer takes the very next click.
    let link = ok(&api_post(
        &s,
        "smart_link.json",
        json!({"affiliate_id": 67892, "smart_link_name": "Warranty",
               "fallback_url": "https://fallback.example/w"}),
    )
    .await);
    assert_eq!(link["response"]["smart_link_id"], 302);
    ok(&api_post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 302, "offer_id": 12346}),
    )
    .await);
    assert!(
        click(&s, "/sl?id=302", &[DESKTOP, US])
            .await
            .starts_with("https://warranty.example.com/?c=")
    );
    assert_eq!(
        click(&s, "/sl?id=302", &[DESKTOP, GB]).await,
        "https://fallback.example/w",
        "the offer's countries hold"
    );
    assert_eq!(
        click(&s, "/sl?id=302", &[MOBILE, US]).await,
        "https://fallback.example/w",
        "the offer's devices hold"
    );
    s.stop().await;
}

#[tokio::test]
async fn update_offer_sets_and_clears_caps_and_the_next_click_obeys() {
    let s = server().await;
    let to_offer = "https://score.example.com/?clk=";
    let fallback = "https://fallback.example/cap?l=205";
    let r = ok(&api_post_form(
        &s,
        "update_offer.json",
        &[("offer_id", "1043"), ("daily_clicks", "2")],
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "offer": {"offer_id": 1043, "daily_clicks": 2}})
    );
    let caps = |v: &Value| items(v, "offers")[0]["caps"].clone();
    let list = ok(&api_get(&s, "offers.json", &[("offer_id", "1043")]).await);
    assert_eq!(
        caps(&list),
        json!({"daily_clicks": 2, "daily_conversions": 100, "weekly_conversions": null,
               "monthly_conversions": null, "total_conversions": null}),
        "the other caps keep their values"
    );
    let saved = disk_entity(&s, "offers", "offer_id", 1043).unwrap();
    assert_eq!(saved["caps"]["daily_clicks"], 2);
    assert_eq!(saved["caps"]["daily_conversions"], 100);

    assert!(
        click(&s, "/sl?id=205", &[DESKTOP, US])
            .await
            .starts_with(to_offer)
    );
    assert!(
        click(&s, "/sl?id=205", &[DESKTOP, US])
            .await
            .starts_with(to_offer)
    );
    assert_eq!(
        click(&s, "/sl?id=205", &[DESKTOP, US]).await,
        fallback,
        "the third click of the day is over the cap"
    );

    // null clears the cap (JSON)...
    let r = ok(&api_post(
        &s,
        "update_offer.json",
        json!({"offer_id": 1043, "daily_clicks": null}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "offer": {"offer_id": 1043, "daily_clicks": null}})
    );
    assert!(
        click(&s, "/sl?id=205", &[DESKTOP, US])
            .await
            .starts_with(to_offer)
    );
    let list = ok(&api_get(&s, "offers.json", &[("offer_id", "1043")]).await);
    assert_eq!(caps(&list)["daily_clicks"], Value::Null);
    assert_eq!(caps(&list)["daily_conversions"], 100);
    let saved = disk_entity(&s, "offers", "offer_id", 1043).unwrap();
    assert_eq!(saved["caps"]["daily_clicks"], Value::Null);

    // ... and so does an empty form value.
    ok(&api_post_form(
        &s,
        "update_offer.json",
        &[("offer_id", "1043"), ("daily_conversions", "")],
    )
    .await);
    let list = ok(&api_get(&s, "offers.json", &[("offer_id", "1043")]).await);
    assert_eq!(caps(&list)["daily_conversions"], Value::Null);

    // Other fields: a new URL is the next click's, a paused offer takes no click.
    ok(&api_post(
        &s,
        "update_offer.json",
        json!({"offer_id": 1043, "offer_url": "https://score2.example.com/?c={click_id}",
               "offer_name": "Credit Score Check v2"}),
    )
    .await);
    assert!(
        click(&s, "/sl?id=205", &[DESKTOP, US])
            .await
            .starts_with("https://score2.example.com/?c=")
    );
    let r = ok(&api_post(
        &s,
        "update_offer.json",
        json!({"offer_id": 1043, "offer_status": "paused"}),
    )
    .await);
    assert_eq!(
        r["offer"],
        json!({"offer_id": 1043, "offer_status": "paused"})
    );
    assert_eq!(click(&s, "/sl?id=205", &[DESKTOP, US]).await, fallback);
    let list = ok(&api_get(&s, "offers.json", &[("offer_id", "1043")]).await);
    let item = &items(&list, "offers")[0];
    assert_eq!(
        (&item["offer_name"], &item["offer_status"]),
        (&json!("Credit Score Check v2"), &json!("paused"))
    );
    assert_eq!(
        disk_entity(&s, "offers", "offer_id", 1043).unwrap()["offer_status"],
        "paused"
    );
    s.stop().await;
}

#[tokio::test]
async fn landing_page_calls_create_and_update_the_pages_campaign_clicks_go_to() {
    let s = server().await;
    let r = ok(&api_post(
        &s,
        "landing_page.json",
        json!({"offer_id": 12345, "landing_page_name": "Spring LP",
               "url": "https://safedrive.example.com/spring?c={click_id}"}),
    )
    .await);
    let page = json!({"landing_page_id": 884, "landing_page_name": "Spring LP", "offer_id": 12345,
        "url": "https://safedrive.example.com/spring?c={click_id}", "landing_page_status": "active"});
    assert_eq!(
        r,
        json!({"request_status": "Success", "landing_page": page})
    );
    assert_shape(
        &r["landing_page"],
        &seed_json("landing_pages.response.json")["landing_pages"][0],
        &[],
        "landing_page",
    );
    let list = ok(&api_get(&s, "landing_pages.json", &[("landing_page_id", "884")]).await);
    assert_eq!(items(&list, "landing_pages"), std::slice::from_ref(&page));
    assert_eq!(
        disk_entity(&s, "landing_pages", "landing_page_id", 884),
        Some(page)
    );

    let r = ok(&api_post(
        &s,
        "update_campaign.json",
        json!({"campaign_id": 98001, "landing_page_id": 884}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "campaign": {"campaign_id": 98001, "landing_page_id": 884}})
    );
    assert!(
        click(&s, "/rd/r.php?sid=98001&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://safedrive.example.com/spring?c=")
    );

    let r = ok(&api_post_form(
        &s,
        "update_landing_page.json",
        &[
            ("landing_page_id", "884"),
            ("landing_page_name", "Summer LP"),
            ("url", "https://safedrive.example.com/summer?c={click_id}"),
        ],
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "landing_page": {"landing_page_id": 884,
               "landing_page_name": "Summer LP",
               "url": "https://safedrive.example.com/summer?c={click_id}"}})
    );
    assert!(
        click(&s, "/rd/r.php?sid=98001&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://safedrive.example.com/summer?c=")
    );
    let r = ok(&api_post(
        &s,
        "update_landing_page.json",
        json!({"landing_page_id": 884, "landing_page_status": "paused"}),
    )
    .await);
    assert_eq!(
        r["landing_page"],
        json!({"landing_page_id": 884, "landing_page_status": "paused"})
    );
    let list = ok(&api_get(
        &s,
        "landing_pages.json",
        &[("landing_page_status", "paused")],
    )
    .await);
    assert_eq!(ids(&list, "landing_pages", "landing_page_id"), [882, 884]);
    let saved = disk_entity(&s, "landing_pages", "landing_page_id", 884).unwrap();
    assert_eq!(
        saved["url"],
        "https://safedrive.example.com/summer?c={click_id}"
    );
    assert_eq!(saved["landing_page_name"], "Summer LP");
    assert_eq!(saved["landing_page_status"], "paused");

    // Clearing the campaign's landing page sends its clicks to the offer again.
    ok(&api_post(
        &s,
        "update_campaign.json",
        json!({"campaign_id": 98001, "landing_page_id": null}),
    )
    .await);
    assert!(
        click(&s, "/rd/r.php?sid=98001&aff_id=67890", &[DESKTOP, US])
            .await
            .starts_with("https://safedrive.example.com/quote?click=")
    );
    assert_eq!(
        disk_entity(&s, "campaigns", "campaign_id", 98001).unwrap()["landing_page_id"],
        Value::Null
    );
    s.stop().await;
}

#[tokio::test]
async fn creative_calls_create_and_update_creatives() {
    let s = server().await;
    let r = ok(&api_post(
        &s,
        "creative.json",
        json!({"offer_id": 12345, "creative_name": "Email - Quote", "creative_type_id": 3}),
    )
    .await);
    let creative = json!({"creative_id": 4425, "creative_name": "Email - Quote",
        "creative_type": "Email", "offer_id": 12345, "creative_status": "active",
        "width": null, "height": null});
    assert_eq!(
        r,
        json!({"request_status": "Success", "creative": creative})
    );
    assert_shape(
        &r["creative"],
        &seed_json("creatives.response.json")["creatives"][0],
        &["width", "height"],
        "creative",
    );
    let list = ok(&api_get(&s, "creatives.json", &[("creative_type_id", "3")]).await);
    assert_eq!(ids(&list, "creatives", "creative_id"), [4423, 4425]);
    assert_eq!(
        disk_entity(&s, "creatives", "creative_id", 4425).unwrap()["creative_type_id"],
        3
    );

    let r = ok(&api_post_form(
        &s,
        "update_creative.json",
        &[
            ("creative_id", "4425"),
            ("creative_type_id", "1"),
            ("width", "728"),
            ("height", "90"),
            ("creative_status", "paused"),
        ],
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "creative": {"creative_id": 4425,
               "creative_type_id": 1, "creative_status": "paused", "width": 728, "height": 90}})
    );
    let list = ok(&api_get(&s, "creatives.json", &[("creative_id", "4425")]).await);
    assert_eq!(
        items(&list, "creatives")[0],
        json!({"creative_id": 4425, "creative_name": "Email - Quote", "creative_type": "Banner",
               "offer_id": 12345, "creative_status": "paused", "width": 728, "height": 90})
    );
    let r = ok(&api_post(
        &s,
        "update_creative.json",
        json!({"creative_id": 4425, "width": null, "height": null}),
    )
    .await);
    assert_eq!(r["creative"]["width"], Value::Null);
    let list = ok(&api_get(&s, "creatives.json", &[("creative_id", "4425")]).await);
    assert_eq!(items(&list, "creatives")[0]["width"], Value::Null);
    assert_eq!(items(&list, "creatives")[0]["height"], Value::Null);
    let saved = disk_entity(&s, "creatives", "creative_id", 4425).unwrap();
    assert_eq!(
        (&saved["width"], &saved["height"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(saved["creative_status"], "paused");

    // A campaign takes a creative of its own offer.
    ok(&api_post(
        &s,
        "update_campaign.json",
        json!({"campaign_id": 98001, "creative_id": 4422}),
    )
    .await);
    let list = ok(&api_get(&s, "campaigns.json", &[("campaign_id", "98001")]).await);
    assert_eq!(items(&list, "campaigns")[0]["creative_id"], 4422);
    s.stop().await;
}

#[tokio::test]
async fn affiliate_calls_create_and_rename_affiliates() {
    let s = server().await;
    let r = ok(&api_post_form(&s, "affiliate.json", &[("affiliate_name", "Bluewave Ads")]).await);
    assert_eq!(
        r,
        json!({"request_status": "Success",
               "affiliate": {"affiliate_id": 67893, "affiliate_name": "Bluewave Ads"}})
    );
    let list = ok(&api_get(&s, "affiliates.json", &[("affiliate_id", "67893")]).await);
    assert_eq!(
        list,
        json!({"request_status": "Success", "response": {
            "affiliates": [{"affiliate_id": 67893, "affiliate_name": "Bluewave Ads"}],
            "total_rows": 1}})
    );
    assert_eq!(
        disk_entity(&s, "affiliates", "affiliate_id", 67893).unwrap()["affiliate_name"],
        "Bluewave Ads"
    );
    // The new affiliate can have campaigns and smart links at once.
    let c = ok(&api_post(
        &s,
        "campaign.json",
        json!({"offer_id": 1042, "affiliate_id": 67893}),
    )
    .await);
    assert_eq!(
        c["campaign"]["tracking_link"],
        format!("{BASE}/rd/r.php?sid=98002&aff_id=67893")
    );
    let l = ok(&api_post(
        &s,
        "smart_link.json",
        json!({"affiliate_id": 67893, "smart_link_name": "Bluewave Rotator"}),
    )
    .await);
    assert_eq!(l["response"]["smart_link_id"], 302);
    assert_eq!(
        click(&s, "/sl?id=302&aff_id=67893", &[DESKTOP, US]).await,
        "https://default.example/?l=302",
        "a link without attachments or fallback: the default fallback"
    );

    let r = ok(&api_post(
        &s,
        "update_affiliate.json",
        json!({"affiliate_id": 67890, "affiliate_name": "MediaBridge Partners LLC"}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success",
               "affiliate": {"affiliate_id": 67890, "affiliate_name": "MediaBridge Partners LLC"}})
    );
    let list = ok(&api_get(&s, "campaigns.json", &[("campaign_id", "98001")]).await);
    assert_eq!(
        items(&list, "campaigns")[0]["affiliate_name"],
        "MediaBridge Partners LLC"
    );
    assert_eq!(
        disk_entity(&s, "affiliates", "affiliate_id", 67890).unwrap()["affiliate_name"],
        "MediaBridge Partners LLC"
    );
    s.stop().await;
}

#[tokio::test]
async fn update_smart_link_changes_what_the_next_click_gets() {
    let s = server().await;
    let r = ok(&api_post(
        &s,
        "update_smart_link.json",
        json!({"smart_link_id": 301, "fallback_url": "https://yourdomain.com/elsewhere",
               "smart_link_status": "inactive"}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "response": {"smart_link_id": 301,
               "fallback_url": "https://yourdomain.com/elsewhere", "smart_link_status": "inactive"}})
    );
    assert_eq!(
        click(&s, "/sl?id=301&aff_id=67890", &[DESKTOP, US]).await,
        "https://yourdomain.com/elsewhere",
        "inactive: the new fallback"
    );
    let list = ok(&api_get(&s, "smart_links.json", &[("smart_link_id", "301")]).await);
    let item = &items(&list, "smart_links")[0];
    assert_eq!(
        (&item["smart_link_status"], &item["fallback_url"]),
        (
            &json!("inactive"),
            &json!("https://yourdomain.com/elsewhere")
        )
    );
    let saved = disk_entity(&s, "smart_links", "smart_link_id", 301).unwrap();
    assert_eq!(saved["smart_link_status"], "inactive");
    assert_eq!(saved["fallback_url"], "https://yourdomain.com/elsewhere");

    // null clears the fallback: the server's default serves.
    let r = ok(&api_post(
        &s,
        "update_smart_link.json",
        json!({"smart_link_id": 301, "fallback_url": null}),
    )
    .await);
    assert_eq!(
        r["response"],
        json!({"smart_link_id": 301, "fallback_url": null})
    );
    assert_eq!(
        click(&s, "/sl?id=301", &[DESKTOP, US]).await,
        "https://default.example/?l=301"
    );
    let list = ok(&api_get(&s, "smart_links.json", &[("smart_link_id", "301")]).await);
    assert_eq!(items(&list, "smart_links")[0]["fallback_url"], Value::Null);
    assert_eq!(
        disk_entity(&s, "smart_links", "smart_link_id", 301).unwrap()["fallback_url"],
        Value::Null
    );

    // Active again (form body), renamed: routed again.
    ok(&api_post_form(
        &s,
        "update_smart_link.json",
        &[
            ("smart_link_id", "301"),
            ("smart_link_status", "active"),
            ("smart_link_name", "Finance Rotator - US/CA"),
        ],
    )
    .await);
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/apply?click=")
    );
    let list = ok(&api_get(&s, "smart_links.json", &[("smart_link_id", "301")]).await);
    assert_eq!(
        items(&list, "smart_links")[0]["smart_link_name"],
        "Finance Rotator - US/CA"
    );
    s.stop().await;
}

#[tokio::test]
async fn delete_smart_link_makes_its_link_404() {
    let s = server().await;
    assert_eq!(
        click(&s, "/sl?id=204", &[DESKTOP, GB])
            .await
            .split('?')
            .next(),
        Some("https://score.example.com/")
    );
    let r = ok(&api_post_form(&s, "delete_smart_link.json", &[("smart_link_id", "204")]).await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "response": {"smart_link_id": 204, "deleted": true}})
    );
    assert_eq!(
        s.get("/sl?id=204", &[DESKTOP, GB]).await.status,
        StatusCode::NOT_FOUND
    );
    let list = ok(&api_get(&s, "smart_links.json", &[("smart_link_id", "204")]).await);
    assert_eq!(list["response"]["total_rows"], 0);
    assert_eq!(disk_entity(&s, "smart_links", "smart_link_id", 204), None);
    let before = catalog_bytes(&s);
    let r = api_post(&s, "delete_smart_link.json", json!({"smart_link_id": 204})).await;
    failure(&r, 404, Some("smart_link_id"));
    let r = api_get(&s, "smart_link_stats.json", &[("smart_link_id", "204")]).await;
    failure(&r, 404, Some("smart_link_id"));
    assert_eq!(catalog_bytes(&s), before);
    s.stop().await;
}

#[tokio::test]
async fn a_deleted_smart_links_id_is_never_given_again() {
    let s = server().await;
    let create = async |name: &str| {
        let r = ok(&api_post_form(
            &s,
            "smart_link.json",
            &[("affiliate_id", "67890"), ("smart_link_name", name)],
        )
        .await);
        r["response"]["smart_link_id"].as_u64().expect("id")
    };
    let first = create("Short-lived").await;
    let r = s.get(&format!("/sl?id={first}"), &[DESKTOP, US]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    ok(&api_post(
        &s,
        "delete_smart_link.json",
        json!({"smart_link_id": first}),
    )
    .await);
    let second = create("Successor").await;
    assert_eq!(second, first + 1, "the deleted link's id is not reused");
    // So the new link starts from zero rather than the deleted one's click.
    let stats = ok(&api_get(
        &s,
        "smart_link_stats.json",
        &[("smart_link_id", &second.to_string())],
    )
    .await);
    assert_eq!(stats["response"]["clicks"], 0);
    s.stop().await;
}

#[tokio::test]
async fn remove_smart_link_offer_detaches_and_the_next_click_skips_it() {
    let s = server().await;
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/")
    );
    let r = ok(&api_post(
        &s,
        "remove_smart_link_offer.json",
        json!({"smart_link_id": 301, "offer_id": 1042}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success",
               "response": {"smart_link_id": 301, "offer_id": 1042, "removed": true}})
    );
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, US])
            .await
            .starts_with("https://score.example.com/"),
        "priority 2 serves once 1042 is gone"
    );
    let v = ok(&api_get(&s, "smart_link_offers.json", &[("smart_link_id", "301")]).await);
    assert_eq!(ids(&v, "offers", "offer_id"), [12345, 1043]);
    let v = ok(&api_get(&s, "smart_links.json", &[("smart_link_id", "301")]).await);
    assert_eq!(items(&v, "smart_links")[0]["offer_count"], 2);
    let saved = disk_entity(&s, "smart_links", "smart_link_id", 301).unwrap();
    let on_file: Vec<&Value> = saved["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["offer_id"])
        .collect();
    assert_eq!(on_file, [&json!(12345), &json!(1043)]);

    let before = catalog_bytes(&s);
    let r = api_post_form(
        &s,
        "remove_smart_link_offer.json",
        &[("smart_link_id", "301"), ("offer_id", "1042")],
    )
    .await;
    failure(&r, 404, Some("offer_id"));
    let r = api_post(
        &s,
        "remove_smart_link_offer.json",
        json!({"smart_link_id": 999, "offer_id": 1042}),
    )
    .await;
    failure(&r, 404, Some("smart_link_id"));
    assert_eq!(catalog_bytes(&s), before);
    s.stop().await;
}

#[tokio::test]
async fn attaching_an_attached_offer_updates_it_without_duplicating() {
    let s = server().await;
    let r = ok(&api_post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 301, "offer_id": 1042, "offer_weight": 10}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "response": {"smart_link_id": 301, "offer_id": 1042,
               "offer_weight": 10, "priority": 1, "added": false}})
    );
    let v = ok(&api_get(&s, "smart_link_offers.json", &[("smart_link_id", "301")]).await);
    assert_eq!(
        items(&v, "offers"),
        [
            json!({"offer_id": 12345, "offer_weight": 60, "priority": 1, "countries": ["US"], "devices": ["mobile"]}),
            json!({"offer_id": 1042, "offer_weight": 10, "priority": 1, "countries": ["US", "CA"], "devices": []}),
            json!({"offer_id": 1043, "offer_weight": 1, "priority": 2, "countries": [], "devices": []}),
        ],
        "one attachment of 1042, its other fields kept"
    );
    let v = ok(&api_get(&s, "smart_links.json", &[("smart_link_id", "301")]).await);
    assert_eq!(items(&v, "smart_links")[0]["offer_count"], 3);
    let saved = disk_entity(&s, "smart_links", "smart_link_id", 301).unwrap();
    let of_1042: Vec<&Value> = saved["offers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["offer_id"] == 1042)
        .collect();
    assert_eq!(
        of_1042,
        [&json!({"offer_id": 1042, "offer_weight": 10, "priority": 1, "countries": ["US", "CA"]})]
    );

    // New countries and devices (a form body): the next clicks follow them.
    let r = ok(&api_post_form(
        &s,
        "smart_link_offer.json",
        &[
            ("smart_link_id", "301"),
            ("offer_id", "1042"),
            ("countries", "GB"),
            ("devices", "desktop"),
        ],
    )
    .await);
    assert_eq!(r["response"]["added"], false);
    assert_eq!(r["response"]["offer_weight"], 10);
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, GB])
            .await
            .starts_with("https://loans.example.com/"),
        "1042 now takes GB desktops at priority 1"
    );
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, US])
            .await
            .starts_with("https://score.example.com/"),
        "and no longer US ones"
    );

    // A new attachment gets weight 1, priority 1, any country and device.
    let r = ok(&api_post(
        &s,
        "smart_link_offer.json",
        json!({"smart_link_id": 205, "offer_id": 12345}),
    )
    .await);
    assert_eq!(
        r["response"],
        json!({"smart_link_id": 205, "offer_id": 12345, "offer_weight": 1, "priority": 1, "added": true})
    );
    let v = ok(&api_get(&s, "smart_link_offers.json", &[("smart_link_id", "205")]).await);
    assert_eq!(
        items(&v, "offers")[1],
        json!({"offer_id": 12345, "offer_weight": 1, "priority": 1, "countries": [], "devices": []})
    );
    s.stop().await;
}

#[tokio::test]
async fn smart_link_offers_lists_every_attachment_with_its_rule() {
    let s = server().await;
    let v = ok(&api_get(&s, "smart_link_offers.json", &[("smart_link_id", "301")]).await);
    assert_eq!(
        v,
        json!({"request_status": "Success", "response": {"smart_link_id": 301, "rotation": "random", "offers": [
            {"offer_id": 12345, "offer_weight": 60, "priority": 1, "countries": ["US"], "devices": ["mobile"]},
            {"offer_id": 1042, "offer_weight": 40, "priority": 1, "countries": ["US", "CA"], "devices": []},
            {"offer_id": 1043, "offer_weight": 1, "priority": 2, "countries": [], "devices": []}
        ]}})
    );
    failure(
        &api_get(&s, "smart_link_offers.json", &[("smart_link_id", "999")]).await,
        404,
        Some("smart_link_id"),
    );
    failure(
        &api_get(&s, "smart_link_offers.json", &[]).await,
        400,
        Some("smart_link_id"),
    );
    s.stop().await;
}

#[tokio::test]
async fn offers_and_affiliates_list_every_field() {
    let s = server().await;
    let v = ok(&api_get(&s, "offers.json", &[("offer_id", "12345")]).await);
    assert_eq!(
        v,
        json!({"request_status": "Success", "response": {"offers": [{
            "offer_id": 12345, "offer_name": "Auto Insurance Quote - US", "offer_status": "active",
            "offer_url": "https://safedrive.example.com/quote?click={click_id}&aff={affiliate_id}",
            "allowed_countries": [], "allowed_devices": [],
            "caps": {"daily_clicks": null, "daily_conversions": null, "weekly_conversions": null,
                     "monthly_conversions": null, "total_conversions": null},
            "postback_token": null, "payout": "0.00", "affiliate_payout": "0.00", "landing_page_rotation": false,
            "health_check": true, "health_check_url": null}],
            "total_rows": 1}})
    );
    let v = ok(&api_get(&s, "offers.json", &[("offer_status", "paused")]).await);
    assert_eq!(
        items(&v, "offers")[0]["allowed_countries"],
        json!(["DE", "FR", "GB"])
    );
    let v = ok(&api_get(&s, "affiliates.json", &[]).await);
    assert_eq!(
        v,
        json!({"request_status": "Success", "response": {"affiliates": [
            {"affiliate_id": 67890, "affiliate_name": "MediaBridge Partners"},
            {"affiliate_id": 67891, "affiliate_name": "Clickstream Media"},
            {"affiliate_id": 67892, "affiliate_name": "Northwind Traffic"}
        ], "total_rows": 3}})
    );
    s.stop().await;
}

/// The `response` of `smart_link_stats.json` for `id`.
async fn stats(s: &TestServer, id: &str) -> Value {
    ok(&api_get(s, "smart_link_stats.json", &[("smart_link_id", id)]).await)["response"].clone()
}

#[tokio::test]
async fn smart_link_stats_counts_real_clicks() {
    let s = server().await;
    let fresh = stats(&s, "301").await;
    let none = |offer_id: u64| {
        json!({"offer_id": offer_id, "routed": 0, "conversions": 0, "revenue": "0.00",
               "conversion_rate": null, "epc": null, "cost": "0.00", "profit": "0.00", "margin": null})
    };
    assert_eq!(
        fresh,
        json!({"smart_link_id": 301, "clicks": 0, "routed": 0,
               "fallback": {"no_match": 0, "all_capped": 0, "inactive": 0, "bot": 0, "anonymous": 0, "destination_down": 0},
               "conversions": 0, "revenue": "0.00", "fill_rate": null, "conversion_rate": null,
               "epc": null, "cost": "0.00", "profit": "0.00", "margin": null,
               "offers": [none(12345), none(1042), none(1043)]})
    );
    let mut converted = None;
    for _ in 0..3 {
        let to = click(&s, "/sl?id=301&aff_id=67890", &[DESKTOP, US]).await;
        assert!(to.starts_with("https://loans.example.com/"), "{to}");
        converted = query_param(&to, "click");
    }
    for _ in 0..2 {
        let to = click(&s, "/sl?id=301", &[DESKTOP, GB]).await;
        assert!(to.starts_with("https://score.example.com/"), "{to}");
    }
    assert_eq!(
        click(&s, "/sl?id=301", &[BOT, US]).await,
        "https://yourdomain.com/no-offer"
    );
    // HEAD records nothing; neither do refused clicks.
    let head = request(s.addr, "HEAD", "/sl?id=301", &[DESKTOP, US]).await;
    assert_eq!(head.status, StatusCode::FOUND);
    let wrong = s.get("/sl?id=301&aff_id=67891", &[DESKTOP, US]).await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);

    let routed = |offer_id: u64, routed: u64| {
        json!({"offer_id": offer_id, "routed": routed, "conversions": 0, "revenue": "0.00",
               "conversion_rate": 0.0, "epc": "0.00", "cost": "0.00", "profit": "0.00", "margin": null})
    };
    let want = json!({"smart_link_id": 301, "clicks": 6, "routed": 5,
        "fallback": {"no_match": 0, "all_capped": 0, "inactive": 0, "bot": 1, "anonymous": 0, "destination_down": 0},
        "conversions": 0, "revenue": "0.00", "fill_rate": 5.0 / 6.0, "conversion_rate": 0.0,
        "epc": "0.00", "cost": "0.00", "profit": "0.00", "margin": null,
        "offers": [none(12345), routed(1042, 3), routed(1043, 2)]});
    assert_eq!(stats(&s, "301").await, want);

    // A conversion of a 1042 click counts for the link and the offer.
    let id = converted.expect("the offer URL carries the click id");
    let p = s.get(&format!("/p?click_id={id}"), &[]).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let mut want = want;
    want["conversions"] = 1.into();
    want["conversion_rate"] = 0.2.into();
    want["offers"][1]["conversions"] = 1.into();
    want["offers"][1]["conversion_rate"] = (1.0 / 3.0).into();
    let mut last = Value::Null;
    assert!(
        eventually(std::time::Duration::from_secs(5), async || {
            last = stats(&s, "301").await;
            last == want
        })
        .await,
        "{last}"
    );

    // A catalog write keeps the counts.
    ok(&api_post(
        &s,
        "update_smart_link.json",
        json!({"smart_link_id": 301, "smart_link_name": "Renamed"}),
    )
    .await);
    assert_eq!(stats(&s, "301").await, want);

    // An inactive link's clicks are fallbacks of their own kind.
    click(&s, "/sl?id=206", &[DESKTOP, US]).await;
    let inactive = stats(&s, "206").await;
    assert_eq!(inactive["clicks"], 1);
    assert_eq!(inactive["fallback"]["inactive"], 1);
    assert_eq!(inactive["fill_rate"], 0.0);
    s.stop().await;
}

#[tokio::test]
async fn smart_link_route_explains_the_decision_and_records_nothing() {
    let s = server().await;
    let route = async |params: &[(&str, &str)]| {
        ok(&api_get(&s, "smart_link_route.json", params).await)["response"].clone()
    };
    let r = route(&[
        ("smart_link_id", "301"),
        ("ip", "216.160.83.56"),
        ("user_agent", CHROME_WINDOWS),
    ])
    .await;
    assert_eq!(r["smart_link_id"], 301);
    assert_eq!(r["smart_link_status"], "active");
    assert_eq!(r["affiliate_id"], 67890);
    let client = &r["client"];
    assert_eq!(
        [
            &client["ip"],
            &client["country"],
            &client["device"],
            &client["os"],
            &client["browser"]
        ],
        ["216.160.83.56", "US", "desktop", "windows", "chrome"]
    );
    // The fixture's location database is a Country one: no region; no ASN or anonymous
    // database is configured.
    assert_eq!(
        [&client["region"], &client["asn"], &client["anonymous"]],
        [&Value::Null, &Value::Null, &Value::Null]
    );
    assert_eq!(r["decision"]["outcome"], "routed");
    assert_eq!(r["decision"]["offer_id"], 1042);
    assert_eq!(r["decision"]["priority"], 1);
    assert_eq!(r["decision"]["fallback_reason"], Value::Null);
    assert!(
        r["decision"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://loans.example.com/apply?click=")),
        "{r}"
    );
    let a = r["attachments"].as_array().expect("attachments");
    assert_eq!(a.len(), 3);
    assert_eq!(
        (&a[0]["offer_id"], &a[0]["result"], &a[0]["reason"]),
        (&json!(12345), &json!("skipped"), &json!("device_mismatch"))
    );
    assert_eq!(
        (&a[1]["offer_id"], &a[1]["result"], &a[1]["probability"]),
        (&json!(1042), &json!("chosen"), &json!(1.0))
    );
    assert_eq!(
        (&a[2]["offer_id"], &a[2]["result"], &a[2]["would_qualify"]),
        (&json!(1043), &json!("not_reached"), &json!(true))
    );

    let r = route(&[
        ("smart_link_id", "301"),
        ("ip", "81.2.69.142"),
        ("user_agent", CHROME_WINDOWS),
    ])
    .await;
    assert_eq!(r["client"]["country"], "GB");
    assert_eq!(r["decision"]["offer_id"], 1043);
    assert_eq!(r["decision"]["priority"], 2);
    assert_eq!(r["attachments"][1]["reason"], "country_mismatch");

    let r = route(&[
        ("smart_link_id", "301"),
        ("ip", "216.160.83.56"),
        ("user_agent", CHROME_WINDOWS),
        ("sec_ch_ua_mobile", "?1"),
    ])
    .await;
    assert_eq!(r["client"]["device"], "mobile");
    // A US mobile client qualifies for both priority-1 offers: one is drawn, 60 to 40.
    let a = &r["attachments"];
    let results = [a[0]["result"].clone(), a[1]["result"].clone()];
    assert!(
        results == [json!("chosen"), json!("qualified")]
            || results == [json!("qualified"), json!("chosen")],
        "{r}"
    );
    assert_eq!(
        (&a[0]["offer_id"], &a[0]["probability"]),
        (&json!(12345), &json!(0.6))
    );
    assert_eq!(
        (&a[1]["offer_id"], &a[1]["probability"]),
        (&json!(1042), &json!(0.4))
    );

    let r = route(&[("smart_link_id", "301"), ("user_agent", GOOGLEBOT)]).await;
    assert_eq!(r["decision"]["outcome"], "fallback");
    assert_eq!(r["decision"]["fallback_reason"], "bot");
    assert_eq!(r["decision"]["url"], "https://yourdomain.com/no-offer");

    let r = route(&[
        ("smart_link_id", "204"),
        ("ip", "81.2.69.142"),
        ("user_agent", CHROME_WINDOWS),
    ])
    .await;
    assert_eq!(r["attachments"][0]["reason"], "offer_paused");

    // Nothing was counted or recorded.
    assert_eq!(stats(&s, "301").await["clicks"], 0);
    assert_eq!(stats(&s, "204").await["clicks"], 0);
    assert!(s.records().is_empty(), "route records no click");

    failure(
        &api_get(
            &s,
            "smart_link_route.json",
            &[("smart_link_id", "301"), ("ip", "not-an-ip")],
        )
        .await,
        400,
        Some("ip"),
    );
    failure(
        &api_get(&s, "smart_link_route.json", &[("smart_link_id", "999")]).await,
        404,
        Some("smart_link_id"),
    );
    // A real click is recorded: the check above could have failed.
    click(&s, "/sl?id=301", &[DESKTOP, US]).await;
    assert_eq!(s.records().len(), 1);
    s.stop().await;
}
