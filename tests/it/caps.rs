//! Caps over real HTTP (docs/routing.md): a click cap under many parallel clicks, conversion
//! caps reached through postbacks, what counts and what does not, statistics and metrics, and
//! counters that survive a reload and a restart.

use std::time::Duration;

use crate::common::*;

/// Link 10: offer 21 (daily click cap 25, weight 100) and offer 22 (weight 1) at priority 1,
/// offer 24 at priority 2. Link 11: offer 23 (daily conversion cap 2) alone; its offer URL
/// carries the click id. Link 12: offer 21 alone.
pub const CAPPED: &str = include_str!("../fixtures/networks/capped.json");

/// The host of a redirect: `o21.example`, `fb.example`, ...
pub fn host(location: &str) -> &str {
    location
        .trim_start_matches("https://")
        .split(['/', '?'])
        .next()
        .unwrap_or("")
}

/// Fires `n` GET clicks at `target` over `connections` parallel keep-alive connections;
/// returns the redirect host of each.
pub async fn clicks(
    addr: std::net::SocketAddr,
    target: &'static str,
    n: usize,
    connections: usize,
) -> Vec<String> {
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let mut client = Client::connect(addr).await;
                let mut hosts = Vec::new();
                for _ in (c..n).step_by(connections) {
                    let r = client
                        .send("GET", target, &[("user-agent", CHROME_WINDOWS)])
                        .await;
                    assert_eq!(r.status, 302);
                    hosts.push(host(r.location()).to_string());
                }
                hosts
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    all
}

fn count(hosts: &[String], host: &str) -> usize {
    hosts.iter().filter(|h| *h == host).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_click_cap_admits_exactly_n_under_parallel_clicks_and_losers_stay_in_their_priority() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    // HEAD clicks check caps but take no place.
    for _ in 0..30 {
        let r = request(
            server.addr,
            "HEAD",
            "/sl?id=12",
            &[("user-agent", CHROME_WINDOWS)],
        )
        .await;
        assert_eq!(host(r.location()), "o21.example");
    }
    let hosts = clicks(server.addr, "/sl?id=10", 600, 24).await;
    assert_eq!(count(&hosts, "o21.example"), 25, "exactly the cap");
    assert_eq!(
        count(&hosts, "o22.example"),
        575,
        "losers stay at priority 1"
    );
    assert_eq!(
        count(&hosts, "o24.example") + count(&hosts, "fb.example"),
        0
    );
    // The cap is per offer, across links: link 12 has nothing left to route to.
    let r = server
        .get("/sl?id=12", &[("user-agent", CHROME_WINDOWS)])
        .await;
    assert_eq!(host(r.location()), "fb.example");
    let records = server.records();
    let last = records.last().unwrap();
    assert_eq!(last["fallback_reason"], "all_capped");
    assert_eq!(
        records.iter().filter(|r| r["offer_id"] == 21).count(),
        25,
        "the click log agrees"
    );

    let snapshot = server.state.snapshot();
    let stats = smartlink::stats::link(snapshot.table.link(10).unwrap(), &server.state.counts);
    assert_eq!((stats.totals.clicks, stats.totals.routed), (600, 600));
    assert_eq!(stats.totals.fill_rate, Some(1.0));
    let per_offer: Vec<(u32, u64)> = stats
        .offers
        .iter()
        .map(|o| (o.offer_id, o.routed))
        .collect();
    assert_eq!(per_offer, [(21, 25), (22, 575), (24, 0)]);
    let single = smartlink::stats::link(snapshot.table.link(12).unwrap(), &server.state.counts);
    assert_eq!(
        (
            single.totals.clicks,
            single.totals.routed,
            single.totals.fallback.all_capped
        ),
        (1, 0, 1)
    );
    assert_eq!(single.totals.fill_rate, Some(0.0));

    let metrics = server.get("/metrics", &[]).await.body;
    assert!(metrics.contains("smartlink_offers_capped 1\n"), "{metrics}");
    assert!(
        metrics.contains("smartlink_clicks_total{outcome=\"fallback\",reason=\"all_capped\"} 1\n"),
        "{metrics}"
    );
    assert!(!metrics.contains("smart_link_id"), "no per-link labels");
    server.stop().await;
}

#[tokio::test]
async fn an_offer_at_90_percent_of_a_cap_is_near_until_it_reaches_the_cap() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    let gauges = async || {
        let text = server.get("/metrics", &[]).await.body;
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
                .to_string()
        };
        (
            value("smartlink_offers_near_cap"),
            value("smartlink_offers_capped"),
        )
    };
    // Link 12 routes to offer 21 alone, daily click cap 25: 90 % is 22.5 clicks.
    let routed = clicks(server.addr, "/sl?id=12", 22, 1).await;
    assert_eq!(count(&routed, "o21.example"), 22);
    assert_eq!(
        gauges().await,
        ("0".into(), "0".into()),
        "22 of 25 is not near"
    );
    clicks(server.addr, "/sl?id=12", 1, 1).await;
    assert_eq!(gauges().await, ("1".into(), "0".into()), "23 of 25 is near");
    let last = clicks(server.addr, "/sl?id=12", 2, 1).await;
    assert_eq!(count(&last, "o21.example"), 2);
    assert_eq!(
        gauges().await,
        ("0".into(), "1".into()),
        "a reached cap is capped, no longer near"
    );
    server.stop().await;
}

#[tokio::test]
async fn bots_and_fallbacks_take_no_place_under_a_click_cap() {
    let config = TestConfig::new(&CAPPED.replace("\"daily_clicks\": 25", "\"daily_clicks\": 2"))
        .section("[routing]\nbots = \"route\"");
    let server = TestServer::start(config).await;
    for _ in 0..10 {
        let r = server.get("/sl?id=12", &[("user-agent", GOOGLEBOT)]).await;
        assert_eq!(
            host(r.location()),
            "o21.example",
            "routed bots still routed"
        );
    }
    let humans = clicks(server.addr, "/sl?id=12", 4, 1).await;
    assert_eq!(
        humans,
        ["o21.example", "o21.example", "fb.example", "fb.example"]
    );
    server.stop().await;
}

#[tokio::test]
async fn counts_carry_over_a_reload_that_changes_the_cap() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    let hosts = clicks(server.addr, "/sl?id=12", 10, 2).await;
    assert_eq!(count(&hosts, "o21.example"), 10);
    // Lower the cap to 12 and reload: 10 are already counted, so 2 more get through.
    std::fs::write(
        server.config.catalog_path(),
        CAPPED.replace("\"daily_clicks\": 25", "\"daily_clicks\": 12"),
    )
    .unwrap();
    server.state.reload().expect("reload");
    let hosts = clicks(server.addr, "/sl?id=12", 5, 1).await;
    assert_eq!(
        hosts,
        [
            "o21.example",
            "o21.example",
            "fb.example",
            "fb.example",
            "fb.example"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn counters_and_converted_ids_survive_a_restart_exactly() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    let hosts = clicks(server.addr, "/sl?id=10", 40, 4).await;
    assert_eq!(count(&hosts, "o21.example"), 25);
    let r = server
        .get("/sl?id=11", &[("user-agent", CHROME_WINDOWS)])
        .await;
    let click_id = query_param(r.location(), "c").unwrap();
    let p = server.get(&format!("/p?click_id={click_id}"), &[]).await;
    assert_eq!(p.body, "{\"status\":\"recorded\"}\n");
    let before = smartlink::stats::link(
        server.state.snapshot().table.link(10).unwrap(),
        &server.state.counts,
    );
    let config = server.stop().await;
    let saved = std::fs::read_to_string(config.state_dir().join("counters.json")).unwrap();
    assert!(saved.contains("\"offer_id\": 21"), "{saved}");

    let server = TestServer::start(config).await;
    let after = smartlink::stats::link(
        server.state.snapshot().table.link(10).unwrap(),
        &server.state.counts,
    );
    assert_eq!(after, before, "statistics restored exactly");
    // Still capped: no click reaches offer 21 after the restart.
    let hosts = clicks(server.addr, "/sl?id=10", 20, 2).await;
    assert_eq!(count(&hosts, "o21.example"), 0);
    // The converted id is still known.
    let p = server.get(&format!("/p?click_id={click_id}"), &[]).await;
    assert_eq!(p.body, "{\"status\":\"duplicate\"}\n");
    let offer = server.state.counts.offer(23);
    assert_eq!(offer.total_conversions(), 1, "counted once");
    server.stop().await;
}

#[tokio::test]
async fn a_conversion_cap_is_reached_through_postbacks() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = server
            .get("/sl?id=11", &[("user-agent", CHROME_WINDOWS)])
            .await;
        assert_eq!(host(r.location()), "o23.example");
        ids.push(query_param(r.location(), "c").unwrap());
    }
    for id in &ids[..2] {
        let p = server
            .get(&format!("/p?click_id={id}&amount=1.50"), &[])
            .await;
        assert_eq!(
            (p.status.as_u16(), p.body.as_str()),
            (200, "{\"status\":\"recorded\"}\n")
        );
    }
    let r = server
        .get("/sl?id=11", &[("user-agent", CHROME_WINDOWS)])
        .await;
    assert_eq!(
        host(r.location()),
        "fb.example",
        "capped after 2 conversions"
    );
    assert_eq!(
        server.records().last().unwrap()["fallback_reason"],
        "all_capped"
    );
    // A conversion of a click made before the cap was reached is still recorded.
    let p = server.get(&format!("/p?click_id={}", ids[2]), &[]).await;
    assert_eq!(p.body, "{\"status\":\"recorded\"}\n");
    let stats = smartlink::stats::link(
        server.state.snapshot().table.link(11).unwrap(),
        &server.state.counts,
    );
    assert_eq!(
        (
            stats.totals.clicks,
            stats.totals.routed,
            stats.totals.conversions
        ),
        (4, 3, 3)
    );
    assert_eq!(stats.totals.fallback.all_capped, 1);
    let snapshot = server.state.snapshot();
    let clock = smartlink::counts::CapClock::now(&snapshot.calendar);
    let offers = smartlink::stats::offers(&snapshot.table, &server.state.counts, &clock);
    let o23 = offers.iter().find(|o| o.offer_id == 23).unwrap();
    let caps = o23.caps.as_ref().unwrap();
    assert_eq!(
        caps.capped,
        Some(smartlink::vocab::CapKind::DailyConversions)
    );
    assert_eq!(
        (o23.clicks, o23.earned.conversions, caps.capped_clicks),
        (3, 3, 1)
    );
    assert_eq!(caps.fill_rate, Some(0.75));
    let with_counters: Vec<u32> = server
        .state
        .counts
        .offers()
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(
        with_counters,
        [21, 23],
        "reading statistics creates no counters"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_counters_file_is_saved_within_a_second_while_serving() {
    let server = TestServer::start(TestConfig::new(CAPPED)).await;
    clicks(server.addr, "/sl?id=12", 3, 1).await;
    let path = server.config.state_dir().join("counters.json");
    // The saver runs every second; 1.5 s leaves room for one render and write.
    let saved = eventually(Duration::from_millis(1500), async || {
        std::fs::read_to_string(&path).is_ok_and(|t| t.contains("\"routed\": 3"))
    })
    .await;
    assert!(saved, "counters.json has the 3 clicks");
    server.stop().await;
}

/// Keep-alive HTTP/1.1 clients on their own threads, clicking `target` until stopped (or
/// until the server has said "fallback" `enough` times), reconnecting when the server goes.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    routed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    fell_back: std::sync::Arc<std::sync::atomic::AtomicU64>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: std::net::SocketAddr, target: &'static str, threads: usize) -> Load {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let routed = std::sync::Arc::new(AtomicU64::new(0));
        let fell_back = std::sync::Arc::new(AtomicU64::new(0));
        let clients = (0..threads)
            .map(|_| {
                let (stop, routed, fell_back) = (stop.clone(), routed.clone(), fell_back.clone());
                std::thread::spawn(move || {
                    let request = format!(
                        "GET {target} HTTP/1.1\r\nHost: x\r\nUser-Agent: {CHROME_WINDOWS}\r\n\r\n"
                    );
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        };
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        while !stop.load(Ordering::Relaxed) {
                            match keep_alive_click(&mut s, request.as_bytes()) {
                                Some(host) if host == "o21.example" => {
                                    routed.fetch_add(1, Ordering::Relaxed)
                                }
                                Some(_) => fell_back.fetch_add(1, Ordering::Relaxed),
                                None => break,
                            };
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            routed,
            fell_back,
            clients,
        }
    }

    /// Clicks answered so far: (routed to offer 21, anything else).
    fn seen(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.routed.load(Ordering::Relaxed),
            self.fell_back.load(Ordering::Relaxed),
        )
    }

    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in std::mem::take(&mut self.clients) {
            c.join().unwrap();
        }
        self.seen()
    }
}

/// One click on a keep-alive connection: the redirect's host, `None` when the connection
/// failed.
fn keep_alive_click(s: &mut std::net::TcpStream, request: &[u8]) -> Option<String> {
    use std::io::{Read, Write};
    s.write_all(request).ok()?;
    let mut head = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length").map_or(0, |l| l.parse().unwrap_or(0));
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).ok()?;
    assert!(head.starts_with("HTTP/1.1 302"), "{head}");
    Some(host(&header("location").unwrap_or_default()).to_string())
}

/// Click records routed to `offer`, per UTC day (a cap window of the UTC time zone).
fn routed_per_day(config: &TestConfig, offer: u64) -> std::collections::BTreeMap<String, u64> {
    let mut days = std::collections::BTreeMap::new();
    for r in config.click_records() {
        if r["offer_id"] == offer {
            *days
                .entry(r["time"].as_str().unwrap()[..10].to_string())
                .or_insert(0) += 1;
        }
    }
    days
}

/// Regression: cap 30,000 on an offer, load on its link, `kill -9` at 1.3 s, restart, more
/// load: the click log held 38,783 clicks routed to the offer, while statistics said 30,000.
/// The counts saved once a second died with the process and the cap started again from the
/// saved value. Now the cap's clicks are reserved on disk before they are spent: after the
/// kill the click log never holds more than the cap, and under sustained demand the offer
/// still fills to within the documented bound (docs/operations.md#click-caps-across-a-crash:
/// the lease held at the kill, at most max(100, 1.25 s of demand), plus the records the kill
/// took from the click log's queue).
#[test]
fn after_kill_9_under_load_the_click_log_never_passes_the_click_cap() {
    const CAP: u64 = 30_000;
    let config =
        TestConfig::new(&CAPPED.replace("\"daily_clicks\": 25", "\"daily_clicks\": 30000"));
    let path = config.write();
    let mut bin = Binary::start(&path);
    let load = Load::start(bin.addr, "/sl?id=12", 8);
    let started = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(800));
    let (mid, at_mid) = (load.seen().0, started.elapsed());
    std::thread::sleep(Duration::from_millis(500));
    // The demand is measured up to the kill: waiting for the process and the load threads
    // afterwards takes seconds on a loaded machine, and would understate it. The lease is
    // sized on the recent demand, which a loaded start-up's slow first moments hide from the
    // average: the larger of the two rates is the demand.
    let (last, at_kill) = (load.seen().0, started.elapsed());
    bin.signal(libc::SIGKILL);
    assert_eq!(bin.killed_by(Duration::from_secs(10)), Some(libc::SIGKILL));
    let (before, _) = load.finish();
    let recent = (last - mid) as f64 / (at_kill - at_mid).as_secs_f64();
    let rate = (before as f64 / at_kill.as_secs_f64()).max(recent);
    let logged_before: u64 = routed_per_day(&config, 21).values().sum();
    assert!(
        before > 500 && before < CAP,
        "the kill must come mid-fill: {before} routed before it"
    );
    let reserved =
        std::fs::read_to_string(config.state_dir().join("reservations.json")).unwrap_or_default();

    let mut bin = Binary::start(&path);
    let load = Load::start(bin.addr, "/sl?id=12", 8);
    // Sustained demand until the offer is capped (a run of fallbacks), at most 60 s.
    let filled = wait_for(Duration::from_secs(60), || load.seen().1 >= 2_000);
    let (after, fell_back) = load.finish();
    bin.signal(libc::SIGTERM);
    assert_eq!(bin.exit_code(Duration::from_secs(20)), Some(0));
    assert!(
        filled,
        "the offer was not capped: {after} routed after the restart"
    );

    let per_day = routed_per_day(&config, 21);
    let routed: u64 = per_day.values().sum();
    eprintln!(
        "cap {CAP}: before the kill {before} answered as routed ({logged_before} in the log, {rate:.0}/s), \
         reservations at the kill {}, after the restart {after} routed and {fell_back} fallbacks; \
         the click log holds {routed} routed: {per_day:?}",
        reserved.trim()
    );
    for (day, n) in &per_day {
        assert!(*n <= CAP, "{day}: {n} clicks routed under a cap of {CAP}");
    }
    // Within the bound of a crash: the lease held at the kill (at most max(FLOOR, 1.25 s of
    // demand)) and the answered clicks whose records the kill took from the queue.
    let bound = (1.25 * rate).max(100.0) as u64 + (before - logged_before.min(before));
    let most = *per_day.values().max().unwrap();
    assert!(
        most + bound >= CAP,
        "the offer filled to {most} of {CAP}: more than {bound} short"
    );
}
