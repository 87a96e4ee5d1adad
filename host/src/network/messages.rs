//! Sending, polling, acknowledging, and reading threads.

use super::policy::{Decision, PolicyRequest};
use super::validate::{MAX_ID_CHARS, MAX_SUBJECT_CHARS, bounded, one_of, required};
use super::{Network, new_id};
use crate::error::{Error, Result};
use crate::model::*;
use crate::notify::Topic;
use crate::store::{NewMessage, Rejection, StoreError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

/// The longest an `Idempotency-Key` may be.
const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;
/// Subjects derived from a message's first line are cut to this many characters.
const DERIVED_SUBJECT_CHARS: usize = 80;
/// Messages handed out by one long-poll at most; the rest wait for the next poll.
pub const STREAM_BATCH: usize = 100;

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct OutgoingMessage {
    #[schema(value_type = String, min_length = 1, max_length = 128, pattern = r"\S")]
    pub to_agent_id: Option<String>,
    /// Bounded by the request body limit (`server.body_limit_bytes`, 256 KiB by default).
    #[schema(value_type = String, min_length = 1, pattern = r"\S")]
    pub content: Option<String>,
    /// text (default), query, response, update or request.
    #[schema(value_type = Option<MessageType>)]
    pub message_type: Option<String>,
    /// info, requests or personal; without one the message is always allowed.
    #[schema(value_type = Option<Category>)]
    pub category: Option<String>,
    /// Continue this thread; without it a new thread starts.
    #[schema(max_length = 128)]
    pub thread_id: Option<String>,
    /// Subject of the new thread (defaults to the message's first line).
    #[schema(max_length = 200)]
    pub thread_subject: Option<String>,
}

/// What a poll returns.
#[derive(Debug, Serialize, ToSchema)]
pub struct Inbox {
    pub messages: Vec<Message>,
    pub count: usize,
    pub announcements: Vec<Announcement>,
    /// Version of the setup instructions; agents re-read `/setup` when it changes.
    pub instructions_version: String,
}

/// The version of `/setup` this build serves (`"4"` is the compatible network's).
pub const INSTRUCTIONS_VERSION: &str = "4";

/// The wire lists messages newest first, as the compatible network does; a [`Delivery`]
/// holds them in the order they were sent.
impl From<Delivery> for Inbox {
    fn from(mut d: Delivery) -> Self {
        d.messages.reverse();
        Inbox {
            count: d.messages.len(),
            messages: d.messages,
            announcements: d.announcements,
            instructions_version: INSTRUCTIONS_VERSION.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadWithMessages {
    pub thread: Thread,
    pub messages: Vec<Message>,
}

impl Network {
    /// Sends a message from `from`. With an idempotency key, a repeat within the window
    /// returns the first message and changes nothing.
    pub async fn send(
        &self,
        from: &str,
        outgoing: OutgoingMessage,
        idempotency_key: Option<&str>,
    ) -> Result<Message> {
        bounded(&[
            ("to_agent_id", outgoing.to_agent_id.as_deref(), MAX_ID_CHARS),
            ("thread_id", outgoing.thread_id.as_deref(), MAX_ID_CHARS),
            (
                "thread_subject",
                outgoing.thread_subject.as_deref(),
                MAX_SUBJECT_CHARS,
            ),
        ])?;
        let to = required("to_agent_id", &outgoing.to_agent_id)?.to_owned();
        let content = required("content", &outgoing.content)?;
        let content = outgoing
            .content
            .clone()
            .filter(|_| !content.is_empty())
            .unwrap_or_default();
        let message_type = one_of::<MessageType>("message_type", outgoing.message_type.as_deref())?
            .unwrap_or(MessageType::Text);
        let category = one_of::<Category>("category", outgoing.category.as_deref())?;
        let now = self.now();
        let idempotency = idempotency_key
            .map(|key| {
                if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
                    Err(Error::invalid(
                        "invalid_idempotency_key",
                        format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes"),
                    )
                    .on("Idempotency-Key"))
                } else {
                    Ok((key.to_owned(), now - self.settings.idempotency_window))
                }
            })
            .transpose()?;
        if let Some((key, since)) = &idempotency
            && let Some(first) = self.store.idempotent_message(from, key, *since).await?
        {
            return Ok(first);
        }

        if to == from {
            return Err(
                Error::invalid("self_message", "Can't send a message to yourself")
                    .on("to_agent_id"),
            );
        }
        // Only a missing agent is a 404; a failure to look it up stays internal.
        if self.store.agent(&to).await?.is_none() {
            return Err(Error::not_found("agent_not_found", "Recipient not found"));
        }
        let connection = self.active_connection(from, &to).await?.ok_or_else(|| {
            Error::forbidden("not_connected", "You are not connected to this agent")
        })?;

        let new_thread = match &outgoing.thread_id {
            Some(thread_id) => {
                let thread = self
                    .store
                    .thread(thread_id)
                    .await?
                    .ok_or_else(|| Error::not_found("thread_not_found", "Thread not found"))?;
                if thread.connection_id != connection.id {
                    return Err(Error::forbidden(
                        "thread_of_other_connection",
                        "Thread belongs to another connection",
                    ));
                }
                None
            }
            None => Some(Thread {
                id: new_id(),
                connection_id: connection.id.clone(),
                subject: subject_for(outgoing.thread_subject.as_deref(), &content),
                status: "active".into(),
                created_at: now,
                last_message_at: now,
            }),
        };

        let permission = match category {
            None => None,
            Some(category) => Some(self.decide(&connection, category, from, &to).await?),
        };

        let message = Message {
            id: new_id(),
            thread_id: new_thread
                .as_ref()
                .map(|t| t.id.clone())
                .or(outgoing.thread_id)
                .expect("a thread either continues or starts"),
            from_agent_id: from.to_owned(),
            to_agent_id: to,
            message_type,
            category,
            content,
            status: MessageStatus::Sent,
            created_at: now,
            acknowledged_at: None,
            permission,
        };
        let sent = match self
            .store
            .send_message(NewMessage {
                message,
                new_thread,
                idempotency,
            })
            .await
        {
            Err(StoreError::Rejected(Rejection::ConnectionInactive)) => {
                return Err(Error::forbidden(
                    "not_connected",
                    "You are not connected to this agent",
                ));
            }
            other => other?,
        };
        Ok(sent.message)
    }

    /// Applies the contract policy to a categorised message; the recipient's level is the
    /// permission the message carries.
    async fn decide(
        &self,
        connection: &Connection,
        category: Category,
        from: &str,
        to: &str,
    ) -> Result<Level> {
        let level_of = |agent: &str| connection.permissions.get(agent).map(|l| l.get(category));
        let (Some(sender_level), Some(recipient_level)) = (level_of(from), level_of(to)) else {
            return Err(Error::forbidden(
                "not_connected",
                "You are not connected to this agent",
            ));
        };
        let decision = self
            .policy
            .decide(PolicyRequest {
                category,
                contract: connection.contract_type.clone(),
                sender_level,
                recipient_level,
                sender: from.to_owned(),
                recipient: to.to_owned(),
            })
            .await?;
        match decision {
            Decision::Auto => Ok(Level::Auto),
            Decision::Ask => Ok(Level::Ask),
            Decision::Deny(reason) => Err(Error::forbidden("permission_denied", reason)),
        }
    }

    /// Waits up to `wait` for something to hand to `agent`, returning at once when something
    /// is already pending, and empty on timeout or shutdown. Messages come in the order they
    /// were sent.
    pub async fn poll(
        &self,
        agent: &str,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Delivery> {
        // NB: subscribe before reading, so a message committed in between still wakes us.
        let mut wakeups = self.notifier.subscribe(&Topic::Inbox(agent.to_owned()));
        let deadline = tokio::time::Instant::now() + wait;
        let waiter = crate::telemetry::LongPollWaiter::enter();
        loop {
            let delivery = self.store.take_pending(agent, STREAM_BATCH).await?;
            if !delivery.is_empty() {
                return Ok(delivery);
            }
            tokio::select! {
                _ = wakeups.changed() => waiter.woken(),
                _ = tokio::time::sleep_until(deadline) => return Ok(Delivery::default()),
                _ = shutdown.cancelled() => return Ok(Delivery::default()),
            }
        }
    }

    /// What is pending for `agent` now, without waiting.
    pub async fn inbox(&self, agent: &str, limit: usize) -> Result<Inbox> {
        Ok(self.store.take_pending(agent, limit).await?.into())
    }

    pub async fn acknowledge(&self, agent: &str, message: &str) -> Result<Message> {
        match self.store.acknowledge(message, agent, self.now()).await {
            Err(StoreError::Rejected(Rejection::NotFound)) => {
                Err(Error::not_found("message_not_found", "Message not found"))
            }
            Err(StoreError::Rejected(Rejection::NotRecipient)) => Err(Error::forbidden(
                "not_recipient",
                "Only the recipient can acknowledge a message",
            )),
            other => Ok(other?),
        }
    }

    /// Messages handed to `agent` and never acknowledged, oldest first: what a consumer that
    /// stopped between taking a message and acknowledging it (a crash) still owes. It reads
    /// every thread of the agent's active connections: a start-up check, not a poll.
    pub async fn unacknowledged(&self, agent: &str) -> Result<Vec<Message>> {
        let mut owed = Vec::new();
        for thread in self.threads(agent).await? {
            let messages = self.store.thread_messages(&thread.id).await?;
            owed.extend(
                messages
                    .into_iter()
                    .filter(|m| m.to_agent_id == agent && m.status == MessageStatus::Delivered),
            );
        }
        owed.sort_by_key(|m| m.created_at);
        Ok(owed)
    }

    /// Threads of the agent's active connections, most recent activity first.
    pub async fn threads(&self, agent: &str) -> Result<Vec<Thread>> {
        let mut threads = Vec::new();
        for connection in self.store.connections_of(agent).await? {
            if connection.is_active() {
                threads.extend(self.store.threads_of(&connection.id).await?);
            }
        }
        threads.sort_by_key(|t| std::cmp::Reverse(t.last_message_at));
        Ok(threads)
    }

    pub async fn thread(&self, agent: &str, id: &str) -> Result<ThreadWithMessages> {
        let thread = self
            .store
            .thread(id)
            .await?
            .ok_or_else(|| Error::not_found("thread_not_found", "Thread not found"))?;
        let connection = self.store.connection(&thread.connection_id).await?;
        let allowed = connection.is_some_and(|c| c.is_active() && c.involves(agent));
        if !allowed {
            return Err(Error::forbidden(
                "not_your_thread",
                "You do not have access to this thread",
            ));
        }
        let messages = self.store.thread_messages(id).await?;
        Ok(ThreadWithMessages { thread, messages })
    }
}

fn subject_for(given: Option<&str>, content: &str) -> String {
    match given.map(str::trim).filter(|s| !s.is_empty()) {
        Some(subject) => subject.to_owned(),
        // The first line with any text, without its indentation.
        None => content
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or_default()
            .chars()
            .take(DERIVED_SUBJECT_CHARS)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A derived subject is the first line with text, trimmed and cut to 80 characters; a
    /// given one wins unless it is blank.
    #[test]
    fn subjects() {
        assert_eq!(subject_for(None, "  hello\nworld"), "hello");
        assert_eq!(subject_for(None, "\n \n  second\nthird"), "second");
        assert_eq!(
            subject_for(None, &"x".repeat(100)).len(),
            DERIVED_SUBJECT_CHARS
        );
        assert_eq!(subject_for(Some("  "), "body"), "body");
        assert_eq!(subject_for(Some(" Topic "), "body"), "Topic");
    }
}
