//! What every benchmark binary shares (a module, not a bench target).

/// A `/proc/self/status` memory figure (`"VmRSS:"`, `"VmHWM:"`) in MiB;
/// NaN where the file or the field is missing.
pub fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The resident set now, in MiB.
#[allow(dead_code)] // not every bench reads it
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}
