//! The tools of an agent in the network (`Bearer cex_…`): each one call into
//! [`crate::network`], as the HTTP route of the same job makes.

use super::{NoArguments, Outcome, answer, arguments, tool};
use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::base_url;
use crate::http::messages::MAX_POLL_SECONDS;
use crate::model::Agent;
use crate::network::Network;
use crate::network::connections::{AcceptInvite, PermissionChange};
use crate::network::messages::{Inbox, OutgoingMessage};
use axum::http::request::Parts;
use rmcp::model::{JsonObject, Tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::sync::LazyLock;
use std::time::Duration;

pub(super) fn tools() -> &'static [Tool] {
    static TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
        vec![
            tool::<NoArguments>(
                "whoami",
                "Your agent's profile: id, name, framework, status and webhook.",
            ),
            tool::<NoArguments>(
                "list_connections",
                "The agents you are connected with (only they can message you), with the \
                 connection ids that get_permissions and set_permission take.",
            ),
            tool::<NoArguments>(
                "create_invite",
                "A single-use invite code (and join URL), valid for 24 hours, for another \
                 agent to connect with you through accept_invite.",
            ),
            tool::<AcceptArgs>(
                "accept_invite",
                "Connect with the agent whose invite code you were given.",
            ),
            tool::<SendArgs>(
                "send_message",
                "Send a message to a connected agent, in a new thread or an existing one. \
                 The recipient's permission for the message's category decides whether it \
                 is delivered.",
            ),
            tool::<InboxArgs>(
                "check_inbox",
                "Messages and announcements waiting for you, oldest message last; with \
                 wait_seconds, waits up to that long for something to arrive. What it \
                 returns counts as delivered and is not returned again: acknowledge each \
                 message with ack_message once handled.",
            ),
            tool::<MessageArgs>("ack_message", "Mark a message you received as read."),
            tool::<NoArguments>(
                "list_threads",
                "The threads of your connections, most recent activity first.",
            ),
            tool::<ThreadArgs>(
                "read_thread",
                "A thread and all its messages, oldest first.",
            ),
            tool::<ConnectionArgs>(
                "get_permissions",
                "Your levels on a connection: for each category (info, requests, \
                 personal), whether its messages are yours to handle (auto), reach you \
                 marked to check with your human first (ask), or are refused (never).",
            ),
            tool::<PermissionArgs>(
                "set_permission",
                "Change your level for one category of messages on a connection.",
            ),
        ]
    });
    &TOOLS
}

/// Runs tool `name` for `agent`; `None` when this set has no such tool.
pub(super) async fn call(
    state: &AppState,
    agent: &Agent,
    parts: &Parts,
    name: &str,
    args: JsonObject,
) -> Option<Outcome> {
    let network = &state.network;
    let me = agent.id.as_str();
    Some(match name {
        "whoami" => whoami(network, me, args).await,
        "list_connections" => list_connections(network, me, args).await,
        "create_invite" => create_invite(state, parts, me, args).await,
        "accept_invite" => accept_invite(network, me, args).await,
        "send_message" => send_message(network, me, args).await,
        "check_inbox" => check_inbox(state, me, args).await,
        "ack_message" => ack_message(network, me, args).await,
        "list_threads" => list_threads(network, me, args).await,
        "read_thread" => read_thread(network, me, args).await,
        "get_permissions" => get_permissions(network, me, args).await,
        "set_permission" => set_permission(network, me, args).await,
        _ => return None,
    })
}

async fn whoami(network: &Network, me: &str, args: JsonObject) -> Outcome {
    arguments::<NoArguments>(args)?;
    answer(network.profile(me).await?)
}

async fn list_connections(network: &Network, me: &str, args: JsonObject) -> Outcome {
    arguments::<NoArguments>(args)?;
    answer(json!({ "connections": network.connections(me).await? }))
}

/// The join URL points where this request came in, as `POST /connections/invite`'s does.
async fn create_invite(state: &AppState, parts: &Parts, me: &str, args: JsonObject) -> Outcome {
    arguments::<NoArguments>(args)?;
    let base = base_url(parts, state);
    answer(state.network.create_invite(me, &base).await?)
}

#[derive(Deserialize, JsonSchema)]
struct AcceptArgs {
    /// The invite code (create_invite's `invite_code`, or the last part of a join URL).
    #[serde(alias = "code")]
    invite_code: String,
    /// The contract to connect under: friends (default), coworkers or casual.
    contract: Option<String>,
}

async fn accept_invite(network: &Network, me: &str, args: JsonObject) -> Outcome {
    let AcceptArgs {
        invite_code,
        contract,
    } = arguments(args)?;
    let form = AcceptInvite {
        invite_code: Some(invite_code),
        contract,
    };
    answer(network.accept_invite(me, form).await?)
}

#[derive(Deserialize, JsonSchema)]
struct SendArgs {
    /// The id of the connected agent to write to.
    to_agent_id: String,
    /// The message.
    content: String,
    /// info, requests or personal: the recipient's level for it decides delivery.
    /// Without one the message is always allowed.
    category: Option<String>,
    /// text (default), query, response, update or request.
    message_type: Option<String>,
    /// Continue this thread; without it a new thread starts.
    thread_id: Option<String>,
    /// The subject of a new thread (default: the message's first line).
    thread_subject: Option<String>,
    /// Sending again with the same key within 24 hours returns the first message
    /// instead of sending a second one: use one per message when retrying.
    idempotency_key: Option<String>,
}

async fn send_message(network: &Network, me: &str, args: JsonObject) -> Outcome {
    let SendArgs {
        to_agent_id,
        content,
        category,
        message_type,
        thread_id,
        thread_subject,
        idempotency_key,
    } = arguments(args)?;
    let outgoing = OutgoingMessage {
        to_agent_id: Some(to_agent_id),
        content: Some(content),
        message_type,
        category,
        thread_id,
        thread_subject,
    };
    answer(
        network
            .send(me, outgoing, idempotency_key.as_deref())
            .await?,
    )
}

#[derive(Deserialize, JsonSchema)]
struct InboxArgs {
    /// When nothing is waiting, how many seconds to wait for something to arrive, 0 to
    /// 60 (default 0: answer at once).
    #[serde(default)]
    #[schemars(range(max = 60))]
    wait_seconds: u64,
}

/// Hands out what is pending and marks it delivered, as `GET /messages/stream` does (the
/// same long-poll, ended early by shutdown).
async fn check_inbox(state: &AppState, me: &str, args: JsonObject) -> Outcome {
    let InboxArgs { wait_seconds } = arguments(args)?;
    if wait_seconds > MAX_POLL_SECONDS {
        return Err(Error::malformed(
            "wait_seconds",
            format!("wait_seconds must be an integer from 0 to {MAX_POLL_SECONDS}"),
        ));
    }
    let wait = Duration::from_secs(wait_seconds);
    let delivery = state.network.poll(me, wait, &state.shutdown).await?;
    answer(Inbox::from(delivery))
}

#[derive(Deserialize, JsonSchema)]
struct MessageArgs {
    /// The message's id (from check_inbox).
    message_id: String,
}

async fn ack_message(network: &Network, me: &str, args: JsonObject) -> Outcome {
    let MessageArgs { message_id } = arguments(args)?;
    network.acknowledge(me, &message_id).await?;
    answer(json!({ "status": "acknowledged", "message_id": message_id }))
}

async fn list_threads(network: &Network, me: &str, args: JsonObject) -> Outcome {
    arguments::<NoArguments>(args)?;
    answer(json!({ "threads": network.threads(me).await? }))
}

#[derive(Deserialize, JsonSchema)]
struct ThreadArgs {
    /// The thread's id (from list_threads, or a message's `thread_id`).
    thread_id: String,
}

async fn read_thread(network: &Network, me: &str, args: JsonObject) -> Outcome {
    let ThreadArgs { thread_id } = arguments(args)?;
    answer(network.thread(me, &thread_id).await?)
}

#[derive(Deserialize, JsonSchema)]
struct ConnectionArgs {
    /// The connection's id (from list_connections).
    connection_id: String,
}

async fn get_permissions(network: &Network, me: &str, args: JsonObject) -> Outcome {
    let ConnectionArgs { connection_id } = arguments(args)?;
    answer(network.permissions(me, &connection_id).await?)
}

#[derive(Deserialize, JsonSchema)]
struct PermissionArgs {
    /// The connection's id (from list_connections).
    connection_id: String,
    /// info, requests or personal.
    category: String,
    /// auto (handle on your own), ask (delivered, marked to check with your human
    /// first) or never (refused).
    level: String,
}

async fn set_permission(network: &Network, me: &str, args: JsonObject) -> Outcome {
    let PermissionArgs {
        connection_id,
        category,
        level,
    } = arguments(args)?;
    let change = PermissionChange {
        category: Some(category),
        level: Some(level),
    };
    answer(network.set_permission(me, &connection_id, change).await?)
}
