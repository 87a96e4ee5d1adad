//! Hot reload: `POST /reload`, `agentx reload`, or a change of agentx.json under `--watch`.
//!
//! Only the `agents` of agentx.json are re-read (access, names, plugins, grants); server
//! settings and contract policies take a restart. New agents join the network and start
//! answering; removed agents stop answering (they stay network members, as their threads do).

use crate::config::{Config, ConfigError};
use crate::hosted::{HostedAgents, ReloadReport, Runners};
use crate::network::Network;
use crate::plugins::PluginRuntime;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("agentx was started without a config file; there is nothing to reload")]
    NoConfigFile,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not register the new agents: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl From<ReloadError> for crate::network::Error {
    fn from(e: ReloadError) -> Self {
        match e {
            ReloadError::Store(e) => e.into(),
            other => crate::network::Error::invalid("reload_refused", other.to_string()),
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

    pub fn source(&self) -> Option<&PathBuf> {
        self.source.as_ref()
    }

    /// Re-reads the config file and applies its agents. A file that does not parse changes
    /// nothing.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let path = self.source.as_ref().ok_or(ReloadError::NoConfigFile)?;
        let config = Config::load(path)?;
        let report = self.hosted.reload(&config, &self.runtime).await;
        self.hosted.register(&self.network).await?;
        self.runners.sync();
        Ok(report)
    }
}
