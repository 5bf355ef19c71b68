//! The client address: trusted proxies, X-Forwarded-For and Forwarded, IPv4 and IPv6.

use crate::common::*;

async fn recorded_ip(s: &TestServer, headers: &[(&str, &str)]) -> (String, String) {
    let mut h = vec![("user-agent", CHROME_WINDOWS)];
    h.extend_from_slice(headers);
    let before = s.records().len();
    s.get("/sl?id=4", &h).await;
    let rec = s.records();
    assert_eq!(rec.len(), before + 1);
    let last = &rec[before];
    (
        last["ip"].as_str().unwrap_or("").to_string(),
        last["country"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let config = TestConfig::new(NETWORK)
        .geo("GeoIP2-Country-Test.mmdb")
        .server(r#"trusted_proxies = ["10.0.0.0/8"]"#);
    let s = TestServer::start(config).await;
    let (ip, country) = recorded_ip(&s, &[("x-forwarded-for", "81.2.69.142")]).await;
    assert_eq!((ip.as_str(), country.as_str()), ("127.0.0.1", ""));
    let (ip, _) = recorded_ip(&s, &[("forwarded", "for=81.2.69.142")]).await;
    assert_eq!(ip, "127.0.0.1");
    s.stop().await;
}

#[tokio::test]
async fn a_trusted_peer_gives_the_rightmost_untrusted_address() {
    let config = TestConfig::new(NETWORK)
        .geo("GeoIP2-Country-Test.mmdb")
        .server(r#"trusted_proxies = ["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"]"#);
    let s = TestServer::start(config).await;
    // A client-supplied first entry is not believed; the proxies' own entries are skipped.
    let (ip, country) = recorded_ip(
        &s,
        &[("x-forwarded-for", "216.160.83.56, 81.2.69.142, 10.3.3.3")],
    )
    .await;
    assert_eq!((ip.as_str(), country.as_str()), ("81.2.69.142", "GB"));
    let (ip, country) = recorded_ip(&s, &[("x-forwarded-for", "2001:218::7, fd00::1")]).await;
    assert_eq!((ip.as_str(), country.as_str()), ("2001:218::7", "JP"));
    let (ip, _) = recorded_ip(&s, &[("x-forwarded-for", "garbage, 10.3.3.3")]).await;
    assert_eq!(
        ip, "10.3.3.3",
        "a malformed hop stops the walk at the last trusted one"
    );
    // Forwarded is not read unless configured.
    let (ip, _) = recorded_ip(&s, &[("forwarded", "for=81.2.69.142")]).await;
    assert_eq!(ip, "127.0.0.1");
    s.stop().await;
}

#[tokio::test]
async fn forwarded_header_when_configured() {
    let config = TestConfig::new(NETWORK)
        .geo("GeoIP2-Country-Test.mmdb")
        .server(r#"client_ip_header = "forwarded""#);
    let s = TestServer::start(config).await;
    let (ip, country) = recorded_ip(
        &s,
        &[(
            "forwarded",
            "for=216.160.83.56;proto=https, for=\"[2001:218::9]:443\"",
        )],
    )
    .await;
    assert_eq!((ip.as_str(), country.as_str()), ("2001:218::9", "JP"));
    let (ip, _) = recorded_ip(&s, &[("x-forwarded-for", "81.2.69.142")]).await;
    assert_eq!(
        ip, "127.0.0.1",
        "X-Forwarded-For is not read when Forwarded is configured"
    );
    s.stop().await;
}

#[tokio::test]
async fn ipv6_loopback_peer_is_served_and_trusted() {
    let config = TestConfig::new(NETWORK)
        .geo("GeoIP2-Country-Test.mmdb")
        .server(r#"listen = "[::1]:0""#);
    let path = config.write();
    let state = smartlink::state::State::start(&path).unwrap();
    let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
        eprintln!("no IPv6 loopback on this machine; skipped");
        return;
    };
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(smartlink::http::serve(
        listener,
        smartlink::http::Role::All,
        state.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let r = request(
        addr,
        "GET",
        "/sl?id=1",
        &[
            ("user-agent", CHROME_WINDOWS),
            ("x-forwarded-for", "81.2.69.142"),
        ],
    )
    .await;
    assert_eq!(
        r.location(),
        "https://o13.example/",
        "::1 is trusted, so the GB address counts"
    );
    let _ = stop.send(());
    let _ = task.await;
    state.stop_writers();
}

fn v2_header_ipv6(source: std::net::Ipv6Addr) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x21); // version 2, PROXY
    h.push(0x21); // TCP over IPv6
    h.extend_from_slice(&36u16.to_be_bytes());
    h.extend_from_slice(&source.octets());
    h.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    h.extend_from_slice(&40000u16.to_be_bytes());
    h.extend_from_slice(&80u16.to_be_bytes());
    h
}

async fn proxied_click(s: &TestServer, header: &[u8]) -> String {
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(
        format!("GET /sl?id=4 HTTP/1.1\r\nHost: x\r\nUser-Agent: {CHROME_WINDOWS}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    raw(s.addr, &bytes, std::time::Duration::from_secs(3)).await
}

#[tokio::test]
async fn proxy_protocol_v1_and_v2_give_the_client_address_from_a_trusted_peer() {
    let config = TestConfig::new(NETWORK)
        .geo("GeoIP2-Country-Test.mmdb")
        .server("proxy_protocol = true")
        .server("header_read_timeout_ms = 500");
    let s = TestServer::start(config).await;
    let reply = proxied_click(&s, b"PROXY TCP4 81.2.69.142 10.0.0.1 5555 80\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 302"), "{reply}");
    let reply = proxied_click(&s, &v2_header_ipv6("2001:218::5".parse().unwrap())).await;
    assert!(reply.starts_with("HTTP/1.1 302"), "{reply}");
    let reply = proxied_click(&s, b"PROXY UNKNOWN\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 302"), "{reply}");
    // No header at all: the connection is closed unanswered.
    assert_eq!(proxied_click(&s, b"").await, "");
    assert_eq!(
        proxied_click(&s, b"PROXY TCP4 not-an-address\r\n").await,
        ""
    );
    let rec = s.records();
    let ips: Vec<&str> = rec.iter().map(|r| r["ip"].as_str().unwrap()).collect();
    assert_eq!(ips, ["81.2.69.142", "2001:218::5", "127.0.0.1"]);
    assert_eq!(rec[0]["country"], "GB");
    assert_eq!(rec[1]["country"], "JP");
    s.stop().await;
}

#[tokio::test]
async fn proxy_protocol_header_from_an_untrusted_peer_is_consumed_but_not_believed() {
    let config = TestConfig::new(NETWORK)
        .server("proxy_protocol = true")
        .server(r#"trusted_proxies = ["10.0.0.0/8"]"#);
    let s = TestServer::start(config).await;
    let reply = proxied_click(&s, b"PROXY TCP4 81.2.69.142 10.0.0.1 5555 80\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 302"), "{reply}");
    assert_eq!(s.records()[0]["ip"], "127.0.0.1");
    s.stop().await;
}

/// Regression: a v1 header with missing fields was held until the header-read timeout, as if
/// more bytes could still complete it.
#[tokio::test]
async fn a_malformed_proxy_v1_line_is_closed_at_once() {
    let config = TestConfig::new(NETWORK)
        .server("proxy_protocol = true")
        .server("header_read_timeout_ms = 5000");
    let s = TestServer::start(config).await;
    for header in [
        &b"PROXY TCP4 81.2.69.142\r\n"[..],
        b"PROXY TCP4 81.2.69.142 10.0.0.1 5555\r\n",
        b"PROXY TCP4 81.2.69.142 10.0.0.1 5555 80 extra\r\n",
    ] {
        let started = std::time::Instant::now();
        let reply = raw(s.addr, header, std::time::Duration::from_secs(4)).await;
        assert_eq!(reply, "", "{}", String::from_utf8_lossy(header));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{} held for {:?}",
            String::from_utf8_lossy(header),
            started.elapsed()
        );
    }
    s.stop().await;
}
