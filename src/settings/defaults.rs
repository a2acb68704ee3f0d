//! Compiled-in defaults: the bottom layer of the settings (SPEC §5).
//!
//! A key that has a default here is optional everywhere else; the
//! configuration reference shows these values as the defaults.

/// Compiled-in defaults, written as the TOML an operator would write.
pub const DEFAULTS_TOML: &str = r#"
[server]
bind = "0.0.0.0:8080"
workers = 0
trusted_proxies = []
client_ip_header = "x-forwarded-for"
cors_allowed_origins = []
max_body_bytes = 16384
shutdown_timeout_secs = 30
drain_delay_ms = 5000
client_request_timeout_ms = 5000
client_body_timeout_ms = 10000
metrics_bind = "127.0.0.1:9464"
max_connections = 10000

[auth0]
email_connection = "email"
sms_connection = "sms"
audience = ""
allowed_audiences = []
scope = "openid profile email offline_access"
allowed_scopes = ["openid", "profile", "email", "offline_access"]
magic_link_redirect_uri = ""
timeout_ms = 5000
connect_timeout_ms = 2000
max_response_bytes = 65536

[rate_limit]
enabled = true
backend = "memory"
max_keys = 1000000
per_ip = "120/minute"
login_start_per_ip = "20/hour"
login_start_per_identifier_ip = "5/hour"
login_start_per_identifier = "20/hour"
verify_per_identifier_ip = "10/hour"
verify_per_identifier = "50/hour"
mfa_verify_per_token = "10/minute"
sms_per_phone = "5/hour"
sms_global = "1000/hour"
passkey_register_per_ip = "10/hour"

[rate_limit.redis]
key_prefix = "login-gateway:"
timeout_ms = 50
on_error = "local"

[sms]
allowed_countries = []

[sms.fraud_guard]
enabled = true
window_secs = 3600
min_sends = 50
min_conversion = 0.2
pause_secs = 900

[session]
enabled = false
keys = []
cookie_name = "__Host-lgw"
max_age_secs = 86400
idle_secs = 3600
refresh_reuse_secs = 10
public_origin = ""
api_timeout_ms = 10000
backchannel_logout = false

[session.apis]

[passkey]
enabled = false
connection = "Username-Password-Authentication"

[log]
format = "json"
"#;
