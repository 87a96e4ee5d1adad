//! The store conformance suite: the behaviour every backend of [`Store`] and [`Outbox`]
//! must have, written against the traits alone. Each behaviour is one function taking a
//! fresh, empty store; [`conformance!`] instantiates all of them as tests for each backend
//! (redb; PostgreSQL, a fresh database per test on the binary's throwaway server). A new
//! backend adds its name to that list and must pass unchanged.

mod accounts;
mod connections;
mod messages;
mod outbox;
mod small;

use agentx::model::*;
use agentx::notify::LocalNotifier;
use agentx::store::{NewMessage, Sent, Store};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A fresh, empty store of one backend, with the notifier it wakes.
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub notifier: Arc<LocalNotifier>,
    /// Whether nodes may share it (then a lease held here is held for every node).
    pub shared: bool,
    /// Whatever the backend needs kept alive (a temporary directory, a database).
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

async fn redb() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let notifier = Arc::new(LocalNotifier::default());
    let store = agentx::store::RedbStore::open(dir.path(), notifier.clone()).unwrap();
    Some(Backend {
        store: Arc::new(store),
        notifier,
        shared: false,
        _keep: Box::new(dir),
    })
}

/// A fresh database on the test binary's PostgreSQL; `None` when it is not installed.
async fn postgres() -> Option<Backend> {
    let url = crate::common::postgres::database().await?;
    let notifier = Arc::new(LocalNotifier::default());
    let store = agentx::store::PgStore::open(&url, notifier.clone())
        .await
        .unwrap();
    Some(Backend {
        store: Arc::new(store),
        notifier,
        shared: true,
        _keep: Box::new(()),
    })
}

/// One `#[tokio::test]` per behaviour for each backend (a function opening a fresh one, or
/// `None` when the backend's server is not installed here: the test then passes, skipped).
macro_rules! conformance {
    ($($backend:ident),+: $behaviours:tt) => {
        $(conformance!(@one $backend $behaviours);)+
    };
    (@one $backend:ident [$($behaviour:ident),+ $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    if let Some(backend) = super::$backend().await {
                        super::$behaviour(&backend).await;
                    }
                }
            )+
        }
    };
}

use accounts::*;
use connections::*;
use messages::*;
use outbox::*;
use small::*;

conformance!(redb, postgres: [
    accounts_are_unique_by_email_and_found_by_key,
    hosted_agents_are_created_once_and_renamed,
    webhook_urls_and_last_seen_times,
    secrets_are_made_once,
    invites_open_one_connection,
    racing_acceptances_open_one_connection,
    levels_change_only_on_active_connections,
    messages_open_and_continue_threads,
    sends_need_an_active_connection_and_a_thread,
    idempotency_keys_replay_within_their_window,
    racing_idempotent_sends_store_one_message,
    pending_messages_are_handed_over_once_in_order,
    concurrent_takers_get_each_message_once,
    removed_connections_withdraw_queued_messages,
    acknowledgement_rules,
    announcements_reach_every_agent_once,
    webhook_secrets_are_made_once_and_replaced,
    deliveries_are_queued_with_their_message,
    attempts_retry_deliver_and_give_up,
    dead_deliveries_are_replayed,
    claimed_deliveries_are_due_again_when_the_claim_lapses,
    tokens_are_found_by_hash_and_revoked_once,
    memory_is_per_agent_with_a_key_quota,
    memory_quota_per_conversation,
    chat_turns_are_kept_per_chat,
    a2a_tasks_are_per_token_and_deduplicated_by_message_id,
    working_a2a_tasks_and_held_leases,
    lists_are_read_a_page_at_a_time,
]);

// Records, as the domain would make them.

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

pub fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A distinct key hash per name.
pub fn key_hash(name: &str) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash[..name.len()].copy_from_slice(name.as_bytes());
    hash
}

pub fn account(name: &str) -> (User, Agent) {
    let user = User {
        id: format!("user-{name}"),
        email: format!("{name}@example.com"),
        name: name.into(),
        created_at: now(),
    };
    let agent = Agent {
        id: name.into(),
        user_id: user.id.clone(),
        name: name.into(),
        framework: Framework::Custom,
        webhook_url: None,
        created_at: now(),
        last_seen_at: None,
    };
    (user, agent)
}

pub async fn register(s: &Backend, name: &str) -> Agent {
    let (user, agent) = account(name);
    s.store
        .insert_account(user, agent.clone(), key_hash(name))
        .await
        .unwrap();
    agent
}

pub fn invite(from: &str) -> Invite {
    Invite {
        code: id(),
        agent_id: from.into(),
        created_at: now(),
        expires_at: now() + chrono::Duration::days(1),
        used_by: None,
    }
}

pub fn connection(a: &str, b: &str) -> Connection {
    let auto = Levels {
        info: Level::Auto,
        requests: Level::Auto,
        personal: Level::Auto,
    };
    Connection {
        id: id(),
        agents: [a.into(), b.into()],
        contract_type: "friends".into(),
        status: ConnectionStatus::Active,
        created_at: now(),
        permissions: BTreeMap::from([(a.into(), auto), (b.into(), auto)]),
    }
}

/// Registers `a` and `b` and connects them.
pub async fn pair(s: &Backend, a: &str, b: &str) -> Connection {
    register(s, a).await;
    register(s, b).await;
    connect(s, a, b).await
}

pub async fn connect(s: &Backend, a: &str, b: &str) -> Connection {
    let invite = invite(a);
    s.store.insert_invite(invite.clone()).await.unwrap();
    s.store
        .accept_invite(&invite.code, connection(a, b))
        .await
        .unwrap()
}

pub fn message(from: &str, to: &str, thread: &str, content: &str) -> Message {
    Message {
        id: id(),
        thread_id: thread.into(),
        from_agent_id: from.into(),
        to_agent_id: to.into(),
        message_type: MessageType::Text,
        category: None,
        content: content.into(),
        status: MessageStatus::Sent,
        created_at: now(),
        acknowledged_at: None,
        permission: None,
    }
}

pub fn thread(connection: &Connection) -> Thread {
    Thread {
        id: id(),
        connection_id: connection.id.clone(),
        subject: "subject".into(),
        status: "open".into(),
        created_at: now(),
        last_message_at: now(),
    }
}

/// Sends `content` from `from` to `to` in a new thread of `connection`.
pub async fn send_new(s: &Backend, c: &Connection, from: &str, to: &str, content: &str) -> Sent {
    let thread = thread(c);
    s.store
        .send_message(NewMessage {
            message: message(from, to, &thread.id, content),
            new_thread: Some(thread),
            idempotency: None,
        })
        .await
        .unwrap()
}

/// `Err(rejection)` of a store call, for asserting on refusals.
pub fn rejection<T: std::fmt::Debug>(result: agentx::store::Result<T>) -> agentx::store::Rejection {
    match result {
        Err(agentx::store::StoreError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}
