//! The SMS side of abuse control (SPEC §4, §8): which countries may be
//! texted or phoned (`sms.allowed_countries`), and the conversion fraud
//! guard that pauses a country whose texts are not being verified. The
//! per-number and global send budgets are ordinary limits
//! (`rate_limit::Limits::check_sms_send`); this module decides by country.

mod country;
mod fraud_guard;
mod token_countries;

use std::time::Instant;

pub use country::Country;
pub use fraud_guard::{FraudGuard, Trip};
pub use token_countries::{TokenCountries, TOKEN_LIFETIME};

use crate::rate_limit::{ceil_secs, Rejection};
use crate::settings::{QuotaSpec, SmsSettings};

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
    /// What the 429's `RateLimit-Policy` describes: the guard judges a
    /// country after `min_sends` sends within the window.
    judged_over: QuotaSpec,
}

impl SmsGuard {
    pub fn new(settings: &SmsSettings, max_keys: usize) -> Self {
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
    /// an unknown country is one `sms.allowed_countries` cannot admit; a
    /// challenge's country may be unknown (the number was enrolled
    /// elsewhere) and is then judged by the fraud guard alone.
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
    /// pause left as `Retry-After`.
    pub fn check_paused(&self, country: Country) -> Result<(), Rejection> {
        match self.fraud.paused_for(country, Instant::now()) {
            Some(left) => Err(Rejection {
                policy: FRAUD_GUARD_POLICY,
                quota: self.judged_over,
                retry_after: ceil_secs(left),
            }),
            None => Ok(()),
        }
    }

    /// Auth0 accepted a text or call to `country`.
    pub fn record_send(&self, country: Country) {
        metrics::counter!("sms_sends_total", "country" => country.as_str().to_string())
            .increment(1);
        let now = Instant::now();
        if let Some(trip) = self.fraud.record_send(country, now) {
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

    /// A code sent to `country` was verified.
    pub fn record_verification(&self, country: Country) {
        metrics::counter!("sms_verifications_total", "country" => country.as_str().to_string())
            .increment(1);
        self.fraud.record_verification(country, Instant::now());
    }

    /// The country an mfa_token's texts go to, from its SMS/voice
    /// enrollment or challenge.
    pub fn remember_token(&self, mfa_token: &str, country: Country) {
        self.tokens.remember(mfa_token, country, Instant::now());
    }

    pub fn token_country(&self, mfa_token: &str) -> Option<Country> {
        self.tokens.country(mfa_token, Instant::now())
    }

    /// The token passed `/mfa/verify`: it works no more.
    pub fn forget_token(&self, mfa_token: &str) {
        self.tokens.forget(mfa_token);
    }

    /// Expired tokens out, the paused-countries gauge current; on the
    /// limiter's prune timer.
    pub fn prune(&self) {
        let now = Instant::now();
        self.tokens.prune(now);
        self.export_paused(now);
    }

    fn export_paused(&self, now: Instant) {
        metrics::gauge!("sms_countries_paused").set(self.fraud.paused_countries(now) as f64);
    }

    fn judged_pause_secs(&self) -> u64 {
        self.fraud.pause().as_secs()
    }
}
