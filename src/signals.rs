//! Signals, in one place (docs/operations.md):
//!
//! - `SIGHUP`: reload settings (what can change without a restart), catalog and GeoIP
//!   database. Requests in flight finish on the old snapshot; a failed reload keeps the old
//!   one, logs every problem and counts `smartlink_reload_failures_total`. systemd is told
//!   `RELOADING=1` when it begins and `READY=1` when it ends (`notify`).
//! - `SIGTERM`, `SIGINT`: systemd is told `STOPPING=1`, `/readyz` turns 503, the listener
//!   closes, requests in flight get up to `server.shutdown_grace_ms`, the click log is
//!   flushed and fsynced, exit 0.

use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::notify;
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
                    notify::reloading();
                    let reloading = Arc::clone(&state);
                    // File reads, the GeoIP index build and the compile are blocking work.
                    let submitted = state.rebuilder.submit(move || {
                        notify::ready(&match reloading.reload() {
                            Ok(generation) => format!("serving generation {generation}"),
                            Err(_) => "reload refused; serving the previous configuration".into(),
                        });
                    });
                    if submitted.is_err() {
                        tracing::warn!("SIGHUP ignored: too many reloads and API writes are waiting; send it again");
                        notify::ready("reload ignored: too many waiting; send SIGHUP again");
                    }
                }
                _ = self.terminate.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
                _ = self.interrupt.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            }
        }
        notify::stopping();
        state.start_draining();
    }
}
