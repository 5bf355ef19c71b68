//! Shared test helpers: a temporary configuration, the real server on a loopback port
//! (in-process, or the real binary), and small HTTP clients; `api` for the management API.

pub mod api;
pub mod cluster;
pub use api::*;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use smartlink::server::Listeners;
use smartlink::state::State;
use tokio::net::TcpStream;

pub const SECRET: &str = "integration-test-secret-0123456789";
/// The management API key of every test configuration (unless a test sets `[api]` itself).
pub const API_KEY: &str = "integration-test-api-key";

pub const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
pub const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
pub const IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1";
pub const GOOGLEBOT: &str =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// Request headers of typical clients: an address per country of MaxMind's GeoIP2 test
/// database (`geo("GeoIP2-Country-Test.mmdb")`), and a user agent per device class.
pub const US: (&str, &str) = ("x-forwarded-for", "216.160.83.56");
pub const GB: (&str, &str) = ("x-forwarded-for", "81.2.69.142");
pub const DESKTOP: (&str, &str) = ("user-agent", CHROME_WINDOWS);
pub const MOBILE: (&str, &str) = ("user-agent", IPHONE);
pub const BOT: (&str, &str) = ("user-agent", GOOGLEBOT);

/// The network most tests route on.
///
/// Link 1 (affiliate 100): offer 11 for US at priority 1, offer 13 (GB only) at 2, offer 12
/// at 3; its own fallback. Link 2: inactive. Link 3 (affiliate 200): a paused and a deleted
/// offer at 1, offer 15 for tablets at 2; no fallback (the default serves). Link 4: offers
/// 11/12/17 weighted 60/30/10 with no conditions. Link 5: offer 15 (mobile or tablet).
pub const NETWORK: &str = include_str!("../../fixtures/networks/basic.json");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A configuration in a temporary directory.
pub struct TestConfig {
    pub dir: tempfile::TempDir,
    pub server: Vec<String>,
    pub sections: Vec<String>,
    pub geo: Option<PathBuf>,
    /// More `[geoip]` keys (`asn_database = ...`).
    pub geo_more: Vec<String>,
    /// More `[tracking]` keys.
    pub tracking: Vec<String>,
}

impl TestConfig {
    /// Settings for `network`, listening on 127.0.0.1:0, loopback trusted as a proxy.
    pub fn new(network: &str) -> TestConfig {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("network.json"), network).expect("write catalog");
        TestConfig {
            dir,
            server: vec![
                r#"listen = "127.0.0.1:0""#.into(),
                r#"default_fallback_url = "https://default.example/?l={smart_link_id}""#.into(),
                r#"trusted_proxies = ["127.0.0.1/32", "::1/128"]"#.into(),
            ],
            sections: Vec::new(),
            geo: None,
            geo_more: Vec::new(),
            tracking: Vec::new(),
        }
    }

    /// Replaces or adds a `[server]` key.
    pub fn server(mut self, line: &str) -> TestConfig {
        let key = line.split('=').next().unwrap_or("").trim().to_string();
        self.server
            .retain(|l| l.split('=').next().unwrap_or("").trim() != key);
        self.server.push(line.to_string());
        self
    }

    /// Adds a whole section, e.g. `"[routing]\nbots = \"route\""`.
    pub fn section(mut self, text: &str) -> TestConfig {
        self.sections.push(text.to_string());
        self
    }

    /// Uses a GeoIP database from `tests/fixtures/geo`, or `config/geo` for `country.mmdb`.
    pub fn geo(mut self, name: &str) -> TestConfig {
        self.geo = Some(match name {
            "country.mmdb" => Path::new(env!("CARGO_MANIFEST_DIR")).join("config/geo/country.mmdb"),
            other => fixture(&format!("geo/{other}")),
        });
        self
    }

    /// Adds a `[geoip]` database key (`asn_database`, `anonymous_database`) naming a
    /// database of `tests/fixtures/geo`.
    pub fn geoip(mut self, key: &str, name: &str) -> TestConfig {
        let path = fixture(&format!("geo/{name}"));
        self.geo_more.push(format!("{key} = {path:?}"));
        self
    }

    /// Adds a `[tracking]` key, e.g. `timezone = "Asia/Kolkata"`.
    pub fn tracking(mut self, line: &str) -> TestConfig {
        self.tracking.push(line.to_string());
        self
    }

    pub fn settings_path(&self) -> PathBuf {
        self.dir.path().join("smartlink.toml")
    }

    pub fn catalog_path(&self) -> PathBuf {
        self.dir.path().join("network.json")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Writes `smartlink.toml` and returns its path.
    pub fn write(&self) -> PathBuf {
        let mut text = format!("[server]\n{}\n\n", self.server.join("\n"));
        text += &format!("[catalog]\npath = {:?}\n\n", self.catalog_path());
        let geo = self.geo.iter().map(|g| format!("database = {g:?}"));
        let geo: Vec<String> = geo.chain(self.geo_more.iter().cloned()).collect();
        if !geo.is_empty() {
            text += &format!("[geoip]\n{}\n\n", geo.join("\n"));
        }
        text += &format!("[tracking]\nclick_secret = {SECRET:?}\n");
        text += &self
            .tracking
            .iter()
            .map(|t| format!("{t}\n"))
            .collect::<String>();
        text += "\n";
        text += &format!("[state]\ndir = {:?}\n\n", self.state_dir());
        if !self.sections.iter().any(|s| s.starts_with("[api]")) {
            text += &format!("[api]\nkeys = [{API_KEY:?}]\n\n");
        }
        for s in &self.sections {
            text += s;
            text += "\n\n";
        }
        let path = self.settings_path();
        std::fs::write(&path, text).expect("write settings");
        path
    }

    /// Every click record written so far, parsed.
    pub fn click_records(&self) -> Vec<serde_json::Value> {
        self.log_records("clicks-")
    }

    /// Every conversion record written so far, parsed.
    pub fn conversion_records(&self) -> Vec<serde_json::Value> {
        self.log_records("conversions-")
    }

    /// The log files (`"clicks-"`, `"conversions-"`) in the state directory, oldest first.
    pub fn log_files(&self, prefix: &str) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.state_dir()) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        paths.sort();
        paths
    }

    fn log_records(&self, prefix: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for p in self.log_files(prefix) {
            let text = std::fs::read_to_string(&p).expect("read log");
            for line in text.lines() {
                out.push(serde_json::from_str(line).expect("each line is one JSON object"));
            }
        }
        out
    }
}

/// The real server, in-process, on a loopback port (and an admin port when the settings have
/// `server.admin_listen`).
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin listener's address, when the settings ask for one.
    pub admin: Option<SocketAddr>,
    pub state: Arc<State>,
    pub config: TestConfig,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(config: TestConfig) -> TestServer {
        config.write();
        TestServer::start_written(config).await
    }

    /// Starts on the settings file already written (and perhaps edited) for `config`: the
    /// library's `server::run`, as `smartlink serve` runs it.
    pub async fn start_written(config: TestConfig) -> TestServer {
        let path = config.settings_path();
        let state = State::start(&path).expect("configuration loads");
        let bind = async || {
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind")
        };
        let public = bind().await;
        let admin = match state.snapshot().settings.server.admin_listen {
            Some(_) => Some(bind().await),
            None => None,
        };
        let addr = public.local_addr().expect("addr");
        let admin_addr = admin.as_ref().map(|l| l.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(smartlink::server::run(
            Arc::clone(&state),
            Listeners { public, admin },
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            addr,
            admin: admin_addr,
            state,
            config,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub async fn get(&self, target: &str, headers: &[(&str, &str)]) -> Reply {
        request(self.addr, "GET", target, headers).await
    }

    /// `POST` with a form body.
    pub async fn post_form(&self, target: &str, form: &str) -> Reply {
        Client::connect(self.addr)
            .await
            .send_body(
                "POST",
                target,
                &[("content-type", "application/x-www-form-urlencoded")],
                form.as_bytes(),
            )
            .await
    }

    /// `POST` with a JSON body.
    pub async fn post_json(&self, target: &str, body: &serde_json::Value) -> Reply {
        Client::connect(self.addr)
            .await
            .send_body(
                "POST",
                target,
                &[("content-type", "application/json")],
                body.to_string().as_bytes(),
            )
            .await
    }

    /// Writes every queued record to disk, then returns them all.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.state.records.sync();
        self.config.click_records()
    }

    pub async fn stop(mut self) -> TestConfig {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("join").expect("the server ran");
        }
        self.config
    }
}

/// A response, body collected.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// One HTTP/1.1 request on a new connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut client = Client::connect(addr).await;
    client.send(method, target, headers).await
}

/// A keep-alive HTTP/1.1 (or HTTP/2) client connection.
pub struct Client {
    sender: Sender,
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Client {
            sender: Sender::H1(sender),
        }
    }

    pub async fn connect_h2(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("h2 handshake");
        tokio::spawn(conn);
        Client {
            sender: Sender::H2(sender),
        }
    }

    pub fn is_open(&self) -> bool {
        match &self.sender {
            Sender::H1(s) => !s.is_closed(),
            Sender::H2(s) => !s.is_closed(),
        }
    }

    pub async fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
        self.send_body(method, target, headers, b"").await
    }

    /// A request with a body.
    pub async fn send_body(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let uri = match &self.sender {
            Sender::H1(_) => target.to_string(),
            Sender::H2(_) => format!("http://localhost{target}"),
        };
        let mut builder = Request::builder().method(method).uri(uri);
        if matches!(self.sender, Sender::H1(_)) {
            builder = builder.header("host", "localhost");
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let req = builder
            .body(Full::new(Bytes::copy_from_slice(body)))
            .expect("request");
        let resp = match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await.expect("ready");
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await.expect("ready");
                s.send_request(req).await
            }
        }
        .expect("response");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

/// Sends raw bytes on a new connection and reads until the server closes it or `wait`
/// passes; returns what came back.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The query-string value of `key` in a URL.
pub fn query_param(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The real `smartlink` binary, serving a configuration.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<std::sync::Mutex<String>>,
}

impl Binary {
    /// Starts `smartlink serve --config PATH` and waits for its "listening on" line.
    pub fn start(config: &Path) -> Binary {
        Binary::start_with_env(config, &[])
    }

    /// [`Binary::start`] with more environment variables.
    pub fn start_with_env(config: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Binary {
        let mut command = Command::new(env!("CARGO_BIN_EXE_smartlink"));
        command.args(["serve", "--config"]).arg(config);
        Binary::spawn(command, env)
    }

    /// Starts `smartlink` with `args` in the directory `dir` (relative paths of the default
    /// settings resolve there) and waits for its "listening on" line.
    pub fn start_in(dir: &Path, args: &[&str]) -> Binary {
        let mut command = Command::new(env!("CARGO_BIN_EXE_smartlink"));
        command.args(args).current_dir(dir);
        Binary::spawn(command, &[])
    }

    fn spawn(mut command: Command, env: &[(&str, &std::ffi::OsStr)]) -> Binary {
        let mut child = command
            .env("RUST_LOG", "info")
            .env_remove(smartlink::settings::ENV_CLICK_SECRET)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn smartlink");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                use std::io::BufRead;
                let mut tx = Some(tx);
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.split("listening on ").nth(1)
                        && let Some(tx) = tx.take()
                    {
                        let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                        let _ = tx.send(addr);
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("smartlink did not start: {}", log.lock().unwrap()));
        Binary {
            child,
            addr: addr.parse().expect("listening address"),
            stderr: log,
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the process to exit (at most `limit`); `None` while it is still running.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The exit code once the process exits (at most `limit`); `None` if it is still running
    /// or was killed by a signal.
    pub fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        self.wait(limit).and_then(|s| s.code())
    }

    /// The signal that killed the process, once it has exited (at most `limit`).
    pub fn killed_by(&mut self, limit: Duration) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.wait(limit).and_then(|s| s.signal())
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking `GET` over a fresh connection (see [`blocking_get`]): the status and the
/// `Location`, or the body when there is none. `None` when the server refused or closed the
/// connection.
pub fn get(addr: SocketAddr, target: &str) -> Option<(u16, String)> {
    let r = blocking_get(addr, target)?;
    Some((
        r.status,
        if r.location.is_empty() {
            r.body
        } else {
            r.location
        },
    ))
}

/// A blocking `POST` with a form body over a fresh connection: the status and the JSON body.
pub fn blocking_post_form(
    addr: SocketAddr,
    path: &str,
    form: &str,
) -> Option<(u16, serde_json::Value)> {
    let r = blocking_request(addr, "POST", path, Some(form))?;
    Some((
        r.status,
        serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
    ))
}

/// An answer to [`blocking_get`].
pub struct BlockingReply {
    pub status: u16,
    /// Empty when there is none.
    pub location: String,
    pub body: String,
}

/// A blocking `GET` with a desktop browser's user agent over a fresh connection, for tests
/// of the real binary. `None` when the server is gone.
pub fn blocking_get(addr: SocketAddr, target: &str) -> Option<BlockingReply> {
    blocking_request(addr, "GET", target, None)
}

/// A blocking request over a fresh connection; `form` is sent as a form body. `None` when
/// the server is gone.
pub fn blocking_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    form: Option<&str>,
) -> Option<BlockingReply> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = form.map_or(String::new(), |f| {
        format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{f}",
            f.len()
        )
    });
    let end = if form.is_some() { "" } else { "\r\n" };
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nUser-Agent: {CHROME_WINDOWS}\r\nConnection: close\r\n{body}{end}"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or("")
        .to_string();
    Some(BlockingReply {
        status,
        location,
        body: body.to_string(),
    })
}

/// The current UTC hour, in hours since the epoch (the hour of a log file's name).
pub fn utc_hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        / 3600
}

/// Polls `f` (blocking) until it returns true or `limit` passes.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Polls `f` until it returns true or `limit` passes.
pub async fn eventually(limit: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// The value of metric `name` (unlabelled) on the server at `addr`, over a fresh
/// connection; `None` when absent or unreachable.
pub fn metric(addr: std::net::SocketAddr, name: &str) -> Option<f64> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    use std::io::{BufRead, Write};
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    std::io::BufReader::new(s)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix(&format!("{name} "))
                .and_then(|v| v.parse().ok())
        })
}

/// The JSON a successful `smartlink --config CONFIG ARGS...` prints.
pub fn command_json(config: &Path, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartlink"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `smartlink route` on `link` for user agent `ua` with more `args`: the decision's offer and
/// each attachment's result or reason.
pub fn route(
    config: &Path,
    ua: &str,
    link: &str,
    args: &[&str],
) -> (serde_json::Value, Vec<String>) {
    let mut all = vec!["route", "--link", link, "--ua", ua];
    all.extend_from_slice(args);
    let v = command_json(config, &all);
    let reasons = v["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["reason"]
                .as_str()
                .unwrap_or(a["result"].as_str().unwrap())
                .to_string()
        })
        .collect();
    (v["decision"]["offer_id"].clone(), reasons)
}
