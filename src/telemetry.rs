//! Log setup: JSON lines by default, human-readable with `log.format =
//! "pretty"`; the level comes from `RUST_LOG` (default `info`).
//!
//! Lines go through a non-blocking writer: a slow stdout (a full pipe, a
//! busy log shipper) must never stall request handling.

use std::io::{BufWriter, Write};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Bounds the memory a log burst can take (about 300 bytes a line).
const LOG_QUEUE_LINES: usize = 16 * 1024;

/// Installs the global subscriber. Keep the guard alive until exit: dropping
/// it flushes the buffered lines.
pub fn init(format: LogFormat) -> WorkerGuard {
    // At most LOG_QUEUE_LINES lines wait for the log thread; beyond that new
    // lines are dropped (and counted by tracing-appender) rather than
    // growing memory or blocking a request.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(batched_stdout());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    // A second init (only possible in tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    guard
}

/// Standard output for the log thread, buffered so a burst of lines becomes
/// one `write` (the log thread flushes whenever it has drained its queue, so
/// lines are not held back). `std::io::stdout()` is line-buffered: one
/// syscall per line. Re-opening `/dev/stdout` gives an unbuffered handle to
/// the same file, pipe or terminal; where that is not possible (a socket),
/// plain stdout is used.
fn batched_stdout() -> Box<dyn Write + Send> {
    const BUFFER_BYTES: usize = 64 * 1024;
    match std::fs::OpenOptions::new().append(true).open("/dev/stdout") {
        Ok(file) => Box::new(BufWriter::with_capacity(BUFFER_BYTES, file)),
        Err(_) => Box::new(std::io::stdout()),
    }
}
