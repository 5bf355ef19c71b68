//! Parameters of an API call: declared once per call ([`Param`]), read from the query string
//! (GET) or a JSON or form body (POST), checked against the declaration, typed ([`Args`]).
//!
//! Every problem is reported at once, each naming its field. Unknown parameters are refused
//! (a misspelt `ofer_weight` must not be silently ignored); so is a parameter given twice.
//! A value is checked for what it is on its own (type, range, URL syntax, country code);
//! whether it fits the network (the offer exists, is active) is the catalog's check. The
//! OpenAPI document gives each parameter's form (`api::openapi`): a value without that form
//! is refused with `400`; with it, but unusable (a network with host bits set, an unknown
//! macro), with `422` (`Refused`), so that whatever the document calls valid is never a
//! `400`.
//!
//! JSON bodies carry numbers as numbers or digit strings, lists as arrays or comma-separated
//! strings. Form bodies and query strings carry everything as text; lists are
//! comma-separated. `null` (JSON) or an empty value (form) clears a field that may be
//! cleared ([`Presence::Nullable`]).

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;

use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};
use crate::catalog::validate::{MAX_MIN_SHARE, MAX_TEXT, check_token};
use crate::conditions::{Dimension, Shape};
use crate::money::{BadMoney, Money};
use crate::template::Template;

/// Longest accepted text of a parameter that is not stored in the catalog (a user agent).
pub const MAX_FREE_TEXT: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A positive 32-bit integer.
    Id,
    /// An integer in a range.
    Int { min: i64, max: i64 },
    /// Text of at most 255 bytes (names, sub_affiliate, ...).
    Text,
    /// Text of at most 2048 bytes, not stored (a user agent).
    FreeText,
    /// An absolute http(s) URL whose `{macros}` are known.
    Url,
    /// A partner postback URL: a [`Type::Url`] that may also use the postback macros.
    PostbackUrl,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// A targeting condition's list (`conditions::Dimension`).
    Condition(Dimension),
    /// An IPv4 or IPv6 address.
    Ip,
    /// A postback token: 8 to 255 printable ASCII characters.
    Token,
    /// An amount of money (`12.50`): a string or a number, read exactly.
    Money,
    /// A share of clicks, a number from 0 to `optimize_min_share`'s maximum.
    Share,
    /// A batch's calls: a JSON array of 1 to [`MAX_BATCH_CALLS`] objects (in a form body,
    /// its JSON text). Each call is checked against its own parameters by the batch.
    Calls,
    /// `true` or `false` (in a form body, `true`/`1` or `false`/`0`).
    Bool,
    /// An RFC 3339 date-time (`2026-12-01T18:30:00Z`).
    Time,
}

/// The most calls one `batch.json` holds.
pub const MAX_BATCH_CALLS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    /// Optional, and `null` (or an empty form value) clears it.
    Nullable,
}

/// A parameter of a call: a [`Field`] with whether the call needs it.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub ty: Type,
    pub presence: Presence,
    /// What it means in this call (the OpenAPI document's description).
    pub doc: &'static str,
    /// The value taken when it is not given (documented; the handler reads it from here).
    pub default: Option<i64>,
}

impl Param {
    /// The same parameter with another description (a filter of a list, say).
    pub const fn doc(self, doc: &'static str) -> Param {
        Param { doc, ..self }
    }
}

/// A parameter of the API, declared once (`api::fields`): its name, the type of its values,
/// what it means, and what a handler reads from it (`T`), so that a misspelt name does not
/// compile and a handler cannot read an id as text.
pub struct Field<T> {
    pub name: &'static str,
    pub ty: Type,
    pub doc: &'static str,
    /// The value taken when it is not given.
    pub default: Option<i64>,
    read: PhantomData<fn() -> T>,
}

impl<T> Clone for Field<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Field<T> {}

impl<T> Field<T> {
    pub const fn new(name: &'static str, ty: Type, doc: &'static str) -> Field<T> {
        Field {
            name,
            ty,
            doc,
            default: None,
            read: PhantomData,
        }
    }

    /// The same field with a default value.
    pub const fn default(self, value: i64) -> Field<T> {
        Field {
            default: Some(value),
            ..self
        }
    }

    const fn param(self, presence: Presence) -> Param {
        Param {
            name: self.name,
            ty: self.ty,
            presence,
            doc: self.doc,
            default: self.default,
        }
    }

    pub const fn required(self) -> Param {
        self.param(Presence::Required)
    }

    pub const fn optional(self) -> Param {
        self.param(Presence::Optional)
    }

    /// Optional, and `null` (or an empty form value) clears it.
    pub const fn nullable(self) -> Param {
        self.param(Presence::Nullable)
    }
}

/// A checked value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Text(String),
    /// A condition's list, as the catalog stores it.
    Json(Value),
    /// Cleared (`null` or an empty form value).
    Null,
}

impl Arg {
    /// The value as it is echoed in answers.
    pub fn to_json(&self) -> Value {
        match self {
            Arg::Int(n) => Value::from(*n),
            Arg::Text(t) => Value::from(t.as_str()),
            Arg::Json(v) => v.clone(),
            Arg::Null => Value::Null,
        }
    }
}

/// What a handler reads from a checked value.
pub trait Read: Sized {
    fn read(arg: &Arg) -> Option<Self>;
}

impl Read for i64 {
    fn read(arg: &Arg) -> Option<i64> {
        match arg {
            Arg::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl Read for u32 {
    fn read(arg: &Arg) -> Option<u32> {
        i64::read(arg).and_then(|n| u32::try_from(n).ok())
    }
}

impl Read for u64 {
    fn read(arg: &Arg) -> Option<u64> {
        i64::read(arg).and_then(|n| u64::try_from(n).ok())
    }
}

impl Read for u8 {
    fn read(arg: &Arg) -> Option<u8> {
        i64::read(arg).and_then(|n| u8::try_from(n).ok())
    }
}

impl Read for String {
    fn read(arg: &Arg) -> Option<String> {
        match arg {
            Arg::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
}

impl Read for Money {
    fn read(arg: &Arg) -> Option<Money> {
        match arg {
            Arg::Text(t) => Money::parse(t).ok(),
            _ => None,
        }
    }
}

impl Read for f64 {
    fn read(arg: &Arg) -> Option<f64> {
        match arg {
            Arg::Json(v) => v.as_f64(),
            _ => None,
        }
    }
}

impl Read for Value {
    fn read(arg: &Arg) -> Option<Value> {
        match arg {
            Arg::Json(v) => Some(v.clone()),
            _ => None,
        }
    }
}

impl Read for bool {
    fn read(arg: &Arg) -> Option<bool> {
        match arg {
            Arg::Json(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }
}

/// A word parameter read as the catalog's enumeration of it (statuses, rotation).
macro_rules! read_word {
    ($($t:ty),*) => {$(
        impl Read for $t {
            fn read(arg: &Arg) -> Option<$t> {
                match arg {
                    Arg::Text(t) => serde_json::from_value(Value::from(t.as_str())).ok(),
                    _ => None,
                }
            }
        }
    )*};
}

read_word!(
    crate::catalog::Status,
    crate::catalog::LinkStatus,
    crate::catalog::Rotation
);

/// The checked parameters of one call, in declaration order.
#[derive(Debug, Default)]
pub struct Args {
    args: Vec<(&'static str, Arg)>,
}

impl Args {
    fn arg(&self, name: &str) -> Option<&Arg> {
        self.args.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
    }

    /// The value of `field`, when given (and not cleared).
    pub fn get<T: Read>(&self, field: Field<T>) -> Option<T> {
        self.arg(field.name).and_then(T::read)
    }

    /// For an update: `None` when `field` is not given, `Some(None)` when it is cleared.
    pub fn change<T: Read>(&self, field: Field<T>) -> Option<Option<T>> {
        match self.arg(field.name)? {
            Arg::Null => Some(None),
            a => Some(T::read(a)),
        }
    }

    /// The list of a condition field (by its name, from `conditions::Dimension`).
    pub fn condition(&self, name: &str) -> Option<&Value> {
        match self.arg(name) {
            Some(Arg::Json(v)) => Some(v),
            _ => None,
        }
    }

    /// The parameters given, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Arg)> {
        self.args.iter().map(|(n, a)| (*n, a))
    }
}

/// Raw values as they arrived, before checking: name → value, in order, repeats kept (a
/// form value is a JSON string).
pub struct Raw(Vec<(String, Value)>);

/// The members of a JSON object in order, duplicate names kept (a `Map` would keep only the
/// last, silently).
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Members, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some((name, Strict(value))) = map.next_entry::<String, Strict>()? {
                    members.push((name, value));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// A JSON value whose objects, at any depth, name each member once: a name given twice
/// inside a value (a batch call's `params`, a condition object) is refused rather than
/// silently keeping the last.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        use serde::de::{Error, MapAccess, SeqAccess, Visitor};
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
                Ok(Value::from(n))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
                Ok(Value::from(n))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
                Ok(Value::from(n))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::from(s))
            }
            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::String(s))
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(Strict(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Value::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut members = Map::new();
                while let Some((name, Strict(value))) = map.next_entry::<String, Strict>()? {
                    if members.contains_key(&name) {
                        return Err(A::Error::custom(format!(
                            "member {name:?} is given more than once"
                        )));
                    }
                    members.insert(name, value);
                }
                Ok(Value::Object(members))
            }
        }
        d.deserialize_any(Visit).map(Strict)
    }
}

impl Raw {
    /// Parses a form-encoded text.
    pub fn form(bytes: &[u8]) -> Raw {
        Raw(form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect())
    }

    /// The members of a JSON object, as a JSON body would give them (a batch's `params`).
    pub fn members(members: Map<String, Value>) -> Raw {
        Raw(members.into_iter().collect())
    }

    /// Parses a JSON body: an object, else a `400`.
    pub fn json(bytes: &[u8]) -> Result<Raw, ApiError> {
        match serde_json::from_slice::<Members>(bytes) {
            Ok(Members(members)) => Ok(Raw(members)),
            // An object whose value names a member twice (`Strict`).
            Err(e) if e.is_data() && bytes.trim_ascii_start().first() == Some(&b'{') => Err(
                ApiError::bad_request(None, format!("the request body is not valid: {e}")),
            ),
            Err(e) if e.is_data() => Err(ApiError::bad_request(
                None,
                "the request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::bad_request(
                None,
                format!("the request body is not valid JSON: {e}"),
            )),
        }
    }

    /// Removes and returns the `api_key`; `Err` when it is given twice.
    pub fn take_api_key(&mut self) -> Result<Option<String>, ApiError> {
        let mut keys = Vec::new();
        self.0.retain_mut(|(k, v)| {
            if k != "api_key" {
                return true;
            }
            keys.push(std::mem::take(v));
            false
        });
        match keys.pop() {
            None => Ok(None),
            Some(_) if !keys.is_empty() => Err(ApiError::bad_request(
                Some("api_key"),
                "is given more than once",
            )),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Ok(None),
        }
    }

    /// Checks every raw value against `params`.
    pub fn check(self, params: &[Param]) -> Result<Args, ApiError> {
        let mut given: HashMap<String, Value> = HashMap::new();
        let mut repeated: BTreeSet<String> = BTreeSet::new();
        for (k, v) in self.0 {
            match given.entry(k) {
                Entry::Occupied(e) => {
                    repeated.insert(e.key().clone());
                }
                Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        let mut errors: Vec<FieldError> = repeated
            .iter()
            .map(|k| FieldError::new(Some(k), "is given more than once"))
            .collect();
        let mut args = Vec::new();
        // Whether every problem is a value of the documented form refused for its meaning.
        let mut only_meaning = errors.is_empty();
        for p in params {
            match given.remove(p.name) {
                _ if repeated.contains(p.name) => {}
                None if p.presence == Presence::Required => {
                    only_meaning = false;
                    errors.push(FieldError::new(Some(p.name), "is required"))
                }
                None => {}
                Some(v) => match check_value(p, v) {
                    Ok(a) => args.push((p.name, a)),
                    Err(refused) => {
                        only_meaning &= refused.form_ok;
                        errors.push(FieldError::new(Some(p.name), refused.message))
                    }
                },
            }
        }
        let mut unknown: Vec<String> = given
            .into_keys()
            .filter(|k| !repeated.contains(k))
            .collect();
        unknown.sort();
        only_meaning &= unknown.is_empty();
        errors.extend(
            unknown
                .iter()
                .map(|k| FieldError::new(Some(k), "is not a parameter of this call")),
        );
        match (errors.is_empty(), only_meaning) {
            (true, _) => Ok(Args { args }),
            (false, true) => Err(ApiError::unprocessable_all(errors)),
            (false, false) => Err(ApiError::bad_request_all(errors)),
        }
    }
}

/// Why a value is refused: it is not of the form the OpenAPI document gives its parameter
/// (`400`), or it is, and what it says cannot be used (`form_ok`, `422`): a network with
/// host bits set, a URL template with an unknown macro. JSON Schema cannot say those.
struct Refused {
    message: String,
    form_ok: bool,
}

impl From<String> for Refused {
    fn from(message: String) -> Refused {
        Refused {
            message,
            form_ok: false,
        }
    }
}

impl From<&str> for Refused {
    fn from(message: &str) -> Refused {
        Refused::from(message.to_string())
    }
}

/// The form of a URL template in the OpenAPI document: http or https, a host of letters,
/// digits, dots and dashes (and a port), then printable ASCII. What it says is checked after:
/// braces must hold a known macro, the URL parser must take it (a port past 65535 it does
/// not): such a template of this form is refused with `422`.
pub const URL_PATTERN: &str = "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-~]*)?$";

/// Whether `text` matches `pattern`, a regular expression of the OpenAPI document.
fn matches(pattern: &str, text: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|r| r.is_match(text))
}

/// Whether every value of a condition's list has the form the document gives it.
fn documented_form(d: Dimension, values: &Value) -> bool {
    let Some(pattern) = d.pattern() else {
        return false;
    };
    let Value::Array(items) = values else {
        return false;
    };
    // Compiled once per refused list, on this error path only.
    let Ok(form) = regex::Regex::new(pattern) else {
        return false;
    };
    items.iter().all(|item| match item {
        Value::String(s) => form.is_match(s),
        Value::Number(n) => {
            d == Dimension::Asn
                && n.as_u64()
                    .is_some_and(|n| (1..=u64::from(u32::MAX)).contains(&n))
        }
        _ => false,
    })
}

/// The form of a value given as its JSON text (a condition object or list of objects, a
/// batch's calls, in a form body): empty, or text that starts like a JSON list or object.
pub const JSON_TEXT_PATTERN: &str = "^(\\s*[\\[{][\\s\\S]*)?$";

fn check_value(p: &Param, v: Value) -> Result<Arg, Refused> {
    let json_text = matches!(p.ty, Type::Condition(_) | Type::Calls)
        && matches!(&v, Value::String(t) if t.trim_start().starts_with(['[', '{']));
    check_typed(p, v).map_err(|refused| Refused {
        form_ok: refused.form_ok || json_text,
        ..refused
    })
}

fn check_typed(p: &Param, v: Value) -> Result<Arg, Refused> {
    let empty_text = matches!(&v, Value::String(s) if s.is_empty());
    if v.is_null() || (empty_text && !matches!(p.ty, Type::Condition(_))) {
        return match p.presence {
            Presence::Nullable => Ok(Arg::Null),
            Presence::Required => Err("is required".into()),
            Presence::Optional => Err("must not be empty".into()),
        };
    }
    let meaning = |message: String| Refused {
        message,
        form_ok: true,
    };
    match p.ty {
        Type::Id => Ok(int(&v, 1, i64::from(u32::MAX), "a positive integer")?),
        Type::Int { min, max } => Ok(int(&v, min, max, "an integer")?),
        Type::Text => Ok(Arg::Text(text(v, MAX_TEXT)?)),
        Type::FreeText => Ok(Arg::Text(text(v, MAX_FREE_TEXT)?)),
        Type::Url | Type::PostbackUrl => {
            let url = text(v, MAX_FREE_TEXT)?;
            let parsed = match p.ty {
                Type::Url => Template::parse(&url),
                _ => Template::parse_postback(&url),
            };
            if let Err(e) = parsed {
                let message = format!("{url:?} {e}");
                return Err(match matches(URL_PATTERN, &url) {
                    true => meaning(message),
                    false => message.into(),
                });
            }
            Ok(Arg::Text(url))
        }
        Type::OneOf(words) => match v {
            Value::String(s) if words.contains(&s.as_str()) => Ok(Arg::Text(s)),
            _ => Err(format!("must be one of: {}", words.join(", ")).into()),
        },
        Type::Condition(dimension) => {
            let values = condition_value(dimension.shape(), v)?;
            match dimension.parse(&values) {
                Ok(_) => Ok(Arg::Json(values)),
                Err(errors) => {
                    let message = errors
                        .into_iter()
                        .map(|(_, message)| message)
                        .collect::<Vec<_>>()
                        .join("; ");
                    Err(match documented_form(dimension, &values) {
                        true => meaning(message),
                        false => message.into(),
                    })
                }
            }
        }
        Type::Token => {
            let token = text(v, MAX_TEXT)?;
            check_token(&token)?;
            Ok(Arg::Text(token))
        }
        Type::Bool => match condition_value(Shape::Flag, v)? {
            flag @ Value::Bool(_) => Ok(Arg::Json(flag)),
            _ => Err("must be true or false".into()),
        },
        Type::Time => {
            let time = text(v, MAX_TEXT)?;
            match crate::clock::parse_time(&time) {
                Ok(_) => Ok(Arg::Text(time)),
                Err(e) => Err(e.into()),
            }
        }
        Type::Ip => match v {
            Value::String(s) if s.parse::<std::net::IpAddr>().is_ok() => Ok(Arg::Text(s)),
            _ => Err("must be an IPv4 or IPv6 address".into()),
        },
        Type::Money => {
            let money: Money = serde_json::from_value(v).map_err(|_| BadMoney.to_string())?;
            Ok(Arg::Text(money.to_string()))
        }
        Type::Share => {
            let max = MAX_MIN_SHARE;
            let share = match &v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse::<f64>().ok(),
                _ => None,
            };
            match share {
                Some(x) if (0.0..=max).contains(&x) => Ok(Arg::Json(Value::from(x))),
                _ => Err(format!("must be a number from 0 to {max}").into()),
            }
        }
        Type::Calls => {
            let calls = match v {
                Value::String(text) => {
                    serde_json::from_str(&text).map_err(|e| format!("is not valid JSON: {e}"))?
                }
                v => v,
            };
            match calls {
                Value::Array(items) if items.is_empty() => {
                    Err("must hold at least one call".into())
                }
                Value::Array(items) if items.len() > MAX_BATCH_CALLS => Err(format!(
                    "holds {} calls; a batch holds at most {MAX_BATCH_CALLS}",
                    items.len()
                )
                .into()),
                Value::Array(items) => Ok(Arg::Json(Value::Array(items))),
                _ => Err("must be a JSON array of calls".into()),
            }
        }
    }
}

fn int(v: &Value, min: i64, max: i64, what: &str) -> Result<Arg, String> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Value::String(s) if s.starts_with('-') && s[1..].bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(Arg::Int(n)),
        Some(n) => Err(format!(
            "{n} is out of range: must be {what} from {min} to {max}"
        )),
        None => Err(format!("must be {what}")),
    }
}

fn text(v: Value, max: usize) -> Result<String, String> {
    match v {
        Value::String(s) if s.len() > max => {
            Err(format!("is {} bytes long; at most {max}", s.len()))
        }
        Value::String(s) if s.chars().any(char::is_control) => {
            Err("must not contain control characters".into())
        }
        Value::String(s) => Ok(s),
        _ => Err("must be a string".into()),
    }
}

/// A condition's value as the catalog writes it: a list (a JSON array, or comma-separated
/// text), an object (or its JSON text, the only form in a form body), or a flag (`true`,
/// `false`, or their text).
fn condition_value(shape: Shape, v: Value) -> Result<Value, String> {
    if let Value::String(text) = &v
        && text.trim_start().starts_with(['[', '{'])
    {
        return serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"));
    }
    match (shape, v) {
        (Shape::List, Value::Array(items)) => Ok(Value::Array(items)),
        (Shape::List, Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(Value::from)
            .collect()),
        (Shape::List, _) => Err("must be a list (a JSON array, or comma-separated text)".into()),
        (Shape::Map, Value::String(text)) if text.is_empty() => Ok(Value::Object(Map::new())),
        (Shape::Map, Value::String(_)) => {
            Err("must be a JSON object, e.g. {\"s1\": [\"fb\"]}".into())
        }
        (Shape::Map, v) => Ok(v),
        (Shape::Flag, Value::String(text)) => match text.as_str() {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" | "" => Ok(Value::Bool(false)),
            _ => Err("must be true or false".into()),
        },
        (Shape::Flag, v) => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER_ID: Field<u32> = Field::new("offer_id", Type::Id, "");
    const WEIGHT: Field<i64> = Field::new("offer_weight", Type::Int { min: 1, max: 100 }, "");
    const FALLBACK: Field<String> = Field::new("fallback_url", Type::Url, "");
    const COUNTRIES: Field<Value> =
        Field::new("countries", Type::Condition(Dimension::Country), "");
    const STATUS: Field<String> = Field::new("status", Type::OneOf(&["active", "paused"]), "");
    const PARAMS: &[Param] = &[
        OFFER_ID.required(),
        WEIGHT.optional(),
        FALLBACK.nullable(),
        COUNTRIES.optional(),
        STATUS.optional(),
    ];

    fn errors(e: ApiError) -> Vec<(Option<String>, String)> {
        e.errors.into_iter().map(|f| (f.field, f.message)).collect()
    }

    #[test]
    fn form_and_json_give_the_same_args() {
        let form = Raw::form(b"offer_id=1042&offer_weight=60&countries=US,CA&fallback_url=")
            .check(PARAMS)
            .unwrap();
        let json = Raw::json(
            br#"{"offer_id":1042,"offer_weight":"60","countries":["US","CA"],"fallback_url":null}"#,
        )
        .unwrap()
        .check(PARAMS)
        .unwrap();
        for args in [form, json] {
            assert_eq!(args.get(OFFER_ID), Some(1042));
            assert_eq!(args.get(WEIGHT), Some(60));
            assert_eq!(args.get(COUNTRIES), Some(serde_json::json!(["US", "CA"])));
            assert_eq!(args.change(FALLBACK), Some(None));
            assert_eq!(args.get(STATUS), None);
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let e =
            Raw::form(b"offer_weight=500&countries=US,UK&status=gone&wat=1&fallback_url=ftp://x")
                .check(PARAMS)
                .unwrap_err();
        let fields: Vec<_> = errors(e).into_iter().map(|(f, _)| f.unwrap()).collect();
        assert_eq!(
            fields,
            [
                "offer_id",
                "offer_weight",
                "fallback_url",
                "countries",
                "status",
                "wat"
            ]
        );
    }

    #[test]
    fn repeated_and_mistyped_values_are_refused() {
        let e = Raw::form(b"offer_id=1&offer_id=2")
            .check(PARAMS)
            .unwrap_err();
        assert_eq!(errors(e)[0].1, "is given more than once");
        let e = Raw::json(br#"{"offer_id":1.5}"#)
            .unwrap()
            .check(PARAMS)
            .unwrap_err();
        assert_eq!(errors(e)[0].1, "must be a positive integer");
        let e = Raw::json(br#"{"offer_id":0}"#)
            .unwrap()
            .check(PARAMS)
            .unwrap_err();
        assert!(errors(e)[0].1.contains("out of range"));
        assert!(Raw::json(b"[1]").is_err());
        assert!(Raw::json(b"{").is_err());
    }

    #[test]
    fn a_name_repeated_in_a_json_object_is_refused() {
        let e = Raw::json(br#"{"offer_id":1,"offer_id":2}"#)
            .unwrap()
            .check(PARAMS)
            .unwrap_err();
        assert_eq!(
            errors(e),
            [(
                Some("offer_id".to_string()),
                "is given more than once".to_string()
            )]
        );
        let mut raw = Raw::json(br#"{"api_key":"a","api_key":"b"}"#).unwrap();
        assert!(raw.take_api_key().is_err());
        // Inside a value too: a batch call's parameters, a condition object.
        let e = Raw::json(br#"{"calls":[{"call":"x","params":{"a":1,"a":2}}]}"#)
            .err()
            .expect("refused");
        assert!(
            e.errors[0]
                .message
                .contains("\"a\" is given more than once"),
            "{e:?}"
        );
        let v = Raw::json(br#"{"p":{"s1":["a"],"s2":[1.5,null,true]}}"#).unwrap();
        assert_eq!(
            v.0,
            [(
                "p".to_string(),
                serde_json::json!({"s1":["a"],"s2":[1.5,null,true]})
            )]
        );
    }

    #[test]
    fn api_key_is_taken_out_before_checking() {
        let mut raw = Raw::form(b"api_key=k&offer_id=3");
        assert_eq!(raw.take_api_key().unwrap().as_deref(), Some("k"));
        assert_eq!(raw.check(PARAMS).unwrap().get(OFFER_ID), Some(3));
        let mut raw = Raw::form(b"api_key=k&api_key=j");
        assert!(raw.take_api_key().is_err());
    }
}
