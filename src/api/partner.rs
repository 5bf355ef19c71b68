//! The partner postback calls: `partner_postbacks.json` lists deliveries from the logs,
//! `retry_partner_postback.json` asks for failed ones again (docs/api.md#partner-postbacks).

use serde_json::{Value, json};

use super::error::ApiError;
use super::fields::*;
use super::params::Args;
use super::read::{FROM_ONE, list};
use crate::partner::Requeue;
use crate::state::State;

/// Listed when `from` is not given: the last day.
const DEFAULT_HOURS: i64 = 24;

/// A time parameter as Unix milliseconds.
fn millis(args: &Args, field: super::params::Field<String>) -> Result<Option<i64>, ApiError> {
    args.get(field)
        .map(|text| {
            crate::clock::parse_time(&text)
                .map(|t| t.as_millisecond())
                .map_err(|e| ApiError::bad_request(Some(field.name), e))
        })
        .transpose()
}

pub fn partner_postbacks(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let now = jiff::Timestamp::now().as_millisecond();
    let to = millis(args, DELIVERIES_TO)?.unwrap_or(now + 1);
    let from = millis(args, DELIVERIES_FROM)?.unwrap_or(to - DEFAULT_HOURS * 3_600_000);
    let all = crate::partner::log::statuses(
        &snapshot.settings.state_dir,
        from,
        to,
        state.partner.settings().log_query_strings,
    )
    .map_err(|e| {
        tracing::error!(error = %e, "cannot read the partner postback logs");
        ApiError::internal()
    })?;
    let matching = all.iter().filter(|s| {
        args.get(AFFILIATE_ID).is_none_or(|a| a == s.affiliate_id)
            && args
                .get(DELIVERY_STATUS)
                .is_none_or(|want| want == s.status)
    });
    Ok(list(args, "partner_postbacks", FROM_ONE, matching, |s| {
        json!(s)
    }))
}

pub fn retry_partner_postback(state: &State, args: &Args) -> Result<Value, ApiError> {
    let id = args.get(CONVERSION_ID);
    let affiliate = args.get(AFFILIATE_ID);
    if id.is_none() && affiliate.is_none() {
        return Err(ApiError::unprocessable(
            Some(CONVERSION_ID.name),
            "give conversion_id (one failed delivery) or affiliate_id (every failed delivery of that affiliate)",
        ));
    }
    match state.partner.requeue(id.as_deref(), affiliate) {
        Ok(Requeue::Requeued(ids)) => Ok(json!({
            "request_status": "Success",
            "requeued": ids.len(),
            "conversion_ids": ids.iter().map(|i| &**i).collect::<Vec<_>>(),
        })),
        Ok(Requeue::NotFailed) => Err(ApiError::not_found(
            Some(if id.is_some() {
                CONVERSION_ID.name
            } else {
                AFFILIATE_ID.name
            }),
            "no failed partner postback matches (unknown, delivered, still pending, or older than the logs read at start)",
        )),
        Err(e) => {
            tracing::error!(error = %e, "cannot write the partner postback log");
            Err(ApiError::internal())
        }
    }
}
