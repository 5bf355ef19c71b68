//! Connections: the accept loop, connection limits, protocol detection, connection
//! lifetimes, graceful drain. What a request is answered with is the router's.
//!
//! [`serve`] runs on any bound listener until `shutdown` resolves. HTTP/1.1 (keep-alive) and
//! HTTP/2 cleartext with prior knowledge are served on the same port. Limits (settings
//! `[server]`): connection count (excess connections wait in the kernel backlog), header
//! bytes and count (`431`), request target length (`414`, the router's), and a header-read
//! timeout: a client that connects and says nothing is closed after it, and an HTTP/1
//! connection with no request answered or in progress for that long (a head that never
//! completes, an idle keep-alive) is closed by the idle check of `run`.
//! With `server.proxy_protocol`, each connection first carries a PROXY header
//! (`proxy_protocol`). `server.runtime = "per_core"` serves one listener on several
//! single-threaded runtimes ([`serve_per_core`]; docs/performance.md).
//!
//! Every connection's lifetime is bounded (`Lifetime`): an HTTP/2 connection with no open
//! stream is sent GOAWAY `server.idle_timeout_ms` after its last stream ended (or after it
//! was accepted, if it never had one; PINGs do not keep it open); every
//! connection is asked to close after `server.max_connection_age_ms` (HTTP/2 GOAWAY, HTTP/1
//! after its current response) and closed outright `header_read_timeout_ms` later. At
//! shutdown every connection is asked to close; one with no request in progress (idle, or a
//! request head still arriving) is closed at once, and only requests in flight get the
//! `server.shutdown_grace_ms`. A client that half-closes after a complete HTTP/1 request is
//! still answered.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, sleep, sleep_until};

use super::proxy_protocol::{self, peek_until};
use super::router::{self, Activity, Role};
use crate::settings::Limits;
use crate::state::State;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// hyper's built-in header count; setting it explicitly moves header parsing to the heap.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// How long a connection asked to close keeps being served when it has no request in
/// progress: time to flush a last response or the GOAWAY.
const LINGER: Duration = Duration::from_millis(100);

/// Where a connection's life is, as the server tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Stop accepting requests; finish those in flight.
    Draining,
    /// The drain deadline passed: close now.
    Closing,
}

/// Serves `listener` as `role` until `shutdown` resolves, then stops accepting, closes idle
/// connections and waits for requests in flight, at most `server.shutdown_grace_ms`.
pub async fn serve(
    listener: TcpListener,
    role: Role,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) {
    let max_connections = state.snapshot().settings.server.limits.max_connections;
    let permits = Arc::new(Semaphore::new(max_connections));
    serve_with(listener, role, state, permits, shutdown).await;
}

/// `server.runtime = "per_core"`: serves `listener` on `threads` threads, each a
/// single-threaded runtime accepting from its own handle of the same socket, so that a
/// connection lives on one thread from accept to close and no request is handed between
/// threads (docs/performance.md). Whichever thread is free accepts the next connection.
/// `server.max_connections` bounds them all together. Returns when every thread has
/// drained after `stopped` turned true.
pub async fn serve_per_core(
    listener: TcpListener,
    threads: usize,
    role: Role,
    state: Arc<State>,
    stopped: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = listener.into_std()?;
    let max_connections = state.snapshot().settings.server.limits.max_connections;
    let permits = Arc::new(Semaphore::new(max_connections));
    let mut done = Vec::with_capacity(threads);
    for i in 0..threads {
        let (listener, state, permits) = (
            listener.try_clone()?,
            Arc::clone(&state),
            Arc::clone(&permits),
        );
        let mut stopped = stopped.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (finished, finish) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("serve-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => {
                            let until = async move {
                                let _ = stopped.wait_for(|s| *s).await;
                            };
                            serve_with(listener, role, state, permits, until).await;
                        }
                        Err(e) => tracing::error!(error = %e, "cannot serve on thread {i}"),
                    }
                });
                drop(finished);
            })?;
        done.push(finish);
    }
    for finish in done {
        let _ = finish.await;
    }
    Ok(())
}

/// [`serve`] with the connection permits given (shared by the threads of `serve_per_core`).
async fn serve_with(
    listener: TcpListener,
    role: Role,
    state: Arc<State>,
    permits: Arc<Semaphore>,
    shutdown: impl Future<Output = ()>,
) {
    let (limits, grace) = {
        let s = state.snapshot();
        (
            s.settings.server.limits.clone(),
            s.settings.server.shutdown_grace,
        )
    };
    let protocols = Arc::new(Protocols::new(&limits, role));
    let (phase, watch_phase) = watch::channel(Phase::Serving);
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
        let (state, protocols, phase) = (
            Arc::clone(&state),
            Arc::clone(&protocols),
            watch_phase.clone(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            state.metrics.connections_open.add(1);
            protocols.serve(stream, peer, state.clone(), phase).await;
            state.metrics.connections_open.add(-1);
        });
    }
    drop(listener);
    tracing::info!("stopped accepting; draining connections");
    let _ = phase.send(Phase::Draining);
    // Every connection holds a permit: all of them back means every connection is closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    tokio::select! {
        _ = permits.acquire_many(all) => tracing::info!("all connections drained"),
        () = sleep(grace) => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "drain deadline passed; closing remaining connections");
            let _ = phase.send(Phase::Closing);
        }
    }
}

/// The bounds of one connection's life.
#[derive(Clone, Copy)]
struct Lifetime {
    /// Asked to close after this long with no request answered and none in progress: HTTP/2 `server.idle_timeout_ms`; HTTP/1 the header-read timeout, so that
    /// an idle keep-alive connection and a request head that never completes are both closed.
    idle: Duration,
    max_age: Duration,
    /// How long requests in flight may still take once the connection was asked to close
    /// for its age or idleness.
    finish: Duration,
}

/// Configured HTTP/1 and HTTP/2 connection builders.
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    first_byte_timeout: Duration,
    proxy_protocol: bool,
    role: Role,
    max_uri_bytes: usize,
    idle: Duration,
    max_age: Duration,
}

impl Protocols {
    fn new(limits: &Limits, role: Role) -> Protocols {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .keep_alive(true)
            // A client may half-close once its request is sent; it still gets the answer.
            .half_close(true)
            // The header-read timeout is the connection's idle check in `run`, not hyper's:
            // hyper arms, resets and drops a timer for every request head (2.7 % of a
            // keep-alive click's CPU in a profile), where `run` looks once per timeout.
            .header_read_timeout(None)
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
            role,
            max_uri_bytes: limits.max_uri_bytes,
            idle: limits.idle_timeout,
            max_age: limits.max_connection_age,
        }
    }

    async fn serve(
        &self,
        mut stream: TcpStream,
        peer: SocketAddr,
        state: Arc<State>,
        phase: watch::Receiver<Phase>,
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
        let activity = Arc::new(Activity::new());
        let service = router::service(
            self.role,
            self.max_uri_bytes,
            state,
            client,
            Arc::clone(&activity),
        );
        let io = TokioIo::new(stream);
        let lifetime = Lifetime {
            idle: if is_h2 {
                self.idle
            } else {
                self.first_byte_timeout
            },
            max_age: self.max_age,
            finish: self.first_byte_timeout,
        };
        let result = if is_h2 {
            let conn = self.http2.serve_connection(io, service);
            run(conn, &activity, lifetime, phase).await
        } else {
            let conn = self.http1.serve_connection(io, service);
            run(conn, &activity, lifetime, phase).await
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// A connection that was asked to close.
#[derive(Clone, Copy)]
struct Closing {
    /// When to look again whether requests are still in progress.
    check_at: Instant,
    /// When it is closed even so; `None`: at the server's drain deadline.
    deadline: Option<Instant>,
}

/// Drives one connection to its end, within its [`Lifetime`] and the server's [`Phase`].
async fn run<C>(
    conn: C,
    activity: &Activity,
    lifetime: Lifetime,
    mut phase: watch::Receiver<Phase>,
) -> Result<(), C::Error>
where
    C: GracefulConnection,
{
    let mut conn = std::pin::pin!(conn);
    let born = Instant::now();
    let old_at = born + lifetime.max_age;
    let mut closing: Option<Closing> = None;
    // Idle detection: the connection is looked at when it would have been quiet for the idle
    // timeout if nothing happened since the last look, and asked to close once it has.
    let mut next_look = born + lifetime.idle;
    loop {
        let wake = match closing {
            Some(c) => c.check_at,
            None => next_look.min(old_at),
        };
        tokio::select! {
            result = conn.as_mut() => return result,
            changed = phase.changed() => match changed.map(|()| *phase.borrow()) {
                Ok(Phase::Serving) => {}
                Ok(Phase::Draining) => {
                    if closing.is_none() {
                        closing = Some(ask_to_close(conn.as_mut(), None));
                    }
                }
                Ok(Phase::Closing) | Err(_) => return Ok(()),
            },
            () = sleep_until(wake) => {
                let now = Instant::now();
                if let Some(c) = &mut closing {
                    let busy = activity.in_flight.load(Ordering::Relaxed) > 0;
                    if !busy || c.deadline.is_some_and(|d| now >= d) {
                        return Ok(());
                    }
                    c.check_at = now + LINGER;
                } else if now >= old_at {
                    closing = Some(ask_to_close(conn.as_mut(), Some(now + lifetime.finish)));
                } else {
                    match activity.quiet_for() {
                        Some(quiet) if quiet >= lifetime.idle => {
                            closing =
                                Some(ask_to_close(conn.as_mut(), Some(now + lifetime.finish)));
                        }
                        Some(quiet) => next_look = now + (lifetime.idle - quiet),
                        None => next_look = now + lifetime.idle,
                    }
                }
            }
        }
    }
}

/// Starts a graceful close (HTTP/2 GOAWAY, HTTP/1 close after the current response); the
/// connection is dropped a [`LINGER`] later if no request is in progress then.
fn ask_to_close<C: GracefulConnection>(conn: Pin<&mut C>, deadline: Option<Instant>) -> Closing {
    conn.graceful_shutdown();
    Closing {
        check_at: Instant::now() + LINGER,
        deadline,
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
