//! `history`: the recent turns of the conversation a call belongs to (a network thread or
//! a chat session), at most [`MAX_HISTORY_TURNS`].

use super::{CallState, Outcome, Session, bounded, store_failed};
use crate::model::ChatTurn;
use crate::plugins::bindings::responder::agentx::plugin::history;
use crate::plugins::manifest::Capability;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const MAX_HISTORY_TURNS: u32 = 100;

/// The turns of chat calls still running: a chat task stores its message together with the
/// reply, in one durable write once the call has ended (one write per call, not two), and
/// `history` sees them meanwhile as if they were stored. NB: so a crash during a call loses
/// that call's unanswered turn; and a concurrent call of the same session may, for the
/// instant between that write's commit and [`Held`]'s drop, see its turns twice.
#[derive(Default)]
pub struct TurnsInFlight {
    /// Each running call's turns, under its number (so oldest first). Kept by call rather
    /// than by session: every chat call holds and drops its turns, while only a call of
    /// `history` looks them up, and a scan of the calls running then is cheap.
    calls: Mutex<BTreeMap<u64, CallTurns>>,
    next: AtomicU64,
}

/// A running call's agent, chat session and turns.
struct CallTurns {
    agent: String,
    session: String,
    turns: Vec<ChatTurn>,
}

/// A call's turns in [`TurnsInFlight`], until this is dropped.
pub struct Held {
    turns: Arc<TurnsInFlight>,
    call: u64,
}

impl TurnsInFlight {
    /// Shows `turns` of `agent`'s chat `session` to `history` until the guard is dropped.
    pub fn hold(self: &Arc<Self>, agent: &str, session: &str, turns: Vec<ChatTurn>) -> Held {
        let call = self.next.fetch_add(1, Ordering::Relaxed);
        let running = CallTurns {
            agent: agent.to_owned(),
            session: session.to_owned(),
            turns,
        };
        self.calls
            .lock()
            .expect("never poisoned")
            .insert(call, running);
        Held {
            turns: self.clone(),
            call,
        }
    }

    /// The running calls' turns of `agent`'s chat `session`, oldest call first.
    fn of(&self, agent: &str, session: &str) -> Vec<ChatTurn> {
        let calls = self.calls.lock().expect("never poisoned");
        calls
            .values()
            .filter(|c| c.agent == agent && c.session == session)
            .flat_map(|c| c.turns.iter().cloned())
            .collect()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut calls = self.turns.calls.lock().expect("never poisoned");
        calls.remove(&self.call);
    }
}

impl history::Host for CallState {
    async fn recent(&mut self, limit: u32) -> Outcome<Vec<history::Turn>> {
        if let Err(e) = self.require(Capability::History) {
            return Ok(Err(e));
        }
        let store = self.services.store.clone();
        let agent = self.conversation.agent.clone();
        let limit = limit.min(MAX_HISTORY_TURNS) as usize;
        let thread = match self.conversation.session.clone() {
            Session::None => return Ok(Ok(Vec::new())),
            Session::Chat(chat) => {
                let in_flight = self.services.turns_in_flight.of(&agent, &chat);
                return Ok(bounded(async move {
                    let mut turns = store
                        .chat_turns(&agent, &chat, limit)
                        .await
                        .map_err(store_failed)?;
                    turns.extend(in_flight);
                    let skip = turns.len().saturating_sub(limit);
                    Ok(turns.into_iter().skip(skip).map(Into::into).collect())
                })
                .await);
            }
            Session::Thread(thread) => thread,
        };
        Ok(bounded(async move {
            let messages = store.thread_messages(&thread).await.map_err(store_failed)?;
            let skip = messages.len().saturating_sub(limit);
            let messages: Vec<_> = messages.into_iter().skip(skip).collect();
            // Senders by name, as `request-context.sender` gives them: one lookup per
            // participant (a thread has few), the id itself for one that is gone.
            let mut names = std::collections::HashMap::new();
            for m in &messages {
                if !names.contains_key(&m.from_agent_id) {
                    let name = store
                        .agent(&m.from_agent_id)
                        .await
                        .map_err(store_failed)?
                        .map_or_else(|| m.from_agent_id.clone(), |a| a.name);
                    names.insert(m.from_agent_id.clone(), name);
                }
            }
            Ok(messages
                .into_iter()
                .map(|m| history::Turn {
                    role: if m.from_agent_id == agent {
                        history::Role::Outgoing
                    } else {
                        history::Role::Incoming
                    },
                    sender: names[&m.from_agent_id].clone(),
                    content: m.content,
                    at: crate::model::time::rfc3339(&m.created_at),
                })
                .collect())
        })
        .await)
    }
}

impl From<crate::model::ChatTurn> for history::Turn {
    fn from(turn: crate::model::ChatTurn) -> Self {
        history::Turn {
            role: match turn.role {
                crate::model::ChatRole::Incoming => history::Role::Incoming,
                crate::model::ChatRole::Outgoing => history::Role::Outgoing,
            },
            sender: turn.sender,
            content: turn.content,
            at: crate::model::time::rfc3339(&turn.at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::call_state;
    use super::*;
    use crate::model::{ChatRole, ChatTurn};
    use crate::plugins::bindings::responder::agentx::plugin::types::HostError;
    use history::Host;

    fn turn(i: usize) -> ChatTurn {
        ChatTurn {
            role: if i.is_multiple_of(2) {
                ChatRole::Incoming
            } else {
                ChatRole::Outgoing
            },
            sender: format!("s{i}"),
            content: format!("turn {i}"),
            at: chrono::Utc::now(),
        }
    }

    #[tokio::test]
    async fn denied_without_the_grant() {
        let mut h = call_state(&[], Session::Chat("c".into()));
        assert!(matches!(
            h.state.recent(5).await.unwrap(),
            Err(HostError::Denied(_))
        ));
        assert!(h.logged_denial());
    }

    #[tokio::test]
    async fn a_running_calls_turns_follow_the_stored_ones_until_it_ends() {
        let mut h = call_state(&[Capability::History], Session::Chat("c".into()));
        let store = h.state.services.store.clone();
        store
            .append_chat("agent-a", "c", vec![turn(0), turn(1)])
            .await
            .unwrap();
        let in_flight = h.state.services.turns_in_flight.clone();
        let held = in_flight.hold("agent-a", "c", vec![turn(2)]);
        let elsewhere = in_flight.hold("agent-a", "other", vec![turn(9)]);
        let other_agent = in_flight.hold("agent-b", "c", vec![turn(8)]);
        let later = in_flight.hold("agent-a", "c", vec![turn(3)]);

        let contents = |turns: Vec<history::Turn>| -> Vec<String> {
            turns.into_iter().map(|t| t.content).collect()
        };
        let seen = h.state.recent(10).await.unwrap().unwrap();
        assert_eq!(contents(seen), ["turn 0", "turn 1", "turn 2", "turn 3"]);
        let last = h.state.recent(1).await.unwrap().unwrap();
        assert_eq!(contents(last), ["turn 3"]);

        drop(held);
        let seen = h.state.recent(10).await.unwrap().unwrap();
        assert_eq!(contents(seen), ["turn 0", "turn 1", "turn 3"]);
        drop(later);
        let seen = h.state.recent(10).await.unwrap().unwrap();
        assert_eq!(contents(seen), ["turn 0", "turn 1"]);
        drop(elsewhere);
        drop(other_agent);
        assert!(in_flight.calls.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn no_conversation_has_no_turns() {
        let mut h = call_state(&[Capability::History], Session::None);
        assert!(h.state.recent(5).await.unwrap().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_chat_answers_its_latest_turns_in_order_at_most_the_cap() {
        let mut h = call_state(&[Capability::History], Session::Chat("c".into()));
        let turns = (0..MAX_HISTORY_TURNS as usize + 20).map(turn).collect();
        let store = h.state.services.store.clone();
        store.append_chat("agent-a", "c", turns).await.unwrap();
        store
            .append_chat("agent-a", "other", vec![turn(999)])
            .await
            .unwrap();

        let last_two = h.state.recent(2).await.unwrap().unwrap();
        let contents: Vec<_> = last_two.iter().map(|t| t.content.as_str()).collect();
        assert_eq!(contents, ["turn 118", "turn 119"]);
        assert!(matches!(last_two[1].role, history::Role::Outgoing));

        let all = h.state.recent(u32::MAX).await.unwrap().unwrap();
        assert_eq!(all.len(), MAX_HISTORY_TURNS as usize);
        assert_eq!(all[0].content, "turn 20");
    }
}
