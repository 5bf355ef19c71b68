//! The statistics calls: a link's (`smart_link_stats.json`), a link and the network hour by
//! hour (`smart_link_hourly.json`, `network_stats.json`), every offer's with its cap state
//! (`offer_stats.json`), one affiliate's over its links (`affiliate_stats.json`); and what else the console's pages read: the audit log
//! (`audit.json`) and the cluster's nodes (`cluster_nodes.json`). Each runs on a blocking
//! thread: in cluster mode it reads the cluster's counts from Redis, and the audit log is a
//! file.

use std::collections::HashMap;
use std::ops::Range;

use serde_json::{Value, json};

use super::error::ApiError;
use super::fields::*;
use super::params::{Args, Field};
use crate::counts::hourly::Hour;
use crate::counts::{CapClock, Hourly};
use crate::state::State;
use crate::stats::series;
use crate::stats::{BadRange, Period};
use crate::vocab::FallbackReason;

/// The failure of a range that cannot be read, naming the parameter at fault: `400` for a
/// value that is not a date-time, `422` for two date-times, each as documented, that name no
/// range (`from` not before `to`, or too long a one).
fn bad_range(e: BadRange) -> ApiError {
    match e {
        BadRange::NotATime(name, _) => ApiError::bad_request(Some(name), e.to_string()),
        BadRange::Empty | BadRange::TooLong => {
            ApiError::unprocessable(Some(FROM.name), e.to_string())
        }
    }
}

/// The hours of an hourly series (`from`, `to`; the last 24 hours by default).
fn series_hours(args: &Args) -> Result<Range<Hour>, ApiError> {
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    series::hours(args.get(FROM).as_deref(), args.get(TO).as_deref(), now).map_err(bad_range)
}

/// Runs `read` on the hourly counts from hour `from` on: the node's, or in cluster mode the
/// cluster's, summed from Redis.
fn with_hours<T>(
    state: &State,
    from: Hour,
    read: impl FnOnce(&Hourly) -> T,
) -> Result<T, ApiError> {
    match &state.shared {
        Some(shared) => {
            let hourly = shared
                .block_on(crate::stats::cluster_hourly(shared, from))
                .map_err(|_| ApiError::shared_unavailable())?;
            Ok(read(&hourly))
        }
        None => Ok(read(state.counts.hourly())),
    }
}

fn success(response: impl serde::Serialize) -> Value {
    json!({"request_status": "Success", "response": response})
}

pub fn smart_link_hourly(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let link = super::read::compiled_link_of(&snapshot.table, args)?;
    let hours = series_hours(args)?;
    let series = with_hours(state, hours.start, |h| series::link(link, h, hours))?;
    Ok(success(series))
}

pub fn network(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let hours = series_hours(args)?;
    let top = usize::try_from(args.get(TOP).or(TOP.default).unwrap_or(10)).unwrap_or(10);
    let series = with_hours(state, hours.start, |h| {
        series::network(&snapshot.table, h, hours, top)
    })?;
    let mut answer = json!(series);
    // Names, for the console's tables (the table of routes knows only ids).
    let catalog = &snapshot.catalog;
    let links: HashMap<u32, &str> = catalog
        .smart_links
        .iter()
        .map(|l| (l.smart_link_id, l.smart_link_name.as_str()))
        .collect();
    let offers: HashMap<u32, &str> = catalog
        .offers
        .iter()
        .map(|o| (o.offer_id, o.offer_name.as_str()))
        .collect();
    name_items(
        &mut answer["top_smart_links"],
        "smart_link_id",
        "smart_link_name",
        &links,
    );
    name_items(&mut answer["top_offers"], "offer_id", "offer_name", &offers);
    Ok(success(answer))
}

/// Adds `name_key: names[item[id_key]]` to each item of a list.
fn name_items(list: &mut Value, id_key: &str, name_key: &str, names: &HashMap<u32, &str>) {
    for item in list.as_array_mut().into_iter().flatten() {
        let id = item[id_key].as_u64().and_then(|i| u32::try_from(i).ok());
        let name = id.and_then(|i| names.get(&i)).copied();
        if let Some(map) = item.as_object_mut() {
            map.insert(name_key.into(), json!(name));
        }
    }
}

/// The hours of `from`/`to` of a lifetime-or-range call; `None` (lifetime) when neither is
/// given.
fn range(args: &Args, now: i64) -> Result<Option<Range<Hour>>, ApiError> {
    match (args.get(FROM), args.get(TO)) {
        (None, None) => Ok(None),
        (from, to) => crate::stats::hours(from.as_deref(), to.as_deref(), now)
            .map(Some)
            .map_err(bad_range),
    }
}

/// Cluster mode: every node's counters summed (with their hours from `hours_from` on);
/// standalone `None`, the node's own counts are read.
fn cluster(
    state: &State,
    hours_from: Option<Hour>,
) -> Result<Option<crate::stats::Cluster>, ApiError> {
    let Some(shared) = &state.shared else {
        return Ok(None);
    };
    shared
        .block_on(crate::stats::cluster(shared, hours_from))
        .map(Some)
        .map_err(|_| ApiError::shared_unavailable())
}

pub fn smart_link_stats(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let link = super::read::compiled_link_of(&snapshot.table, args)?;
    let clock = CapClock::now(&snapshot.calendar);
    let range = range(args, clock.now)?;
    let cluster = cluster(state, range.as_ref().map(|r| r.start))?;
    let counts = cluster.as_ref().map_or(&*state.counts, |c| &c.total);
    let report = crate::stats::report(
        &snapshot.table,
        counts,
        &clock,
        Some(link),
        cluster.as_ref(),
        range,
    );
    Ok(success(report))
}

/// `offer_stats.json`: every offer's (or one's) clicks, conversions, revenue, EPC; over the
/// lifetime with its caps' state now, or over a range.
pub fn offers(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let wanted = args.get(OFFER_ID);
    if let Some(id) = wanted
        && !snapshot.table.offers().iter().any(|o| o.id == id)
    {
        return Err(ApiError::missing(OFFER_ID.name, id));
    }
    let clock = CapClock::now(&snapshot.calendar);
    let range = range(args, clock.now)?;
    let cluster = cluster(state, range.as_ref().map(|r| r.start))?;
    let counts = cluster.as_ref().map_or(&*state.counts, |c| &c.total);
    let period = Period::of(counts, cluster.as_ref(), range.as_ref());
    let by_id: HashMap<u32, &crate::catalog::Offer> = snapshot
        .catalog
        .offers
        .iter()
        .map(|o| (o.offer_id, o))
        .collect();
    let items: Vec<Value> = crate::stats::offers_in(&snapshot.table, period, &clock)
        .into_iter()
        .filter(|o| wanted.is_none_or(|id| id == o.offer_id))
        .map(|o| {
            let mut item = json!(o);
            if let (Some(offer), Some(map)) = (by_id.get(&o.offer_id), item.as_object_mut()) {
                map.insert("offer_name".into(), json!(offer.offer_name));
                map.insert("offer_status".into(), json!(offer.offer_status));
            }
            item
        })
        .collect();
    let mut response = json!({"offers": items});
    if let Some(r) = range {
        response["from"] = json!(crate::stats::hour_text(r.start));
        response["to"] = json!(crate::stats::hour_text(r.end));
    }
    Ok(success(response))
}

/// `affiliate_stats.json`: one affiliate's clicks, conversions, revenue, cost, profit and
/// margin, with each of its smart links' and campaigns'; over the lifetime or a range.
pub fn affiliate_stats(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let id = args.get(AFFILIATE_ID).unwrap_or_default();
    if !snapshot
        .catalog
        .affiliates
        .iter()
        .any(|a| a.affiliate_id == id)
    {
        return Err(ApiError::missing(AFFILIATE_ID.name, id));
    }
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    let range = range(args, now)?;
    let cluster = cluster(state, range.as_ref().map(|r| r.start))?;
    let counts = cluster.as_ref().map_or(&*state.counts, |c| &c.total);
    Ok(success(crate::stats::affiliate::report(
        id,
        counts,
        cluster.as_ref(),
        range,
    )))
}

/// `audit.json`: the records of this node's audit log that match the filters, newest
/// first, a page at a time.
pub fn audit(state: &State, args: &Args) -> Result<Value, ApiError> {
    let time = |field: Field<String>| {
        args.get(field)
            .map(|t| {
                crate::clock::parse_time(&t).map_err(|e| ApiError::bad_request(Some(field.name), e))
            })
            .transpose()
    };
    let filter = crate::audit::Filter {
        since: time(SINCE)?,
        until: time(UNTIL)?,
        call: args.get(CALL),
        key: args.get(KEY),
    };
    let dir = state.snapshot().settings.state_dir.clone();
    let read = crate::audit::read(&dir).map_err(|e| {
        tracing::error!(error = %e, "cannot read the audit log");
        ApiError::one(
            crate::vocab::Rejection::Unavailable,
            None,
            "the audit log cannot be read now; retry later",
        )
    })?;
    let matching = read.records.iter().rev().filter(|r| filter.matches(r));
    let first = usize::try_from(args.get(START_AT_ROW_1).unwrap_or(1) - 1).unwrap_or(0);
    let limit = usize::try_from(args.get(ROW_LIMIT_500).unwrap_or(100)).unwrap_or(100);
    let mut total = 0;
    let mut records = Vec::new();
    for r in matching {
        if total >= first && records.len() < limit {
            records.push(json!(r));
        }
        total += 1;
    }
    Ok(success(json!({
        "records": records,
        "total_rows": total,
        "node": state.snapshot().settings.node(),
    })))
}

/// A node whose beacon is older than this is shown `stale`.
const STALE_MS: i64 = 5_000;

/// `cluster_nodes.json`: standalone, this node alone; in cluster mode every node that wrote
/// a beacon, with its state and its share of the lifetime clicks.
pub fn cluster_nodes(state: &State, _args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let this = snapshot.settings.node();
    let Some(shared) = &state.shared else {
        return Ok(success(json!({
            "cluster": false,
            "this_node": this,
            "nodes": [],
        })));
    };
    let (beacons, counters) = shared
        .block_on(async {
            let beacons = shared.beacons().await?;
            let counters = crate::stats::cluster(shared, None).await?;
            Ok::<_, crate::redis::Unavailable>((beacons, counters))
        })
        .map_err(|_| ApiError::shared_unavailable())?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let all_clicks = counters.total.clicks();
    let nodes: Vec<Value> = beacons
        .iter()
        .map(|(node, beacon)| {
            let counts = counters.nodes.iter().find(|n| &n.node == node);
            let (routed, fallbacks) = counts.map_or((0, [0; FallbackReason::ALL.len()]), |n| {
                n.counts.click_totals()
            });
            let clicks = routed + fallbacks.iter().sum::<u64>();
            let age_ms = (now_ms - beacon.seen_ms).max(0);
            json!({
                "node": node,
                "state": if age_ms <= STALE_MS { "up" } else { "stale" },
                "seen_at": jiff::Timestamp::from_millisecond(beacon.seen_ms)
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                "seen_seconds_ago": age_ms as f64 / 1000.0,
                "catalog_generation": beacon.generation,
                "postbacks_queued": beacon.postbacks_queued,
                "clicks": clicks,
                "routed": routed,
                "share": (all_clicks > 0).then(|| clicks as f64 / all_clicks as f64),
            })
        })
        .collect();
    Ok(success(json!({
        "cluster": true,
        "this_node": this,
        "redis_up": shared.is_up(),
        "catalog_generation": snapshot.catalog_generation,
        "nodes": nodes,
    })))
}
