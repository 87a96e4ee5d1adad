//! What a responder is asked, built here for every channel, so a network message and a
//! chat turn reach plugins in the same shape.

use super::TaskMeta;
use crate::model::{Message, time};
use crate::plugins::types::{Channel, Message as Request, RequestContext};
use chrono::{DateTime, Utc};

/// The task of answering a network message: its id is the message's, its chat the thread.
pub fn network_task(agent: &str, message: &Message) -> TaskMeta {
    TaskMeta {
        task_id: message.id.clone(),
        agent: agent.to_owned(),
        channel: super::NETWORK.into(),
        chat_id: message.thread_id.clone(),
        sender: message.from_agent_id.clone(),
    }
}

/// The request for a network message to `agent` from the agent named `sender`.
pub fn from_network(agent: &str, message: &Message, sender: String) -> (RequestContext, Request) {
    let context = RequestContext {
        agent_id: agent.to_owned(),
        channel: Channel::Network,
        chat_id: message.thread_id.clone(),
        sender,
    };
    let request = Request {
        id: message.id.clone(),
        content: message.content.clone(),
        message_type: message.message_type.to_string(),
        category: message.category.map(|c| c.to_string()),
        from_agent_id: Some(message.from_agent_id.clone()),
        thread_id: Some(message.thread_id.clone()),
        created_at: time::rfc3339(&message.created_at),
    };
    (context, request)
}

/// The request for a turn of a chat kept by agentx (public-api and daemon tasks), in chat
/// `session` (the plugin's conversation id, scoped to the chat's owner).
pub fn from_chat(
    meta: &TaskMeta,
    session: &str,
    content: String,
    at: DateTime<Utc>,
) -> (RequestContext, Request) {
    // NB: the plugin sees `public-api` for every chat kept here (whatever label the
    // daemon caller chose), so `history` reads this chat, never a network thread.
    let context = RequestContext {
        agent_id: meta.agent.clone(),
        channel: Channel::PublicApi,
        chat_id: session.to_owned(),
        sender: meta.sender.clone(),
    };
    let request = Request {
        id: meta.task_id.clone(),
        content,
        message_type: "text".into(),
        category: None,
        from_agent_id: None,
        thread_id: None,
        created_at: time::rfc3339(&at),
    };
    (context, request)
}
