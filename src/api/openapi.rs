//! The API's OpenAPI 3 document. `docs/openapi.json` is written by hand except for what this
//! module makes from the code, so that it cannot drift from it: each call's query parameters
//! (GET) or request body (POST), from its declaration in `calls`; the calls a batch may hold
//! (`BatchCall`, one shape per write call); the country codes (`CountryCode`, from `vocab`);
//! and the targeting-condition fields of the entities that carry them (`Offer`,
//! `Attachment`), from `conditions`. Each schema is the form `params` checks: a value
//! without it is a `400`, one with it that cannot be used a `422` (docs/api.md). The
//! document served at `/api/2/openapi.json` is [`document`]; a test keeps the file equal to
//! it, and `cargo run --example openapi` rewrites the file after a change.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::calls::{CALLS, Call};
use super::params::{
    JSON_TEXT_PATTERN, MAX_BATCH_CALLS, MAX_FREE_TEXT, Param, Presence, Type, URL_PATTERN,
};
use crate::catalog::validate::MAX_TEXT;
use crate::conditions::{Dimension, SUB_IDS, Shape, Side};

/// The document as written in the repository.
const WRITTEN: &str = include_str!("../../docs/openapi.json");

/// The document, generated once.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| render(&document(WRITTEN)));

/// The document text as the file holds it: pretty JSON and a final newline.
pub fn render(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    text
}

/// `written` with its generated parts made again from the code.
pub fn document(written: &str) -> Value {
    let mut doc: Value = serde_json::from_str(written).unwrap_or_else(|_| json!({}));
    for call in &CALLS {
        let path = format!("{}{}", super::PREFIX, call.name);
        let method = call.method.as_str().to_ascii_lowercase();
        let op = &mut doc["paths"][path.as_str()][method.as_str()];
        if call.takes_body() {
            request_body(op, call);
        } else {
            op["parameters"] = query_parameters(op, call);
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    schemas["CountryCode"]["enum"] = crate::vocab::iso_country_codes().collect();
    schemas["BatchCall"] = batch_call(&CALLS);
    condition_properties(&mut schemas["Offer"], Side::Offer, "offer_url");
    condition_properties(&mut schemas["Attachment"], Side::Attachment, "priority");
    doc
}

/// The query parameters of a GET call, `api_key` last; examples written by hand are kept.
fn query_parameters(op: &Value, call: &Call) -> Value {
    let mut params: Vec<Value> = call
        .params
        .iter()
        .map(|p| {
            let mut schema = schema(p);
            if let Some(example) =
                written_parameter(op, p.name).and_then(|w| w["schema"].get("example"))
            {
                schema["example"] = example.clone();
            }
            json!({
                "name": p.name,
                "in": "query",
                "description": description(p),
                "required": p.presence == Presence::Required,
                "schema": schema,
            })
        })
        .collect();
    // The console's own session calls take its cookie, not a key.
    if !call.needs_session() {
        params.push(json!({"$ref": "#/components/parameters/ApiKey"}));
    }
    Value::from(params)
}

fn written_parameter<'a>(op: &'a Value, name: &str) -> Option<&'a Value> {
    op["parameters"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
}

/// A call's parameters as one object (a form's, or JSON's: `form`); with `api_key` for a
/// request body, without it for a call of `batch.json`.
fn params_object(call: &Call, form: bool, api_key: bool) -> Value {
    let mut properties = Map::new();
    for p in call.params {
        let mut s = body_schema(p, form);
        s["description"] = Value::from(description(p));
        properties.insert(p.name.to_string(), s);
    }
    let mut required: Vec<&str> = call
        .params
        .iter()
        .filter(|p| p.presence == Presence::Required)
        .map(|p| p.name)
        .collect();
    if api_key {
        properties.insert(
            "api_key".into(),
            json!({"description": "One of the configured API keys (`api.keys`; `api.read_keys` for reads and sign-in). A browser signed in to the console sends its session cookie and `X-CSRF-Token` instead.", "type": "string"}),
        );
        required.push("api_key");
    }
    json!({
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": false,
    })
}

/// One call of a batch: one shape per write call, its name and its parameters as its own
/// JSON body would give them, without `api_key`.
fn batch_call(calls: &[Call]) -> Value {
    let shapes: Vec<Value> = calls
        .iter()
        .filter(|c| matches!(c.action, super::calls::Action::Write(_)))
        .map(|c| {
            let mut params = params_object(c, false, false);
            params["description"] = Value::from(format!(
                "The parameters of {}, as its own JSON body would give them, without api_key (the batch's covers every call).",
                c.name
            ));
            let mut required = vec!["call"];
            if c.params.iter().any(|p| p.presence == Presence::Required) {
                required.push("params");
            }
            json!({
                "type": "object",
                "title": c.name,
                "required": required,
                "properties": {
                    "call": {"type": "string", "enum": [c.name]},
                    "params": params,
                },
                "additionalProperties": false,
            })
        })
        .collect();
    json!({
        "description": "One write call: its name, as in its path, and its parameters (absent: none). Reads and batch.json are refused.",
        "oneOf": shapes,
    })
}

/// The request body of a POST call: the same object as JSON or as a form, with `api_key`
/// (but for the console's session calls); the description and examples written by hand are
/// kept.
fn request_body(op: &mut Value, call: &Call) {
    // Lists of words are comma-separated in a form body (objects and lists of objects are
    // their JSON text, a string: `body_schema`).
    let lists: Map<String, Value> = call
        .params
        .iter()
        .filter_map(|p| match p.ty {
            Type::Condition(d) if d.shape() == Shape::List && !json_text(d) => Some((
                p.name.to_string(),
                json!({"style": "form", "explode": false}),
            )),
            _ => None,
        })
        .collect();
    let body = &mut op["requestBody"];
    body["required"] = Value::from(true);
    let json_body = &mut body["content"]["application/json"];
    // The console's own session calls take its cookie, not a key.
    let key = !call.needs_session();
    json_body["schema"] = params_object(call, false, key);
    let form = &mut body["content"]["application/x-www-form-urlencoded"];
    form["schema"] = params_object(call, true, key);
    match lists.is_empty() {
        true => _ = form.as_object_mut().map(|f| f.remove("encoding")),
        false => form["encoding"] = Value::Object(lists),
    }
}

/// The description of a parameter: its own, or for a condition list its dimension's.
fn description(p: &Param) -> String {
    match p.ty {
        Type::Condition(d) => {
            let (_, exclude) = Dimension::of_field(Side::Attachment, p.name)
                .or(Dimension::of_field(Side::Offer, p.name))
                .unwrap_or((d, false));
            let what = match (d.shape(), exclude) {
                (Shape::Flag, true) => "true: clicks from such networks are turned away",
                (Shape::Flag, false) => "true: only clicks from such networks qualify",
                (_, true) => "Clicks whose value is in the list are turned away",
                (_, false) => "Only clicks whose value is in the list qualify",
            };
            let form = match (d.shape(), json_text(d)) {
                (Shape::Flag, _) => "true or false",
                (_, true) => "JSON (in a form body, its JSON text)",
                _ => "A JSON array, or comma-separated text (the only form in a form body)",
            };
            format!(
                "{what}: {}. Empty means any; a click without the value matches no list. {form}.",
                d.values()
            )
        }
        _ => p.doc.to_string(),
    }
}

/// Text without control characters (Unicode category Cc), which the server refuses in every
/// text parameter.
const NO_CONTROL: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// The JSON schema of a parameter's values. `maxLength` counts characters where the server
/// counts bytes of UTF-8: the two agree for ASCII text, and each description says bytes.
fn schema(p: &Param) -> Value {
    let text = |max: usize| {
        let mut s = json!({"type": "string", "maxLength": max, "pattern": NO_CONTROL});
        // An empty value clears a field that may be cleared; elsewhere it is refused.
        if p.presence != Presence::Nullable {
            s["minLength"] = Value::from(1);
        }
        s
    };
    let mut s = match p.ty {
        Type::Id => {
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": u32::MAX})
        }
        Type::Int { min, max } => {
            json!({"type": "integer", "format": "int64", "minimum": min, "maximum": max})
        }
        Type::Text => text(MAX_TEXT),
        Type::FreeText => text(MAX_FREE_TEXT),
        Type::Url | Type::PostbackUrl => json!({
            "type": "string", "format": "uri", "maxLength": MAX_FREE_TEXT, "pattern": URL_PATTERN,
        }),
        Type::OneOf(words) => json!({"type": "string", "enum": words}),
        Type::Condition(d) => condition_schema(d),
        Type::Ip => json!({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
        Type::Token => json!({
            "type": "string", "minLength": 8, "maxLength": MAX_TEXT, "pattern": "^[!-~]*$",
        }),
        Type::Money => json!({"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,6})?$"}),
        Type::Share => {
            json!({"type": "number", "minimum": 0, "maximum": crate::catalog::validate::MAX_MIN_SHARE})
        }
        Type::Calls => json!({
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH_CALLS,
            "items": {"$ref": "#/components/schemas/BatchCall"},
        }),
        Type::Bool => json!({"type": "boolean"}),
        Type::Time => json!({"type": "string", "format": "date-time"}),
    };
    if let Some(default) = p.default {
        s["default"] = Value::from(default);
    }
    if p.presence == Presence::Nullable {
        s["nullable"] = Value::from(true);
    }
    s
}

/// A parameter's schema in a request body: an empty value clears a field that may be
/// cleared, and so does `null` in JSON (a form has no null).
fn body_schema(p: &Param, form: bool) -> Value {
    let json_text = match p.ty {
        Type::Condition(d) => json_text(d),
        Type::Calls => true,
        _ => false,
    };
    if form && json_text {
        // Text holding the JSON value; text of this form that is not the value the field
        // takes is refused with `422` (JSON Schema cannot look inside it).
        let mut text = json!({"type": "string", "pattern": JSON_TEXT_PATTERN});
        if p.presence == Presence::Required {
            text["minLength"] = Value::from(1);
        }
        return text;
    }
    let mut s = schema(p);
    if p.presence != Presence::Nullable {
        return s;
    }
    if form && let Some(fields) = s.as_object_mut() {
        fields.remove("nullable");
    }
    if s["type"] == "string" {
        return s;
    }
    let mut either = json!({"anyOf": [s, {"type": "string", "maxLength": 0}]});
    if let Some(fields) = either["anyOf"][0].as_object_mut() {
        fields.remove("nullable");
        if let Some(default) = fields.remove("default") {
            either["default"] = default;
        }
    }
    if !form {
        either["nullable"] = Value::from(true);
    }
    either
}

/// Whether a condition's value is written as JSON text in a form body (objects, lists of
/// objects).
fn json_text(d: Dimension) -> bool {
    d.shape() == Shape::Map || d == Dimension::Schedule
}

/// The schema of a condition's value: a list of values, per sub id a list, or a flag.
fn condition_schema(d: Dimension) -> Value {
    match d.shape() {
        Shape::List => json!({"type": "array", "items": values(d)}),
        Shape::Map => {
            let list = json!({"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}});
            let subs: Map<String, Value> = SUB_IDS
                .iter()
                .map(|s| (s.to_string(), list.clone()))
                .collect();
            json!({"type": "object", "properties": subs, "additionalProperties": false})
        }
        Shape::Flag => json!({"type": "boolean"}),
    }
}

/// The schema of one value of a list dimension.
fn values(d: Dimension) -> Value {
    match (d, d.words(), d.pattern()) {
        (Dimension::Country, ..) => json!({"$ref": "#/components/schemas/CountryCode"}),
        (Dimension::Device, ..) => json!({"$ref": "#/components/schemas/DeviceClass"}),
        (Dimension::Asn, _, pattern) => json!({"oneOf": [
            {"type": "integer", "minimum": 1, "maximum": u32::MAX},
            {"type": "string", "pattern": pattern},
        ]}),
        (Dimension::Schedule, ..) => json!({
            "type": "object",
            "properties": {
                "days": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
                "from": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"},
                "to": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"},
            },
            "required": ["from", "to"],
            "additionalProperties": false,
        }),
        (_, Some(words), _) => json!({"type": "string", "enum": words}),
        (_, None, Some(pattern)) => json!({"type": "string", "pattern": pattern}),
        (_, None, None) => json!({"type": "string"}),
    }
}

/// Puts the condition fields of `side` into an entity's schema after `after`, in the order
/// list answers write them: every dimension's include and exclude list, the include lists
/// of the dimensions always listed also `required`.
fn condition_properties(schema: &mut Value, side: Side, after: &str) {
    let Some(written) = schema["properties"].as_object().cloned() else {
        return;
    };
    let is_condition = |name: &str| Dimension::of_field(side, name).is_some();
    let mut properties = Map::new();
    for (name, value) in written.iter().filter(|(n, _)| !is_condition(n)) {
        properties.insert(name.clone(), value.clone());
        if name == after {
            for d in Dimension::ALL {
                for exclude in [false, true] {
                    let field = d.field(side, exclude);
                    let what = if exclude { "Turned away" } else { "Only these" };
                    let any = if exclude { "" } else { " Empty: any." };
                    let description = format!("{what}: {}.{any}", d.values());
                    let mut schema = condition_schema(d);
                    schema["description"] = Value::from(description);
                    properties.insert(field.to_string(), schema);
                }
            }
        }
    }
    schema["properties"] = Value::Object(properties);
    let mut required: Vec<Value> = schema["required"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.as_str().is_none_or(|n| !is_condition(n)))
        .collect();
    let at = required
        .iter()
        .position(|r| r == after)
        .map_or(required.len(), |i| i + 1);
    let always = Dimension::ALL
        .into_iter()
        .filter(|d| d.always_listed())
        .map(|d| Value::from(d.field(side, false)));
    required.splice(at..at, always);
    schema["required"] = Value::from(required);
}
