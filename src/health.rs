//! Destination health checks (docs/operations.md#destination-health): a task of its own,
//! never on the click path, that probes the destination of every active offer and landing
//! page whose `health_check` is on, and sets its down flag (`counts::down`), the one bit a
//! click reads beside caps.
//!
//! - A probe renders the destination's URL template (or its `health_check_url`) with
//!   neutral macro values ([`Neutral`]) and sends `HEAD` through the outbound client
//!   (`outbound`: address policy, resolve once, timeouts, bounded body, no redirects), then
//!   `GET` when the server answers `405` or `501` to `HEAD`. Any answer below 500 is a
//!   success, a `3xx` included: a redirect is never followed (it may lead anywhere, and a
//!   server that redirects is up). A `5xx`, a timeout or a connection error is a failure.
//! - `down_after` consecutive failures mark a destination down, `up_after` consecutive
//!   successes up again ([`next`]). Each change is logged, audited (`call: "health"`) and
//!   counted by the node whose probe made it.
//! - Cluster mode: a node probes a destination only when it takes its lease in Redis
//!   (`redis::health`), so one node probes it per interval; it writes what it found to the
//!   shared hash, which every node reads every [`TICK`] and applies. While Redis is
//!   unreachable a node keeps the last states and probes every destination itself.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::catalog::Status as Activity;
use crate::counts::Status;
use crate::outbound::{Client, Options, Policy};
use crate::settings::Health;
use crate::snapshot::Snapshot;
use crate::state::State;
use crate::template::{Macro, MacroValues, Template, push_number};
use crate::vocab::{Destination, DestinationKind};

/// How often the task looks for due probes and, in cluster mode, reads the shared states.
pub const TICK: Duration = Duration::from_millis(250);

/// Most body bytes a probe reads.
const MAX_BODY: usize = 16 * 1024;

/// One destination to probe.
#[derive(Debug, Clone)]
pub struct Target {
    pub destination: Destination,
    pub name: String,
    /// The URL probes request.
    pub url: String,
}

/// Macro values of a probe: the offer's own id, 0 for the other ids, `health_check` as the
/// click id, nothing for the sub ids, the country, the device and the OS.
pub struct Neutral {
    pub offer_id: u32,
}

impl MacroValues for Neutral {
    fn write_value(&mut self, m: Macro, out: &mut String) {
        match m {
            Macro::ClickId => out.push_str("health_check"),
            Macro::OfferId => push_number(out, self.offer_id),
            Macro::SmartLinkId | Macro::CampaignId | Macro::AffiliateId => out.push('0'),
            Macro::Sub(_) | Macro::Country | Macro::Device | Macro::Os => {}
            // A destination's template cannot hold them (`Template::parse`).
            Macro::Postback(_) => {}
        }
    }
}

/// Every destination health checks watch in `snapshot` (none when they are off): active
/// offers and active landing pages whose `health_check` is not false.
pub fn targets(snapshot: &Snapshot) -> Vec<Target> {
    if !snapshot.settings.health.enabled {
        return Vec::new();
    }
    let c = &snapshot.catalog;
    let render = |t: &Template, offer_id| t.render(&mut Neutral { offer_id });
    let offers = c
        .offers
        .iter()
        .zip(&c.parsed.offers)
        .filter(|(o, _)| o.health_check && o.offer_status == Activity::Active)
        .map(|(o, p)| Target {
            destination: Destination::offer(o.offer_id),
            name: o.offer_name.clone(),
            url: render(p.health_check_url.as_ref().unwrap_or(&p.url), o.offer_id),
        });
    let pages = c
        .landing_pages
        .iter()
        .zip(&c.parsed.landing_pages)
        .filter(|(l, _)| l.health_check && l.landing_page_status == Activity::Active)
        .map(|(l, p)| Target {
            destination: Destination::landing_page(l.landing_page_id),
            name: l.landing_page_name.clone(),
            url: render(p.health_check_url.as_ref().unwrap_or(&p.url), l.offer_id),
        });
    offers.chain(pages).collect()
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    pub ok: bool,
    pub http_status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
}

/// The outbound client of `h`.
pub fn client(h: &Health) -> Result<Client, String> {
    Client::new(Options {
        connect_timeout: h.timeout,
        timeout: h.timeout,
        max_body_bytes: MAX_BODY,
        user_agent: format!("smartlink-health-check/{}", env!("CARGO_PKG_VERSION")),
        policy: Policy {
            allowed: h.allowed_networks.clone(),
        },
        ca_file: h.ca_file.clone(),
    })
}

/// Probes `url`: `HEAD`, then `GET` when `HEAD` is refused (`405`, `501`).
pub async fn probe(client: &Client, url: &str) -> Probed {
    let started = std::time::Instant::now();
    let url = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            return Probed {
                ok: false,
                http_status: None,
                latency: Duration::ZERO,
                error: Some(format!("not a URL: {e}")),
            };
        }
    };
    let mut answer = client.send(Method::HEAD, &url).await;
    if let Ok(a) = &answer
        && matches!(
            a.status,
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
        )
    {
        answer = client.send(Method::GET, &url).await;
    }
    let latency = started.elapsed();
    match answer {
        Ok(a) if a.status.is_server_error() => Probed {
            ok: false,
            http_status: Some(a.status.as_u16()),
            latency,
            error: Some(format!("answered {}", a.status)),
        },
        Ok(a) => Probed {
            ok: true,
            http_status: Some(a.status.as_u16()),
            latency,
            error: None,
        },
        Err(e) => Probed {
            ok: false,
            http_status: None,
            latency,
            error: Some(e.to_string()),
        },
    }
}

/// The status after `probed`, from the one before (`None`: never checked, up).
pub fn next(prev: Option<&Status>, probed: &Probed, h: &Health, node: &str, now_ms: i64) -> Status {
    let prev = prev.cloned().unwrap_or_default();
    let (failures, successes) = if probed.ok {
        (0, prev.successes.saturating_add(1))
    } else {
        (prev.failures.saturating_add(1), 0)
    };
    let down = if prev.down {
        successes < h.up_after
    } else {
        failures >= h.down_after
    };
    Status {
        down,
        failures,
        successes,
        checked_ms: now_ms,
        latency_ms: probed.latency.as_millis() as u64,
        http_status: probed.http_status,
        last_error: probed.error.clone().or(prev.last_error),
        node: node.to_string(),
    }
}

/// Sets `d`'s status and down flag; when the flag changed, logs it and, when this node's own
/// probe changed it (`here`), counts and audits it.
fn apply(state: &State, snapshot: &Snapshot, d: Destination, status: Status, here: bool) {
    let changed = state.counts.down_flag(d).set(status.down);
    let down = status.down;
    let error = status.last_error.clone();
    let by = status.node.clone();
    state.counts.health().set(d, status);
    if !changed {
        return;
    }
    let word = if down { "down" } else { "up" };
    if down {
        tracing::warn!(destination = %d, error = error.as_deref().unwrap_or(""), probed_by = %by, "destination is down: routing skips it");
    } else {
        tracing::info!(destination = %d, probed_by = %by, "destination is up again: routing sends clicks to it");
    }
    if !here {
        return;
    }
    if down {
        state.metrics.destinations_went_down.inc();
    } else {
        state.metrics.destinations_came_up.inc();
    }
    let change = crate::audit::Change {
        key: None,
        call: "health".into(),
        params: json!({"destination": d.key(), "state": word, "error": error}),
    };
    let record = change.record(&snapshot.settings.node(), snapshot.generation);
    let dir = snapshot.settings.state_dir.clone();
    let metrics = Arc::clone(&state.metrics);
    // The audit log fsyncs: off the runtime's threads.
    tokio::task::spawn_blocking(move || {
        if let Err(e) = crate::audit::append(&dir, &record) {
            metrics.audit_write_failures.inc();
            tracing::error!(error = %e, "health change not appended to the audit log");
        }
    });
}

/// A probe interval drawn within ±10 % of `interval`.
fn jittered(interval: Duration) -> Duration {
    let tenth = interval / 10;
    interval - tenth + tenth.mul_f64(2.0 * rand::random::<f64>())
}

/// Runs the health checks until `stopped`: every [`TICK`] takes the shared states (cluster
/// mode) and starts the probes that are due, at most `health.concurrency` at a time.
pub async fn run(state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut due: HashMap<Destination, Instant> = HashMap::new();
    let mut probing: JoinSet<Destination> = JoinSet::new();
    let mut busy: HashSet<Destination> = HashSet::new();
    let mut built: Option<(Health, Arc<Client>)> = None;
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            _ = ticker.tick() => {}
        }
        while let Some(done) = probing.try_join_next() {
            if let Ok(d) = done {
                busy.remove(&d);
            }
        }
        let snapshot = state.snapshot_full();
        let h = &snapshot.settings.health;
        if !h.enabled {
            due.clear();
            continue;
        }
        if let Some(shared) = &state.shared
            && shared.is_up()
            && let Ok(states) = shared.health_states().await
        {
            take_shared(&state, &snapshot, states);
        }
        let client = match &built {
            Some((settings, client)) if settings == h => Arc::clone(client),
            _ => match client(h) {
                Ok(c) => {
                    let c = Arc::new(c);
                    built = Some((h.clone(), Arc::clone(&c)));
                    c
                }
                Err(e) => {
                    tracing::error!(error = %e, "health checks cannot start their client");
                    continue;
                }
            },
        };
        let now = Instant::now();
        let targets = targets(&snapshot);
        let watched: HashSet<Destination> = targets.iter().map(|t| t.destination).collect();
        due.retain(|d, _| watched.contains(d));
        for t in targets {
            let at = due.entry(t.destination).or_insert(now);
            if *at > now || busy.contains(&t.destination) || busy.len() >= h.concurrency {
                continue;
            }
            *at = now + jittered(h.interval);
            busy.insert(t.destination);
            let (state, snapshot, client) = (
                Arc::clone(&state),
                Arc::clone(&snapshot),
                Arc::clone(&client),
            );
            probing.spawn(async move {
                check(&state, &snapshot, &client, &t).await;
                t.destination
            });
        }
    }
    probing.shutdown().await;
}

/// One check of `t`: in cluster mode only with its lease (or without Redis), then the probe,
/// the new status applied here and shared.
async fn check(state: &State, snapshot: &Snapshot, client: &Client, t: &Target) {
    let h = &snapshot.settings.health;
    let shared = state.shared.as_ref().filter(|s| s.is_up());
    if let Some(shared) = shared {
        // Shorter than the shortest jittered interval: the node that probed last may take it
        // again on its next turn, and no two nodes probe within one interval.
        let ttl = h.interval.mul_f64(0.8);
        if let Ok(false) = shared.health_lease(t.destination, ttl).await {
            return;
        }
    }
    let probed = probe(client, &t.url).await;
    if probed.ok {
        state.metrics.health_probes_succeeded.inc();
    } else {
        state.metrics.health_probes_failed.inc();
    }
    let now_ms = crate::clock::unix_millis(std::time::SystemTime::now());
    let prev = state.counts.health().get(t.destination);
    let node = snapshot.settings.node();
    let status = next(prev.as_ref(), &probed, h, &node, now_ms);
    apply(state, snapshot, t.destination, status.clone(), true);
    if let Some(shared) = &state.shared
        && let Ok(json) = serde_json::to_vec(&status)
    {
        let _ = shared.push_health(t.destination, &json).await;
    }
}

/// Applies the statuses the cluster's nodes shared that are newer than this node's.
fn take_shared(state: &State, snapshot: &Snapshot, states: Vec<(String, Vec<u8>)>) {
    for (key, json) in states {
        let (Some(d), Ok(status)) = (
            Destination::of_key(&key),
            serde_json::from_slice::<Status>(&json),
        ) else {
            continue;
        };
        let newer = state
            .counts
            .health()
            .get(d)
            .is_none_or(|held| status.checked_ms > held.checked_ms);
        if newer {
            apply(state, snapshot, d, status, false);
        }
    }
}

/// Every offer and landing page of `snapshot` with what health checks found of it, for
/// `smartlink health` and `destination_health.json`. `state` is `up` or `down`; `pending`
/// before the first check; `unchecked` when checks are off, its `health_check` is false or it
/// is not active.
pub fn list(snapshot: &Snapshot, board: &crate::counts::Board) -> Value {
    let watched: HashMap<Destination, Target> = targets(snapshot)
        .into_iter()
        .map(|t| (t.destination, t))
        .collect();
    let all = board.all();
    let c = &snapshot.catalog;
    let ids = c
        .offers
        .iter()
        .map(|o| (Destination::offer(o.offer_id), o.offer_name.as_str()))
        .chain(c.landing_pages.iter().map(|l| {
            (
                Destination::landing_page(l.landing_page_id),
                l.landing_page_name.as_str(),
            )
        }));
    let rows: Vec<Value> = ids
        .map(|(d, name)| {
            let target = watched.get(&d);
            let status = target.and(all.get(&d));
            let word = match (target, status) {
                (None, _) => "unchecked",
                (Some(_), None) => "pending",
                (Some(_), Some(s)) if s.down => "down",
                (Some(_), Some(_)) => "up",
            };
            let time = status.and_then(|s| {
                jiff::Timestamp::from_millisecond(s.checked_ms)
                    .ok()
                    .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            });
            json!({
                "kind": match d.kind {
                    DestinationKind::Offer => "offer",
                    DestinationKind::LandingPage => "landing_page",
                },
                "id": d.id,
                "name": name,
                "state": word,
                "url": target.map(|t| t.url.as_str()),
                "last_check": time,
                "latency_ms": status.map(|s| s.latency_ms),
                "http_status": status.and_then(|s| s.http_status),
                "last_error": status.and_then(|s| s.last_error.as_deref()),
                "consecutive_failures": status.map(|s| s.failures),
                "consecutive_successes": status.map(|s| s.successes),
                "checked_by": status.map(|s| s.node.as_str()),
            })
        })
        .collect();
    json!({
        "enabled": snapshot.settings.health.enabled,
        "all_down": match snapshot.settings.health.all_down {
            crate::settings::AllDown::Ignore => "ignore",
            crate::settings::AllDown::Fallback => "fallback",
        },
        "destinations": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probed(ok: bool) -> Probed {
        Probed {
            ok,
            http_status: Some(if ok { 200 } else { 503 }),
            latency: Duration::from_millis(3),
            error: (!ok).then(|| "answered 503".into()),
        }
    }

    #[test]
    fn down_after_n_failures_and_up_after_m_successes() {
        let h = Health {
            down_after: 3,
            up_after: 2,
            ..Health::default()
        };
        let mut s: Option<Status> = None;
        let mut walk = |ok| {
            s = Some(next(s.as_ref(), &probed(ok), &h, "n", 1));
            s.as_ref().unwrap().down
        };
        assert!(!walk(false));
        assert!(!walk(false));
        assert!(!walk(true), "a success resets the failures");
        assert!(!walk(false));
        assert!(!walk(false));
        assert!(walk(false), "the third failure in a row");
        assert!(walk(true));
        assert!(walk(false), "a failure resets the successes");
        assert!(walk(true));
        assert!(!walk(true), "the second success in a row");
        assert_eq!(
            s.unwrap().last_error.as_deref(),
            Some("answered 503"),
            "the last error is kept after successes"
        );
    }

    #[test]
    fn neutral_values_fill_every_macro() {
        let t = Template::parse(
            "https://o.example/?c={click_id}&o={offer_id}&l={smart_link_id}&s={s1}&g={country}",
        )
        .unwrap();
        assert_eq!(
            t.render(&mut Neutral { offer_id: 42 }),
            "https://o.example/?c=health_check&o=42&l=0&s=&g="
        );
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        for _ in 0..1000 {
            let j = jittered(Duration::from_millis(1000));
            assert!((900..=1100).contains(&j.as_millis()), "{j:?}");
        }
    }
}
