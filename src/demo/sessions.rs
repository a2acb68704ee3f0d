//! Auth0 sessions in the fake tenant (SPEC §12): who a token belongs to
//! ([`Session`], with one `sid` per sign-in that its refreshes keep), the
//! live `sid`s of each user, and the logout tokens that end them. Kept
//! apart from [`super::tenant`] because only back-channel logout reads the
//! `sid`s; [`super::end_session`] posts the tokens signed here.

use std::collections::HashMap;

use serde_json::json;

use super::tenant::{random_token, unix_now, Tenant, DEMO_CLIENT_ID, MAX_ENTRIES};

/// Auth0 session ids remembered per user; the oldest goes first.
const MAX_SIDS_PER_USER: usize = 32;
/// A logout token's `exp`: Auth0 gives its logout tokens a short life.
const LOGOUT_TOKEN_LIFETIME_SECS: u64 = 120;

/// Who a token belongs to, what it was asked for, and the issuer its
/// tokens name (see [`Tenant::issuer`]).
#[derive(Clone)]
pub(super) struct Session {
    pub subject: String,
    pub audience: String,
    pub scope: String,
    pub issuer: String,
    /// Auth0's session id (`sid` in id_tokens): one per sign-in, kept by
    /// every refresh of it.
    pub sid: String,
}

impl Session {
    /// A new sign-in of `subject`: a new `sid`.
    pub(super) fn sign_in(
        subject: String,
        audience: String,
        scope: String,
        issuer: String,
    ) -> Self {
        Self {
            subject,
            audience,
            scope,
            issuer,
            sid: random_token(32),
        }
    }
}

/// The live Auth0 sessions (`sid`s) of each user, by `sub`: what ending
/// the user's session sends logout tokens for.
#[derive(Default)]
pub(super) struct Sids {
    by_subject: HashMap<String, Vec<String>>,
}

impl Sids {
    /// Records a sign-in's `sid` under its user, bounded per user and
    /// overall.
    pub(super) fn remember(&mut self, session: &Session) {
        if !self.by_subject.contains_key(&session.subject) && self.by_subject.len() >= MAX_ENTRIES {
            self.by_subject.clear();
        }
        let sids = self.by_subject.entry(session.subject.clone()).or_default();
        if !sids.contains(&session.sid) {
            if sids.len() >= MAX_SIDS_PER_USER {
                sids.remove(0);
            }
            sids.push(session.sid.clone());
        }
    }
}

impl Tenant {
    /// The live Auth0 session ids (`sid`) of `subject`, oldest first.
    pub fn sids_of(&self, subject: &str) -> Vec<String> {
        self.lock()
            .sids
            .by_subject
            .get(subject)
            .cloned()
            .unwrap_or_default()
    }

    /// Ends Auth0 sessions of `subject` in the tenant: `sid` alone when
    /// given, otherwise every one it knows. Returns the `sid`s ended (an
    /// unknown `sid` is still returned: the relying party may know it).
    pub(super) fn end_sessions(&self, subject: &str, sid: Option<&str>) -> Vec<String> {
        let mut state = self.lock();
        match sid {
            Some(sid) => {
                if let Some(sids) = state.sids.by_subject.get_mut(subject) {
                    sids.retain(|s| s != sid);
                }
                vec![sid.to_string()]
            }
            None => state.sids.by_subject.remove(subject).unwrap_or_default(),
        }
    }

    /// A logout token as Auth0 signs one (OIDC Back-Channel Logout 1.0
    /// §2.4): RS256 under the tenant's key, for the demo client, with the
    /// back-channel logout event and the `sid` and/or `sub` it ends.
    pub fn logout_token(&self, subject: Option<&str>, sid: Option<&str>) -> String {
        let now = unix_now();
        let mut claims = json!({
            "iss": self.issuer(false),
            "aud": DEMO_CLIENT_ID,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_LIFETIME_SECS,
            "jti": random_token(24),
            "events": { crate::session::logout_token::BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        if let Some(subject) = subject {
            claims["sub"] = json!(subject);
        }
        if let Some(sid) = sid {
            claims["sid"] = json!(sid);
        }
        self.key().sign(&claims)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::demo::passwordless::sign_in_with_code;

    const ISS: &str = "http://127.0.0.1:1/";

    /// A sign-in through the code grant; its id_token's claims and its
    /// refresh token.
    fn sign_in(tenant: &Tenant, email: &str) -> (Value, String) {
        let tokens = sign_in_with_code(tenant, email, ISS).expect("tokens");
        let claims = tenant
            .key()
            .verify(tokens["id_token"].as_str().expect("an id_token"))
            .expect("signed by the tenant");
        let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
        (claims, refresh.to_string())
    }

    #[test]
    fn each_sign_in_gets_its_own_sid_which_its_refreshes_keep() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        let jane = "email|jane@example.com";
        let (first, refresh) = sign_in(&tenant, "jane@example.com");
        let (second, _) = sign_in(&tenant, "jane@example.com");
        let sid = |claims: &Value| claims["sid"].as_str().unwrap_or_default().to_string();
        assert_eq!(sid(&first).len(), 32);
        assert_ne!(sid(&first), sid(&second));
        assert_eq!(tenant.sids_of(jane), vec![sid(&first), sid(&second)]);

        let refreshed = tenant.refresh(&refresh, None, None, ISS).expect("tokens");
        let claims = tenant
            .key()
            .verify(refreshed["id_token"].as_str().expect("an id_token"))
            .expect("signed by the tenant");
        assert_eq!(sid(&claims), sid(&first), "a refresh is the same session");
        assert_eq!(tenant.sids_of(jane).len(), 2);

        assert_eq!(
            tenant.end_sessions(jane, Some(&sid(&first))),
            vec![sid(&first)]
        );
        assert_eq!(tenant.sids_of(jane), vec![sid(&second)]);
        assert_eq!(tenant.end_sessions(jane, None), vec![sid(&second)]);
        assert!(tenant.sids_of(jane).is_empty());
        assert!(tenant.end_sessions(jane, None).is_empty());
    }

    #[test]
    fn a_user_keeps_at_most_the_last_sids() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        for _ in 0..MAX_SIDS_PER_USER + 3 {
            sign_in(&tenant, "jane@example.com");
        }
        assert_eq!(
            tenant.sids_of("email|jane@example.com").len(),
            MAX_SIDS_PER_USER
        );
    }

    #[test]
    fn a_logout_token_is_signed_by_the_tenant_for_the_demo_client() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        let token = tenant.logout_token(Some("email|jane@example.com"), Some("sid-1"));
        let claims = tenant.key().verify(&token).expect("signed by the tenant");
        assert_eq!(claims["iss"], "http://127.0.0.1:1/");
        assert_eq!(claims["aud"], DEMO_CLIENT_ID);
        assert_eq!(claims["sub"], "email|jane@example.com");
        assert_eq!(claims["sid"], "sid-1");
        assert!(claims["jti"].is_string());
        assert!(claims.get("nonce").is_none());
        assert_eq!(
            claims["events"][crate::session::logout_token::BACKCHANNEL_LOGOUT_EVENT],
            json!({})
        );
        let only_sub = tenant.key().verify(&tenant.logout_token(Some("s"), None));
        assert!(only_sub.is_some_and(|c| c.get("sid").is_none()));
    }
}
