//! `bench/run --smoke`: CI runs every row of the performance table for seconds, on this
//! build, so a row script that broke (a route it uses changed, a server that no longer
//! starts as it expects) fails here rather than on the next benchmarking day. No timing is
//! asserted: what is checked is that each row measured something, without errors.

use crate::common::repo;
use serde_json::Value;
use std::process::Command;

/// The rows `bench/run` measures with a running server (the criterion rows are skipped in
/// a smoke run: `cargo bench` runs them).
const ROWS: [&str; 5] = ["public", "idle_polls", "startup", "sends", "wake"];

#[test]
fn every_row_of_the_benchmark_runs() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!(
            "every_row_of_the_benchmark_runs: skipped, wrk is not installed (apt install wrk)"
        );
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(repo("bench/run"))
        .args(["--smoke", "--binary", env!("CARGO_BIN_EXE_agentx"), "--out"])
        .arg(out.path())
        .env_remove("RUST_LOG")
        .output()
        .expect("bench/run runs");
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "bench/run --smoke failed:\n{log}");
    let results: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(results["smoke"], true);
    for row in ROWS {
        let measured = &results["rows"][row];
        assert!(measured.is_object(), "{row} was not measured:\n{log}");
        assert!(measured.get("skipped").is_none(), "{row}: {measured}");
        for errors in ["errors", "public_errors", "non_2xx"] {
            if let Some(n) = measured.get(errors) {
                assert_eq!(n, 0, "{row} had {errors}: {measured}\n{log}");
            }
        }
    }
    let table = std::fs::read_to_string(out.path().join("RESULTS.md")).unwrap();
    assert!(
        ROWS.iter().all(|row| table.contains(&format!("| {row} |"))),
        "{table}"
    );
}
