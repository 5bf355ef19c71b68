//! `smartlink deliveries`: the partner postback deliveries of the state directory's logs,
//! newest first, one JSON object a line (docs/operations.md#partner-postbacks).

use std::path::Path;
use std::process::ExitCode;

/// `smartlink deliveries [--affiliate ID] [--status S] [--hours H]`.
pub fn deliveries(
    config: &Path,
    affiliate: Option<u32>,
    status: Option<&str>,
    hours: u32,
) -> ExitCode {
    match text(config, affiliate, status, hours) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn text(
    config: &Path,
    affiliate: Option<u32>,
    status: Option<&str>,
    hours: u32,
) -> Result<String, String> {
    if let Some(s) = status
        && !["pending", "delivered", "failed"].contains(&s)
    {
        return Err(format!(
            "--status {s:?} is not one of pending, delivered, failed"
        ));
    }
    let settings = super::settings(config)?;
    let now = jiff::Timestamp::now().as_millisecond();
    let from = now - i64::from(hours) * 3_600_000;
    let all = crate::partner::log::statuses(
        &settings.state_dir,
        from,
        now + 1,
        settings.partner_postbacks.log_query_strings,
    )
    .map_err(|e| {
        format!(
            "cannot read the logs in {}: {e}",
            crate::files::Resolved(&settings.state_dir)
        )
    })?;
    let mut out = String::new();
    for s in all.iter().filter(|s| {
        affiliate.is_none_or(|a| a == s.affiliate_id) && status.is_none_or(|w| w == s.status)
    }) {
        out += &serde_json::to_string(s).unwrap_or_default();
        out.push('\n');
    }
    Ok(out)
}
