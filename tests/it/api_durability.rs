//! Management API writes against the real binary and the real disk: persisted before the
//! answer, kept across restarts and reloads, serialised under concurrent writers, never a
//! half-written catalog after `kill -9`, and a write that cannot be saved changes nothing.

use std::time::Duration;

use serde_json::Value;

use crate::common::{
    API_KEY, Binary, CHROME_WINDOWS, NETWORK, TestConfig, TestServer, blocking_post_form, get,
    wait_for,
};

fn catalog(config: &TestConfig) -> Value {
    let text = std::fs::read_to_string(config.catalog_path()).expect("catalog file");
    serde_json::from_str(&text).expect("the catalog file is whole JSON")
}

fn affiliate_names(catalog: &Value) -> Vec<String> {
    catalog["affiliates"]
        .as_array()
        .expect("affiliates")
        .iter()
        .map(|a| a["affiliate_name"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn writes_survive_a_reload_and_a_restart_and_the_next_click_sees_them() {
    let config = TestConfig::new(NETWORK);
    let path = config.write();
    let mut bin = Binary::start(&path);
    let (status, created) = blocking_post_form(
        bin.addr,
        "/api/2/smart_link.json",
        &format!("api_key={API_KEY}&affiliate_id=100&smart_link_name=Durable&fallback_url=https%3A%2F%2Fdurable.example%2F"),
    )
    .expect("create");
    assert_eq!(status, 200, "{created}");
    let id = created["response"]["smart_link_id"].as_u64().expect("id");
    let (status, attached) = blocking_post_form(
        bin.addr,
        "/api/2/smart_link_offer.json",
        &format!("api_key={API_KEY}&smart_link_id={id}&offer_id=12"),
    )
    .expect("attach");
    assert_eq!(status, 200, "{attached}");
    // The very next click routes to the offer just attached.
    let (status, location) = get(bin.addr, &format!("/sl?id={id}")).expect("click");
    assert_eq!(status, 302);
    assert!(location.starts_with("https://o12.example/"), "{location}");

    // A reload reads the file the API wrote: same routing, nothing lost.
    bin.signal(libc::SIGHUP);
    let reloaded = wait_for(Duration::from_secs(10), || {
        bin.log().contains("configuration reloaded")
    });
    assert!(reloaded, "{}", bin.log());
    let (_, location) = get(bin.addr, &format!("/sl?id={id}")).expect("click");
    assert!(location.starts_with("https://o12.example/"), "{location}");

    bin.signal(libc::SIGTERM);
    assert_eq!(bin.exit_code(Duration::from_secs(10)), Some(0));
    let again = Binary::start(&path);
    let (status, body) = get(
        again.addr,
        &format!("/api/2/smart_links.json?api_key={API_KEY}&smart_link_id={id}"),
    )
    .expect("list");
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        list["response"]["smart_links"][0]["smart_link_name"],
        "Durable"
    );
    assert_eq!(list["response"]["smart_links"][0]["offer_count"], 1);
    let (_, location) = get(again.addr, &format!("/sl?id={id}")).expect("click");
    assert!(location.starts_with("https://o12.example/"), "{location}");
}

#[tokio::test]
async fn concurrent_writers_each_land_exactly_once() {
    let server = TestServer::start(TestConfig::new(NETWORK)).await;
    let before = affiliate_names(&catalog(&server.config)).len();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let addr = server.addr;
        tasks.push(tokio::task::spawn_blocking(move || {
            blocking_post_form(
                addr,
                "/api/2/affiliate.json",
                &format!("api_key={API_KEY}&affiliate_name=Writer+{i}"),
            )
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let (status, body) = t.await.expect("join").expect("answer");
        assert_eq!(status, 200, "{body}");
        ids.push(body["affiliate"]["affiliate_id"].as_u64().expect("id"));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 24, "every writer got its own id");
    let names = affiliate_names(&catalog(&server.config));
    assert_eq!(names.len(), before + 24);
    for i in 0..24 {
        assert!(
            names.contains(&format!("Writer {i}")),
            "Writer {i} is in the file"
        );
    }
    server.stop().await;
}

#[test]
fn kill_9_during_a_loop_of_writes_always_leaves_a_catalog_that_loads() {
    let config = TestConfig::new(NETWORK);
    let path = config.write();
    for (round, delay_ms) in [120u64, 260, 410].into_iter().enumerate() {
        let mut bin = Binary::start(&path);
        let addr = bin.addr;
        // The kill comes `delay_ms` after the first answered write, however slow the
        // machine is to start the server (a loaded CI host took longer than 120 ms).
        let (first_answered, first) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            // Names answered 200, in order: each was on disk before its answer.
            let mut answered = Vec::new();
            for i in 0.. {
                let name = format!("Round{round}-{i}");
                match blocking_post_form(
                    addr,
                    "/api/2/affiliate.json",
                    &format!("api_key={API_KEY}&affiliate_name={name}"),
                ) {
                    Some((200, _)) => {
                        answered.push(name);
                        if answered.len() == 1 {
                            let _ = first_answered.send(());
                        }
                    }
                    Some((status, body)) => panic!("write answered {status}: {body}"),
                    None => break,
                }
                let weight = i % 100 + 1;
                if blocking_post_form(
                    addr,
                    "/api/2/smart_link_offer.json",
                    &format!("api_key={API_KEY}&smart_link_id=4&offer_id=12&offer_weight={weight}"),
                )
                .is_none()
                {
                    break;
                }
            }
            answered
        });
        // A writer that never gets an answer fails the assertions below.
        let _ = first.recv_timeout(Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(delay_ms));
        bin.signal(libc::SIGKILL);
        let answered = writer.join().expect("writer");
        assert_eq!(bin.killed_by(Duration::from_secs(10)), Some(libc::SIGKILL));
        drop(bin);
        assert!(
            !answered.is_empty(),
            "round {round}: some writes were answered"
        );

        // The file is whole, valid, and holds every write that was answered.
        let check = std::process::Command::new(env!("CARGO_BIN_EXE_smartlink"))
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .expect("run check");
        assert!(
            check.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let names = affiliate_names(&catalog(&config));
        for name in &answered {
            assert!(
                names.contains(name),
                "round {round}: answered write {name} was lost"
            );
        }
    }
    // And the server starts on it and takes writes again.
    let bin = Binary::start(&path);
    let (status, body) = blocking_post_form(
        bin.addr,
        "/api/2/affiliate.json",
        &format!("api_key={API_KEY}&affiliate_name=After"),
    )
    .expect("write after the kills");
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_write_that_cannot_be_saved_is_503_and_changes_nothing() {
    let server = TestServer::start(TestConfig::new(NETWORK)).await;
    let before = std::fs::read(server.config.catalog_path()).expect("catalog");
    // The temporary file the write needs cannot be created: a directory is in its place.
    let blocker = server.config.dir.path().join(".network.json.tmp");
    std::fs::create_dir(&blocker).expect("block the temporary file");
    let addr = server.addr;
    let form = format!("api_key={API_KEY}&smart_link_id=1&smart_link_status=inactive");
    let attempt = {
        let form = form.clone();
        tokio::task::spawn_blocking(move || {
            blocking_post_form(addr, "/api/2/update_smart_link.json", &form)
        })
        .await
        .expect("join")
        .expect("answer")
    };
    assert_eq!(attempt.0, 503, "{}", attempt.1);
    assert_eq!(attempt.1["request_status"], "Failure");
    assert_eq!(
        std::fs::read(server.config.catalog_path()).expect("catalog"),
        before,
        "the file is untouched"
    );
    // The table in use is untouched too: link 1 still routes.
    let click = server
        .get("/sl?id=1", &[("user-agent", CHROME_WINDOWS)])
        .await;
    assert_eq!(click.status, 302);
    assert!(
        !click.location().starts_with("https://fb1.example/"),
        "{}",
        click.location()
    );

    // Once the disk problem is gone, the same write succeeds.
    std::fs::remove_dir(&blocker).expect("unblock");
    let retry = tokio::task::spawn_blocking(move || {
        blocking_post_form(addr, "/api/2/update_smart_link.json", &form)
    })
    .await
    .expect("join")
    .expect("answer");
    assert_eq!(retry.0, 200, "{}", retry.1);
    let click = server
        .get("/sl?id=1", &[("user-agent", CHROME_WINDOWS)])
        .await;
    assert!(
        click.location().starts_with("https://fb1.example/"),
        "{}",
        click.location()
    );
    let metrics = server.get("/metrics", &[]).await.body;
    assert!(
        metrics.contains("smartlink_catalog_write_failures_total 1\n")
            && metrics.contains("smartlink_catalog_writes_total 1\n"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_comes_too_slowly_is_408_and_changes_nothing() {
    let config = TestConfig::new(NETWORK).server("header_read_timeout_ms = 300");
    let server = TestServer::start(config).await;
    let before = std::fs::read(server.config.catalog_path()).expect("catalog");
    // The head announces 100 bytes; 20 come, then nothing.
    let head = format!(
        "POST /api/2/affiliate.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\napi_key={API_KEY}"
    );
    let answer = crate::common::raw(server.addr, head.as_bytes(), Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("\"request_status\":\"Failure\""),
        "{answer}"
    );
    assert_eq!(
        std::fs::read(server.config.catalog_path()).expect("catalog"),
        before
    );
    server.stop().await;
}

/// `catalog.initial` (the demo's way to keep its shipped network as it is): read while
/// `catalog.path` does not exist; the first write creates `catalog.path` and leaves the
/// initial file as it was; a restart reads what was written.
#[tokio::test]
async fn the_first_write_creates_the_catalog_and_leaves_the_initial_file_as_it_is() {
    let config = TestConfig::new(NETWORK);
    let settings = config.write();
    let initial = config.catalog_path();
    let written = config.dir.path().join("data").join("network.json");
    let text = std::fs::read_to_string(&settings).expect("settings");
    let path_line = format!("path = {initial:?}");
    assert!(text.contains(&path_line));
    std::fs::write(
        &settings,
        text.replace(
            &path_line,
            &format!("path = {written:?}\ninitial = {initial:?}"),
        ),
    )
    .expect("settings");
    let server = TestServer::start_written(config).await;
    assert!(
        !written.exists(),
        "nothing is written before the first write"
    );
    let r = crate::common::api_post(
        &server,
        "affiliate.json",
        serde_json::json!({"affiliate_name": "First Write"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        std::fs::read_to_string(&initial).expect("initial"),
        NETWORK,
        "the initial file is as it was"
    );
    let saved = std::fs::read_to_string(&written).expect("the write created catalog.path");
    assert!(saved.contains("First Write"), "{saved}");
    // A second write goes on from the written file (its stamp, not the initial one's).
    let r = crate::common::api_post(
        &server,
        "affiliate.json",
        serde_json::json!({"affiliate_name": "Second Write"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let config = server.stop().await;
    let server = TestServer::start_written(config).await;
    let r = crate::common::api_get(&server, "affiliates.json", &[]).await;
    assert!(
        r.body.contains("First Write") && r.body.contains("Second Write"),
        "a restart reads catalog.path: {}",
        r.body
    );
    server.stop().await;
}
