//! The `[api]` and `[postbacks]` sections: who may call the management API and post
//! conversions (keys and their roles, tokens, networks), and how large a request may be;
//! and the one comparison of a secret a request gives.

use ipnet::IpNet;
use serde::Deserialize;

use super::{ENV_API_KEYS, ENV_API_READ_KEYS, ENV_POSTBACK_TOKEN};

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
    read_keys: Option<Vec<String>>,
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
    /// Administrators' keys: every call.
    pub keys: Vec<String>,
    /// Read-only keys: every read; every write is refused (`403`).
    pub read_keys: Vec<String>,
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
            read_keys: Vec::new(),
            allowed_networks: Vec::new(),
            max_body_bytes: 65_536,
            // 1,000 calls of a few kilobytes each (an attachment with long condition lists).
            max_batch_body_bytes: 4 << 20,
        }
    }
}

/// What an API key may do: `api.keys` are administrators, `api.read_keys` read only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Admin,
    ReadOnly,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Admin => "admin",
            Access::ReadOnly => "read_only",
        }
    }
}

impl Api {
    /// What `key` may do: `None` when it is no configured key. Each key is compared in time
    /// independent of where they differ.
    pub fn access(&self, key: &str) -> Option<Access> {
        let holds = |keys: &[String]| {
            keys.iter()
                .fold(false, |found, k| found | secret_matches(k, key))
        };
        if holds(&self.keys) {
            Some(Access::Admin)
        } else if holds(&self.read_keys) {
            Some(Access::ReadOnly)
        } else {
            None
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
        let keys = self.keys("api.keys", env(ENV_API_KEYS), raw.keys.unwrap_or(d.keys));
        let read_keys = self.keys(
            "api.read_keys",
            env(ENV_API_READ_KEYS),
            raw.read_keys.unwrap_or(d.read_keys),
        );
        if read_keys.iter().any(|k| keys.contains(k)) {
            self.fail(
                "api.read_keys",
                "a key is also in api.keys; a key has one role",
            );
        }
        Api {
            keys,
            read_keys,
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

    /// A list of keys: the environment's (comma-separated) when set, else the file's; none
    /// empty.
    fn keys(&mut self, key: &str, env: Option<String>, listed: Vec<String>) -> Vec<String> {
        let keys: Vec<String> = match env.filter(|s| !s.trim().is_empty()) {
            Some(list) => list
                .split(',')
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect(),
            None => listed,
        };
        if keys.iter().any(|k| k.is_empty()) {
            self.fail(key, "an api key must not be empty");
        }
        keys
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
