//! Rate-limit quotas: `N/unit` (SPEC §4).

use std::num::NonZeroU32;
use std::time::Duration;

/// A quota `N/unit`: bursts of N, refilled at N per unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSpec {
    pub count: NonZeroU32,
    pub period: Duration,
}

impl QuotaSpec {
    /// Parses `"5/hour"`; the error text is meant to follow the key's name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (count, unit) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| "expected N/unit such as 5/hour".to_string())?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| "N is not a whole number (expected N/unit such as 5/hour)".to_string())?;
        let count = NonZeroU32::new(count).ok_or_else(|| "N must be at least 1".to_string())?;
        let seconds = match unit.trim() {
            "second" => 1,
            "minute" => 60,
            "hour" => 3600,
            "day" => 86_400,
            _ => return Err("the unit is not one of second, minute, hour, day".to_string()),
        };
        Ok(Self {
            count,
            period: Duration::from_secs(seconds),
        })
    }

    /// The window in whole seconds, as the `RateLimit-Policy` header wants it.
    pub fn window_secs(&self) -> u64 {
        self.period.as_secs()
    }
}
