//! A whole in-process click on capped offers, cluster mode against standalone, in one run.
//! Link 301 of the demo network with both of its offers given a daily click cap of 10^9
//! (1042 keeps its daily conversion cap too), so that every routed click spends a click
//! cap: standalone by a compare-and-swap on the node's count, in cluster mode from the
//! node's lease (a second compare-and-swap), which the real lease keeper keeps filled from
//! a real `redis-server` (started here on a free loopback port). Both nodes run as `serve`
//! runs them (`server::run`: the other cluster tasks, catalog watch, conversion totals,
//! counter pushes, Redis health, and the optimizer), on a runtime of their own, none of it on
//! the click path; the clicks are taken in-process.
//! Target (README): cluster ≤ 1.05× standalone; no click record dropped.

use std::hint::black_box;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use smartlink::http::router::{Target, respond};
use smartlink::state::State;

#[path = "support/demo.rs"]
mod demo;
#[path = "support/trim.rs"]
mod trim;
use trim::LogTrimmer;

/// A `redis-server` without persistence on a free loopback port, killed when dropped.
struct Redis(Child, u16);

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install -y redis-server)");
        let url = format!("redis://127.0.0.1:{port}/0");
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        Redis(child, port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let _entered = runtime.enter();
    let redis = Redis::start();
    let mut network = demo::network();
    for offer in [1042, 1043] {
        demo::set_daily_click_cap(&mut network, offer, 1_000_000_000);
    }
    let (standalone_dir, cluster_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let standalone = State::start(&demo::write(standalone_dir.path(), &network, ""))
        .expect("demo configuration");
    let cluster_settings = format!(
        "\n[cluster]\nredis_url = \"redis://127.0.0.1:{}/0\"\nnode_id = \"bench\"\n",
        redis.1
    );
    let clustered = State::start(&demo::write(
        cluster_dir.path(),
        &network,
        &cluster_settings,
    ))
    .expect("demo configuration, cluster mode");
    let run = |state: &std::sync::Arc<State>| {
        let public = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let listeners = smartlink::server::Listeners {
            public,
            admin: None,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let node = runtime.spawn(smartlink::server::run(
            std::sync::Arc::clone(state),
            listeners,
            async {
                let _ = stopped.await;
            },
        ));
        (stop, node)
    };
    let nodes = [run(&standalone), run(&clustered)];
    let trimmers = [
        LogTrimmer::start(standalone_dir.path().join("data")),
        LogTrimmer::start(cluster_dir.path().join("data")),
    ];

    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    let req = demo::click("/sl?id=301&aff_id=67890&s1=email_june&s2=abc", demo::IPHONE);
    let mut group = c.benchmark_group("capped_click_in_process");
    for (name, state) in [("standalone", &standalone), ("cluster", &clustered)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(respond(
                    state,
                    black_box(&req),
                    peer,
                    Target::of(req.uri().path()),
                    smartlink::clock::now(),
                ))
            })
        });
    }
    group.finish();

    // Each node drains, stops its tasks and flushes its click log before it returns.
    for (stop, node) in nodes {
        let _ = stop.send(());
        let _ = runtime.block_on(node);
    }
    for trimmer in trimmers {
        trimmer.stop();
    }
    let m = &clustered.metrics;
    let without: u64 = [1042, 1043]
        .iter()
        .map(|id| clustered.counts.offer(*id).clicks_without_lease())
        .sum();
    eprintln!(
        "cluster: {} clicks routed, {without} turned away for want of a lease, {} lease requests granted, {} Redis commands",
        m.records_written.get(),
        m.cluster.lease_granted.get(),
        m.cluster.redis_commands.get(),
    );
    for state in [&standalone, &clustered] {
        assert_eq!(
            state.metrics.records_dropped.get(),
            0,
            "the click log fell behind: records were dropped"
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
