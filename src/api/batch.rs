//! `batch.json`: up to [`MAX_BATCH_CALLS`] write calls applied as one change (docs/api.md).
//!
//! Every call's parameters are checked first, all of them, against the call's own
//! declaration; a single problem anywhere refuses the batch before anything is applied.
//! Then one [`State::edit_catalog`] applies each call's [`Change`] in order to the same copy
//! of the catalog (so a create sees the ids the creates before it took), and that copy is
//! validated once, saved once and swapped once (one compare-and-set in cluster mode). The
//! answer lists each call's own success body; a failure names the call by its index
//! (`calls[3].campaign_id`) and nothing changes. The audit log gets one record for the
//! batch, every call listed in it.

use serde_json::{Map, Value, json};

use super::calls::{self, Action, BATCH, Call, Change};
use super::error::ApiError;
use super::fields::CALLS_LIST;
use super::params::{Args, MAX_BATCH_CALLS, Raw};
use super::write::changed;
use crate::audit;
use crate::catalog::Catalog;
use crate::catalog::validate::Problem;
use crate::state::{EditError, State};
use crate::vocab::Rejection;

/// One checked call of a batch.
pub(super) struct Checked {
    call: &'static Call,
    change: Change,
    args: Args,
}

/// Runs a batch for the key with fingerprint `key`.
pub fn run(state: &State, key: &str, args: &Args) -> Result<Value, ApiError> {
    let items = args.get(CALLS_LIST).unwrap_or_default();
    let calls = check(items)?;
    let audited = audit::Change {
        key: Some(key.to_string()),
        call: BATCH.to_string(),
        params: json!({
            "calls": calls
                .iter()
                .map(|c| json!({"call": c.call.name, "params": changed(&c.args)}))
                .collect::<Vec<_>>(),
        }),
    };
    let applied = state.edit_catalog(&audited, |catalog| apply(state, catalog, &calls));
    match applied {
        Ok(answers) => Ok(json!({"request_status": "Success", "calls": answers})),
        Err(EditError::Invalid(problems)) => Err(attribute(state, &calls, &problems)),
        Err(e) => Err(e.into()),
    }
}

/// Applies every call in order; the first refusal names its call.
pub(super) fn apply(
    state: &State,
    catalog: &mut Catalog,
    calls: &[Checked],
) -> Result<Vec<Value>, ApiError> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.change)(state, catalog, &c.args).map_err(|e| at(i, e)))
        .collect()
}

/// Each item of `calls` as a write call with checked parameters, or every problem of every
/// item (`400`; `422` when every refused value has its documented form, as for one call).
pub(super) fn check(items: Value) -> Result<Vec<Checked>, ApiError> {
    let Value::Array(items) = items else {
        return Err(ApiError::bad_request(
            Some(CALLS_LIST.name),
            "must be a JSON array of calls",
        ));
    };
    debug_assert!(items.len() <= MAX_BATCH_CALLS, "checked with the parameter");
    let mut checked = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    let mut only_meaning = true;
    for (i, item) in items.into_iter().enumerate() {
        match check_one(item) {
            Ok(c) => checked.push(c),
            Err(e) => {
                only_meaning &= e.rejection == Rejection::Unprocessable;
                errors.extend(at(i, e).errors)
            }
        }
    }
    match (errors.is_empty(), only_meaning) {
        (true, _) => Ok(checked),
        (false, true) => Err(ApiError::unprocessable_all(errors)),
        (false, false) => Err(ApiError::bad_request_all(errors)),
    }
}

/// `{"call": name, "params": {…}}` as a write call and its checked parameters.
fn check_one(item: Value) -> Result<Checked, ApiError> {
    let Value::Object(mut item) = item else {
        return Err(ApiError::bad_request(
            None,
            "must be an object {\"call\": ..., \"params\": {...}}",
        ));
    };
    let name = match item.remove("call") {
        Some(Value::String(name)) => name,
        Some(_) => return Err(ApiError::bad_request(Some("call"), "must be a string")),
        None => return Err(ApiError::bad_request(Some("call"), "is required")),
    };
    let params = match item.remove("params") {
        Some(Value::Object(params)) => params,
        None => Map::new(),
        Some(_) => {
            return Err(ApiError::bad_request(
                Some("params"),
                "must be an object of the call's parameters",
            ));
        }
    };
    if let Some(other) = item.keys().next() {
        return Err(ApiError::bad_request(
            Some(other),
            "is not a member of a batch call (call, params)",
        ));
    }
    let call = calls::find(&name)
        .ok_or_else(|| ApiError::bad_request(Some("call"), format!("{name:?} is no API call")))?;
    let change = match call.action {
        Action::Write(change) => change,
        Action::Read(_) | Action::Session => {
            return Err(ApiError::bad_request(
                Some("call"),
                format!("{name} is a read; a batch holds write calls only"),
            ));
        }
        Action::Operate(_) => {
            return Err(ApiError::bad_request(
                Some("call"),
                format!("{name} changes no catalog; a batch holds write calls only"),
            ));
        }
        Action::SignIn | Action::SignOut => {
            return Err(ApiError::bad_request(
                Some("call"),
                format!("{name} signs a console in or out; a batch holds write calls only"),
            ));
        }
        Action::Batch | Action::Preview => {
            return Err(ApiError::bad_request(
                Some("call"),
                format!("a batch cannot hold {name}"),
            ));
        }
    };
    // The batch's api_key covers its calls: one given here is an unknown parameter.
    let args = Raw::members(params).check(call.params)?;
    Ok(Checked { call, change, args })
}

/// `e` as the failure of call `i`: each field under `calls[i]`.
fn at(i: usize, mut e: ApiError) -> ApiError {
    for f in &mut e.errors {
        f.field = Some(match f.field.take() {
            Some(name) => format!("calls[{i}].{name}"),
            None => format!("calls[{i}]"),
        });
    }
    e
}

/// The `422` of a batch whose result breaks the catalog's rules, naming the call that broke
/// them: the first one after which the catalog served now, with the calls up to it applied,
/// is invalid (found by bisection: about ten validations of a copy, on this failure path
/// only). When no call can be singled out (another write landed meanwhile), the problems
/// are the whole batch's.
pub(super) fn attribute(state: &State, calls: &[Checked], problems: &[Problem]) -> ApiError {
    let base = Catalog::clone(&state.snapshot().catalog);
    let problems_after = |n: usize| -> Option<Vec<Problem>> {
        let mut catalog = base.clone();
        apply(state, &mut catalog, &calls[..n]).ok()?;
        crate::catalog::validate(catalog).err()
    };
    let whole = || ApiError::invalid(problems);
    // Invariant: the first `valid` calls leave a valid catalog, the first `invalid` do not.
    let (mut valid, mut invalid) = (0, calls.len());
    let Some(mut found) = problems_after(invalid) else {
        return whole();
    };
    while invalid - valid > 1 {
        let mid = valid + (invalid - valid) / 2;
        match problems_after(mid) {
            Some(p) => (invalid, found) = (mid, p),
            None => valid = mid,
        }
    }
    at(invalid - 1, ApiError::invalid(&found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::FieldError;

    fn fields(e: &ApiError) -> Vec<String> {
        e.errors
            .iter()
            .map(|f: &FieldError| f.field.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn every_bad_call_is_named_by_its_index() {
        let e = check(json!([
            {"call": "update_campaign.json", "params": {"campaign_id": 1}},
            {"call": "campaigns.json"},
            {"call": "batch.json", "params": {}},
            {"call": "nope.json"},
            {"call": "update_campaign.json", "params": {"campaign_id": 0, "api_key": "k"}},
            {"params": {}},
            {"call": "update_offer.json", "params": [], "x": 1},
            7,
        ]))
        .err()
        .expect("refused");
        assert_eq!(
            fields(&e),
            [
                "calls[1].call",
                "calls[2].call",
                "calls[3].call",
                "calls[4].campaign_id",
                "calls[4].api_key",
                "calls[5].call",
                "calls[6].params",
                "calls[7]",
            ]
        );
        assert!(e.errors[0].message.contains("a read"), "{e:?}");
        assert!(
            e.errors[1].message.contains("cannot hold batch.json"),
            "{e:?}"
        );
    }

    #[test]
    fn good_calls_are_checked_in_order() {
        let Ok(calls) = check(json!([
            {"call": "update_campaign.json", "params": {"campaign_id": 1, "creative_id": null}},
            {"call": "affiliate.json", "params": {"affiliate_name": "A"}},
        ])) else {
            panic!("accepted")
        };
        let names: Vec<&str> = calls.iter().map(|c| c.call.name).collect();
        assert_eq!(names, ["update_campaign.json", "affiliate.json"]);
        assert_eq!(
            changed(&calls[0].args),
            json!({"campaign_id": 1, "creative_id": null})
        );
    }
}
