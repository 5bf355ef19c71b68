//! `[partner_postbacks]`: how conversions are told to affiliates (docs/operations.md,
//! "Partner postbacks").

use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPartnerPostbacks {
    enabled: Option<bool>,
    connect_timeout_ms: Option<u64>,
    timeout_ms: Option<u64>,
    concurrency: Option<usize>,
    per_host: Option<usize>,
    retry_initial_ms: Option<u64>,
    retry_max_interval_ms: Option<u64>,
    retry_for_ms: Option<u64>,
    max_body_bytes: Option<usize>,
    allowed_networks: Option<Vec<String>>,
    log_query_strings: Option<bool>,
    transaction_id_param: Option<String>,
}

/// `[partner_postbacks]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerPostbacks {
    /// `false`: conversions are recorded without a delivery (none is queued).
    pub enabled: bool,
    /// Longest wait for a receiver to accept the connection.
    pub connect_timeout: Duration,
    /// Longest wait for one whole attempt.
    pub timeout: Duration,
    /// Most deliveries in flight at once, all receivers together.
    pub concurrency: usize,
    /// Most deliveries in flight to one receiver host.
    pub per_host: usize,
    /// The wait before the first retry; each later wait doubles, with jitter.
    pub retry_initial: Duration,
    /// The longest wait between two attempts.
    pub retry_max_interval: Duration,
    /// How long after its conversion a delivery is retried before it is `failed`.
    pub retry_for: Duration,
    /// Most bytes of a receiver's answer read.
    pub max_body_bytes: usize,
    /// Networks receivers may be on although they are loopback, private, link-local, ...
    pub allowed_networks: Vec<IpNet>,
    /// Whether the delivery log and the API show the query strings of delivered URLs (they
    /// may hold an affiliate's secrets).
    pub log_query_strings: bool,
    /// The sub id that carries the affiliate's own click id, which a conversion's
    /// `{transaction_id}` renders (0 for `s1` .. 4 for `s5`, as `Macro::Sub`); `None`: none
    /// does. Read per click from the snapshot, so a reload changes it for the clicks after.
    pub transaction_id_param: Option<u8>,
}

impl Default for PartnerPostbacks {
    fn default() -> Self {
        PartnerPostbacks {
            enabled: true,
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            concurrency: 64,
            per_host: 4,
            retry_initial: Duration::from_secs(2),
            retry_max_interval: Duration::from_secs(600),
            retry_for: Duration::from_secs(24 * 3600),
            max_body_bytes: 64 * 1024,
            allowed_networks: Vec::new(),
            log_query_strings: false,
            transaction_id_param: Some(1),
        }
    }
}

impl super::Validator<'_> {
    pub(super) fn partner_postbacks(&mut self, raw: RawPartnerPostbacks) -> PartnerPostbacks {
        let d = PartnerPostbacks::default();
        let ms = |d: Duration| d.as_millis() as u64;
        let millis = |v: &mut Self, key: &str, value: Option<u64>, default: Duration| {
            Duration::from_millis(v.positive(
                &format!("partner_postbacks.{key}"),
                value,
                ms(default),
            ))
        };
        let connect_timeout = millis(
            self,
            "connect_timeout_ms",
            raw.connect_timeout_ms,
            d.connect_timeout,
        );
        let timeout = millis(self, "timeout_ms", raw.timeout_ms, d.timeout);
        let retry_initial = millis(
            self,
            "retry_initial_ms",
            raw.retry_initial_ms,
            d.retry_initial,
        );
        let retry_max_interval = millis(
            self,
            "retry_max_interval_ms",
            raw.retry_max_interval_ms,
            d.retry_max_interval,
        );
        let retry_for = millis(self, "retry_for_ms", raw.retry_for_ms, d.retry_for);
        if retry_max_interval < retry_initial {
            self.fail(
                "partner_postbacks.retry_max_interval_ms",
                "must be at least partner_postbacks.retry_initial_ms",
            );
        }
        PartnerPostbacks {
            enabled: raw.enabled.unwrap_or(d.enabled),
            connect_timeout,
            timeout,
            concurrency: self.positive(
                "partner_postbacks.concurrency",
                raw.concurrency,
                d.concurrency,
            ),
            per_host: self.positive("partner_postbacks.per_host", raw.per_host, d.per_host),
            retry_initial,
            retry_max_interval,
            retry_for,
            max_body_bytes: self.positive(
                "partner_postbacks.max_body_bytes",
                raw.max_body_bytes,
                d.max_body_bytes,
            ),
            allowed_networks: self.networks(
                "partner_postbacks.allowed_networks",
                raw.allowed_networks.unwrap_or_default(),
            ),
            log_query_strings: raw.log_query_strings.unwrap_or(d.log_query_strings),
            transaction_id_param: match raw.transaction_id_param.as_deref() {
                None => d.transaction_id_param,
                Some("" | "none") => None,
                Some(name) => match name.strip_prefix('s').and_then(|n| n.parse::<u8>().ok()) {
                    Some(n @ 1..=5) if name.len() == 2 => Some(n - 1),
                    _ => {
                        self.fail(
                            "partner_postbacks.transaction_id_param",
                            "must be one of s1, s2, s3, s4, s5, or \"none\"",
                        );
                        d.transaction_id_param
                    }
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::settings::Settings;

    fn param(line: &str) -> Result<Option<u8>, Vec<String>> {
        let text = format!(
            "[server]\ndefault_fallback_url = \"https://example.com/\"\n[tracking]\nclick_secret = \"0123456789abcdef0123\"\n[partner_postbacks]\n{line}\n"
        );
        Settings::parse(Path::new("t.toml"), &text, &|_| None)
            .map(|s| s.partner_postbacks.transaction_id_param)
            .map_err(|e| e.errors.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn the_transaction_id_param_is_a_sub_id_or_none() {
        assert_eq!(param(""), Ok(Some(1)), "default s2");
        assert_eq!(param("transaction_id_param = \"s1\""), Ok(Some(0)));
        assert_eq!(param("transaction_id_param = \"s5\""), Ok(Some(4)));
        assert_eq!(param("transaction_id_param = \"none\""), Ok(None));
        assert_eq!(param("transaction_id_param = \"\""), Ok(None));
        for bad in ["s0", "s6", "s12", "S1", "sub1", "1", "s+1"] {
            let errors = param(&format!("transaction_id_param = \"{bad}\"")).unwrap_err();
            assert!(
                errors.len() == 1 && errors[0].contains("partner_postbacks.transaction_id_param"),
                "{bad}: {errors:?}"
            );
        }
    }
}
