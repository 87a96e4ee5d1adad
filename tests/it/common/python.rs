//! The protocols' official Python clients (A2A, OpenAI, MCP, schemathesis), run as real
//! programs against a test server. They live in `tests/py/.venv`, made by
//! `tests/py/setup.sh` (which `.ci/run` runs); without it the tests that need them say so
//! and pass, as the browser checks do without Chromium.

use super::repo;
use std::path::{Path, PathBuf};
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
    command.args(args).kill_on_drop(true);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("{} ran past {limit:?}", program.display()))
        .expect("the venv's program runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
