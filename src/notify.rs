//! Tells the service manager where the process is (systemd's `Type=notify` protocol,
//! `sd_notify(3)`): `READY=1` once the listeners are bound, `RELOADING=1` with the monotonic
//! time when a `SIGHUP` reload starts and `READY=1` again when it has ended (applied or
//! refused), `STOPPING=1` when the drain begins. The unit in `deploy/systemd/` relies on them:
//! `systemctl start` returns once clicks are answered, and `systemctl reload` (systemd 253
//! and later) once the reload is done.
//!
//! Without `NOTIFY_SOCKET` in the environment (not started by systemd) every call does
//! nothing. A message that cannot be sent is logged and otherwise ignored: serving matters
//! more than telling systemd about it. The variable is left set, since every later state
//! change is sent to the same socket.

use sd_notify::NotifyState;

/// The listeners are bound and the server answers; `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload begins; [`ready`] must follow when it ends, whatever its result. systemd wants
/// the time it began on `CLOCK_MONOTONIC` beside it (which Linux always has).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The drain begins: the process stops accepting and exits once requests in flight end.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("draining")]);
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager (NOTIFY_SOCKET)");
    }
}
