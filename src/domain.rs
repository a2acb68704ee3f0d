//! Parse, don't validate: request fields become these types in the first
//! lines of a handler, and everything after works with values that cannot be
//! invalid. Each `parse` error is the `error_description` the client sees.

use std::borrow::Cow;
use std::fmt;

use crate::secret::Sensitive;

/// A normalised email address (trimmed, lowercased), at most 254 chars.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.len() > 254 {
            return Err("email must be at most 254 characters".into());
        }
        let invalid = || "email must be a valid address, e.g. jane@example.com".to_string();
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
        let domain_ok = domain.len() <= 253
            && domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if local_ok && domain_ok {
            Ok(Self(email))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `j***@example.com`: enough to correlate, not enough to identify.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_email(&self.0))
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_email(&self.0))
    }
}

/// An E.164 number: `+` then 8–15 digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let phone = raw.trim();
        let digits = phone.strip_prefix('+').unwrap_or("");
        if (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
        {
            Ok(Self(phone.to_string()))
        } else {
            Err("phone_number must be E.164, e.g. +14155550100".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `+1*******0100`.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_phone(&self.0))
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_phone(&self.0))
    }
}

/// Who is logging in: exactly one of an email or a phone number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    Email(Email),
    Phone(PhoneNumber),
}

impl Identifier {
    /// Exactly one of the two fields must be present.
    pub fn parse(email: Option<&str>, phone_number: Option<&str>) -> Result<Self, String> {
        match (email, phone_number) {
            (Some(email), None) => Email::parse(email).map(Self::Email),
            (None, Some(phone)) => PhoneNumber::parse(phone).map(Self::Phone),
            (Some(_), Some(_)) => Err("send either email or phone_number, not both".into()),
            (None, None) => Err("email or phone_number is required".into()),
        }
    }

    /// The raw, normalised value Auth0 wants as `username` / `email` / `phone_number`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Email(email) => email.as_str(),
            Self::Phone(phone) => phone.as_str(),
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Self::Email(_) => Channel::Email,
            Self::Phone(_) => Channel::Sms,
        }
    }

    /// The form `/login/start`'s limits key on (SPEC §4): for an email,
    /// the local part without its `+tag`, and for Gmail without dots, so
    /// `jane+x@` and `j.ane@gmail.com` spend Jane's budget; a phone number
    /// as is. Auth0 still receives [`Self::as_str`], which `/login/verify`'s
    /// limits key on (SPEC §13; `rate_limit::identifier_key` decides).
    pub fn limit_key(&self) -> Cow<'_, str> {
        match self {
            Self::Email(email) => canonical_email(email.as_str()),
            Self::Phone(phone) => Cow::Borrowed(phone.as_str()),
        }
    }

    /// The masked form for logs.
    pub fn masked(&self) -> String {
        match self {
            Self::Email(email) => mask_email(email.as_str()),
            Self::Phone(phone) => mask_phone(phone.as_str()),
        }
    }
}

/// An already normalised (trimmed, lowercased) address in the form limits
/// key on.
fn canonical_email(email: &str) -> Cow<'_, str> {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Cow::Borrowed(email);
    };
    // A local part that starts with `+` keeps it: it has no tag to drop.
    let untagged = match local.split_once('+') {
        Some((head, _)) if !head.is_empty() => head,
        _ => local,
    };
    let gmail = matches!(domain, "gmail.com" | "googlemail.com");
    if !gmail && untagged.len() == local.len() {
        return Cow::Borrowed(email);
    }
    if gmail {
        let mut key: String = untagged.chars().filter(|c| *c != '.').collect();
        key.push_str("@gmail.com");
        Cow::Owned(key)
    } else {
        Cow::Owned(format!("{untagged}@{domain}"))
    }
}

/// The form an mfa_token is keyed on: without trailing `=` padding, so
/// `T`, `T=` and `T==` are one token to the limits (SPEC §4).
pub fn mfa_token_key(mfa_token: &str) -> &str {
    mfa_token.trim_end_matches('=')
}

/// Where a passwordless code or link goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

/// A passwordless one-time code: digits only, 4–12 chars.
#[derive(Debug, Clone)]
pub struct OtpCode(Sensitive);

impl OtpCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if (4..=12).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(Sensitive::new(raw)))
        } else {
            Err("code must be 4 to 12 digits".into())
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// 1–`max` visible ASCII characters: codes, tokens and ids that are opaque to
/// the gateway but must not carry whitespace, control characters or
/// anything that could change the meaning of a header or path.
pub fn visible_ascii(field: &str, raw: &str, max: usize) -> Result<Sensitive, String> {
    if !raw.is_empty() && raw.len() <= max && raw.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(Sensitive::new(raw))
    } else {
        Err(format!(
            "{field} must be 1 to {max} visible ASCII characters"
        ))
    }
}

pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "***".to_string();
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    // A fixed-width mask also hides how long the number is.
    format!("{head}*******{tail}")
}

/// The SPEC §1 field rules as JSON Schema patterns: what the OpenAPI
/// document publishes. The parsers above enforce the same rules; a test
/// below checks both agree on a table of values.
pub mod patterns {
    /// E.164: `+`, then 8–15 digits, not starting with 0.
    pub const E164: &str = r"^\+[1-9][0-9]{7,14}$";
    /// A passwordless one-time code: 4–12 digits.
    pub const CODE: &str = r"^[0-9]{4,12}$";
    /// An authenticator-app code: 6 digits.
    pub const OTP: &str = r"^[0-9]{6}$";
    /// An out-of-band binding code: 4–12 visible ASCII characters.
    pub const BINDING_CODE: &str = r"^[\x21-\x7E]{4,12}$";
    /// Opaque codes and ids: 1–512 visible ASCII characters.
    pub const OPAQUE: &str = r"^[\x21-\x7E]{1,512}$";
    /// A refresh token as the gateway forwards it: 1–4096 visible ASCII.
    pub const REFRESH_TOKEN: &str = r"^[\x21-\x7E]{1,4096}$";
    /// A BCP 47 language tag as the gateway checks it (at most 35 chars).
    pub const LOCALE: &str = r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_keys_fold_tags_and_gmail_dots() {
        let key = |email: &str| {
            Identifier::parse(Some(email), None)
                .map(|id| id.limit_key().into_owned())
                .unwrap_or_default()
        };
        for (email, expected) in [
            ("victim@example.com", "victim@example.com"),
            ("Victim+x@Example.com", "victim@example.com"),
            ("victim+a+b@example.com", "victim@example.com"),
            ("v.ictim@example.com", "v.ictim@example.com"),
            ("v.ictim@gmail.com", "victim@gmail.com"),
            ("V.I.C.T.I.M+promo@GoogleMail.com", "victim@gmail.com"),
            ("+tagonly@example.com", "+tagonly@example.com"),
        ] {
            assert_eq!(key(email), expected, "{email}");
        }
        // Auth0 still gets the address as typed (trimmed, lowercased).
        let id = Identifier::parse(Some(" Victim+x@Example.com "), None);
        assert_eq!(
            id.map(|i| i.as_str().to_string()).ok(),
            Some("victim+x@example.com".into())
        );
        let phone = Identifier::parse(None, Some("+14155550100"));
        assert_eq!(
            phone.map(|i| i.limit_key().into_owned()).ok(),
            Some("+14155550100".into())
        );
    }

    #[test]
    fn mfa_token_keys_ignore_padding() {
        assert_eq!(mfa_token_key("T"), "T");
        assert_eq!(mfa_token_key("T="), "T");
        assert_eq!(mfa_token_key("T=="), "T");
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Jane.Doe@Example.COM ").map(|e| e.0),
            Ok("jane.doe@example.com".to_string())
        );
        assert!(Email::parse("mfa+demo@example.com").is_ok());
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "ja ne@example.com",
            "jane@exa_mple.com",
            "jane..doe@example.com",
            "jane@-example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn phone_numbers_are_e164() {
        assert!(PhoneNumber::parse("+14155550100").is_ok());
        assert!(PhoneNumber::parse("+44123456").is_ok());
        for bad in [
            "14155550100",
            "+1415",
            "+1234567890123456",
            "+1 415 555 0100",
            "+0123456789",
            "+",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exactly_one_identifier() {
        assert!(Identifier::parse(Some("a@example.com"), None).is_ok());
        assert!(Identifier::parse(None, Some("+14155550100")).is_ok());
        assert!(Identifier::parse(Some("a@example.com"), Some("+14155550100")).is_err());
        assert!(Identifier::parse(None, None).is_err());
    }

    #[test]
    fn codes_are_4_to_12_digits() {
        assert!(OtpCode::parse("1234").is_ok());
        assert!(OtpCode::parse("123456789012").is_ok());
        for bad in ["123", "1234567890123", "12a456", "", " 123456"] {
            assert!(OtpCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masks_hide_the_middle() {
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_phone("+14155550100"), "+1*******0100");
        assert_eq!(
            format!("{:?}", Identifier::parse(None, Some("+14155550100"))),
            "Ok(Phone(+1*******0100))"
        );
    }

    #[test]
    fn the_published_patterns_are_the_rules_the_parsers_enforce() {
        let matches = |pattern: &str, value: &str| {
            regex::Regex::new(pattern)
                .map(|re| re.is_match(value))
                .unwrap_or(false)
        };
        for phone in [
            "+14155550100",
            "+4915112345678",
            "+123456789012345",
            "+1234567",
            "+1234567890123456",
            "+04155550100",
            "14155550100",
            "+1 415 555",
            "+1415555010a",
            "",
        ] {
            assert_eq!(
                PhoneNumber::parse(phone).is_ok(),
                matches(patterns::E164, phone),
                "{phone:?}"
            );
        }
        for code in [
            "1234",
            "123456789012",
            "123",
            "1234567890123",
            "12a4",
            "",
            "000000",
        ] {
            assert_eq!(
                OtpCode::parse(code).is_ok(),
                matches(patterns::CODE, code),
                "{code:?}"
            );
        }
        for opaque in ["a", "x|y~!", "has space", "", "naïve"] {
            assert_eq!(
                visible_ascii("id", opaque, 512).is_ok(),
                matches(patterns::OPAQUE, opaque),
                "{opaque:?}"
            );
        }
        let long = "a".repeat(513);
        assert!(visible_ascii("id", &long, 512).is_err() && !matches(patterns::OPAQUE, &long));
    }
}
