//! Paths in the repository and the agentx.json of tests.

use agentx::config::{Access, AgentConfig, Config};
use agentx::plugins::Capability;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

pub fn fixture(name: &str) -> PathBuf {
    repo(&format!("tests/fixtures/plugins/{name}.toml"))
}

fn agent(responder: &str, access: Access) -> AgentConfig {
    AgentConfig {
        responder: Some(repo(responder)),
        access,
        ..AgentConfig::default()
    }
}

/// `support` (faq, public), `echo` (public) and `secret` (echo, private).
pub fn agents(c: &mut Config) {
    let mut support = agent("plugins/faq", Access::Public);
    support.workspace = Some(repo("examples/workspaces/support"));
    support.grants = vec![Capability::Memory, Capability::Workspace];
    c.agents.insert("support".into(), support);
    c.agents
        .insert("echo".into(), agent("plugins/echo", Access::Public));
    c.agents
        .insert("secret".into(), agent("plugins/echo", Access::Private));
}

/// Writes `agents` as agentx.json in `dir` and points the server's config at it, so
/// `POST /reload` re-reads it.
pub fn config_file(c: &mut Config, dir: &Path, agents: &Value) {
    let path = dir.join("agentx.json");
    std::fs::write(&path, json!({ "agents": agents }).to_string()).unwrap();
    let loaded = Config::load(&path).unwrap();
    c.agents = loaded.agents;
    c.source = loaded.source;
}

/// Replaces agentx.json in `dir` with `agents` the way editors save: a new file renamed over
/// the old one.
pub fn rewrite_config(dir: &Path, agents: &Value) {
    let staged = dir.join(".agentx.json.swp");
    std::fs::write(&staged, json!({ "agents": agents }).to_string()).unwrap();
    std::fs::rename(staged, dir.join("agentx.json")).unwrap();
}
