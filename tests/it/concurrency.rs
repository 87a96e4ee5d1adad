//! Many agents at once: every message accounted for exactly once.

use crate::common::{TestAgent, TestServer, message_ids};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const AGENTS: usize = 50;
/// Each agent is connected to the next `REACH` agents around the ring (and so to the
/// previous `REACH` as well).
const REACH: usize = 3;
/// Messages each agent sends to each of its peers, in one thread per pair.
const PER_PEER: usize = 5;
/// Sends in flight at once, across all agents.
const IN_FLIGHT: usize = 64;

/// 50 agents in a ring, each connected to its three neighbours on either side, all sending
/// at once (1,500 messages) while half of them drain by long-poll as messages arrive and the
/// other half by inbox afterwards: every message sent is received exactly once by its
/// recipient, nothing else is, and each pair's thread holds all its messages in send order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_agents_all_messages_exactly_once() {
    let srv = TestServer::start().await;
    let names: Vec<String> = (0..AGENTS).map(|i| format!("agent{i}")).collect();
    let agents: Vec<TestAgent> =
        futures::future::join_all(names.iter().map(|name| srv.register(name))).await;
    let pairs: Vec<(usize, usize)> = (0..AGENTS)
        .flat_map(|i| (1..=REACH).map(move |d| (i, (i + d) % AGENTS)))
        .collect();
    futures::stream::iter(&pairs)
        .for_each_concurrent(IN_FLIGHT, |&(a, b)| {
            let srv = &srv;
            let agents = &agents;
            async move {
                srv.connect(&agents[a], &agents[b], "friends").await;
            }
        })
        .await;

    // Every ordered pair (sender, recipient) gets one thread of PER_PEER messages.
    let conversations: Vec<(usize, usize)> =
        pairs.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
    let expected_per_agent = 2 * REACH * PER_PEER;

    // Streamers: agents with an even index drain by long-poll while the sends run.
    let streamers =
        futures::future::join_all(agents.iter().enumerate().filter(|(i, _)| i % 2 == 0).map(
            |(i, agent)| {
                let srv = &srv;
                async move {
                    let mut got = Vec::new();
                    while got.len() < expected_per_agent {
                        got.extend(message_ids(&srv.stream(agent, 10).await));
                    }
                    (i, got)
                }
            },
        ));
    let senders = futures::stream::iter(&conversations)
        .map(|&(from, to)| {
            let srv = &srv;
            let agents = &agents;
            async move {
                let mut ids = Vec::new();
                let mut thread: Option<Value> = None;
                for n in 0..PER_PEER {
                    let mut extra = json!({"content": format!("{from}->{to} #{n}")});
                    if let Some(thread) = &thread {
                        extra["thread_id"] = thread.clone();
                    }
                    let (status, message) = srv.send(&agents[from], &agents[to], extra).await;
                    assert_eq!(status, StatusCode::OK, "{message}");
                    thread = Some(message["thread_id"].clone());
                    ids.push(message["id"].as_str().unwrap().to_owned());
                }
                ((from, to), thread.unwrap(), ids)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>();
    let (streamed, sent) = tokio::time::timeout(
        Duration::from_secs(60),
        futures::future::join(streamers, senders),
    )
    .await
    .expect("every streamer gets its messages");

    // Inbox drainers: agents with an odd index, after the sends.
    let mut received: HashMap<usize, Vec<String>> = streamed.into_iter().collect();
    for (i, agent) in agents.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        let mut got = Vec::new();
        loop {
            let batch = message_ids(&srv.inbox(agent, 200).await);
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
        }
        received.insert(i, got);
    }

    let mut expected: HashMap<usize, HashSet<String>> = HashMap::new();
    let mut owner: HashMap<String, usize> = HashMap::new();
    for ((_, to), _, ids) in &sent {
        for id in ids {
            assert!(owner.insert(id.clone(), *to).is_none(), "ids are unique");
            expected.entry(*to).or_default().insert(id.clone());
        }
    }
    assert_eq!(owner.len(), conversations.len() * PER_PEER);
    for (i, got) in &received {
        let unique: HashSet<String> = got.iter().cloned().collect();
        assert_eq!(unique.len(), got.len(), "agent {i} got a message twice");
        assert_eq!(&unique, &expected[i], "agent {i} got exactly its messages");
    }
    assert_eq!(received.len(), AGENTS);

    // Nothing is left over for anyone.
    let leftovers = futures::future::join_all(agents.iter().map(|a| srv.inbox(a, 200))).await;
    for inbox in leftovers {
        assert_eq!(inbox["count"], 0, "{inbox}");
    }

    // Each pair's thread holds its messages, oldest first, and both sides list it.
    let threads_by_agent: Vec<HashSet<String>> =
        futures::future::join_all(agents.iter().map(|a| srv.get("/messages/threads", &a.key)))
            .await
            .into_iter()
            .map(|(status, threads)| {
                assert_eq!(status, StatusCode::OK);
                threads
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .collect();
    futures::stream::iter(&sent)
        .for_each_concurrent(IN_FLIGHT, |((from, to), thread, ids)| {
            let srv = &srv;
            let agents = &agents;
            let threads_by_agent = &threads_by_agent;
            async move {
                let thread = thread.as_str().unwrap();
                assert!(threads_by_agent[*from].contains(thread));
                assert!(threads_by_agent[*to].contains(thread));
                let (status, body) = srv
                    .get(&format!("/messages/thread/{thread}"), &agents[*to].key)
                    .await;
                assert_eq!(status, StatusCode::OK);
                let in_thread: Vec<&str> = body["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["id"].as_str().unwrap())
                    .collect();
                assert_eq!(in_thread, *ids);
            }
        })
        .await;
    for (i, threads) in threads_by_agent.iter().enumerate() {
        assert_eq!(
            threads.len(),
            2 * 2 * REACH,
            "agent {i}: one thread per direction per peer"
        );
    }
}

/// Idle long-polls are cheap: 1,000 of them wait at once (20 per agent for 50 agents) while
/// the server keeps answering other requests; a message to one agent wakes only that agent's
/// waiters, and exactly one of them receives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_idle_long_polls() {
    const WAITING_AGENTS: usize = 50;
    const POLLS_PER_AGENT: usize = 20;
    const TARGET: usize = 7;
    let srv = TestServer::start().await;
    let sender = srv.register("sender").await;
    let names: Vec<String> = (0..WAITING_AGENTS).map(|i| format!("idle{i}")).collect();
    let agents: Vec<TestAgent> =
        futures::future::join_all(names.iter().map(|name| srv.register(name))).await;
    for agent in &agents {
        srv.connect(&sender, agent, "friends").await;
    }
    let mut polls = tokio::task::JoinSet::new();
    for (i, agent) in agents.iter().enumerate() {
        // The target's polls end after 3 s at most, so one that connects after the message
        // was taken still returns; the others would wait 30 s.
        let seconds = if i == TARGET { 3 } else { 30 };
        for _ in 0..POLLS_PER_AGENT {
            // One client per waiter: each poll holds its own connection, as real agents do.
            let request = reqwest::Client::new()
                .get(format!("{}/messages/stream?timeout={seconds}", srv.base))
                .bearer_auth(&agent.key);
            polls.spawn(async move {
                (
                    i,
                    request.send().await.unwrap().json::<Value>().await.unwrap(),
                )
            });
        }
    }
    // Gives the polls time to connect; the assertions hold either way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    let (status, _) = srv.get("/auth/me", &sender.key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );

    let sent = srv
        .sent(&sender, &agents[TARGET], json!({"content": "wake up"}))
        .await;
    let mut returned = Vec::new();
    while returned.len() < POLLS_PER_AGENT {
        let (i, body) = tokio::time::timeout(Duration::from_secs(10), polls.join_next())
            .await
            .expect("the target's polls return")
            .unwrap()
            .unwrap();
        assert_eq!(i, TARGET, "only the addressed agent's polls return: {body}");
        returned.push(body);
    }
    let receivers: Vec<&Value> = returned.iter().filter(|b| b["count"] == 1).collect();
    assert_eq!(receivers.len(), 1, "exactly one poll gets the message");
    assert_eq!(receivers[0]["messages"][0]["id"], sent["id"]);
    assert_eq!(
        polls.len(),
        (WAITING_AGENTS - 1) * POLLS_PER_AGENT,
        "the others still wait"
    );
    polls.abort_all();
}
