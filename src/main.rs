use std::process::ExitCode;

use clap::Parser;
use login_gateway::cli::{run, Cli};

/// mimalloc instead of glibc malloc: the request path allocates many small,
/// short-lived buffers, and glibc's malloc/free showed up as ~15 % of the
/// gateway's CPU in `PROFILE=1 scripts/bench`. Built to commit its arenas
/// on demand (`.cargo/config.toml`), which keeps the resting RSS low.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    run(Cli::parse())
}
