//! The sender: one task that calls receivers off the request path (docs/operations.md,
//! "Partner postbacks").
//!
//! It owns the [`Book`] of deliveries not yet delivered: pending ones in a queue ordered by
//! when each is due, failed ones kept for an operator's retry. It starts a due delivery when
//! fewer than `concurrency` are in flight and fewer than `per_host` to its host; a delivery
//! whose host is full waits in that host's line, so a receiver that never answers holds at
//! most `per_host` places and delays no other host. Each attempt runs in a task of its own
//! through the outbound client (address policy, timeouts, no redirects, bounded body), and
//! its result is written to the delivery log (fsynced when it ends the delivery) before the
//! book hears of it.
//!
//! | answer | result |
//! |---|---|
//! | `2xx` | delivered |
//! | `408`, `429`, `5xx`; timeout, connection refused or reset, DNS failure | retried after `retry_initial`, doubling up to `retry_max_interval`, with jitter, until `retry_for` after the conversion; then failed |
//! | `1xx`, `3xx` (redirects are not followed), other `4xx` | failed at once |
//! | an address the policy refuses (loopback, private, link-local, multicast, metadata), an URL that is not http(s) | failed at once, with the reason |

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use http::{Method, StatusCode};
use tokio::sync::{Notify, mpsc};

use super::log::{self, Entry, Restored, Result as Outcome, Writer};
use crate::conversions::Conversion;
use crate::metrics::Metrics;
use crate::outbound::{self, Client, Failure, Policy};
use crate::settings::PartnerPostbacks;

/// One delivery the book keeps.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub conversion_id: Box<str>,
    pub affiliate_id: u32,
    pub url: Box<str>,
    host: Box<str>,
    /// Unix ms from which `retry_for` runs.
    pub since_ms: i64,
    pub attempts: u32,
    pub failed: bool,
    /// When it is due (pending, not in flight).
    due: Instant,
}

/// The deliveries not yet delivered, and how many are in flight.
#[derive(Default)]
pub struct Book {
    items: HashMap<Box<str>, Delivery>,
    /// Pending deliveries by when they are due.
    due: BTreeSet<(Instant, Box<str>)>,
    /// Due deliveries whose host has `per_host` in flight, in order.
    waiting: HashMap<Box<str>, VecDeque<Box<str>>>,
    per_host: HashMap<Box<str>, usize>,
    in_flight: usize,
}

impl Book {
    fn add(&mut self, mut d: Delivery) {
        if !d.failed {
            self.due.insert((d.due, d.conversion_id.clone()));
        }
        d.host = host_of(&d.url).into();
        self.items.insert(d.conversion_id.clone(), d);
    }

    /// Deliveries pending (in flight included) and failed.
    pub fn counts(&self) -> (usize, usize) {
        let failed = self.items.values().filter(|d| d.failed).count();
        (self.items.len() - failed, failed)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The `since_ms` of the oldest pending delivery.
    pub fn oldest_pending_ms(&self) -> Option<i64> {
        self.items
            .values()
            .filter(|d| !d.failed)
            .map(|d| d.since_ms)
            .min()
    }

    /// The deliveries kept (pending and failed) that `keep` admits.
    pub fn list(&self, keep: impl Fn(&Delivery) -> bool) -> Vec<Delivery> {
        self.items.values().filter(|d| keep(d)).cloned().collect()
    }
}

/// The part of the sender the rest of the server talks to: cheap to share.
pub struct Deliveries {
    book: Mutex<Book>,
    wake: Notify,
    settings: PartnerPostbacks,
    writer: Mutex<Writer>,
}

/// What to tell an operator who asked for a retry.
#[derive(Debug, PartialEq, Eq)]
pub enum Requeue {
    /// Failed deliveries made pending again.
    Requeued(Vec<Box<str>>),
    /// No failed delivery of that id (unknown, delivered, or pending already).
    NotFailed,
}

impl Deliveries {
    /// The book restored from the logs of `dir` (`log::restore`); deliveries already past
    /// `retry_for` are tried once more before they fail.
    pub fn new(
        dir: &std::path::Path,
        settings: PartnerPostbacks,
        retention_hours: u64,
    ) -> std::io::Result<Deliveries> {
        let now_ms = unix_ms();
        let from = now_ms - settings.retry_for.as_millis() as i64 - 3_600_000;
        let restored = log::restore(dir, from)?;
        let mut book = Book::default();
        let now = Instant::now();
        for (_, r) in restored {
            let Restored {
                conversion_id,
                affiliate_id,
                url,
                since_ms,
                attempts,
                failed,
            } = r;
            book.add(Delivery {
                conversion_id: conversion_id.into(),
                affiliate_id,
                url: url.into(),
                host: Box::default(),
                since_ms,
                attempts,
                failed,
                due: now,
            });
        }
        let (pending, failed) = book.counts();
        if pending + failed > 0 {
            tracing::info!(pending, failed, "partner postbacks restored from the logs");
        }
        Ok(Deliveries {
            book: Mutex::new(book),
            wake: Notify::new(),
            settings,
            writer: Mutex::new(Writer::new(dir, retention_hours)),
        })
    }

    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn settings(&self) -> &PartnerPostbacks {
        &self.settings
    }

    /// A recorded conversion's delivery, due now.
    fn add(&self, c: &Conversion) {
        let Some(url) = &c.partner_postback else {
            return;
        };
        self.book().add(Delivery {
            conversion_id: super::url::conversion_id(c).into(),
            affiliate_id: c.claims.affiliate_id,
            url: url.clone(),
            host: Box::default(),
            since_ms: c.time_ms,
            attempts: 0,
            failed: false,
            due: Instant::now(),
        });
    }

    /// Makes failed deliveries pending again, due now, with a new `retry_for`: the one of
    /// `conversion_id`, or every failed one of `affiliate_id`. Written to the log first.
    pub fn requeue(
        &self,
        conversion_id: Option<&str>,
        affiliate_id: Option<u32>,
    ) -> std::io::Result<Requeue> {
        let chosen: Vec<Delivery> = self.book().list(|d| {
            d.failed
                && conversion_id.is_none_or(|id| *d.conversion_id == *id)
                && affiliate_id.is_none_or(|a| d.affiliate_id == a)
        });
        if chosen.is_empty() {
            return Ok(Requeue::NotFailed);
        }
        let now_ms = unix_ms();
        {
            let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            for d in &chosen {
                writer.append(
                    &Entry {
                        time: log::rfc3339_ms(now_ms),
                        conversion_id: d.conversion_id.to_string(),
                        affiliate_id: d.affiliate_id,
                        url: log::shown(&d.url, self.settings.log_query_strings),
                        attempt: 0,
                        result: Outcome::Requeued,
                        status: None,
                        error: None,
                        latency_ms: None,
                    },
                    now_ms,
                    true,
                )?;
            }
        }
        let mut book = self.book();
        let now = Instant::now();
        for d in &chosen {
            if let Some(item) = book.items.get_mut(&d.conversion_id) {
                item.failed = false;
                item.attempts = 0;
                item.since_ms = now_ms;
                item.due = now;
                book.due.insert((now, d.conversion_id.clone()));
            }
        }
        drop(book);
        self.wake.notify_one();
        Ok(Requeue::Requeued(
            chosen.into_iter().map(|d| d.conversion_id).collect(),
        ))
    }
}

/// The host (and port) of `url`: deliveries are bounded per host.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What one attempt came to.
struct Attempted {
    id: Box<str>,
    host: Box<str>,
    outcome: Outcome,
    /// When to try again (`Retry`).
    next: Option<Instant>,
}

/// The wait before attempt `attempts + 1`: `retry_initial` doubled per attempt made, at
/// most `retry_max_interval`, of which a random half is taken off (so that deliveries
/// that failed together do not come back together).
pub fn backoff(settings: &PartnerPostbacks, attempts: u32) -> Duration {
    let doubled = settings
        .retry_initial
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(30));
    let full = doubled.min(settings.retry_max_interval);
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// Sends deliveries until `stop` turns true: new ones from `inbox` (the ledger's recorded
/// conversions), restored ones and operators' retries from the book.
pub async fn run(
    deliveries: Arc<Deliveries>,
    mut inbox: mpsc::UnboundedReceiver<Conversion>,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let settings = deliveries.settings.clone();
    let client = match Client::new(outbound::Options {
        connect_timeout: settings.connect_timeout,
        timeout: settings.timeout,
        max_body_bytes: settings.max_body_bytes,
        user_agent: format!("smartlink/{} (partner postback)", env!("CARGO_PKG_VERSION")),
        policy: Policy {
            allowed: settings.allowed_networks.clone(),
        },
        ca_file: None,
    }) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(error = %e, "partner postbacks cannot start their HTTP client; none is sent");
            return;
        }
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Attempted>();
    // Closed when the ledger stops (shutdown).
    let mut open = true;
    loop {
        let next_due = start_due(&deliveries, &client, &metrics, &done_tx);
        let sleep = async {
            match next_due {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            c = inbox.recv(), if open => match c {
                Some(c) => {
                    deliveries.add(&c);
                    while let Ok(c) = inbox.try_recv() {
                        deliveries.add(&c);
                    }
                }
                None => open = false,
            },
            Some(a) = done_rx.recv() => finish(&deliveries, a),
            () = deliveries.wake.notified() => {}
            () = sleep => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    let left = deliveries.book().in_flight;
    if left > 0 {
        tracing::info!(
            in_flight = left,
            "stopping with partner postbacks in flight: they are sent again at the next start"
        );
    }
}

/// Starts every due delivery there is room for; returns when the next one is due.
fn start_due(
    deliveries: &Arc<Deliveries>,
    client: &Arc<Client>,
    metrics: &Arc<Metrics>,
    done: &mpsc::UnboundedSender<Attempted>,
) -> Option<Instant> {
    let settings = &deliveries.settings;
    let mut book = deliveries.book();
    let now = Instant::now();
    while book.in_flight < settings.concurrency {
        let Some((due, id)) = book.due.first().cloned() else {
            break;
        };
        if due > now {
            break;
        }
        book.due.remove(&(due, id.clone()));
        let Some(d) = book.items.get(&id) else {
            continue;
        };
        let host = d.host.clone();
        if book.per_host.get(&host).copied().unwrap_or(0) >= settings.per_host {
            book.waiting.entry(host).or_default().push_back(id);
            continue;
        }
        let d = d.clone();
        launch(&mut book, d, deliveries, client, metrics, done);
    }
    book.due.first().map(|(at, _)| *at)
}

fn launch(
    book: &mut Book,
    d: Delivery,
    deliveries: &Arc<Deliveries>,
    client: &Arc<Client>,
    metrics: &Arc<Metrics>,
    done: &mpsc::UnboundedSender<Attempted>,
) {
    book.in_flight += 1;
    *book.per_host.entry(d.host.clone()).or_default() += 1;
    metrics.partner_postbacks_in_flight.add(1);
    let (deliveries, client, metrics, done) = (
        Arc::clone(deliveries),
        Arc::clone(client),
        Arc::clone(metrics),
        done.clone(),
    );
    tokio::spawn(async move {
        let attempted = attempt(&deliveries, &client, &metrics, d).await;
        metrics.partner_postbacks_in_flight.add(-1);
        let _ = done.send(attempted);
    });
}

/// One attempt of `d`: the call, its result written to the log.
async fn attempt(
    deliveries: &Arc<Deliveries>,
    client: &Client,
    metrics: &Metrics,
    d: Delivery,
) -> Attempted {
    let settings = &deliveries.settings;
    let attempt = d.attempts + 1;
    let started = Instant::now();
    let (mut outcome, status, mut error) = match url::Url::parse(&d.url) {
        Err(e) => (Outcome::Failed, None, Some(format!("not a URL: {e}"))),
        Ok(url) => match client.send(Method::GET, &url).await {
            Ok(answer) => (classify(answer.status), Some(answer.status.as_u16()), None),
            Err(f) => (
                match f {
                    Failure::BadUrl | Failure::Refused { .. } => Outcome::Failed,
                    _ => Outcome::Retry,
                },
                None,
                Some(f.to_string()),
            ),
        },
    };
    let latency = started.elapsed();
    let mut next = None;
    if outcome == Outcome::Retry {
        let wait = backoff(settings, attempt);
        let ends = d.since_ms + settings.retry_for.as_millis() as i64;
        if unix_ms() + wait.as_millis() as i64 > ends {
            outcome = Outcome::Failed;
            let why = error.take().or(status.map(|s| format!("status {s}")));
            error = Some(format!(
                "retried for partner_postbacks.retry_for ({} attempts); last: {}",
                attempt,
                why.unwrap_or_default()
            ));
        } else {
            next = Some(Instant::now() + wait);
        }
    }
    let now_ms = unix_ms();
    let entry = Entry {
        time: log::rfc3339_ms(now_ms),
        conversion_id: d.conversion_id.to_string(),
        affiliate_id: d.affiliate_id,
        url: log::shown(&d.url, settings.log_query_strings),
        attempt,
        result: outcome,
        status,
        error,
        latency_ms: Some(latency.as_millis() as u64),
    };
    let writer = Arc::clone(deliveries);
    let sync = outcome != Outcome::Retry;
    let written = tokio::task::spawn_blocking(move || {
        let mut w = writer.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.append(&entry, now_ms, sync).map(|()| entry)
    })
    .await;
    match written {
        Ok(Ok(entry)) => {
            tracing::debug!(conversion_id = %entry.conversion_id, url = %entry.url, attempt, result = outcome.as_str(), status = ?entry.status, error = ?entry.error, "partner postback attempt");
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot write the partner postback log; the delivery's result may be repeated after a restart")
        }
        Err(_) => {}
    }
    match outcome {
        Outcome::Delivered => metrics.partner_postbacks_delivered.inc(),
        Outcome::Retry => metrics.partner_postbacks_retried.inc(),
        Outcome::Failed | Outcome::Requeued => metrics.partner_postbacks_failed.inc(),
    }
    Attempted {
        id: d.conversion_id,
        host: d.host,
        outcome,
        next,
    }
}

/// The result of an answer with `status` (see the module's table).
fn classify(status: StatusCode) -> Outcome {
    if status.is_success() {
        Outcome::Delivered
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Outcome::Retry
    } else {
        Outcome::Failed
    }
}

/// Books an attempt's result and frees its places.
fn finish(deliveries: &Deliveries, a: Attempted) {
    let mut guard = deliveries.book();
    let book = &mut *guard;
    book.in_flight -= 1;
    let host_left = match book.per_host.get_mut(&a.host) {
        Some(n) => {
            *n -= 1;
            *n
        }
        None => 0,
    };
    if host_left == 0 {
        book.per_host.remove(&a.host);
    }
    // The next of this host's line is due now.
    if let Some(line) = book.waiting.get_mut(&a.host) {
        if let Some(next) = line.pop_front() {
            book.due.insert((Instant::now(), next));
        }
        if line.is_empty() {
            book.waiting.remove(&a.host);
        }
    }
    match a.outcome {
        Outcome::Delivered => {
            book.items.remove(&a.id);
        }
        Outcome::Failed | Outcome::Requeued => {
            if let Some(d) = book.items.get_mut(&a.id) {
                d.failed = true;
                d.attempts += 1;
            }
        }
        Outcome::Retry => {
            let at = a.next.unwrap_or_else(Instant::now);
            if let Some(d) = book.items.get_mut(&a.id) {
                d.attempts += 1;
                d.due = at;
                book.due.insert((at, a.id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_and_passing_answers() {
        for (code, want) in [
            (200, Outcome::Delivered),
            (204, Outcome::Delivered),
            (301, Outcome::Failed),
            (400, Outcome::Failed),
            (404, Outcome::Failed),
            (410, Outcome::Failed),
            (408, Outcome::Retry),
            (429, Outcome::Retry),
            (500, Outcome::Retry),
            (503, Outcome::Retry),
        ] {
            assert_eq!(
                classify(StatusCode::from_u16(code).unwrap()),
                want,
                "{code}"
            );
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_most() {
        let s = PartnerPostbacks {
            retry_initial: Duration::from_secs(2),
            retry_max_interval: Duration::from_secs(600),
            ..PartnerPostbacks::default()
        };
        for (attempts, full) in [(1, 2), (2, 4), (3, 8), (9, 512), (10, 600), (40, 600)] {
            let full = Duration::from_secs(full);
            for _ in 0..20 {
                let b = backoff(&s, attempts);
                assert!(b >= full / 2 && b <= full, "{attempts}: {b:?}");
            }
        }
    }

    #[test]
    fn hosts_keep_their_port() {
        assert_eq!(host_of("https://t.example:8443/p?x"), "t.example:8443");
        assert_eq!(host_of("http://t.example?x"), "t.example");
    }
}
