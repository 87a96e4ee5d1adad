//! The answering loops of hosted agents.
//!
//! Each hosted agent with a responder runs a loop that long-polls its own inbox like any
//! client would. A message whose permission is `auto` is handed to the responder and the
//! reply is sent back in the same thread as a `response`; `ask` messages (and messages
//! without a category) are left for the owner. Every message taken is acknowledged once
//! handled. Replies carry no category, so two hosted agents never answer each other in a loop.
//! On a store shared by several nodes, each loop runs on one node at a time (a lease).

use crate::hosted::HostedAgents;
use crate::model::{Level, Message};
use crate::network::Network;
use crate::network::messages::OutgoingMessage;
use crate::plugins::ResponderPlugin;
use crate::tasks::{Tasks, request};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Messages one hosted agent handles at once; more wait, in order of arrival.
const CONCURRENT_CALLS_PER_AGENT: usize = 8;
/// How long one inbox long-poll of the runner lasts before it polls again.
const RUNNER_POLL: Duration = Duration::from_secs(60);

/// The answering loops: one per hosted agent with a responder, started and stopped as
/// reloads add and remove agents.
pub struct Runners {
    hosted: Arc<HostedAgents>,
    network: Network,
    tasks: Arc<Tasks>,
    shutdown: CancellationToken,
    /// Each running loop's stop switch (a child of `shutdown`), by agent id.
    running: Mutex<HashMap<String, CancellationToken>>,
    /// The loops themselves; drained by [`Runners::join`] at shutdown.
    loops: Mutex<JoinSet<()>>,
}

impl Runners {
    pub fn new(
        hosted: Arc<HostedAgents>,
        network: Network,
        tasks: Arc<Tasks>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            hosted,
            network,
            tasks,
            shutdown,
            running: Mutex::default(),
            loops: Mutex::default(),
        }
    }

    /// Starts a loop for each agent with a responder that has none, and stops the loops of
    /// agents that are gone or lost their responder.
    pub fn sync(&self) {
        let agents = self.hosted.snapshot();
        let mut running = self.running.lock().expect("never poisoned");
        running.retain(|id, stop| {
            let keep = agents.get(id).is_some_and(|a| a.responder.is_some());
            if !keep {
                stop.cancel();
            }
            keep
        });
        for agent in agents.values() {
            if agent.responder.is_none() || running.contains_key(&agent.id) {
                continue;
            }
            let stop = self.shutdown.child_token();
            running.insert(agent.id.clone(), stop.clone());
            self.loops.lock().expect("never poisoned").spawn(run(
                agent.id.clone(),
                self.hosted.clone(),
                self.network.clone(),
                self.tasks.clone(),
                stop,
            ));
        }
    }

    /// Waits for every loop to end (after `shutdown` is cancelled).
    pub async fn join(&self) {
        let mut loops = std::mem::take(&mut *self.loops.lock().expect("never poisoned"));
        while loops.join_next().await.is_some() {}
    }
}

async fn run(
    id: String,
    hosted: Arc<HostedAgents>,
    network: Network,
    tasks: Arc<Tasks>,
    stop: CancellationToken,
) {
    // Every node of a shared store loads the same hosted agents: the lease makes one of
    // them answer each agent's inbox, and another take over as soon as that one dies.
    let name = format!("runner:{id}");
    loop {
        let lost = stop.child_token();
        let lease = tokio::select! {
            lease = network.store().lease(&name, lost.clone()) => lease,
            _ = stop.cancelled() => return,
        };
        match lease {
            Ok(_held) => answer(&id, &hosted, &network, &tasks, &lost).await,
            Err(e) => {
                tracing::error!(agent = %id, error = %e, "cannot take the hosted agent's lease");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
        if stop.is_cancelled() {
            return;
        }
        tracing::warn!(agent = %id, "lost the hosted agent's lease; waiting to take it again");
    }
}

/// Answers the agent's inbox until `stop` (shutdown, or the lease lost).
async fn answer(
    id: &str,
    hosted: &Arc<HostedAgents>,
    network: &Network,
    tasks: &Arc<Tasks>,
    stop: &CancellationToken,
) {
    let calls = Arc::new(Semaphore::new(CONCURRENT_CALLS_PER_AGENT));
    let mut handling = JoinSet::new();
    // Taking a message marks it delivered; only handling it acknowledges it. What a crash
    // left in between is still owed an answer, and comes first.
    let mut messages = match network.unacknowledged(id).await {
        Ok(owed) => owed,
        Err(e) => {
            tracing::error!(agent = %id, error = %e, "cannot look for messages left unanswered");
            Vec::new()
        }
    };
    if !messages.is_empty() {
        tracing::info!(agent = %id, count = messages.len(), "answering messages taken before a restart");
    }
    loop {
        for message in std::mem::take(&mut messages) {
            let permit = calls.clone().acquire_owned().await.expect("never closed");
            // The version current now answers this message, even if a reload swaps it.
            let responder = hosted.get(id).and_then(|a| a.responder.clone());
            let (id, network, tasks) = (id.to_owned(), network.clone(), tasks.clone());
            handling.spawn(async move {
                handle(&id, responder.as_deref(), &network, &tasks, message).await;
                drop(permit);
            });
        }
        while handling.try_join_next().is_some() {}
        if stop.is_cancelled() {
            break;
        }
        // A hosted agent is as present as any client that polls: it is online while its
        // loop runs (RUNNER_POLL is well inside the five minutes that count as online).
        network.presence().touch(id, network.clock().now());
        match network.poll(id, RUNNER_POLL, stop).await {
            Ok(inbox) => messages = inbox.messages,
            Err(e) => {
                tracing::error!(agent = %id, error = %e, "hosted agent cannot read its inbox");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.cancelled() => break,
                }
            }
        }
    }
    // Let calls in flight finish (each is bounded by its plugin's deadline).
    while handling.join_next().await.is_some() {}
}

async fn handle(
    id: &str,
    responder: Option<&ResponderPlugin>,
    network: &Network,
    tasks: &Tasks,
    message: Message,
) {
    if let (Some(responder), Some(Level::Auto)) = (responder, message.permission) {
        let meta = request::network_task(id, &message);
        // Plugins see who is talking by name (as `history` does); the id is in the message.
        let sender = match network.store().agent(&message.from_agent_id).await {
            Ok(Some(agent)) => agent.name,
            _ => message.from_agent_id.clone(),
        };
        let (context, incoming) = request::from_network(id, &message, sender);
        let call = tasks.runtime().respond(responder, context, incoming);
        match tasks.observe(&meta, call).await {
            Ok(Some(reply)) => {
                let outgoing = OutgoingMessage {
                    to_agent_id: Some(message.from_agent_id.clone()),
                    content: Some(reply),
                    message_type: Some("response".into()),
                    thread_id: Some(message.thread_id.clone()),
                    ..OutgoingMessage::default()
                };
                // Keyed by the message, so answering it again after a crash that came
                // between this send and the acknowledgement sends nothing twice.
                let key = format!("agentx-reply-{}", message.id);
                if let Err(e) = network.send(id, outgoing, Some(&key)).await {
                    tracing::warn!(agent = %id, message = %message.id, error = %e, "could not send the reply");
                }
            }
            Ok(None) => {}
            // Already in the plugin's log and counted toward degradation.
            Err(_) => {}
        }
    }
    if let Err(e) = network.acknowledge(id, &message.id).await {
        tracing::warn!(agent = %id, message = %message.id, error = %e, "could not acknowledge");
    }
}
