//! The conversion fraud guard (SPEC §8). SMS pumping sends texts that are
//! never verified, so per destination country the guard counts the sends
//! Auth0 accepted and the verifications that followed over a sliding
//! window; a country whose conversion falls below `min_conversion` after
//! `min_sends` is paused for `pause_secs`. Other countries, and email, are
//! never touched. `unknown` (an MFA challenge to a number enrolled
//! elsewhere, a number of no country) is judged like any country: left
//! unjudged, it was the open door for pumping through `/mfa/challenge`
//! (SPEC §13).
//!
//! Memory is bounded by the number of countries (about 250): the state is a
//! fixed ring of time slots per country, whatever the number of distinct
//! phone numbers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Country;
use crate::settings::FraudGuardSettings;

/// Slots per window: the window slides in steps of `window / SLOTS`.
const SLOTS: usize = 60;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Which step of time this slot holds; older contents are stale.
    step: u64,
    sends: u64,
    verifications: u64,
}

#[derive(Debug)]
struct CountryWindow {
    slots: [Slot; SLOTS],
    paused_until: Option<Instant>,
}

impl Default for CountryWindow {
    fn default() -> Self {
        Self {
            slots: [Slot::default(); SLOTS],
            paused_until: None,
        }
    }
}

impl CountryWindow {
    fn slot(&mut self, step: u64) -> &mut Slot {
        let slot = &mut self.slots[(step % SLOTS as u64) as usize];
        if slot.step != step {
            *slot = Slot {
                step,
                ..Slot::default()
            };
        }
        slot
    }

    /// Sends and verifications in the window that ends at `step`.
    fn totals(&self, step: u64) -> (u64, u64) {
        self.slots
            .iter()
            .filter(|slot| slot.step + (SLOTS as u64) > step && slot.step <= step)
            .fold((0, 0), |(sends, verified), slot| {
                (sends + slot.sends, verified + slot.verifications)
            })
    }
}

/// A country the guard just paused: what the log event reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trip {
    pub sends: u64,
    pub verifications: u64,
}

pub struct FraudGuard {
    settings: FraudGuardSettings,
    origin: Instant,
    step: Duration,
    countries: Mutex<HashMap<Country, CountryWindow>>,
}

impl FraudGuard {
    pub fn new(settings: FraudGuardSettings, origin: Instant) -> Self {
        let step = (settings.window / SLOTS as u32).max(Duration::from_millis(1));
        Self {
            settings,
            origin,
            step,
            countries: Mutex::new(HashMap::new()),
        }
    }

    fn step_at(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin);
        (elapsed.as_nanos() / self.step.as_nanos()) as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Country, CountryWindow>> {
        // A panic while holding the lock cannot leave the counters unusable.
        self.countries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long `country` stays paused, if it is. A pause that has ended
    /// starts the country over with empty counters.
    pub fn paused_for(&self, country: Country, now: Instant) -> Option<Duration> {
        if !self.settings.enabled {
            return None;
        }
        let mut countries = self.lock();
        let window = countries.get_mut(&country)?;
        match window.paused_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                *window = CountryWindow::default();
                None
            }
            None => None,
        }
    }

    /// A send Auth0 accepted; pauses the country when its conversion has
    /// fallen too low, and says so once.
    pub fn record_send(&self, country: Country, now: Instant) -> Option<Trip> {
        if !self.settings.enabled {
            return None;
        }
        let step = self.step_at(now);
        let mut countries = self.lock();
        let window = countries.entry(country).or_default();
        if window.paused_until.is_some_and(|until| until > now) {
            return None;
        }
        window.slot(step).sends += 1;
        let (sends, verifications) = window.totals(step);
        let converting = verifications as f64 / sends as f64 >= self.settings.min_conversion;
        if sends < self.settings.min_sends || converting {
            return None;
        }
        *window = CountryWindow {
            paused_until: Some(now + self.settings.pause),
            ..CountryWindow::default()
        };
        Some(Trip {
            sends,
            verifications,
        })
    }

    /// A verification that followed a send to `country`.
    pub fn record_verification(&self, country: Country, now: Instant) {
        if !self.settings.enabled {
            return;
        }
        let step = self.step_at(now);
        let mut countries = self.lock();
        let window = countries.entry(country).or_default();
        if window.paused_until.is_none() {
            window.slot(step).verifications += 1;
        }
    }

    /// The fleet's pauses as the shared store has them (SPEC §9): every
    /// country in `paused` is paused for its time left, every other one is
    /// not. With Redis, this process's windows are then only the pause
    /// cache and the fallback while Redis does not answer.
    pub fn mirror_pauses(&self, paused: &[(Country, Duration)], now: Instant) {
        let mut countries = self.lock();
        for window in countries.values_mut() {
            window.paused_until = None;
        }
        for (country, left) in paused {
            countries.entry(*country).or_default().paused_until = Some(now + *left);
        }
    }

    /// One country's pause, as the shared store reported it.
    pub fn mirror_pause(&self, country: Country, left: Duration, now: Instant) {
        self.lock().entry(country).or_default().paused_until = Some(now + left);
    }

    pub fn pause(&self) -> Duration {
        self.settings.pause
    }

    /// Countries paused right now (for the `sms_countries_paused` gauge).
    pub fn paused_countries(&self, now: Instant) -> usize {
        self.lock()
            .values()
            .filter(|window| window.paused_until.is_some_and(|until| until > now))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_guard() -> (FraudGuard, Instant) {
        let origin = Instant::now();
        let settings = FraudGuardSettings {
            enabled: true,
            window: Duration::from_secs(3600),
            min_sends: 10,
            min_conversion: 0.2,
            pause: Duration::from_secs(900),
        };
        (FraudGuard::new(settings, origin), origin)
    }

    const FR: Country = Country::Known(phonenumber::country::Id::FR);
    const US: Country = Country::Known(phonenumber::country::Id::US);

    #[test]
    fn no_judgement_below_min_sends() {
        let (guard, t) = new_guard();
        for _ in 0..9 {
            assert_eq!(guard.record_send(FR, t), None);
        }
        assert_eq!(guard.paused_for(FR, t), None);
    }

    #[test]
    fn unverified_sends_pause_only_their_country_until_the_pause_ends() {
        let (guard, t) = new_guard();
        for _ in 0..9 {
            assert_eq!(guard.record_send(FR, t), None);
        }
        assert_eq!(
            guard.record_send(FR, t),
            Some(Trip {
                sends: 10,
                verifications: 0
            })
        );
        assert_eq!(guard.paused_for(FR, t), Some(Duration::from_secs(900)));
        assert_eq!(
            guard.paused_for(FR, t + Duration::from_secs(100)),
            Some(Duration::from_secs(800))
        );
        assert_eq!(guard.paused_for(US, t), None);
        assert_eq!(guard.paused_countries(t), 1);
        // Over: the country starts again with empty counters.
        let later = t + Duration::from_secs(901);
        assert_eq!(guard.paused_for(FR, later), None);
        assert_eq!(guard.paused_countries(later), 0);
        for _ in 0..9 {
            assert_eq!(guard.record_send(FR, later), None);
        }
    }

    #[test]
    fn verified_sends_keep_a_country_open() {
        let (guard, t) = new_guard();
        for _ in 0..50 {
            guard.record_send(FR, t);
            guard.record_verification(FR, t);
        }
        assert_eq!(guard.paused_for(FR, t), None);
        // 20 % conversion is enough; just under is not.
        let (guard, t) = new_guard();
        for i in 0..100 {
            if i % 5 == 0 {
                guard.record_verification(FR, t);
            }
            assert_eq!(guard.record_send(FR, t), None, "send {i}");
        }
        let (guard, t) = new_guard();
        guard.record_verification(FR, t);
        let trips = (0..10).filter_map(|_| guard.record_send(FR, t)).count();
        assert_eq!(trips, 1, "1 of 10 is under 20 %");
    }

    #[test]
    fn sends_leave_the_window_as_it_slides() {
        let (guard, t) = new_guard();
        for _ in 0..9 {
            guard.record_send(FR, t);
        }
        // An hour and a step later the nine are out of the window.
        let later = t + Duration::from_secs(3600 + 61);
        for _ in 0..9 {
            assert_eq!(guard.record_send(FR, later), None);
        }
    }

    #[test]
    fn unknown_is_judged_and_paused_like_any_country() {
        let (guard, t) = new_guard();
        for _ in 0..9 {
            assert_eq!(guard.record_send(Country::Unknown, t), None);
        }
        assert_eq!(
            guard.record_send(Country::Unknown, t),
            Some(Trip {
                sends: 10,
                verifications: 0
            })
        );
        assert_eq!(
            guard.paused_for(Country::Unknown, t),
            Some(Duration::from_secs(900))
        );
        assert_eq!(guard.paused_for(FR, t), None);
    }

    #[test]
    fn a_disabled_guard_never_pauses() {
        let (mut guard, t) = new_guard();
        guard.settings.enabled = false;
        for _ in 0..100 {
            assert_eq!(guard.record_send(FR, t), None);
        }
        assert_eq!(guard.paused_for(FR, t), None);
    }
}
