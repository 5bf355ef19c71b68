//! Cluster test parts, all real: a `redis-server` on a free loopback port (a primary, or a
//! replica of one), `redis-sentinel`s watching it, `smartlink serve` processes in cluster
//! mode, and HAProxy in front of them. A missing `redis-server`, `redis-sentinel` or
//! `haproxy` fails the test that needs it (`.ci/run` installs them).

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

    /// A primary and its replica, without persistence, once the replica's first sync is done
    /// (until then a replica holds nothing, yet Sentinel may promote it).
    pub fn start_replicated() -> (Redis, Redis) {
        // The first sync starts at once (the default waits 5 s for more replicas).
        let primary = Redis::start_with(&[
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ]);
        let replica = Redis::start_replica_of(&primary);
        assert!(
            wait_for(Duration::from_secs(20), || replica
                .cmd::<String>(&["INFO", "replication"])
                .contains("master_link_status:up")),
            "the replica did not sync"
        );
        (primary, replica)
    }

    /// A replica of `primary`, without persistence.
    fn start_replica_of(primary: &Redis) -> Redis {
        let port = primary.port.to_string();
        Redis::start_with(&[
            "--save",
            "",
            "--appendonly",
            "no",
            "--replicaof",
            "127.0.0.1",
            &port,
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
        connect(self.port)
    }

    /// Runs one command and returns its answer.
    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        command(self.port, args)
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

fn connect(port: u16) -> Option<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    client
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()
}

/// Runs one command on the server at `port` and returns its answer.
fn command<T: redis::FromRedisValue>(port: u16, args: &[&str]) -> T {
    let mut c = connect(port).expect("redis connection");
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut c).expect("redis command")
}

/// A real `redis-sentinel` watching a primary, stopped when dropped.
pub struct Sentinel {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Sentinel {
    /// The master name the sentinels of the tests watch.
    pub const MASTER: &str = "smartlink";

    /// A sentinel watching `primary` as [`Sentinel::MASTER`] with a quorum of 2, declaring it
    /// down after 1 s without an answer.
    pub fn start(primary: &Redis) -> Sentinel {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let name = Sentinel::MASTER;
        // The sentinel rewrites its file (what it learns of replicas and other sentinels).
        let path = dir.path().join("sentinel.conf");
        std::fs::write(
            &path,
            format!(
                "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {}\n\
                 sentinel monitor {name} 127.0.0.1 {} 2\n\
                 sentinel down-after-milliseconds {name} 1000\n\
                 sentinel failover-timeout {name} 10000\n\
                 sentinel parallel-syncs {name} 1\n",
                dir.path().display(),
                primary.port
            ),
        )
        .expect("write sentinel.conf");
        let child = Command::new("redis-sentinel")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-sentinel must be installed (apt-get install -y redis-sentinel)");
        let sentinel = Sentinel {
            port,
            child,
            _dir: dir,
        };
        assert!(
            wait_for(Duration::from_secs(10), || connect(port).is_some()),
            "redis-sentinel did not answer on port {port}"
        );
        sentinel
    }

    /// `host:port`, as `cluster.sentinels` lists it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What this sentinel knows of the primary (`SENTINEL MASTER`): `ip`, `port`,
    /// `num-slaves`, `num-other-sentinels`, `flags`, ...
    pub fn master(&self) -> std::collections::HashMap<String, String> {
        command(self.port, &["SENTINEL", "MASTER", Sentinel::MASTER])
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One primary, one replica and three sentinels, all on loopback, once the sentinels know
/// the replica and each other (so that they can agree on a failover).
pub struct Sentinels {
    pub primary: Redis,
    pub replica: Redis,
    pub sentinels: Vec<Sentinel>,
}

impl Sentinels {
    pub fn start() -> Sentinels {
        let (primary, replica) = Redis::start_replicated();
        let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start(&primary)).collect();
        assert!(
            wait_for(Duration::from_secs(30), || sentinels.iter().all(|s| {
                let m = s.master();
                m.get("num-slaves").map(String::as_str) == Some("1")
                    && m.get("num-other-sentinels").map(String::as_str) == Some("2")
            })),
            "the sentinels did not discover the replica and each other"
        );
        Sentinels {
            primary,
            replica,
            sentinels,
        }
    }

    /// The `[cluster]` keys that name the sentinels.
    pub fn settings(&self) -> String {
        let list: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("{:?}", s.addr()))
            .collect();
        format!(
            "sentinels = [{}]\nsentinel_master = {:?}",
            list.join(", "),
            Sentinel::MASTER
        )
    }

    /// The port of the primary as the first sentinel names it.
    pub fn primary_port(&self) -> u16 {
        let m = self.sentinels[0].master();
        m["port"].parse().expect("a port")
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
        Node::config_with(network, &format!("redis_url = {:?}", redis.url()), id)
    }

    /// A node named `id` on `network` whose `[cluster]` finds Redis with `keys`.
    pub fn config_with(network: &str, keys: &str, id: &str) -> TestConfig {
        TestConfig::new(network)
            .geo("GeoIP2-Country-Test.mmdb")
            .section(&format!(
                "[cluster]\n{keys}\nnode_id = {id:?}\nkey_prefix = \"test:\""
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
