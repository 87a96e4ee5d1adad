//! Shared by the bench targets: the ratio summary printed after criterion's own report.
//!
//! Criterion reports each bench's absolute time; what these machines can compare is a
//! bench against its baseline measured in the same run. So after the run, each bench
//! reads back the estimates criterion just wrote (`<target>/criterion/…/new/estimates.json`)
//! and prints the ratios. Estimates older than this process (a filtered run that skipped
//! one side) are left out rather than mixed across runs.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where criterion keeps its results: `$CRITERION_HOME`, else `<target dir>/criterion`.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // CARGO_TARGET_TMPDIR is `<target dir>/tmp`.
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("the target dir")
                .to_path_buf()
        });
    target.join("criterion")
}

/// Criterion's directory name for a group, function or parameter.
fn safe(part: &str) -> String {
    part.replace(['?', '"', '/', '\\', '*', '<', '>', ':', '|', '^'], "_")
}

/// Results of this run, read back from criterion.
pub struct Estimates {
    started: SystemTime,
}

impl Estimates {
    /// Call before the benches run: estimates written earlier are ignored.
    pub fn since_now() -> Self {
        Self {
            started: SystemTime::now(),
        }
    }

    /// Time per iteration in nanoseconds of the bench at `path` (group, function, and the
    /// parameter if any), as criterion printed it (the slope where it fitted one, else the
    /// mean), if it was measured by this process.
    pub fn ns(&self, path: &[&str]) -> Option<f64> {
        let mut file = criterion_dir();
        for part in path {
            file.push(safe(part));
        }
        file.push("new/estimates.json");
        let modified = std::fs::metadata(&file).ok()?.modified().ok()?;
        if modified < self.started {
            return None;
        }
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).ok()?).ok()?;
        json["slope"]["point_estimate"]
            .as_f64()
            .or_else(|| json["mean"]["point_estimate"].as_f64())
    }
}

/// A duration in nanoseconds, in the unit that suits it.
#[allow(dead_code, reason = "not every bench prints durations")]
pub fn human(ns: f64) -> String {
    match ns {
        ns if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.1} µs", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

/// A bench target's `main`: runs its criterion `groups`, criterion's final report, then
/// `summary` of the estimates this run wrote (the ratios against the baselines).
pub fn run(groups: fn(), summary: fn(&Estimates)) {
    let estimates = Estimates::since_now();
    groups();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    summary(&estimates);
}
