//! Tasks: one hosted agent answering one message, whatever the channel.
//!
//! Public-api calls and daemon `POST /task` run here with a chat session (turns kept per
//! agent and session, so the `history` capability sees earlier calls with the same
//! `chatId`); the network runner in [`crate::hosted`] goes through [`Tasks::observe`] so
//! its tasks show up in the same event stream. Every task publishes `start`, then `text`
//! (when the agent replies) and `done`, or `error`.
//!
//! A task resolves its agent's responder once, when it is prepared: a reload that swaps
//! the plugin meanwhile does not affect it (it finishes on the version it started with).

pub mod a2a;
pub mod events;
pub mod public;
pub mod request;

use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::hosted::{HostedAgent, HostedAgents};
use crate::model::{ChatRole, ChatTurn};
use crate::network::validate::{MAX_NAME_CHARS, bounded};
use crate::plugins::{PluginError, PluginRuntime, ResponderPlugin};
use crate::store::{Store, StoreError};
use events::{EventKind, TaskEvent, TaskEvents, TaskMeta};
use public::MAX_CHAT_ID_CHARS;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The channel label of calls to public agents.
pub const PUBLIC_API: &str = "public-api";
/// The channel label of the network runner's tasks.
pub const NETWORK: &str = "network";
/// The channel label of daemon tasks that name none.
pub const DAEMON: &str = "daemon";
/// The sender label when the caller names none.
pub const DEFAULT_SENDER: &str = "api";

/// `context` of a task request; every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskContext {
    /// At most [`MAX_NAME_CHARS`] characters.
    pub channel: Option<String>,
    /// At most [`MAX_NAME_CHARS`] characters.
    pub sender: Option<String>,
    /// At most [`MAX_CHAT_ID_CHARS`] characters.
    #[serde(rename = "chatId", alias = "chat_id")]
    pub chat_id: Option<String>,
}

impl TaskContext {
    /// Refuses a field over its maximum (422 `too_long`, naming `context.<field>`): each is
    /// kept with every turn of the chat and sent with every event on the task stream.
    pub fn bounded(&self) -> Result<(), Error> {
        bounded(&[
            ("context.channel", self.channel.as_deref(), MAX_NAME_CHARS),
            ("context.sender", self.sender.as_deref(), MAX_NAME_CHARS),
            ("context.chatId", self.chat_id.as_deref(), MAX_CHAT_ID_CHARS),
        ])
    }
}

/// Whose chat sessions a task's chat id names. Callers choose chat ids, so a session is
/// the chat id within its owner's namespace: one token never reaches another token's chat
/// by naming its id, nor a public caller a chat of the daemon's operator.
#[derive(Debug, Clone, Copy)]
pub enum ChatOwner<'a> {
    /// A public caller, by its token's id.
    Token(&'a str),
    /// The daemon's operator (`POST /task`).
    Daemon,
}

impl ChatOwner<'_> {
    /// The session key of `chat_id`: where its turns are stored, and the conversation id
    /// the plugin sees (so what a plugin keeps per conversation is scoped the same way).
    /// NB: `/` cannot occur in a token id, so no two owners' keys can meet.
    fn session(self, chat_id: &str) -> String {
        match self {
            ChatOwner::Token(id) => ["token/", id, "/", chat_id].concat(),
            ChatOwner::Daemon => ["daemon/", chat_id].concat(),
        }
    }
}

/// A finished task, as `POST /task` and the public endpoint return it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskResult {
    /// The reply; empty when the agent chose not to answer.
    pub content: String,
    pub task_id: String,
    pub agent: String,
    pub channel: String,
    pub chat_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("No hosted agent {0:?} in the configuration")]
    UnknownAgent(String),
    #[error("Agent {0:?} has no responder plugin")]
    NoResponder(String),
    #[error("{0}")]
    Plugin(PluginError),
    #[error("could not record the chat: {0}")]
    Store(#[from] StoreError),
}

impl From<TaskError> for Error {
    fn from(e: TaskError) -> Self {
        let detail = e.to_string();
        match e {
            TaskError::UnknownAgent(_) => Error::not_found("agent_not_found", detail),
            TaskError::NoResponder(_) => Error::new(ErrorKind::Unavailable, "no_responder", detail),
            TaskError::Plugin(PluginError::Degraded { .. }) => {
                Error::new(ErrorKind::Unavailable, "agent_degraded", detail)
            }
            TaskError::Plugin(_) => Error::new(ErrorKind::Upstream, "plugin_failed", detail),
            TaskError::Store(e) => e.into(),
        }
    }
}

/// A task whose agent and responder are resolved: ready to run, its id already known (so
/// a streaming caller can subscribe to its events first).
pub struct PreparedTask {
    pub meta: TaskMeta,
    /// The chat session, [`ChatOwner::session`] of the chat id.
    session: String,
    /// Turns to record before the message ([`PreparedTask::after`]).
    earlier: Vec<(ChatRole, String)>,
    message: String,
    responder: Arc<ResponderPlugin>,
}

impl PreparedTask {
    /// Records `turns` in the session before the message: how a client that sends the
    /// whole conversation each time (rather than a chat id) gives a new session its past,
    /// so the `history` capability sees it.
    pub fn after(mut self, turns: Vec<(ChatRole, String)>) -> Self {
        self.earlier = turns;
        self
    }
}

pub struct Tasks {
    hosted: Arc<HostedAgents>,
    runtime: Arc<PluginRuntime>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    events: TaskEvents,
}

impl Tasks {
    pub fn new(
        hosted: Arc<HostedAgents>,
        runtime: Arc<PluginRuntime>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            hosted,
            runtime,
            store,
            clock,
            events: TaskEvents::default(),
        }
    }

    pub fn runtime(&self) -> &PluginRuntime {
        &self.runtime
    }

    pub fn events(&self) -> &TaskEvents {
        &self.events
    }

    /// The hosted agent `id` as it is now.
    pub fn agent(&self, id: &str) -> Result<Arc<HostedAgent>, TaskError> {
        self.hosted
            .get(id)
            .ok_or_else(|| TaskError::UnknownAgent(id.to_owned()))
    }

    /// Takes the responder of `agent` (as its caller found it: one lookup per task);
    /// refuses a degraded one before anything is stored (it answers 503 until its next
    /// probe is due, or a reload replaces it). The chat id of `context` names one of
    /// `owner`'s sessions.
    pub fn prepare(
        &self,
        agent: &HostedAgent,
        message: String,
        context: TaskContext,
        default_channel: &str,
        owner: ChatOwner<'_>,
    ) -> Result<PreparedTask, TaskError> {
        let responder = agent
            .responder
            .clone()
            .ok_or_else(|| TaskError::NoResponder(agent.id.clone()))?;
        responder
            .check_admissible("respond")
            .map_err(TaskError::Plugin)?;
        let chat_id = context
            .chat_id
            .filter(|c| !c.is_empty())
            .unwrap_or_else(crate::model::new_id);
        Ok(PreparedTask {
            session: owner.session(&chat_id),
            earlier: Vec::new(),
            meta: TaskMeta {
                task_id: crate::model::new_id(),
                agent: agent.id.clone(),
                channel: context
                    .channel
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| default_channel.to_owned()),
                chat_id,
                sender: context
                    .sender
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| DEFAULT_SENDER.to_owned()),
            },
            message,
            responder,
        })
    }

    /// Runs a prepared task in its chat session: the message becomes a turn, the
    /// responder answers, the answer becomes a turn. Both turns are stored in one durable
    /// write once the call has ended (the message alone if there is no answer), before the
    /// result is returned; during the call, `history` sees the message from the runtime's
    /// [`TurnsInFlight`](crate::plugins::TurnsInFlight), as it sees the current message of
    /// a network thread. NB: a crash during the call loses that unanswered turn (its caller
    /// got no answer either).
    pub async fn execute(&self, task: PreparedTask) -> Result<TaskResult, TaskError> {
        let PreparedTask {
            meta,
            session,
            earlier,
            message,
            responder,
        } = task;
        let at = self.clock.now();
        let turn = |role, content| ChatTurn {
            role,
            sender: match role {
                ChatRole::Incoming => meta.sender.clone(),
                ChatRole::Outgoing => meta.agent.clone(),
            },
            content,
            at,
        };
        let mut turns: Vec<ChatTurn> = earlier
            .into_iter()
            .map(|(role, content)| turn(role, content))
            .collect();
        turns.push(turn(ChatRole::Incoming, message.clone()));
        let held = self
            .runtime
            .turns_in_flight()
            .hold(&meta.agent, &session, turns.clone());
        let (context, request) = request::from_chat(&meta, &session, message, at);
        let reply = self
            .observe(&meta, self.runtime.respond(&responder, context, request))
            .await;
        if let Ok(Some(content)) = &reply {
            turns.push(ChatTurn {
                role: ChatRole::Outgoing,
                sender: meta.agent.clone(),
                content: content.clone(),
                at: self.clock.now(),
            });
        }
        let stored = self.store.append_chat(&meta.agent, &session, turns).await;
        drop(held);
        let reply = reply.map_err(TaskError::Plugin)?;
        stored?;
        Ok(TaskResult {
            content: reply.unwrap_or_default(),
            task_id: meta.task_id,
            agent: meta.agent,
            channel: meta.channel,
            chat_id: meta.chat_id,
        })
    }

    /// [`Tasks::prepare`] then [`Tasks::execute`].
    pub async fn run(
        &self,
        agent: &str,
        message: String,
        context: TaskContext,
        default_channel: &str,
        owner: ChatOwner<'_>,
    ) -> Result<TaskResult, TaskError> {
        let agent = self.agent(agent)?;
        let task = self.prepare(&agent, message, context, default_channel, owner)?;
        self.execute(task).await
    }

    /// Publishes `start`, awaits the responder's `call`, then publishes its outcome.
    pub async fn observe(
        &self,
        meta: &TaskMeta,
        call: impl Future<Output = Result<Option<String>, PluginError>>,
    ) -> Result<Option<String>, PluginError> {
        self.publish(meta, EventKind::Start, || (None, None));
        let outcome = call.await;
        match &outcome {
            Ok(reply) => {
                if let Some(text) = reply {
                    self.publish(meta, EventKind::Text, || (Some(text.clone()), None));
                }
                self.publish(meta, EventKind::Done, || (reply.clone(), None));
            }
            Err(e) => self.publish(meta, EventKind::Error, || (None, Some(e.to_string()))),
        }
        outcome
    }

    /// Publishes the `kind` event of the task `meta`, whose content and error `body` makes
    /// only if someone is subscribed.
    fn publish(
        &self,
        meta: &TaskMeta,
        kind: EventKind,
        body: impl FnOnce() -> (Option<String>, Option<String>),
    ) {
        self.events.publish(|| {
            let (content, error) = body();
            TaskEvent {
                kind,
                task: meta.clone(),
                content,
                error,
                at: self.clock.now(),
            }
        });
    }
}
