//! The `[api]` and `[postbacks]` sections: who may call the management API and post
//! conversions (keys, tokens, networks), and how large a request may be; and the one
//! comparison of a secret a request gives.

use ipnet::IpNet;
use serde::Deserialize;

use super::{ENV_API_KEYS, ENV_POSTBACK_TOKEN};

/// Whether `given` is the secret `expected` (an API key, a postback token), compared in
/// time independent of where they differ (`subtle`).
pub fn secret_matches(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// `[api]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    keys: Option<Vec<String>>,
    allowed_networks: Option<Vec<String>>,
    max_body_bytes: Option<usize>,
    max_batch_body_bytes: Option<usize>,
}

/// `[postbacks]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPostbacks {
    token: Option<String>,
    allowed_networks: Option<Vec<String>>,
}

/// The management API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Api {
    pub keys: Vec<String>,
    /// Clients that may call the API; empty: any (that has a key).
    pub allowed_networks: Vec<IpNet>,
    /// Largest request body; `413` beyond it.
    pub max_body_bytes: usize,
    /// Largest body of a `batch.json` call (up to 1,000 calls); `413` beyond it.
    pub max_batch_body_bytes: usize,
}

impl Default for Api {
    fn default() -> Api {
        Api {
            keys: Vec::new(),
            allowed_networks: Vec::new(),
            max_body_bytes: 65_536,
            // 1,000 calls of a few kilobytes each (an attachment with long condition lists).
            max_batch_body_bytes: 4 << 20,
        }
    }
}

/// Conversions posted back (`/p`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Postbacks {
    /// The token every postback must carry (`token=`), unless its click's offer has its own.
    pub token: Option<String>,
    /// Sources that may post conversions; empty: any.
    pub allowed_networks: Vec<IpNet>,
}

impl super::Validator<'_> {
    pub(super) fn api(&mut self, raw: RawApi, env: super::Env) -> Api {
        let d = Api::default();
        let keys = match env(ENV_API_KEYS).filter(|s| !s.trim().is_empty()) {
            Some(list) => list
                .split(',')
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect(),
            None => raw.keys.unwrap_or(d.keys),
        };
        if keys.iter().any(|k| k.is_empty()) {
            self.fail("api.keys", "an api key must not be empty");
        }
        Api {
            keys,
            allowed_networks: self.networks(
                "api.allowed_networks",
                raw.allowed_networks.unwrap_or_default(),
            ),
            max_body_bytes: self.positive(
                "api.max_body_bytes",
                raw.max_body_bytes,
                d.max_body_bytes,
            ),
            max_batch_body_bytes: self.positive(
                "api.max_batch_body_bytes",
                raw.max_batch_body_bytes,
                d.max_batch_body_bytes,
            ),
        }
    }

    pub(super) fn postbacks(&mut self, raw: RawPostbacks, env: super::Env) -> Postbacks {
        let token = env(ENV_POSTBACK_TOKEN)
            .filter(|t| !t.is_empty())
            .or(raw.token);
        if let Some(token) = &token
            && let Err(message) = crate::catalog::validate::check_token(token)
        {
            self.fail("postbacks.token", message);
        }
        Postbacks {
            token,
            allowed_networks: self.networks(
                "postbacks.allowed_networks",
                raw.allowed_networks.unwrap_or_default(),
            ),
        }
    }
}
