//! The OpenAPI document (`docs/openapi.json`, compiled in as `api::OPENAPI` and served at
//! `/api/2/openapi.json`): it describes every API call of `api::calls::CALLS` and every
//! endpoint of `http::router::Endpoint::ALL`, with their methods and parameters, and nothing
//! the server lacks; and what a real server answers has the documented shapes.

use std::collections::BTreeSet;

use std::time::Duration;

use serde_json::{Value, json};
use smartlink::api::calls::{Action, CALLS, Call};
use smartlink::api::params::{Param, Presence, Type};
use smartlink::conditions::Dimension;
use smartlink::http::router::Endpoint;
use smartlink::vocab::{Browser, DeviceClass, OsFamily};

use crate::common::*;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn doc() -> Value {
    serde_json::from_str(&smartlink::api::openapi::DOCUMENT).expect("docs/openapi.json is JSON")
}

/// `v`, its `$ref`s followed.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let pointer = r.strip_prefix('#').expect("only local references");
        v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{r} does not exist"));
    }
    v
}

fn path_item<'a>(doc: &'a Value, path: &str) -> &'a Value {
    doc["paths"]
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not in the document"))
}

/// The operations (lower-case methods) of a path item.
fn methods(item: &Value) -> BTreeSet<String> {
    let item = item.as_object().expect("path item is an object");
    item.keys()
        .filter(|k| METHODS.contains(&k.as_str()))
        .cloned()
        .collect()
}

fn call_path(call: &Call) -> String {
    format!("/api/2/{}", call.name)
}

fn call_method(call: &Call) -> String {
    call.method.as_str().to_ascii_lowercase()
}

fn names<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    items.into_iter().collect()
}

/// The schema of a parameter says what its [`Type`] accepts.
fn assert_type(doc: &Value, at: &str, p: &Param, schema: &Value) {
    let schema = resolve(doc, schema);
    let ty = schema["type"].as_str();
    let int = |v: &Value| {
        v.as_i64()
            .unwrap_or_else(|| panic!("{at}: {v} is not an integer"))
    };
    match p.ty {
        Type::Id => {
            assert_eq!(ty, Some("integer"), "{at}");
            assert_eq!(int(&schema["minimum"]), 1, "{at}");
            assert_eq!(int(&schema["maximum"]), i64::from(u32::MAX), "{at}");
        }
        Type::Int { min, max } => {
            assert_eq!(ty, Some("integer"), "{at}");
            assert_eq!(int(&schema["minimum"]), min, "{at}");
            assert_eq!(int(&schema["maximum"]), max, "{at}");
        }
        Type::Text => {
            assert_eq!(ty, Some("string"), "{at}");
            assert_eq!(int(&schema["maxLength"]), 255, "{at}");
        }
        Type::FreeText => {
            assert_eq!(ty, Some("string"), "{at}");
            assert_eq!(int(&schema["maxLength"]), 2048, "{at}");
        }
        Type::Url | Type::PostbackUrl => {
            assert_eq!(ty, Some("string"), "{at}");
            assert_eq!(schema["format"], "uri", "{at}");
        }
        Type::OneOf(words) => {
            assert_eq!(ty, Some("string"), "{at}");
            assert_eq!(schema["enum"], json!(words), "{at}");
        }
        Type::Money => {
            assert_eq!(ty, Some("string"), "{at}");
            let pattern = schema["pattern"].as_str().unwrap_or_default();
            assert!(pattern.contains("{1,6}"), "{at}: {pattern}");
        }
        Type::Share => {
            assert_eq!(ty, Some("number"), "{at}");
            assert_eq!(schema["minimum"], 0, "{at}");
            assert_eq!(schema["maximum"], 0.5, "{at}");
        }
        Type::Bool => assert_eq!(ty, Some("boolean"), "{at}"),
        Type::Condition(Dimension::Country) => {
            assert_eq!(ty, Some("array"), "{at}");
            assert_eq!(resolve(doc, &schema["items"])["type"], "string", "{at}");
        }
        Type::Condition(Dimension::Device) => {
            assert_eq!(ty, Some("array"), "{at}");
            let classes: Vec<&str> = DeviceClass::ALL.iter().map(|d| d.as_str()).collect();
            assert_eq!(
                resolve(doc, &schema["items"])["enum"],
                json!(classes),
                "{at}"
            );
        }
        Type::Condition(Dimension::Os) => {
            assert_eq!(ty, Some("array"), "{at}");
            let families: Vec<&str> = OsFamily::ALL.iter().map(|d| d.as_str()).collect();
            assert_eq!(
                resolve(doc, &schema["items"])["enum"],
                json!(families),
                "{at}"
            );
        }
        Type::Condition(Dimension::Browser) => {
            assert_eq!(ty, Some("array"), "{at}");
            let families: Vec<&str> = Browser::ALL.iter().map(|b| b.as_str()).collect();
            assert_eq!(schema["items"]["enum"], json!(families), "{at}");
        }
        Type::Condition(Dimension::Language) => {
            assert_eq!(ty, Some("array"), "{at}");
            assert_eq!(schema["items"]["pattern"], "^[a-z]{2}$", "{at}");
        }
        Type::Condition(Dimension::Region) => {
            assert_eq!(ty, Some("array"), "{at}");
            let pattern = schema["items"]["pattern"].as_str().unwrap_or_default();
            assert!(pattern.starts_with("^[A-Z]{2}-"), "{at}: {pattern}");
        }
        Type::Condition(Dimension::Asn) => {
            assert_eq!(ty, Some("array"), "{at}");
            let forms = schema["items"]["oneOf"].as_array().expect("number or text");
            assert_eq!(forms[0]["type"], "integer", "{at}");
            assert_eq!(forms[1]["type"], "string", "{at}");
        }
        Type::Condition(Dimension::Schedule) => {
            assert_eq!(ty, Some("array"), "{at}");
            assert_eq!(schema["items"]["required"], json!(["from", "to"]), "{at}");
        }
        Type::Condition(Dimension::Param) => {
            assert_eq!(ty, Some("object"), "{at}");
            let subs: Vec<&String> = schema["properties"]
                .as_object()
                .expect("sub ids")
                .keys()
                .collect();
            assert_eq!(subs, ["s1", "s2", "s3", "s4", "s5"], "{at}");
        }
        Type::Condition(Dimension::Anonymous) => assert_eq!(ty, Some("boolean"), "{at}"),
        Type::Condition(Dimension::IpRange | Dimension::Referrer) => {
            assert_eq!(ty, Some("array"), "{at}");
            assert_eq!(schema["items"]["type"], "string", "{at}");
        }
        Type::Ip => assert_eq!(ty, Some("string"), "{at}"),
        Type::Token => {
            assert_eq!(ty, Some("string"), "{at}");
            assert_eq!(int(&schema["minLength"]), 8, "{at}");
            assert_eq!(int(&schema["maxLength"]), 255, "{at}");
        }
        Type::Calls => {
            assert_eq!(ty, Some("array"), "{at}");
            assert_eq!(int(&schema["minItems"]), 1, "{at}");
            assert_eq!(
                int(&schema["maxItems"]),
                smartlink::api::params::MAX_BATCH_CALLS as i64,
                "{at}"
            );
            // One shape per write call: its name, and its parameters as its own body.
            let shapes = resolve(doc, &schema["items"])["oneOf"]
                .as_array()
                .expect("one shape per call")
                .clone();
            let writes: BTreeSet<&str> = CALLS
                .iter()
                .filter(|c| c.writes() && c.name != "batch.json")
                .map(|c| c.name)
                .collect();
            let named: BTreeSet<&str> = shapes
                .iter()
                .map(|s| s["properties"]["call"]["enum"][0].as_str().expect("a name"))
                .collect();
            assert_eq!(named, writes, "{at}");
            for shape in &shapes {
                let required = shape["required"].as_array().expect("required");
                assert_eq!(required[0], "call", "{at}");
            }
        }
        Type::Time => {
            assert_eq!(ty, Some("string"), "{at}");
            assert_eq!(schema["format"], "date-time", "{at}");
        }
    }
}

#[test]
fn every_api_call_is_documented_with_its_method_and_parameters() {
    let doc = doc();
    for call in &CALLS {
        let path = call_path(call);
        let item = path_item(&doc, &path);
        let method = call_method(call);
        assert_eq!(
            methods(item),
            BTreeSet::from([method.clone()]),
            "{path}: methods"
        );
        let op = &item[&method];
        assert!(op["operationId"].is_string(), "{path}: operationId");
        assert!(op["summary"].is_string(), "{path}: summary");
        assert!(op["responses"]["200"].is_object(), "{path}: 200");
        // `session.json` answers "signed_in": false rather than 401.
        let codes: &[&str] = match call.action {
            Action::Session => &["400", "405"],
            _ => &["400", "401", "403", "405"],
        };
        for code in codes {
            assert!(op["responses"][code].is_object(), "{path}: {code}");
        }
        // The console's session calls take its cookie, not a key.
        let key = (!call.needs_session()).then_some("api_key");
        let declared = names(call.params.iter().map(|p| p.name).chain(key));
        if method == "get" {
            let params: Vec<&Value> = op["parameters"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: parameters"))
                .iter()
                .map(|p| resolve(&doc, p))
                .collect();
            for p in &params {
                assert_eq!(p["in"], "query", "{path}: {}", p["name"]);
            }
            let documented = names(params.iter().filter_map(|p| p["name"].as_str()));
            assert_eq!(documented.len(), params.len(), "{path}: a parameter twice");
            assert_eq!(documented, declared, "{path}: parameters");
            let get = |name: &str| params.iter().find(|p| p["name"] == name).copied();
            if key.is_some() {
                assert_eq!(get("api_key").map(|p| &p["required"]), Some(&json!(true)));
            }
            for p in call.params {
                let d = get(p.name).expect("documented");
                let at = format!("{path} {}", p.name);
                let required = d["required"].as_bool().unwrap_or(false);
                assert_eq!(required, p.presence == Presence::Required, "{at}: required");
                assert_type(&doc, &at, p, &d["schema"]);
            }
        } else {
            assert!(op.get("parameters").is_none(), "{path}: POST parameters");
            let content = &op["requestBody"]["content"];
            for media in ["application/json", "application/x-www-form-urlencoded"] {
                let schema = resolve(&doc, &content[media]["schema"]);
                let at = format!("{path} {media}");
                assert_eq!(schema["type"], "object", "{at}");
                let props = schema["properties"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{at}: properties"));
                assert_eq!(
                    names(props.keys().map(String::as_str)),
                    declared,
                    "{at}: properties"
                );
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{at}: required"))
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let expected = call
                    .params
                    .iter()
                    .filter(|p| p.presence == Presence::Required)
                    .map(|p| p.name)
                    .chain(key);
                assert_eq!(names(required), names(expected), "{at}: required");
                let form = media == "application/x-www-form-urlencoded";
                for p in call.params {
                    let s = resolve(&doc, &props[p.name]);
                    let at = format!("{at} {}", p.name);
                    let clears = p.presence == Presence::Nullable;
                    // A form has no null: there, as in JSON, an empty value clears.
                    let nullable = s["nullable"].as_bool().unwrap_or(false);
                    assert_eq!(nullable, clears && !form, "{at}: nullable");
                    let typed = match s.get("anyOf") {
                        Some(either) => {
                            assert!(clears, "{at}: only a field that clears takes \"\"");
                            assert_eq!(either[1], json!({"type": "string", "maxLength": 0}));
                            &either[0]
                        }
                        None => s,
                    };
                    let json_text = matches!(
                        p.ty,
                        Type::Calls | Type::Condition(Dimension::Param | Dimension::Schedule)
                    );
                    if form && json_text {
                        assert_eq!(typed["type"], "string", "{at}: the value's JSON text");
                        assert_eq!(
                            typed["pattern"],
                            smartlink::api::params::JSON_TEXT_PATTERN,
                            "{at}"
                        );
                    } else {
                        assert_type(&doc, &at, p, typed);
                    }
                }
            }
        }
    }
}

#[test]
fn the_document_has_no_api_call_the_server_lacks() {
    let doc = doc();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let Some(name) = path.strip_prefix(smartlink::api::PREFIX) else {
            continue;
        };
        if path == smartlink::api::OPENAPI_PATH {
            assert_eq!(methods(item), BTreeSet::from(["get".to_string()]));
            assert!(
                item["get"].get("parameters").is_none(),
                "the document needs no api_key"
            );
            continue;
        }
        let call = smartlink::api::calls::find(name)
            .unwrap_or_else(|| panic!("{path} is documented but is no API call"));
        assert_eq!(methods(item), BTreeSet::from([call_method(call)]), "{path}");
    }
}

#[test]
fn every_endpoint_is_documented_with_its_methods_and_nothing_else() {
    let doc = doc();
    for e in Endpoint::ALL {
        let allowed: BTreeSet<String> = e
            .allow()
            .split(',')
            .map(|m| m.trim().to_ascii_lowercase())
            .collect();
        assert_eq!(methods(path_item(&doc, e.path())), allowed, "{}", e.path());
    }
    let paths = doc["paths"].as_object().expect("paths");
    for path in paths.keys() {
        assert!(
            path.starts_with(smartlink::api::PREFIX)
                || Endpoint::ALL.iter().any(|e| e.path() == path),
            "{path} is documented but not served"
        );
    }
}

/// Checks `value` against `schema`, in the subset of OpenAPI 3.0 schemas the document uses:
/// `type`, `nullable`, `enum`, `minimum`/`maximum`, `required`, `properties` (in the order
/// the server writes them; no others unless `additionalProperties`) and `items`.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if value.is_null() {
        assert_eq!(schema["nullable"], true, "{at}: null but not nullable");
        return;
    }
    if let Some(words) = schema.get("enum").and_then(Value::as_array) {
        assert!(
            words.contains(value),
            "{at}: {value} is not one of {words:?}"
        );
    }
    match schema["type"].as_str() {
        Some("object") => {
            let obj = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: {value} is not an object"));
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().expect("required names");
                assert!(obj.contains_key(r), "{at}: {r} is missing from {value}");
            }
            let Some(props) = schema["properties"].as_object() else {
                return;
            };
            let open = schema["additionalProperties"] == true;
            let written: Vec<&String> = obj.keys().filter(|k| props.contains_key(*k)).collect();
            let documented: Vec<&String> = props.keys().filter(|k| obj.contains_key(*k)).collect();
            assert_eq!(written, documented, "{at}: order of the keys");
            for (k, v) in obj {
                match props.get(k) {
                    Some(s) => conforms(doc, s, v, &format!("{at}.{k}")),
                    None => assert!(open, "{at}: {k} is not documented"),
                }
            }
        }
        Some("array") => {
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: {value} is not an array"));
            for (i, v) in items.iter().enumerate() {
                conforms(doc, &schema["items"], v, &format!("{at}[{i}]"));
            }
        }
        Some("string") => assert!(value.is_string(), "{at}: {value} is not a string"),
        Some("boolean") => assert!(value.is_boolean(), "{at}: {value} is not a boolean"),
        Some("number") => assert!(value.is_number(), "{at}: {value} is not a number"),
        Some("integer") => {
            let n = value
                .as_i64()
                .unwrap_or_else(|| panic!("{at}: {value} is not an integer"));
            if let Some(min) = schema["minimum"].as_i64() {
                assert!(n >= min, "{at}: {n} < {min}");
            }
            if let Some(max) = schema["maximum"].as_i64() {
                assert!(n <= max, "{at}: {n} > {max}");
            }
        }
        None => {}
        Some(other) => panic!("{at}: unexpected type {other}"),
    }
}

/// The documented schema of the JSON answer `status` of `method path`.
fn answer_schema<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let response = &path_item(doc, path)[method]["responses"][status.to_string()];
    let response = resolve(doc, response);
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path}: no JSON {status} documented"
    );
    schema
}

/// Calls `name` with `args` (and the key): GET with a query string, POST with a JSON body, or
/// a form body when `form`. Returns the status and the parsed body, which must have the
/// documented shape.
async fn call(server: &TestServer, doc: &Value, name: &str, args: Value, form: bool) -> Value {
    let (status, body) = send(server, name, args, form).await;
    assert_eq!(status, 200, "{name}: {body}");
    let call = smartlink::api::calls::find(name).expect("a call");
    let path = call_path(call);
    let schema = answer_schema(doc, &path, &call_method(call), 200);
    conforms(doc, schema, &body, name);
    body
}

fn form_text(args: &Value) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("api_key", API_KEY);
    for (k, v) in args.as_object().expect("arguments are an object") {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        form.append_pair(k, &text);
    }
    form.finish()
}

async fn send(server: &TestServer, name: &str, args: Value, form: bool) -> (u16, Value) {
    let call = smartlink::api::calls::find(name).expect("a call");
    let path = call_path(call);
    let reply = if call_method(call) == "get" {
        server
            .get(&format!("{path}?{}", form_text(&args)), &[])
            .await
    } else if form {
        server.post_form(&path, &form_text(&args)).await
    } else {
        let mut body = args;
        body["api_key"] = json!(API_KEY);
        server.post_json(&path, &body).await
    };
    assert_eq!(reply.header("content-type"), "application/json", "{name}");
    let body = serde_json::from_str(&reply.body).expect("a JSON answer");
    (reply.status.as_u16(), body)
}

#[tokio::test]
async fn the_document_is_served_without_a_key() {
    let server = TestServer::start(TestConfig::new(NETWORK)).await;
    let r = server.get(smartlink::api::OPENAPI_PATH, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.body, *smartlink::api::openapi::DOCUMENT);
    let r = server
        .post_json(smartlink::api::OPENAPI_PATH, &json!({}))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), "GET");
    let doc = doc();
    let body: Value = serde_json::from_str(&r.body).expect("a JSON answer");
    conforms(
        &doc,
        &json!({"$ref": "#/components/schemas/Failure"}),
        &body,
        "405",
    );
    server.stop().await;
}

#[tokio::test]
async fn every_call_answers_in_its_documented_shape() {
    let server = TestServer::start(TestConfig::new(NETWORK)).await;
    let doc = doc();
    let d = &doc;
    let s = &server;

    // Writes: each kind of entity created then updated, some with form bodies. New ids are
    // the largest of their kind plus one (the network has offers up to 17, affiliates up to
    // 200, smart links up to 5, no landing pages, creatives or campaigns).
    let writes = [
        (
            "offer.json",
            json!({
                "offer_name": "New", "offer_url": "https://n.example/?c={click_id}",
                "allowed_countries": ["US"], "daily_clicks": 10,
            }),
            false,
        ),
        (
            "update_offer.json",
            json!({
                "offer_id": 18, "offer_status": "paused",
                "allowed_devices": ["mobile", "tablet"], "daily_clicks": null,
            }),
            false,
        ),
        (
            "affiliate.json",
            json!({"affiliate_name": "Aff Three"}),
            true,
        ),
        (
            "update_affiliate.json",
            json!({"affiliate_id": 201, "affiliate_name": "Aff 3"}),
            true,
        ),
        (
            "landing_page.json",
            json!({
                "offer_id": 11, "landing_page_name": "LP",
                "url": "https://lp.example/?c={click_id}",
            }),
            false,
        ),
        (
            "update_landing_page.json",
            json!({"landing_page_id": 1, "landing_page_name": "LP 2"}),
            false,
        ),
        (
            "creative.json",
            json!({
                "offer_id": 11, "creative_name": "Banner", "creative_type_id": 1,
                "width": 300, "height": 250,
            }),
            false,
        ),
        (
            "update_creative.json",
            json!({"creative_id": 1, "width": null}),
            true,
        ),
        (
            "campaign.json",
            json!({
                "offer_id": 11, "affiliate_id": 100, "creative_id": 1,
                "landing_page_id": 1, "sub_affiliate": "x", "affiliate_payout": "1.50",
            }),
            false,
        ),
        (
            "update_campaign.json",
            json!({"campaign_id": 1, "campaign_status": "paused", "creative_id": null}),
            false,
        ),
        (
            "smart_link.json",
            json!({
                "affiliate_id": 100, "smart_link_name": "New",
                "fallback_url": "https://fb.example/", "rotation": "exact",
            }),
            false,
        ),
        (
            "update_smart_link.json",
            json!({"smart_link_id": 6, "fallback_url": null, "rotation": "random"}),
            false,
        ),
        (
            "smart_link_offer.json",
            json!({
                "smart_link_id": 6, "offer_id": 11, "offer_weight": 60,
                "countries": ["US", "CA"], "devices": ["desktop"], "affiliate_payout": "0.75",
            }),
            true,
        ),
        (
            "smart_link_offer.json",
            json!({"smart_link_id": 6, "offer_id": 12}),
            false,
        ),
        (
            "remove_smart_link_offer.json",
            json!({"smart_link_id": 6, "offer_id": 11}),
            false,
        ),
        ("delete_smart_link.json", json!({"smart_link_id": 6}), false),
        (
            "batch.json",
            json!({"calls": [
                {"call": "update_campaign.json", "params": {"campaign_id": 1, "campaign_status": "active"}},
                {"call": "affiliate.json", "params": {"affiliate_name": "Aff Four"}},
            ]}),
            false,
        ),
    ];
    let mut called = BTreeSet::new();
    for (name, args, form) in writes {
        call(s, d, name, args, form).await;
        called.insert(name);
    }
    crate::partner_postbacks::failed_deliveries(s, 200, 1).await;
    call(
        s,
        d,
        "retry_partner_postback.json",
        json!({"affiliate_id": 200}),
        true,
    )
    .await;
    called.insert("retry_partner_postback.json");

    // Reads, after a click so that the statistics are not all zero.
    let click = s.get("/sl?id=1", &[("user-agent", CHROME_WINDOWS)]).await;
    assert_eq!(click.status, 302);
    assert!(!click.location().is_empty());
    for (name, args) in [
        ("campaigns.json", json!({})),
        ("creatives.json", json!({})),
        ("landing_pages.json", json!({})),
        ("smart_links.json", json!({})),
        ("offers.json", json!({})),
        ("affiliates.json", json!({})),
        ("partner_postbacks.json", json!({"affiliate_id": 200})),
        ("smart_link_offers.json", json!({"smart_link_id": 1})),
        ("smart_link_stats.json", json!({"smart_link_id": 1})),
        (
            "smart_link_route.json",
            json!({"smart_link_id": 1, "user_agent": IPHONE}),
        ),
        ("destination_health.json", json!({})),
    ] {
        let body = call(s, d, name, args, false).await;
        if name == "smart_link_stats.json" {
            assert_eq!(body["response"]["clicks"], 1);
        }
        called.insert(name);
    }
    // The console's calls: statistics by hour (once the saver swept the click into its
    // hour), offers, the audit log, the nodes.
    let swept = eventually(Duration::from_secs(5), async || {
        let r = api_get(s, "network_stats.json", &[]).await;
        ok(&r)["response"]["totals"]["clicks"] == 1
    })
    .await;
    assert!(swept, "the click reaches its hour");
    for (name, args) in [
        ("smart_link_hourly.json", json!({"smart_link_id": 1})),
        ("network_stats.json", json!({"top": 3})),
        ("offer_stats.json", json!({})),
        ("affiliate_stats.json", json!({"affiliate_id": 100})),
        (
            "affiliate_stats.json",
            json!({"affiliate_id": 100, "from": "2026-01-01T00:00:00Z"}),
        ),
        (
            "offer_stats.json",
            json!({"offer_id": 11, "from": "2026-01-01T00:00:00Z"}),
        ),
        ("audit.json", json!({"row_limit": 5})),
        ("cluster_nodes.json", json!({})),
    ] {
        let body = call(s, d, name, args, false).await;
        if name == "network_stats.json" {
            assert_eq!(body["response"]["totals"]["clicks"], 1);
        }
        called.insert(name);
    }
    // Its session: signed in with the key, read with the cookie, signed out with the cookie
    // and its token.
    let signed_out = Client::connect(s.addr)
        .await
        .send("GET", "/api/2/session.json", &[])
        .await;
    let body = ok(&signed_out);
    conforms(
        d,
        answer_schema(d, "/api/2/session.json", "get", 200),
        &body,
        "session.json",
    );
    assert_eq!(body["response"], json!({"signed_in": false}));
    call(s, d, "sign_in.json", json!({}), false).await;
    let session = sign_in(s.addr, API_KEY).await;
    let body = ok(&session.get(s.addr, "session.json", "").await);
    conforms(
        d,
        answer_schema(d, "/api/2/session.json", "get", 200),
        &body,
        "session.json",
    );
    assert_eq!(body["response"]["role"], "admin");
    let body = ok(&session.write(s.addr, "sign_out.json", &json!({})).await);
    conforms(
        d,
        answer_schema(d, "/api/2/sign_out.json", "post", 200),
        &body,
        "sign_out.json",
    );
    called.extend(["session.json", "sign_in.json", "sign_out.json"]);
    // A preview, with the click in the log.
    s.state.records.sync();
    let body = call(
        s,
        d,
        "preview.json",
        json!({"calls": [{"call": "update_offer.json", "params": {"offer_id": 12, "offer_status": "paused"}}], "hours": 2}),
        false,
    )
    .await;
    assert_eq!(body["records"]["replayed"], 1, "{body:#}");
    called.insert("preview.json");
    assert_eq!(
        called,
        names(CALLS.iter().map(|c| c.name)),
        "every call is checked here"
    );

    // Failures: the envelope, with the documented statuses.
    let failure = json!({"$ref": "#/components/schemas/Failure"});
    let (status, body) = send(s, "update_offer.json", json!({"offer_id": 999}), false).await;
    assert_eq!(status, 404);
    answer_schema(d, "/api/2/update_offer.json", "post", 404);
    conforms(d, &failure, &body, "404");
    let (status, body) = send(s, "offers.json", json!({"offer_status": "gone"}), false).await;
    assert_eq!(status, 400);
    conforms(d, &failure, &body, "400");
    let r = s.get("/api/2/offers.json", &[]).await;
    assert_eq!(r.status, 401);
    answer_schema(d, "/api/2/offers.json", "get", 401);
    let body: Value = serde_json::from_str(&r.body).expect("a JSON answer");
    conforms(d, &failure, &body, "401");
    server.stop().await;
}

/// `start_at_row` and `row_limit` are documented with the bounds each list call enforces.
#[tokio::test]
async fn documented_row_bounds_are_the_enforced_ones() {
    // Every list has at least two rows, so that the second page's first row is checked too.
    let mut network: Value = serde_json::from_str(NETWORK).expect("network");
    network["campaigns"] = json!([
        {"campaign_id": 1, "offer_id": 11, "affiliate_id": 100, "campaign_status": "active"},
        {"campaign_id": 2, "offer_id": 12, "affiliate_id": 200, "campaign_status": "active"}
    ]);
    let server = TestServer::start(TestConfig::new(&network.to_string())).await;
    // Two records in the audit log.
    for name in ["A", "B"] {
        let r = api_post(
            &server,
            "update_affiliate.json",
            json!({"affiliate_id": 100, "affiliate_name": name}),
        )
        .await;
        ok(&r);
    }
    crate::partner_postbacks::failed_deliveries(&server, 100, 2).await;
    let doc = doc();
    for call in CALLS
        .iter()
        .filter(|c| c.params.iter().any(|p| p.name == "row_limit"))
    {
        let op = &path_item(&doc, &call_path(call))["get"];
        let schema = |name: &str| {
            let p = op["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .find(|p| p["name"] == name)
                .expect("documented");
            p["schema"].clone()
        };
        let first = schema("start_at_row")["minimum"].as_i64().expect("minimum");
        assert_eq!(schema("start_at_row")["default"], first, "{}", call.name);
        let limit = schema("row_limit");
        assert_eq!(limit["minimum"], 1, "{}", call.name);
        assert_eq!(limit["default"], 100, "{}", call.name);
        let max = limit["maximum"].as_i64().expect("maximum");
        for (args, status) in [
            (json!({"start_at_row": first}), 200),
            (json!({"start_at_row": first - 1}), 400),
            (json!({"row_limit": max}), 200),
            (json!({"row_limit": max + 1}), 400),
            (json!({"row_limit": 0}), 400),
        ] {
            let (got, body) = send(&server, call.name, args.clone(), false).await;
            assert_eq!(got, status, "{} {args}: {}", call.name, body["errors"]);
        }
        // Rows of the first page start at `first`: the first row is the first item.
        let (_, all) = send(&server, call.name, json!({}), false).await;
        let (_, paged) = send(
            &server,
            call.name,
            json!({"start_at_row": first, "row_limit": 1}),
            false,
        )
        .await;
        let list = |v: &Value| {
            v["response"]
                .as_object()
                .and_then(|r| r.values().find_map(Value::as_array))
                .cloned()
                .unwrap_or_default()
        };
        let all = list(&all);
        assert!(all.len() >= 2, "{}: two rows to page through", call.name);
        assert_eq!(list(&paged).first(), all.first(), "{}", call.name);
        let (_, second) = send(
            &server,
            call.name,
            json!({"start_at_row": first + 1, "row_limit": 1}),
            false,
        )
        .await;
        assert_eq!(list(&second), all[1..2], "{}", call.name);
    }
    server.stop().await;
}

/// The committed document is the generated one: each call's parameters come from its
/// declaration and the entities' condition fields from the dimensions
/// (`cargo run --example openapi` rewrites the file after a change).
#[test]
fn the_committed_document_is_generated_from_the_declarations() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let written = std::fs::read_to_string(path).unwrap();
    let generated = smartlink::api::openapi::render(&smartlink::api::openapi::document(&written));
    assert!(
        generated == written,
        "docs/openapi.json is stale: run `cargo run --example openapi`"
    );
    assert_eq!(
        *smartlink::api::openapi::DOCUMENT,
        written,
        "served as committed"
    );
}
