//! `agentx plugin run`: one call, or a session, as the server would make it.
//!
//! The plugin is loaded as a hosted agent of a one-agent configuration and called through
//! [`Tasks`], the path the public API and `POST /task` take: the same limits, the same grant
//! checks, the chat turns kept for `history`. Memory and chats live in a temporary store
//! unless `--data-dir` names one.

use super::{Sandbox, manifest_path, ms, parse_capability};
use agentx::clock::SystemClock;
use agentx::config::{AgentConfig, Config};
use agentx::plugins::log::PluginLog;
use agentx::plugins::manifest::World;
use agentx::plugins::{Capability, Manifest};
use agentx::toolbox::HostedAgents;
use agentx::toolbox::{ChatOwner, PUBLIC_API, TaskContext, Tasks};
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncBufReadExt;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The plugin's folder, its plugin.toml or its component.
    path: PathBuf,
    /// The message to send (with --repl, the first of the session).
    #[arg(long, short)]
    message: Option<String>,
    /// A capability to grant, as agentx.json would (repeatable): memory, history, workspace,
    /// clock, outbound-http. `log` always is; others are denied, and the log shows it.
    #[arg(long = "grant", value_parser = parse_capability)]
    grants: Vec<Capability>,
    /// The directory the `workspace` capability reads (grants workspace).
    #[arg(long)]
    workspace: Option<PathBuf>,
    /// A host `outbound-http` may reach, e.g. api.example.com or *.example.com (repeatable;
    /// grants outbound-http).
    #[arg(long = "http-allow")]
    http_allow: Vec<String>,
    /// The conversation's chat id: calls in one chat share `history` [default: a new one].
    #[arg(long)]
    chat: Option<String>,
    /// The sender the plugin sees in its request context.
    #[arg(long, default_value = "cli")]
    sender: String,
    /// The agent id the plugin runs for [default: the plugin's name].
    #[arg(long)]
    agent: Option<String>,
    /// Keep memory and chats in this directory across runs [default: a temporary one].
    /// Not a running server's: its store is locked while it runs.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A session: after --message (if any), send each line of standard input, in one chat,
    /// until end of input.
    #[arg(long)]
    repl: bool,
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.message.is_some() || args.repl,
        "nothing to send: give --message TEXT, or --repl for a session on standard input"
    );
    let manifest_path = manifest_path(&args.path)?;
    let manifest = Manifest::load(&manifest_path).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        manifest.world == World::Responder,
        "{} is a {} plugin: `plugin run` calls responders (`agentx plugin check` calls a \
         policy once)",
        manifest.name,
        manifest.world.name()
    );
    let agent = args.agent.unwrap_or_else(|| manifest.name.clone());
    let mut grants = args.grants;
    if args.workspace.is_some() {
        grants.push(Capability::Workspace);
    }
    if !args.http_allow.is_empty() {
        grants.push(Capability::OutboundHttp);
    }
    grants.sort();
    grants.dedup();
    let mut config = Config::default();
    config.agents.insert(
        agent.clone(),
        AgentConfig {
            responder: Some(manifest_path),
            workspace: args.workspace,
            grants,
            http_allow: args.http_allow,
            ..AgentConfig::default()
        },
    );

    let sandbox = Sandbox::open(args.data_dir.as_deref())?;
    let hosted = Arc::new(HostedAgents::load(&config, &sandbox.runtime).await?);
    let log = hosted
        .get(&agent)
        .and_then(|hosted| hosted.responder.clone())
        .context("the agent's responder is loaded")?
        .log
        .clone();
    let tasks = Tasks::new(
        hosted,
        sandbox.runtime.clone(),
        sandbox.store.clone(),
        Arc::new(SystemClock),
    );
    let session = Session {
        tasks,
        log,
        agent,
        chat: args.chat.unwrap_or_else(agentx::model::new_id),
        sender: args.sender,
    };

    if let Some(message) = args.message {
        let outcome = session.send(message).await;
        if !args.repl {
            return outcome;
        }
    }
    eprintln!(
        "session in chat {}: one message per line, end of input (Ctrl-D) to stop",
        session.chat
    );
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await.context("reading standard input")? {
        // A failed call is printed and the session goes on, as a server keeps serving.
        let _ = session.send(line).await;
    }
    Ok(())
}

/// One agent's conversation in one chat.
struct Session {
    tasks: Tasks,
    log: Arc<PluginLog>,
    agent: String,
    chat: String,
    sender: String,
}

impl Session {
    /// Sends `message`, prints the reply (or the error) and what the call logged.
    async fn send(&self, message: String) -> anyhow::Result<()> {
        let since = chrono::Utc::now();
        let started = Instant::now();
        let context = TaskContext {
            channel: None,
            sender: Some(self.sender.clone()),
            chat_id: Some(self.chat.clone()),
        };
        let outcome = self
            .tasks
            .run(&self.agent, message, context, PUBLIC_API, ChatOwner::Daemon)
            .await;
        let took = started.elapsed();
        match &outcome {
            Ok(result) if result.content.is_empty() => {
                println!("no reply (the plugin left the message for a human)")
            }
            Ok(result) => println!("reply: {}", result.content),
            Err(e) => println!("error: {e}"),
        }
        let entries: Vec<_> = self
            .log
            .entries()
            .into_iter()
            .filter(|e| e.at >= since)
            .collect();
        if entries.is_empty() {
            println!("log: (nothing)");
        } else {
            println!("log:");
        }
        for entry in entries {
            println!(
                "  {} {:5} {:6} {}",
                entry.at.format("%H:%M:%S%.3f"),
                entry.level,
                entry.source,
                entry.message
            );
        }
        println!("took {}", ms(took));
        outcome.map(drop).map_err(anyhow::Error::from)
    }
}
