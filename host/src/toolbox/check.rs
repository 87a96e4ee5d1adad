//! `agentx plugin check`: would this component load, what is it, and how fast is it?
//!
//! It goes through the runtime's own loading (so the verdict is the server's), in a
//! sandbox with an empty compile cache (so "cold" is a real compile), then calls the
//! plugin once with every capability its manifest asks for granted.

use super::{Sandbox, manifest_path, ms};
use agentx::plugins::inspect;
use agentx::plugins::manifest::World;
use agentx::plugins::types::{Channel, Decision, Level, Message, PolicyRequest, RequestContext};
use agentx::plugins::{AgentGrant, CacheOutcome, Owner, PluginSource};
use anyhow::Context;
use std::path::Path;
use std::time::Instant;

/// The agent id the plugin is loaded for: it sees this in `request-context.agent-id`.
const AGENT: &str = "plugin-check";
const SAMPLE_MESSAGE: &str = "hello from agentx plugin check";

pub async fn check(path: &Path) -> anyhow::Result<()> {
    // A component given by itself is judged as a file first, so a file that is not one says
    // so whatever its folder holds.
    if path.is_file() && path.extension().is_none_or(|e| e != "toml") {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        inspect::format(&bytes, &path.display().to_string())?;
    }
    let manifest = manifest_path(path)?;
    let source = PluginSource::read(&manifest).map_err(anyhow::Error::msg)?;
    let sandbox = Sandbox::open(None)?;
    let runtime = &sandbox.runtime;

    let started = Instant::now();
    let (_, outcome) = runtime.component(&source)?;
    let cold = started.elapsed();
    debug_assert_eq!(
        outcome,
        CacheOutcome::Compiled,
        "the sandbox's cache starts empty"
    );
    let started = Instant::now();
    runtime.component(&source)?;
    let cached = started.elapsed();

    let manifest = source.manifest.clone();
    let size = source.bytes.len();
    let grant = AgentGrant {
        capabilities: manifest.capabilities.clone(),
        ..AgentGrant::default()
    };
    let (load, sample, outcome) = match manifest.world {
        World::Responder => {
            let started = Instant::now();
            let plugin = runtime.load_responder(AGENT, source, &grant).await?;
            let load = started.elapsed();
            let started = Instant::now();
            let reply = runtime
                .respond(&plugin, sample_context(), sample_message())
                .await;
            let outcome = match reply {
                Ok(Some(reply)) => format!("replied {reply:?}"),
                Ok(None) => "no reply (left for a human)".into(),
                Err(e) => return Err(anyhow::Error::from(e).context("the sample call failed")),
            };
            (load, started.elapsed(), outcome)
        }
        World::ContractPolicy => {
            let started = Instant::now();
            let (plugin, presets) = runtime
                .load_policy(Owner::Agent(AGENT.into()), source, &grant)
                .await?;
            let load = started.elapsed();
            let started = Instant::now();
            let decision = runtime.decide(&plugin, sample_request()).await;
            let outcome = match decision {
                Ok(Decision::Auto) => "decided auto".to_owned(),
                Ok(Decision::Ask) => "decided ask".to_owned(),
                Ok(Decision::Deny(reason)) => format!("denied: {reason:?}"),
                Err(e) => return Err(anyhow::Error::from(e).context("the sample call failed")),
            };
            let names: Vec<&str> = presets.iter().map(|p| p.name.as_str()).collect();
            let outcome = format!("{outcome}; presets: {}", list(&names));
            (load, started.elapsed(), outcome)
        }
    };
    let capabilities: Vec<&str> = manifest.capabilities.iter().map(|c| c.name()).collect();
    println!("ok: {} loads", path.display());
    println!(
        "  world         {} ({})",
        manifest.world.name(),
        manifest.wit
    );
    println!("  name          {}", manifest.name);
    println!("  version       {}", manifest.version);
    println!("  capabilities  {}", list(&capabilities));
    println!(
        "  limits        {} ms, {} MiB, {} bytes of output",
        manifest.limits.timeout_ms, manifest.limits.memory_mib, manifest.limits.max_output_bytes
    );
    println!("  size          {size} bytes");
    println!("  compile       {} cold, {} cached", ms(cold), ms(cached));
    println!("  load          {} (link, instantiate, describe)", ms(load));
    println!("  sample call   {}: {outcome}", ms(sample));
    Ok(())
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn sample_context() -> RequestContext {
    RequestContext {
        agent_id: AGENT.into(),
        channel: Channel::PublicApi,
        chat_id: "plugin-check".into(),
        sender: "agentx plugin check".into(),
    }
}

fn sample_message() -> Message {
    Message {
        id: "plugin-check-1".into(),
        content: SAMPLE_MESSAGE.into(),
        message_type: "text".into(),
        category: None,
        from_agent_id: None,
        thread_id: None,
        created_at: chrono::Utc::now().to_rfc3339(),
    }
}

fn sample_request() -> PolicyRequest {
    PolicyRequest {
        category: "info".into(),
        contract: "friends".into(),
        sender_level: Level::Auto,
        recipient_level: Level::Auto,
        sender_agent_id: "plugin-check-sender".into(),
        recipient_agent_id: AGENT.into(),
    }
}
