use std::process::ExitCode;

use clap::Parser;
use login_gateway::cli::{run, Cli};

fn main() -> ExitCode {
    run(Cli::parse())
}
