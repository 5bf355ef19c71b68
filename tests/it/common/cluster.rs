//! Cluster test parts, all real: a `redis-server` on a free loopback port, `smartlink serve`
//! processes in cluster mode, and HAProxy in front of them. A missing `redis-server` or
//! `haproxy` fails the test that needs it (`.ci/run` installs both).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Binary, TestConfig, wait_for};

/// A free loopback port (bound and released; the caller binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A real `redis-server`, stopped when dropped.
pub struct Redis {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
    /// Extra server arguments (kept for restarts).
    args: Vec<String>,
}

impl Redis {
    /// Without persistence (`--save '' --appendonly no`).
    pub fn start() -> Redis {
        Redis::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// With an append-only file fsynced on every write: what survives `kill -9`.
    pub fn start_persistent() -> Redis {
        Redis::start_with(&[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ])
    }

    fn start_with(args: &[&str]) -> Redis {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let child = spawn_redis(port, dir.path(), &args);
        let redis = Redis {
            port,
            child,
            dir,
            args,
        };
        assert!(
            wait_for(Duration::from_secs(10), || redis.ping()),
            "redis-server did not answer on port {port}"
        );
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn ping(&self) -> bool {
        self.connection()
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).ok())
            .is_some()
    }

    fn connection(&self) -> Option<redis::Connection> {
        let client = redis::Client::open(self.url()).ok()?;
        client
            .get_connection_with_timeout(Duration::from_millis(500))
            .ok()
    }

    /// Runs one command and returns its answer.
    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut c = self.connection().expect("redis connection");
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut c).expect("redis command")
    }

    /// Sends `signal` to the server (SIGSTOP, SIGCONT, SIGKILL).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// A new server on the same port and directory after [`Redis::kill`] (its append-only
    /// file, when it has one, brings the data back).
    pub fn restart(&mut self) {
        self.child = spawn_redis(self.port, self.dir.path(), &self.args);
        assert!(
            wait_for(Duration::from_secs(10), || self.ping()),
            "redis-server did not come back"
        );
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_redis(port: u16, dir: &Path, args: &[String]) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install -y redis-server)")
}

/// A `smartlink serve` process in cluster mode.
pub struct Node {
    pub binary: Binary,
    pub config: TestConfig,
}

impl Node {
    /// A node named `id` on `network` sharing `redis`, with the GeoIP test database.
    pub fn config(network: &str, redis: &Redis, id: &str) -> TestConfig {
        TestConfig::new(network)
            .geo("GeoIP2-Country-Test.mmdb")
            .section(&format!(
                "[cluster]\nredis_url = {:?}\nnode_id = {id:?}\nkey_prefix = \"test:\"",
                redis.url()
            ))
    }

    pub fn start(config: TestConfig) -> Node {
        let path = config.write();
        Node {
            binary: Binary::start(&path),
            config,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.binary.addr
    }

    /// SIGTERM, and waits for the exit.
    pub fn stop(mut self) -> TestConfig {
        self.binary.signal(libc::SIGTERM);
        assert_eq!(self.binary.exit_code(Duration::from_secs(20)), Some(0));
        self.config
    }
}

/// Starts `n` nodes on `network`, named `node-0`…
pub fn nodes(network: &str, redis: &Redis, n: usize) -> Vec<Node> {
    (0..n)
        .map(|i| Node::start(Node::config(network, redis, &format!("node-{i}"))))
        .collect()
}

/// HAProxy, round robin over `backends`, on a free loopback port.
pub struct Haproxy {
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    pub fn start(backends: &[SocketAddr]) -> Haproxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, a)| format!("    server node{i} {a}\n"))
            .collect();
        let config = format!(
            "global\n    maxconn 4096\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n    option http-server-close\n\nfrontend clicks\n    bind 127.0.0.1:{port}\n    default_backend nodes\n\nbackend nodes\n    balance roundrobin\n    option forwardfor\n{servers}"
        );
        let path: PathBuf = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("write haproxy.cfg");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy must be installed (apt-get install -y haproxy)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        assert!(
            wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(
                addr
            )
            .is_ok()),
            "haproxy did not listen on {addr}"
        );
        Haproxy {
            addr,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
