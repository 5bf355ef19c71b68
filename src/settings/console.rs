//! The `[console]` section: the operator console (docs/console.md).

use std::time::Duration;

use serde::Deserialize;

/// `[console]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    enabled: Option<bool>,
    secure_cookie: Option<bool>,
    session_ttl_minutes: Option<u64>,
    sign_in_attempts_per_minute: Option<u32>,
}

/// The operator console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Console {
    /// Serve `/console/` (on the admin listener when there is one).
    pub enabled: bool,
    /// Mark the session cookie `Secure` even when the request did not come over https.
    pub secure_cookie: bool,
    /// How long a session lasts after its sign-in.
    pub session_ttl: Duration,
    /// Sign-in attempts one client may make per minute; beyond them `429`.
    pub sign_in_attempts_per_minute: u32,
}

impl Default for Console {
    fn default() -> Console {
        Console {
            enabled: true,
            secure_cookie: false,
            session_ttl: Duration::from_secs(8 * 3600),
            sign_in_attempts_per_minute: 10,
        }
    }
}

/// The bounds of `console.session_ttl_minutes`: 5 minutes to 30 days.
const SESSION_MINUTES: std::ops::RangeInclusive<u64> = 5..=43_200;

impl super::Validator<'_> {
    pub(super) fn console(&mut self, raw: RawConsole) -> Console {
        let d = Console::default();
        let session_ttl = match raw.session_ttl_minutes {
            None => d.session_ttl,
            Some(m) if SESSION_MINUTES.contains(&m) => Duration::from_secs(m * 60),
            Some(_) => {
                self.fail(
                    "console.session_ttl_minutes",
                    "must be between 5 and 43200 (30 days)",
                );
                d.session_ttl
            }
        };
        Console {
            enabled: raw.enabled.unwrap_or(d.enabled),
            secure_cookie: raw.secure_cookie.unwrap_or(d.secure_cookie),
            session_ttl,
            sign_in_attempts_per_minute: self.positive(
                "console.sign_in_attempts_per_minute",
                raw.sign_in_attempts_per_minute,
                d.sign_in_attempts_per_minute,
            ),
        }
    }
}
