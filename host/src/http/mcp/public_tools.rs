//! The tools of an app holding an `agx_live_` token: the public agents it may call, through
//! the public-call path ([`crate::tasks::public`]) with its checks and chat sessions.

use super::{NoArguments, Outcome, answer, arguments, tool};
use crate::http::AppState;
use crate::model::ApiToken;
use crate::tasks::public::PublicCall;
use rmcp::model::{JsonObject, Tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::sync::LazyLock;

pub(super) fn tools() -> &'static [Tool] {
    static TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
        vec![
            tool::<NoArguments>(
                "list_agents",
                "The public agents this token may call, by id and name.",
            ),
            tool::<AskArgs>(
                "ask_agent",
                "Send a message to a public agent and get its reply. Pass the reply's \
                 chat_id back to continue the same conversation.",
            ),
        ]
    });
    &TOOLS
}

/// The channel label of tasks asked for through MCP.
pub const MCP: &str = "mcp";

/// Runs tool `name` for `token`; `None` when this set has no such tool.
pub(super) async fn call(
    state: &AppState,
    token: &ApiToken,
    name: &str,
    args: JsonObject,
) -> Option<Outcome> {
    Some(match name {
        "list_agents" => list_agents(state, token, args),
        "ask_agent" => ask_agent(state, token, args).await,
        _ => return None,
    })
}

/// The public agents in the token's scopes.
fn list_agents(state: &AppState, token: &ApiToken, args: JsonObject) -> Outcome {
    arguments::<NoArguments>(args)?;
    let callable = state.public_agents.callable(token);
    let agents: Vec<_> = callable
        .iter()
        .map(|agent| json!({ "id": agent.id, "name": agent.config.display_name(&agent.id) }))
        .collect();
    answer(json!({ "agents": agents }))
}

#[derive(Deserialize, JsonSchema)]
struct AskArgs {
    /// The agent's id (from list_agents).
    agent: String,
    /// What to say to it.
    message: String,
    /// Continue this conversation (the `chat_id` of an earlier reply); a new one when
    /// absent.
    chat_id: Option<String>,
}

/// The same call as `POST /api/public/agents/{agent}/messages`, checks and all: a task on
/// channel `mcp` in the token's own session of the chat id.
async fn ask_agent(state: &AppState, token: &ApiToken, args: JsonObject) -> Outcome {
    let AskArgs {
        agent,
        message,
        chat_id,
    } = arguments(args)?;
    let agents = &state.public_agents;
    let agent = agents.check(token, &agent)?;
    let call = PublicCall {
        channel: MCP,
        sender: None,
        chat_id,
    };
    let task = agents.prepare(token, &agent, message, call)?;
    answer(agents.tasks().execute(task).await?)
}
