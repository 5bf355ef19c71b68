//! The HTTP server: accept loop, connection limits, protocol detection, graceful drain.
//!
//! [`serve`] runs on any bound listener until `shutdown` resolves, so tests bind
//! `127.0.0.1:0` and call it directly. HTTP/1.1 (keep-alive) and HTTP/2 cleartext with prior
//! knowledge are served on the same port. Limits (settings `[server]`): connection count
//! (excess connections wait in the kernel backlog), header bytes and count (`431`), request
//! target length (`414`), and a header-read timeout that also closes idle keep-alive
//! connections and clients that connect and say nothing. With `server.proxy_protocol`, each
//! connection first carries a PROXY header (`proxy_protocol`).

pub mod body;
pub mod click;
pub mod postback;
pub mod proxy_protocol;
pub mod query;
pub mod response;
pub mod service;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep, timeout_at};

use crate::settings::Limits;
use crate::state::State;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// hyper's built-in header count; setting it explicitly moves header parsing to the heap.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Serves `listener` until `shutdown` resolves, then stops accepting and waits for requests
/// in flight, at most `server.shutdown_grace_ms`.
pub async fn serve(listener: TcpListener, state: Arc<State>, shutdown: impl Future<Output = ()>) {
    let (limits, grace) = {
        let s = state.snapshot();
        (s.settings.limits.clone(), s.settings.shutdown_grace)
    };
    let protocols = Arc::new(Protocols::new(&limits));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => p.expect("semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning; never exit.
                    state.metrics.accept_errors.inc();
                    tracing::warn!(error = %e, "accept failed");
                    sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        state.metrics.connections_accepted.inc();
        let (state, protocols, watcher) = (
            Arc::clone(&state),
            Arc::clone(&protocols),
            graceful.watcher(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            state.metrics.connections_open.add(1);
            protocols.serve(stream, peer, state.clone(), watcher).await;
            state.metrics.connections_open.add(-1);
        });
    }
    drop(listener);
    tracing::info!("stopped accepting; draining connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = sleep(grace) => tracing::warn!(grace_ms = grace.as_millis() as u64, "drain deadline passed; closing remaining connections"),
    }
}

/// Configured HTTP/1 and HTTP/2 connection builders.
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    first_byte_timeout: Duration,
    proxy_protocol: bool,
}

impl Protocols {
    fn new(limits: &Limits) -> Protocols {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .keep_alive(true)
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes);
        if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
            http1.max_headers(limits.max_headers);
        }
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.http2_max_concurrent_streams)
            .max_header_list_size(limits.max_header_bytes as u32)
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(10));
        Protocols {
            http1,
            http2,
            first_byte_timeout: limits.header_read_timeout,
            proxy_protocol: limits.proxy_protocol,
        }
    }

    async fn serve(
        &self,
        mut stream: TcpStream,
        peer: SocketAddr,
        state: Arc<State>,
        watcher: hyper_util::server::graceful::Watcher,
    ) {
        let deadline = Instant::now() + self.first_byte_timeout;
        let mut client = peer.ip();
        if self.proxy_protocol {
            match proxy_protocol::read_header(&mut stream, deadline).await {
                None => return,
                Some(proxy_protocol::Source::Client(ip))
                    if state.snapshot().proxies.contains(peer.ip()) =>
                {
                    client = ip
                }
                Some(_) => {}
            }
        }
        let Some(is_h2) = detect_h2(&stream, deadline).await else {
            return;
        };
        // Postbacks wait for the ledger's fsync and API calls read bodies and write the
        // catalog; every other endpoint answers synchronously and pays for no boxed future
        // and no reference count.
        let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let path = req.uri().path();
            let endpoint = service::Endpoint::of(path);
            if endpoint == Some(service::Endpoint::Postback) {
                Either::Left(Either::Left(
                    postback::postback(Arc::clone(&state), req).map(Ok::<_, Infallible>),
                ))
            } else if endpoint.is_none() && path.starts_with(crate::api::PREFIX) {
                Either::Left(Either::Right(
                    crate::api::handle(Arc::clone(&state), req).map(Ok::<_, Infallible>),
                ))
            } else {
                Either::Right(std::future::ready(Ok(service::respond(
                    &state, &req, client, endpoint,
                ))))
            }
        });
        let io = TokioIo::new(stream);
        let result = if is_h2 {
            watcher
                .watch(self.http2.serve_connection(io, service))
                .await
        } else {
            watcher
                .watch(self.http1.serve_connection(io, service))
                .await
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// Waits (until `deadline`) for the first bytes and tells HTTP/2's preface from HTTP/1.
/// `None`: the client closed or sent nothing in time.
async fn detect_h2(stream: &TcpStream, deadline: Instant) -> Option<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    peek_until(stream, deadline, &mut buf, |seen| {
        if seen != &H2_PREFACE[..seen.len()] {
            Some(false)
        } else if seen.len() == H2_PREFACE.len() {
            Some(true)
        } else {
            None
        }
    })
    .await
}

/// Peeks at the first bytes of `stream` until `decide` has an answer for them (`None` from
/// `decide`: more bytes needed). `None` when the client closes or `deadline` passes first.
async fn peek_until<T>(
    stream: &TcpStream,
    deadline: Instant,
    buf: &mut [u8],
    mut decide: impl FnMut(&[u8]) -> Option<T>,
) -> Option<T> {
    loop {
        let n = timeout_at(deadline, stream.peek(buf)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        if let Some(answer) = decide(&buf[..n]) {
            return Some(answer);
        }
        // Partial input: wait for more without spinning.
        timeout_at(deadline, sleep(Duration::from_millis(5)))
            .await
            .ok()?;
    }
}
