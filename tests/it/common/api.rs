//! Helpers for the management API over HTTP: requests with the test key, and the checks of
//! its answers (the success and failure envelopes, list items, the catalog on disk).

use http::StatusCode;
use serde_json::{Map, Value};

use super::*;

/// A query string: `api_key` first (when given), then `params`, form-encoded.
pub fn query(key: Option<&str>, params: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(key) = key {
        q.append_pair("api_key", key);
    }
    for (k, v) in params {
        q.append_pair(k, v);
    }
    q.finish()
}

/// `GET /api/2/{call}` with the test key and `params`.
pub async fn api_get(s: &TestServer, call: &str, params: &[(&str, &str)]) -> Reply {
    let q = query(Some(API_KEY), params);
    s.get(&format!("/api/2/{call}?{q}"), &[]).await
}

/// `POST /api/2/{call}` with a JSON body: `api_key` first, then the members of `params`.
pub async fn api_post(s: &TestServer, call: &str, params: Value) -> Reply {
    let mut body = Map::new();
    body.insert("api_key".into(), API_KEY.into());
    body.extend(params.as_object().expect("params are an object").clone());
    s.post_json(&format!("/api/2/{call}"), &Value::Object(body))
        .await
}

/// `POST /api/2/{call}` with a form body: `api_key` first, then `params`.
pub async fn api_post_form(s: &TestServer, call: &str, params: &[(&str, &str)]) -> Reply {
    s.post_form(&format!("/api/2/{call}"), &query(Some(API_KEY), params))
        .await
}

/// `POST /api/2/{call}` with these exact body bytes and content type.
pub async fn api_post_raw(s: &TestServer, call: &str, content_type: &str, body: &[u8]) -> Reply {
    let headers: Vec<(&str, &str)> = if content_type.is_empty() {
        vec![]
    } else {
        vec![("content-type", content_type)]
    };
    Client::connect(s.addr)
        .await
        .send_body("POST", &format!("/api/2/{call}"), &headers, body)
        .await
}

#[track_caller]
pub fn parse(r: &Reply) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", r.body))
}

/// A success: `200`, JSON, `"request_status": "Success"` first; the body.
#[track_caller]
pub fn ok(r: &Reply) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/json");
    let v = parse(r);
    assert_eq!(
        v.as_object()
            .and_then(|o| o.keys().next())
            .map(String::as_str),
        Some("request_status"),
        "{v}"
    );
    assert_eq!(v["request_status"], "Success", "{v}");
    v
}

/// A failure: `status`, JSON, exactly `{"request_status":"Failure","errors":[{"field":…,
/// "message":…},…]}`, the first error about `field`. Returns the body.
#[track_caller]
pub fn failure(r: &Reply, status: u16, field: Option<&str>) -> Value {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/json", "{}", r.body);
    let v = parse(r);
    let keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["request_status", "errors"], "{v}");
    assert_eq!(v["request_status"], "Failure", "{v}");
    let errors = v["errors"].as_array().expect("errors is an array");
    assert!(!errors.is_empty(), "{v}");
    for e in errors {
        let keys: Vec<&str> = e
            .as_object()
            .expect("an error is an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["field", "message"], "{v}");
        assert!(e["field"].is_string() || e["field"].is_null(), "{v}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    assert_eq!(
        errors[0]["field"],
        field.map_or(Value::Null, Value::from),
        "{v}"
    );
    v
}

/// The `field` of every error of a failure body.
pub fn fields(v: &Value) -> Vec<Value> {
    v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].clone())
        .collect()
}

/// The items of a list answer (`response.<list>` or `<list>`).
pub fn items<'v>(v: &'v Value, list: &str) -> &'v [Value] {
    v["response"][list]
        .as_array()
        .or_else(|| v[list].as_array())
        .unwrap_or_else(|| panic!("no list {list:?} in {v}"))
}

/// The `key` of every item of a list answer.
pub fn ids(v: &Value, list: &str, key: &str) -> Vec<u64> {
    items(v, list)
        .iter()
        .map(|i| i[key].as_u64().expect("an id"))
        .collect()
}

/// The catalog file as it is on disk now.
pub fn on_disk(s: &TestServer) -> Value {
    let bytes = std::fs::read(s.config.catalog_path()).expect("read catalog");
    serde_json::from_slice(&bytes).expect("the catalog file is JSON")
}

/// The entity `id` of `list` in the catalog file, if it is there.
pub fn disk_entity(s: &TestServer, list: &str, key: &str, id: u64) -> Option<Value> {
    on_disk(s)[list]
        .as_array()
        .and_then(|l| l.iter().find(|x| x[key] == id).cloned())
}

pub fn catalog_bytes(s: &TestServer) -> Vec<u8> {
    std::fs::read(s.config.catalog_path()).expect("read catalog")
}

/// A click's redirect target; asserts the `302`.
pub async fn click(s: &TestServer, target: &str, headers: &[(&str, &str)]) -> String {
    let r = s.get(target, headers).await;
    assert_eq!(r.status, StatusCode::FOUND, "{target}: {}", r.body);
    r.location().to_string()
}

/// A console session opened with `sign_in.json`: its cookie (`name=value`) and anti-CSRF
/// token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// Signs in to the console at `addr` with `key`; the answer must be a success.
pub async fn sign_in(addr: SocketAddr, key: &str) -> Session {
    let r = Client::connect(addr)
        .await
        .send_body(
            "POST",
            "/api/2/sign_in.json",
            &[("content-type", "application/json")],
            serde_json::json!({"api_key": key}).to_string().as_bytes(),
        )
        .await;
    let body = ok(&r);
    let cookie = r
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(cookie.starts_with("smartlink_session="), "{r:?}");
    Session {
        cookie,
        csrf: body["response"]["csrf_token"]
            .as_str()
            .expect("a token")
            .to_string(),
    }
}

impl Session {
    /// `GET /api/2/{call}?{query}` with the session's cookie (and no key).
    pub async fn get(&self, addr: SocketAddr, call: &str, query: &str) -> Reply {
        request(
            addr,
            "GET",
            &format!("/api/2/{call}?{query}"),
            &[("cookie", &self.cookie)],
        )
        .await
    }

    /// `POST /api/2/{call}` with a JSON body, the cookie, and `headers` (the anti-CSRF token
    /// and `Origin` are the caller's to give or leave out).
    pub async fn post(
        &self,
        addr: SocketAddr,
        call: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut all = vec![
            ("content-type", "application/json"),
            ("cookie", self.cookie.as_str()),
        ];
        all.extend_from_slice(headers);
        Client::connect(addr)
            .await
            .send_body(
                "POST",
                &format!("/api/2/{call}"),
                &all,
                body.to_string().as_bytes(),
            )
            .await
    }

    /// A write as the console makes it: the cookie, `X-CSRF-Token` and the console's own
    /// `Origin` (the test client sends `Host: localhost`).
    pub async fn write(&self, addr: SocketAddr, call: &str, body: &Value) -> Reply {
        self.post(
            addr,
            call,
            body,
            &[("x-csrf-token", &self.csrf), ("origin", "http://localhost")],
        )
        .await
    }
}
