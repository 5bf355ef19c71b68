//! Outbound HTTP: the one client the server uses to call other servers (destination health
//! probes, partner postbacks). It is built for URLs that operators and partners type in,
//! so it trusts none of them:
//!
//! - One attempt is one connection and one HTTP/1.1 request (`Connection: close`), over TLS
//!   for `https` (rustls, `tls`). Nothing is pooled: calls are seconds apart.
//! - The host is resolved once per attempt and every address it resolves to is checked
//!   against the [`Policy`] (`policy`): one forbidden address refuses the attempt. The
//!   connection goes to an address that was checked, never to a second lookup's answer, so
//!   a name that changes its answer between check and use (DNS rebinding) cannot get past.
//! - A connect timeout per address and a total timeout for the whole attempt (resolve,
//!   connect, TLS, request, answer).
//! - Redirects are not followed: a `3xx` is an answer like any other.
//! - The body is read up to a bound; the rest is never read (the connection is dropped).

pub mod policy;
mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CONNECTION, HOST, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::Url;

pub use policy::Policy;

/// How a [`Client`] calls out.
#[derive(Clone, Debug)]
pub struct Options {
    /// Longest wait for one address to accept the connection.
    pub connect_timeout: Duration,
    /// Longest wait for a whole attempt, from resolving the host to the end of the body.
    pub timeout: Duration,
    /// Most body bytes read; the rest is left unread.
    pub max_body_bytes: usize,
    /// The `User-Agent` of every request: receivers can tell these calls from visitors.
    pub user_agent: String,
    pub policy: Policy,
    /// A PEM file of more root certificates (a private CA), besides the public ones.
    pub ca_file: Option<PathBuf>,
}

/// What a server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The body's first `max_body_bytes` bytes.
    pub body: Bytes,
    /// The body was longer than what was read.
    pub truncated: bool,
    /// The address the request went to.
    pub peer: SocketAddr,
    /// From the start of the attempt to the end of what was read of the body.
    pub elapsed: Duration,
}

/// Why an attempt got no answer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("not an http(s) URL with a host")]
    BadUrl,
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    /// The policy forbids an address the host resolved to: nothing was sent.
    #[error("{host} resolves to {ip}, a {why} address (allow its network to reach it)")]
    Refused {
        host: String,
        ip: IpAddr,
        why: &'static str,
    },
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("TLS with {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("HTTP: {0}")]
    Http(String),
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
}

/// Whether `path` is a PEM file of root certificates a [`Client`] can trust.
pub fn check_ca_file(path: &std::path::Path) -> Result<(), String> {
    tls::config(Some(path)).map(drop)
}

/// The outbound HTTP client; cheap to share (`Arc`).
pub struct Client {
    options: Options,
    tls: TlsConnector,
}

/// Where an URL sends a request.
struct Target<'u> {
    https: bool,
    host: url::Host<&'u str>,
    port: u16,
    /// `Host` header: the host and, when not the scheme's default, the port.
    authority: String,
    /// Path and query.
    path: &'u str,
}

impl<'u> Target<'u> {
    fn of(url: &'u Url) -> Result<Target<'u>, Failure> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return Err(Failure::BadUrl),
        };
        let host = url.host().ok_or(Failure::BadUrl)?;
        let port = url.port_or_known_default().ok_or(Failure::BadUrl)?;
        let name = url.host_str().ok_or(Failure::BadUrl)?;
        let authority = match url.port() {
            Some(port) => format!("{name}:{port}"),
            None => name.to_string(),
        };
        Ok(Target {
            https,
            host,
            port,
            authority,
            path: &url[url::Position::BeforePath..url::Position::AfterQuery],
        })
    }

    fn host_name(&self) -> String {
        self.host.to_string()
    }
}

impl Client {
    /// A client with `options`; fails when its CA file cannot be read.
    pub fn new(options: Options) -> Result<Client, String> {
        let tls = TlsConnector::from(tls::config(options.ca_file.as_deref())?);
        Ok(Client { options, tls })
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Sends one `method` request (without a body) to `url` and reads the answer.
    pub async fn send(&self, method: Method, url: &Url) -> Result<Answer, Failure> {
        let started = Instant::now();
        let timeout = self.options.timeout;
        match tokio::time::timeout(timeout, self.attempt(method, url, started)).await {
            Ok(answer) => answer,
            Err(_) => Err(Failure::Timeout(timeout)),
        }
    }

    async fn attempt(
        &self,
        method: Method,
        url: &Url,
        started: Instant,
    ) -> Result<Answer, Failure> {
        let target = Target::of(url)?;
        let addrs = self.resolve(&target).await?;
        let (stream, peer) = self.connect(&addrs).await?;
        let request = Request::builder()
            .method(method)
            .uri(target.path)
            .header(HOST, &target.authority)
            .header(USER_AGENT, &self.options.user_agent)
            .header(ACCEPT, "*/*")
            .header(CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| Failure::Http(e.to_string()))?;
        let (status, body, truncated) = if target.https {
            let name = match target.host {
                url::Host::Domain(d) => rustls::pki_types::ServerName::try_from(d.to_string())
                    .map_err(|_| Failure::BadUrl)?,
                url::Host::Ipv4(ip) => IpAddr::V4(ip).into(),
                url::Host::Ipv6(ip) => IpAddr::V6(ip).into(),
            };
            let tls = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|e| Failure::Tls {
                    host: target.host_name(),
                    reason: e.to_string(),
                })?;
            self.exchange(tls, request).await?
        } else {
            self.exchange(stream, request).await?
        };
        Ok(Answer {
            status,
            body,
            truncated,
            peer,
            elapsed: started.elapsed(),
        })
    }

    /// Every address of the target's host, each allowed by the policy.
    async fn resolve(&self, target: &Target<'_>) -> Result<Vec<SocketAddr>, Failure> {
        let resolve_failed = |reason: String| Failure::Resolve {
            host: target.host_name(),
            reason,
        };
        let addrs: Vec<SocketAddr> = match target.host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(ip.into(), target.port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(ip.into(), target.port)],
            url::Host::Domain(name) => tokio::net::lookup_host((name, target.port))
                .await
                .map_err(|e| resolve_failed(e.to_string()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(resolve_failed("no address".into()));
        }
        for addr in &addrs {
            self.options
                .policy
                .check(addr.ip())
                .map_err(|why| Failure::Refused {
                    host: target.host_name(),
                    ip: addr.ip(),
                    why,
                })?;
        }
        Ok(addrs)
    }

    /// A connection to the first of `addrs` that accepts one.
    async fn connect(&self, addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr), Failure> {
        let mut last = None;
        for &addr in addrs {
            let reason =
                match tokio::time::timeout(self.options.connect_timeout, TcpStream::connect(addr))
                    .await
                {
                    Ok(Ok(stream)) => {
                        let _ = stream.set_nodelay(true);
                        return Ok((stream, addr));
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!(
                        "no connection within {} ms",
                        self.options.connect_timeout.as_millis()
                    ),
                };
            last = Some(Failure::Connect { addr, reason });
        }
        Err(last.unwrap_or(Failure::BadUrl))
    }

    /// Sends `request` on `io` (HTTP/1.1) and reads the status and at most
    /// `max_body_bytes` of the body.
    async fn exchange<T>(
        &self,
        io: T,
        request: Request<Empty<Bytes>>,
    ) -> Result<(StatusCode, Bytes, bool), Failure>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let http = |e: hyper::Error| Failure::Http(e.to_string());
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(http)?;
        let limit = self.options.max_body_bytes;
        let exchange = async move {
            let response = sender.send_request(request).await.map_err(http)?;
            let status = response.status();
            let mut body = response.into_body();
            let mut read = BytesMut::new();
            let mut truncated = false;
            while let Some(frame) = body.frame().await {
                let Ok(data) = frame.map_err(http)?.into_data() else {
                    continue;
                };
                let room = limit - read.len();
                if data.len() > room {
                    read.extend_from_slice(&data[..room]);
                    truncated = true;
                    break;
                }
                read.extend_from_slice(&data);
            }
            Ok((status, read.freeze(), truncated))
        };
        // The connection is driven beside the exchange and dropped (closed) with it.
        let mut connection = std::pin::pin!(connection);
        let mut exchange = std::pin::pin!(exchange);
        tokio::select! {
            answer = &mut exchange => answer,
            _ = &mut connection => exchange.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn options() -> Options {
        Options {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(3),
            max_body_bytes: 16,
            user_agent: "smartlink-test".into(),
            policy: Policy {
                allowed: vec!["127.0.0.0/8".parse().unwrap()],
            },
            ca_file: None,
        }
    }

    /// A server that reads one request head, hands it to the test and writes `answer`.
    async fn server(answer: &'static [u8]) -> (SocketAddr, tokio::sync::oneshot::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let head = read_head(&mut s).await;
            let _ = tx.send(head);
            let _ = s.write_all(answer).await;
        });
        (addr, rx)
    }

    async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).await.unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        String::from_utf8_lossy(&head).into_owned()
    }

    #[tokio::test]
    async fn a_redirect_is_an_answer_and_the_body_is_read_up_to_its_bound() {
        let (addr, head) = server(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 40\r\n\r\n0123456789012345678901234567890123456789",
        )
        .await;
        let client = Client::new(options()).unwrap();
        let url = Url::parse(&format!("http://{addr}/p/a?x=1#frag")).unwrap();
        let answer = client.send(Method::GET, &url).await.unwrap();
        assert_eq!(answer.status, StatusCode::FOUND);
        assert_eq!(&answer.body[..], b"0123456789012345");
        assert!(answer.truncated);
        assert_eq!(answer.peer, addr);
        let head = head.await.unwrap();
        assert!(head.starts_with("GET /p/a?x=1 HTTP/1.1\r\n"), "{head}");
        assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");
        assert!(head.contains("user-agent: smartlink-test\r\n"), "{head}");
    }

    #[tokio::test]
    async fn forbidden_addresses_are_refused_before_any_connection() {
        let mut o = options();
        o.policy = Policy::default();
        let client = Client::new(o).unwrap();
        for url in [
            "http://127.0.0.1:9/",
            "http://localhost:9/",
            "http://[::1]:9/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
        ] {
            let failure = client
                .send(Method::GET, &Url::parse(url).unwrap())
                .await
                .unwrap_err();
            assert!(
                matches!(failure, Failure::Refused { .. }),
                "{url}: {failure}"
            );
        }
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(s);
        });
        let mut o = options();
        o.timeout = Duration::from_millis(300);
        let client = Client::new(o).unwrap();
        let started = Instant::now();
        let failure = client
            .send(
                Method::HEAD,
                &Url::parse(&format!("http://{addr}/")).unwrap(),
            )
            .await
            .unwrap_err();
        assert!(matches!(failure, Failure::Timeout(_)), "{failure}");
        assert!(started.elapsed() < Duration::from_secs(2));
        held.abort();
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connection_failure() {
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let client = Client::new(options()).unwrap();
        let failure = client
            .send(
                Method::GET,
                &Url::parse(&format!("http://{addr}/")).unwrap(),
            )
            .await
            .unwrap_err();
        assert!(matches!(failure, Failure::Connect { .. }), "{failure}");
    }

    /// A CA and a certificate for `localhost` and 127.0.0.1 signed by it: (CA PEM, server
    /// TLS configuration).
    fn certificates() -> (String, std::sync::Arc<rustls::ServerConfig>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        #[allow(deprecated)] // as in tls.rs
        let server = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .unwrap();
        (ca.pem(), std::sync::Arc::new(server))
    }

    #[tokio::test]
    async fn https_is_verified_against_the_configured_ca() {
        let (ca_pem, server_config) = certificates();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(s).await else {
                        return;
                    };
                    read_head(&mut tls).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        // Without the CA, the certificate is refused.
        let untrusting = Client::new(options()).unwrap();
        let url = Url::parse(&format!("https://localhost:{}/health", addr.port())).unwrap();
        let failure = untrusting.send(Method::HEAD, &url).await.unwrap_err();
        assert!(matches!(failure, Failure::Tls { .. }), "{failure}");
        let client = Client::new(Options {
            ca_file: Some(ca_file),
            ..options()
        })
        .unwrap();
        for url in [
            format!("https://localhost:{}/health", addr.port()),
            format!("https://{addr}/health"),
        ] {
            let answer = client
                .send(Method::HEAD, &Url::parse(&url).unwrap())
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(answer.status, StatusCode::NO_CONTENT, "{url}");
        }
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        for path in [dir.path().join("missing.pem"), empty] {
            let Err(message) = Client::new(Options {
                ca_file: Some(path.clone()),
                ..options()
            }) else {
                panic!("{} accepted", path.display());
            };
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
    }
}
