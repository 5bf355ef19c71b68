//! Partner postbacks (docs/operations.md, "Partner postbacks"): real receivers on loopback
//! that answer 200, 500 then 200, hang, reset, trickle a huge body, redirect and answer 410;
//! a private address refused; a dead receiver that delays no other; `kill -9` with 1,000
//! deliveries pending.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use smartlink::click_id::{Claims, ClickSigner};
use smartlink::vocab::SourceKind;

use crate::common::*;

/// What a receiver does with its `n`th request (from 0).
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Reads the request and never answers.
    Hang,
    /// Closes the connection with a reset, no answer.
    Reset,
    /// `200` and 4 MiB of body, 16 KiB every 10 ms.
    SlowHugeBody,
    /// `302` to `Location`.
    Redirect(SocketAddr),
}

/// A receiver on loopback: every request's path and arrival time, kept.
struct Receiver {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Receiver {
    async fn start(answer: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let kept = Arc::clone(&hits);
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (hits, answer) = (Arc::clone(&kept), Arc::clone(&answer));
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head);
                    let path = text.split(' ').nth(1).unwrap_or("").to_string();
                    let n = {
                        let mut h = hits.lock().unwrap();
                        h.push((path, Instant::now()));
                        h.len() - 1
                    };
                    match answer(n) {
                        Answer::Status(code) => {
                            let reply = format!(
                                "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                            );
                            let _ = socket.write_all(reply.as_bytes()).await;
                        }
                        Answer::Hang => tokio::time::sleep(Duration::from_secs(600)).await,
                        Answer::Reset => {
                            let _ = socket.set_zero_linger();
                            drop(socket);
                        }
                        Answer::SlowHugeBody => {
                            let total = 4 << 20;
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n"
                            );
                            if socket.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let chunk = vec![b'x'; 16 * 1024];
                            for _ in 0..total / chunk.len() {
                                if socket.write_all(&chunk).await.is_err() {
                                    return;
                                }
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                        Answer::Redirect(to) => {
                            let reply = format!(
                                "HTTP/1.1 302 Found\r\nlocation: http://{to}/moved\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            );
                            let _ = socket.write_all(reply.as_bytes()).await;
                        }
                    }
                });
            }
        });
        Receiver { addr, hits }
    }

    fn hits(&self) -> Vec<(String, Instant)> {
        self.hits.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    /// The postback URL template of an affiliate that reports to this receiver.
    fn url(&self) -> String {
        format!(
            "http://{}/pb?cid={{conversion_id}}&click={{click_id}}&amount={{amount}}&offer={{offer_name}}",
            self.addr
        )
    }
}

/// Two affiliates (1 on link 11, 2 on link 12), each with its own postback URL.
fn network(first: &str, second: &str) -> String {
    format!(
        r#"{{"affiliates":[
            {{"affiliate_id":1,"affiliate_name":"one","postback_url":{first:?}}},
            {{"affiliate_id":2,"affiliate_name":"two","postback_url":{second:?}}}],
          "offers":[{{"offer_id":7,"offer_name":"Seven","offer_status":"active","offer_url":"https://o7.example/?c={{click_id}}"}}],
          "smart_links":[
            {{"smart_link_id":11,"smart_link_name":"a","affiliate_id":1,"smart_link_status":"active",
              "offers":[{{"offer_id":7,"offer_weight":1,"priority":1}}]}},
            {{"smart_link_id":12,"smart_link_name":"b","affiliate_id":2,"smart_link_status":"active",
              "offers":[{{"offer_id":7,"offer_weight":1,"priority":1}}]}}]}}"#
    )
}

/// Small retry settings: first retry after 100-200 ms, at most 400 ms apart, for `retry_for_ms`.
fn settings(retry_for_ms: u64) -> String {
    format!(
        "[partner_postbacks]\nconnect_timeout_ms = 300\ntimeout_ms = 600\nretry_initial_ms = 200\nretry_max_interval_ms = 400\nretry_for_ms = {retry_for_ms}\nmax_body_bytes = 65536\nallowed_networks = [\"127.0.0.0/8\"]\n"
    )
}

/// A click id of link `link` (affiliate `affiliate`, offer 7) made now.
fn click_id(link: u32, affiliate: u32) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    ClickSigner::new(SECRET.as_bytes())
        .issue(&Claims {
            kind: SourceKind::SmartLink,
            time: now,
            offer_id: Some(7),
            source_id: link,
            affiliate_id: affiliate,
        })
        .as_str()
        .to_string()
}

async fn convert(server: &TestServer, link: u32, affiliate: u32) -> String {
    let id = click_id(link, affiliate);
    let r = server
        .get(&format!("/p?click_id={id}&amount=3.50"), &[])
        .await;
    assert_eq!(r.body, "{\"status\":\"recorded\"}\n");
    id
}

/// The delivery log's lines.
fn log_lines(config: &TestConfig) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(config.state_dir()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("partner_postbacks-") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            out.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
        }
    }
    out
}

async fn server_for(first: &Receiver, second_url: &str, retry_for_ms: u64) -> TestServer {
    TestServer::start(
        TestConfig::new(&network(&first.url(), second_url)).section(&settings(retry_for_ms)),
    )
    .await
}

const NOWHERE: &str = "http://127.0.0.1:9/never";

/// Waits for `n` hits at most `secs` seconds.
async fn hits(receiver: &Receiver, n: usize, secs: u64) -> Vec<(String, Instant)> {
    assert!(
        eventually(Duration::from_secs(secs), async || receiver.count() >= n).await,
        "{} hits, wanted {n}",
        receiver.count()
    );
    receiver.hits()
}

/// Waits for the delivery log to end the delivery with `result`; returns its lines.
async fn ended(server: &TestServer, result: &str) -> Vec<serde_json::Value> {
    let config = &server.config;
    assert!(
        eventually(Duration::from_secs(10), async || log_lines(config)
            .iter()
            .any(|l| l["result"] == result))
        .await,
        "{:?}",
        log_lines(config)
    );
    log_lines(config)
}

#[tokio::test]
async fn a_200_receiver_gets_each_conversion_once_with_its_values() {
    let receiver = Receiver::start(|_| Answer::Status(200)).await;
    let server = server_for(&receiver, NOWHERE, 60_000).await;
    let id = convert(&server, 11, 1).await;
    let lines = ended(&server, "delivered").await;
    let got = receiver.hits();
    assert_eq!(got.len(), 1);
    let path = &got[0].0;
    assert!(path.contains(&format!("click={id}")), "{path}");
    assert!(path.contains("&amount=3.50&offer=Seven"), "{path}");
    let cid = query_param(&format!("http://x{path}"), "cid").unwrap();
    assert_eq!(cid.len(), 24);
    // The log: one attempt, 200, the query string hidden.
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["conversion_id"], cid.as_str());
    assert_eq!(lines[0]["attempt"], 1);
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["affiliate_id"], 1);
    assert!(
        lines[0]["url"].as_str().unwrap().ends_with("/pb?…"),
        "{lines:?}"
    );
    // The conversion record holds its delivery.
    let records = server.config.conversion_records();
    assert!(
        records[0]["partner_postback"]
            .as_str()
            .unwrap()
            .contains(&cid)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 1, "delivered once");
    let metrics = server.get("/metrics", &[]).await.body;
    for line in [
        "smartlink_partner_postback_attempts_total{result=\"delivered\"} 1\n",
        "smartlink_partner_postbacks_pending 0\n",
        "smartlink_partner_postbacks_in_flight 0\n",
        "smartlink_partner_postbacks_oldest_pending_age_seconds 0\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_500_is_retried_after_the_backoff_then_delivered() {
    let receiver = Receiver::start(|n| Answer::Status(if n == 0 { 500 } else { 200 })).await;
    let server = server_for(&receiver, NOWHERE, 60_000).await;
    convert(&server, 11, 1).await;
    let got = hits(&receiver, 2, 10).await;
    let waited = got[1].1 - got[0].1;
    // retry_initial 200 ms, less up to half of it for jitter.
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert!(waited < Duration::from_millis(1500), "{waited:?}");
    let lines = ended(&server, "delivered").await;
    let results: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                l["attempt"].clone(),
                l["result"].clone(),
                l["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            (1.into(), "retry".into(), 500.into()),
            (2.into(), "delivered".into(), 200.into())
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_receiver_that_hangs_or_resets_is_retried_until_retry_for_then_failed() {
    for answer in [Answer::Hang, Answer::Reset] {
        let receiver = Receiver::start(move |_| answer).await;
        // retry_for 1.5 s: attempts at 0, ~0.2-0.8 s, ... each hang costs the 600 ms timeout.
        let server = server_for(&receiver, NOWHERE, 1_500).await;
        convert(&server, 11, 1).await;
        let lines = ended(&server, "failed").await;
        let attempts = lines.len();
        assert!((2..=10).contains(&attempts), "{answer:?}: {lines:?}");
        assert!(
            lines[..attempts - 1].iter().all(|l| l["result"] == "retry"),
            "{lines:?}"
        );
        let last = &lines[attempts - 1];
        let error = last["error"].as_str().unwrap();
        assert!(error.contains("retry_for"), "{error}");
        if let Answer::Hang = answer {
            assert!(error.contains("no answer within 600 ms"), "{error}");
            assert!(last["latency_ms"].as_u64().unwrap() >= 600, "{last}");
        }
        assert_eq!(receiver.count(), attempts, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(receiver.count(), attempts, "no attempt after failing");
        let metrics = server.get("/metrics", &[]).await.body;
        assert!(
            metrics.contains("smartlink_partner_postbacks_failed 1\n"),
            "{metrics}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn a_slow_huge_body_is_read_up_to_the_bound_and_delivered() {
    let receiver = Receiver::start(|_| Answer::SlowHugeBody).await;
    let server = server_for(&receiver, NOWHERE, 60_000).await;
    convert(&server, 11, 1).await;
    let lines = ended(&server, "delivered").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    // 64 KiB at 16 KiB per 10 ms: well within the 600 ms timeout; the 4 MiB would take 2.5 s.
    assert!(lines[0]["latency_ms"].as_u64().unwrap() < 600, "{lines:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_redirect_or_a_410_fails_at_once_and_is_not_followed() {
    let target = Receiver::start(|_| Answer::Status(200)).await;
    let to = target.addr;
    for (answer, status) in [(Answer::Redirect(to), 302), (Answer::Status(410), 410)] {
        let receiver = Receiver::start(move |_| answer).await;
        let server = server_for(&receiver, NOWHERE, 60_000).await;
        convert(&server, 11, 1).await;
        let lines = ended(&server, "failed").await;
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["status"], status);
        assert_eq!(lines[0]["attempt"], 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(receiver.count(), 1, "not retried");
        server.stop().await;
    }
    assert_eq!(target.count(), 0, "the redirect was not followed");
}

#[tokio::test]
async fn a_postback_url_on_a_private_address_is_refused() {
    let receiver = Receiver::start(|_| Answer::Status(200)).await;
    let config = TestConfig::new(&network(&receiver.url(), NOWHERE))
        .section("[partner_postbacks]\nretry_initial_ms = 100\nretry_max_interval_ms = 200\n");
    let server = TestServer::start(config).await;
    convert(&server, 11, 1).await;
    let lines = ended(&server, "failed").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let error = lines[0]["error"].as_str().unwrap();
    assert!(
        error.contains("127.0.0.1") && error.contains("loopback"),
        "{error}"
    );
    assert_eq!(receiver.count(), 0, "nothing was sent");
    server.stop().await;
}

#[tokio::test]
async fn fifty_conversions_to_a_dead_receiver_do_not_delay_another_affiliate() {
    let dead = Receiver::start(|_| Answer::Hang).await;
    let alive = Receiver::start(|_| Answer::Status(200)).await;
    let server = server_for(&dead, &alive.url(), 60_000).await;
    for _ in 0..50 {
        convert(&server, 11, 1).await;
    }
    // The dead host holds its per_host places (4 by default), no more.
    assert!(eventually(Duration::from_secs(5), async || dead.count() >= 4).await);
    let started = Instant::now();
    for _ in 0..20 {
        convert(&server, 12, 2).await;
    }
    hits(&alive, 20, 5).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "20 deliveries took {took:?}");
    assert!(
        dead.count() <= 8,
        "{} attempts at the dead host",
        dead.count()
    );
    // The 20 delivered are forgotten; the 50 stay pending.
    assert!(
        eventually(Duration::from_secs(5), async || server
            .get("/metrics", &[])
            .await
            .body
            .contains("smartlink_partner_postbacks_pending 50\n"))
        .await,
        "{}",
        server.get("/metrics", &[]).await.body
    );
    server.stop().await;
}

#[tokio::test]
async fn kill_9_with_1000_pending_loses_none_and_a_200_receiver_gets_each_once() {
    // 503 until the switch, then 200; every request counted by conversion id.
    let answering = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&answering);
    let receiver = Receiver::start(move |_| {
        Answer::Status(if flag.load(std::sync::atomic::Ordering::SeqCst) {
            200
        } else {
            503
        })
    })
    .await;
    let config =
        TestConfig::new(&network(&receiver.url(), NOWHERE)).section(&settings(3_600_000).replace(
            "retry_max_interval_ms = 400",
            "retry_max_interval_ms = 2000",
        ));
    let path = config.write();
    let mut binary = Binary::start(&path);
    let addr = binary.addr;
    let ids: Vec<String> = tokio::task::spawn_blocking(move || {
        (0..1000)
            .map(|_| {
                let id = click_id(11, 1);
                let (status, body) = get(addr, &format!("/p?click_id={id}")).unwrap();
                assert_eq!(
                    (status, body.as_str()),
                    (200, "{\"status\":\"recorded\"}\n")
                );
                id
            })
            .collect()
    })
    .await
    .unwrap();
    binary.signal(libc::SIGKILL);
    binary.killed_by(Duration::from_secs(10));
    // Requests the killed process sent may still be being read by the receiver.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_restart = receiver.count();
    answering.store(true, std::sync::atomic::Ordering::SeqCst);
    let binary = Binary::start(&path);
    let by_click = |hits: &[(String, Instant)]| {
        let mut n: HashMap<String, usize> = HashMap::new();
        for (path, _) in hits {
            let click = query_param(&format!("http://x{path}"), "click").unwrap();
            *n.entry(click).or_default() += 1;
        }
        n
    };
    assert!(
        eventually(Duration::from_secs(60), async || by_click(&receiver.hits())
            .len()
            >= 1000)
        .await,
        "{} of 1000 arrived",
        by_click(&receiver.hits()).len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = receiver.hits();
    let arrived = by_click(&all);
    let after_restart = &all[before_restart..];
    if let (Some(first), Some(last)) = (after_restart.first(), after_restart.last()) {
        let secs = (last.1 - first.1).as_secs_f64();
        eprintln!(
            "partner postbacks: {} delivered after the restart in {secs:.2} s ({:.0}/s, per_host 4)",
            after_restart.len(),
            after_restart.len() as f64 / secs.max(0.001)
        );
    }
    for id in &ids {
        assert!(arrived.contains_key(id), "{id} never arrived");
    }
    // Every request after the switch was answered 200: each conversion exactly once then.
    let after = by_click(&all[before_restart..]);
    assert_eq!(after.len(), 1000);
    let twice: Vec<_> = after.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "arrived more than once after the restart: {twice:?}\n{}",
        binary.log()
    );
    drop(binary);
}

#[tokio::test]
async fn a_failed_delivery_is_listed_retried_by_the_api_and_audited() {
    let receiver = Receiver::start(|n| Answer::Status(if n == 0 { 410 } else { 200 })).await;
    let server = server_for(&receiver, NOWHERE, 60_000).await;
    convert(&server, 11, 1).await;
    ended(&server, "failed").await;
    assert!(
        eventually(Duration::from_secs(5), async || server
            .get("/metrics", &[])
            .await
            .body
            .contains("smartlink_partner_postbacks_failed 1\n"))
        .await
    );
    let list = |query: &'static str| {
        let server = &server;
        async move {
            let r = server
                .get(
                    &format!("/api/2/partner_postbacks.json?api_key={API_KEY}{query}"),
                    &[],
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["response"].clone()
        }
    };
    let failed = list("&status=failed&affiliate_id=1").await;
    assert_eq!(failed["total_rows"], 1, "{failed}");
    let row = &failed["partner_postbacks"][0];
    assert_eq!(
        (row["attempts"].clone(), row["last_status"].clone()),
        (1.into(), 410.into())
    );
    let cid = row["conversion_id"].as_str().unwrap().to_string();
    assert_eq!(list("&status=failed&affiliate_id=2").await["total_rows"], 0);
    // Neither an id nor an affiliate: 422; an id that did not fail: 404.
    let retry = async |body: serde_json::Value| {
        server
            .post_json("/api/2/retry_partner_postback.json", &body)
            .await
    };
    assert_eq!(
        retry(serde_json::json!({"api_key": API_KEY})).await.status,
        422
    );
    assert_eq!(
        retry(serde_json::json!({"api_key": API_KEY, "conversion_id": "0123"}))
            .await
            .status,
        404
    );
    let r = retry(serde_json::json!({"api_key": API_KEY, "conversion_id": cid})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"requeued\":1"), "{}", r.body);
    hits(&receiver, 2, 10).await;
    assert!(
        eventually(Duration::from_secs(5), async || list("&status=delivered")
            .await["total_rows"]
            == 1)
        .await
    );
    let audit = std::fs::read_to_string(server.config.state_dir().join("audit.log")).unwrap();
    assert!(
        audit.contains("retry_partner_postback.json") && audit.contains(&cid),
        "{audit}"
    );
    let config = server.stop().await;
    // The command line reads the same logs.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .args(["deliveries", "--config"])
        .arg(config.settings_path())
        .args(["--status", "delivered", "--affiliate", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains(&cid) && text.contains("\"attempts\":1"),
        "{text}"
    );
}

#[tokio::test]
async fn postback_urls_are_set_through_the_api_refused_when_their_origin_can_move_and_shown_by_route()
 {
    let receiver = Receiver::start(|_| Answer::Status(200)).await;
    let server = server_for(&receiver, NOWHERE, 60_000).await;
    let update = async |body: serde_json::Value| {
        server
            .post_json("/api/2/update_affiliate.json", &body)
            .await
    };
    for bad in [
        "https://{s1}.example/",
        "https://t.example{conversion_id}/",
        "https://t.example/?x={nope}",
    ] {
        let r =
            update(serde_json::json!({"api_key": API_KEY, "affiliate_id": 2, "postback_url": bad}))
                .await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{bad}: {}", r.body);
    }
    let url = "https://t2.example/pb?c={conversion_id}&o={offer_id}";
    let r = update(serde_json::json!({"api_key": API_KEY, "affiliate_id": 2, "postback_url": url}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let affiliates = server
        .get(
            &format!("/api/2/affiliates.json?api_key={API_KEY}&affiliate_id=2"),
            &[],
        )
        .await;
    assert!(
        affiliates.body.contains("t2.example/pb?c={conversion_id}"),
        "{}",
        affiliates.body
    );
    let r = server
        .post_json(
            "/api/2/update_smart_link.json",
            &serde_json::json!({"api_key": API_KEY, "smart_link_id": 11, "postback_url": "https://own.example/?l={smart_link_id}&c={click_id}"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let config = server.stop().await;
    let shown = command_json(&config.settings_path(), &["route", "--link", "11"]);
    assert_eq!(
        shown["decision"]["partner_postback"], "https://own.example/?l=11&c={click_id}",
        "{shown}"
    );
    let shown = command_json(
        &config.settings_path(),
        &["route", "--link", "12", "--ua", CHROME_WINDOWS],
    );
    assert_eq!(
        shown["decision"]["partner_postback"], "https://t2.example/pb?c={conversion_id}&o=7",
        "{shown}"
    );
}

/// Gives affiliate `affiliate` a postback URL on a loopback address (refused: no allowed
/// network) and records `n` conversions of its clicks: `n` failed deliveries, for the tests
/// of the API's lists and retries.
pub async fn failed_deliveries(server: &TestServer, affiliate: u32, n: usize) {
    let r = server
        .post_json(
            "/api/2/update_affiliate.json",
            &serde_json::json!({"api_key": API_KEY, "affiliate_id": affiliate, "postback_url": "http://127.0.0.1:9/pb?c={conversion_id}"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for _ in 0..n {
        convert(server, 1, affiliate).await;
    }
    // The sender has booked them (what a retry reads) once the gauge counts them.
    let booked = format!("smartlink_partner_postbacks_failed {n}\n");
    assert!(
        eventually(Duration::from_secs(10), async || server
            .get("/metrics", &[])
            .await
            .body
            .contains(&booked))
        .await
    );
}

/// A server whose affiliate 1 reports to `receiver` with the affiliate's click id as `tid`,
/// with `extra` in `[partner_postbacks]`.
async fn server_with_transaction_ids(receiver: &Receiver, extra: &str) -> TestServer {
    let url = format!(
        "http://{}/pb?cid={{conversion_id}}&tid={{transaction_id}}",
        receiver.addr
    );
    let section = format!("{}{extra}", settings(60_000));
    TestServer::start(TestConfig::new(&network(&url, NOWHERE)).section(&section)).await
}

/// A click on link 11 with `subs`; the click id its offer redirect carries.
async fn click(server: &TestServer, subs: &str) -> String {
    let r = server
        .get(&format!("/sl?id=11&aff_id=1{subs}"), &[MOBILE, US])
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    query_param(r.location(), "c").expect("the offer URL carries the click id")
}

/// Clicks link 11 with `subs`, converts the click id its offer redirect carries, waits for
/// the delivery: that click id and the `tid` the receiver got.
async fn round_trip(server: &TestServer, receiver: &Receiver, subs: &str) -> (String, String) {
    let id = click(server, subs).await;
    let n = receiver.count() + 1;
    let r = server.get(&format!("/p?click_id={id}"), &[]).await;
    assert_eq!(r.body, "{\"status\":\"recorded\"}\n");
    let path = hits(receiver, n, 10).await[n - 1].0.clone();
    let tid = query_param(&format!("http://x{path}"), "tid").expect("tid");
    (id, tid)
}

#[tokio::test]
async fn the_affiliate_s_click_id_in_s2_comes_back_as_transaction_id() {
    let receiver = Receiver::start(|_| Answer::Status(200)).await;
    let server = server_with_transaction_ids(&receiver, "").await;
    let (id, tid) = round_trip(&server, &receiver, "&s1=other&s2=abc-123_XYZ").await;
    assert!(id.len() > 40 && id.as_bytes()[40] == b'.', "{id}");
    assert_eq!(tid, "abc-123_XYZ");
    // The conversion record keeps the rendered URL: a restart delivers this very one.
    let records = server.config.conversion_records();
    assert_eq!(records[0]["click_id"], id.as_str());
    assert!(
        records[0]["partner_postback"]
            .as_str()
            .unwrap()
            .ends_with("&tid=abc-123_XYZ"),
        "{records:?}"
    );
    // The click record holds the same, longer id.
    assert_eq!(server.records()[0]["click_id"], id.as_str());
    // A click without it: a 40-character id, an empty `tid`.
    let (plain, tid) = round_trip(&server, &receiver, "&s1=other").await;
    assert_eq!((plain.len(), tid.as_str()), (40, ""), "{plain}");
    server.stop().await;
}

#[tokio::test]
async fn transaction_id_param_names_the_sub_id_that_carries_it() {
    for (param, tid, id_len) in [("s1", "abc-123_XYZ", 40 + 1 + 15), ("none", "", 40)] {
        let receiver = Receiver::start(|_| Answer::Status(200)).await;
        let setting = format!("transaction_id_param = \"{param}\"\n");
        let server = server_with_transaction_ids(&receiver, &setting).await;
        let got = round_trip(&server, &receiver, "&s1=abc-123_XYZ&s2=not-this").await;
        assert_eq!(
            (got.0.len(), got.1.as_str()),
            (id_len, tid),
            "{param}: {got:?}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn a_click_id_with_a_changed_transaction_id_is_refused_as_invalid() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let receiver = Receiver::start(|_| Answer::Status(200)).await;
    let server = server_with_transaction_ids(&receiver, "").await;
    let id = click(&server, "&s2=abc-123_XYZ").await;
    let forged = format!("{}.{}", &id[..40], URL_SAFE_NO_PAD.encode("abc-123_XYz"));
    let cut = id[..40].to_string();
    for bad in [forged, cut] {
        let r = server.get(&format!("/p?click_id={bad}"), &[]).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert_eq!(
            r.body,
            "{\"status\":\"invalid\",\"error\":\"click_id is not a click id of this network\"}\n"
        );
    }
    // A transaction id longer than 64 bytes is not carried: the click gets a plain id.
    let long = click(&server, &format!("&s2={}", "x".repeat(65))).await;
    assert_eq!(long.len(), 40, "{long}");
    assert!(server.config.conversion_records().is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 0);
    server.stop().await;
}
