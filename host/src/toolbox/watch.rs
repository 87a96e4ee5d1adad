//! `agentx plugin watch`: edit, save, and the running server answers with the new version.
//!
//! Every change to the folder's sources (not to what builds write: the component, `target/`,
//! caches) rebuilds the plugin; a successful build asks the daemon to reload (`POST /reload`,
//! as `agentx reload` does), and the agent's line of the reload report is printed. A failed
//! build or a refused reload is printed and the server keeps the version it had.

use super::build::build;
use crate::DaemonArgs;
use agentx::plugins::Manifest;
use notify::{EventKind, RecursiveMode, Watcher};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Editors write a file in several steps; changes closer together than this are one.
const QUIET: Duration = Duration::from_millis(300);

/// What builds and tools write inside a plugin folder; changes there are not edits.
const GENERATED: &[&str] = &["target", "node_modules", "__pycache__", ".git"];

#[derive(clap::Args)]
pub struct WatchArgs {
    /// The plugin's folder.
    #[arg(default_value = ".")]
    folder: PathBuf,
    /// The hosted agent serving this plugin (its key in the server's agentx.json).
    #[arg(long)]
    agent: String,
    #[command(flatten)]
    daemon: DaemonArgs,
}

pub async fn watch(args: WatchArgs) -> anyhow::Result<()> {
    let folder = args.folder.canonicalize()?;
    let component = Manifest::load(&folder)
        .map_err(anyhow::Error::msg)?
        .component
        .expect("resolved by load");
    let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let (root, ignore) = (folder.clone(), component.clone());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, EventKind::Access(_))
            && event.paths.iter().any(|p| is_source(p, &root, &ignore))
        {
            // Only fails once the loop below has ended.
            let _ = changed.send(());
        }
    })?;
    watcher.watch(&folder, RecursiveMode::Recursive)?;
    eprintln!(
        "watching {} for changes (agent {}, daemon {}); Ctrl-C to stop",
        folder.display(),
        args.agent,
        args.daemon.url
    );
    loop {
        rebuild_and_reload(&folder, &args.agent, &args.daemon).await;
        if changes.recv().await.is_none() {
            return Ok(());
        }
        while let Ok(Some(())) = tokio::time::timeout(QUIET, changes.recv()).await {}
    }
}

/// Whether a change at `path` is an edit of the plugin's sources in `folder`. Only the part
/// of the path inside the folder is judged: the folder itself may well sit under a hidden
/// directory (`~/.local/…`, or a temporary `/tmp/.tmpXXXX`).
fn is_source(path: &Path, folder: &Path, component: &Path) -> bool {
    let Ok(inside) = path.strip_prefix(folder) else {
        return false;
    };
    path != component
        && !inside.components().any(|c| {
            let c = c.as_os_str().to_string_lossy();
            GENERATED.contains(&c.as_ref()) || (c.starts_with('.') && c.len() > 1 && c != "..")
        })
        && path.extension().is_none_or(|e| e != "wasm")
}

async fn rebuild_and_reload(folder: &Path, agent: &str, daemon: &DaemonArgs) {
    if let Err(e) = build(folder).await {
        eprintln!("build failed, the server keeps the previous version: {e:#}");
        return;
    }
    match crate::daemon_send(daemon, reqwest::Method::POST, "/reload", Some(json!({}))).await {
        Ok(report) => println!("{}", agent_result(&report, agent)),
        Err(e) => eprintln!("reload failed: {e:#}"),
    }
}

/// The agent's line of a reload report.
fn agent_result(report: &Value, agent: &str) -> String {
    let listed = |key: &str| {
        report[key]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|id| id == agent))
    };
    let failure = report["failed"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["agent"] == agent);
    if let Some(failure) = failure {
        format!(
            "reload: {agent} refused the new version, keeps the old: {}",
            failure["error"].as_str().unwrap_or("?")
        )
    } else if listed("reloaded") {
        format!("reload: {agent} now serves the new version")
    } else if listed("unchanged") {
        format!("reload: {agent} unchanged (the component is the one it already serves)")
    } else {
        format!(
            "reload: the server has no agent {agent}: add it to its agentx.json with \
             \"responder\" naming this folder"
        )
    }
}
