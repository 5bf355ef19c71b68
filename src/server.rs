//! A node, run: what `smartlink serve` does once its runtime is built, its listeners bound
//! and its signals installed, and what tests and benches call on `127.0.0.1:0`.
//!
//! [`run`] takes the process state, the bound listeners and a shutdown future (SIGTERM or
//! SIGINT in `serve`; a channel in tests), as mini-redis's `server::run(listener, shutdown)`:
//!
//! 1. the admin listener, when there is one, serves the API, metrics and health; the public
//!    listener then serves tracking links, postbacks and health only;
//! 2. cluster mode: the newest shared catalog is applied, then the node's background tasks
//!    start (`cluster::Node`);
//! 3. the optimizer recomputes optimized rotation's weights, destination health checks
//!    probe (`health`), and with `[partner_postbacks]` enabled the sender delivers partner
//!    postbacks;
//! 4. the public listener is served: `server.runtime = "per_core"`, on `server.threads`
//!    threads of their own; `"shared"`, on the calling runtime;
//! 5. on shutdown: every listener drains, the cluster tasks, the optimizer, the health checks
//!    and the partner postback sender stop, the logs are flushed and (cluster mode) the last
//!    counters pushed.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::cluster::Node;
use crate::http::{self, Role};
use crate::settings::Runtime;
use crate::state::State;

/// The bound listeners of a node.
pub struct Listeners {
    /// `server.listen`: tracking links, postbacks and health (without `admin`, everything).
    pub public: TcpListener,
    /// `server.admin_listen`: the API, metrics and health.
    pub admin: Option<TcpListener>,
}

/// Runs the node on `state` until `shutdown` resolves, then drains and flushes (above). An
/// error: the serving threads could not start; those that did have drained and the state is
/// flushed all the same.
pub async fn run(
    state: Arc<State>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (runtime, threads, listen) = {
        let s = state.snapshot();
        let server = &s.settings.server;
        (server.runtime, server.threads, server.listen)
    };
    // Every listener and task stops on the same signal.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let public_role = match listeners.admin {
        Some(admin) => {
            let addr = admin.local_addr().map_or(listen, |a| a);
            tracing::info!("admin listener (API, metrics, health) on {addr}");
            let (state, until) = (state.clone(), until_stopped());
            tokio::spawn(http::serve(admin, Role::Admin, state, until));
            Role::Public
        }
        None => Role::All,
    };
    crate::cluster::catalog_watch::sync_at_start(&state).await;
    let node = Node::start(&state);
    let optimizer = tokio::spawn(crate::optimizer::run(state.clone(), stopped.clone()));
    let partner = state.start_partner_postbacks(stopped.clone());
    let health = tokio::spawn(crate::health::run(state.clone(), stopped.clone()));
    let listener = listeners.public;
    let addr = listener.local_addr().map_or(listen, |a| a);
    tracing::info!(
        generation = state.snapshot().generation,
        ?runtime,
        threads,
        "listening on {addr}"
    );
    crate::notify::ready(&format!(
        "listening on {addr}, serving generation {}",
        state.snapshot().generation
    ));
    let served = match runtime {
        Runtime::Shared => {
            http::serve(listener, public_role, state.clone(), until_stopped()).await;
            Ok(())
        }
        Runtime::PerCore => {
            let served =
                http::serve_per_core(listener, threads, public_role, state.clone(), stopped).await;
            if let Err(e) = &served {
                // Threads that did start drain as usual; then the state is flushed.
                tracing::error!(error = %e, "cannot start the serving threads");
            }
            served
        }
    };
    if let Some(node) = node {
        node.stop().await;
    }
    let _ = optimizer.await;
    if let Some(partner) = partner {
        let _ = partner.await;
    }
    let _ = health.await;
    let flushed = state.clone();
    let _ = tokio::task::spawn_blocking(move || flushed.stop_writers()).await;
    Node::push_final_counters(&state).await;
    tracing::info!(clicks = state.counts.clicks(), "stopped");
    served
}
