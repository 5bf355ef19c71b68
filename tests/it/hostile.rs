//! Hostile and malformed input over raw sockets: the server answers 4xx or closes the
//! connection, never crashes, never answers 5xx, and keeps serving everyone else.

use std::time::{Duration, Instant};

use http::StatusCode;

use crate::common::*;

async fn server() -> TestServer {
    let config = TestConfig::new(NETWORK)
        .server("header_read_timeout_ms = 400")
        .server("max_uri_bytes = 1024");
    TestServer::start(config).await
}

fn status_of(reply: &str) -> &str {
    reply.split(' ').nth(1).unwrap_or("")
}

async fn still_healthy(s: &TestServer) {
    let r = s.get("/healthz", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s.get("/sl?id=4", &[("user-agent", CHROME_WINDOWS)]).await;
    assert_eq!(r.status, StatusCode::FOUND);
}

#[tokio::test]
async fn oversized_and_malformed_requests_get_4xx() {
    let s = server().await;
    let wait = Duration::from_secs(3);
    let long_target = format!(
        "GET /sl?id=1&s1={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(2000)
    );
    let big_header = format!(
        "GET /sl?id=1 HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(40_000)
    );
    let many_headers = format!(
        "GET /sl?id=1 HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..150)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: [(&str, &[u8], &str); 7] = [
        ("long request target", long_target.as_bytes(), "414"),
        ("40 KB header", big_header.as_bytes(), "431"),
        ("150 headers", many_headers.as_bytes(), "431"),
        ("garbage request line", b"HELLO WORLD\r\n\r\n", "400"),
        (
            "NUL in a header",
            b"GET /sl?id=1 HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n",
            "400",
        ),
        (
            "space in target",
            b"GET /sl?id=1 2 HTTP/1.1\r\nHost: x\r\n\r\n",
            "400",
        ),
        (
            "bad header name",
            b"GET /sl?id=1 HTTP/1.1\r\nHo st: x\r\n\r\n",
            "400",
        ),
    ];
    for (what, bytes, want) in cases {
        let reply = raw(s.addr, bytes, wait).await;
        assert_eq!(status_of(&reply), want, "{what}: {reply:.200}");
    }
    still_healthy(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn odd_but_valid_requests_are_served() {
    let s = server().await;
    let wait = Duration::from_secs(3);
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let xff: String = (0..1000)
        .map(|i| format!("10.0.{}.{}, ", i / 250, i % 250))
        .collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("non-UTF-8 user agent", [b"GET /sl?id=4 HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0 \xff\xfe\xfd\r\nConnection: close\r\n\r\n".as_slice()].concat()),
        ("HTTP/1.0 without Host", format!("GET /sl?id=4 HTTP/1.0\r\nUser-Agent: {ua}\r\n\r\n").into_bytes()),
        ("absolute-form target", format!("GET http://elsewhere.example/sl?id=4 HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n").into_bytes()),
        ("broken percent-encoding", format!("GET /sl?id=4&s1=%ZZ%&s2=%E2%82 HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n").into_bytes()),
        ("a thousand forwarding hops", format!("GET /sl?id=4 HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\nX-Forwarded-For: {xff}1.2.3.4\r\nConnection: close\r\n\r\n").into_bytes()),
        ("forged forwarding garbage", format!("GET /sl?id=4 HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\nX-Forwarded-For: ]]][[[::::, unknown, \r\nForwarded: for=\"[zz\r\nConnection: close\r\n\r\n").into_bytes()),
    ];
    for (what, bytes) in cases {
        let reply = raw(s.addr, &bytes, wait).await;
        assert_eq!(status_of(&reply), "302", "{what}: {reply:.300}");
    }
    still_healthy(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn slow_and_silent_clients_are_disconnected() {
    let s = server().await;
    for (what, bytes) in [
        ("silent", b"".as_slice()),
        (
            "half a request line",
            b"GET /sl?id=1 HTTP/1.1\r\n".as_slice(),
        ),
        ("half an HTTP/2 preface", b"PRI * HTTP/2.0\r\n".as_slice()),
    ] {
        let started = Instant::now();
        let reply = raw(s.addr, bytes, Duration::from_secs(10)).await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{what}: held for {took:?}");
        assert!(
            !reply.starts_with("HTTP/1.1 2") && !reply.starts_with("HTTP/1.1 5"),
            "{what}: {reply}"
        );
    }
    still_healthy(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let s = server().await;
    let mut c = Client::connect(s.addr).await;
    assert_eq!(c.send("GET", "/healthz", &[]).await.status, StatusCode::OK);
    let closed = eventually(Duration::from_secs(5), async || !c.is_open()).await;
    assert!(closed, "idle connection still open");
    s.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_and_are_served_when_a_slot_frees() {
    let config = TestConfig::new(NETWORK)
        .server("max_connections = 2")
        .server("header_read_timeout_ms = 1500");
    let s = TestServer::start(config).await;
    // Two silent connections hold both slots until the header timeout drops them.
    let hogs: Vec<_> = (0..2)
        .map(|_| tokio::spawn(raw(s.addr, b"", Duration::from_secs(10))))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let r = s.get("/healthz", &[]).await;
    let waited = started.elapsed();
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        waited >= Duration::from_millis(900),
        "served after {waited:?}: the limit did not hold"
    );
    for h in hogs {
        h.await.unwrap();
    }
    let metrics = &s.state.metrics;
    let all_closed = eventually(Duration::from_secs(3), async || {
        metrics.connections_open.get() == 0
    })
    .await;
    assert!(
        all_closed,
        "{} connections still counted open",
        metrics.connections_open.get()
    );
    s.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_and_health_endpoints_answer() {
    let s = server().await;
    for path in ["/", "/sl/", "/SL?id=1", "/admin", "/sl%3Fid=1"] {
        assert_eq!(
            s.get(path, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(s.get("/healthz", &[]).await.body, "ok\n");
    assert_eq!(s.get("/readyz", &[]).await.body, "ready\n");
    let metrics = s.get("/metrics", &[]).await;
    assert!(
        metrics
            .header("content-type")
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(
        metrics
            .body
            .contains("smartlink_error_responses_total{status=\"404\"} 5")
    );
    s.state.start_draining();
    assert_eq!(
        s.get("/readyz", &[]).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    s.stop().await;
}
