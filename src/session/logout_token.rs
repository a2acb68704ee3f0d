//! OIDC Back-Channel Logout 1.0 (SPEC §12): the `logout_token` Auth0 posts
//! to `POST /session/backchannel-logout` when it ends a user's session,
//! verified against the tenant's published keys before anything is marked.
//!
//! The signature and the registered claims (`iss`, `aud`, `exp`) are the
//! `jsonwebtoken` crate's; the rules particular to a logout token (`iat`,
//! `events`, no `nonce`, `sid` or `sub`) are [`check_logout_claims`].
//!
//! The keys come from `{auth0.domain}/.well-known/jwks.json`, kept for at
//! most an hour. Anyone can post to the route, so what a caller can make the
//! gateway fetch is bounded: a token whose `kid` is unknown fetches the key
//! set again at most once every 10 s, however many such tokens arrive, and
//! only the keys of the last answer are kept.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::settings::Auth0Settings;

/// The `events` member that makes a JWT a logout token (OIDC Back-Channel
/// Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The longest a fetched key set is used (SPEC §12): a key Auth0 rotated
/// out stops verifying within the hour.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);

/// The shortest time between two fetches of the key set (SPEC §12), so a
/// flood of tokens naming random `kid`s costs at most one fetch per period.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Clock skew allowed on `iat` and `exp`.
const LEEWAY_SECS: u64 = 60;

/// Keys kept from one answer. Auth0 publishes two or three (the current,
/// the next, the previous); a larger set is cut, never grown into memory.
const MAX_KEYS: usize = 16;

/// A logout token longer than this is refused before it is decoded. Auth0's
/// are well under 2 KB; the route's body cap is the outer bound.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What a valid logout token says to end.
#[derive(Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    /// Auth0's session id: every gateway session born of it ends.
    pub sid: Option<String>,
    /// The user: without `sid`, every session of the user that began at or
    /// before `iat` ends.
    pub sub: Option<String>,
    /// When Auth0 issued the token (unix seconds).
    pub iat: u64,
}

/// Never shows `sid` or `sub` (they identify a user and a session).
impl std::fmt::Debug for LogoutClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |present: bool| if present { "[redacted]" } else { "None" };
        f.debug_struct("LogoutClaims")
            .field("sid", &shown(self.sid.is_some()))
            .field("sub", &shown(self.sub.is_some()))
            .field("iat", &self.iat)
            .finish()
    }
}

/// Why a logout token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    /// The token breaks a rule (`400 invalid_request`). The reason is for
    /// the log; it never quotes the token.
    #[error("logout_token refused: {0}")]
    Invalid(&'static str),
    /// The tenant's key set could not be fetched, so the token could not be
    /// judged (`502 upstream_error`).
    #[error("the tenant's JWKS could not be fetched")]
    JwksUnavailable,
}

use LogoutTokenError::Invalid;

/// Verifies logout tokens for one tenant and client.
pub struct LogoutTokens {
    issuer: String,
    jwks_url: reqwest::Url,
    http: reqwest::Client,
    max_response_bytes: usize,
    validation: Validation,
    refetch_interval: Duration,
    /// Read on every token; written only after a fetch. Never held across
    /// an `.await`.
    cache: RwLock<KeyCache>,
    /// One fetch at a time: callers that need the key set wait for the
    /// fetch in flight instead of starting their own. Callers whose key is
    /// cached never take it.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct KeyCache {
    /// The usable keys of the last successful fetch, by `kid`.
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
    /// The last fetch, successful or not: the refetch interval counts from
    /// it, so a tenant that is down is not asked again on every token.
    attempted_at: Option<Instant>,
}

enum Lookup {
    Found(Arc<DecodingKey>),
    /// The key set is fresh and does not have this `kid`.
    Unknown,
    /// No key set younger than [`JWKS_MAX_AGE`].
    Stale,
}

impl KeyCache {
    fn lookup(&self, kid: &str, now: Instant) -> Lookup {
        match self.fetched_at {
            Some(at) if now.saturating_duration_since(at) < JWKS_MAX_AGE => {
                match self.keys.get(kid) {
                    Some(key) => Lookup::Found(key.clone()),
                    None => Lookup::Unknown,
                }
            }
            _ => Lookup::Stale,
        }
    }

    fn may_fetch(&self, now: Instant, interval: Duration) -> bool {
        self.attempted_at
            .is_none_or(|at| now.saturating_duration_since(at) >= interval)
    }
}

impl LogoutTokens {
    /// For the configured tenant: issuer `{auth0.domain}/`, audience
    /// `auth0.client_id`, keys from `{auth0.domain}/.well-known/jwks.json`,
    /// fetched with the Auth0 client's timeouts and answer size cap.
    pub fn from_settings(auth0: &Auth0Settings) -> Result<Self, String> {
        let jwks_url = reqwest::Url::parse(&format!("{}/.well-known/jwks.json", auth0.base_url))
            .map_err(|_| "auth0.domain does not form a URL".to_string())?;
        let http = crate::auth0::build_http(auth0.timeout, auth0.connect_timeout)
            .map_err(|e| e.to_string())?;
        Ok(Self::new(
            format!("{}/", auth0.base_url),
            &auth0.client_id,
            jwks_url,
            http,
            auth0.max_response_bytes,
        ))
    }

    /// `issuer` is compared with `iss` exactly (Auth0 writes
    /// `https://tenant.auth0.com/`, with the slash); `client_id` must be
    /// `aud` or one of its members. Key set answers over
    /// `max_response_bytes` are refused.
    pub fn new(
        issuer: String,
        client_id: &str,
        jwks_url: reqwest::Url,
        http: reqwest::Client,
        max_response_bytes: usize,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[client_id]);
        // `exp` is optional in a logout token (checked when present);
        // `iss` and `aud` are not.
        validation.set_required_spec_claims(&["iss", "aud"]);
        validation.validate_exp = true;
        Self {
            issuer,
            jwks_url,
            http,
            max_response_bytes,
            validation,
            refetch_interval: JWKS_REFETCH_INTERVAL,
            cache: RwLock::new(KeyCache::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Another refetch interval than SPEC §12's 10 s, so a test can see a
    /// second refetch without waiting for it.
    #[doc(hidden)]
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// What `token` asks to end, when it is a logout token Auth0 signed for
    /// this client; otherwise why not.
    pub async fn verify(&self, token: &str) -> Result<LogoutClaims, LogoutTokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Invalid("the token is too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| header_error(e.kind()))?;
        if header.alg != Algorithm::RS256 {
            return Err(Invalid("alg is not RS256"));
        }
        // RFC 7515 §4.1.11: a `crit` extension not understood is refused.
        if header.crit.is_some() {
            return Err(Invalid("the header has crit extensions"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or(Invalid("the header has no kid"))?;
        let key = self.key(kid).await?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &self.validation)
            .map_err(|e| claims_error(e.kind()))?;
        check_logout_claims(&data.claims, &self.issuer, crate::session::unix_now())
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, KeyCache> {
        // A panic elsewhere leaves the cache as it was: still consistent.
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_cache(&self) -> std::sync::RwLockWriteGuard<'_, KeyCache> {
        self.cache.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The key named `kid`, from the cache or a new fetch of the key set.
    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, LogoutTokenError> {
        if let Lookup::Found(key) = self.read_cache().lookup(kid, Instant::now()) {
            return Ok(key);
        }
        let _one_fetch = self.fetching.lock().await;
        // While this caller waited, another may have fetched.
        let now = Instant::now();
        let (lookup, may_fetch) = {
            let cache = self.read_cache();
            (
                cache.lookup(kid, now),
                cache.may_fetch(now, self.refetch_interval),
            )
        };
        match (lookup, may_fetch) {
            (Lookup::Found(key), _) => return Ok(key),
            (Lookup::Unknown, false) => return Err(Invalid("unknown kid")),
            (Lookup::Stale, false) => return Err(LogoutTokenError::JwksUnavailable),
            (_, true) => {}
        }
        self.write_cache().attempted_at = Some(now);
        let keys = match self.fetch().await {
            Ok(keys) => keys,
            Err(reason) => {
                tracing::warn!(
                    event = "jwks_fetch_failed",
                    reason,
                    "the tenant's JWKS could not be fetched; logout tokens wait for it"
                );
                // The keys fetched before stay until they are an hour old.
                return Err(LogoutTokenError::JwksUnavailable);
            }
        };
        let found = keys.get(kid).cloned();
        {
            let mut cache = self.write_cache();
            cache.keys = keys;
            cache.fetched_at = Some(Instant::now());
        }
        found.ok_or(Invalid("unknown kid"))
    }

    /// The RS256 signing keys of the tenant's key set, by `kid`.
    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, &'static str> {
        let mut response = self
            .http
            .get(self.jwks_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| "the request failed")?;
        if !response.status().is_success() {
            return Err("the tenant answered with an error status");
        }
        let body = crate::upstream_body::read_capped_answer(&mut response, self.max_response_bytes)
            .await
            .map_err(|_| "the answer could not be read")?
            .ok_or("the answer is over auth0.max_response_bytes")?;
        let set: Value = serde_json::from_slice(&body).map_err(|_| "the answer is not JSON")?;
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the answer has no keys")?;
        let usable: HashMap<String, Arc<DecodingKey>> = keys
            .iter()
            .filter_map(rs256_signing_key)
            .take(MAX_KEYS)
            .collect();
        if usable.is_empty() {
            return Err("the answer has no RS256 signing key with a kid");
        }
        Ok(usable)
    }
}

/// `(kid, key)` for an RSA key that may sign RS256 (`use` absent or `sig`,
/// `alg` absent or `RS256`); `None` for any other entry, which is skipped
/// rather than failing the whole set.
fn rs256_signing_key(entry: &Value) -> Option<(String, Arc<DecodingKey>)> {
    let jwk: Jwk = serde_json::from_value(entry.clone()).ok()?;
    if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_)) {
        return None;
    }
    if !matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    ) {
        return None;
    }
    if !matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)) {
        return None;
    }
    let kid = jwk.common.key_id.clone()?;
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some((kid, Arc::new(key)))
}

/// Why the header did not decode.
fn header_error(kind: &ErrorKind) -> LogoutTokenError {
    match kind {
        // Well-formed JSON the header type refuses: an `alg` that is no JWS
        // algorithm (`none`), a missing `alg`, a field of the wrong type.
        ErrorKind::Json(e) if e.classify() == serde_json::error::Category::Data => {
            Invalid("the header's alg is missing or unsupported")
        }
        _ => Invalid("not a JWS in compact form"),
    }
}

/// Why a token with a known key failed `jsonwebtoken`'s checks.
fn claims_error(kind: &ErrorKind) -> LogoutTokenError {
    match kind {
        ErrorKind::InvalidSignature => Invalid("bad signature"),
        ErrorKind::InvalidAlgorithm => Invalid("alg is not RS256"),
        ErrorKind::InvalidIssuer => Invalid("iss is not the tenant"),
        ErrorKind::InvalidAudience => Invalid("aud is not the client id"),
        ErrorKind::ExpiredSignature => Invalid("expired"),
        ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => Invalid("no iss"),
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => Invalid("no aud"),
        ErrorKind::InvalidClaimFormat(_) => Invalid("exp is not a number"),
        ErrorKind::InvalidRsaKey(_) => Invalid("the JWKS key is not a usable RSA key"),
        ErrorKind::Json(_) | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            Invalid("the claims are not a JSON object")
        }
        _ => Invalid("not a valid JWS"),
    }
}

/// The logout token's own rules (OIDC Back-Channel Logout 1.0 §2.4, §2.6;
/// SPEC §12), on claims whose signature, `aud` and `exp` were checked:
/// `iss` is exactly `issuer`; `iat` is present and not ahead of `now` (60 s
/// leeway); `events` holds [`BACKCHANNEL_LOGOUT_EVENT`] as an object; there
/// is no `nonce` (which would make it an ID token); `sid` or `sub` is there,
/// as non-empty strings.
pub fn check_logout_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    now: u64,
) -> Result<LogoutClaims, LogoutTokenError> {
    // `jsonwebtoken` also accepts a list of issuers; one string it is.
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(Invalid("iss is not the tenant"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or(Invalid("no iat (or not a whole number)"))?;
    if iat > now.saturating_add(LEEWAY_SECS) {
        return Err(Invalid("iat is in the future"));
    }
    let events = claims
        .get("events")
        .ok_or(Invalid("no events"))?
        .as_object()
        .ok_or(Invalid("events is not an object"))?;
    match events.get(BACKCHANNEL_LOGOUT_EVENT) {
        None => return Err(Invalid("events has no back-channel logout member")),
        Some(Value::Object(_)) => {}
        Some(_) => return Err(Invalid("the back-channel logout event is not an object")),
    }
    if claims.contains_key("nonce") {
        return Err(Invalid("a nonce is present"));
    }
    let text = |name: &str, wrong: &'static str| match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) if !value.is_empty() => Ok(Some(value.clone())),
        Some(_) => Err(Invalid(wrong)),
    };
    let sid = text("sid", "sid is not a non-empty string")?;
    let sub = text("sub", "sub is not a non-empty string")?;
    if sid.is_none() && sub.is_none() {
        return Err(Invalid("neither sid nor sub"));
    }
    Ok(LogoutClaims { sid, sub, iat })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://tenant.example/";
    const NOW: u64 = 1_700_000_000;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn good() -> Value {
        json!({
            "iss": ISS, "aud": "cid", "iat": NOW, "jti": "j1",
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
            "sid": "s1", "sub": "email|1",
        })
    }

    fn with(change: impl FnOnce(&mut Map<String, Value>)) -> Map<String, Value> {
        let mut map = claims(good());
        change(&mut map);
        map
    }

    #[test]
    fn a_logout_token_names_a_sid_or_a_sub() {
        let both = check_logout_claims(&claims(good()), ISS, NOW).expect("valid");
        assert_eq!(both.sid.as_deref(), Some("s1"));
        assert_eq!(both.sub.as_deref(), Some("email|1"));
        assert_eq!(both.iat, NOW);
        let only_sub = check_logout_claims(&with(|c| drop(c.remove("sid"))), ISS, NOW);
        assert_eq!(only_sub.map(|c| c.sid), Ok(None));
        let only_sid = check_logout_claims(&with(|c| drop(c.remove("sub"))), ISS, NOW);
        assert_eq!(only_sid.map(|c| c.sub), Ok(None));
        // Within the leeway.
        let skewed = with(|c| drop(c.insert("iat".into(), json!(NOW + 60))));
        assert!(check_logout_claims(&skewed, ISS, NOW).is_ok());
    }

    #[test]
    fn each_broken_rule_has_its_own_reason() {
        let cases: Vec<(Map<String, Value>, &str)> = vec![
            (
                with(|c| drop(c.insert("iss".into(), json!([ISS])))),
                "iss is not the tenant",
            ),
            (
                with(|c| drop(c.remove("iat"))),
                "no iat (or not a whole number)",
            ),
            (
                with(|c| drop(c.insert("iat".into(), json!("1700000000")))),
                "no iat (or not a whole number)",
            ),
            (
                with(|c| drop(c.insert("iat".into(), json!(NOW + 61)))),
                "iat is in the future",
            ),
            (with(|c| drop(c.remove("events"))), "no events"),
            (
                with(|c| drop(c.insert("events".into(), json!([BACKCHANNEL_LOGOUT_EVENT])))),
                "events is not an object",
            ),
            (
                with(|c| drop(c.insert("events".into(), json!({"other": {}})))),
                "events has no back-channel logout member",
            ),
            (
                with(|c| {
                    drop(c.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" })))
                }),
                "the back-channel logout event is not an object",
            ),
            (
                with(|c| drop(c.insert("nonce".into(), json!("n")))),
                "a nonce is present",
            ),
            (
                with(|c| drop(c.insert("sid".into(), json!(5)))),
                "sid is not a non-empty string",
            ),
            (
                with(|c| drop(c.insert("sub".into(), json!("")))),
                "sub is not a non-empty string",
            ),
            (
                with(|c| {
                    c.remove("sid");
                    c.remove("sub");
                }),
                "neither sid nor sub",
            ),
        ];
        for (claims, reason) in cases {
            assert_eq!(
                check_logout_claims(&claims, ISS, NOW),
                Err(Invalid(reason)),
                "{reason}"
            );
        }
    }

    #[test]
    fn keys_serve_for_an_hour_and_a_refetch_waits_its_interval() {
        let start = Instant::now();
        let mut cache = KeyCache::default();
        assert!(matches!(cache.lookup("k", start), Lookup::Stale));
        assert!(cache.may_fetch(start, JWKS_REFETCH_INTERVAL));
        cache.keys.insert(
            "k".into(),
            Arc::new(DecodingKey::from_rsa_raw_components(&[1], &[1])),
        );
        cache.fetched_at = Some(start);
        cache.attempted_at = Some(start);
        let later = |secs| start + Duration::from_secs(secs);
        assert!(matches!(cache.lookup("k", later(3599)), Lookup::Found(_)));
        assert!(matches!(
            cache.lookup("other", later(3599)),
            Lookup::Unknown
        ));
        assert!(matches!(cache.lookup("k", later(3600)), Lookup::Stale));
        assert!(!cache.may_fetch(later(9), JWKS_REFETCH_INTERVAL));
        assert!(cache.may_fetch(later(10), JWKS_REFETCH_INTERVAL));
    }

    #[test]
    fn debug_output_never_shows_the_sid_or_the_sub() {
        let claims = LogoutClaims {
            sid: Some("secret-sid".into()),
            sub: Some("email|jane@example.com".into()),
            iat: 1,
        };
        let shown = format!("{claims:?}");
        assert!(
            !shown.contains("secret-sid") && !shown.contains("jane"),
            "{shown}"
        );
    }
}
