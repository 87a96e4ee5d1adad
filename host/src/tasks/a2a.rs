//! A2A tasks: public-agent calls made through the A2A protocol, kept as records so the
//! token that made one can read it again (after a restart too), and a retried send (the
//! same `messageId`) gets its task back instead of a second call.
//!
//! A task's `contextId` is the chat session it runs in, scoped to the token like any
//! public chat; its id is the id of its task on the task event stream (channel `a2a`).
//!
//! A task is run by the process that started it (its runner), which holds a lease named
//! after itself for as long as it lives. A task left working by a runner that is gone (it
//! crashed or was stopped mid-call) would otherwise stay working forever: every node fails
//! those ([`A2aTasks::recover`]) as it starts, and, on a store nodes share, every
//! [`SWEEP_EVERY`] while it lives, so their clients learn their end. A runner is gone when
//! its lease is free; with the embedded store, which only one process opens, every other
//! runner is gone.

use super::PreparedTask;
use super::public::{PublicAgents, PublicCall};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::hosted::HostedAgent;
use crate::model::{A2aState, A2aTask, ApiToken};
use crate::store::{Lease, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

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

/// Why a task whose runner is gone failed, as its client reads it.
pub const RUNNER_GONE: &str = "agentx stopped while the agent was answering (the server \
restarted or crashed), so this task has no answer; send the message again with a new messageId";

/// Between looks at the store while following a task that another process may be running
/// (a node of the same database), or that no one runs any more.
const RECHECK_EVERY: Duration = Duration::from_secs(2);
/// Between looks, on a store nodes share, for the tasks of runners that died while this
/// node lives. A killed node's lease is free as soon as PostgreSQL sees its connection
/// close, so its tasks are failed within about this much; each look is one read of the
/// working tasks (an index holds just those) and one lease check per runner named.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How long a call follows a task before answering with it as it is (still working).
const FOLLOW_AT_MOST: Duration = Duration::from_secs(120);
/// Ends not yet read by a slow follower; one that falls further behind reads the store.
const ENDS_BUFFERED: usize = 256;

pub struct A2aTasks {
    public: Arc<PublicAgents>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// This process as the runner of the tasks it starts (a new id per process).
    runner: String,
    /// Every task this process ends, sent once the store has recorded the end: a follower
    /// that learns of an end here reads the same end from the store afterwards.
    ended: broadcast::Sender<A2aTask>,
}

/// The lease a runner holds while it lives.
fn runner_lease(runner: &str) -> String {
    format!("a2a-runner/{runner}")
}

impl A2aTasks {
    pub fn new(public: Arc<PublicAgents>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            public,
            store,
            clock,
            runner: crate::model::new_id(),
            ended: broadcast::channel(ENDS_BUFFERED).0,
        }
    }

    /// Takes this process's runner lease, to hold for as long as it runs tasks (until the
    /// server stops; `lost` is cancelled should the lease be lost meanwhile), then fails
    /// the tasks of runners that are gone. NB: the lease is taken before this process
    /// starts any task, so no other node can take one of its tasks for abandoned.
    pub async fn start_running(&self, lost: CancellationToken) -> Result<Lease> {
        let lease = self.store.lease(&runner_lease(&self.runner), lost).await?;
        self.recover().await?;
        Ok(lease)
    }

    /// Fails, every [`SWEEP_EVERY`] until `stop`, the tasks of runners that died: on a
    /// store nodes share, a dead node's tasks would otherwise stay working until a node
    /// starts. A store only this process opens needs no sweep (see [`Lease::is_shared`]):
    /// `start_running` failed every other runner's tasks, and no other runner can appear.
    pub async fn sweep(self: Arc<Self>, stop: CancellationToken) {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.reset(); // `start_running` has just looked
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = sweep.tick() => {
                    if let Err(e) = self.recover().await {
                        tracing::warn!(error = %e, "could not look for A2A tasks whose runner died");
                    }
                }
            }
        }
    }

    /// Fails every task left working by a runner that is gone.
    async fn recover(&self) -> Result<()> {
        let mut gone: HashMap<String, bool> = HashMap::new();
        let mut failed = 0;
        for mut task in self.store.working_a2a_tasks().await? {
            if task.runner == self.runner {
                continue;
            }
            let is_gone = match gone.get(&task.runner) {
                Some(&is_gone) => is_gone,
                None => {
                    let held = self
                        .store
                        .lease_is_held(&runner_lease(&task.runner))
                        .await?;
                    gone.insert(task.runner.clone(), !held);
                    !held
                }
            };
            if is_gone {
                task.state = A2aState::Failed;
                task.error = Some(RUNNER_GONE.to_owned());
                task.updated_at = self.clock.now();
                self.store.update_a2a_task(task).await?;
                failed += 1;
            }
        }
        if failed > 0 {
            tracing::warn!(failed, "failed the A2A tasks whose runner was gone");
        }
        Ok(())
    }

    /// Records the task of `send` by `token` (to `agent` as the public endpoint's checks
    /// returned it) as working, ready to run; or the task the same message started.
    pub async fn start(
        &self,
        token: &ApiToken,
        agent: &HostedAgent,
        send: A2aSend,
    ) -> Result<Started> {
        let call = PublicCall {
            channel: A2A,
            sender: None,
            chat_id: send.context_id,
        };
        let prepared = self.public.prepare(token, agent, send.text.clone(), call)?;
        let now = self.clock.now();
        let task = A2aTask {
            id: prepared.meta.task_id.clone(),
            agent: agent.id.clone(),
            token_id: token.id.clone(),
            context_id: prepared.meta.chat_id.clone(),
            message_id: send.message_id,
            request: send.text,
            state: A2aState::Working,
            reply: None,
            error: None,
            created_at: now,
            updated_at: now,
            runner: self.runner.clone(),
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
        // NB: after the store has it; see `ended`. No follower is no error.
        let _ = self.ended.send(task.clone());
        Ok(task)
    }

    /// Ends of tasks, from now on: what [`A2aTasks::follow`] needs, subscribed before the
    /// task it follows is read (so no end can pass unseen in between).
    pub fn ends(&self) -> broadcast::Receiver<A2aTask> {
        self.ended.subscribe()
    }

    /// How `task`, still working when read (after `ends` was subscribed), ends: learnt
    /// from this process's ends, or from the store, read again every [`RECHECK_EVERY`]
    /// (another node may be running it); after [`FOLLOW_AT_MOST`], the task as it then is.
    pub async fn follow(
        &self,
        mut ends: broadcast::Receiver<A2aTask>,
        mut task: A2aTask,
        token: &ApiToken,
    ) -> Result<A2aTask> {
        let give_up = tokio::time::sleep(FOLLOW_AT_MOST);
        tokio::pin!(give_up);
        let mut recheck = tokio::time::interval(RECHECK_EVERY);
        recheck.reset(); // the first look is the caller's
        while task.state == A2aState::Working {
            tokio::select! {
                ended = ends.recv() => match ended {
                    Ok(ended) if ended.id == task.id && ended.token_id == task.token_id => {
                        task = ended;
                    }
                    Ok(_) => {}
                    // Missed ends: the store knows.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        task = self.get(token, &task.agent, &task.id).await?;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = recheck.tick() => task = self.get(token, &task.agent, &task.id).await?,
                _ = &mut give_up => break,
            }
        }
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
