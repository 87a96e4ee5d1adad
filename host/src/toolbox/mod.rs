//! `agentx plugin …`: the plugin author's toolbox, at the binary's edge.
//!
//! - `check`: a component against the WIT worlds and its plugin.toml, described and timed.
//! - `run`: one call (or a session) through the same task path the server uses.
//! - `new`: a plugin folder in a chosen language that builds outside this repository.
//! - `build`: that folder's source into its component.
//! - `watch`: rebuild on change and hot-reload into a running server.
//!
//! Each command works in a `Sandbox` (a store and plugin runtime of its own), never in a
//! server's data directory unless the author names one.

mod build;
mod check;
mod new;
mod run;
mod watch;

use agentx::clock::SystemClock;
use agentx::notify::LocalNotifier;
use agentx::plugins::{Capability, HostServices, PluginRuntime};
use agentx::store::RedbStore;
use agentx::store::Store;
use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Check a component (a .wasm file beside its plugin.toml, or the plugin's folder)
    /// against the WIT worlds and its manifest; describe it, time its compile and one call.
    /// Exits 1 with the reason in plain words when it would not load.
    Check {
        /// The plugin's folder, its plugin.toml or its component.
        path: PathBuf,
    },
    /// Call a responder once (or in a session with --repl) with the server's limits and
    /// capability checks, and print its reply and its log.
    Run(run::RunArgs),
    /// Create a plugin folder: source, plugin.toml, README, a test where the language has
    /// one, building outside this repository.
    New(new::NewArgs),
    /// Build a plugin folder made by `agentx plugin new` into its component.
    Build {
        /// The plugin's folder.
        #[arg(default_value = ".")]
        folder: PathBuf,
    },
    /// Rebuild a plugin folder on every change and reload the running server (the daemon's
    /// POST /reload), printing build errors and the agent's reload result.
    Watch(watch::WatchArgs),
}

pub async fn run(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Check { path } => check::check(&path).await,
        PluginCommand::Run(args) => run::run(args).await,
        PluginCommand::New(args) => new::new(args),
        PluginCommand::Build { folder } => build::build(&folder).await.map(drop),
        PluginCommand::Watch(args) => watch::watch(args).await,
    }
}

/// A store and a plugin runtime for one command, in a temporary directory (deleted on
/// drop) unless the author names a data directory.
struct Sandbox {
    store: Arc<dyn Store>,
    runtime: Arc<PluginRuntime>,
    _temp: Option<tempfile::TempDir>,
}

impl Sandbox {
    fn open(data_dir: Option<&Path>) -> anyhow::Result<Self> {
        let (temp, dir) = match data_dir {
            Some(dir) => (None, dir.to_owned()),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("agentx-plugin-")
                    .tempdir()
                    .context("creating a temporary data directory")?;
                let dir = temp.path().to_owned();
                (Some(temp), dir)
            }
        };
        let store: Arc<dyn Store> = Arc::new(
            RedbStore::open(&dir, Arc::new(LocalNotifier::default()))
                .with_context(|| format!("opening the store in {}", dir.display()))?,
        );
        let runtime = PluginRuntime::new(
            dir.join("plugin-cache"),
            HostServices {
                store: store.clone(),
                clock: Arc::new(SystemClock),
                // As the server: plugins reach private addresses only by listing them.
                http: agentx::toolbox::outbound_client(true).build()?,
                turns_in_flight: Arc::default(),
            },
            // As a server with the default configuration (a --repl session can degrade it).
            agentx::config::PluginHealthConfig::default().policy(),
        )?;
        Ok(Self {
            store,
            runtime: Arc::new(runtime),
            _temp: temp,
        })
    }
}

/// The manifest a path means: a folder's plugin.toml, a manifest itself, or the plugin.toml
/// beside a component (which must name that component).
fn manifest_path(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_dir() || path.extension().is_some_and(|e| e == "toml") {
        return Ok(path.to_owned());
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    let manifest = folder.join("plugin.toml");
    anyhow::ensure!(
        manifest.exists(),
        "no plugin.toml beside {}: a plugin is a component and its manifest (name, world, \
         capabilities, limits); `agentx plugin new` writes both",
        path.display()
    );
    let named = agentx::plugins::Manifest::load(&manifest)
        .map_err(anyhow::Error::msg)?
        .component
        .expect("resolved by load");
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    anyhow::ensure!(
        same(&named, path),
        "{} names {} as its component, not {}",
        manifest.display(),
        named.display(),
        path.display()
    );
    Ok(manifest)
}

/// A capability as plugin.toml and agentx.json spell it (`outbound-http`).
fn parse_capability(name: &str) -> Result<Capability, String> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|_| {
        let known: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
        format!("unknown capability {name:?} (one of {})", known.join(", "))
    })
}

/// Milliseconds with a fraction, for timings people compare.
fn ms(duration: std::time::Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
