//! The real `login-gateway` binary as a child process, for properties of the
//! process itself (peak memory, exit codes, signals, what it prints). It
//! binds port 0 and reports the port in its `started` log line, so no port
//! is picked and released before the gateway takes it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::helpers::{CLIENT_ID, CLIENT_SECRET};

/// Killed when dropped: no stray gateway outlives its test.
pub struct RealGateway {
    child: Child,
    port: u16,
    /// The metrics listener's port, when `server.metrics_bind` is set.
    pub metrics_port: Option<u16>,
    /// Everything the process writes, collected until its pipes close.
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl RealGateway {
    /// Starts the binary against `auth0_uri` (JSON logs at `info` on
    /// stdout); `extra` environment pairs override the defaults. Waits
    /// (bounded) for its `started` line.
    pub async fn spawn(auth0_uri: &str, extra: &[(&str, &str)]) -> Self {
        Self::spawn_with_args(&[], auth0_uri, extra).await
    }

    /// `login-gateway --demo`: the built-in tenant, same environment.
    pub async fn spawn_demo(extra: &[(&str, &str)]) -> Self {
        Self::spawn_with_args(&["--demo"], "http://127.0.0.1:9", extra).await
    }

    async fn spawn_with_args(args: &[&str], auth0_uri: &str, extra: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_login-gateway"));
        command
            .args(args)
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
            .stderr(Stdio::piped());
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the gateway binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (port_tx, port_rx) = mpsc::channel();
        // Reads every line so the pipe never fills; reports the port once.
        let stdout = std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            let mut output = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if port_tx.is_some() {
                    let started = serde_json::from_str::<serde_json::Value>(&line)
                        .ok()
                        .filter(|v| v["fields"]["event"] == "started" || v["event"] == "started");
                    let field = |name: &str| {
                        started.as_ref().and_then(|v| {
                            v["fields"][name]
                                .as_u64()
                                .or(v[name].as_u64())
                                .map(|p| p as u16)
                        })
                    };
                    if let (Some(port), Some(tx)) = (field("port"), port_tx.as_ref()) {
                        let _ = tx.send((port, field("metrics_port")));
                        port_tx = None;
                    }
                }
                output.push_str(&line);
                output.push('\n');
            }
            output
        });
        let stderr = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = BufReader::new(stderr).read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let port =
            tokio::task::spawn_blocking(move || port_rx.recv_timeout(Duration::from_secs(20)))
                .await
                .expect("join");
        match port {
            Ok((port, metrics_port)) => Self {
                child,
                port,
                metrics_port,
                stdout: Some(stdout),
                stderr: Some(stderr),
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the gateway did not log its port within 20 s:\n{}\n{}",
                    collect(Some(stdout)),
                    collect(Some(stderr))
                );
            }
        }
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

    /// Sends SIGTERM (through `kill(1)`: the crate forbids `unsafe`).
    pub fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM delivered");
    }

    /// Waits up to `within` for the process to exit; `None` if it is still
    /// running.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the process wrote, stdout then stderr. Call it once the
    /// process has exited: it waits for both pipes to close.
    pub fn output(&mut self) -> String {
        let out = collect(self.stdout.take());
        let err = collect(self.stderr.take());
        format!("{out}\n{err}")
    }
}

fn collect(reader: Option<JoinHandle<String>>) -> String {
    reader.and_then(|h| h.join().ok()).unwrap_or_default()
}

impl Drop for RealGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
