//! Hot reload: `POST /reload`, `agentx reload`, or a change of agentx.json under `--watch`.
//!
//! Only the `agents` of agentx.json are re-read (access, names, grants, responders and their
//! own contract policies); server settings and the network's default policy take a restart.
//! New agents join the network and start answering; removed agents stop answering (they stay
//! network members, as their threads do). An agent whose `policy` is removed falls back to
//! the network's default policy.

use crate::config::{Config, ConfigError};
use crate::hosted::{HostedAgents, ReloadReport};
use crate::network::Network;
use crate::plugins::PluginRuntime;
use crate::plugins::manifest::Manifest;
use crate::runner::Runners;
use ::notify::event::{AccessKind, AccessMode};
use ::notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("agentx was started without a config file; there is nothing to reload")]
    NoConfigFile,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not register the new agents: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl From<ReloadError> for crate::error::Error {
    fn from(e: ReloadError) -> Self {
        match e {
            ReloadError::Store(e) => e.into(),
            other => crate::error::Error::invalid("reload_refused", other.to_string()),
        }
    }
}

pub struct Reloader {
    /// agentx.json as given at start.
    source: Option<PathBuf>,
    hosted: Arc<HostedAgents>,
    runtime: Arc<PluginRuntime>,
    network: Network,
    runners: Arc<Runners>,
}

impl Reloader {
    pub fn new(
        source: Option<PathBuf>,
        hosted: Arc<HostedAgents>,
        runtime: Arc<PluginRuntime>,
        network: Network,
        runners: Arc<Runners>,
    ) -> Self {
        Self {
            source,
            hosted,
            runtime,
            network,
            runners,
        }
    }

    /// Re-reads the config file and applies its agents. A file that does not parse changes
    /// nothing.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let path = self.source.as_ref().ok_or(ReloadError::NoConfigFile)?;
        self.apply(&load(path)?).await
    }

    /// Applies the agents of `config`, freshly read from the config file, and counts how
    /// it went.
    async fn apply(&self, config: &Config) -> Result<ReloadReport, ReloadError> {
        let applied = self.swap(config).await;
        crate::telemetry::reload(match &applied {
            Ok(report) if report.failed.is_empty() => "ok",
            Ok(_) => "partial",
            Err(_) => "refused",
        });
        applied
    }

    async fn swap(&self, config: &Config) -> Result<ReloadReport, ReloadError> {
        let report = self.hosted.reload(config, &self.runtime).await;
        self.hosted.register(&self.network).await?;
        self.runners.sync();
        Ok(report)
    }
}

/// Reads agentx.json for a reload; one that cannot be read refuses the reload (counted).
fn load(path: &Path) -> Result<Config, ConfigError> {
    Config::load(path).inspect_err(|_| crate::telemetry::reload("refused"))
}

/// How long the watched files must be quiet before a change is applied: an editor's
/// write-then-rename or a build writing a `.wasm` in chunks settles well within it, so each
/// burst reloads once.
const WATCH_QUIET: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("--watch needs a config file to watch")]
    NoConfigFile,
    #[error("cannot watch for file changes: {0}")]
    Notify(#[from] ::notify::Error),
}

/// `--watch`: reloads whenever agentx.json or a plugin file it names changes, until
/// `shutdown`. Directories are watched rather than files, so a file replaced by a rename
/// is still seen; only changes to the files a reload reads count.
pub fn watch(
    reloader: Arc<Reloader>,
    shutdown: CancellationToken,
) -> Result<impl Future<Output = ()> + Send + 'static, WatchError> {
    let source = reloader.source.clone().ok_or(WatchError::NoConfigFile)?;
    let files = Arc::new(Mutex::new(BTreeSet::new()));
    let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let watched = files.clone();
    let mut watcher = ::notify::recommended_watcher(move |event: ::notify::Result<Event>| {
        match event {
            Ok(event) if writes(&event.kind) => {
                let files = watched.lock().expect("never poisoned");
                if event.paths.iter().any(|p| files.contains(p)) {
                    // Only fails once the loop below has ended.
                    let _ = changed.send(());
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "file watching failed"),
        }
    })?;
    let mut dirs = BTreeSet::new();
    let initial = Config::load(&source).ok();
    rewatch(&mut watcher, &mut dirs, &files, &source, initial.as_ref());
    tracing::info!(config = %source.display(), "watching agentx.json and its plugins for changes");
    Ok(async move {
        loop {
            tokio::select! {
                _ = changes.recv() => {}
                _ = shutdown.cancelled() => break,
            }
            while let Ok(Some(())) = tokio::time::timeout(WATCH_QUIET, changes.recv()).await {}
            if shutdown.is_cancelled() {
                break;
            }
            let config = match load(&source) {
                Ok(config) => config,
                Err(e) => {
                    tracing::warn!(error = %e, "agentx.json changed but cannot be loaded; nothing reloaded");
                    continue;
                }
            };
            // Each refused agent is already a warning of its own (see HostedAgents::reload).
            match reloader.apply(&config).await {
                Ok(report) if report.failed.is_empty() => {
                    tracing::info!(reloaded = ?report.reloaded, unchanged = ?report.unchanged, removed = ?report.removed, "file change: reloaded");
                }
                Ok(report) => {
                    let failed: Vec<&str> =
                        report.failed.iter().map(|f| f.agent.as_str()).collect();
                    tracing::warn!(reloaded = ?report.reloaded, unchanged = ?report.unchanged, removed = ?report.removed, ?failed, "file change: reloaded, some agents kept their old version");
                }
                Err(e) => tracing::warn!(error = %e, "file change: reload failed"),
            }
            rewatch(&mut watcher, &mut dirs, &files, &source, Some(&config));
        }
        // Dropping the watcher releases the watches and ends its thread.
        drop(watcher);
    })
}

/// Whether `kind` may change a file's content or existence. Opening and reading do not:
/// a reload reads every watched file, and must not trigger the next one.
fn writes(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(access) => *access == AccessKind::Close(AccessMode::Write),
        _ => true,
    }
}

/// Points the watcher at the files `config` makes a reload read (just agentx.json when it
/// does not load), watching their directories.
fn rewatch(
    watcher: &mut RecommendedWatcher,
    dirs: &mut BTreeSet<PathBuf>,
    files: &Mutex<BTreeSet<PathBuf>>,
    source: &Path,
    config: Option<&Config>,
) {
    let wanted: BTreeSet<PathBuf> = std::iter::once(source.to_owned())
        .chain(config.into_iter().flat_map(plugin_files))
        .filter_map(|file| canonical(&file))
        .collect();
    let wanted_dirs: BTreeSet<PathBuf> = wanted
        .iter()
        .filter_map(|f| f.parent().map(Path::to_owned))
        .collect();
    for gone in dirs.difference(&wanted_dirs) {
        if let Err(e) = watcher.unwatch(gone) {
            tracing::debug!(dir = %gone.display(), error = %e, "could not stop watching");
        }
    }
    for new in wanted_dirs.difference(dirs) {
        if let Err(e) = watcher.watch(new, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %new.display(), error = %e, "cannot watch for changes");
        }
    }
    *dirs = wanted_dirs;
    *files.lock().expect("never poisoned") = wanted;
}

/// Each agent's plugin manifests and components, as a reload reads them.
fn plugin_files(config: &Config) -> Vec<PathBuf> {
    let plugins = config
        .agents
        .values()
        .flat_map(|agent| agent.responder.iter().chain(&agent.policy));
    let mut files = Vec::new();
    for plugin in plugins {
        files.push(if plugin.is_dir() {
            plugin.join("plugin.toml")
        } else {
            plugin.clone()
        });
        // A manifest that does not parse names no component; its own change is watched.
        if let Some(component) = Manifest::load(plugin).ok().and_then(|m| m.component) {
            files.push(component);
        }
    }
    files
}

/// `file` with its directory made canonical, as watch events name it; the file itself
/// need not exist (it may be about to be created).
fn canonical(file: &Path) -> Option<PathBuf> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some(std::fs::canonicalize(dir).ok()?.join(file.file_name()?))
}
