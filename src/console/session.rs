//! Console sessions (docs/console.md#sessions): an API key exchanged for a signed session
//! token, carried by an `HttpOnly`, `SameSite=Strict` cookie; the anti-CSRF token of its
//! writes; sign-out; and the per-client limit on sign-in attempts.
//!
//! A token is stateless: `base64url(id ‖ expiry ‖ key fingerprint) . base64url(HMAC)`. The
//! HMAC key is derived from `tracking.click_secret` and an *epoch*, and the MAC covers the
//! API key itself, so that forging a session needs the click secret and the key, a session
//! ends when its key is removed from the settings, and any node holding the same secrets
//! accepts it. Standalone, the epoch is random per process: a restart signs everybody out
//! and sign-outs (kept in memory until their session would have expired) never need to
//! outlive the process. In cluster mode the epoch is empty, so every node derives the same
//! key; a sign-out is kept in Redis until the session's expiry (`redis::console`), and
//! every node asks Redis on every cookie-authenticated call (the caller, `api::session`,
//! does that; this module knows nothing of Redis).
//!
//! The anti-CSRF token is an HMAC of the session id: any node can check it, nothing is
//! stored, and it means nothing without the cookie.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::settings::{Access, Settings};

/// The cookie's name.
pub const COOKIE: &str = "smartlink_session";
/// The cookie's path: only API calls carry it (the console's files need no session).
pub const COOKIE_PATH: &str = "/api/2/";
/// The header that carries the anti-CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

const ID: usize = 16;
/// Bytes of the fingerprint (`audit::fingerprint`, 12 hex digits) in a token.
const FINGERPRINT: usize = 6;
const PAYLOAD: usize = ID + 8 + FINGERPRINT;
/// Bytes of the anti-CSRF token's HMAC kept (128 bits).
const CSRF: usize = 16;
/// Clients whose sign-in attempts are remembered at once; beyond it the oldest windows
/// are dropped, and when all are current a new client is refused until one ends.
const MAX_CLIENTS: usize = 10_000;
/// The window of the sign-in limit.
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(60);

type HmacSha256 = Hmac<Sha256>;

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: [u8; ID],
    /// Unix seconds.
    pub expires: i64,
    /// The fingerprint of the key it was opened with (`audit::fingerprint`).
    pub key: String,
    /// What that key may do now.
    pub access: Access,
}

impl Session {
    /// The id as hex (the name of its revocation in Redis).
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Why a session token is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a token, or a signature that does not hold (forged, or signed by another epoch
    /// or click secret, or for a key no longer configured).
    Invalid,
    Expired,
    /// Signed out.
    Revoked,
}

/// The sessions of this process: how tokens are signed, the sign-outs seen here, and the
/// sign-in limiter.
pub struct Sessions {
    epoch: [u8; 32],
    /// Sign-outs seen by this process: id → expiry (Unix seconds), dropped once expired.
    revoked: Mutex<HashMap<[u8; ID], i64>>,
    attempts: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    attempts: u32,
}

/// Sign-in refused by the limit: when the client may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

impl Sessions {
    /// `clustered`: every node derives the same signing key (cluster mode); otherwise this
    /// process signs with a key of its own.
    pub fn new(clustered: bool) -> Sessions {
        Sessions {
            epoch: if clustered { [0; 32] } else { rand::random() },
            revoked: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, settings: &Settings) -> HmacSha256 {
        let mut derive = HmacSha256::new_from_slice(&settings.tracking.click_secret)
            .expect("HMAC accepts keys of any length");
        derive.update(b"smartlink console session v1\0");
        derive.update(&self.epoch);
        let key = derive.finalize().into_bytes();
        HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length")
    }

    /// A new session for `api_key` (a configured key) from `now` (Unix seconds): its
    /// token, and the session.
    pub fn open(&self, settings: &Settings, api_key: &str, now: i64) -> Option<(String, Session)> {
        let access = settings.api.access(api_key)?;
        let session = Session {
            id: rand::random(),
            expires: now.saturating_add(settings.console.session_ttl.as_secs() as i64),
            key: crate::audit::fingerprint(api_key),
            access,
        };
        let mut payload = [0u8; PAYLOAD];
        payload[..ID].copy_from_slice(&session.id);
        payload[ID..ID + 8].copy_from_slice(&session.expires.to_be_bytes());
        payload[ID + 8..].copy_from_slice(&fingerprint_bytes(&session.key)?);
        let mut mac = self.mac(settings);
        mac.update(&payload);
        mac.update(api_key.as_bytes());
        let tag = mac.finalize().into_bytes();
        let token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        );
        Some((token, session))
    }

    /// The session of `token` at `now` (Unix seconds), checked against the settings in force
    /// and this process's sign-outs (cluster mode: the caller also asks Redis).
    pub fn verify(&self, settings: &Settings, token: &str, now: i64) -> Result<Session, Refused> {
        let (payload, tag) = token.split_once('.').ok_or(Refused::Invalid)?;
        let payload = decode::<PAYLOAD>(payload).ok_or(Refused::Invalid)?;
        let tag = decode::<32>(tag).ok_or(Refused::Invalid)?;
        let fingerprint: String = payload[ID + 8..]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // The key it names, if it is still configured (each compared in full by its MAC).
        let key = settings
            .api
            .keys
            .iter()
            .chain(&settings.api.read_keys)
            .find(|k| crate::audit::fingerprint(k) == fingerprint)
            .ok_or(Refused::Invalid)?;
        let mut mac = self.mac(settings);
        mac.update(&payload);
        mac.update(key.as_bytes());
        mac.verify_slice(&tag).map_err(|_| Refused::Invalid)?;
        let id: [u8; ID] = payload[..ID].try_into().map_err(|_| Refused::Invalid)?;
        let expires = i64::from_be_bytes(
            payload[ID..ID + 8]
                .try_into()
                .map_err(|_| Refused::Invalid)?,
        );
        if now >= expires {
            return Err(Refused::Expired);
        }
        if self.lock_revoked().contains_key(&id) {
            return Err(Refused::Revoked);
        }
        Ok(Session {
            id,
            expires,
            key: fingerprint,
            access: settings.api.access(key).ok_or(Refused::Invalid)?,
        })
    }

    /// The anti-CSRF token of `session`.
    pub fn csrf_token(&self, settings: &Settings, session: &Session) -> String {
        let mut mac = self.mac(settings);
        mac.update(b"csrf\0");
        mac.update(&session.id);
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..CSRF])
    }

    /// Whether `given` is the anti-CSRF token of `session` (compared in constant time).
    pub fn csrf_holds(&self, settings: &Settings, session: &Session, given: &str) -> bool {
        crate::settings::secret_matches(&self.csrf_token(settings, session), given)
    }

    /// Remembers the sign-out of `session` until it would have expired; forgets those
    /// already expired at `now`.
    pub fn revoke(&self, session: &Session, now: i64) {
        let mut revoked = self.lock_revoked();
        revoked.retain(|_, &mut expires| expires > now);
        revoked.insert(session.id, session.expires);
    }

    fn lock_revoked(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; ID], i64>> {
        self.revoked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one sign-in attempt of `client` at `now`: refused when it has already made
    /// `per_minute` in the current window (a fixed window of [`SIGN_IN_WINDOW`] from its
    /// first attempt). IPv6 clients are counted by their /64, which one host usually holds
    /// whole.
    pub fn sign_in_attempt(
        &self,
        client: IpAddr,
        per_minute: u32,
        now: Instant,
    ) -> Result<(), Limited> {
        let client = match client.to_canonical() {
            IpAddr::V6(v6) => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
            v4 => v4,
        };
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let ended = |w: &Window| now.duration_since(w.started) >= SIGN_IN_WINDOW;
        if attempts.len() >= MAX_CLIENTS && !attempts.contains_key(&client) {
            attempts.retain(|_, w| !ended(w));
            if attempts.len() >= MAX_CLIENTS {
                // Too many clients at once: refuse newcomers rather than forget counts.
                return Err(Limited {
                    retry_after: SIGN_IN_WINDOW,
                });
            }
        }
        let window = attempts.entry(client).or_insert(Window {
            started: now,
            attempts: 0,
        });
        if ended(window) {
            *window = Window {
                started: now,
                attempts: 0,
            };
        }
        if window.attempts >= per_minute {
            return Err(Limited {
                retry_after: SIGN_IN_WINDOW.saturating_sub(now.duration_since(window.started)),
            });
        }
        window.attempts += 1;
        Ok(())
    }
}

fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    // base64url of N bytes is at most this long; longer text is refused before decoding.
    if text.len() > N.div_ceil(3) * 4 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()
}

fn fingerprint_bytes(hex: &str) -> Option<[u8; FINGERPRINT]> {
    let mut out = [0u8; FINGERPRINT];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The `Set-Cookie` value of a new session: `HttpOnly`, `SameSite=Strict`, for the API's
/// path only, expiring with the session; `Secure` when asked.
pub fn set_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path={COOKIE_PATH}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", Duration::ZERO, secure)
}

/// The session token among the `Cookie` headers' values, if one is there.
pub fn token_in<'a>(cookie_headers: impl IntoIterator<Item = &'a [u8]>) -> Option<&'a str> {
    cookie_headers
        .into_iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then_some(value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings(extra: &str) -> Settings {
        Settings::parse(
            Path::new("t.toml"),
            &format!(
                "[server]\ndefault_fallback_url = \"https://f.example/\"\n[tracking]\nclick_secret = \"0123456789abcdef0123\"\n[api]\nkeys = [\"admin-key\"]\nread_keys = [\"read-key\"]\n{extra}"
            ),
            &|_| None,
        )
        .expect("valid settings")
    }

    #[test]
    fn a_session_holds_until_it_expires_and_names_its_role() {
        let s = settings("");
        let sessions = Sessions::new(false);
        let (token, opened) = sessions.open(&s, "admin-key", 1000).unwrap();
        assert_eq!(opened.access, Access::Admin);
        assert_eq!(opened.expires, 1000 + 480 * 60);
        assert_eq!(sessions.verify(&s, &token, 1001), Ok(opened.clone()));
        assert_eq!(
            sessions.verify(&s, &token, opened.expires),
            Err(Refused::Expired)
        );
        let (token, read) = sessions.open(&s, "read-key", 1000).unwrap();
        assert_eq!(read.access, Access::ReadOnly);
        assert_eq!(
            sessions.verify(&s, &token, 1000).unwrap().access,
            Access::ReadOnly
        );
        assert!(sessions.open(&s, "nobody", 1000).is_none());
    }

    #[test]
    fn a_changed_byte_a_removed_key_or_another_process_refuses_the_token() {
        let s = settings("");
        let sessions = Sessions::new(false);
        let (token, _) = sessions.open(&s, "admin-key", 1000).unwrap();
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            if changed != token {
                assert_eq!(
                    sessions.verify(&s, &changed, 1001),
                    Err(Refused::Invalid),
                    "byte {i}"
                );
            }
        }
        for garbage in ["", ".", "a.b", "x", &"A".repeat(5000)] {
            assert_eq!(sessions.verify(&s, garbage, 1001), Err(Refused::Invalid));
        }
        let mut without_key = s.clone();
        without_key.api.keys = vec!["another".into()];
        assert_eq!(
            sessions.verify(&without_key, &token, 1001),
            Err(Refused::Invalid),
            "removing a key ends its sessions"
        );
        assert_eq!(
            Sessions::new(false).verify(&s, &token, 1001),
            Err(Refused::Invalid),
            "a restart (a new epoch) ends every session"
        );
    }

    #[test]
    fn cluster_nodes_accept_each_others_sessions() {
        let s = settings("");
        let (token, session) = Sessions::new(true).open(&s, "admin-key", 1000).unwrap();
        let other = Sessions::new(true);
        assert_eq!(other.verify(&s, &token, 1001), Ok(session.clone()));
        assert_eq!(
            other.csrf_token(&s, &session),
            Sessions::new(true).csrf_token(&s, &session)
        );
    }

    #[test]
    fn sign_out_revokes_and_csrf_tokens_belong_to_their_session() {
        let s = settings("");
        let sessions = Sessions::new(false);
        let (token, one) = sessions.open(&s, "admin-key", 1000).unwrap();
        let (_, two) = sessions.open(&s, "admin-key", 1000).unwrap();
        let csrf = sessions.csrf_token(&s, &one);
        assert!(sessions.csrf_holds(&s, &one, &csrf));
        assert!(!sessions.csrf_holds(&s, &two, &csrf));
        assert!(!sessions.csrf_holds(&s, &one, ""));
        sessions.revoke(&one, 1001);
        assert_eq!(sessions.verify(&s, &token, 1002), Err(Refused::Revoked));
    }

    #[test]
    fn sign_in_attempts_are_limited_per_client_and_window() {
        let sessions = Sessions::new(false);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(sessions.sign_in_attempt(a, 3, t0).is_ok());
        }
        let limited = sessions.sign_in_attempt(a, 3, t0 + Duration::from_secs(10));
        assert_eq!(
            limited,
            Err(Limited {
                retry_after: Duration::from_secs(50)
            })
        );
        assert!(
            sessions
                .sign_in_attempt("192.0.2.2".parse().unwrap(), 3, t0)
                .is_ok()
        );
        assert!(sessions.sign_in_attempt(a, 3, t0 + SIGN_IN_WINDOW).is_ok());
        // One IPv6 /64 is one client.
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(sessions.sign_in_attempt(v6("2001:db8::1"), 1, t0).is_ok());
        assert!(sessions.sign_in_attempt(v6("2001:db8::2"), 1, t0).is_err());
    }

    #[test]
    fn cookies_carry_their_flags_and_are_found_among_others() {
        let c = set_cookie("tok", Duration::from_secs(60), true);
        assert_eq!(
            c,
            "smartlink_session=tok; Path=/api/2/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!clear_cookie(false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        let headers: [&[u8]; 2] = [b"a=1; b=2", b"x=y; smartlink_session=abc.def; z=1"];
        assert_eq!(token_in(headers), Some("abc.def"));
        assert_eq!(token_in([b"smartlink_session=".as_slice()]), None);
        assert_eq!(token_in([b"smartlink_sessionx=1".as_slice()]), None);
    }
}
