//! An agent's recent activity at a glance (the `/observe` page): its profile, connections,
//! and newest threads and messages, in both directions.

use super::Network;
use super::agents::Profile;
use super::connections::ConnectionView;
use crate::error::Result;
use crate::model::{Message, Thread};
use std::cmp::Reverse;

#[derive(Debug)]
pub struct Activity {
    pub profile: Profile,
    /// Active connections, newest first.
    pub connections: Vec<ConnectionView>,
    /// Threads of active connections, most recent activity first.
    pub threads: Vec<Thread>,
    /// Messages sent and received in those threads, newest first.
    pub messages: Vec<Message>,
}

impl Network {
    /// `agent`'s activity, with at most `limit` threads and `limit` messages. Only what the
    /// agent may still read: threads of removed connections are left out, as
    /// `GET /messages/threads` leaves them out.
    pub async fn activity(&self, agent: &str, limit: usize) -> Result<Activity> {
        let profile = self.profile(agent).await?;
        let connections = self.connections(agent).await?;
        let mut threads = self.threads(agent).await?;
        let mut messages: Vec<Message> = Vec::new();
        for thread in &threads {
            // Threads come most recent activity first: once `limit` messages are in hand and
            // the oldest of them is no older than this thread's last message, neither this
            // thread nor any after it has a newer one.
            let full = messages.len() >= limit;
            if full
                && messages
                    .last()
                    .is_some_and(|m| m.created_at >= thread.last_message_at)
            {
                break;
            }
            // Reversed first, so messages sent in the same instant stay newest first through
            // the stable sort.
            let in_thread = self.store.thread_messages(&thread.id).await?;
            messages.extend(in_thread.into_iter().rev());
            messages.sort_by_key(|m| Reverse(m.created_at));
            messages.truncate(limit);
        }
        threads.truncate(limit);
        Ok(Activity {
            profile,
            connections,
            threads,
            messages,
        })
    }
}
