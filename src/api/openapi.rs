//! The API's OpenAPI 3 document. `docs/openapi.json` is written by hand except for what this
//! module makes from the code, so that it cannot drift from it: each call's query parameters
//! (GET) or request body (POST), from its declaration in `calls`, and the targeting-condition
//! fields of the entities that carry them (`Offer`, `Attachment`), from `conditions`. The
//! document served at `/api/2/openapi.json` is [`document`]; a test keeps the file equal to
//! it, and `cargo run --example openapi` rewrites the file after a change.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::calls::{CALLS, Call};
use super::params::{MAX_BATCH_CALLS, Param, Presence, Type};
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

/// The request body of a POST call: the same object as JSON or as a form, with `api_key`;
/// the description and examples written by hand are kept.
fn request_body(op: &mut Value, call: &Call) {
    let mut properties = Map::new();
    for p in call.params {
        let mut s = schema(p);
        s["description"] = Value::from(description(p));
        properties.insert(p.name.to_string(), s);
    }
    let key = !call.needs_session();
    if key {
        properties.insert(
            "api_key".into(),
            json!({"description": "One of the configured API keys (`api.keys`; `api.read_keys` for reads and sign-in). A browser signed in to the console sends its session cookie and `X-CSRF-Token` instead.", "type": "string"}),
        );
    }
    let required: Vec<&str> = call
        .params
        .iter()
        .filter(|p| p.presence == Presence::Required)
        .map(|p| p.name)
        .chain(key.then_some("api_key"))
        .collect();
    let object = json!({
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": false,
    });
    // Lists of words are comma-separated in a form body; objects and lists of objects are
    // their JSON text.
    let lists: Map<String, Value> = call
        .params
        .iter()
        .filter_map(|p| match p.ty {
            Type::Condition(d) if json_text(d) => Some((
                p.name.to_string(),
                json!({"contentType": "application/json"}),
            )),
            Type::Calls => Some((
                p.name.to_string(),
                json!({"contentType": "application/json"}),
            )),
            Type::Condition(d) if d.shape() == Shape::List => Some((
                p.name.to_string(),
                json!({"style": "form", "explode": false}),
            )),
            _ => None,
        })
        .collect();
    let body = &mut op["requestBody"];
    body["required"] = Value::from(true);
    let json_body = &mut body["content"]["application/json"];
    json_body["schema"] = object.clone();
    let form = &mut body["content"]["application/x-www-form-urlencoded"];
    form["schema"] = object;
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

/// The JSON schema of a parameter's values.
fn schema(p: &Param) -> Value {
    let mut s = match p.ty {
        Type::Id => {
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": u32::MAX})
        }
        Type::Int { min, max: i64::MAX } => json!({"type": "integer", "minimum": min}),
        Type::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Type::Text => json!({"type": "string", "maxLength": 255}),
        Type::FreeText => json!({"type": "string", "maxLength": 2048}),
        Type::Url => json!({"type": "string", "format": "uri", "maxLength": 2048}),
        Type::OneOf(words) => json!({"type": "string", "enum": words}),
        Type::Condition(d) => condition_schema(d),
        Type::Ip => json!({"type": "string"}),
        Type::Token => json!({"type": "string", "minLength": 8, "maxLength": 255}),
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
    };
    if let Some(default) = p.default {
        s["default"] = Value::from(default);
    }
    if p.presence == Presence::Nullable {
        s["nullable"] = Value::from(true);
    }
    s
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
        (Dimension::Asn, ..) => json!({"oneOf": [
            {"type": "integer", "minimum": 1, "maximum": u32::MAX},
            {"type": "string", "pattern": "^(AS)?[0-9]{1,10}$"},
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
