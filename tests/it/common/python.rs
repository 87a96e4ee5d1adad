//! The protocols' official Python clients (A2A, OpenAI, MCP, schemathesis), run as real
//! programs against a test server. They live in `tests/py/.venv`, made by
//! `tests/py/setup.sh` (which `.ci/run` runs); without it the tests that need them say so
//! and pass, as the browser checks do without Chromium.

use super::repo;
use std::path::PathBuf;
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
    python: &PathBuf,
    script: &str,
    env: &[(&str, &str)],
    limit: Duration,
) -> String {
    let mut command = tokio::process::Command::new(python);
    command.arg("-c").arg(script).kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("the Python client ran past {limit:?}"))
        .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the Python client failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
