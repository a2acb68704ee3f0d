//! The command line: `--config`, `--check-config`, `--demo`, `--print-openapi`,
//! `--print-config-reference`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::settings::{changed_from_defaults, Settings, SettingsError, Sources};
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(
    name = "login-gateway",
    version,
    about = "Auth0 passwordless login and MFA for SPAs and mobile apps, without the client secret"
)]
pub struct Cli {
    /// TOML settings file, applied over the built-in defaults; environment
    /// variables `GATEWAY__SECTION__KEY` override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Validate the configuration, print `configuration OK` and every key
    /// that differs from its built-in default (secrets not shown), exit.
    #[arg(long)]
    pub check_config: bool,

    /// Run against a built-in fake Auth0 tenant on loopback. For trying the
    /// gateway locally; never for production.
    #[arg(long)]
    pub demo: bool,

    /// Print the OpenAPI 3.1 document (the same as `GET /openapi.json`) and
    /// exit. Needs no configuration.
    #[arg(long)]
    pub print_openapi: bool,

    /// Print the configuration reference (every key, its environment
    /// variable, type, default and meaning) as Markdown and exit. Needs no
    /// configuration.
    #[arg(long)]
    pub print_config_reference: bool,
}

/// Exit code for a configuration that does not validate.
const EXIT_CONFIG: u8 = 2;
/// Exit code for a failure while running.
const EXIT_RUNTIME: u8 = 1;

pub fn run(cli: Cli) -> ExitCode {
    if cli.print_openapi {
        print!("{}", crate::openapi::document_json());
        return ExitCode::SUCCESS;
    }
    if cli.print_config_reference {
        return match crate::settings::reference::markdown() {
            Ok(page) => {
                print!("{page}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("login-gateway: {error}");
                ExitCode::from(EXIT_RUNTIME)
            }
        };
    }
    if cli.check_config {
        return check_config(&cli);
    }
    let system = actix_web::rt::System::new();
    system.block_on(serve(cli))
}

fn sources(cli: &Cli, overrides: Vec<(String, String)>) -> Sources {
    Sources {
        defaults: if cli.demo {
            crate::demo::defaults::settings_defaults()
        } else {
            Vec::new()
        },
        file: cli.config.clone(),
        env: None,
        overrides,
    }
}

fn load(cli: &Cli, overrides: Vec<(String, String)>) -> Result<Settings, SettingsError> {
    Settings::load(&sources(cli, overrides))
}

/// Validates, then prints `configuration OK` and every key whose value
/// differs from the built-in default (the reference's key list; secrets
/// as `[set, not shown]`), so an operator sees what the file and the
/// environment changed without a hand-kept summary.
fn check_config(cli: &Cli) -> ExitCode {
    let sources = sources(cli, Vec::new());
    if let Err(error) = Settings::load(&sources) {
        return config_failure(&error);
    }
    match changed_from_defaults(&sources) {
        Ok(changed) => {
            println!("configuration OK");
            if changed.is_empty() {
                println!("  (every key at its built-in default)");
            }
            for (key, value) in changed {
                println!("  {key} = {value}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => config_failure(&error),
    }
}

fn config_failure(error: &SettingsError) -> ExitCode {
    eprintln!("login-gateway: {error}");
    ExitCode::from(EXIT_CONFIG)
}

async fn serve(cli: Cli) -> ExitCode {
    let mut tenant = None;
    let mut overrides = Vec::new();
    if cli.demo {
        match crate::demo::DemoTenant::start_from_env().await {
            Ok(started) => {
                overrides = started.settings_overrides();
                tenant = Some(started);
            }
            Err(error) => {
                eprintln!("login-gateway: cannot start the demo tenant: {error}");
                return ExitCode::from(EXIT_RUNTIME);
            }
        }
    }
    let mut settings = match load(&cli, overrides) {
        Ok(settings) => settings,
        Err(error) => return config_failure(&error),
    };
    // The demo's example app: its port must be known before the settings
    // are final (its origin joins the CORS list, magic links lead to it).
    let mut app_listener = None;
    if let Some(tenant) = &tenant {
        crate::demo::adjust_settings(&mut settings, tenant);
        match crate::demo::spa::SpaListener::bind_beside(settings.server.bind.port()) {
            Ok(listener) => {
                crate::demo::admit_app(&mut settings, &listener);
                app_listener = Some(listener);
            }
            Err(error) => {
                eprintln!("login-gateway: cannot start the demo app: {error}");
                return ExitCode::from(EXIT_RUNTIME);
            }
        }
    }
    let bind_ip = settings.server.bind.ip();
    let _log_guard = crate::telemetry::init(settings.log.format);
    let application = match Application::build(settings) {
        Ok(application) => application,
        Err(error) => {
            eprintln!("login-gateway: {error}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let mut _demo_app = None;
    if let (Some(tenant), Some(listener)) = (&tenant, app_listener) {
        let bound = std::net::SocketAddr::new(bind_ip, application.port());
        // The tenant posts logout tokens to the gateway and lets the app
        // ask it to (SPEC §12, demo only); the app and the banner name the
        // gateway at localhost, the app's own host (SPEC §11).
        match crate::demo::serve_app(
            tenant,
            listener,
            bound,
            &application.state().settings.session,
        ) {
            Ok(app) => {
                let limits =
                    crate::demo::defaults::limits_summary(&application.state().settings.rate_limit);
                let gateway = crate::demo::browser_origin(bound.port());
                tenant.print_banner(&gateway, app.url(), application.metrics_port(), &limits);
                _demo_app = Some(app);
            }
            Err(error) => {
                eprintln!("login-gateway: cannot start the demo app: {error}");
                return ExitCode::from(EXIT_RUNTIME);
            }
        }
    }
    let state = application.state();
    tracing::info!(
        event = "started",
        port = application.port(),
        metrics_port = application.metrics_port(),
        workers = state.settings.server.workers,
        auth0 = state.settings.auth0.base_url.as_str(),
        demo = cli.demo,
        "login-gateway listening"
    );
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "server failed");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
