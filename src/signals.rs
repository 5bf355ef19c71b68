//! Signals, in one place (docs/operations.md):
//!
//! - `SIGHUP`: reload settings (what can change without a restart), catalog and GeoIP
//!   database. Requests in flight finish on the old snapshot; a failed reload keeps the old
//!   one, logs every problem and counts `smartlink_reload_failures_total`.
//! - `SIGTERM`, `SIGINT`: `/readyz` turns 503, the listener closes, requests in flight get
//!   up to `server.shutdown_grace_ms`, the click log is flushed and fsynced, exit 0.

use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::state::State;

pub struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    /// Installs the handlers (before serving, so no signal is lost to the default action).
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Handles reloads until `SIGTERM` or `SIGINT`, then marks the state as draining and
    /// returns: pass this future as the server's shutdown signal.
    pub async fn until_shutdown(mut self, state: Arc<State>) {
        loop {
            tokio::select! {
                _ = self.hangup.recv() => {
                    tracing::info!("SIGHUP: reloading");
                    let reloading = Arc::clone(&state);
                    // File reads, the GeoIP index build and the compile are blocking work.
                    if state.rebuilder.submit(move || { let _ = reloading.reload(); }).is_err() {
                        tracing::warn!("SIGHUP ignored: too many reloads and API writes are waiting; send it again");
                    }
                }
                _ = self.terminate.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
                _ = self.interrupt.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            }
        }
        state.start_draining();
    }
}
