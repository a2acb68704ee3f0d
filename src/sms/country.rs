//! The country a phone number belongs to, from libphonenumber's metadata
//! (the `phonenumber` crate), never from a prefix table of our own.
//!
//! `phonenumber::parse` plus `country().id()` costs 1–6 µs a number (it
//! normalises free-form input and searches unanchored regexes), too much
//! for every `/login/start`. The numbers here are already E.164, so the
//! lookup is libphonenumber's region rule (`getRegionCodeForNumber`) over
//! tables built once from the same metadata:
//! - a calling code that belongs to one region (most of them) is that
//!   region: no regex at all;
//! - a shared code (+1, +7, +44, …) tries its regions in metadata order:
//!   a region with leading digits matches on those, another on its
//!   number patterns (general description and one number type), as
//!   libphonenumber does, with the patterns compiled anchored;
//! - a number of a shared code that no region claims (an unassigned range,
//!   where libphonenumber answers "no region") is the code's main region
//!   (SPEC §13): `unknown` would put it beside texts the guard cannot
//!   place, and out of reach of `sms.allowed_countries`.
//!
//! A test checks the tables against `phonenumber`'s own answer for every
//! example number in the metadata.

use std::collections::HashMap;
use std::sync::OnceLock;

use phonenumber::country::Id;
use phonenumber::metadata::{Descriptor, DATABASE};
use regex_lite::Regex;

/// A destination country: an ISO 3166-1 alpha-2 code, or `unknown` (a
/// number of a calling code no country has, such as a global service
/// number, or a challenge whose number the gateway never saw). The fraud
/// guard judges `unknown` like any country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Country {
    Known(Id),
    Unknown,
}

impl Country {
    /// The country of an E.164 number (already validated by `domain`).
    pub fn of_number(e164: &str) -> Self {
        let digits = e164.strip_prefix('+').unwrap_or(e164);
        let table = table();
        // Calling codes are prefix-free: the first of 1, 2, 3 digits that
        // is a code is the code.
        for len in 1..=3.min(digits.len()) {
            let Ok(code) = digits[..len].parse::<u16>() else {
                return Self::Unknown;
            };
            if let Some(entry) = table.get(&code) {
                return entry.country(&digits[len..]);
            }
        }
        Self::Unknown
    }

    /// An upper-case alpha-2 code from the settings.
    pub fn from_code(code: &str) -> Option<Self> {
        code.parse::<Id>().ok().map(Self::Known)
    }

    /// The inverse of [`Self::as_str`]: an alpha-2 code or `unknown`, as
    /// the shared store (SPEC §9) keeps them.
    pub fn from_label(label: &str) -> Option<Self> {
        match label {
            "unknown" => Some(Self::Unknown),
            code => Self::from_code(code),
        }
    }

    /// `US`, `FR`, …, or `unknown`: the metrics label and log field.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(id) => id.as_ref(),
            Self::Unknown => "unknown",
        }
    }

    /// Loads the metadata and builds the tables, so the first request does
    /// not pay for it (tens of milliseconds).
    pub fn warm_up() {
        table();
    }
}

/// What a calling code says about the region.
enum Entry {
    /// One region (or a non-geographic code such as +800: `unknown`).
    Single(Country),
    /// Several regions, tried in metadata order; `main` when none claims
    /// the number.
    Shared { regions: Vec<Region>, main: Country },
}

impl Entry {
    fn country(&self, national: &str) -> Country {
        match self {
            Self::Single(country) => *country,
            Self::Shared { regions, main } => regions
                .iter()
                .find(|region| region.claims(national))
                .map_or(*main, |region| region.country),
        }
    }
}

/// One region of a shared calling code.
struct Region {
    country: Country,
    leading_digits: Option<Regex>,
    general: Pattern,
    /// The number types libphonenumber recognises (premium rate, toll free,
    /// shared cost, VoIP, personal, pager, UAN, voicemail, fixed line,
    /// mobile).
    types: Vec<Pattern>,
}

impl Region {
    fn claims(&self, national: &str) -> bool {
        match &self.leading_digits {
            Some(leading) => leading.is_match(national),
            None => {
                self.general.matches(national) && self.types.iter().any(|t| t.matches(national))
            }
        }
    }
}

/// A descriptor: possible lengths, and the pattern matched from the start.
struct Pattern {
    lengths: Vec<usize>,
    regex: Regex,
}

impl Pattern {
    fn new(descriptor: &Descriptor) -> Option<Self> {
        Some(Self {
            lengths: descriptor
                .possible_length()
                .iter()
                .map(|l| usize::from(*l))
                .collect(),
            regex: anchored(descriptor.national_number().as_str())?,
        })
    }

    fn matches(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&national.len()))
            && self.regex.is_match(national)
    }
}

/// libphonenumber's patterns match from the first digit; the metadata
/// writes them over several lines.
fn anchored(pattern: &str) -> Option<Regex> {
    regex_lite::RegexBuilder::new(&format!("^(?:{pattern})"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

fn table() -> &'static HashMap<u16, Entry> {
    static TABLE: OnceLock<HashMap<u16, Entry>> = OnceLock::new();
    TABLE.get_or_init(build_table)
}

fn build_table() -> HashMap<u16, Entry> {
    let mut table = HashMap::new();
    for code in 1..=999u16 {
        let Some(regions) = DATABASE.region(&code) else {
            continue;
        };
        let entry = if let [only] = regions.as_slice() {
            Entry::Single(Country::from_code(only).unwrap_or(Country::Unknown))
        } else {
            Entry::Shared {
                regions: regions.iter().filter_map(|id| region(id)).collect(),
                main: main_region(code),
            }
        };
        table.insert(code, entry);
    }
    table
}

/// The region libphonenumber's metadata marks as the calling code's main
/// country (`GB` for +44, `US` for +1, `RU` for +7).
fn main_region(code: u16) -> Country {
    DATABASE
        .by_code(&code)
        .unwrap_or_default()
        .iter()
        .find(|metadata| metadata.is_main_country_for_code())
        .and_then(|metadata| Country::from_code(metadata.id()))
        .unwrap_or(Country::Unknown)
}

fn region(id: &str) -> Option<Region> {
    let metadata = DATABASE.by_id(id)?;
    let descriptors = metadata.descriptors();
    let types = [
        descriptors.premium_rate(),
        descriptors.toll_free(),
        descriptors.shared_cost(),
        descriptors.voip(),
        descriptors.personal_number(),
        descriptors.pager(),
        descriptors.uan(),
        descriptors.voicemail(),
        descriptors.fixed_line(),
        descriptors.mobile(),
    ];
    Some(Region {
        country: Country::from_code(id)?,
        leading_digits: match metadata.leading_digits() {
            Some(leading) => Some(anchored(leading.as_str())?),
            None => None,
        },
        general: Pattern::new(descriptors.general())?,
        types: types
            .into_iter()
            .flatten()
            .filter_map(Pattern::new)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_placed_by_libphonenumber_metadata() {
        for (number, country) in [
            ("+14155550100", "US"),
            ("+16135550123", "CA"),
            ("+18765550123", "JM"),
            ("+33612345678", "FR"),
            ("+447400123456", "GB"),
            ("+447911123456", "GG"),
            ("+4915123456789", "DE"),
            ("+77012345678", "KZ"),
            ("+79123456789", "RU"),
            ("+2348031234567", "NG"),
        ] {
            assert_eq!(Country::of_number(number).as_str(), country, "{number}");
        }
    }

    /// SPEC §13: a number of a shared calling code that no region's
    /// metadata claims (an unassigned range) is its main region's.
    #[test]
    fn numbers_no_region_claims_count_under_their_calling_codes_main_region() {
        for (number, country) in [
            ("+447612345678", "GB"),
            ("+441000000000", "GB"),
            ("+446123456789", "GB"),
            ("+12002345678", "US"),
            ("+19992345678", "US"),
            ("+71001234567", "RU"),
        ] {
            assert_eq!(Country::of_number(number).as_str(), country, "{number}");
            // libphonenumber itself places none of them.
            let parsed = phonenumber::parse(None, number).map(|p| p.country().id());
            assert!(matches!(parsed, Ok(None)), "{number}: {parsed:?}");
        }
    }

    #[test]
    fn every_shared_calling_code_has_a_main_region() {
        for (code, entry) in table() {
            if let Entry::Shared { main, .. } = entry {
                assert_ne!(*main, Country::Unknown, "+{code}");
            }
        }
    }

    #[test]
    fn numbers_without_a_country_are_unknown() {
        // A calling code no country has, and a global service number.
        for number in ["+99912345678", "+80012340000"] {
            assert_eq!(Country::of_number(number), Country::Unknown, "{number}");
        }
    }

    /// The tables agree with `phonenumber`'s own region lookup on the
    /// example numbers of every region in the metadata. The few differences
    /// are the crate misreading an E.164 number (it strips Russia's national
    /// prefix `8` even after `+7`, and drops Italy's leading zero before
    /// matching): there the fast lookup names the example's own region or
    /// the region that shares its calling code and claims it first, as
    /// libphonenumber's Java original does.
    #[test]
    fn the_fast_lookup_agrees_with_libphonenumber_on_every_example_number() {
        let mut agreed = 0;
        let mut owner_instead = Vec::new();
        for metadata in DATABASE.iter() {
            let d = metadata.descriptors();
            let examples = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.voip(),
            ];
            for example in examples
                .into_iter()
                .flatten()
                .filter_map(Descriptor::example)
            {
                let e164 = format!("+{}{example}", metadata.country_code());
                let Ok(parsed) = phonenumber::parse(None, &e164) else {
                    continue;
                };
                let crate_says = parsed
                    .country()
                    .id()
                    .map_or(Country::Unknown, Country::Known);
                let owner = Country::from_code(metadata.id()).unwrap_or(Country::Unknown);
                let fast = Country::of_number(&e164);
                if fast == crate_says {
                    agreed += 1;
                } else {
                    let sharing = DATABASE
                        .region(&metadata.country_code())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|id| Country::from_code(id))
                        .collect::<Vec<_>>();
                    assert!(
                        fast == owner || sharing.contains(&fast),
                        "{e164}: {fast:?}, crate says {crate_says:?}"
                    );
                    owner_instead.push(e164);
                }
            }
        }
        assert!(agreed > 900, "{agreed} example numbers");
        assert!(
            owner_instead.len() * 100 < agreed,
            "{} differ: {owner_instead:?}",
            owner_instead.len()
        );
    }

    #[test]
    fn codes_from_settings_parse() {
        assert_eq!(
            Country::from_code("FR").map(|c| c.as_str().to_string()),
            Some("FR".into())
        );
        assert_eq!(Country::from_code("XX"), None);
        for country in [Country::from_code("GB"), Some(Country::Unknown)] {
            let label = country.map(|c| c.as_str().to_string()).unwrap_or_default();
            assert_eq!(Country::from_label(&label), country, "{label}");
        }
        assert_eq!(Country::from_label("Unknown"), None);
    }
}
