//! The either/or request bodies of `/mfa/associate` (one branch per factor),
//! `/mfa/challenge` (`otp` or `oob`) and `/mfa/verify` (one branch per kind
//! of proof).

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{Discriminator, ObjectBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::patterns;

use super::{
    branch, email_schema, hand_schema, nullable_opaque, nullable_string, opaque_schema,
    phone_schema, request_union, string_schema,
};

/// `factor` of one `/mfa/associate` branch: a single value.
fn factor_schema(factor: &'static str, description: &str) -> ObjectBuilder {
    string_schema()
        .enum_values(Some([factor]))
        .description(Some(description))
}

hand_schema!(
    /// `POST /mfa/associate`: an authenticator app.
    MfaAssociateOtp,
    || {
        branch(
            "Enroll an authenticator app (TOTP): the answer has `secret` and `barcode_uri`; \
             confirm with `POST /mfa/verify` `{\"otp\"}`.",
            json!({"factor": "otp"}),
        )
        .property(
            "factor",
            factor_schema("otp", "`otp`: an authenticator app."),
        )
        .required("factor")
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/associate`: Auth0 Guardian push.
    MfaAssociatePush,
    || {
        branch(
            "Enroll Auth0 Guardian (push): the answer's `barcode_uri` is scanned by the \
             app; poll `POST /mfa/verify` `{\"oob_code\"}` until it is approved.",
            json!({"factor": "push"}),
        )
        .property(
            "factor",
            factor_schema("push", "`push`: Auth0 Guardian."),
        )
        .required("factor")
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/associate`: codes by text message.
    MfaAssociateSms,
    || {
        branch(
            "Enroll a phone for codes by text message.",
            json!({"factor": "sms", "phone_number": "+14155550100"}),
        )
        .property(
            "factor",
            factor_schema("sms", "`sms`: a code by text message."),
        )
        .required("factor")
        .property("phone_number", phone_schema())
        .required("phone_number")
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/associate`: codes by voice call.
    MfaAssociateVoice,
    || {
        branch(
            "Enroll a phone for codes by voice call.",
            json!({"factor": "voice", "phone_number": "+14155550100"}),
        )
        .property(
            "factor",
            factor_schema("voice", "`voice`: a code by voice call."),
        )
        .required("factor")
        .property("phone_number", phone_schema())
        .required("phone_number")
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/associate`: codes by email.
    MfaAssociateEmail,
    || {
        branch(
            "Enroll an email address for codes by email.",
            json!({"factor": "email", "email": "jane@example.com"}),
        )
        .property(
            "factor",
            factor_schema("email", "`email`: a code by email."),
        )
        .required("factor")
        .property("email", email_schema())
        .required("email")
        .build()
        .into()
    }
);

request_union!(
    /// `POST /mfa/associate`: the factor to enroll and where to reach it.
    MfaAssociateRequest,
    "The factor to enroll, told apart by `factor`. `sms` and `voice` need \
     `phone_number`; `email` needs `email`; `otp` (an authenticator app) and `push` \
     (Auth0 Guardian) need neither.",
    Some((
        "factor",
        &[
            ("otp", "MfaAssociateOtp"),
            ("push", "MfaAssociatePush"),
            ("sms", "MfaAssociateSms"),
            ("voice", "MfaAssociateVoice"),
            ("email", "MfaAssociateEmail"),
        ]
    )),
    [
        MfaAssociateOtp,
        MfaAssociatePush,
        MfaAssociateSms,
        MfaAssociateVoice,
        MfaAssociateEmail
    ]
);

hand_schema!(
    /// `POST /mfa/challenge` of an authenticator app.
    MfaChallengeOtp,
    || {
        branch(
            "Challenge an authenticator app: nothing is sent; the user reads the code \
             from the app and it goes to `POST /mfa/verify` `{\"otp\"}`.",
            json!({"challenge_type": "otp", "authenticator_id": "totp|dev_Ahx4AKyCdjY3hVnO"}),
        )
        .property(
            "challenge_type",
            factor_schema("otp", "`otp`: a code from an authenticator app."),
        )
        .required("challenge_type")
        .property(
            "authenticator_id",
            nullable_opaque(
                "An `id` from `GET /mfa/authenticators`; default: Auth0 picks the app.",
                "totp|dev_Ahx4AKyCdjY3hVnO",
            ),
        )
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/challenge` of an out-of-band factor.
    MfaChallengeOob,
    || {
        branch(
            "Challenge an out-of-band factor: Auth0 sends the text, voice call, email or \
             push of the named authenticator, and the answer's `oob_code` goes to `POST \
             /mfa/verify`.",
            json!({"challenge_type": "oob", "authenticator_id": "sms|dev_NU1Ofuw3Cw0XCt5x"}),
        )
        .property(
            "challenge_type",
            factor_schema("oob", "`oob`: a text, voice call, email or push."),
        )
        .required("challenge_type")
        .property(
            "authenticator_id",
            opaque_schema(
                "An `id` from `GET /mfa/authenticators`; required (without it the answer \
                 is `400 invalid_request`). A text or call (`sms|…`, `voice|…`) spends \
                 that authenticator's `sms_per_phone` budget, the same at every login.",
                "sms|dev_NU1Ofuw3Cw0XCt5x",
            ),
        )
        .required("authenticator_id")
        .build()
        .into()
    }
);

request_union!(
    /// `POST /mfa/challenge`: which kind of challenge, of which authenticator.
    MfaChallengeRequest,
    "Which kind of challenge, told apart by `challenge_type`. An `oob` challenge must \
     name its `authenticator_id`; an `otp` one may.",
    Some((
        "challenge_type",
        &[("otp", "MfaChallengeOtp"), ("oob", "MfaChallengeOob")]
    )),
    [MfaChallengeOtp, MfaChallengeOob]
);

hand_schema!(
    /// `POST /mfa/verify` with a code from an authenticator app.
    MfaVerifyWithOtp,
    || {
        branch(
            "The 6-digit code from the authenticator app.",
            json!({"otp": "123456"}),
        )
        .property(
            "otp",
            string_schema()
                .pattern(Some(patterns::OTP))
                .description(Some("The 6-digit code from the app."))
                .examples(["123456"]),
        )
        .required("otp")
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/verify` for an out-of-band challenge (SMS, voice, email, push).
    MfaVerifyWithOobCode,
    || {
        branch(
            "An out-of-band challenge: `oob_code` from `/mfa/challenge` or \
             `/mfa/associate`, and for SMS, voice and email the code the user received.",
            json!({"oob_code": "Fe26.2*ee0f4b4c3f", "binding_code": "482913"}),
        )
        .property(
            "oob_code",
            opaque_schema(
                "The `oob_code` from `/mfa/challenge` or `/mfa/associate`.",
                "Fe26.2*ee0f4b4c3f",
            ),
        )
        .required("oob_code")
        .property(
            "binding_code",
            nullable_string()
                .pattern(Some(patterns::BINDING_CODE))
                .min_length(Some(4))
                .max_length(Some(12))
                .description(Some(
                    "The code the user received by SMS, voice or email \
                     (`binding_method: prompt`). Absent for push: poll until the user \
                     approves (`authorization_pending`).",
                ))
                .examples(["482913"]),
        )
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/verify` with a recovery code.
    MfaVerifyWithRecoveryCode,
    || {
        branch(
            "A recovery code from enrollment; the answer carries a new one.",
            json!({"recovery_code": "B3N7ZQ2K8YV4TR6XW9MP5HLD"}),
        )
        .property(
            "recovery_code",
            opaque_schema("A recovery code from enrollment.", "B3N7ZQ2K8YV4TR6XW9MP5HLD"),
        )
        .required("recovery_code")
        .build()
        .into()
    }
);

request_union!(
    /// `POST /mfa/verify`: exactly one proof of the second factor.
    MfaVerifyRequest,
    "Exactly one of: `otp` (authenticator app), `oob_code` with an optional \
     `binding_code` (SMS, voice, email, push), or `recovery_code`.",
    None,
    [MfaVerifyWithOtp, MfaVerifyWithOobCode, MfaVerifyWithRecoveryCode]
);
