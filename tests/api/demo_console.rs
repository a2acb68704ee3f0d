//! `login-gateway --demo` as a person runs it in a terminal: its output
//! redirected to one file, its limits, Ctrl-C and a restart on the same
//! port. The real binary, its stdout and stderr sent to one file by a shell
//! (`> file 2>&1`), as a user would.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::http_client;

/// A free loopback port (the gateway takes it; the app the next one or any).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

struct Demo {
    child: Child,
    port: u16,
    output: tempfile::NamedTempFile,
}

impl Demo {
    /// `sh -c 'exec login-gateway --demo > FILE 2>&1'` on `port`; waits
    /// (bounded) until it serves.
    async fn start(port: u16, extra: &[(&str, &str)]) -> Self {
        let output = tempfile::NamedTempFile::new().expect("a temporary file");
        let mut command = Command::new("sh");
        command
            .args([
                "-c",
                r#"exec "$0" --demo > "$1" 2>&1"#,
                env!("CARGO_BIN_EXE_login-gateway"),
            ])
            .arg(output.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("GATEWAY__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("GATEWAY__SERVER__METRICS_BIND", "")
            .env("GATEWAY__SERVER__WORKERS", "1")
            .stdin(Stdio::null());
        for (key, value) in extra {
            command.env(key, value);
        }
        let child = command.spawn().expect("sh runs");
        let demo = Self {
            child,
            port,
            output,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let health = http_client().get(demo.url("/healthz")).send().await;
            if health.is_ok_and(|answer| answer.status() == 200) {
                return demo;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not serve within 20 s:\n{}",
                demo.text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn text(&self) -> String {
        std::fs::read_to_string(self.output.path()).unwrap_or_default()
    }

    async fn start_login(&self, email: &str) -> reqwest::Response {
        http_client()
            .post(self.url("/login/start"))
            .json(&json!({"email": email}))
            .send()
            .await
            .expect("the demo answers")
    }

    /// Ctrl-C, as a terminal sends it; the time until the process is gone.
    async fn interrupt(&mut self) -> Duration {
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = sent + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "still running 10 s after Ctrl-C");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sent.elapsed()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn output_redirected_to_one_file_keeps_every_line_whole() {
    let mut demo = Demo::start(free_port(), &[]).await;
    let emails: Vec<String> = (1..=6).map(|n| format!("user{n}@example.com")).collect();
    for email in &emails {
        assert_eq!(demo.start_login(email).await.status(), 200);
    }
    demo.interrupt().await;
    let text = demo.text();
    // Each code is on its own line, set apart by blank lines, and whole.
    for email in &emails {
        let wanted = format!(">>> [demo tenant] email to {email}: your one-time code is ");
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&wanted)).collect();
        assert_eq!(lines.len(), 1, "one whole line for {email} in:\n{text}");
        let code: String = lines[0]
            .trim_start_matches(&wanted)
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        assert_eq!(code.len(), 6, "{}", lines[0]);
    }
    // Nothing overwrote anything: every line is the banner's, a demo
    // message, blank, or whole JSON; the `started` line and the request
    // lines of all six starts are there.
    for line in text.lines() {
        let ours = line.is_empty()
            || line.starts_with('{')
            || line.starts_with(">>> [demo tenant] ")
            || line.starts_with("==")
            || line.starts_with("  ");
        assert!(ours, "a torn line: {line:?} in:\n{text}");
    }
    let json_lines: Vec<Value> = text
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("torn line: {line}")))
        .collect();
    let starts = json_lines
        .iter()
        .filter(|line| line["fields"]["route"] == "/login/start" || line["route"] == "/login/start")
        .count();
    assert_eq!(starts, emails.len(), "{text}");
    let started = json_lines
        .iter()
        .filter(|line| line["fields"]["event"] == "started" || line["event"] == "started")
        .count();
    assert_eq!(started, 1, "{text}");
    assert!(text.contains("DEMO MODE"), "the banner is there too");
}

#[tokio::test]
async fn the_demo_limits_are_generous_printed_and_can_be_lowered() {
    let mut demo = Demo::start(free_port(), &[]).await;
    // More sign-ins from one address than production allows an hour (20).
    for n in 1..=25 {
        let answer = demo.start_login(&format!("explorer{n}@example.com")).await;
        assert_eq!(answer.status(), 200, "start {n}");
    }
    demo.interrupt().await;
    let text = demo.text();
    assert!(
        text.contains("Limits:       per_ip 1000/minute, login_start_per_ip 1000/hour"),
        "the banner names the limits:\n{text}"
    );

    // The walkthrough: a low limit set on purpose gives the 429.
    let mut demo = Demo::start(
        free_port(),
        &[("GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER", "2/hour")],
    )
    .await;
    for _ in 0..2 {
        assert_eq!(demo.start_login("jane@example.com").await.status(), 200);
    }
    assert_eq!(demo.start_login("jane@example.com").await.status(), 429);
    demo.interrupt().await;
    assert!(
        demo.text().contains("login_start_per_identifier 2/hour"),
        "{}",
        demo.text()
    );
}

#[tokio::test]
async fn ctrl_c_stops_the_demo_at_once_and_frees_its_port() {
    let port = free_port();
    let mut demo = Demo::start(port, &[]).await;
    assert_eq!(demo.start_login("jane@example.com").await.status(), 200);
    let took = demo.interrupt().await;
    assert!(took < Duration::from_secs(3), "Ctrl-C took {took:?}");
    // A restart on the same port works straight away.
    let mut again = Demo::start(port, &[]).await;
    assert_eq!(again.start_login("jane@example.com").await.status(), 200);
    again.interrupt().await;
}
