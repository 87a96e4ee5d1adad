//! A2A tasks: public-agent calls made through the A2A protocol, kept as records so the
//! token that made one can read it again (after a restart too), and a retried send (the
//! same `messageId`) gets its task back instead of a second call.
//!
//! A task's `contextId` is the chat session it runs in, scoped to the token like any
//! public chat; its id is the id of its task on the task event stream (channel `a2a`).

use super::PreparedTask;
use super::public::{PublicAgents, PublicCall};
use crate::clock::Clock;
use crate::model::{A2aState, A2aTask, ApiToken};
use crate::network::{Error, Result};
use crate::store::Store;
use std::sync::Arc;

/// The channel label of A2A calls, on the task stream.
pub const A2A: &str = "a2a";

/// A message from an A2A client to a public agent.
pub struct A2aSend {
    /// The client's id of the message; de-duplicates retries.
    pub message_id: String,
    /// The context to continue; a new one when absent.
    pub context_id: Option<String>,
    pub text: String,
}

/// What a send started.
pub enum Started {
    /// A new task, to be run by [`A2aTasks::finish`].
    New(A2aTask, PreparedTask),
    /// The task an earlier send of the same message started; nothing new runs.
    Replayed(A2aTask),
}

pub struct A2aTasks {
    public: Arc<PublicAgents>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl A2aTasks {
    pub fn new(public: Arc<PublicAgents>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            public,
            store,
            clock,
        }
    }

    /// Records the task of `send` by `token` (whose call of `agent` passed the public
    /// endpoint's checks) as working, ready to run; or the task the same message started.
    pub async fn start(&self, token: &ApiToken, agent: &str, send: A2aSend) -> Result<Started> {
        let call = PublicCall {
            channel: A2A,
            sender: None,
            chat_id: send.context_id,
        };
        let prepared = self.public.prepare(token, agent, send.text.clone(), call)?;
        let now = self.clock.now();
        let task = A2aTask {
            id: prepared.meta.task_id.clone(),
            agent: agent.to_owned(),
            token_id: token.id.clone(),
            context_id: prepared.meta.chat_id.clone(),
            message_id: send.message_id,
            request: send.text,
            state: A2aState::Working,
            reply: None,
            error: None,
            created_at: now,
            updated_at: now,
        };
        let stored = self.store.insert_a2a_task(task).await?;
        Ok(if stored.id == prepared.meta.task_id {
            Started::New(stored, prepared)
        } else {
            Started::Replayed(stored)
        })
    }

    /// Runs a started task and records how it ended. A failure of the agent is the task's
    /// outcome (`failed`, with the reason), not an error of the call; only a store that
    /// cannot record it is.
    pub async fn finish(&self, mut task: A2aTask, prepared: PreparedTask) -> Result<A2aTask> {
        match self.public.tasks().execute(prepared).await {
            Ok(result) => {
                task.state = A2aState::Completed;
                task.reply = Some(result.content);
            }
            Err(e) => {
                task.state = A2aState::Failed;
                task.error = Some(e.to_string());
            }
        }
        task.updated_at = self.clock.now();
        self.store.update_a2a_task(task.clone()).await?;
        Ok(task)
    }

    /// The token's task `id` with `agent`.
    pub async fn get(&self, token: &ApiToken, agent: &str, id: &str) -> Result<A2aTask> {
        self.store
            .a2a_task(&token.id, id)
            .await?
            .filter(|task| task.agent == agent)
            .ok_or_else(|| Error::not_found("task_not_found", format!("No task {id:?}")))
    }

    /// The token's tasks with `agent`, newest first.
    pub async fn list(&self, token: &ApiToken, agent: &str) -> Result<Vec<A2aTask>> {
        Ok(self.store.a2a_tasks(&token.id, agent).await?)
    }
}
