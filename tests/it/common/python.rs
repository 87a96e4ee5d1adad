//! The protocols' official Python clients (A2A, OpenAI, MCP, schemathesis), run as real
//! programs against a test server. They live in `tests/py/.venv`, made by
//! `tests/py/setup.sh` (which `.ci/run` runs); without it the tests that need them say so
//! and pass, as the browser checks do without Chromium.

use super::repo;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The venv's interpreter, or `None` (with a note on stderr) when it has not been set up.
pub fn python_clients(test: &str) -> Option<PathBuf> {
    let python = repo("tests/py/.venv/bin/python");
    if python.exists() {
        Some(python)
    } else {
        eprintln!("{test}: skipped, the Python clients are not installed (run tests/py/setup.sh)");
        None
    }
}

/// Runs `script` with the venv's interpreter and the given environment, and returns its
/// standard output; panics with both streams when it fails or runs past `limit`.
pub async fn run_python(
    python: &Path,
    script: &str,
    env: &[(&str, &str)],
    limit: Duration,
) -> String {
    run(python, &["-c", script], None, env, limit).await
}

/// Runs the venv's command `tool` (a console script beside its interpreter, such as
/// `schemathesis`) with `args` in the directory `dir` (where it may leave its caches), as
/// [`run_python`] runs a script.
pub async fn run_tool(
    python: &Path,
    tool: &str,
    (args, dir): (&[&str], &Path),
    env: &[(&str, &str)],
    limit: Duration,
) -> String {
    let program = python.with_file_name(tool);
    run(&program, args, Some(dir), env, limit).await
}

async fn run(
    program: &Path,
    args: &[&str],
    dir: Option<&Path>,
    env: &[(&str, &str)],
    limit: Duration,
) -> String {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // On a timeout, SIGABRT then makes Python print every thread's stack (below).
        .env("PYTHONFAULTHANDLER", "1")
        .kill_on_drop(true);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the venv's program runs");
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => Some(status.expect("the program is waited for")),
        Err(_) => {
            // What it printed so far and where it is stuck, rather than a bare timeout.
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-ABRT", &pid.to_string()])
                    .status();
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            None
        }
    };
    let _ = child.start_kill();
    let stdout = stdout.await.expect("stdout is read");
    let stderr = stderr.await.expect("stderr is read");
    let what = match status {
        Some(status) if status.success() => return stdout,
        Some(status) => format!("failed ({status})"),
        None => format!("ran past {limit:?}"),
    };
    panic!(
        "{} {what}:\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        program.display()
    );
}

/// All a child's stream says, until it closes.
fn read_all<R>(stream: Option<R>) -> tokio::task::JoinHandle<String>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut text = Vec::new();
        if let Some(mut stream) = stream {
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut text).await;
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}
