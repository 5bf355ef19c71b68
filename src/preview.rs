//! Change preview (docs/api.md#change-preview): what a change of the catalog would have
//! done to the clicks this node recorded, before it is made.
//!
//! Pipeline: the click log of a period, the newest `[preview] max_records` lines of it →
//! each smart-link record of a link the change touches, its client attributes rebuilt from
//! the record ([`Recorded`]) → the real decision (`routing::decide`) in the table in force
//! and in the changed one → per link: clicks by offer and by fallback reason before and
//! after, fill rates, the clicks that move (offer to offer, offer to fallback by reason).
//!
//! Both tables are compiled for the preview against counters of their own (scratch
//! [`Counts`]), so the replay takes places under click caps and in exact rotation's runs
//! as the clicks did, and nothing the server counts changes. How caps stand:
//! - a daily click cap starts from the clicks the log shows for its offer in the day window
//!   of the first replayed click, before it; each replayed click routed to the offer counts;
//! - conversion caps stand as they are now (the counts of the current day, week and month,
//!   and the total), for every replayed click: conversions are not replayed;
//! - destinations are up (health states are not in the log);
//! - optimized rotation draws with the weights the optimizer holds now.
//!
//! A click's random draw uses one generator seeded by its click id for both tables, so an
//! unchanged link replays the same in both, and a weight change moves only the clicks whose
//! draw falls where the shares changed. A replayed click's "before" is what the log recorded
//! whenever the decision did not draw at random among several offers (`before_as_logged`
//! counts the agreements). Records that cannot be replayed are counted, never guessed: a
//! line that is not a record (a torn last line), a link the table in force or the change
//! does not hold.
//!
//! Runs off the click path: on a blocking thread for the API, in the command's process for
//! `smartlink preview`. Reading is bounded by `max_records`; the replay itself allocates per
//! link, not per click.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rustc_hash::{FxHashMap, FxHasher};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::calendar::{Calendar, Period};
use crate::catalog::{Catalog, Offer, SmartLink, ValidCatalog};
use crate::conditions::Attributes;
use crate::counts::Counts;
use crate::counts::hourly::{HourFile, hour_of};
use crate::redis::Shared;
use crate::routing::{NoTrace, Outcome, RoutingTable};
use crate::snapshot::Snapshot;
use crate::vocab::{
    Browser, Country, DeviceClass, FallbackReason, Language, OsFamily, Region, SourceKind,
};

/// Click log files are `clicks-<UTC hour>.ndjson`.
const PREFIX: &str = "clicks";

/// What a preview covers.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    /// The period, Unix seconds: records at `from` or later, before `to`.
    pub from: i64,
    pub to: i64,
    /// Only this smart link (touched by the change or not).
    pub link: Option<u32>,
    /// The most records read (the newest of the period).
    pub max_records: u64,
}

/// Cluster mode: this node's clicks of the period beside the cluster's (each node's pushed
/// hours, the whole hours from the period's first on).
#[derive(Clone, Debug)]
pub struct ClusterShare {
    pub node: String,
    /// `(this node's, the cluster's)`; `None` when Redis could not be asked.
    pub clicks: Option<(u64, u64)>,
}

impl ClusterShare {
    pub async fn of(shared: &Shared, from: i64) -> ClusterShare {
        let hours = shared.node_hours(hour_of(from)).await;
        let clicks = hours.ok().map(|hours| {
            let (mut node, mut cluster) = (0, 0);
            for (name, json) in hours {
                let Ok(file) = serde_json::from_slice::<HourFile>(&json) else {
                    continue;
                };
                let n = file.routes.iter().map(|r| r.routed).sum::<u64>()
                    + file
                        .fallbacks
                        .iter()
                        .map(|f| f.clicks.iter().sum::<u64>())
                        .sum::<u64>();
                cluster += n;
                if name == shared.node {
                    node += n;
                }
            }
            (node, cluster)
        });
        ClusterShare {
            node: shared.node.clone(),
            clicks,
        }
    }
}

/// The smart links `after` changes against `before`: a link added, removed or changed, or
/// one of whose offers (in either) changed.
pub fn touched(before: &Catalog, after: &Catalog) -> BTreeSet<u32> {
    fn offers(c: &Catalog) -> FxHashMap<u32, &Offer> {
        c.offers.iter().map(|o| (o.offer_id, o)).collect()
    }
    fn links(c: &Catalog) -> FxHashMap<u32, &SmartLink> {
        c.smart_links.iter().map(|l| (l.smart_link_id, l)).collect()
    }
    let (offers_before, offers_after) = (offers(before), offers(after));
    let changed_offer = |id: &u32| offers_before.get(id) != offers_after.get(id);
    let (links_before, links_after) = (links(before), links(after));
    links_before
        .keys()
        .chain(links_after.keys())
        .copied()
        .filter(|id| {
            let (b, a) = (links_before.get(id), links_after.get(id));
            b != a
                || b.into_iter()
                    .chain(a)
                    .flat_map(|l| &l.offers)
                    .any(|att| changed_offer(&att.offer_id))
        })
        .collect()
}

/// Replays the click log in `dir` over `scope` through the table `snapshot` serves and the
/// one `changed` compiles to; `live`: the server's counters (conversion caps, optimized
/// weights), read only. Answers the preview's JSON body.
pub fn run(
    snapshot: &Snapshot,
    live: &Counts,
    changed: &ValidCatalog,
    dir: &Path,
    scope: &Scope,
    cluster: Option<&ClusterShare>,
) -> io::Result<Value> {
    let links: BTreeSet<u32> = match scope.link {
        Some(id) => BTreeSet::from([id]),
        None => touched(&snapshot.catalog, changed),
    };
    let mut replay = Replay::new(snapshot, live, changed);
    let read = replay.read(dir, scope, &links)?;
    Ok(replay.report(scope, &links, &read, cluster))
}

/// Where a click went: an offer, or the fallback for a reason (its index in
/// `FallbackReason::ALL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Went {
    Offer(u32),
    Fallback(u8),
}

impl Went {
    fn of(outcome: &Outcome) -> Went {
        match outcome {
            Outcome::Routed { offer, .. } => Went::Offer(offer.id),
            Outcome::Fallback(reason) => Went::Fallback(*reason as u8),
        }
    }

    fn reason(self) -> Option<FallbackReason> {
        match self {
            Went::Offer(_) => None,
            Went::Fallback(i) => FallbackReason::ALL.get(usize::from(i)).copied(),
        }
    }

    fn to_json(self) -> Value {
        match (self, self.reason()) {
            (Went::Offer(id), _) => json!({"offer_id": id}),
            (_, reason) => json!({"fallback": reason.map(FallbackReason::as_str)}),
        }
    }
}

/// One link's replay.
#[derive(Default)]
struct Tally {
    replayed: u64,
    before_as_logged: u64,
    /// Records of the link the table in force does not hold (removed since, or recorded by
    /// another catalog).
    not_in_force: u64,
    /// Records of the link the changed catalog does not hold.
    not_in_change: u64,
    before: BTreeMap<Went, u64>,
    after: BTreeMap<Went, u64>,
    moved: BTreeMap<(Went, Went), u64>,
}

/// How much of the log was read.
#[derive(Default)]
struct Read {
    /// Lines of the period read (at most `max_records`).
    lines: u64,
    /// Lines that are not click records (a torn last line).
    unreadable: u64,
    /// Whether `max_records` cut the period's older lines off.
    capped: bool,
    /// The time of the first line replayed, Unix seconds.
    first: Option<i64>,
}

/// The two tables, each with its scratch counters.
struct Replay<'s> {
    snapshot: &'s Snapshot,
    before: (RoutingTable, Counts),
    after: (RoutingTable, Counts),
    tallies: BTreeMap<u32, Tally>,
}

impl<'s> Replay<'s> {
    fn new(snapshot: &'s Snapshot, live: &Counts, changed: &ValidCatalog) -> Replay<'s> {
        let compile = |catalog: &ValidCatalog| {
            let counts = Counts::default();
            let table = crate::snapshot::compile(&snapshot.settings, catalog, &counts, None);
            seed_from_live(&table, &counts, live, &snapshot.table, &snapshot.calendar);
            (table, counts)
        };
        Replay {
            snapshot,
            before: compile(&snapshot.catalog),
            after: compile(changed),
            tallies: BTreeMap::new(),
        }
    }

    /// Reads the log and replays the records of `links`.
    fn read(&mut self, dir: &Path, scope: &Scope, links: &BTreeSet<u32>) -> io::Result<Read> {
        let calendar = &*self.snapshot.calendar;
        let files = period_files(dir, scope.from);
        // The newest `max_records` lines: where the replay starts (file, line).
        let mut start = (0, 0);
        let mut lines_left = scope.max_records;
        let mut read = Read::default();
        for (i, path) in files.iter().enumerate().rev() {
            let n = count_lines(path)?;
            if n >= lines_left {
                start = (i, n - lines_left);
                read.capped = n > lines_left || i > 0;
                break;
            }
            lines_left -= n;
        }
        let mut times = TimeParser::default();
        // The day window of the first replayed click, and the clicks the log shows for each
        // offer in it before that click (the lines before it, at its second too).
        let start_time =
            first_time(&files, start, &mut times).map_or(scope.from, |t| t.max(scope.from));
        let day = calendar.window(Period::Day, start_time).start;
        let mut seeds: FxHashMap<u32, u64> = FxHashMap::default();
        let mut seeded = false;
        for path in seed_files(dir, day, &files, start.0) {
            each_line(&path, |_, line| {
                if let Ok(r) = serde_json::from_slice::<Routed>(line)
                    && let (Some(offer), Some(t)) = (r.offer_id, times.parse(r.time))
                    && t >= day
                {
                    *seeds.entry(offer).or_default() += 1;
                }
            })?;
        }
        for (i, path) in files.iter().enumerate().skip(start.0) {
            let skip = if i == start.0 { start.1 } else { 0 };
            each_line(path, |n, line| {
                if n < skip {
                    if let Ok(r) = serde_json::from_slice::<Routed>(line)
                        && let (Some(offer), Some(t)) = (r.offer_id, times.parse(r.time))
                        && t >= day
                    {
                        *seeds.entry(offer).or_default() += 1;
                    }
                    return;
                }
                read.lines += 1;
                let Ok(record) = serde_json::from_slice::<Logged>(line) else {
                    read.unreadable += 1;
                    return;
                };
                let Some(t) = times.parse(record.time) else {
                    read.unreadable += 1;
                    return;
                };
                if !(scope.from..scope.to).contains(&t) {
                    // Before the period, in the day window of its first click: a seed.
                    if let Some(offer) = record.offer_id
                        && !seeded
                        && (day..scope.from).contains(&t)
                    {
                        *seeds.entry(offer).or_default() += 1;
                    }
                    return;
                }
                read.first.get_or_insert(t);
                if !seeded {
                    seeded = true;
                    for (&offer, &n) in &seeds {
                        for counts in [&self.before.1, &self.after.1] {
                            counts.offer(offer).daily_clicks_at_least(day, n);
                        }
                    }
                }
                if record.kind == SourceKind::SmartLink
                    && let Some(link) = record.smart_link_id
                    && links.contains(&link)
                {
                    self.replay(link, t, &record, calendar);
                }
            })?;
        }
        Ok(read)
    }

    /// Replays one record of `link` at `t` through both tables.
    fn replay(&mut self, link: u32, t: i64, record: &Logged, calendar: &Calendar) {
        let tally = self.tallies.entry(link).or_default();
        let (Some(before), Some(after)) = (self.before.0.link(link), self.after.0.link(link))
        else {
            match self.before.0.link(link) {
                None => tally.not_in_force += 1,
                Some(_) => tally.not_in_change += 1,
            }
            return;
        };
        let ctx = self.snapshot.context(t, true);
        let rng = SmallRng::seed_from_u64(seed(record.click_id));
        let mut attrs = Recorded::new(record, calendar, t);
        let went_before = Went::of(
            &self
                .before
                .0
                .decide(before, &ctx, &mut attrs, &mut rng.clone(), &mut NoTrace)
                .outcome,
        );
        let went_after = Went::of(
            &self
                .after
                .0
                .decide(after, &ctx, &mut attrs, &mut rng.clone(), &mut NoTrace)
                .outcome,
        );
        tally.replayed += 1;
        if Some(went_before) == record.went() {
            tally.before_as_logged += 1;
        }
        *tally.before.entry(went_before).or_default() += 1;
        *tally.after.entry(went_after).or_default() += 1;
        if went_before != went_after {
            *tally.moved.entry((went_before, went_after)).or_default() += 1;
        }
    }

    fn report(
        &self,
        scope: &Scope,
        links: &BTreeSet<u32>,
        read: &Read,
        cluster: Option<&ClusterShare>,
    ) -> Value {
        let time = |t: i64| {
            jiff::Timestamp::from_second(t)
                .map(|t| t.to_string())
                .unwrap_or_default()
        };
        let empty = Tally::default();
        let smart_links: Vec<Value> = links
            .iter()
            .map(|id| link_report(*id, self.tallies.get(id).unwrap_or(&empty)))
            .collect();
        let sum = |f: fn(&Tally) -> u64| self.tallies.values().map(f).sum::<u64>();
        json!({
            "request_status": "Success",
            "period": {
                "from": time(scope.from),
                "to": time(scope.to),
                "replayed_from": read.first.map(time),
            },
            "cluster": cluster.map(|c| json!({
                "covers": "this node's click log only",
                "node": c.node,
                "node_clicks": c.clicks.map(|(n, _)| n),
                "cluster_clicks": c.clicks.map(|(_, n)| n),
                "node_share": c.clicks
                    .filter(|&(_, all)| all > 0)
                    .map(|(n, all)| n as f64 / all as f64),
            })),
            "records": {
                "read": read.lines,
                "max_records": scope.max_records,
                "capped": read.capped,
                "replayed": sum(|t| t.replayed),
                "unreadable": read.unreadable,
                "not_replayable": sum(|t| t.not_in_force + t.not_in_change),
            },
            "smart_links": smart_links,
        })
    }
}

/// One link's part of the answer.
fn link_report(id: u32, t: &Tally) -> Value {
    let mut offers: BTreeMap<u32, [u64; 2]> = BTreeMap::new();
    let mut fallbacks: BTreeMap<u8, [u64; 2]> = BTreeMap::new();
    for (side, counts) in [&t.before, &t.after].into_iter().enumerate() {
        for (&went, &n) in counts {
            let slot = match went {
                Went::Offer(o) => offers.entry(o).or_default(),
                Went::Fallback(r) => fallbacks.entry(r).or_default(),
            };
            slot[side] += n;
        }
    }
    let routed = |counts: &BTreeMap<Went, u64>| {
        counts
            .iter()
            .filter(|(w, _)| matches!(w, Went::Offer(_)))
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    let fill = |routed: u64| {
        if t.replayed == 0 {
            Value::Null
        } else {
            json!(routed as f64 / t.replayed as f64)
        }
    };
    json!({
        "smart_link_id": id,
        "replayed": t.replayed,
        "before_as_logged": t.before_as_logged,
        "not_replayable": {
            "link_not_in_force": t.not_in_force,
            "link_not_in_change": t.not_in_change,
        },
        "offers": offers.iter().map(|(id, [b, a])| json!({
            "offer_id": id, "before": b, "after": a,
        })).collect::<Vec<_>>(),
        "fallbacks": fallbacks.iter().map(|(&r, [b, a])| json!({
            "reason": Went::Fallback(r).reason().map(FallbackReason::as_str),
            "before": b, "after": a,
        })).collect::<Vec<_>>(),
        "fill_rate": {"before": fill(routed(&t.before)), "after": fill(routed(&t.after))},
        "moved": t.moved.iter().map(|((from, to), n)| json!({
            "from": from.to_json(), "to": to.to_json(), "clicks": n,
        })).collect::<Vec<_>>(),
    })
}

/// Copies into the scratch `counts` of `table` what the replay reads of the server's
/// counters as they are now (`live`, and the table in force `served`): conversion counts
/// (conversion caps) and optimized weights. Nothing of them is created or changed.
fn seed_from_live(
    table: &RoutingTable,
    counts: &Counts,
    live: &Counts,
    served: &RoutingTable,
    calendar: &Calendar,
) {
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    for offer in table.offers() {
        if offer.caps.is_some()
            && let Some(counters) = live.existing_offer(offer.id)
        {
            let (windows, totals) = counters.conversions_at(calendar, now);
            counts
                .offer(offer.id)
                .set_conversion_totals(windows, totals);
        }
    }
    for link in table.links() {
        let Some(live_link) = served.link(link.id) else {
            continue;
        };
        for a in &link.attachments {
            let live_route = live_link
                .attachments
                .iter()
                .find(|l| l.offer_id == a.offer_id)
                .map(|l| &l.counters);
            if let Some(route) = live_route
                && let Some(estimate) = route.estimate()
            {
                a.counters.set_weight(route.weight(), estimate);
            }
        }
    }
}

/// The seed of a click's random draws: its click id, hashed.
fn seed(click_id: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = FxHasher::default();
    h.write(click_id.as_bytes());
    h.finish()
}

/// The click log files that may hold records at `from` or later, oldest first.
fn period_files(dir: &Path, from: i64) -> Vec<PathBuf> {
    let first =
        crate::files::hourly_name(PREFIX, u64::try_from(from.div_euclid(3600)).unwrap_or(0));
    crate::files::log_files(dir, PREFIX)
        .into_iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()) >= Some(first.as_str()))
        .collect()
}

/// The files before `files[first]` that hold the day window starting at `day`.
fn seed_files(dir: &Path, day: i64, files: &[PathBuf], first: usize) -> Vec<PathBuf> {
    let first_name = files
        .get(first)
        .and_then(|p| p.file_name())
        .map(|n| n.to_os_string());
    period_files(dir, day)
        .into_iter()
        .filter(|p| {
            first_name
                .as_deref()
                .is_none_or(|f| p.file_name() < Some(f))
        })
        .collect()
}

/// Lines in a file (a torn last line counts as one).
fn count_lines(path: &Path) -> io::Result<u64> {
    let mut n = 0;
    each_line(path, |_, _| n += 1)?;
    Ok(n)
}

/// The time of the first readable line at or after `start` (file, line).
fn first_time(files: &[PathBuf], start: (usize, u64), times: &mut TimeParser) -> Option<i64> {
    let mut found = None;
    for (i, path) in files.iter().enumerate().skip(start.0) {
        let skip = if i == start.0 { start.1 } else { 0 };
        each_line(path, |n, line| {
            if n >= skip
                && found.is_none()
                && let Ok(r) = serde_json::from_slice::<Routed>(line)
            {
                found = times.parse(r.time);
            }
        })
        .ok()?;
        if found.is_some() {
            break;
        }
    }
    found
}

/// Calls `f` with the index and bytes (without the newline) of each line of the log file at
/// `path`, read in blocks: memory stays at one line however large the file. A file deleted
/// by retention meanwhile has no lines.
fn each_line(path: &Path, mut f: impl FnMut(u64, &[u8])) -> io::Result<()> {
    use std::io::BufRead;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut reader = io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(1024);
    for n in 0.. {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        f(n, line.strip_suffix(b"\n").unwrap_or(&line));
    }
    Ok(())
}

/// Parses record times (`2026-11-22T13:04:05.678Z`) to Unix seconds, the date and hour once
/// per hour of records.
#[derive(Default)]
struct TimeParser {
    hour: Option<(String, i64)>,
}

impl TimeParser {
    fn parse(&mut self, time: &str) -> Option<i64> {
        let (hour, rest) = (time.get(..13)?, time.get(13..)?);
        let start = match &self.hour {
            Some((h, start)) if h == hour => *start,
            _ => {
                let start = crate::files::parse_hour_stamp(hour)? as i64 * 3600;
                self.hour = Some((hour.to_string(), start));
                start
            }
        };
        let b = rest.as_bytes();
        let two = |i: usize| -> Option<i64> {
            let (d1, d2) = (b.get(i)?, b.get(i + 1)?);
            (d1.is_ascii_digit() && d2.is_ascii_digit())
                .then(|| i64::from(d1 - b'0') * 10 + i64::from(d2 - b'0'))
        };
        match (b.first(), b.get(3)) {
            (Some(b':'), Some(b':')) => Some(start + two(1)? * 60 + two(4)?),
            _ => None,
        }
    }
}

/// The two fields the daily click caps' starting counts need.
#[derive(Deserialize)]
struct Routed<'a> {
    time: &'a str,
    offer_id: Option<u32>,
}

/// A click record as the log holds it, the fields a replay reads. Fields added since a log
/// was written read as absent (an attribute the click has no value for).
#[derive(Deserialize)]
struct Logged<'a> {
    time: &'a str,
    click_id: &'a str,
    kind: SourceKind,
    smart_link_id: Option<u32>,
    offer_id: Option<u32>,
    #[serde(default)]
    fallback_reason: Option<&'a str>,
    ip: IpAddr,
    country: Option<&'a str>,
    #[serde(default)]
    region: Option<&'a str>,
    device: DeviceClass,
    os: OsFamily,
    #[serde(default)]
    browser: Option<Browser>,
    #[serde(default)]
    asn: Option<u32>,
    #[serde(default)]
    anonymous: Option<bool>,
    #[serde(default)]
    language: Option<&'a str>,
    #[serde(default, borrow)]
    referrer: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    s1: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    s2: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    s3: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    s4: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    s5: Option<Cow<'a, str>>,
}

impl Logged<'_> {
    /// Where the record says the click went.
    fn went(&self) -> Option<Went> {
        match (self.offer_id, self.fallback_reason) {
            (Some(id), _) => Some(Went::Offer(id)),
            (None, Some(word)) => FallbackReason::of_str(word).map(|r| Went::Fallback(r as u8)),
            (None, None) => None,
        }
    }
}

/// A recorded click's attributes, as a decision asks for them.
struct Recorded<'r> {
    record: &'r Logged<'r>,
    calendar: &'r Calendar,
    now: i64,
}

impl<'r> Recorded<'r> {
    fn new(record: &'r Logged<'r>, calendar: &'r Calendar, now: i64) -> Recorded<'r> {
        Recorded {
            record,
            calendar,
            now,
        }
    }
}

impl Attributes for Recorded<'_> {
    fn country(&mut self) -> Option<Country> {
        self.record.country.and_then(Country::from_code)
    }

    fn device(&mut self) -> DeviceClass {
        self.record.device
    }

    fn os(&mut self) -> OsFamily {
        self.record.os
    }

    fn browser(&mut self) -> Browser {
        self.record.browser.unwrap_or(Browser::Other)
    }

    fn ip(&mut self) -> Option<IpAddr> {
        Some(self.record.ip)
    }

    fn region(&mut self) -> Option<Region> {
        self.record.region.and_then(Region::from_code)
    }

    fn asn(&mut self) -> Option<u32> {
        self.record.asn
    }

    fn anonymous(&mut self) -> Option<bool> {
        self.record.anonymous
    }

    fn language(&mut self) -> Option<Language> {
        self.record.language.and_then(Language::from_code)
    }

    fn referrer_host(&mut self) -> Option<&str> {
        self.record.referrer.as_deref()
    }

    fn sub(&mut self, index: usize) -> Option<&str> {
        let r = self.record;
        [&r.s1, &r.s2, &r.s3, &r.s4, &r.s5]
            .get(index)?
            .as_deref()
            .filter(|s| !s.is_empty())
    }

    fn week_minute(&mut self) -> Option<u16> {
        Some(self.calendar.week_minute(self.now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::click_id::{Claims, ClickSigner};
    use crate::click_log::record::TimeFormat;
    use crate::click_log::{ClickRecord, RecordText};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn record_times_parse_to_unix_seconds() {
        let mut p = TimeParser::default();
        assert_eq!(p.parse("2026-11-18T11:06:40.123Z"), Some(1_795_000_000));
        assert_eq!(p.parse("2026-11-18T11:59:59.999Z"), Some(1_795_003_199));
        assert_eq!(p.parse("2026-11-18T12:00:00.000Z"), Some(1_795_003_200));
        for bad in [
            "",
            "2026-11-18T11",
            "2026-11-18T11:6:40.1Z",
            "2026-11-18Txx:06:40Z",
        ] {
            assert_eq!(p.parse(bad), None, "{bad}");
        }
    }

    /// A line the writer writes reads back with every attribute a condition asks for.
    #[test]
    fn a_written_record_replays_with_its_attributes() {
        let signer = ClickSigner::new(b"0123456789abcdef");
        let r = ClickRecord {
            time: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            click_id: signer.issue(&Claims {
                kind: SourceKind::SmartLink,
                time: 1_795_000_000,
                offer_id: None,
                source_id: 4,
                affiliate_id: 1,
            }),
            kind: SourceKind::SmartLink,
            source_id: 4,
            affiliate_id: 1,
            offer_id: None,
            landing_page_id: None,
            priority: None,
            fallback: Some(FallbackReason::AllCapped),
            ip: "81.2.69.142".parse().unwrap(),
            country: Some(Country::from_code("GB")),
            region: Region::from_code("GB-ENG"),
            asn: Some(Some(20712)),
            anonymous: Some(Some(true)),
            device: DeviceClass::Tablet,
            os: OsFamily::Android,
            browser: Browser::Samsung,
            language: Language::from_code("de"),
            text: RecordText::new(
                Some(b"ua"),
                &[None, Some("".into()), Some("x\"y".into()), None, None],
                Some("news.example"),
            ),
        };
        let mut line = Vec::new();
        r.write_line(&mut line, &mut TimeFormat::default());
        let logged: Logged = serde_json::from_slice(line.trim_ascii_end()).unwrap();
        assert_eq!(
            logged.went(),
            Some(Went::Fallback(FallbackReason::AllCapped as u8))
        );
        let calendar = Calendar::named("UTC").unwrap();
        let mut a = Recorded::new(&logged, &calendar, 1_795_000_000);
        assert_eq!(a.country(), Country::from_code("GB"));
        assert_eq!(a.region(), Region::from_code("GB-ENG"));
        assert_eq!((a.asn(), a.anonymous()), (Some(20712), Some(true)));
        assert_eq!(
            (a.device(), a.os(), a.browser()),
            (DeviceClass::Tablet, OsFamily::Android, Browser::Samsung)
        );
        assert_eq!(a.language(), Language::from_code("de"));
        assert_eq!(a.referrer_host(), Some("news.example"));
        assert_eq!(a.ip(), "81.2.69.142".parse().ok());
        assert_eq!(a.sub(0), None);
        assert_eq!(a.sub(1), None, "empty reads as absent");
        assert_eq!(a.sub(2), Some("x\"y"));
        // Wednesday 2026-11-18 11:06 UTC.
        assert_eq!(a.week_minute(), Some(2 * 1440 + 11 * 60 + 6));
    }

    /// A line of a log written before records carried region, ASN, anonymous, browser,
    /// language and referrer still replays; those read as absent.
    #[test]
    fn an_old_record_without_the_newer_fields_still_replays() {
        let old = br#"{"time":"2026-11-22T12:51:21.589Z","click_id":"EGsC5UkAAAQSAAABLQABCTLcVlA9Sit57--VfKR1","kind":"smart_link","smart_link_id":301,"affiliate_id":67890,"offer_id":1042,"landing_page_id":null,"fallback":false,"priority":1,"country":"US","device":"mobile","os":"ios","ip":"8.8.8.8","user_agent":"Mozilla/5.0","s1":"hello world","s2":null,"s3":null,"s4":null,"s5":null}"#;
        let logged: Logged = serde_json::from_slice(old).unwrap();
        assert_eq!(logged.went(), Some(Went::Offer(1042)));
        let calendar = Calendar::named("UTC").unwrap();
        let mut a = Recorded::new(&logged, &calendar, 0);
        assert_eq!(a.country(), Country::from_code("US"));
        assert_eq!((a.region(), a.asn(), a.anonymous()), (None, None, None));
        assert_eq!((a.browser(), a.language()), (Browser::Other, None));
        assert_eq!(a.referrer_host(), None);
        assert_eq!(a.sub(0), Some("hello world"));
    }

    #[test]
    fn a_link_is_touched_by_its_own_change_or_one_of_its_offers() {
        let before: Catalog = serde_json::from_str(
            r#"{"affiliates": [{"affiliate_id": 1, "affiliate_name": "a"}],
                "offers": [
                  {"offer_id": 1, "offer_name": "1", "offer_status": "active", "offer_url": "https://1.example/"},
                  {"offer_id": 2, "offer_name": "2", "offer_status": "active", "offer_url": "https://2.example/"}],
                "smart_links": [
                  {"smart_link_id": 7, "smart_link_name": "a", "affiliate_id": 1, "smart_link_status": "active",
                   "offers": [{"offer_id": 1}]},
                  {"smart_link_id": 8, "smart_link_name": "b", "affiliate_id": 1, "smart_link_status": "active",
                   "offers": [{"offer_id": 1}, {"offer_id": 2}]},
                  {"smart_link_id": 9, "smart_link_name": "c", "affiliate_id": 1, "smart_link_status": "active",
                   "offers": [{"offer_id": 2}]}]}"#,
        )
        .unwrap();
        let mut after = before.clone();
        assert!(touched(&before, &after).is_empty());
        after
            .offers
            .iter_mut()
            .find(|o| o.offer_id == 2)
            .unwrap()
            .offer_name = "x".into();
        assert_eq!(touched(&before, &after), BTreeSet::from([8, 9]));
        let mut changed = before.clone();
        changed.smart_links.remove(0);
        changed.smart_links[0].offers[1].offer_weight = 5;
        assert_eq!(touched(&before, &changed), BTreeSet::from([7, 8]));
    }
}
