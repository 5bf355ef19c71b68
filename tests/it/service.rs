//! The real binary under a service manager: the `sd_notify` messages systemd's `Type=notify`
//! waits for, received on a real `NOTIFY_SOCKET` (a unix datagram socket, as systemd gives
//! it), and `smartlink ready`, the container image's health check.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// `CLOCK_MONOTONIC` in microseconds, the clock of `MONOTONIC_USEC`.
fn monotonic_usec() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct passed.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) },
        0
    );
    t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1_000
}

/// The service manager's end: a datagram socket at `NOTIFY_SOCKET`.
struct Manager {
    socket: UnixDatagram,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Manager {
    fn listen() -> Manager {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        Manager {
            socket,
            path,
            _dir: dir,
        }
    }

    /// The next message's lines; panics when none comes within `limit`.
    fn next(&self, limit: Duration) -> Vec<String> {
        self.socket.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 4096];
        let n = self
            .socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification within {limit:?}: {e}"));
        String::from_utf8(buf[..n].to_vec())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The message that follows, if one comes within `limit`.
    fn maybe_next(&self, limit: Duration) -> Option<Vec<String>> {
        self.socket.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        Some(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .map(str::to_string)
                .collect(),
        )
    }
}

/// The value of `KEY=` in a message.
fn field<'a>(message: &'a [String], key: &str) -> Option<&'a str> {
    message
        .iter()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn the_service_manager_is_told_ready_reloading_ready_and_stopping_in_order() {
    let manager = Manager::listen();
    let config = TestConfig::new(NETWORK);
    let path = config.write();
    let mut bin = Binary::start_with_env(&path, &[("NOTIFY_SOCKET", manager.path.as_os_str())]);
    let wait = Duration::from_secs(20);

    let ready = manager.next(wait);
    assert_eq!(ready[0], "READY=1", "{ready:?}");
    assert!(
        field(&ready, "STATUS").is_some_and(|s| s.starts_with("listening on")),
        "{ready:?}"
    );
    // Ready means answering.
    assert_eq!(get(bin.addr, "/readyz").unwrap().0, 200);

    // A reload that applies: RELOADING=1 with the time it began, then READY=1 once the new
    // generation is served.
    let before = monotonic_usec();
    bin.signal(libc::SIGHUP);
    let reloading = manager.next(wait);
    let after = monotonic_usec();
    assert_eq!(reloading[0], "RELOADING=1", "{reloading:?}");
    let began: u64 = field(&reloading, "MONOTONIC_USEC")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("MONOTONIC_USEC missing: {reloading:?}"));
    assert!(
        (before..=after).contains(&began),
        "{before} <= {began} <= {after}"
    );
    let reloaded = manager.next(wait);
    assert_eq!(reloaded[0], "READY=1", "{reloaded:?}");
    assert_eq!(field(&reloaded, "STATUS"), Some("serving generation 2"));
    assert_eq!(
        metric(bin.addr, "smartlink_reloads_total"),
        Some(1.0),
        "READY=1 comes after the reload, not before"
    );

    // A refused reload ends with READY=1 too: the old configuration keeps serving, and
    // systemd must not stay in "reloading".
    std::fs::write(config.catalog_path(), "{ not json").unwrap();
    bin.signal(libc::SIGHUP);
    assert_eq!(manager.next(wait)[0], "RELOADING=1");
    let refused = manager.next(wait);
    assert_eq!(refused[0], "READY=1", "{refused:?}");
    assert!(
        field(&refused, "STATUS").is_some_and(|s| s.starts_with("reload refused")),
        "{refused:?}"
    );
    assert_eq!(
        metric(bin.addr, "smartlink_reload_failures_total"),
        Some(1.0)
    );

    bin.signal(libc::SIGTERM);
    let stopping = manager.next(wait);
    assert_eq!(stopping[0], "STOPPING=1", "{stopping:?}");
    assert_eq!(
        bin.exit_code(Duration::from_secs(20)),
        Some(0),
        "{}",
        bin.log()
    );
    assert_eq!(
        manager.maybe_next(Duration::from_millis(200)),
        None,
        "nothing after STOPPING=1"
    );
}

/// `smartlink ready --config SETTINGS ARGS...`: its exit code, its output and how long it
/// took.
fn ready(settings: &Path, args: &[&str]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .arg("ready")
        .arg("--config")
        .arg(settings)
        .args(args)
        .env_remove(smartlink::settings::ENV_CLICK_SECRET)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text, started.elapsed())
}

/// The settings at `path` listening on `addr`, written beside them as `name`.
fn listening_on(path: &Path, addr: std::net::SocketAddr, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("127.0.0.1:0", &addr.to_string());
    let copy = path.with_file_name(name);
    std::fs::write(&copy, text).unwrap();
    copy
}

#[test]
fn ready_exits_0_while_the_server_is_ready_and_1_when_it_is_gone() {
    let config = TestConfig::new(NETWORK);
    let mut bin = Binary::start(&config.write());
    let settings = listening_on(&config.settings_path(), bin.addr, "ready.toml");
    let (code, text, _) = ready(&settings, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("ready ({})", bin.addr)), "{text}");

    // Settings whose secrets live only in the server's environment still name the address.
    let without_secret: String = std::fs::read_to_string(&settings)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("click_secret"))
        .map(|l| format!("{l}\n"))
        .collect();
    let partial = settings.with_file_name("no-secret.toml");
    std::fs::write(&partial, without_secret).unwrap();
    let (code, text, _) = ready(&partial, &[]);
    assert_eq!(code, Some(0), "{text}");

    bin.signal(libc::SIGTERM);
    assert_eq!(bin.exit_code(Duration::from_secs(20)), Some(0));
    let (code, text, _) = ready(&settings, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not ready"), "{text}");
}

#[test]
fn ready_gives_up_on_a_listener_that_never_answers_within_its_timeout() {
    // Accepts connections (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = TestConfig::new(NETWORK);
    let settings = listening_on(&config.write(), silent.local_addr().unwrap(), "silent.toml");
    let (code, text, took) = ready(&settings, &["--timeout-ms", "300"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not ready"), "{text}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn ready_fails_on_settings_that_name_no_address() {
    let config = TestConfig::new(NETWORK).server(r#"listen = "localhost""#);
    let (code, text, _) = ready(&config.write(), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("server.listen"), "{text}");
}
