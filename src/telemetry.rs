//! Log setup: JSON lines by default, human-readable with `log.format =
//! "pretty"`; the level comes from `RUST_LOG` (default `info`).
//!
//! Request threads never write to stdout themselves: a slow stdout (a full
//! pipe, a busy log shipper) must never stall request handling. They append
//! each formatted line to a shared, bounded buffer; one log thread writes
//! the buffer out every [`FLUSH_INTERVAL`] in a single `write`. Unlike a
//! channel to a log thread, appending never wakes another thread, which cost
//! a futex call and a context switch per line at tens of thousands of lines
//! a second. When the buffer is full (stdout stalled), new lines are dropped
//! and counted rather than growing memory or blocking a request.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// How long a line may wait before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// Most bytes waiting to be written; beyond that lines are dropped.
const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;
/// What each of the two buffers keeps between writes.
const BATCH_CAPACITY: usize = 64 * 1024;

/// Installs the global subscriber. Keep the guard alive until exit: dropping
/// it writes out what is still buffered.
pub fn init(format: LogFormat) -> LogGuard {
    let (writer, guard) = BatchedWriter::spawn(stdout_handle());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(Rfc3339Micros)
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

/// The `timestamp` of every line, `2026-12-02T02:28:43.941446Z` (UTC,
/// microseconds), as tracing's default timer writes it, but the date and
/// time of day are formatted once a second per thread: formatting them on
/// every line was 2.4 % of the CPU of a refused call.
pub struct Rfc3339Micros;

thread_local! {
    /// The second last formatted on this thread, and its text.
    static LAST_SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for Rfc3339Micros {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = since_epoch.as_secs();
        LAST_SECOND.with_borrow_mut(|(cached, text)| {
            if *cached != seconds {
                *cached = seconds;
                *text = date_time(seconds);
            }
            write!(w, "{text}.{:06}Z", since_epoch.subsec_micros())
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix time (UTC, proleptic Gregorian; the
/// days-to-civil algorithm of Howard Hinnant's `chrono`-compatible date
/// library).
fn date_time(unix_seconds: u64) -> String {
    let days = unix_seconds / 86_400;
    let of_day = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// An unbuffered handle to standard output. `std::io::stdout()` is
/// line-buffered (one syscall per line, under a lock); a duplicate of file
/// descriptor 1 is a plain handle to the same open file. A duplicate, not
/// a re-opened `/dev/stdout`: that would be a second open file with its
/// own offset, so with `> file 2>&1` the log's writes and stderr's (the
/// demo's codes and links) would overwrite each other.
fn stdout_handle() -> Box<dyn Write + Send> {
    use std::os::fd::AsFd;
    match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(std::fs::File::from(fd)),
        Err(_) => Box::new(std::io::stdout()),
    }
}

struct Shared {
    pending: Mutex<Vec<u8>>,
    dropped_lines: AtomicU64,
    stopping: AtomicBool,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves bytes, not a broken invariant.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `MakeWriter` tracing formats into: appends whole lines to the buffer.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

impl BatchedWriter {
    /// Starts the log thread writing to `out`.
    pub fn spawn(mut out: Box<dyn Write + Send>) -> (Self, LogGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(BATCH_CAPACITY)),
            dropped_lines: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        });
        let worker_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(BATCH_CAPACITY);
                loop {
                    let stopping = worker_shared.stopping.load(Ordering::Acquire);
                    std::mem::swap(&mut batch, &mut *worker_shared.pending());
                    let dropped = worker_shared.dropped_lines.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        batch.extend_from_slice(
                            format!(
                                "{{\"level\":\"WARN\",\"message\":\"log lines dropped: stdout could not keep up\",\"dropped\":{dropped}}}\n"
                            )
                            .as_bytes(),
                        );
                    }
                    if !batch.is_empty() {
                        // Nowhere to report a failing stdout: the lines are lost.
                        let _ = out.write_all(&batch).and_then(|()| out.flush());
                        batch.clear();
                        // A slow stdout let the batch grow (up to
                        // MAX_PENDING_BYTES): give that memory back rather
                        // than keep it for good.
                        batch.shrink_to(BATCH_CAPACITY);
                    }
                    if stopping {
                        return;
                    }
                    std::thread::sleep(FLUSH_INTERVAL);
                }
            })
            .ok();
        (
            Self {
                shared: shared.clone(),
            },
            LogGuard { shared, thread },
        )
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

/// One event's writer: tracing formats the whole line first, then writes it
/// with one call.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.shared.pending();
        if pending.len() + line.len() > MAX_PENDING_BYTES {
            drop(pending);
            self.shared.dropped_lines.fetch_add(1, Ordering::Relaxed);
        } else {
            pending.extend_from_slice(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes out the remaining lines and stops the log thread when dropped.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The masked identifier (`j***@example.com`) a handler worked for; the
/// request's access-log line carries it.
pub struct LoggedIdentifier(String);

impl LoggedIdentifier {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Notes the (already masked) identifier for this request's log line.
pub fn note_identifier(req: &actix_web::HttpRequest, masked: String) {
    use actix_web::HttpMessage;
    req.extensions_mut().insert(LoggedIdentifier(masked));
}

#[cfg(test)]
mod tests {

    #[test]
    fn timestamps_are_rfc3339_utc_dates() {
        for (seconds, text) in [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (1_709_164_800, "2024-02-29T00:00:00"),
            (1_796_173_261, "2026-12-02T01:01:01"),
            (4_102_444_799, "2099-12-31T23:59:59"),
        ] {
            assert_eq!(super::date_time(seconds), text);
        }
    }

    use super::*;

    /// A `Write` that hands what it got to the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_and_flushed_on_drop() {
        let sink = Sink::default();
        let (writer, guard) = BatchedWriter::spawn(Box::new(sink.clone()));
        for n in 0..1000 {
            let _ = writer.make_writer().write(format!("line {n}\n").as_bytes());
        }
        drop(guard);
        let written = String::from_utf8(sink.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 1000);
        assert_eq!(lines.first(), Some(&"line 0"));
        assert_eq!(lines.last(), Some(&"line 999"));
    }

    #[test]
    fn a_full_buffer_drops_lines_instead_of_growing() {
        let shared = Shared {
            pending: Mutex::new(Vec::new()),
            dropped_lines: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        };
        let big = vec![b'x'; MAX_PENDING_BYTES / 2 - 1];
        let mut writer = LineWriter { shared: &shared };
        for _ in 0..3 {
            assert_eq!(writer.write(&big).ok(), Some(big.len()));
        }
        assert_eq!(shared.pending().len(), 2 * big.len());
        assert_eq!(shared.dropped_lines.load(Ordering::Relaxed), 1);
    }
}
