//! The real `login-gateway` binary as a child process, for properties of the
//! process itself (peak memory, exit codes, what it prints). It binds port 0
//! and reports the port in its `started` log line, so no port is picked and
//! released before the gateway takes it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::{CLIENT_ID, CLIENT_SECRET};

/// Killed when dropped: no stray gateway outlives its test.
pub struct RealGateway {
    child: Child,
    port: u16,
}

impl RealGateway {
    /// Starts the binary against `auth0_uri`; `extra` environment pairs
    /// override the defaults. Waits (bounded) for its `started` line.
    pub async fn spawn(auth0_uri: &str, extra: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_login-gateway"));
        command
            .env_clear()
            .env("RUST_LOG", "info")
            .env("GATEWAY__LOG__FORMAT", "json")
            .env("GATEWAY__SERVER__BIND", "127.0.0.1:0")
            .env("GATEWAY__SERVER__METRICS_BIND", "")
            .env("GATEWAY__SERVER__WORKERS", "1")
            .env("GATEWAY__SERVER__DRAIN_DELAY_MS", "0")
            .env("GATEWAY__AUTH0__DOMAIN", auth0_uri)
            .env("GATEWAY__AUTH0__CLIENT_ID", CLIENT_ID)
            .env("GATEWAY__AUTH0__CLIENT_SECRET", CLIENT_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the gateway binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (port_tx, port_rx) = mpsc::channel();
        // Reads every line so the pipe never fills; reports the port once.
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let port = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .filter(|v| v["fields"]["event"] == "started" || v["event"] == "started")
                    .and_then(|v| v["fields"]["port"].as_u64().or(v["port"].as_u64()));
                if let (Some(port), Some(tx)) = (port, port_tx.as_ref()) {
                    let _ = tx.send(port as u16);
                    port_tx = None;
                }
            }
        });
        let port =
            tokio::task::spawn_blocking(move || port_rx.recv_timeout(Duration::from_secs(20)))
                .await
                .expect("join")
                .expect("the gateway logs its port within 20 s");
        Self { child, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }
}

impl Drop for RealGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
