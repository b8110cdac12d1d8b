//! The `terrane` binary: argument and configuration errors, migrate/seed idempotence, graceful stop.

use crate::helpers::count;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::helpers::{database_url_of, dead_url, demo_dataset, repo_path};

pub(crate) fn terrane(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrane"));
    cmd.args(args)
        .current_dir(repo_path(""))
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("terrane runs")
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn unknown_flags_exit_2_with_a_one_line_reason() {
    for args in [
        &["--bogus"][..],
        &["serve", "--port", "1"],
        &["seed", "--file"],
        &["frobnicate"],
    ] {
        let out = terrane(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{err}");
    }
}

#[test]
fn every_command_has_help() {
    for cmd in ["serve", "migrate", "seed", "seed-data"] {
        let out = terrane(&[cmd, "--help"], &[]);
        assert!(out.status.success(), "{cmd}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{cmd}"
        );
    }
}

#[test]
fn bad_configuration_stops_serve_naming_the_variable() {
    let cases = [
        ("TERRANE_BIND", "everywhere"),
        ("TERRANE_OSRM_URL", "localhost:5000"),
        ("TERRANE_LOG_FORMAT", "yaml"),
        ("TERRANE_DB_MAX_CONNECTIONS", "many"),
        ("DATABASE_URL", "sqlite://x.db"),
    ];
    for (var, value) in cases {
        let out = terrane(&["serve"], &[(var, value)]);
        assert_eq!(out.status.code(), Some(1), "{var}");
        let err = stderr(&out);
        assert!(err.contains(var), "{var}: {err}");
    }
}

#[sqlx::test(migrations = false)]
async fn migrate_and_seed_are_idempotent_from_the_command_line(pool: PgPool) {
    let url = database_url_of(&pool).await;
    let env = [("DATABASE_URL", url.as_str())];
    let n = demo_dataset().accounts.len();

    for _ in 0..2 {
        let out = terrane(&["migrate"], &env);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let first = terrane(&["seed"], &env);
    let second = terrane(&["seed"], &env);

    assert!(first.status.success(), "{}", stderr(&first));
    let first = String::from_utf8_lossy(&first.stdout).into_owned();
    let second = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(
        first.contains(&format!("{n} accounts ({n} new, 0 changed, 0 unchanged)")),
        "{first}"
    );
    assert!(
        second.contains(&format!("{n} accounts (0 new, 0 changed, {n} unchanged)")),
        "{second}"
    );
    let count = count(&pool, "accounts").await;
    assert_eq!(count, n as i64);
}

#[test]
fn migrate_fails_clearly_when_the_database_is_unreachable() {
    let url = dead_url().replace("http://", "postgres://postgres@") + "/terrane";
    let out = terrane(&["migrate"], &[("DATABASE_URL", &url)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("DATABASE_URL"), "{}", stderr(&out));
}

#[sqlx::test]
async fn serve_stops_gracefully_on_sigterm(pool: PgPool) {
    let url = database_url_of(&pool).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_terrane"))
            .arg("serve")
            .current_dir(repo_path(""))
            .env("DATABASE_URL", &url)
            .env("TERRANE_BIND", &bind)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn terrane serve"),
    );

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if client
            .get(format!("http://{bind}/healthz"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.0.id()).expect("pid fits i32"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "server did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
}

/// Kills the child if the test fails before it stopped, so no server outlives the test.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
