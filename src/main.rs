//! `smartlink`: the command line. Parsing only; the commands live in `smartlink::cli`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "smartlink",
    version,
    about = "Smart-link click routing for affiliate networks"
)]
struct Cli {
    /// Settings file (TOML); before or after the command.
    #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve in the foreground (the default command).
    ///
    /// Environment: SMARTLINK_CLICK_SECRET, SMARTLINK_API_KEYS (a comma list),
    /// SMARTLINK_POSTBACK_TOKEN and, when the settings have a [cluster] section,
    /// SMARTLINK_REDIS_URL replace their settings; RUST_LOG replaces log.level.
    ///
    /// Signals: SIGHUP re-reads settings, catalog and GeoIP database and swaps them in (a bad
    /// one keeps the old); SIGTERM and SIGINT drain (requests in flight get
    /// server.shutdown_grace_ms), flush the logs and counters, and exit.
    ///
    /// Exit status: 0 after a clean shutdown; 64 invalid configuration; 1 runtime failure
    /// (port in use, state directory unwritable or owned by another process).
    Serve,
    /// Validate settings, catalog and GeoIP database; print a summary or every problem.
    Check,
    /// Ask the running server for /readyz on server.listen; exit 0 when it answers 200
    /// (a health check that needs no curl).
    Ready {
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Ask the running server what destination health checks found: every offer and landing
    /// page with its state (up, down, pending, unchecked), last check, latency and last error.
    Health {
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// Print, as JSON, where a click would go and why; records nothing.
    ///
    /// The click has only what the options give it: without --ua its user agent is empty,
    /// which classifies as a bot (sent to the fallback unless routing.bots = "route");
    /// without --ip it comes from 127.0.0.1, a trusted proxy in the demo settings, so
    /// --header 'X-Forwarded-For: ...' sets its address.
    Route {
        /// Smart link id.
        #[arg(long)]
        link: u32,
        /// Client address, as the TCP peer (default 127.0.0.1).
        #[arg(long)]
        ip: Option<IpAddr>,
        /// User-Agent header (default empty: a bot).
        #[arg(long)]
        ua: Option<String>,
        /// Extra request header, 'Name: value' (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// Sub id of the click, 's1=value' .. 's5=value' (repeatable).
        #[arg(long = "sub")]
        subs: Vec<String>,
        /// The click's time, RFC 3339 (e.g. 2026-12-01T18:30:00Z; default now): for
        /// schedules and cap windows.
        #[arg(long)]
        at: Option<String>,
    },
    /// Validate a catalog file and publish it as the cluster's next shared catalog.
    Push {
        /// The catalog file (default: the settings' catalog.path).
        file: Option<PathBuf>,
    },
    /// Print the audit log: one record per catalog change (API write, batch, push, a changed
    /// file at SIGHUP), oldest first.
    Audit {
        /// Only records at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only records before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Only records of this call (update_campaign.json, batch.json, push, SIGHUP).
        #[arg(long)]
        call: Option<String>,
        /// Only records of the API key with this fingerprint (as the records show it).
        #[arg(long)]
        key: Option<String>,
        /// Print the records as stored: one JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Print the partner postback deliveries of the state directory's logs, newest first, one
    /// JSON object a line: conversion id, affiliate, URL (query string hidden unless
    /// partner_postbacks.log_query_strings), status, attempts, last answer or error.
    Deliveries {
        /// Only this affiliate's deliveries.
        #[arg(long)]
        affiliate: Option<u32>,
        /// Only deliveries in this state: pending, delivered or failed.
        #[arg(long)]
        status: Option<String>,
        /// Deliveries of the last H hours (their conversion or last attempt).
        #[arg(long, default_value_t = 24)]
        hours: u32,
    },
    /// Print, as JSON, the statistics saved in the state directory (per smart link and
    /// offer); in cluster mode the cluster's, with each node's share.
    Stats {
        /// Only this smart link, with its attached offers' figures (not the network's
        /// offer list).
        #[arg(long)]
        link: Option<u32>,
        /// Only this affiliate: its clicks, conversions, revenue, cost, profit and margin,
        /// with each of its smart links' and campaigns'.
        #[arg(long, conflicts_with = "link")]
        affiliate: Option<u32>,
        /// Only the hours from this RFC 3339 date-time on (taken to its hour, inclusive).
        #[arg(long)]
        from: Option<String>,
        /// Only the hours before this RFC 3339 date-time (taken to its hour, exclusive).
        #[arg(long)]
        to: Option<String>,
    },
    /// Print, as JSON, what the catalog in FILE would have done to the clicks of this
    /// node's click log, beside the catalog served: per smart link it changes, clicks by
    /// offer and fallback before and after, fill rates and the clicks that move. Changes
    /// nothing.
    Preview {
        /// The changed catalog (a whole network file).
        file: PathBuf,
        /// The last this many hours of the click log.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=744))]
        hours: u32,
        /// Only this smart link, changed or not.
        #[arg(long)]
        link: Option<u32>,
    },
    /// Replay synthetic traffic through the real decision code and print, as a markdown
    /// table, the EPC of optimized rotation, static weights, "80/20 to the best 7-day EPC"
    /// and the oracle. Needs no settings.
    Simulate {
        /// Runs per strategy (the table shows their means).
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// How often, in simulated minutes, weights are recomputed.
        #[arg(long, default_value_t = 10)]
        recompute_minutes: u32,
        /// `default`, `change` (the best offer changes on day 15) or `both`.
        #[arg(long, default_value = "both")]
        scenario: String,
    },
}

const DEFAULT_CONFIG: &str = "config/smartlink.toml";

fn main() -> ExitCode {
    let Cli { config, command } = Cli::parse();
    match command.unwrap_or(Command::Serve) {
        Command::Serve => smartlink::cli::serve(&config),
        Command::Check => smartlink::cli::check(&config),
        Command::Ready { timeout_ms } => {
            smartlink::cli::ready(&config, std::time::Duration::from_millis(timeout_ms))
        }
        Command::Health { json, timeout_ms } => {
            smartlink::cli::health(&config, json, std::time::Duration::from_millis(timeout_ms))
        }
        Command::Route {
            link,
            ip,
            ua,
            headers,
            subs,
            at,
        } => smartlink::cli::route(&smartlink::cli::RouteArgs {
            config: &config,
            link,
            ip,
            user_agent: ua.as_deref(),
            headers: &headers,
            subs: &subs,
            at: at.as_deref(),
        }),
        Command::Stats {
            link,
            affiliate,
            from,
            to,
        } => smartlink::cli::stats(&config, (link, affiliate), from.as_deref(), to.as_deref()),
        Command::Preview { file, hours, link } => {
            smartlink::cli::preview(&smartlink::cli::PreviewArgs {
                config: &config,
                file: &file,
                hours,
                link,
            })
        }
        Command::Simulate {
            seeds,
            recompute_minutes,
            scenario,
        } => smartlink::cli::simulate(&scenario, seeds, recompute_minutes),
        Command::Deliveries {
            affiliate,
            status,
            hours,
        } => smartlink::cli::deliveries(&config, affiliate, status.as_deref(), hours),
        Command::Push { file } => smartlink::cli::push(&config, file.as_deref()),
        Command::Audit {
            since,
            until,
            call,
            key,
            json,
        } => smartlink::cli::audit(&smartlink::cli::AuditArgs {
            config: &config,
            since: since.as_deref(),
            until: until.as_deref(),
            call: call.as_deref(),
            key: key.as_deref(),
            json,
        }),
    }
}
