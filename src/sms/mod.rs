//! The SMS side of abuse control (SPEC §4, §8): which countries may be
//! texted or phoned (`sms.allowed_countries`), and the conversion fraud
//! guard that pauses a country whose texts are not being verified. The
//! per-number and global send budgets are ordinary limits
//! (`rate_limit::Limits::check_sms_send`); this module decides by country.
//! With `rate_limit.backend = "redis"` the counters, pauses and token
//! countries are the fleet's, in Redis ([`shared`]); this process's state
//! is then the pause cache and, with `on_error = "local"`, the fallback.

mod country;
mod fraud_guard;
mod shared;
mod token_countries;

use std::sync::Arc;
use std::time::Instant;

pub use country::Country;
pub use fraud_guard::{FraudGuard, Trip};
pub use token_countries::{TokenCountries, TOKEN_LIFETIME};

use crate::rate_limit::{ceil_secs, Refusal, Rejection};
use crate::redis_store::RedisStore;
use crate::settings::{OnStoreError, QuotaSpec, SmsSettings};
use shared::SharedSms;

/// The policy name of a paused country's 429.
pub const FRAUD_GUARD_POLICY: &str = "sms_fraud_guard";

/// A number in a country `sms.allowed_countries` leaves out: `400
/// phone_country_not_allowed`.
#[derive(Debug, Clone, Copy)]
pub struct CountryNotAllowed;

pub struct SmsGuard {
    /// Empty: every country.
    allowed: Vec<Country>,
    fraud: FraudGuard,
    tokens: TokenCountries,
    /// The fleet's state, when the limits are on Redis.
    shared: Option<SharedSms>,
    /// What the 429's `RateLimit-Policy` describes: the guard judges a
    /// country after `min_sends` sends within the window.
    judged_over: QuotaSpec,
}

impl SmsGuard {
    pub fn new(settings: &SmsSettings, max_keys: usize, store: Option<Arc<RedisStore>>) -> Self {
        let guard = &settings.fraud_guard;
        Country::warm_up();
        Self {
            allowed: settings
                .allowed_countries
                .iter()
                .filter_map(|code| Country::from_code(code))
                .collect(),
            fraud: FraudGuard::new(guard.clone(), Instant::now()),
            tokens: TokenCountries::new(max_keys),
            shared: store
                .filter(|_| guard.enabled)
                .map(|store| SharedSms::new(store, guard.clone())),
            judged_over: QuotaSpec {
                count: u32::try_from(guard.min_sends)
                    .ok()
                    .and_then(std::num::NonZeroU32::new)
                    .unwrap_or(std::num::NonZeroU32::MAX),
                period: guard.window,
            },
        }
    }

    /// May the gateway ask Auth0 to text or phone this country?
    /// `number_seen`: the number is in the request (login, enrollment), so
    /// an unknown country (a calling code no country has) is one
    /// `sms.allowed_countries` cannot admit; a challenge's country may be
    /// unknown (the number was enrolled elsewhere) and is then judged by
    /// the fraud guard alone, which pauses `unknown` like any country.
    pub fn check_allowed(
        &self,
        country: Country,
        number_seen: bool,
    ) -> Result<(), CountryNotAllowed> {
        let listed = self.allowed.is_empty()
            || self.allowed.contains(&country)
            || (country == Country::Unknown && !number_seen);
        if listed {
            Ok(())
        } else {
            Err(CountryNotAllowed)
        }
    }

    /// Refuses a send to a country the fraud guard has paused, with the
    /// pause left as `Retry-After`. With Redis the fleet's pause is asked
    /// before every text (a text costs money; one round trip is cheap), so
    /// no replica sends one more while it has not heard of a pause.
    pub async fn check_paused(&self, country: Country) -> Result<(), Refusal> {
        let left = match self
            .shared_or_local(|shared| shared.pause_left(country))
            .await
        {
            Some(Ok(left)) => left,
            Some(Err(())) if self.fails_closed() => return Err(Refusal::StoreUnavailable),
            Some(Err(())) => None,
            None => self.fraud.paused_for(country, Instant::now()),
        };
        match left {
            Some(left) => Err(Refusal::Limited(Rejection {
                policy: FRAUD_GUARD_POLICY,
                quota: self.judged_over,
                retry_after: ceil_secs(left),
            })),
            None => Ok(()),
        }
    }

    fn fails_closed(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|shared| shared.store().on_error() == OnStoreError::Closed)
    }

    /// Auth0 accepted a text or call to `country`, for `mfa_token` when
    /// the send was an MFA enrollment or challenge.
    pub async fn record_send(&self, country: Country, mfa_token: Option<&str>) {
        metrics::counter!("sms_sends_total", "country" => country.as_str().to_string())
            .increment(1);
        let now = Instant::now();
        let tripped = match self
            .shared_or_local(|shared| shared.record_send(country, mfa_token))
            .await
        {
            Some(Ok(outcome)) => {
                if let Some(left) = outcome.paused_for {
                    self.fraud.mirror_pause(country, left, now);
                }
                outcome.tripped.map(|(sends, verifications)| Trip {
                    sends,
                    verifications,
                })
            }
            Some(Err(())) => None,
            None => {
                if let Some(token) = mfa_token {
                    self.tokens.remember(token, country, now);
                }
                self.fraud.record_send(country, now)
            }
        };
        if let Some(trip) = tripped {
            tracing::warn!(
                event = "sms_fraud_guard_paused",
                country = country.as_str(),
                sends = trip.sends,
                verifications = trip.verifications,
                pause_secs = self.judged_pause_secs(),
                "texts to this country are not being verified: paused"
            );
            self.export_paused(now);
        }
    }

    /// A code sent to `country` was verified (a phone login).
    pub async fn record_verification(&self, country: Country) {
        metrics::counter!("sms_verifications_total", "country" => country.as_str().to_string())
            .increment(1);
        let counted = self
            .shared_or_local(|shared| shared.record_verification(country, None))
            .await;
        if counted.is_none() {
            self.fraud.record_verification(country, Instant::now());
        }
    }

    /// An out-of-band code for `mfa_token` was verified: a verification for
    /// the country its texts went to, if they did; the token works no more.
    pub async fn record_token_verification(&self, mfa_token: &str) {
        let country = match self
            .shared_or_local(|shared| shared.token_country(mfa_token))
            .await
        {
            Some(Ok(country)) => country,
            Some(Err(())) => None,
            None => self.tokens.country(mfa_token, Instant::now()),
        };
        let Some(country) = country else {
            return;
        };
        metrics::counter!("sms_verifications_total", "country" => country.as_str().to_string())
            .increment(1);
        let counted = self
            .shared_or_local(|shared| shared.record_verification(country, Some(mfa_token)))
            .await;
        if counted.is_none() {
            self.fraud.record_verification(country, Instant::now());
            self.tokens.forget(mfa_token);
        }
    }

    /// Auth0 texted a passkey sign-up's number (SPEC §11): a send, and
    /// the `auth_session` the code comes back with remembers the country,
    /// in the store that remembers an mfa_token's (same lifetime, same
    /// bound, keyed hashes only).
    pub async fn record_sign_up_send(&self, country: Country, auth_session: &str) {
        self.record_send(country, Some(&sign_up_handle(auth_session)))
            .await;
    }

    /// A `200` from the webauthn grant that carried `verification.phone`:
    /// the verification of that sign-up's text, counted for the country
    /// its `auth_session` remembers (nothing, if it remembers none).
    pub async fn record_sign_up_verification(&self, auth_session: &str) {
        self.record_token_verification(&sign_up_handle(auth_session))
            .await;
    }

    /// The country an mfa_token's texts go to, from its SMS/voice
    /// enrollment or challenge.
    pub async fn token_country(&self, mfa_token: &str) -> Option<Country> {
        match self
            .shared_or_local(|shared| shared.token_country(mfa_token))
            .await
        {
            Some(Ok(country)) => country,
            Some(Err(())) => None,
            None => self.tokens.country(mfa_token, Instant::now()),
        }
    }

    /// Expired tokens out, the fleet's pauses mirrored, the paused-countries
    /// gauge current; on the housekeeping timer.
    pub async fn prune(&self) {
        let now = Instant::now();
        self.tokens.prune(now);
        if let Some(shared) = &self.shared {
            if let Ok(pauses) = shared.pauses().await {
                self.fraud.mirror_pauses(&pauses, now);
            }
        }
        self.export_paused(now);
    }

    /// With Redis: `Some(Ok(answer))`, or `Some(Err(()))` when it does not
    /// answer and `on_error` is not `local` (nothing is counted). `None`:
    /// this process's state decides (no Redis, or the `local` fallback).
    async fn shared_or_local<'a, T, F>(
        &'a self,
        call: impl FnOnce(&'a SharedSms) -> F,
    ) -> Option<Result<T, ()>>
    where
        F: std::future::Future<Output = Result<T, crate::redis_store::StoreUnavailable>>,
    {
        let shared = self.shared.as_ref()?;
        match call(shared).await {
            Ok(answer) => Some(Ok(answer)),
            Err(_) if shared.store().on_error() == OnStoreError::Local => None,
            Err(_) => Some(Err(())),
        }
    }

    fn export_paused(&self, now: Instant) {
        metrics::gauge!("sms_countries_paused").set(self.fraud.paused_countries(now) as f64);
    }

    fn judged_pause_secs(&self) -> u64 {
        self.fraud.pause().as_secs()
    }
}

/// A sign-up's `auth_session` where the token store keys mfa_tokens: in a
/// namespace of its own, so the two kinds never meet.
fn sign_up_handle(auth_session: &str) -> String {
    format!("passkey-sign-up:{auth_session}")
}
