//! `batch.json`: many write calls as one change, all or nothing.

use serde_json::{Value, json};

use super::*;
use crate::common::*;

/// The generation served and the catalog writes so far.
fn generation(s: &TestServer) -> (u64, u64) {
    (
        s.state.snapshot().generation,
        s.state.metrics.catalog_writes.get(),
    )
}

fn call(name: &str, params: Value) -> Value {
    json!({"call": name, "params": params})
}

#[tokio::test]
async fn a_batch_applies_every_call_in_one_write_and_answers_each() {
    let s = server().await;
    let before = generation(&s);
    // Campaign creatives in bulk, a status synced from another system, and two creates that
    // must get distinct ids.
    let r = ok(&api_post(
        &s,
        "batch.json",
        json!({"calls": [
            call("update_campaign.json", json!({"campaign_id": 98001, "creative_id": 4422})),
            call("update_campaign.json", json!({"campaign_id": 97001, "campaign_status": "active", "creative_id": null})),
            call("affiliate.json", json!({"affiliate_name": "Bulk One"})),
            call("affiliate.json", json!({"affiliate_name": "Bulk Two"})),
            call("update_affiliate.json", json!({"affiliate_id": 67893, "affiliate_name": "Bulk Two (renamed)"})),
        ]}),
    )
    .await);
    assert_eq!(
        r,
        json!({"request_status": "Success", "calls": [
            {"request_status": "Success", "campaign": {"campaign_id": 98001, "creative_id": 4422}},
            {"request_status": "Success", "campaign": {"campaign_id": 97001, "campaign_status": "active", "creative_id": null}},
            {"request_status": "Success", "affiliate": {"affiliate_id": 67893, "affiliate_name": "Bulk One"}},
            {"request_status": "Success", "affiliate": {"affiliate_id": 67894, "affiliate_name": "Bulk Two"}},
            {"request_status": "Success", "affiliate": {"affiliate_id": 67893, "affiliate_name": "Bulk Two (renamed)"}},
        ]})
    );
    assert_eq!(
        generation(&s),
        (before.0 + 1, before.1 + 1),
        "one swap, one write of the file"
    );
    let c = disk_entity(&s, "campaigns", "campaign_id", 98001).expect("98001");
    assert_eq!(c["creative_id"], 4422);
    let c = disk_entity(&s, "campaigns", "campaign_id", 97001).expect("97001");
    assert_eq!(c["campaign_status"], "active");
    assert!(c["creative_id"].is_null(), "{c}");
    let list = ok(&api_get(&s, "affiliates.json", &[("affiliate_id", "67893")]).await);
    assert_eq!(
        items(&list, "affiliates")[0]["affiliate_name"],
        "Bulk Two (renamed)"
    );
    let list = ok(&api_get(&s, "campaigns.json", &[("campaign_id", "97001")]).await);
    assert_eq!(items(&list, "campaigns")[0]["campaign_status"], "active");

    // A form body carries the calls as their JSON text.
    let calls = json!([call(
        "update_campaign.json",
        json!({"campaign_id": 97001, "campaign_status": "paused"})
    )]);
    let r = ok(&api_post_form(&s, "batch.json", &[("calls", &calls.to_string())]).await);
    assert_eq!(r["calls"][0]["campaign"]["campaign_status"], "paused");
    assert_eq!(generation(&s).0, before.0 + 2);
    s.stop().await;
}

#[tokio::test]
async fn a_failing_call_changes_nothing_and_is_named_by_its_index() {
    let s = server().await;
    let before = generation(&s);
    let disk = catalog_bytes(&s);
    let unchanged = async |s: &TestServer| {
        assert_eq!(generation(s), before, "no swap, no write");
        assert_eq!(catalog_bytes(s), disk, "the file is untouched");
        let list = ok(&api_get(s, "campaigns.json", &[("campaign_id", "98001")]).await);
        assert_eq!(items(&list, "campaigns")[0]["creative_id"], 4421);
        let list = ok(&api_get(s, "affiliates.json", &[("affiliate_id", "67893")]).await);
        assert!(
            items(&list, "affiliates").is_empty(),
            "no affiliate created"
        );
    };
    let good = [
        call(
            "update_campaign.json",
            json!({"campaign_id": 98001, "creative_id": 4422}),
        ),
        call("affiliate.json", json!({"affiliate_name": "Never"})),
    ];

    // A call about a missing entity: its own status, its index.
    let mut calls = good.to_vec();
    calls.push(call(
        "update_campaign.json",
        json!({"campaign_id": 424242, "campaign_status": "paused"}),
    ));
    let r = api_post(&s, "batch.json", json!({"calls": calls})).await;
    let v = failure(&r, 404, Some("calls[2].campaign_id"));
    assert_eq!(v["errors"][0]["message"], "campaign 424242 does not exist");
    unchanged(&s).await;

    // A call that breaks the catalog's rules: a creative of another offer.
    let mut calls = good.to_vec();
    calls.push(call(
        "update_campaign.json",
        json!({"campaign_id": 97001, "creative_id": 4423}),
    ));
    calls.push(call(
        "update_campaign.json",
        json!({"campaign_id": 97001, "campaign_status": "active"}),
    ));
    let r = api_post(&s, "batch.json", json!({"calls": calls})).await;
    let v = failure(&r, 422, Some("calls[2].creative_id"));
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("creative 4423 belongs to offer 1042"),
        "{v}"
    );
    unchanged(&s).await;

    // Argument errors of every call, before anything is applied.
    let mut calls = good.to_vec();
    calls.push(call("update_campaign.json", json!({"campaign_id": "x"})));
    calls.push(json!({"call": "campaigns.json"}));
    calls.push(call("batch.json", json!({"calls": []})));
    calls.push(call(
        "update_offer.json",
        json!({"offer_id": 1042, "api_key": API_KEY}),
    ));
    let r = api_post(&s, "batch.json", json!({"calls": calls})).await;
    let v = failure(&r, 400, Some("calls[2].campaign_id"));
    assert_eq!(
        fields(&v),
        [
            "calls[2].campaign_id",
            "calls[3].call",
            "calls[4].call",
            "calls[5].api_key"
        ]
    );
    unchanged(&s).await;

    // Too many calls, none, not a list.
    let many: Vec<Value> = (0..1001).map(|_| good[0].clone()).collect();
    for calls in [json!(many), json!([]), json!({"call": "x"})] {
        let r = api_post(&s, "batch.json", json!({"calls": calls})).await;
        failure(&r, 400, Some("calls"));
    }
    let r = api_post(&s, "batch.json", json!({})).await;
    failure(&r, 400, Some("calls"));
    unchanged(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn a_batch_has_a_body_limit_of_its_own() {
    let s = TestServer::start(config().section(&format!(
        "[api]\nkeys = [{API_KEY:?}]\nmax_body_bytes = 1024\nmax_batch_body_bytes = 100000"
    )))
    .await;
    // 1,000 calls in some 60 kB: over max_body_bytes, within max_batch_body_bytes.
    let calls: Vec<Value> = (0..1000u32)
        .map(|i| {
            let status = if i.is_multiple_of(2) {
                "paused"
            } else {
                "active"
            };
            call(
                "update_campaign.json",
                json!({"campaign_id": 90001 + i % 120, "campaign_status": status}),
            )
        })
        .collect();
    let before = generation(&s);
    let r = ok(&api_post(&s, "batch.json", json!({"calls": calls})).await);
    assert_eq!(r["calls"].as_array().map(Vec::len), Some(1000));
    assert_eq!(generation(&s), (before.0 + 1, before.1 + 1));
    // Campaign 90001 was updated last by call 960 (even: paused).
    let c = disk_entity(&s, "campaigns", "campaign_id", 90001).expect("90001");
    assert_eq!(c["campaign_status"], "paused");

    // Any other call keeps max_body_bytes.
    let long = "x".repeat(1100);
    let r = api_post(
        &s,
        "update_affiliate.json",
        json!({"affiliate_id": 67890, "affiliate_name": long}),
    )
    .await;
    failure(&r, 413, None);
    // A batch over its own limit.
    let name = "n".repeat(200);
    let calls: Vec<Value> = (0..1000)
        .map(|_| {
            call(
                "update_affiliate.json",
                json!({"affiliate_id": 67890, "affiliate_name": name}),
            )
        })
        .collect();
    let r = api_post(&s, "batch.json", json!({"calls": calls})).await;
    failure(&r, 413, None);
    assert_eq!(generation(&s), (before.0 + 1, before.1 + 1));
    s.stop().await;
}
