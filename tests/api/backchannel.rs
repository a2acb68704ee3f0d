//! SPEC §12, OIDC Back-Channel Logout: the logout_token verifier against a
//! tenant played by wiremock that publishes its keys at
//! `/.well-known/jwks.json`. Tokens are signed RS256 with keys made here,
//! by the `jsonwebtoken` crate, as Auth0 signs them; every JWKS fetch is
//! counted with `.expect(n)`.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use login_gateway::session::logout_token::{
    LogoutTokenError, LogoutTokens, BACKCHANNEL_LOGOUT_EVENT,
};
use login_gateway::session::unix_now;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::revocation::{after_second, assert_ended, get_session, login_as, metrics};
use crate::session::KEY_1;

const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Three tenant keys, made once for the whole binary (RSA-2048 generation
/// is the slow part).
static KEYS: LazyLock<Vec<RsaPrivateKey>> = LazyLock::new(|| {
    (0..3)
        .map(|_| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key"))
        .collect()
});

/// A tenant key and the `kid` it is published under.
#[derive(Clone, Copy)]
struct Key {
    index: usize,
    kid: &'static str,
}

const KEY_A: Key = Key {
    index: 0,
    kid: "key-a",
};
const KEY_B: Key = Key {
    index: 1,
    kid: "key-b",
};
/// Never published: tokens signed with it have a bad signature.
const KEY_OTHER: Key = Key {
    index: 2,
    kid: "key-other",
};

impl Key {
    fn private(self) -> &'static RsaPrivateKey {
        &KEYS[self.index]
    }

    /// The public key as Auth0 publishes it.
    fn jwk(self) -> Value {
        let private = self.private();
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
            "x5t": "not-checked",
        })
    }

    /// `claims` signed RS256 under this key, the header naming `kid`.
    fn sign_as(self, kid: &str, claims: &Value) -> String {
        let der = self.private().to_pkcs1_der().expect("DER");
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(der.as_bytes()))
            .expect("signed")
    }

    fn sign(self, claims: &Value) -> String {
        self.sign_as(self.kid, claims)
    }
}

fn jwks(keys: &[Key]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// A tenant serving `keys`, expected to be asked `fetches` times.
async fn tenant(keys: &[Key], fetches: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(keys)))
        .expect(fetches)
        .mount(&server)
        .await;
    server
}

/// The verifier the gateway builds from its settings, for `server`.
fn verifier(server: &MockServer) -> LogoutTokens {
    let settings = settings_from_env(&base_env(&server.uri())).expect("valid settings");
    LogoutTokens::from_settings(&settings.auth0).expect("a verifier")
}

fn issuer(server: &MockServer) -> String {
    format!("{}/", server.uri())
}

/// The claims of a logout token as Auth0 sends it.
fn logout_claims(server: &MockServer) -> Value {
    let now = unix_now();
    json!({
        "iss": issuer(server), "aud": CLIENT_ID, "iat": now, "exp": now + 120,
        "jti": "0b2b4c2a-logout", "sid": "auth0-sid-1", "sub": "email|jane@example.com",
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    })
}

fn changed(mut claims: Value, change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    if let Some(map) = claims.as_object_mut() {
        change(map);
    }
    claims
}

#[tokio::test]
async fn a_token_with_sid_and_sub_verifies_and_the_keys_are_fetched_once() {
    let server = tenant(&[KEY_A], 1).await;
    let tokens = verifier(&server);
    let token = KEY_A.sign(&logout_claims(&server));
    for _ in 0..3 {
        let claims = tokens.verify(&token).await.expect("a valid logout token");
        assert_eq!(claims.sid.as_deref(), Some("auth0-sid-1"));
        assert_eq!(claims.sub.as_deref(), Some("email|jane@example.com"));
        assert!(claims.iat.abs_diff(unix_now()) < 5);
    }
}

#[tokio::test]
async fn a_token_with_only_sub_and_a_list_audience_verifies() {
    let server = tenant(&[KEY_A], 1).await;
    let tokens = verifier(&server);
    let claims = changed(logout_claims(&server), |c| {
        c.remove("sid");
        c.remove("exp");
        c.insert("aud".into(), json!(["another-client", CLIENT_ID]));
    });
    let verified = tokens
        .verify(&KEY_A.sign(&claims))
        .await
        .expect("a valid logout token");
    assert_eq!(verified.sid, None);
    assert_eq!(verified.sub.as_deref(), Some("email|jane@example.com"));
}

#[tokio::test]
async fn each_broken_token_is_refused_with_its_own_reason() {
    let server = tenant(&[KEY_A], 1).await;
    let tokens = verifier(&server);
    let good = logout_claims(&server);
    let now = unix_now();
    let signed = |change: fn(&mut serde_json::Map<String, Value>)| {
        KEY_A.sign(&changed(good.clone(), change))
    };
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(KEY_A.kid.to_string());
        jsonwebtoken::encode(
            &header,
            &good,
            &EncodingKey::from_secret(b"public-knowledge"),
        )
        .expect("signed")
    };
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, KEY_A.kid)),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "signed by a key the tenant never published",
            KEY_OTHER.sign_as(KEY_A.kid, &good),
            "bad signature",
        ),
        (
            "another issuer",
            signed(|c| drop(c.insert("iss".into(), json!("https://evil.example/")))),
            "iss is not the tenant",
        ),
        (
            "another audience",
            signed(|c| drop(c.insert("aud".into(), json!("another-client")))),
            "aud is not the client id",
        ),
        (
            "no events",
            signed(|c| drop(c.remove("events"))),
            "no events",
        ),
        (
            "events without the logout member",
            signed(|c| drop(c.insert("events".into(), json!({"urn:other": {}})))),
            "events has no back-channel logout member",
        ),
        (
            "the logout member is not an object",
            signed(|c| drop(c.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: true })))),
            "the back-channel logout event is not an object",
        ),
        (
            "a nonce (an ID token)",
            signed(|c| drop(c.insert("nonce".into(), json!("n-0S6_WzA2Mj")))),
            "a nonce is present",
        ),
        (
            "neither sid nor sub",
            signed(|c| {
                c.remove("sid");
                c.remove("sub");
            }),
            "neither sid nor sub",
        ),
        (
            "issued in the future",
            KEY_A.sign(&changed(good.clone(), |c| {
                drop(c.insert("iat".into(), json!(now + 3600)))
            })),
            "iat is in the future",
        ),
        (
            "no iat",
            signed(|c| drop(c.remove("iat"))),
            "no iat (or not a whole number)",
        ),
        (
            "expired",
            KEY_A.sign(&changed(good.clone(), |c| {
                drop(c.insert("exp".into(), json!(now - 3600)))
            })),
            "expired",
        ),
        ("HS256 under a published key id", hs256, "alg is not RS256"),
        (
            "alg none",
            unsigned,
            "the header's alg is missing or unsupported",
        ),
        (
            "garbage",
            "not-a-jwt".to_string(),
            "not a JWS in compact form",
        ),
        (
            "a kid the tenant does not publish",
            KEY_A.sign_as("key-unknown", &good),
            "unknown kid",
        ),
    ];
    let mut reasons = HashSet::new();
    for (what, token, reason) in &cases {
        assert_eq!(
            tokens.verify(token).await,
            Err(LogoutTokenError::Invalid(reason)),
            "{what}"
        );
        let shown = LogoutTokenError::Invalid(reason).to_string();
        assert!(
            !shown.contains(token.as_str()),
            "{what}: the token is never shown"
        );
        reasons.insert(*reason);
    }
    assert_eq!(reasons.len(), cases.len(), "every rule has its own reason");
}

#[tokio::test]
async fn a_key_added_after_the_first_fetch_is_picked_up_and_refetches_are_spaced() {
    let server = MockServer::start().await;
    // The first answer has key A only; every later one A and B.
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[KEY_A])))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[KEY_A, KEY_B])))
        .expect(1)
        .mount(&server)
        .await;
    let interval = Duration::from_millis(500);
    let tokens = verifier(&server).with_refetch_interval(interval);
    let claims = logout_claims(&server);
    tokens
        .verify(&KEY_A.sign(&claims))
        .await
        .expect("key A verifies");
    // B was published right after that fetch: too soon to ask again.
    let by_b = KEY_B.sign(&claims);
    assert_eq!(
        tokens.verify(&by_b).await,
        Err(LogoutTokenError::Invalid("unknown kid"))
    );
    tokio::time::sleep(interval).await;
    tokens
        .verify(&by_b)
        .await
        .expect("the new key is fetched and verifies");
    // Another unknown kid right after that refetch costs no fetch.
    assert_eq!(
        tokens.verify(&KEY_A.sign_as("key-c", &claims)).await,
        Err(LogoutTokenError::Invalid("unknown kid"))
    );
    tokens
        .verify(&KEY_A.sign(&claims))
        .await
        .expect("key A still verifies from the cache");
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_no_fetch_within_ten_seconds() {
    let server = tenant(&[KEY_A], 1).await;
    let tokens = verifier(&server);
    let claims = logout_claims(&server);
    tokens
        .verify(&KEY_A.sign(&claims))
        .await
        .expect("key A verifies");
    for i in 0..50 {
        let token = KEY_A.sign_as(&format!("random-kid-{i}"), &claims);
        assert_eq!(
            tokens.verify(&token).await,
            Err(LogoutTokenError::Invalid("unknown kid"))
        );
    }
}

#[tokio::test]
async fn concurrent_tokens_on_a_cold_cache_share_one_fetch() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(jwks(&[KEY_A]))
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let tokens = Arc::new(verifier(&server));
    let token = Arc::new(KEY_A.sign(&logout_claims(&server)));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (tokens, token) = (tokens.clone(), token.clone());
            tokio::spawn(async move { tokens.verify(&token).await })
        })
        .collect();
    for call in calls {
        assert!(call.await.expect("the task ends").is_ok());
    }
}

#[tokio::test]
async fn an_unreachable_or_failing_jwks_is_unavailable_and_not_asked_again_at_once() {
    // A tenant that answers 503, asked once in two calls.
    let failing = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&failing)
        .await;
    let tokens = verifier(&failing);
    let token = KEY_A.sign(&logout_claims(&failing));
    for _ in 0..2 {
        assert_eq!(
            tokens.verify(&token).await,
            Err(LogoutTokenError::JwksUnavailable)
        );
    }

    // A tenant that is down: nothing listens on its port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let settings =
        settings_from_env(&base_env(&format!("http://127.0.0.1:{port}"))).expect("valid settings");
    let tokens = LogoutTokens::from_settings(&settings.auth0).expect("a verifier");
    let claims = changed(logout_claims(&failing), |c| {
        drop(c.insert("iss".into(), json!(format!("http://127.0.0.1:{port}/"))))
    });
    assert_eq!(
        tokens.verify(&KEY_A.sign(&claims)).await,
        Err(LogoutTokenError::JwksUnavailable)
    );
}

#[tokio::test]
async fn other_entries_of_the_key_set_are_skipped_and_a_set_without_rs256_keys_is_unavailable() {
    let mixed = MockServer::start().await;
    let mut ec = json!({"kty": "EC", "crv": "P-256", "kid": "ec", "use": "sig",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uE0qh9Ns", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    ec["alg"] = json!("ES256");
    let mut encryption = KEY_B.jwk();
    encryption["use"] = json!("enc");
    let mut no_kid = KEY_B.jwk();
    no_kid.as_object_mut().map(|k| k.remove("kid"));
    let set = json!({"keys": [ec, encryption, no_kid, {"kty": "oct"}, KEY_A.jwk()]});
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(set))
        .expect(1)
        .mount(&mixed)
        .await;
    let tokens = verifier(&mixed);
    let claims = logout_claims(&mixed);
    tokens
        .verify(&KEY_A.sign(&claims))
        .await
        .expect("the RS256 key of the set verifies");
    assert_eq!(
        tokens.verify(&KEY_B.sign(&claims)).await,
        Err(LogoutTokenError::Invalid("unknown kid")),
        "an encryption key never verifies a signature"
    );

    let only_ec = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"keys": [{"kty": "oct", "kid": "key-a", "k": "c2VjcmV0"}]})),
        )
        .expect(1)
        .mount(&only_ec)
        .await;
    let tokens = verifier(&only_ec);
    assert_eq!(
        tokens.verify(&KEY_A.sign(&logout_claims(&only_ec))).await,
        Err(LogoutTokenError::JwksUnavailable),
        "a shared secret under the token's kid is not a key"
    );
}

#[tokio::test]
async fn a_key_set_over_the_answer_cap_is_unavailable() {
    let server = MockServer::start().await;
    let mut set = jwks(&[KEY_A]);
    set["padding"] = json!("x".repeat(70_000));
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(set))
        .expect(1)
        .mount(&server)
        .await;
    let settings = settings_from_env(&{
        let mut env = base_env(&server.uri());
        env.push(("GATEWAY__AUTH0__MAX_RESPONSE_BYTES".into(), "65536".into()));
        env
    })
    .expect("valid settings");
    let tokens = LogoutTokens::from_settings(&settings.auth0).expect("a verifier");
    assert_eq!(
        tokens.verify(&KEY_A.sign(&logout_claims(&server))).await,
        Err(LogoutTokenError::JwksUnavailable)
    );
}

/// The demo tenant, ending sessions the way Auth0 does, posting to a
/// gateway played by wiremock.
mod demo {
    use login_gateway::demo::end_session::END_SESSION_PATH;
    use login_gateway::demo::{DemoTenant, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
    use wiremock::matchers::header;

    use super::*;

    const APP_ORIGIN: &str = "http://127.0.0.1:5999";
    const JANE: &str = "email|jane@example.com";
    const BACKCHANNEL_PATH: &str = "/session/backchannel-logout";

    fn client() -> reqwest::Client {
        crate::helpers::http_client()
    }

    /// Signs `email` in at the tenant; the `sid` of its id_token.
    async fn sign_in(demo: &DemoTenant, email: &str) -> String {
        let client = client();
        let start = client
            .post(format!("{}/passwordless/start", demo.base_url))
            .json(&json!({
                "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                "connection": "email", "email": email, "send": "code",
            }))
            .send()
            .await
            .expect("the tenant answers");
        assert_eq!(start.status(), 200);
        let code = demo.tenant.pending_code(email).expect("a code");
        let tokens: Value = client
            .post(format!("{}/oauth/token", demo.base_url))
            .json(&json!({
                "grant_type": "http://auth0.com/oauth/grant-type/passwordless/otp",
                "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                "username": email, "otp": code, "realm": "email",
                "scope": "openid offline_access",
            }))
            .send()
            .await
            .expect("the tenant answers")
            .json()
            .await
            .expect("JSON");
        let id_token = tokens["id_token"].as_str().expect("an id_token");
        let payload = id_token.split('.').nth(1).expect("a JWT");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
                .expect("JSON claims");
        claims["sid"].as_str().expect("a sid").to_string()
    }

    async fn end_session(
        demo: &DemoTenant,
        origin: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut request = client()
            .post(format!("{}{END_SESSION_PATH}", demo.base_url))
            .json(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send().await.expect("the tenant answers")
    }

    /// The gateway's verifier for the demo tenant.
    fn verifier_for(demo: &DemoTenant) -> LogoutTokens {
        let mut env = base_env(&demo.base_url);
        env.retain(|(key, _)| key != "GATEWAY__AUTH0__CLIENT_ID");
        env.push(("GATEWAY__AUTH0__CLIENT_ID".into(), DEMO_CLIENT_ID.into()));
        let settings = settings_from_env(&env).expect("valid settings");
        LogoutTokens::from_settings(&settings.auth0).expect("a verifier")
    }

    /// The logout tokens the gateway received, in order.
    async fn received_tokens(gateway: &MockServer) -> Vec<String> {
        gateway
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|request| {
                let fields: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
                    .into_owned()
                    .collect();
                assert_eq!(fields.len(), 1, "logout_token only");
                assert_eq!(fields[0].0, "logout_token");
                fields[0].1.clone()
            })
            .collect()
    }

    #[tokio::test]
    async fn ending_a_users_session_posts_one_verifiable_logout_token_per_auth0_session() {
        let demo = DemoTenant::start().await.expect("demo tenant starts");
        let gateway = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(BACKCHANNEL_PATH))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .respond_with(ResponseTemplate::new(204))
            .expect(3)
            .mount(&gateway)
            .await;
        demo.tenant.link(&gateway.uri(), Some(APP_ORIGIN));
        let first = sign_in(&demo, "jane@example.com").await;
        let second = sign_in(&demo, "jane@example.com").await;
        sign_in(&demo, "joe@example.com").await;
        assert_ne!(first, second);

        let response = end_session(&demo, Some(APP_ORIGIN), &json!({"sub": JANE})).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            crate::helpers::header_str(response.headers(), "access-control-allow-origin"),
            Some(APP_ORIGIN)
        );
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(
            body,
            json!({"sub": JANE, "sessions": [
                {"sid": first, "gateway_status": 204},
                {"sid": second, "gateway_status": 204},
            ]})
        );

        let tokens = verifier_for(&demo);
        let received = received_tokens(&gateway).await;
        assert_eq!(received.len(), 2);
        for (token, sid) in received.iter().zip([&first, &second]) {
            let claims = tokens.verify(token).await.expect("the gateway accepts it");
            assert_eq!(claims.sid.as_deref(), Some(sid.as_str()));
            assert_eq!(claims.sub.as_deref(), Some(JANE));
        }
        assert!(
            demo.tenant.sids_of(JANE).is_empty(),
            "jane's sessions ended"
        );
        assert_eq!(demo.tenant.sids_of("email|joe@example.com").len(), 1);

        // No session left: one token naming the user only.
        let again = end_session(&demo, None, &json!({"sub": JANE})).await;
        let body: Value = again.json().await.expect("JSON");
        assert_eq!(
            body["sessions"],
            json!([{"sid": null, "gateway_status": 204}])
        );
        let last = received_tokens(&gateway)
            .await
            .pop()
            .expect("a third token");
        let claims = tokens.verify(&last).await.expect("the gateway accepts it");
        assert_eq!((claims.sid, claims.sub.as_deref()), (None, Some(JANE)));
    }

    #[tokio::test]
    async fn the_gateways_answer_is_reported_and_strangers_cannot_ask() {
        let demo = DemoTenant::start().await.expect("demo tenant starts");
        // Not linked yet: nowhere to post.
        let unlinked = end_session(&demo, None, &json!({"sub": JANE})).await;
        assert_eq!(unlinked.status(), 409);

        let gateway = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(BACKCHANNEL_PATH))
            .respond_with(ResponseTemplate::new(404))
            .expect(1)
            .mount(&gateway)
            .await;
        demo.tenant.link(&gateway.uri(), Some(APP_ORIGIN));
        let sid = sign_in(&demo, "jane@example.com").await;
        let body: Value = end_session(&demo, None, &json!({"sub": JANE, "sid": sid}))
            .await
            .json()
            .await
            .expect("JSON");
        assert_eq!(
            body["sessions"],
            json!([{"sid": sid, "gateway_status": 404}]),
            "the route not wired (or off) shows as the gateway's 404"
        );

        // Refused before anything is sent.
        let stranger =
            end_session(&demo, Some("https://evil.example"), &json!({"sub": JANE})).await;
        assert_eq!(stranger.status(), 403);
        assert!(stranger
            .headers()
            .get("access-control-allow-origin")
            .is_none());
        for bad in [
            json!({}),
            json!({"sub": ""}),
            json!({"sub": 5}),
            json!({"sub": JANE, "sid": []}),
        ] {
            assert_eq!(end_session(&demo, None, &bad).await.status(), 400, "{bad}");
        }
        let form = client()
            .post(format!("{}{END_SESSION_PATH}", demo.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("sub=email%7Cjane%40example.com")
            .send()
            .await
            .expect("the tenant answers");
        assert_eq!(form.status(), 415, "a cross-site form cannot send it");

        // The app's preflight, and nobody else's.
        let preflight = |origin: &'static str| {
            client()
                .request(
                    reqwest::Method::OPTIONS,
                    format!("{}{END_SESSION_PATH}", demo.base_url),
                )
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
        };
        let allowed = preflight(APP_ORIGIN).await.expect("the tenant answers");
        assert_eq!(allowed.status(), 204);
        let headers = allowed.headers();
        assert_eq!(
            crate::helpers::header_str(headers, "access-control-allow-origin"),
            Some(APP_ORIGIN)
        );
        assert_eq!(
            crate::helpers::header_str(headers, "access-control-allow-methods"),
            Some("POST")
        );
        assert_eq!(
            crate::helpers::header_str(headers, "access-control-allow-headers"),
            Some("content-type")
        );
        let refused = preflight("https://evil.example")
            .await
            .expect("the tenant answers");
        assert_eq!(refused.status(), 403);
    }
}

// --- The route, over the wire: `POST /session/backchannel-logout` ---

/// A cookie login of `who` (`jane` or `joe`) from Auth0 session `sid`
/// (none: an id_token without one): the session cookie.
async fn signed_in(app: &TestApp, who: &str, sid: Option<&str>) -> String {
    let extra = sid.map_or(json!({}), |sid| json!({ "sid": sid }));
    let (email, sub) = (format!("{who}@example.com"), format!("email|{who}"));
    login_as(app, &email, &sub, extra, 86400).await
}

/// Cookie sessions and the back-channel route on.
const BACKCHANNEL_ON: &[(&str, &str)] = &[
    ("GATEWAY__SESSION__ENABLED", "true"),
    ("GATEWAY__SESSION__KEYS", KEY_1),
    ("GATEWAY__SESSION__BACKCHANNEL_LOGOUT", "true"),
];

/// The tenant `auth0` publishes `KEY_A`, asked at most `fetches` times.
pub(crate) async fn publish_tenant_key(auth0: &MockServer, fetches: u64) {
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[KEY_A])))
        .expect(fetches)
        .named("the tenant's key set")
        .mount(auth0)
        .await;
}

/// A logout token as the tenant `auth0` signs it (under `KEY_A`), naming
/// Auth0 session `sid` (or none) of user `sub`.
pub(crate) fn tenant_logout_token(auth0: &MockServer, sid: Option<&str>, sub: &str) -> String {
    let claims = changed(logout_claims(auth0), |claims| {
        claims.insert("sub".into(), json!(sub));
        match sid {
            Some(sid) => claims.insert("sid".into(), json!(sid)),
            None => claims.remove("sid"),
        };
    });
    KEY_A.sign(&claims)
}

/// A gateway with cookie sessions and the back-channel route on; its
/// Auth0 (`app.auth0`) publishes `KEY_A`, fetched at most `fetches` times.
async fn backchannel_app(fetches: u64) -> TestApp {
    let app = spawn_app_with(BACKCHANNEL_ON).await;
    publish_tenant_key(&app.auth0, fetches).await;
    app
}

/// Auth0's call: `logout_token=<token>`, form-encoded, from its server
/// (no cookie, no CSRF header).
async fn post_logout_token(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/session/backchannel-logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("logout_token={token}"))
        .send()
        .await
        .expect("the gateway answers")
}

/// Upstream calls other than the key set: logins and refreshes.
async fn auth0_calls(app: &TestApp) -> usize {
    app.upstream_requests()
        .await
        .iter()
        .filter(|r| r.url.path() != JWKS_PATH)
        .count()
}

fn app_claims(app: &TestApp, sid: Option<&str>, sub: &str) -> Value {
    let mut claims = logout_claims(&app.auth0);
    claims["sub"] = json!(sub);
    match sid {
        Some(sid) => claims["sid"] = json!(sid),
        None => {
            if let Some(map) = claims.as_object_mut() {
                map.remove("sid");
            }
        }
    }
    claims
}

#[tokio::test]
async fn a_logout_token_with_sid_ends_only_that_auth0_sessions_cookies() {
    let app = backchannel_app(1).await;
    let a = signed_in(&app, "jane", Some("sid-a")).await;
    let b = signed_in(&app, "jane", Some("sid-b")).await;
    let joe = signed_in(&app, "joe", Some("sid-j")).await;
    let calls = auth0_calls(&app).await;

    let token = tenant_logout_token(&app.auth0, Some("sid-a"), "email|jane");
    let answer = post_logout_token(&app, &token).await;
    assert_eq!(answer.status(), 204);
    assert_eq!(
        header_str(answer.headers(), "cache-control"),
        Some("no-store")
    );

    assert_ended(&app, get_session(&app, &a).await).await;
    assert_eq!(
        get_session(&app, &b).await.status(),
        200,
        "another Auth0 session"
    );
    assert_eq!(get_session(&app, &joe).await.status(), 200, "another user");
    assert_eq!(
        auth0_calls(&app).await,
        calls,
        "no Auth0 call but the key set"
    );
    let seen = metrics(&app).await;
    assert!(
        seen.contains("gateway_backchannel_logout_total{outcome=\"ok\"}"),
        "{seen}"
    );
    assert!(
        seen.contains("gateway_session_revocations_total{reason=\"backchannel\"}"),
        "{seen}"
    );
}

#[tokio::test]
async fn a_logout_token_with_only_sub_ends_every_earlier_session_of_the_user() {
    let app = backchannel_app(1).await;
    let a = signed_in(&app, "jane", Some("sid-a")).await;
    let b = signed_in(&app, "jane", None).await;
    let joe = signed_in(&app, "joe", Some("sid-j")).await;

    let claims = app_claims(&app, None, "email|jane");
    let iat = claims["iat"].as_u64().expect("iat");
    let answer = post_logout_token(&app, &KEY_A.sign(&claims)).await;
    assert_eq!(answer.status(), 204);
    assert_ended(&app, get_session(&app, &a).await).await;
    assert_ended(&app, get_session(&app, &b).await).await;
    assert_eq!(get_session(&app, &joe).await.status(), 200);

    // A login after the token's second is a new session: it lives.
    after_second(iat).await;
    let later = signed_in(&app, "jane", Some("sid-c")).await;
    assert_eq!(get_session(&app, &later).await.status(), 200);
}

#[tokio::test]
async fn each_broken_logout_token_is_400_and_ends_nothing() {
    let app = backchannel_app(1).await;
    let jane = signed_in(&app, "jane", Some("sid-a")).await;
    let good = app_claims(&app, Some("sid-a"), "email|jane");
    let now = unix_now();
    let broken: Vec<(&str, String)> = vec![
        ("bad signature", KEY_OTHER.sign_as(KEY_A.kid, &good)),
        (
            "wrong iss",
            KEY_A.sign(&changed(good.clone(), |c| {
                c.insert("iss".into(), json!("https://evil.example/"));
            })),
        ),
        (
            "wrong aud",
            KEY_A.sign(&changed(good.clone(), |c| {
                c.insert("aud".into(), json!("another-client"));
            })),
        ),
        (
            "no events",
            KEY_A.sign(&changed(good.clone(), |c| {
                c.remove("events");
            })),
        ),
        (
            "events not an object",
            KEY_A.sign(&changed(good.clone(), |c| {
                c.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" }));
            })),
        ),
        (
            "nonce",
            KEY_A.sign(&changed(good.clone(), |c| {
                c.insert("nonce".into(), json!("n-0S6_WzA2Mj"));
            })),
        ),
        (
            "neither sid nor sub",
            KEY_A.sign(&changed(good.clone(), |c| {
                c.remove("sid");
                c.remove("sub");
            })),
        ),
        (
            "iat in the future",
            KEY_A.sign(&changed(good.clone(), |c| {
                c.insert("iat".into(), json!(now + 600));
            })),
        ),
        (
            "expired",
            KEY_A.sign(&changed(good.clone(), |c| {
                c.insert("iat".into(), json!(now - 900));
                c.insert("exp".into(), json!(now - 600));
            })),
        ),
        ("not a JWT", "not-a-jwt".to_string()),
    ];
    for (case, token) in &broken {
        let answer = post_logout_token(&app, token).await;
        assert_eq!(answer.status(), 400, "{case}");
        let body: Value = answer.json().await.expect("JSON error");
        assert_eq!(body["error"], "invalid_request", "{case}");
        assert!(
            !body.to_string().contains(token.as_str()),
            "{case}: the token is echoed"
        );
    }
    // JSON instead of a form, a second token, none at all.
    let token = KEY_A.sign(&good);
    let json_body = app
        .client
        .post(app.url("/session/backchannel-logout"))
        .json(&json!({ "logout_token": token }))
        .send()
        .await
        .expect("answers");
    assert_error(&app, json_body, 400, "invalid_request").await;
    for body in [
        format!("logout_token={token}&logout_token={token}"),
        "state=x".to_string(),
    ] {
        let answer = app
            .client
            .post(app.url("/session/backchannel-logout"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("answers");
        assert_error(&app, answer, 400, "invalid_request").await;
    }
    assert_eq!(
        get_session(&app, &jane).await.status(),
        200,
        "nothing ended"
    );
    let seen = metrics(&app).await;
    assert!(
        seen.contains("gateway_backchannel_logout_total{outcome=\"invalid\"}"),
        "{seen}"
    );
}

#[tokio::test]
async fn the_route_ignores_cookies_and_csrf_and_is_404_unless_turned_on() {
    // Auth0's server sends no CSRF header; a browser's cookie on the call
    // changes nothing (the route reads none).
    let app = backchannel_app(1).await;
    let jane = signed_in(&app, "jane", Some("sid-a")).await;
    let token = KEY_A.sign(&app_claims(&app, Some("sid-a"), "email|jane"));
    let answer = app
        .client
        .post(app.url("/session/backchannel-logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &jane)
        .header("origin", "https://evil.example")
        .body(format!("logout_token={token}"))
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.status(), 204);
    assert_ended(&app, get_session(&app, &jane).await).await;

    let off = spawn_app_with(&[
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", KEY_1),
    ])
    .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&off.auth0)
        .await;
    let refused = post_logout_token(&off, &token).await;
    assert_error(&off, refused, 404, "not_found").await;
}

#[tokio::test]
async fn an_unreachable_key_set_is_502_and_ends_nothing() {
    let app = spawn_app_with(BACKCHANNEL_ON).await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let jane = signed_in(&app, "jane", Some("sid-a")).await;
    let token = KEY_A.sign(&app_claims(&app, Some("sid-a"), "email|jane"));
    let answer = post_logout_token(&app, &token).await;
    assert_error(&app, answer, 502, "upstream_error").await;
    assert_eq!(get_session(&app, &jane).await.status(), 200);
}
