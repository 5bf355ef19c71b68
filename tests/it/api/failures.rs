//! The management API: failures.

use serde_json::{Value, json};
use smartlink::api::calls::CALLS;

use super::lists::{Params, expected_ids};
use super::*;
use crate::common::*;

#[tokio::test]
async fn a_missing_or_wrong_api_key_is_401_naming_api_key() {
    let s = server().await;
    let before = catalog_bytes(&s);
    let wrong = "not-the-key-4321";
    for target in [
        "/api/2/campaigns.json".to_string(),
        "/api/2/campaigns.json?offer_id=12345".to_string(),
        format!("/api/2/campaigns.json?api_key={wrong}"),
        "/api/2/campaigns.json?api_key=".to_string(),
        format!("/api/2/campaigns.json?api_key={}", API_KEY.to_uppercase()),
        format!("/api/2/campaigns.json?api_key={API_KEY}x"),
        format!("/api/2/campaigns.json?API_KEY={API_KEY}"),
    ] {
        let r = s.get(&target, &[]).await;
        let v = failure(&r, 401, Some("api_key"));
        assert!(!r.body.contains(wrong), "the key is not echoed: {v}");
    }
    let body = json!({"campaign_id": 98001, "campaign_status": "paused"});
    for key in [
        None,
        Some(json!(wrong)),
        Some(json!("")),
        Some(json!(12345)),
        Some(Value::Null),
    ] {
        let mut b = body.clone();
        if let Some(k) = key {
            b["api_key"] = k;
        }
        let r = s.post_json("/api/2/update_campaign.json", &b).await;
        failure(&r, 401, Some("api_key"));
    }
    for form in [
        "campaign_id=98001&campaign_status=paused".to_string(),
        format!("api_key={wrong}&campaign_id=98001&campaign_status=paused"),
    ] {
        let r = s.post_form("/api/2/update_campaign.json", &form).await;
        failure(&r, 401, Some("api_key"));
    }
    assert_eq!(catalog_bytes(&s), before, "refused writes change nothing");
    let list = ok(&api_get(&s, "campaigns.json", &[("campaign_id", "98001")]).await);
    assert_eq!(items(&list, "campaigns")[0]["campaign_status"], "active");
    s.stop().await;
}

#[tokio::test]
async fn every_call_demands_a_key_and_its_own_method() {
    let s = server().await;
    let before = catalog_bytes(&s);
    assert_eq!(CALLS.len(), 38);
    for call in &CALLS {
        let target = format!("/api/2/{}", call.name);
        let right = call.method.as_str();
        // The right method without a key: 401 (the console's `session.json` says who is
        // signed in: nobody).
        let r = if right == "GET" {
            s.get(&target, &[]).await
        } else {
            s.post_json(&target, &json!({})).await
        };
        if call.name == "session.json" {
            assert_eq!(ok(&r)["response"], json!({"signed_in": false}));
        } else {
            failure(&r, 401, Some("api_key"));
        }
        // Any other method, even with a key: 405 with Allow.
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if method == right {
                continue;
            }
            let r = Client::connect(s.addr)
                .await
                .send_body(
                    method,
                    &format!("{target}?api_key={API_KEY}"),
                    &[("content-type", "application/x-www-form-urlencoded")],
                    format!("api_key={API_KEY}").as_bytes(),
                )
                .await;
            failure(&r, 405, None);
            assert_eq!(r.header("allow"), right, "{method} {target}");
        }
    }
    assert_eq!(catalog_bytes(&s), before);
    s.stop().await;
}

#[tokio::test]
async fn an_unknown_call_is_404() {
    let s = server().await;
    for target in [
        format!("/api/2/nope.json?api_key={API_KEY}"),
        format!("/api/2/campaigns?api_key={API_KEY}"),
        format!("/api/2/Campaigns.json?api_key={API_KEY}"),
        format!("/api/2/campaigns.json/extra?api_key={API_KEY}"),
        format!("/api/2/?api_key={API_KEY}"),
        "/api/2/nope.json".to_string(),
    ] {
        failure(&s.get(&target, &[]).await, 404, None);
    }
    let r = s
        .post_json(
            "/api/2/delete_everything.json",
            &json!({"api_key": API_KEY}),
        )
        .await;
    failure(&r, 404, None);
    s.stop().await;
}

#[tokio::test]
async fn unknown_repeated_and_mistyped_parameters_are_400_naming_the_field() {
    let s = server().await;
    let before = catalog_bytes(&s);
    let long_name = "x".repeat(300);
    #[rustfmt::skip]
    let gets: &[(&str, Params, &str)] = &[
        ("campaigns.json", &[("ofer_id", "12345")], "ofer_id"),
        ("campaigns.json", &[("offer_id", "12345"), ("offer_id", "1042")], "offer_id"),
        ("campaigns.json", &[("api_key", API_KEY)], "api_key"),
        ("campaigns.json", &[("offer_id", "abc")], "offer_id"),
        ("campaigns.json", &[("offer_id", "0")], "offer_id"),
        ("campaigns.json", &[("offer_id", "-3")], "offer_id"),
        ("campaigns.json", &[("offer_id", "12.5")], "offer_id"),
        ("campaigns.json", &[("offer_id", "99999999999")], "offer_id"),
        ("campaigns.json", &[("offer_id", "")], "offer_id"),
        ("campaigns.json", &[("campaign_status", "running")], "campaign_status"),
        ("campaigns.json", &[("campaign_status", "Active")], "campaign_status"),
        ("creatives.json", &[("creative_type_id", "9")], "creative_type_id"),
        ("creatives.json", &[("creative_status", "inactive")], "creative_status"),
        ("landing_pages.json", &[("landing_page_id", "x")], "landing_page_id"),
        ("smart_links.json", &[("smart_link_status", "paused")], "smart_link_status"),
        ("smart_links.json", &[("offer_id", "1042")], "offer_id"),
        ("offers.json", &[("offer_status", "gone")], "offer_status"),
        ("affiliates.json", &[("affiliate_name", "x")], "affiliate_name"),
        ("smart_link_stats.json", &[("smart_link_id", "abc")], "smart_link_id"),
        ("smart_link_route.json", &[("smart_link_id", "301"), ("sec_ch_ua_mobile", "yes")], "sec_ch_ua_mobile"),
    ];
    for (call, params, field) in gets {
        let r = api_get(&s, call, params).await;
        failure(&r, 400, Some(field));
    }
    #[rustfmt::skip]
    let posts: Vec<(&str, Value, &str)> = vec![
        ("campaign.json", json!({"offer_id": "abc", "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": 12345}), "affiliate_id"),
        ("campaign.json", json!({"offer_id": 1.5, "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": [12345], "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 67890, "display_link_type_id": 4}), "display_link_type_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 67890, "sub_affiliate": 7}), "sub_affiliate"),
        ("update_campaign.json", json!({"campaign_id": 98001, "creative": 4421}), "creative"),
        ("update_campaign.json", json!({"campaign_status": "paused"}), "campaign_id"),
        ("smart_link.json", json!({"affiliate_id": 67890, "smart_link_name": "A", "fallback_url": "ftp://x.example/"}), "fallback_url"),
        ("smart_link.json", json!({"affiliate_id": 67890, "smart_link_name": long_name}), "smart_link_name"),
        ("smart_link.json", json!({"affiliate_id": 67890, "smart_link_name": "A", "smart_link_status": "paused"}), "smart_link_status"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 1042, "offer_weight": 101}), "offer_weight"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 1042, "offer_weight": 0}), "offer_weight"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 1042, "countries": ["USA"]}), "countries"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 1042, "devices": ["phone"]}), "devices"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 1042, "ofer_weight": 5}), "ofer_weight"),
        ("offer.json", json!({"offer_name": "A", "offer_url": "https://a.example/", "daily_clicks": -1}), "daily_clicks"),
        ("offer.json", json!({"offer_name": "A", "offer_url": "/relative"}), "offer_url"),
        ("update_offer.json", json!({"offer_id": 1043, "weekly_conversions": "many"}), "weekly_conversions"),
        ("creative.json", json!({"offer_id": 12345, "creative_name": "A", "creative_type_id": 5}), "creative_type_id"),
        ("update_creative.json", json!({"creative_id": 4421, "width": 0}), "width"),
        ("landing_page.json", json!({"offer_id": 12345, "landing_page_name": "A"}), "url"),
        ("affiliate.json", json!({}), "affiliate_name"),
    ];
    for (call, params, field) in posts {
        let r = api_post(&s, call, params.clone()).await;
        failure(&r, 400, Some(field));
    }
    // A URL of the documented form (http(s), a host, printable ASCII) whose macro is unknown:
    // what it says cannot be used, 422.
    let unknown_macro = json!({"affiliate_id": 67890, "smart_link_name": "A", "fallback_url": "https://x.example/?{nope}"});
    failure(
        &api_post(&s, "smart_link.json", unknown_macro).await,
        422,
        Some("fallback_url"),
    );
    #[rustfmt::skip]
    let forms: &[(&str, Params, &str)] = &[
        ("smart_link_offer.json", &[("smart_link_id", "301"), ("offer_id", "1042"), ("offer_id", "1043")], "offer_id"),
        ("smart_link_offer.json", &[("smart_link_id", "301"), ("offer_id", "1042"), ("offer_weight", "ten")], "offer_weight"),
        ("update_smart_link.json", &[("smart_link_id", "301"), ("smart_link_name", "")], "smart_link_name"),
        ("update_campaign.json", &[("campaign_id", "98001"), ("api_key", API_KEY)], "api_key"),
    ];
    for (call, params, field) in forms {
        let r = api_post_form(&s, call, params).await;
        failure(&r, 400, Some(field));
    }
    // Every problem at once, each with its field.
    let r = api_get(
        &s,
        "campaigns.json",
        &[
            ("campaign_status", "x"),
            ("ofer_id", "1"),
            ("offer_id", "y"),
        ],
    )
    .await;
    let v = failure(&r, 400, Some("offer_id"));
    assert_eq!(
        fields(&v),
        [
            json!("offer_id"),
            json!("campaign_status"),
            json!("ofer_id")
        ]
    );
    assert_eq!(
        catalog_bytes(&s),
        before,
        "no refused write changed the file"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_parameter_repeated_in_a_json_body_is_400() {
    let s = server().await;
    let before = catalog_bytes(&s);
    let body =
        format!(r#"{{"api_key":"{API_KEY}","smart_link_id":301,"offer_id":1042,"offer_id":2001}}"#);
    let r = api_post_raw(
        &s,
        "smart_link_offer.json",
        "application/json",
        body.as_bytes(),
    )
    .await;
    failure(&r, 400, Some("offer_id"));
    let body = format!(r#"{{"api_key":"wrong","api_key":"{API_KEY}","smart_link_id":301}}"#);
    let r = api_post_raw(
        &s,
        "delete_smart_link.json",
        "application/json",
        body.as_bytes(),
    )
    .await;
    failure(&r, 400, Some("api_key"));
    assert_eq!(catalog_bytes(&s), before);
    s.stop().await;
}

#[tokio::test]
async fn an_update_of_an_unknown_id_is_404_naming_it() {
    let s = server().await;
    let before = catalog_bytes(&s);
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        ("update_campaign.json", json!({"campaign_id": 5, "campaign_status": "paused"}), "campaign_id"),
        ("update_smart_link.json", json!({"smart_link_id": 999, "smart_link_name": "X"}), "smart_link_id"),
        ("delete_smart_link.json", json!({"smart_link_id": 999}), "smart_link_id"),
        ("smart_link_offer.json", json!({"smart_link_id": 999, "offer_id": 1042}), "smart_link_id"),
        ("remove_smart_link_offer.json", json!({"smart_link_id": 999, "offer_id": 1042}), "smart_link_id"),
        ("update_offer.json", json!({"offer_id": 5, "offer_name": "X"}), "offer_id"),
        ("update_landing_page.json", json!({"landing_page_id": 5, "landing_page_name": "X"}), "landing_page_id"),
        ("update_creative.json", json!({"creative_id": 5, "creative_name": "X"}), "creative_id"),
        ("update_affiliate.json", json!({"affiliate_id": 5, "affiliate_name": "X"}), "affiliate_id"),
    ];
    for (call, params, field) in cases {
        let r = api_post(&s, call, params).await;
        failure(&r, 404, Some(field));
    }
    for call in [
        "smart_link_offers.json",
        "smart_link_stats.json",
        "smart_link_route.json",
    ] {
        failure(
            &api_get(&s, call, &[("smart_link_id", "999")]).await,
            404,
            Some("smart_link_id"),
        );
    }
    assert_eq!(catalog_bytes(&s), before);
    s.stop().await;
}

#[tokio::test]
async fn writes_the_catalog_refuses_are_422_and_change_nothing() {
    let s = server().await;
    let before = catalog_bytes(&s);
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        ("campaign.json", json!({"offer_id": 2001, "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": 2002, "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": 55555, "affiliate_id": 67890}), "offer_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 11111}), "affiliate_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 67890, "creative_id": 4423}), "creative_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 67890, "creative_id": 7777}), "creative_id"),
        ("campaign.json", json!({"offer_id": 12345, "affiliate_id": 67890, "landing_page_id": 883}), "landing_page_id"),
        ("update_campaign.json", json!({"campaign_id": 98001, "creative_id": 4423}), "creative_id"),
        ("update_campaign.json", json!({"campaign_id": 98001, "landing_page_id": 7777}), "landing_page_id"),
        ("smart_link_offer.json", json!({"smart_link_id": 301, "offer_id": 55555}), "offer_id"),
        ("smart_link.json", json!({"affiliate_id": 11111, "smart_link_name": "Orphan"}), "affiliate_id"),
        ("landing_page.json", json!({"offer_id": 55555, "landing_page_name": "A", "url": "https://a.example/"}), "offer_id"),
        ("creative.json", json!({"offer_id": 55555, "creative_name": "A", "creative_type_id": 1}), "offer_id"),
        ("update_affiliate.json", json!({"affiliate_id": 67890, "affiliate_name": "   "}), "affiliate_name"),
    ];
    for (call, params, field) in cases {
        let r = api_post(&s, call, params.clone()).await;
        failure(&r, 422, Some(field));
    }
    assert_eq!(
        catalog_bytes(&s),
        before,
        "the catalog file is byte-identical"
    );
    // Nothing changed for the clicks either.
    let v = ok(&api_get(&s, "smart_link_offers.json", &[("smart_link_id", "301")]).await);
    assert_eq!(ids(&v, "offers", "offer_id"), [12345, 1042, 1043]);
    let v = ok(&api_get(&s, "campaigns.json", &[("row_limit", "5000")]).await);
    assert_eq!(
        v["response"]["total_rows"],
        expected_ids("campaigns", "campaign_id", &[]).len()
    );
    assert!(
        click(&s, "/sl?id=301", &[DESKTOP, US])
            .await
            .starts_with("https://loans.example.com/")
    );
    s.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let config = config().section(&format!(
        "[api]\nkeys = [{API_KEY:?}]\nmax_body_bytes = 1024"
    ));
    let s = TestServer::start(config).await;
    let before = catalog_bytes(&s);
    let name = "n".repeat(1100);
    let r = api_post(
        &s,
        "smart_link.json",
        json!({"affiliate_id": 67890, "smart_link_name": name}),
    )
    .await;
    failure(&r, 413, None);
    let r = api_post_form(
        &s,
        "smart_link.json",
        &[("affiliate_id", "67890"), ("smart_link_name", &name)],
    )
    .await;
    failure(&r, 413, None);
    assert_eq!(catalog_bytes(&s), before);
    // Under the limit, the same call works.
    let padding = " ".repeat(900);
    let body = format!(
        r#"{{"api_key":"{API_KEY}",{padding}"affiliate_id":67890,"smart_link_name":"Small"}}"#
    );
    assert!(body.len() <= 1024);
    let r = api_post_raw(&s, "smart_link.json", "application/json", body.as_bytes()).await;
    assert_eq!(ok(&r)["response"]["smart_link_id"], 302);
    s.stop().await;
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let s = server().await;
    let before = catalog_bytes(&s);
    let call = "update_campaign.json";
    for (content_type, body) in [
        ("application/json", "{".to_string()),
        (
            "application/json",
            format!(r#"{{"api_key":"{API_KEY}","campaign_id":98001"#),
        ),
        (
            "application/json",
            format!(r#"{{"api_key":"{API_KEY}","campaign_id":98001,}}"#),
        ),
        ("application/json", "[1, 2]".to_string()),
        ("application/json", "null".to_string()),
        ("application/json", String::new()),
        ("", format!(r#"{{"api_key":"{API_KEY}",campaign_id}}"#)),
        ("text/plain", format!("api_key={API_KEY}&campaign_id=98001")),
    ] {
        let r = api_post_raw(&s, call, content_type, body.as_bytes()).await;
        failure(&r, 400, None);
    }
    // POST parameters belong in the body.
    let r = s
        .post_form(
            &format!("/api/2/{call}?api_key={API_KEY}"),
            "campaign_id=98001&campaign_status=paused",
        )
        .await;
    failure(&r, 400, None);
    assert_eq!(catalog_bytes(&s), before);
    // Without a Content-Type, a JSON body is read as JSON and a form body as a form.
    let body =
        format!(r#"{{"api_key":"{API_KEY}","campaign_id":98001,"campaign_status":"paused"}}"#);
    ok(&api_post_raw(&s, call, "", body.as_bytes()).await);
    let body = format!("api_key={API_KEY}&campaign_id=98001&campaign_status=active");
    ok(&api_post_raw(&s, call, "", body.as_bytes()).await);
    s.stop().await;
}

#[tokio::test]
async fn a_write_after_the_catalog_file_changed_on_disk_is_409() {
    let s = server().await;
    let mut edited = catalog_bytes(&s);
    edited.extend_from_slice(b"\n\n");
    std::fs::write(s.config.catalog_path(), &edited).unwrap();
    let r = api_post(
        &s,
        "update_campaign.json",
        json!({"campaign_id": 98001, "campaign_status": "paused"}),
    )
    .await;
    failure(&r, 409, None);
    assert_eq!(
        catalog_bytes(&s),
        edited,
        "the hand edit is not overwritten"
    );
    let list = ok(&api_get(&s, "campaigns.json", &[("campaign_id", "98001")]).await);
    assert_eq!(items(&list, "campaigns")[0]["campaign_status"], "active");
    let metrics = s.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains("smartlink_catalog_write_failures_total 1\n")
            && metrics.contains("smartlink_catalog_writes_total 0\n")
            && metrics.contains("smartlink_error_responses_total{status=\"409\"} 1\n"),
        "{metrics}"
    );
    s.stop().await;
}

/// Regression: `https:///{s1}`, `https:{s1}`, `https:/{s1}` and `https:\\{s1}` passed
/// validation, and with `s1=evil.com` browsers resolved the `Location` to
/// `https://evil.com/`. Refused by the API (400) and by the catalog loader alike.
#[tokio::test]
async fn url_templates_whose_host_a_macro_could_supply_are_refused() {
    let s = server().await;
    for url in [
        "https:///{s1}",
        "https:{s1}",
        "https:/{s1}",
        "https:\\\\{s1}",
    ] {
        let r = api_post(
            &s,
            "offer.json",
            json!({"offer_name": "Evil", "offer_url": url}),
        )
        .await;
        failure(&r, 400, Some("offer_url"));
        let r = api_post(
            &s,
            "update_smart_link.json",
            json!({"smart_link_id": 301, "fallback_url": url}),
        )
        .await;
        failure(&r, 400, Some("fallback_url"));
    }
    s.stop().await;
    let network = NETWORK.replace("https://o12.example/?s2={s2}", "https:{s2}");
    assert_ne!(network, NETWORK);
    let config = TestConfig::new(&network);
    let err = match smartlink::state::State::start(&config.write()) {
        Ok(_) => panic!("the catalog must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("offers[1].offer_url"), "{err}");
}
