//! The README's quick start, as a newcomer runs it: its commands in order, read from
//! README.md itself so that the two cannot drift, against the real binary serving a copy of
//! `config/` (in a temporary directory, on a free port), the `curl` commands through the
//! real `curl` and the `cargo run` ones through the built binary. Each answer is checked
//! against what the README's comment says, and the shipped demo catalog stays as it was.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

const README: &str = include_str!("../../README.md");

/// The address the README's commands name.
const README_BASE: &str = "http://127.0.0.1:8080";

/// The commands of the sh blocks of the README's "Quick start" section, each as the words a
/// shell would pass.
fn quick_start_commands() -> Vec<Vec<String>> {
    let section = README
        .split("\n## Quick start\n")
        .nth(1)
        .expect("README.md has a Quick start section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .split("```")
        .enumerate()
        // The pieces inside fences are the odd ones.
        .filter_map(|(i, piece)| (i % 2 == 1).then_some(piece)?.strip_prefix("sh\n"))
        .flat_map(shell_words)
        .collect()
}

/// Splits shell text into commands of words: single and double quotes (across lines too),
/// `\` at the end of a line, `#` comments; nothing else of the shell is used.
fn shell_words(text: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars().peekable();
    let end_word = |word: &mut Option<String>, words: &mut Vec<String>| {
        if let Some(w) = word.take() {
            words.push(w);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    w.push(q);
                }
            }
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            '#' if word.is_none() => {
                chars.by_ref().find(|&n| n == '\n');
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            ' ' | '\t' => end_word(&mut word, &mut words),
            '\n' => {
                end_word(&mut word, &mut words);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    end_word(&mut word, &mut words);
    if !words.is_empty() {
        commands.push(words);
    }
    commands
}

#[test]
fn shell_words_reads_quotes_continuations_and_comments() {
    let text = "curl -i 'a b' \\\n  -d '{\"x\":\n 1}'   # note\n# only a comment\nbash .ci/run\n";
    assert_eq!(
        shell_words(text),
        [
            vec!["curl", "-i", "a b", "-d", "{\"x\":\n 1}"],
            vec!["bash", ".ci/run"]
        ]
    );
}

/// What a command printed, and how it ended.
struct Answer {
    /// The exit code; for `curl -i`, the HTTP status instead.
    status: i32,
    headers: String,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("location").then(|| value.trim())
            })
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Runs `program` with `args` in `dir`; `curl -i` output is split into status, headers and
/// body.
fn run(dir: &Path, program: &str, args: &[String]) -> Answer {
    let mut command = Command::new(program);
    if program == "curl" {
        // A bound on a hung server; curl's answer is otherwise as the README's.
        command.args(["--max-time", "20"]);
    }
    let out = command
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (bash .ci/run installs what is missing)"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().unwrap_or(-1);
    assert_eq!(
        code,
        0,
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match text.strip_prefix("HTTP/1.1 ") {
        Some(rest) if args.iter().any(|a| a == "-i") => {
            let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
            let status = head[..3].parse().expect("an HTTP status");
            Answer {
                status,
                headers: head.to_string(),
                body: body.to_string(),
            }
        }
        _ => Answer {
            status: code,
            headers: String::new(),
            body: text,
        },
    }
}

/// The click id in an offer URL of the demo (`click=` for offer 1042, `cid=` for 1043).
fn click_id_of(url: &str) -> String {
    query_param(url, "click")
        .or_else(|| query_param(url, "cid"))
        .unwrap_or_else(|| panic!("no click id in {url}"))
}

#[test]
fn the_quick_start_works_as_written_in_order() {
    let commands = quick_start_commands();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path();
    // The demo's configuration as a clone has it, on a free port.
    std::fs::create_dir_all(work.join("config/geo")).expect("config dir");
    for file in ["config/network.json", "config/geo/country.mmdb"] {
        std::fs::copy(root.join(file), work.join(file)).expect("copy the demo");
    }
    let settings = std::fs::read_to_string(root.join("config/smartlink.toml")).expect("demo");
    assert!(
        settings.contains("127.0.0.1:8080"),
        "the README names the demo's address"
    );
    std::fs::write(
        work.join("config/smartlink.toml"),
        settings.replace("127.0.0.1:8080", "127.0.0.1:0"),
    )
    .expect("settings");
    let shipped = std::fs::read(root.join("config/network.json")).expect("demo network");

    let mut server = None;
    let mut base = String::new();
    let mut click_id = String::new();
    let mut checked = 0;
    for words in &commands {
        let line = words.join(" ");
        let args: Vec<String> = words[1..]
            .iter()
            .map(|w| w.replace(README_BASE, &base).replace("CLICK_ID", &click_id))
            .collect();
        let (program, args) = match (words[0].as_str(), args.as_slice()) {
            ("cargo", [run, release]) if run == "run" && release == "--release" => {
                let binary = Binary::start_in(work, &[]);
                base = format!("http://{}", binary.addr);
                server = Some(binary);
                checked += 1;
                continue;
            }
            ("bash", [script]) if script == ".ci/run" => {
                // The script that runs this test.
                checked += 1;
                continue;
            }
            ("cargo", [run, release, dashes, rest @ ..])
                if run == "run" && release == "--release" && dashes == "--" =>
            {
                (env!("CARGO_BIN_EXE_smartlink"), rest.to_vec())
            }
            ("curl", _) => ("curl", args.clone()),
            _ => panic!("README quick start: no check for `{line}`"),
        };
        assert!(server.is_some(), "`{line}` comes before the server starts");
        let answer = run(work, program, &args);
        let has = |part: &str| line.contains(part);
        match checked {
            // curl's user agent is a bot: the link's fallback.
            2 if has("/sl?id=301") => {
                assert_eq!(answer.status, 302, "{line}");
                assert_eq!(answer.location(), "https://yourdomain.com/no-offer?sl=301");
            }
            // A US iPhone: offer 1042 or 1043.
            3 if has("/sl?id=301") && has("iPhone") => {
                assert_eq!(answer.status, 302, "{line}");
                let url = answer.location();
                assert!(
                    url.starts_with("https://safedrive.example.com/")
                        || url.starts_with("https://lendfast.example.com/"),
                    "{url}"
                );
                assert!(url.contains("spring"), "s1 reaches the offer: {url}");
                click_id = click_id_of(url);
            }
            4 if has("route --link 302") => {
                let report = answer.json();
                assert_eq!(report["client"]["country"], "GB");
                assert_eq!(report["client"]["device"], "desktop");
                assert_eq!(report["decision"]["outcome"], "routed");
                let offer = report["decision"]["offer_id"].as_u64();
                assert!(matches!(offer, Some(1043 | 1047)), "{report}");
            }
            5 if has(" check") => assert!(answer.body.contains("OK"), "{}", answer.body),
            6 if has("/p?click_id=") => assert_eq!(answer.json(), json!({"status": "recorded"})),
            7 if has("stats --link 301") => {
                // The server saves its counters every second: the command reads them.
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut stats = answer.json();
                while (stats["clicks"] != 2 || stats["conversions"] != 1)
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(200));
                    stats = run(work, program, &args).json();
                }
                assert_eq!(stats["clicks"], 2, "{stats}");
                assert_eq!(stats["routed"], 1, "{stats}");
                assert_eq!(stats["fallback"]["bot"], 1, "{stats}");
                assert_eq!(stats["conversions"], 1, "{stats}");
                assert_eq!(stats["revenue"], "12.50", "{stats}");
            }
            8 if has("campaigns.json") => {
                let list = answer.json();
                let campaigns = list["response"]["campaigns"].as_array().expect("campaigns");
                assert_eq!(campaigns.len(), 1, "{list}");
                assert_eq!(campaigns[0]["campaign_id"], 98001);
                assert_eq!(campaigns[0]["affiliate_id"], 67890);
            }
            9 if has("smart_link_offer.json") => {
                let r = answer.json();
                assert_eq!(r["request_status"], "Success", "{r}");
                assert_eq!(r["response"]["added"], true, "a new attachment: {r}");
                assert_eq!(r["response"]["offer_id"], 1045, "{r}");
                assert_eq!(r["response"]["priority"], 2, "{r}");
            }
            10 if has("batch.json") && has("creative.json") => {
                let r = answer.json();
                assert_eq!(r["request_status"], "Success", "{r}");
                assert_eq!(r["calls"][0]["creative"]["creative_id"], 4423, "{r}");
                assert_eq!(r["calls"][1]["campaign"]["creative_id"], 4423, "{r}");
            }
            11 if has("batch.json") && has("campaign_status") => {
                let r = answer.json();
                assert_eq!(r["request_status"], "Success", "{r}");
                assert_eq!(r["calls"][1]["campaign"]["campaign_status"], "active");
            }
            12 if has("audit --call batch.json") => {
                let lines: Vec<&str> = answer.body.lines().collect();
                assert_eq!(lines.len(), 2, "one record per batch: {}", answer.body);
                assert!(lines.iter().all(|l| l.contains("batch.json")));
            }
            13 if has("/rd/r.php?sid=98002") => {
                assert_eq!(answer.status, 302, "{line}");
                let url = answer.location();
                assert!(url.starts_with("https://lendfast.example.com/"), "{url}");
            }
            n => panic!("README quick start, command {n}: no check for `{line}`"),
        }
        checked += 1;
    }
    assert_eq!(checked, 14, "every command of the quick start is checked");

    // The demo's writes went to data/; the shipped catalog is as it was.
    let written =
        std::fs::read_to_string(work.join("data/network.json")).expect("data/network.json");
    assert!(
        written.contains("4423"),
        "the batch's creative is in the written catalog"
    );
    assert_eq!(
        std::fs::read(work.join("config/network.json")).expect("demo network"),
        shipped,
        "config/network.json stays as shipped"
    );
    let mut server = server.expect("the server ran");
    server.signal(libc::SIGTERM);
    assert_eq!(server.exit_code(Duration::from_secs(20)), Some(0));
}
