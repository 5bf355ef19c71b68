//! Destination health checks (docs/operations.md#destination-health) against real local
//! destinations: listeners of this test that answer, answer 503, hang, stop and come back.
//! Routing moves away after `down_after` failures and back after `up_after` successes within
//! the configured times; every candidate down follows `health.all_down`; a down landing page
//! leaves its offer's rotation; three nodes behind HAProxy probe a destination once per
//! interval between them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::cluster::{Haproxy, Node, Redis, free_port};
use crate::common::*;

/// How a [`Destination`] answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Mode {
    Ok = 0,
    Unavailable = 1,
    /// Reads the request and never answers (until the test ends).
    Hang = 2,
    /// `405` to `HEAD`, `302` to another origin to `GET`.
    RefuseHeadRedirectGet = 3,
}

/// A destination server on a loopback port: a thread accepting connections, one thread per
/// request. It counts the requests it reads and notes their methods.
struct Destination {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    requests: Arc<AtomicUsize>,
    methods: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Destination {
    fn start() -> Destination {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut d = Destination {
            addr: listener.local_addr().expect("addr"),
            mode: Arc::new(AtomicU8::new(Mode::Ok as u8)),
            requests: Arc::default(),
            methods: Arc::default(),
            stop: Arc::default(),
            thread: None,
        };
        d.serve(listener);
        d
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking");
        self.stop = Arc::default();
        let (mode, requests, methods, stop) = (
            Arc::clone(&self.mode),
            Arc::clone(&self.requests),
            Arc::clone(&self.methods),
            Arc::clone(&self.stop),
        );
        self.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (mode, requests, methods, stop) = (
                            Arc::clone(&mode),
                            Arc::clone(&requests),
                            Arc::clone(&methods),
                            Arc::clone(&stop),
                        );
                        std::thread::spawn(move || answer(conn, &mode, &requests, &methods, &stop));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener closes here: connections are refused.
        }));
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    /// Stops listening: connections are refused.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Listens again on the same port.
    fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).expect("bind the same port again");
        self.serve(listener);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        self.stop();
    }
}

fn answer(
    mut conn: TcpStream,
    mode: &AtomicU8,
    requests: &AtomicUsize,
    methods: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    requests.fetch_add(1, Ordering::Relaxed);
    let method = String::from_utf8_lossy(&head)
        .split(' ')
        .next()
        .unwrap_or("")
        .to_string();
    methods.lock().unwrap().push(method.clone());
    let reply = match mode.load(Ordering::Relaxed) {
        0 => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
        1 => "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        2 => {
            let until = Instant::now() + Duration::from_secs(30);
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        _ if method == "HEAD" => {
            "HTTP/1.1 405 Method Not Allowed\r\nallow: GET\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        }
        _ => {
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        }
    };
    let _ = conn.write_all(reply.as_bytes());
}

/// Offers 1 (at `a`) and 2 (at `b`); link 1 routes to 1 at priority 1 and 2 at priority 2,
/// link 2 only to 1. Offer 3 rotates landing pages 31 (at `a`) and 32 (at `b`); link 3
/// routes to it. Offer 3's own URL is not checked (`health_check: false`).
fn network(a: &Destination, b: &Destination) -> String {
    json!({
        "affiliates": [{"affiliate_id": 1, "affiliate_name": "Aff"}],
        "offers": [
            {"offer_id": 1, "offer_name": "A", "offer_status": "active",
             "offer_url": a.url("/a?c={click_id}")},
            {"offer_id": 2, "offer_name": "B", "offer_status": "active",
             "offer_url": b.url("/b?c={click_id}")},
            {"offer_id": 3, "offer_name": "Pages", "offer_status": "active",
             "offer_url": "https://o3.example/?c={click_id}", "landing_page_rotation": true,
             "health_check": false},
        ],
        "landing_pages": [
            {"landing_page_id": 31, "landing_page_name": "PA", "offer_id": 3,
             "url": a.url("/pa?c={click_id}"), "landing_page_status": "active"},
            {"landing_page_id": 32, "landing_page_name": "PB", "offer_id": 3,
             "url": b.url("/pb?c={click_id}"), "landing_page_status": "active"},
        ],
        "campaigns": [],
        "smart_links": [
            {"smart_link_id": 1, "smart_link_name": "A then B", "affiliate_id": 1,
             "smart_link_status": "active",
             "offers": [{"offer_id": 1, "priority": 1}, {"offer_id": 2, "priority": 2}]},
            {"smart_link_id": 2, "smart_link_name": "A only", "affiliate_id": 1,
             "smart_link_status": "active", "offers": [{"offer_id": 1}]},
            {"smart_link_id": 3, "smart_link_name": "Pages", "affiliate_id": 1,
             "smart_link_status": "active", "offers": [{"offer_id": 3}]},
        ],
    })
    .to_string()
}

const INTERVAL_MS: u64 = 200;
const TIMEOUT_MS: u64 = 150;
const DOWN_AFTER: u64 = 2;
const UP_AFTER: u64 = 2;

fn health_section(all_down: &str) -> String {
    format!(
        "[health]\nenabled = true\ninterval_ms = {INTERVAL_MS}\ntimeout_ms = {TIMEOUT_MS}\ndown_after = {DOWN_AFTER}\nup_after = {UP_AFTER}\nall_down = {all_down:?}\nallowed_networks = [\"127.0.0.0/8\"]"
    )
}

/// The longest a change of state may take: N (or M) jittered intervals, a probe's timeout,
/// a tick of the prober, and room for a loaded machine.
fn within(probes: u64) -> Duration {
    Duration::from_millis(probes * INTERVAL_MS * 11 / 10 + TIMEOUT_MS + 250 + 1500)
}

/// The `host:port` a click on `link` was sent to.
async fn sent_to(s: &TestServer, link: u32) -> String {
    let r = s.get(&format!("/sl?id={link}"), &[DESKTOP, US]).await;
    assert_eq!(r.status, http::StatusCode::FOUND, "{}", r.body);
    r.location().split('/').nth(2).unwrap_or("").to_string()
}

/// Waits until clicks on `link` go to `to`; how long that took.
async fn moves_to(s: &TestServer, link: u32, to: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    assert!(
        eventually(limit, async || sent_to(s, link).await == to).await,
        "clicks on link {link} did not go to {to} within {limit:?}: {}",
        api_get(s, "destination_health.json", &[]).await.body
    );
    started.elapsed()
}

/// Waits until offer 1 and landing page 31 (one destination server) are both in `state`:
/// the page's probes may run a moment after the offer's, and a phase that ends before the
/// page changed would leave one change uncounted.
async fn offer_and_page_are(s: &TestServer, state: &str, limit: Duration) {
    assert!(
        eventually(limit, async || {
            let v = parse(&api_get(s, "destination_health.json", &[]).await);
            row(&v, "offer", 1)["state"] == state && row(&v, "landing_page", 31)["state"] == state
        })
        .await,
        "offer 1 and landing page 31 not {state}"
    );
}

fn row<'v>(health: &'v Value, kind: &str, id: u64) -> &'v Value {
    health["destinations"]
        .as_array()
        .expect("destinations")
        .iter()
        .find(|d| d["kind"] == kind && d["id"] == id)
        .unwrap_or_else(|| panic!("{kind} {id} not listed: {health}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_moves_away_from_a_destination_that_stops_fails_or_hangs_and_comes_back() {
    let mut a = Destination::start();
    let b = Destination::start();
    let s = TestServer::start(
        TestConfig::new(&network(&a, &b))
            .geo("GeoIP2-Country-Test.mmdb")
            .section(&health_section("ignore")),
    )
    .await;
    let (at_a, at_b) = (a.addr.to_string(), b.addr.to_string());
    // Up from the first checks.
    moves_to(&s, 1, &at_a, within(1)).await;
    assert!(
        eventually(within(1), async || {
            let v = parse(&api_get(&s, "destination_health.json", &[]).await);
            row(&v, "offer", 1)["state"] == "up"
        })
        .await
    );

    // Stopped: connection refused.
    a.stop();
    let took = moves_to(&s, 1, &at_b, within(DOWN_AFTER)).await;
    eprintln!("stopped: away after {took:?}");
    let v = parse(&api_get(&s, "destination_health.json", &[]).await);
    assert_eq!(row(&v, "offer", 1)["state"], "down", "{v}");
    assert!(
        row(&v, "offer", 1)["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{v}"
    );
    assert_eq!(row(&v, "offer", 2)["state"], "up");
    assert_eq!(row(&v, "offer", 3)["state"], "unchecked");
    // The explanation names the reason.
    let route = parse(
        &api_get(
            &s,
            "smart_link_route.json",
            &[("smart_link_id", "1"), ("user_agent", CHROME_WINDOWS)],
        )
        .await,
    );
    assert_eq!(route["response"]["decision"]["offer_id"], 2, "{route}");
    assert_eq!(
        route["response"]["attachments"][0]["reason"], "destination_down",
        "{route}"
    );
    // A down landing page leaves the rotation: every click of link 3 goes to page 32.
    assert!(
        eventually(within(1), async || {
            let v = parse(&api_get(&s, "destination_health.json", &[]).await);
            row(&v, "landing_page", 31)["state"] == "down"
        })
        .await
    );
    for _ in 0..20 {
        assert_eq!(sent_to(&s, 3).await, at_b);
    }

    // Back: routing returns after the successes.
    a.restart();
    let took = moves_to(&s, 1, &at_a, within(UP_AFTER)).await;
    eprintln!("restarted: back after {took:?}");
    offer_and_page_are(&s, "up", within(UP_AFTER)).await;

    // 503.
    a.set(Mode::Unavailable);
    moves_to(&s, 1, &at_b, within(DOWN_AFTER)).await;
    let v = parse(&api_get(&s, "destination_health.json", &[]).await);
    assert_eq!(row(&v, "offer", 1)["http_status"], 503, "{v}");
    offer_and_page_are(&s, "down", within(DOWN_AFTER)).await;
    a.set(Mode::Ok);
    moves_to(&s, 1, &at_a, within(UP_AFTER)).await;
    offer_and_page_are(&s, "up", within(UP_AFTER)).await;

    // Hangs: each probe times out.
    a.set(Mode::Hang);
    moves_to(&s, 1, &at_b, within(DOWN_AFTER)).await;
    offer_and_page_are(&s, "down", within(DOWN_AFTER)).await;
    let v = parse(&api_get(&s, "destination_health.json", &[]).await);
    assert!(
        row(&v, "offer", 1)["last_error"]
            .as_str()
            .unwrap()
            .contains("no answer within"),
        "{v}"
    );
    a.set(Mode::Ok);
    moves_to(&s, 1, &at_a, within(UP_AFTER)).await;

    // Each change was counted and audited: offer 1 and page 31 (the same server) went down
    // three times and came back three times (page 31 may follow offer 1 by a probe, and the
    // audit log is appended off the runtime's threads, a moment after the change).
    let changes = async |state: &str| -> u64 {
        let metrics = s.get("/metrics", &[]).await.body;
        let series = format!("smartlink_destination_state_changes_total{{state=\"{state}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str())?.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        eventually(within(UP_AFTER), async || changes("down").await == 6
            && changes("up").await == 6)
        .await,
        "{} {}",
        changes("down").await,
        changes("up").await
    );
    let audit_states = || {
        let audit =
            std::fs::read_to_string(s.config.state_dir().join("audit.log")).unwrap_or_default();
        audit
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["call"] == "health" && r["params"]["destination"] == "offer:1")
            .map(|r| r["params"]["state"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(2), async || audit_states().len() >= 6).await,
        "{:?}",
        audit_states()
    );
    assert_eq!(audit_states(), ["down", "up", "down", "up", "down", "up"]);
    drop(a);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_candidate_down_ignore_routes_as_if_health_were_off() {
    let mut a = Destination::start();
    let mut b = Destination::start();
    let s = TestServer::start(
        TestConfig::new(&network(&a, &b))
            .geo("GeoIP2-Country-Test.mmdb")
            .section(&health_section("ignore")),
    )
    .await;
    a.stop();
    b.stop();
    let at_a = a.addr.to_string();
    assert!(
        eventually(within(DOWN_AFTER), async || {
            let v = parse(&api_get(&s, "destination_health.json", &[]).await);
            row(&v, "offer", 1)["state"] == "down" && row(&v, "offer", 2)["state"] == "down"
        })
        .await
    );
    // Link 2's only candidate is down, link 1's both: routed as if checks were off.
    assert_eq!(sent_to(&s, 2).await, at_a);
    assert_eq!(sent_to(&s, 1).await, at_a);
    // Both pages down: the rotation draws among them as before (a page is never left out
    // of every draw).
    let r = s.get("/sl?id=3", &[DESKTOP, US]).await;
    assert_eq!(r.status, http::StatusCode::FOUND);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_candidate_down_fallback_sends_clicks_to_the_fallback_named_destination_down() {
    let mut a = Destination::start();
    let b = Destination::start();
    let s = TestServer::start(
        TestConfig::new(&network(&a, &b))
            .geo("GeoIP2-Country-Test.mmdb")
            .section(&health_section("fallback")),
    )
    .await;
    a.stop();
    assert!(
        eventually(within(DOWN_AFTER), async || {
            let v = parse(&api_get(&s, "destination_health.json", &[]).await);
            row(&v, "offer", 1)["state"] == "down"
        })
        .await
    );
    let r = s.get("/sl?id=2", &[DESKTOP, US]).await;
    assert_eq!(r.status, http::StatusCode::FOUND);
    assert!(
        r.location().starts_with("https://default.example/"),
        "{}",
        r.location()
    );
    // Link 1 still has offer 2.
    assert_eq!(sent_to(&s, 1).await, b.addr.to_string());
    let records = s.records();
    let last = records
        .iter()
        .rev()
        .find(|r| r["smart_link_id"] == 2)
        .expect("a record of link 2");
    assert_eq!(last["fallback_reason"], "destination_down", "{last}");
    let route = parse(
        &api_get(
            &s,
            "smart_link_route.json",
            &[("smart_link_id", "2"), ("user_agent", CHROME_WINDOWS)],
        )
        .await,
    );
    assert_eq!(
        route["response"]["decision"]["fallback_reason"], "destination_down",
        "{route}"
    );
    let metrics = s.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains(
            "smartlink_clicks_total{outcome=\"fallback\",reason=\"destination_down\"} 1\n"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("smartlink_destinations_down 2\n"),
        "offer 1 and page 31: {metrics}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_falls_back_to_get_on_405_and_never_follows_a_redirect() {
    let a = Destination::start();
    a.set(Mode::RefuseHeadRedirectGet);
    let b = Destination::start();
    let s = TestServer::start(TestConfig::new(&network(&a, &b)).section(&health_section("ignore")))
        .await;
    assert!(
        eventually(within(UP_AFTER), async || {
            let v = parse(&api_get(&s, "destination_health.json", &[]).await);
            row(&v, "offer", 1)["state"] == "up"
        })
        .await
    );
    let v = parse(&api_get(&s, "destination_health.json", &[]).await);
    assert_eq!(row(&v, "offer", 1)["http_status"], 302, "{v}");
    assert_eq!(
        row(&v, "offer", 1)["url"],
        a.url("/a?c=health_check"),
        "the template with neutral values"
    );
    // Offer 1 and page 31 are both at `a`: each HEAD refused, then a GET.
    let methods = a.methods.lock().unwrap().clone();
    let count = |m: &str| methods.iter().filter(|x| *x == m).count();
    assert_eq!(methods[0], "HEAD", "{methods:?}");
    assert!(
        count("GET") >= 2 && count("HEAD").abs_diff(count("GET")) <= 2,
        "{methods:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn health_checks_off_probe_nothing_and_list_every_destination_unchecked() {
    let a = Destination::start();
    let b = Destination::start();
    let s = TestServer::start(TestConfig::new(&network(&a, &b))).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(a.requests() + b.requests(), 0);
    let v = ok(&api_get(&s, "destination_health.json", &[]).await);
    assert_eq!(v["enabled"], false);
    let rows = v["destinations"].as_array().unwrap();
    assert_eq!(rows.len(), 5, "3 offers and 2 landing pages: {v}");
    assert!(rows.iter().all(|r| r["state"] == "unchecked"), "{v}");
    let metrics = s.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains("smartlink_destinations_down 0\n"),
        "{metrics}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_turns_a_destinations_checks_off_and_sets_the_url_they_probe() {
    let a = Destination::start();
    let b = Destination::start();
    let s = TestServer::start(TestConfig::new(&network(&a, &b)).section(&health_section("ignore")))
        .await;
    ok(&api_post(
        &s,
        "update_offer.json",
        json!({"offer_id": 1, "health_check": false}),
    )
    .await);
    let probe = b.url("/probe?o={offer_id}");
    ok(&api_post(
        &s,
        "update_landing_page.json",
        json!({"landing_page_id": 31, "health_check_url": probe}),
    )
    .await);
    let v = parse(&api_get(&s, "destination_health.json", &[]).await);
    assert_eq!(row(&v, "offer", 1)["state"], "unchecked", "{v}");
    assert_eq!(
        row(&v, "landing_page", 31)["url"],
        b.url("/probe?o=3"),
        "{v}"
    );
    let offers = ok(&api_get(&s, "offers.json", &[("offer_id", "1")]).await);
    assert_eq!(items(&offers, "offers")[0]["health_check"], false);
    ok(&api_post(
        &s,
        "update_landing_page.json",
        json!({"landing_page_id": 31, "health_check_url": null}),
    )
    .await);
    let v = parse(&api_get(&s, "destination_health.json", &[]).await);
    assert_eq!(
        row(&v, "landing_page", 31)["url"],
        a.url("/pa?c=health_check"),
        "{v}"
    );
    s.stop().await;
}

/// The time a cluster node's `destination_health.json` lists offer 1 as `state`.
fn node_state(addr: SocketAddr) -> String {
    let r = blocking_get(
        addr,
        &format!(
            "/api/2/destination_health.json?{}",
            query(Some(API_KEY), &[])
        ),
    )
    .expect("API answers");
    let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    v["destinations"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["kind"] == "offer" && d["id"] == 1))
        .map_or(String::new(), |d| {
            d["state"].as_str().unwrap_or("").to_string()
        })
}

#[test]
fn three_nodes_behind_haproxy_probe_each_destination_once_per_interval_and_share_the_state() {
    const INTERVAL: u64 = 300;
    let mut a = Destination::start();
    let b = Destination::start();
    let redis = Redis::start();
    let section = format!(
        "[health]\nenabled = true\ninterval_ms = {INTERVAL}\ntimeout_ms = 200\ndown_after = 2\nup_after = 2\nallowed_networks = [\"127.0.0.0/8\"]"
    );
    let net = network(&a, &b);
    // Node 0 on a known port, for `smartlink health`, which asks the server of its settings.
    let nodes: Vec<Node> = (0..3)
        .map(|i| {
            let mut config = Node::config(&net, &redis, &format!("node-{i}")).section(&section);
            if i == 0 {
                config = config.server(&format!("listen = \"127.0.0.1:{}\"", free_port()));
            }
            Node::start(config)
        })
        .collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(Node::addr).collect();
    let proxy = Haproxy::start(&addrs);
    assert!(wait_for(Duration::from_secs(5), || addrs
        .iter()
        .all(|&n| node_state(n) == "up")));
    // Offer 1 and landing page 31 are both at `a`: two destinations, each probed about once
    // per interval by one of the three nodes.
    let before = a.requests();
    let window = Duration::from_millis(INTERVAL * 10);
    std::thread::sleep(window);
    let probes = a.requests() - before;
    let intervals = 10 * 2;
    eprintln!("{probes} probes of 2 destinations in 10 intervals on 3 nodes");
    assert!(
        probes <= intervals + intervals / 4 + 2,
        "{probes} probes: more than one node probes a destination per interval"
    );
    assert!(probes >= intervals / 2, "{probes} probes: too few");

    // Down, seen by every node within a second of the node that found it.
    a.stop();
    assert!(wait_for(Duration::from_secs(5), || addrs
        .iter()
        .any(|&n| node_state(n) == "down")));
    let first = Instant::now();
    assert!(wait_for(Duration::from_secs(2), || addrs
        .iter()
        .all(|&n| node_state(n) == "down")));
    assert!(
        first.elapsed() <= Duration::from_millis(1200),
        "the state took {:?} to reach every node",
        first.elapsed()
    );
    // `smartlink health` prints what the server found.
    let listed = command_json(&nodes[0].config.settings_path(), &["health", "--json"]);
    assert_eq!(row(&listed, "offer", 1)["state"], "down", "{listed}");
    assert_eq!(row(&listed, "offer", 2)["state"], "up", "{listed}");
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .arg("--config")
        .arg(nodes[0].config.settings_path())
        .arg("health")
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("offer")
            && l.contains(" 1  down ")
            && l.contains("cannot connect")),
        "{text}"
    );
    // Through HAProxy, every node routes link 1 to offer 2.
    for _ in 0..6 {
        let (status, location) = get(proxy.addr, "/sl?id=1").expect("answer");
        assert_eq!(status, 302);
        assert!(location.contains(&b.addr.to_string()), "{location}");
    }

    // Redis lost: every node keeps the state, probes on its own, and sees the destination
    // come back.
    drop(redis);
    std::thread::sleep(Duration::from_millis(INTERVAL * 2));
    assert!(addrs.iter().all(|&n| node_state(n) == "down"));
    a.restart();
    assert!(wait_for(Duration::from_secs(5), || addrs
        .iter()
        .all(|&n| node_state(n) == "up")));
    drop(proxy);
    for n in nodes {
        n.stop();
    }
}
